package cli

import (
	"net/http"
	"strings"
	"testing"
)

// stop and restart send -s and -t (or the deprecated --time); without
// -t the container's own timeout applies (no t).
func TestStopRestartSignalTimeout(t *testing.T) {
	for _, verb := range []string{"stop", "restart"} {
		for _, tc := range []struct {
			args  []string
			query string
		}{
			{[]string{"a"}, ""},
			{[]string{"-s", "SIGINT", "-t", "3", "a"}, "signal=SIGINT&t=3"},
			{[]string{"--signal=USR1", "--timeout", "0", "a"}, "signal=USR1&t=0"},
			{[]string{"--time", "7", "a"}, "t=7"},
		} {
			rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
				"POST /containers/a/" + verb: reply(204, ""),
			})
			out, errOut, code := rec.run(t, "", append([]string{verb}, tc.args...)...)
			reqs := rec.requests()
			// pflag prints --time's deprecation on the process's stderr.
			if code != 0 || out != "a\n" || len(reqs) != 1 {
				t.Fatalf("%s %v: %d %q %q %v", verb, tc.args, code, out, errOut, reqs)
			}
			if got := reqs[0].Query.Encode(); got != tc.query {
				t.Errorf("%s %v: query %q, want %q", verb, tc.args, got, tc.query)
			}
		}
	}
}

// rm sends -v and -l; a link's name keeps its slashes.
func TestRmVolumesLink(t *testing.T) {
	routes := map[string]func(http.ResponseWriter, request){
		"DELETE /containers/a":       reply(204, ""),
		"DELETE /containers//app/db": reply(204, ""),
	}
	for args, query := range map[string]string{"a": "", "-v a": "v=1", "--volumes -f a": "force=1&v=1"} {
		rec := newRecorder(t, routes)
		out, errOut, code := rec.run(t, "", append([]string{"rm"}, strings.Fields(args)...)...)
		reqs := rec.requests()
		if code != 0 || out != "a\n" || len(reqs) != 1 || reqs[0].Query.Encode() != query {
			t.Errorf("rm %s: %d %q %q %v, want query %q", args, code, out, errOut, reqs, query)
		}
	}
	rec := newRecorder(t, routes)
	rec.run(t, "", "rm", "-l", "/app/db")
	if reqs := rec.requests(); len(reqs) != 1 || reqs[0].Method != "DELETE" || !strings.HasSuffix(reqs[0].Path, "/app/db") || reqs[0].Query.Get("link") != "1" {
		t.Errorf("rm -l /app/db: %v", reqs)
	}
}
