package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// ctlIn is ctl with stdin.
func ctlIn(t *testing.T, host, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	c := &CLI{Out: &o, Err: &e, In: strings.NewReader(stdin)}
	root := NewRootCommand(c)
	root.SetArgs(append([]string{"-H", host}, args...))
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = exitCode(c, err)
	}
	return o.String(), e.String(), code
}

func TestRunInteractiveExecPauseTop(t *testing.T) {
	host := engine(t)
	if out, errOut, code := ctlIn(t, host, "from stdin\n", "run", "-i", "--rm", "busybox", "cat"); code != 0 || out != "from stdin\n" {
		t.Errorf("run -i: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := ctl(t, host, "run", "-d", "--name", "bg", "busybox", "sleep"); code != 0 {
		t.Fatalf("run -d: %s", errOut)
	}
	if out, errOut, code := ctl(t, host, "exec", "bg", "fail", "5", "in exec"); code != 5 || errOut != "in exec\n" {
		t.Errorf("exec: %d %q %q", code, out, errOut)
	}
	if out, _, code := ctlIn(t, host, "exec stdin\n", "exec", "-i", "bg", "cat"); code != 0 || out != "exec stdin\n" {
		t.Errorf("exec -i: %d %q", code, out)
	}
	if _, errOut, code := ctl(t, host, "pause", "bg"); code != 0 {
		t.Fatalf("pause: %s", errOut)
	}
	if out, _, _ := ctl(t, host, "ps"); !strings.Contains(out, "(Paused)") {
		t.Errorf("ps of a paused container:\n%s", out)
	}
	if out, _, _ := ctl(t, host, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "bg"); out != "paused true\n" {
		t.Errorf("inspect -f: %q", out)
	}
	if _, errOut, code := ctl(t, host, "unpause", "bg"); code != 0 {
		t.Fatalf("unpause: %s", errOut)
	}
	if out, _, code := ctl(t, host, "top", "bg"); code != 0 || !strings.HasPrefix(out, "UID") {
		t.Errorf("top: %d %q", code, out)
	}
	if out, errOut, code := ctl(t, host, "stats", "--no-stream", "bg"); code != 0 || !strings.Contains(out, "4MiB / ") || !strings.Contains(out, "bg") {
		t.Errorf("stats: %d %q %q", code, out, errOut)
	}
	if out, _, code := ctl(t, host, "events", "--since", "0", "--until", "1", "-f", "container=bg"); code != 0 || out != "" {
		t.Errorf("events before any: %d %q", code, out)
	}
	if _, errOut, code := ctl(t, host, "run", "-d", "--restart", "on-failure:x", "busybox", "sleep"); code != 125 || !strings.Contains(errOut, "maximum retry count must be an integer") {
		t.Errorf("bad --restart: %d %q", code, errOut)
	}
}
