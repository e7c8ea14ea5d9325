package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestStoreCreateReopenRemove(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Create(CreateOptions{Name: "data", Labels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := s.Create(CreateOptions{Name: "data"})
	if err != nil || again != v {
		t.Fatalf("create of an existing volume: %v %v", again, err)
	}
	if _, err := s.Create(CreateOptions{Name: "data", Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}}); !errdefs.IsConflict(err) {
		t.Errorf("same name, other options: %v", err)
	}
	anon, err := s.Create(CreateOptions{Anonymous: true})
	if err != nil || len(anon.Name) != 64 {
		t.Fatalf("anonymous: %+v %v", anon, err)
	}
	// A create cut short by a crash leaves a .tmp- directory: gone at Open.
	os.MkdirAll(filepath.Join(root, "volumes", ".tmp-123", "_data"), 0o755)

	s2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Get("data")
	if err != nil || got.Labels["a"] != "b" {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	if b, _ := os.ReadFile(filepath.Join(got.Mountpoint, "f")); string(b) != "x" {
		t.Errorf("data lost: %q", b)
	}
	if a, err := s2.Get(anon.Name); err != nil || !a.Anonymous {
		t.Errorf("anonymous after reopen: %+v %v", a, err)
	}
	if _, err := os.Stat(filepath.Join(root, "volumes", ".tmp-123")); !os.IsNotExist(err) {
		t.Errorf("temp dir of a cut create kept: %v", err)
	}
	if err := s2.Remove("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "volumes", "data")); !os.IsNotExist(err) {
		t.Errorf("removed volume's dir kept: %v", err)
	}
	if err := s2.Remove("data"); !errdefs.IsNotFound(err) {
		t.Errorf("second remove: %v", err)
	}
}

func TestStoreRefusesBadInput(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []CreateOptions{
		{Name: "a/b"},
		{Name: "x", Driver: "nfs-plugin"},
		{Name: "opts", Options: map[string]string{"bogus": "1"}},
		{Name: "half", Options: map[string]string{"type": "tmpfs"}},
	} {
		if _, err := s.Create(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if len(s.List()) != 0 {
		t.Errorf("refused creates left volumes: %v", s.List())
	}
}

func TestParseBind(t *testing.T) {
	cases := []struct {
		in   string
		want container.MountPoint
		err  string
	}{
		{"/srv:/data", container.MountPoint{Type: mount.TypeBind, Source: "/srv", Destination: "/data", RW: true, Propagation: "rprivate"}, ""},
		{"/srv:/data:ro,rslave", container.MountPoint{Type: mount.TypeBind, Source: "/srv", Destination: "/data", Mode: "ro,rslave", Propagation: "rslave"}, ""},
		{"vol:/data:nocopy", container.MountPoint{Type: mount.TypeVolume, Name: "vol", Driver: "local", Destination: "/data", Mode: "nocopy", RW: true}, ""},
		{"/srv:/data:z", container.MountPoint{Type: mount.TypeBind, Source: "/srv", Destination: "/data", Mode: "z", RW: true, Propagation: "rprivate"}, ""},
		// dockerd's inspect: a local volume without a mode shows "z".
		{"vol:/data", container.MountPoint{Type: mount.TypeVolume, Name: "vol", Driver: "local", Destination: "/data", Mode: "z", RW: true}, ""},
		{"vol:/data:ro", container.MountPoint{Type: mount.TypeVolume, Name: "vol", Driver: "local", Destination: "/data", Mode: "ro"}, ""},
		{"/srv:/data:ro-non-recursive", container.MountPoint{Type: mount.TypeBind, Source: "/srv", Destination: "/data", Mode: "ro-non-recursive", Propagation: "rprivate"}, ""},
		{"/srv:/data:rro", container.MountPoint{Type: mount.TypeBind, Source: "/srv", Destination: "/data", Mode: "rro", Propagation: "rprivate"}, ""},
		{"vol:/d:rro", container.MountPoint{}, "requires a bind mount"},
		{"/srv:/d:ro,rw", container.MountPoint{}, "invalid mode: ro,rw"},
		{"/srv:/d:rslave,rshared", container.MountPoint{}, "invalid mode"},
		{"vol:/d:z,Z", container.MountPoint{}, "invalid mode"},
		{"/srv:rel", container.MountPoint{}, "must be absolute"},
		{"/srv:/", container.MountPoint{}, "destination can't be '/'"},
		{"/srv:/d:bogus", container.MountPoint{}, "invalid mode"},
		{"vol:/d:rshared", container.MountPoint{}, "invalid mode"},
		{"a:b:c:d", container.MountPoint{}, "invalid volume specification"},
	}
	for _, c := range cases {
		mp, err := ParseBind(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !errdefs.IsInvalidArgument(err) {
				t.Errorf("%s: %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || mp.MountPoint != c.want {
			t.Errorf("%s: %+v %v, want %+v", c.in, mp, err, c.want)
		}
	}
}

func TestParseMount(t *testing.T) {
	dir := t.TempDir()
	if _, err := ParseMount(mount.Mount{Type: mount.TypeBind, Source: "/nonexistent/x", Target: "/x"}); err == nil || !strings.Contains(err.Error(), "bind source path does not exist") {
		t.Errorf("missing bind source: %v", err)
	}
	mp, err := ParseMount(mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/x", ReadOnly: true, BindOptions: &mount.BindOptions{NonRecursive: true}})
	if err != nil || mp.RW || !mp.NonRecursive {
		t.Errorf("bind: %+v %v", mp, err)
	}
	mp, err = ParseMount(mount.Mount{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}})
	if err != nil || !strings.Contains(strings.Join(mp.TmpfsData, ","), "size=1048576,mode=1777") {
		t.Errorf("tmpfs: %+v %v", mp, err)
	}
	if _, err := ParseMount(mount.Mount{Type: mount.TypeTmpfs, Source: "x", Target: "/t"}); err == nil {
		t.Error("tmpfs with a source accepted")
	}
	mp, err = ParseMount(mount.Mount{Type: mount.TypeVolume, Target: "/v", VolumeOptions: &mount.VolumeOptions{NoCopy: true, Subpath: "sub"}})
	if err != nil || !mp.Anonymous || mp.CopyData || mp.Subpath != "sub" {
		t.Errorf("anonymous volume: %+v %v", mp, err)
	}
	if _, err := ParseMount(mount.Mount{Type: mount.TypeVolume, Source: "v", Target: "/v", VolumeOptions: &mount.VolumeOptions{Subpath: "../x"}}); err == nil {
		t.Error("subpath escaping the volume accepted")
	}
	mp, err = ParseMount(mount.Mount{Type: mount.TypeVolume, Source: "v", Target: "/v"})
	if err != nil || mp.Mode != "z" || !mp.RW {
		t.Errorf("named volume (dockerd's mode z): %+v %v", mp, err)
	}
	if _, err := ParseMount(mount.Mount{Type: mount.TypeVolume, Target: "/v", ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "anonymous volumes") {
		t.Errorf("read-only anonymous volume: %v", err)
	}
	mp, err = ParseMount(mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/x", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyNonRecursive: true}})
	if err != nil || !mp.ReadOnlyNonRecursive || mp.Mode != "" {
		t.Errorf("bind-recursive=writable: %+v %v", mp, err)
	}
	if _, err := ParseMount(mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/x", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyNonRecursive: true, ReadOnlyForceRecursive: true}}); err == nil {
		t.Error("both recursive read-only modes accepted")
	}
	if _, err := ParseMount(mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/x", BindOptions: &mount.BindOptions{ReadOnlyForceRecursive: true}}); err == nil {
		t.Error("bind-recursive=readonly without readonly accepted")
	}
	if _, err := ParseMount(mount.Mount{Type: "npipe", Target: "/v"}); err == nil {
		t.Error("npipe accepted")
	}
}

func TestPlan(t *testing.T) {
	cfg := &container.Config{Volumes: map[string]struct{}{"/anon": {}}}
	hc := &container.HostConfig{
		Binds: []string{"named:/data"},
		Tmpfs: map[string]string{"/run": "size=1m"},
	}
	img := map[string]struct{}{"/data": {}, "/var/lib/db": {}}
	mps, err := Plan(cfg, hc, img, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mp := range mps {
		got[mp.Destination] = string(mp.Type) + ":" + mp.Name
	}
	want := map[string]string{"/data": "volume:named", "/run": "tmpfs:", "/anon": "volume:", "/var/lib/db": "volume:"}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	hc.Binds = append(hc.Binds, "/srv:/data")
	if _, err := Plan(cfg, hc, nil, nil); err == nil || !strings.Contains(err.Error(), "Duplicate mount point") {
		t.Errorf("duplicate: %v", err)
	}
	for _, mp := range mps {
		if mp.Listed() != (mp.Destination != "/run") {
			t.Errorf("%s: listed %v (only --tmpfs mounts are not)", mp.Destination, mp.Listed())
		}
	}
	from := func(string) ([]*MountPoint, error) {
		return []*MountPoint{{MountPoint: container.MountPoint{Type: mount.TypeVolume, Name: "shared", Destination: "/shared", RW: true, Mode: "z"}, Anonymous: true}}, nil
	}
	mps, err = Plan(&container.Config{}, &container.HostConfig{VolumesFrom: []string{"other:ro"}}, nil, from)
	if err != nil || len(mps) != 1 || mps[0].RW || mps[0].Anonymous || mps[0].Mode != "" {
		t.Errorf("volumes-from :ro: %+v %v", mps, err)
	}
}

func TestStoreSizeCountsHardLinksOnce(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Create(CreateOptions{Name: "sized"})
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(v.Mountpoint, "d"), 0o755)
	os.WriteFile(filepath.Join(v.Mountpoint, "d", "a"), make([]byte, 1000), 0o644)
	os.Link(filepath.Join(v.Mountpoint, "d", "a"), filepath.Join(v.Mountpoint, "b"))
	os.WriteFile(filepath.Join(v.Mountpoint, "c"), make([]byte, 234), 0o644)
	if n := s.Size("sized"); n != 1234 {
		t.Errorf("size %d, want 1234", n)
	}
	if n := s.Size("nosuch"); n != -1 {
		t.Errorf("size of a missing volume %d", n)
	}
}
