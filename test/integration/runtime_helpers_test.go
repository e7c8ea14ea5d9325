package integration

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/testprereq"
)

// rtBin is the runtime binary under test: $BERTH_BIN_DIR/runtime, by default
// <repo>/bin/runtime (build it with `go build -o bin/runtime ./cmd/runtime`).
func rtBin(t *testing.T) string {
	t.Helper()
	testprereq.Root(t)
	dir := os.Getenv("BERTH_BIN_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "bin")
	}
	p, err := filepath.Abs(filepath.Join(dir, "runtime"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(p)
	testprereq.Require(t, err == nil, "%s", "runtime binary "+p+" (go build -o bin/runtime ./cmd/runtime)")
	return p
}

type rtEnv struct {
	bin    string
	root   string // --root
	dir    string
	bundle string
	// wrap runs the runtime through a command (nsenter into another
	// namespace set), with the runtime's own arguments appended.
	wrap []string
}

// newRtEnv makes a private state root and a busybox bundle whose config is the
// runtime's `spec` output with process.args set and then mutate applied.
func newRtEnv(t *testing.T, mutate func(*specs.Spec), args ...string) *rtEnv {
	t.Helper()
	bin := rtBin(t)
	busybox, err := exec.LookPath("busybox")
	testprereq.Require(t, err == nil, "busybox")
	dir, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &rtEnv{bin: bin, root: filepath.Join(dir, "state"), dir: dir, bundle: filepath.Join(dir, "b")}
	rootfs := filepath.Join(e.bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(bin, "spec", "--bundle", e.bundle).CombinedOutput(); err != nil {
		t.Fatalf("runtime spec: %v: %s", err, out)
	}
	e.editSpec(t, func(s *specs.Spec) {
		s.Process.Args = args
		if mutate != nil {
			mutate(s)
		}
	})
	return e
}

func (e *rtEnv) editSpec(t *testing.T, fn func(*specs.Spec)) {
	t.Helper()
	editBundleSpec(t, e.bundle, fn)
}

// editBundleSpec has fn edit the config.json of bundle.
func editBundleSpec(t *testing.T, bundle string, fn func(*specs.Spec)) {
	t.Helper()
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	fn(&s)
	if b, err = json.Marshal(&s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// cmd runs the runtime with args. stdout and stderr go to files, not pipes: a
// created container inherits them and would keep a pipe open.
func (e *rtEnv) cmd(t *testing.T, extra []*os.File, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	outF, err := os.CreateTemp(e.dir, "out")
	if err != nil {
		t.Fatal(err)
	}
	defer outF.Close()
	errF, err := os.CreateTemp(e.dir, "err")
	if err != nil {
		t.Fatal(err)
	}
	defer errF.Close()
	argv := append(append(append([]string{}, e.wrap...), e.bin, "--root", e.root), args...)
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdout, c.Stderr, c.ExtraFiles = outF, errF, extra
	c.Dir = e.bundle
	err = c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("runtime %v: %v", args, err)
	}
	o, _ := os.ReadFile(outF.Name())
	r, _ := os.ReadFile(errF.Name())
	return string(o), string(r), code
}

// must runs the runtime and fails the test on a non-zero exit.
func (e *rtEnv) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := e.cmd(t, nil, args...)
	if code != 0 {
		t.Fatalf("runtime %v: exit %d: %s%s", args, code, out, errOut)
	}
	return out
}

func (e *rtEnv) state(t *testing.T, id string) specs.State {
	t.Helper()
	var s specs.State
	if err := json.Unmarshal([]byte(e.must(t, "state", id)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// cleanup force-deletes id when the test ends.
func (e *rtEnv) cleanup(t *testing.T, id string) {
	t.Cleanup(func() { e.cmd(t, nil, "delete", "--force", id) })
}

// withoutNamespace is a newRtEnv mutation: the container shares the
// host's namespace of type typ.
func withoutNamespace(typ specs.LinuxNamespaceType) func(*specs.Spec) {
	return func(s *specs.Spec) {
		var keep []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != typ {
				keep = append(keep, ns)
			}
		}
		s.Linux.Namespaces = keep
	}
}
