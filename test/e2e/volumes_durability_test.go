package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashEngineAt runs docker args against an engined armed to kill itself
// at the failpoint, checks that it died there, and starts it again unarmed.
func (s *stack) crashEngineAt(point string, args ...string) {
	s.t.Helper()
	s.kill9(s.engine)
	s.engEnv = []string{"BERTH_FAILPOINT=" + point}
	s.startEngine()
	s.engEnv = nil
	if out, errOut, code := s.docker(args...); code == 0 {
		s.t.Fatalf("failpoint %s: docker %v did not fail: %s %s", point, args, out, errOut)
	}
	// It must have died at the failpoint, not merely failed the request.
	dead := false
	for range 200 {
		if syscall.Kill(s.engine.Process.Pid, 0) != nil {
			dead = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !dead {
		s.t.Fatalf("failpoint %s: engined did not die there", point)
	}
	s.startEngine()
}

// volumeDirs lists DATA_ROOT/volumes: the volumes' directories and any
// leftover of a cut operation (.tmp-*).
func (s *stack) volumeDirs() []string {
	s.t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.root, "eng", "volumes"))
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// A SIGKILL of engined at each step of a volume's create, removal and
// copy-up loses no volume and no data: after the restart every volume is
// whole or absent, nothing half-made is left, the users are as before, and
// a copy-up cut short is done again in full at the next start.
func TestVolumesFailpoints(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	// A volume with data and a user, which every crash below must keep.
	s.mustDocker("run", "--name", "keeper", "-v", "kept:/data", "busybox", "sh", "-c", "echo precious > /data/f")
	keeperID := strings.TrimSpace(s.mustDocker("inspect", "-f", "{{.Id}}", "keeper"))
	check := func(point string, want []string) {
		t.Helper()
		if got := s.volumeDirs(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: volume dirs %v, want %v", point, got, want)
		}
		if got := strings.Fields(s.mustDocker("volume", "ls", "-q")); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: volume ls %v, want %v", point, got, want)
		}
		if out := s.mustDocker("run", "--rm", "-v", "kept:/data", "busybox", "cat", "/data/f"); out != "precious\n" {
			t.Errorf("%s: the kept volume reads %q", point, out)
		}
		if _, errOut, code := s.docker("volume", "rm", "kept"); code == 0 || !strings.Contains(errOut, "volume is in use - ["+keeperID+"]") {
			t.Errorf("%s: rm of the kept volume in use: exit %d %q", point, code, errOut)
		}
	}

	// Cut before the rename: no volume. After it: a whole one.
	s.crashEngineAt("volume-create-written", "volume", "create", "cut")
	check("volume-create-written", []string{"kept"})
	s.crashEngineAt("volume-created", "volume", "create", "--label", "a=b", "made")
	check("volume-created", []string{"kept", "made"})
	if out := s.mustDocker("volume", "inspect", "-f", "{{.Labels.a}}", "made"); out != "b\n" {
		t.Errorf("the volume created at the crash: labels %q", out)
	}
	if _, err := os.Stat(filepath.Join(s.root, "eng", "volumes", "made", "_data")); err != nil {
		t.Errorf("the volume created at the crash has no _data: %v", err)
	}

	// Cut after the removal's rename: the volume is gone, and its data
	// with it once engined is back.
	os.WriteFile(filepath.Join(s.root, "eng", "volumes", "made", "_data", "big"), make([]byte, 1<<20), 0o644)
	s.crashEngineAt("volume-remove", "volume", "rm", "made")
	check("volume-remove", []string{"kept"})

	// Cut after the copy-up, before its end is recorded, and with a
	// partial file planted as a crash in the middle would leave: the next
	// start copies again, the volume holds exactly the image's /etc.
	s.mustDocker("run", "--rm", "-v", "ref:/etc", "busybox", "true")
	list := []string{"sh", "-c", "cd /etc && find . | sort | xargs stat -c '%n %u:%g %a %F %s'"}
	want := s.mustDocker(append([]string{"run", "--rm", "-v", "ref:/etc", "busybox"}, list...)...)
	s.mustDocker("volume", "rm", "ref")
	s.mustDocker(append([]string{"create", "--name", "cu", "-v", "cuvol:/etc", "busybox"}, list...)...)
	s.crashEngineAt("volume-copied-up", "start", "cu")
	os.WriteFile(filepath.Join(s.root, "eng", "volumes", "cuvol", "_data", "half-copied"), []byte("x"), 0o644)
	if out := s.mustDocker("start", "-a", "cu"); out != want {
		t.Errorf("copy-up after a crash:\n%s\nwant\n%s", out, want)
	}
	check("volume-copied-up", []string{"cuvol", "kept"})
	// Done now: the volume is not emptied at the next start.
	s.mustDocker("run", "--rm", "-v", "cuvol:/etc", "busybox", "sh", "-c", "echo mine > /etc/added")
	if out := s.mustDocker("start", "-a", "cu"); !strings.Contains(out, "added") {
		t.Errorf("a finished copy-up was done again: %s", out)
	}
}

// A tmpfs volume (local driver, type=tmpfs) stays mounted with its data
// for the containers that use it across a kill -9 of engined: a second
// container started after the restart sees the first one's data; the
// mount goes after the last user.
func TestVolumesDeviceMountSurvivesEngineCrash(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("volume", "create", "--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=8m", "tv")
	mp := filepath.Join(s.root, "eng", "volumes", "tv", "_data")
	s.mustDocker("run", "-d", "--name", "tw", "-v", "tv:/t", "busybox", "sh", "-c", "echo in-tmpfs > /t/f; sleep 1000")
	for range 100 {
		if _, err := os.Stat(filepath.Join(mp, "f")); err == nil {
			break
		}
		s.mustDocker("exec", "tw", "true")
	}
	s.kill9(s.engine)
	s.startEngine()
	if out := s.mustDocker("run", "--rm", "-v", "tv:/t", "busybox", "cat", "/t/f"); out != "in-tmpfs\n" {
		t.Errorf("after kill -9 of engined, a new user of the tmpfs volume reads %q", out)
	}
	if strings.Count(mountsAt(t, mp), "\n") != 1 {
		t.Errorf("the volume's mounts after the restart: %q", mountsAt(t, mp))
	}
	s.mustDocker("rm", "-f", "tw")
	if got := mountsAt(t, mp); got != "" {
		t.Errorf("the tmpfs stayed mounted after its last user: %q", got)
	}
}

// mountsAt lists the host's mounts at path, one line each.
func mountsAt(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == path {
			out += l + "\n"
		}
	}
	return out
}
