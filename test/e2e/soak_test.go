package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// envInt reads a positive integer from the environment, def when unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// apiClient speaks the Engine API on the stack's socket; unlike s.http it
// returns errors, so goroutines can use it.
type apiClient struct{ c *http.Client }

func (s *stack) api() *apiClient {
	return &apiClient{c: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", s.engSock)
		},
		MaxIdleConnsPerHost: 4,
	}, Timeout: 2 * time.Minute}}
}

// do sends a request and fails unless the status is want.
func (a *apiClient) do(method, path string, body any, want int) ([]byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://engine"+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return b, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// create makes a busybox container and returns its ID.
func (a *apiClient) create(cmd []string, autoRemove bool) (string, error) {
	b, err := a.do("POST", "/containers/create", map[string]any{
		"Image": "busybox", "Cmd": cmd,
		"HostConfig": map[string]any{"AutoRemove": autoRemove},
	}, http.StatusCreated)
	if err != nil {
		return "", err
	}
	var out struct{ Id string }
	if err := json.Unmarshal(b, &out); err != nil {
		return "", err
	}
	return out.Id, nil
}

// cycle is one container's whole life: create, start, stop, remove.
func (a *apiClient) cycle() (string, error) {
	// The shell is PID 1: it exits at SIGTERM only with a trap.
	id, err := a.create([]string{"sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"}, false)
	if err != nil {
		return "", err
	}
	if _, err := a.do("POST", "/containers/"+id+"/start", nil, http.StatusNoContent); err != nil {
		return id, err
	}
	if _, err := a.do("POST", "/containers/"+id+"/stop?t=5", nil, http.StatusNoContent); err != nil {
		return id, err
	}
	_, err = a.do("DELETE", "/containers/"+id, nil, http.StatusNoContent)
	return id, err
}

// daemonUsage is a daemon's resident memory (kB) and open fds.
type daemonUsage struct{ rssKB, fds int }

func usageOf(pid int) daemonUsage {
	var u daemonUsage
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				u.rssKB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			}
		}
		f.Close()
	}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	u.fds = len(ents)
	return u
}

// Create/start/stop/remove cycles from 4 clients in parallel
// (BERTH_SOAK_CYCLES in all, 40 by default; `make soak` runs 1000) leave
// nothing behind (records, tasks, active snapshots, state dirs, fifos,
// sockets, cgroups, mounts, shims, veths, leases, netns), and engined's and
// supervisord's resident memory comes back to within 10% of what it was
// after a warm-up (their open fds to what they were).
func TestSoak(t *testing.T) {
	cycles := envInt(t, "BERTH_SOAK_CYCLES", 40)
	const clients = 4
	s := newStack(t)
	s.loadBusybox()
	a := s.api()
	// Warm-up: the first containers fill caches (seccomp, image config,
	// connections) that are not leaks.
	for i := 0; i < clients; i++ {
		if _, err := a.cycle(); err != nil {
			t.Fatal(err)
		}
	}
	// The client's idle keep-alive connections are open fds of engined's.
	settle := func() { a.c.CloseIdleConnections(); time.Sleep(time.Second) }
	settle()
	base := map[string]daemonUsage{"engined": usageOf(s.engine.Process.Pid), "supervisord": usageOf(s.supervisor.Process.Pid)}

	var next atomic.Int64
	var mu sync.Mutex
	var ids []string
	var errs []error
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(cycles) {
				id, err := a.cycle()
				mu.Lock()
				if id != "" {
					ids = append(ids, id)
				}
				if err != nil {
					errs = append(errs, err)
				}
				stop := len(errs) > 5
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if len(errs) > 0 {
		t.Fatalf("%d cycles failed, first: %v", len(errs), errs[0])
	}
	t.Logf("%d create/start/stop/rm cycles from %d clients in %v (%.1f cycles/s)", cycles, clients, took.Round(time.Millisecond), float64(cycles)/took.Seconds())
	if left := s.allContainerIDs(); len(left) > 0 {
		t.Fatalf("containers left: %v", left)
	}
	if left := s.settledLeaks(ids); len(left) > 0 {
		t.Fatalf("after %d cycles: %v", cycles, left)
	}
	for _, m := range s.mountsUnder() {
		// engined keeps one network namespace made ahead for the next
		// container (its own, not a container's leftover).
		if !strings.HasPrefix(filepath.Base(m), ".spare-") {
			t.Fatalf("mount left: %v", m)
		}
	}
	for _, pid := range s.processesUnder() {
		if pid != s.engine.Process.Pid && pid != s.supervisor.Process.Pid {
			t.Fatalf("process %d (a shim?) left", pid)
		}
	}
	if leaks := s.netLeaks(); len(leaks) > 0 {
		t.Fatalf("network leftovers: %v", leaks)
	}

	// Memory: Go gives freed pages back in the background; give it time.
	for name, cmd := range map[string]int{"engined": s.engine.Process.Pid, "supervisord": s.supervisor.Process.Pid} {
		b := base[name]
		var u daemonUsage
		for i := 0; i < 30; i++ {
			u = usageOf(cmd)
			if u.rssKB <= b.rssKB*110/100 && u.fds <= b.fds {
				break
			}
			settle()
		}
		t.Logf("%s: RSS %d kB after warm-up, %d kB after the cycles (%+.1f%%); fds %d, %d", name, b.rssKB, u.rssKB, 100*float64(u.rssKB-b.rssKB)/float64(b.rssKB), b.fds, u.fds)
		if u.rssKB > b.rssKB*110/100 {
			t.Errorf("%s's RSS grew from %d to %d kB", name, b.rssKB, u.rssKB)
		}
		if u.fds > b.fds {
			t.Errorf("%s's open fds grew from %d to %d", name, b.fds, u.fds)
		}
	}
}

// latencies collects one operation's durations.
type latencies struct {
	mu sync.Mutex
	d  map[string][]time.Duration
}

func (l *latencies) add(op string, d time.Duration) {
	l.mu.Lock()
	l.d[op] = append(l.d[op], d)
	l.mu.Unlock()
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s))*p+0.999999) - 1
	if i < 0 {
		i = 0
	}
	return s[min(i, len(s)-1)]
}

