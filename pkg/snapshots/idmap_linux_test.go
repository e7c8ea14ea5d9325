package snapshots

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/testprereq"
)

func TestParseIDMap(t *testing.T) {
	ms := []IDMap{{0, 100000, 65536}, {65536, 300000, 10}}
	got, err := parseIDMap(formatIDMap(ms))
	if err != nil || len(got) != 2 || got[0] != ms[0] || got[1] != ms[1] {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "0:1", "0:1:0", "a:1:2", "0:1:2;"} {
		if _, err := parseIDMap(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, _, _, err := splitIDMap([]string{"uidmap=0:1:2"}); err == nil {
		t.Error("uidmap without gidmap accepted")
	}
	rest, u, g, err := splitIDMap(WithIDMap([]Mount{{Options: []string{"ro"}}}, ms, ms)[0].Options)
	if err != nil || len(rest) != 1 || len(u) != 2 || len(g) != 2 {
		t.Fatalf("split: %v %v %v %v", rest, u, g, err)
	}
}

// An ID-mapped overlay shows the layers' root-owned files as owned by the
// mapped root, and what the mapped root writes lands on disk as uid 0.
func TestIDMappedOverlay(t *testing.T) {
	testprereq.Root(t)
	dir := t.TempDir()
	// The mapped root must be able to reach the mount point.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lower, upper, work, mnt := filepath.Join(dir, "l"), filepath.Join(dir, "s", "fs"), filepath.Join(dir, "s", "work"), filepath.Join(dir, "m")
	for _, d := range []string{lower, upper, work, mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(lower, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := []IDMap{{0, 100000, 65536}}
	ms := WithIDMap([]Mount{{Type: "overlay", Source: "overlay", Options: []string{"index=off",
		"lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work}}}, m, m)
	if err := MountAll(ms, mnt); err != nil {
		t.Fatal(err)
	}
	defer Unmount(mnt)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(mnt, "f"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 100000 || st.Gid != 100000 {
		t.Fatalf("lower file seen as %d:%d, want 100000:100000", st.Uid, st.Gid)
	}
	touch, err := exec.LookPath("touch")
	if err != nil {
		t.Skip("no touch")
	}
	cmd := exec.Command(touch, filepath.Join(mnt, "new"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 100000, Gid: 100000}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mapped root cannot write: %v: %s", err, out)
	}
	if err := unix.Stat(filepath.Join(upper, "new"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Gid != 0 {
		t.Fatalf("written file on disk as %d:%d, want 0:0", st.Uid, st.Gid)
	}
	// Init's root is not in the mapping: it cannot create files there.
	if err := os.WriteFile(filepath.Join(mnt, "byroot"), nil, 0o644); err == nil {
		t.Fatal("unmapped root wrote through the mapped mount")
	}
}
