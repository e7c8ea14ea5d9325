package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runArgs runs ctl with exactly args (no -H added).
func runArgs(args ...string) (string, string, int) {
	var o, e bytes.Buffer
	c := &CLI{Out: &o, Err: &e, In: strings.NewReader("")}
	root := NewRootCommand(c)
	root.SetArgs(args)
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = exitCode(c, err)
	}
	return o.String(), e.String(), code
}

// Global flags go before the command, as docker's: after it they are the
// command's own or unknown.
func TestGlobalFlagsBeforeTheCommand(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /containers/json": reply(200, "[]"),
	})
	if _, errOut, code := runArgs("-H", rec.host, "ps"); code != 0 {
		t.Fatalf("ctl -H HOST ps: %d %s", code, errOut)
	}
	if _, errOut, code := runArgs("ps", "-H", rec.host); code != 125 || !strings.Contains(errOut, "unknown shorthand flag: 'H' in -H") {
		t.Fatalf("ctl ps -H HOST: %d %q, want docker's refusal", code, errOut)
	}
}

// -D and -l debug log each request; a bad level, an unknown context, or
// --context beside --host are refused before any request.
func TestGlobalDebugContextLogLevel(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /containers/json": reply(200, "[]"),
	})
	for _, flag := range [][]string{{"-D"}, {"--log-level", "debug"}} {
		_, errOut, code := runArgs(append(append(flag, "-H", rec.host), "ps")...)
		if code != 0 || !strings.Contains(errOut, "GET /v") || !strings.Contains(errOut, "/containers/json") || !strings.Contains(errOut, "200 OK") {
			t.Errorf("%v: %d %q, want the request logged", flag, code, errOut)
		}
	}
	if _, errOut, _ := runArgs("-l", "warn", "-H", rec.host, "ps"); errOut != "" {
		t.Errorf("-l warn: %q, want nothing logged", errOut)
	}
	rec.requests() // drains
	for _, args := range [][]string{
		{"-l", "loud", "-H", rec.host, "ps"},
		{"-c", "remote", "ps"},
		{"-c", "default", "-H", rec.host, "ps"},
	} {
		if _, errOut, code := runArgs(args...); code != 1 || errOut == "" {
			t.Errorf("%v: %d %q, want refused", args, code, errOut)
		}
	}
	if got := rec.requests(); len(got) != 0 {
		t.Errorf("refused global flags made requests: %v", got)
	}
	t.Setenv("DOCKER_HOST", rec.host)
	if _, errOut, code := runArgs("--context", "default", "ps"); code != 0 {
		t.Errorf("--context default: %d %q", code, errOut)
	}
}

// --config names the directory config.json is read from.
func TestGlobalConfigDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"detachKeys":"ctrl-x,y"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /containers/json": reply(200, "[]"),
	})
	if _, errOut, code := runArgs("--config", dir, "-H", rec.host, "ps"); code != 0 {
		t.Fatalf("--config: %d %q", code, errOut)
	}
	if got := configDetachKeys(); got != "ctrl-x,y" {
		t.Fatalf("after --config %s the config read has detachKeys %q", dir, got)
	}
}

// Two -H are refused, as docker's "specify only one -H", not the last
// taken without a word.
func TestGlobalOneHost(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /containers/json": reply(200, "[]"),
	})
	_, errOut, code := runArgs("-H", rec.host, "-H", rec.host, "ps")
	if code == 0 || !strings.Contains(errOut, "specify only one -H") {
		t.Fatalf("two -H: %d %q", code, errOut)
	}
	if reqs := rec.requests(); len(reqs) != 0 {
		t.Fatalf("two -H made requests: %v", reqs)
	}
}