// 16 clients for BERTH_LOAD_SECONDS (5 by default; `make loadtest` runs 60)
// on ps, inspect, run --rm (create with AutoRemove, start, wait for the
// removal) and logs against engined: no request fails; p50/p99 per
// operation are logged. No timing is asserted.
func TestLoad(t *testing.T) {
	secs := envInt(t, "BERTH_LOAD_SECONDS", 5)
	const clients = 16
	s := newStack(t)
	s.loadBusybox()
	a := s.api()
	// A container with some log for logs and inspect to read.
	logger, err := a.create([]string{"sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done; exec sleep 1000"}, false)
	if err == nil {
		_, err = a.do("POST", "/containers/"+logger+"/start", nil, http.StatusNoContent)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Its 200 lines are all logged before the load starts: the start
	// returns once the shell runs, not once it has printed.
	hasLastLine := func() (bool, []byte, error) {
		b, err := a.do("GET", "/containers/"+logger+"/logs?stdout=1&tail=50", nil, 200)
		return err == nil && bytes.Contains(b, []byte("line 199")), b, err
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ok, b, err := hasLastLine()
		if ok {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("the logger's 200 lines were not logged within 30 s: %v, %q", err, b)
		}
	}
	ops := []struct {
		name string
		do   func() error
	}{
		{"ps", func() error { _, err := a.do("GET", "/containers/json?all=1", nil, 200); return err }},
		{"inspect", func() error { _, err := a.do("GET", "/containers/"+logger+"/json", nil, 200); return err }},
		{"logs", func() error {
			ok, b, err := hasLastLine()
			if err == nil && !ok {
				err = fmt.Errorf("logs without the last line: %q", b)
			}
			return err
		}},
		{"run --rm", func() error {
			id, err := a.create([]string{"true"}, true)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			waited := make(chan error, 1)
			// Wait registered before the start, as docker run does.
			go func() {
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://engine/containers/"+id+"/wait?condition=removed", nil)
				resp, err := a.c.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("wait %s: %d", id, resp.StatusCode)
					}
				}
				waited <- err
			}()
			time.Sleep(5 * time.Millisecond)
			if _, err := a.do("POST", "/containers/"+id+"/start", nil, http.StatusNoContent); err != nil {
				return err
			}
			return <-waited
		}},
	}
	lat := &latencies{d: map[string][]time.Duration{}}
	var mu sync.Mutex
	var errs []error
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; time.Now().Before(deadline); i++ {
				op := ops[i%len(ops)]
				t0 := time.Now()
				err := op.do()
				lat.add(op.name, time.Since(t0))
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", op.name, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, op := range ops {
		ds := lat.d[op.name]
		t.Logf("%-8s %6d requests  p50 %8v  p99 %8v  max %8v", op.name, len(ds),
			percentile(ds, 0.50).Round(100*time.Microsecond), percentile(ds, 0.99).Round(100*time.Microsecond), percentile(ds, 1).Round(100*time.Microsecond))
	}
	if len(errs) > 0 {
		t.Fatalf("%d requests failed, first: %v", len(errs), errs[0])
	}
	if _, err := a.do("DELETE", "/containers/"+logger+"?force=1", nil, http.StatusNoContent); err != nil {
		t.Fatal(err)
	}
	if left := s.allContainerIDs(); len(left) > 0 {
		t.Fatalf("containers left: %v", left)
	}
}
