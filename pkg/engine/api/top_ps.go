package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
)

// containerTop is GET /containers/{id}/top. Without ps_args the columns are
// ps -ef's, from the processes as the container's shim read them; with
// ps_args, as dockerd: the host's ps runs
// with them (and -q with the container's pids, retried without it for the
// options it cannot go with), and the lines whose PID is the container's
// are kept. Output without a PID column is an error.
func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) {
	psArgs := r.URL.Query().Get("ps_args")
	if err := validatePSArgs(psArgs); err != nil {
		writeError(w, err)
		return
	}
	id := r.PathValue("id")
	procs, err := s.d.Processes(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	var resp container.TopResponse
	if psArgs == "" {
		resp = topOf(procs, time.Now())
	} else {
		pids := make([]int, len(procs))
		for i, p := range procs {
			pids[i] = int(p.GetPid())
		}
		out, err := runPS(psArgs, pids)
		if err == nil {
			resp, err = parsePS(out, pids)
		}
		if err != nil {
			writeError(w, err)
			return
		}
	}
	s.d.Listed(id)
	writeJSON(w, http.StatusOK, resp)
}

// psKeyword finds "-o user=PID"-style renames of a column to PID, which
// would pass another column off as the pid; only pid= may be so named.
var psKeyword = regexp.MustCompile(`\s+([^\s]*)=\s*(PID[^\s]*)`)

func validatePSArgs(args string) error {
	for _, m := range psKeyword.FindAllStringSubmatch(args, -1) {
		if m[1] != "pid" {
			return fmt.Errorf(`specifying "%s=%s" is not allowed`, m[1], m[2])
		}
	}
	return nil
}

func runPS(psArgs string, pids []int) ([]byte, error) {
	// Split on single spaces, as dockerd does (the CLI joins its args so).
	args := strings.Split(psArgs, " ")
	q := make([]string, len(pids))
	for i, p := range pids {
		q[i] = strconv.Itoa(p)
	}
	out, err := exec.Command("ps", append(args, "-q"+strings.Join(q, ","))...).Output()
	if err == nil {
		return out, nil
	}
	out, err = exec.Command("ps", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if line, _, _ := bytes.Cut(ee.Stderr, []byte{'\n'}); len(line) > 0 {
				err = errors.New(string(line))
			}
		}
		return nil, fmt.Errorf("ps: %w", err)
	}
	return out, nil
}

// psFields splits on ASCII white space only (a command may hold others).
func psFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r'
	})
}

// parsePS keeps the lines of ps output whose PID is one of pids, with the
// thread lines ("-" in PID, from -m or -L) that follow one of them. The last
// column takes the rest of the line.
func parsePS(out []byte, pids []int) (container.TopResponse, error) {
	lines := strings.Split(string(out), "\n")
	resp := container.TopResponse{Titles: psFields(lines[0]), Processes: [][]string{}}
	pidCol := -1
	for i, t := range resp.Titles {
		if t == "PID" {
			pidCol = i
			break
		}
	}
	if pidCol < 0 {
		return resp, errors.New("Couldn't find PID field in ps output")
	}
	mine := map[int]bool{}
	for _, p := range pids {
		mine[p] = true
	}
	add := func(fields []string) {
		n := len(resp.Titles)
		if len(fields) < n {
			fields = append(fields, make([]string, n-len(fields))...)
		}
		row := append([]string(nil), fields[:n-1]...)
		resp.Processes = append(resp.Processes, append(row, strings.Join(fields[n-1:], " ")))
	}
	inMine := false
	for _, line := range lines[1:] {
		fields := psFields(line)
		if len(fields) <= pidCol {
			continue
		}
		if fields[pidCol] == "-" {
			if inMine {
				add(fields)
			}
			continue
		}
		p, err := strconv.Atoi(fields[pidCol])
		if err != nil {
			return resp, fmt.Errorf("Unexpected pid '%s': %s", fields[pidCol], err)
		}
		inMine = mine[p]
		if inMine {
			add(fields)
		}
	}
	return resp, nil
}
