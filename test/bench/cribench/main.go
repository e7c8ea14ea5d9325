// Command cribench reads what critest's benchmarks (critest -benchmark)
// wrote for two CRI runtimes and prints each operation's median beside
// the other's, as a ratio (scripts/bench-cri.sh).
//
//	cribench -a berth=DIR -b containerd=DIR
//
// DIR holds critest's -benchmarking-output-dir files (*_benchmark_data.json:
// per sample, the duration of each operation of a lifecycle) and its
// Ginkgo JSON report (report.json), whose report entries carry the
// pod-and-container start measurement.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// lifecycle is critest's LifecycleBenchmarksResultsSet.
type lifecycle struct {
	OperationsNames []string `json:"operationsNames"`
	Datapoints      []struct {
		OperationsDurationsNs []int64 `json:"operationsDurationsNs"`
	} `json:"datapoints"`
}

// report is the part of Ginkgo's JSON report that holds gmeasure
// experiments.
type report []struct {
	SpecReports []struct {
		ReportEntries []struct {
			Value struct {
				AsJSON string
			}
		}
	}
}

type experiment struct {
	Measurements []struct {
		Name      string
		Durations []time.Duration
	}
}

// medians maps "file: operation" to the median duration and sample count.
type sample struct {
	median time.Duration
	n      int
}

func read(dir string) (map[string]sample, error) {
	out := map[string]sample{}
	files, err := filepath.Glob(filepath.Join(dir, "*_benchmark_data.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var l lifecycle
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for i, op := range l.OperationsNames {
			var ds []time.Duration
			for _, p := range l.Datapoints {
				if i < len(p.OperationsDurationsNs) {
					ds = append(ds, time.Duration(p.OperationsDurationsNs[i]))
				}
			}
			if len(ds) > 0 {
				out[op] = sample{median(ds), len(ds)}
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if os.IsNotExist(err) {
		return out, nil
	} else if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s/report.json: %w", dir, err)
	}
	for _, s := range r {
		for _, sp := range s.SpecReports {
			for _, e := range sp.ReportEntries {
				var x experiment
				if json.Unmarshal([]byte(e.Value.AsJSON), &x) != nil {
					continue
				}
				for _, m := range x.Measurements {
					if len(m.Durations) > 0 {
						out[m.Name] = sample{median(m.Durations), len(m.Durations)}
					}
				}
			}
		}
	}
	return out, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func main() {
	a := flag.String("a", "", "NAME=DIR of the runtime measured")
	b := flag.String("b", "", "NAME=DIR of the one it is compared with")
	flag.Parse()
	an, ad, ok1 := strings.Cut(*a, "=")
	bn, bd, ok2 := strings.Cut(*b, "=")
	if !ok1 || !ok2 {
		fmt.Fprintln(os.Stderr, "usage: cribench -a NAME=DIR -b NAME=DIR")
		os.Exit(2)
	}
	ra, err := read(ad)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cribench:", err)
		os.Exit(1)
	}
	rb, err := read(bd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cribench:", err)
		os.Exit(1)
	}
	ops := make([]string, 0, len(ra))
	for op := range ra {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	fmt.Printf("%-34s %12s %12s %7s  (median ms, n)\n", "operation", an, bn, "ratio")
	for _, op := range ops {
		x, y := ra[op], rb[op]
		ms := func(s sample) string {
			if s.n == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f (%d)", float64(s.median)/1e6, s.n)
		}
		ratio := "-"
		if y.n > 0 && y.median > 0 {
			ratio = fmt.Sprintf("%.2f", float64(x.median)/float64(y.median))
		}
		fmt.Printf("%-34s %12s %12s %7s\n", op, ms(x), ms(y), ratio)
	}
}
