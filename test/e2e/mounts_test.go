package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/testprereq"
)

// mountHost runs mount(8) on the host for a test and unmounts at cleanup.
func mountHost(t *testing.T, target string, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", append(args, target)...).CombinedOutput(); err != nil {
		t.Fatalf("mount %v %s: %v %s", args, target, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", target).Run() })
}

// inspect's Mounts are dockerd's, key for key: "z" as the mode of a local
// volume given without one, binds rprivate unless told, --mount tmpfs
// listed and --tmpfs not, the anonymous volume's random name and its
// _data, --volumes-from copies without their mode; docker ps shows the
// same mounts.
func TestMountsInspectAsDockerd(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	host := filepath.Join(s.root, "hostdir")
	os.MkdirAll(host, 0o755)
	// A slave bind needs a shared (or slave) source mount.
	mountHost(t, host, "--bind", host)
	mountHost(t, host, "--make-shared")
	s.mustDocker("create", "--name", "insp",
		"-v", "named:/n", "-v", "named2:/n2:ro", "-v", "/anon",
		"-v", host+":/b", "-v", host+":/bro:ro,rslave",
		"--mount", "type=volume,src=mv,dst=/mv",
		"--mount", "type=bind,src="+host+",dst=/mb,readonly",
		"--mount", "type=bind,src="+host+",dst=/mbs,bind-propagation=rslave",
		"--mount", "type=tmpfs,dst=/mt",
		"--tmpfs", "/tt",
		"busybox", "true")
	type mp struct {
		Type, Name, Source, Destination, Driver, Mode string
		RW                                            bool
		Propagation                                   string
	}
	got := func(ref string) []mp {
		t.Helper()
		var raw []map[string]any
		if err := json.Unmarshal([]byte(s.mustDocker("inspect", "-f", "{{json .Mounts}}", ref)), &raw); err != nil {
			t.Fatal(err)
		}
		var out []mp
		for _, r := range raw {
			b, _ := json.Marshal(r)
			var m mp
			json.Unmarshal(b, &m)
			// Exactly dockerd's keys: Name and Driver only on volumes.
			keys := []string{}
			for k := range r {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			want := "Destination,Mode,Propagation,RW,Source,Type"
			if m.Type == "volume" {
				want = "Destination,Driver,Mode,Name,Propagation,RW,Source,Type"
			}
			if strings.Join(keys, ",") != want {
				t.Errorf("%s: keys %v, want %s", m.Destination, keys, want)
			}
			out = append(out, m)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
		return out
	}
	mounts := got("insp")
	vols := filepath.Join(s.root, "eng", "volumes")
	anon := ""
	for _, m := range mounts {
		if m.Destination == "/anon" {
			anon = m.Name
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(anon) {
		t.Fatalf("anonymous volume's name %q", anon)
	}
	want := []mp{
		{"volume", anon, filepath.Join(vols, anon, "_data"), "/anon", "local", "", true, ""},
		{"bind", "", host, "/b", "", "", true, "rprivate"},
		{"bind", "", host, "/bro", "", "ro,rslave", false, "rslave"},
		{"bind", "", host, "/mb", "", "", false, "rprivate"},
		{"bind", "", host, "/mbs", "", "", true, "rslave"},
		{"tmpfs", "", "", "/mt", "", "", true, ""},
		{"volume", "mv", filepath.Join(vols, "mv", "_data"), "/mv", "local", "z", true, ""},
		{"volume", "named", filepath.Join(vols, "named", "_data"), "/n", "local", "z", true, ""},
		{"volume", "named2", filepath.Join(vols, "named2", "_data"), "/n2", "local", "ro", false, ""},
	}
	if !reflect.DeepEqual(mounts, want) {
		t.Errorf("inspect Mounts:\n got %+v\nwant %+v", mounts, want)
	}

	// --volumes-from :ro: the binds and volumes (not the tmpfs), read-only,
	// without their modes.
	s.mustDocker("create", "--name", "from", "--volumes-from", "insp:ro", "busybox", "true")
	var fromWant []mp
	for _, m := range want {
		if m.Type == "tmpfs" {
			continue
		}
		m.Mode, m.RW = "", false
		fromWant = append(fromWant, m)
	}
	if from := got("from"); !reflect.DeepEqual(from, fromWant) {
		t.Errorf("--volumes-from insp:ro Mounts:\n got %+v\nwant %+v", from, fromWant)
	}
	// docker ps: the mounts' names (volumes) or sources (binds), the
	// tmpfs of --tmpfs not among them.
	ps := s.mustDocker("ps", "-a", "--filter", "name=insp", "--no-trunc", "--format", "{{.Mounts}}")
	for _, w := range []string{"named", "named2", "mv", host} {
		if !strings.Contains(ps, w) {
			t.Errorf("docker ps Mounts %q lacks %s", ps, w)
		}
	}
	if out := s.mustDocker("ps", "-a", "-q", "--filter", "volume=/tt"); out != "" {
		t.Errorf("the --tmpfs mount matched the volume filter: %q", out)
	}
	if out := s.mustDocker("ps", "-a", "-q", "--filter", "volume=/mt"); len(strings.Fields(out)) != 1 {
		t.Errorf("the --mount tmpfs did not match the volume filter: %q", out)
	}
}

// Read-only binds are read-only with their submounts (dockerd's default,
// -v :ro and --mount readonly), unless bind-recursive=writable;
// bind-recursive=disabled leaves submounts out; a rslave bind receives the
// host's later mounts and a private one does not; a rshared bind of a
// shared source propagates the container's mounts back to the host, and
// one of a private source is refused with dockerd's error. --read-only
// leaves volumes, binds and tmpfs writable.
func TestMountsRecursiveAndPropagation(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	h := filepath.Join(s.root, "h")
	os.MkdirAll(filepath.Join(h, "sub"), 0o755)
	mountHost(t, filepath.Join(h, "sub"), "-t", "tmpfs", "tmpfs")
	os.WriteFile(filepath.Join(h, "sub", "f"), []byte("sub\n"), 0o644)
	probe := "touch /h/top 2>/dev/null && echo top-rw || echo top-ro; touch /h/sub/x 2>/dev/null && echo sub-rw || echo sub-ro; cat /h/sub/f 2>/dev/null || echo no-submount"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-v", h + ":/h:ro"}, "top-ro\nsub-ro\nsub\n"},
		{[]string{"-v", h + ":/h:ro-non-recursive"}, "top-ro\nsub-rw\nsub\n"},
		{[]string{"--mount", "type=bind,src=" + h + ",dst=/h,readonly"}, "top-ro\nsub-ro\nsub\n"},
		{[]string{"--mount", "type=bind,src=" + h + ",dst=/h,readonly,bind-recursive=readonly,bind-propagation=rprivate"}, "top-ro\nsub-ro\nsub\n"},
		{[]string{"--mount", "type=bind,src=" + h + ",dst=/h,readonly,bind-recursive=writable"}, "top-ro\nsub-rw\nsub\n"},
		{[]string{"--mount", "type=bind,src=" + h + ",dst=/h,bind-recursive=disabled"}, "top-rw\nsub-rw\nno-submount\n"},
		{[]string{"--mount", "type=bind,src=" + h + ",dst=/h"}, "top-rw\nsub-rw\nsub\n"},
	} {
		args := append(append([]string{"run", "--rm"}, c.args...), "busybox", "sh", "-c", probe)
		if out := s.mustDocker(args...); out != c.want {
			t.Errorf("%v: %q, want %q", c.args, out, c.want)
		}
		os.Remove(filepath.Join(h, "top"))
		os.Remove(filepath.Join(h, "sub", "x"))
	}

	// Propagation. p is a shared mount on the host; q a private one.
	p := filepath.Join(s.root, "p")
	q := filepath.Join(s.root, "q")
	os.MkdirAll(filepath.Join(p, "late"), 0o755)
	os.MkdirAll(filepath.Join(p, "fromctr"), 0o755)
	os.MkdirAll(q, 0o755)
	mountHost(t, p, "--bind", p)
	mountHost(t, p, "--make-shared")
	mountHost(t, q, "--bind", q)
	mountHost(t, q, "--make-private")
	s.mustDocker("run", "-d", "--name", "slave", "-v", p+":/p:rslave", "busybox", "sleep", "1000")
	s.mustDocker("run", "-d", "--name", "private", "-v", p+":/p", "busybox", "sleep", "1000")
	mountHost(t, filepath.Join(p, "late"), "-t", "tmpfs", "tmpfs")
	os.WriteFile(filepath.Join(p, "late", "f"), []byte("late\n"), 0o644)
	if out, errOut, _ := s.docker("exec", "slave", "cat", "/p/late/f"); out != "late\n" {
		t.Errorf("rslave bind did not receive the host's mount: %q %s", out, errOut)
	}
	if out, _, code := s.docker("exec", "private", "cat", "/p/late/f"); code == 0 {
		t.Errorf("rprivate bind received the host's mount: %q", out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", filepath.Join(p, "fromctr")).Run() })
	if out := s.mustDocker("run", "--rm", "--privileged", "-v", p+":/p:rshared", "busybox", "sh", "-c",
		"mount -t tmpfs tmpfs /p/fromctr && echo back > /p/fromctr/f && echo ok"); out != "ok\n" {
		t.Errorf("rshared run: %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(p, "fromctr", "f")); string(b) != "back\n" {
		t.Errorf("the container's mount did not propagate back through rshared: %q %v", b, err)
	}
	for _, mode := range []string{"rshared", "rslave"} {
		_, errOut, code := s.docker("run", "--rm", "-v", q+":/q:"+mode, "busybox", "true")
		if code == 0 || !strings.Contains(errOut, "path "+q+" is mounted on "+q+" but it is not a shared") {
			t.Errorf("%s bind of a private mount: exit %d %q", mode, code, errOut)
		}
	}

	// --read-only: the rootfs refuses, a named volume, a bind and tmpfs take writes.
	out := s.mustDocker("run", "--rm", "--read-only", "-v", "rovol:/v", "-v", h+":/h", "--tmpfs", "/t",
		"--mount", "type=tmpfs,dst=/mt", "busybox", "sh", "-c",
		"touch /rootfs 2>/dev/null && echo root-rw || echo root-ro; for d in /v /h /t /mt; do touch $d/w && echo $d-rw; done")
	if out != "root-ro\n/v-rw\n/h-rw\n/t-rw\n/mt-rw\n" {
		t.Errorf("--read-only with volumes and tmpfs: %q", out)
	}
	if _, err := os.Stat(filepath.Join(s.root, "eng", "volumes", "rovol", "_data", "w")); err != nil {
		t.Errorf("the write to the volume of a --read-only container: %v", err)
	}
}

// The keys of -v and --mount that make things: -v makes a missing bind
// source directory (--mount refuses, TestVolumesBadInput); volume-opt
// makes the named volume a tmpfs of that size, volume-nocopy leaves the
// image's files out, volume-label labels it.
func TestMountsVolumeKeys(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	missing := filepath.Join(s.root, "not", "there")
	s.mustDocker("run", "--rm", "-v", missing+":/x", "busybox", "sh", "-c", "echo made > /x/f")
	if b, err := os.ReadFile(filepath.Join(missing, "f")); string(b) != "made\n" {
		t.Errorf("-v with a missing source: %q %v", b, err)
	}
	out := s.mustDocker("run", "--rm", "--mount",
		"type=volume,src=mo,dst=/etc,volume-nocopy,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=4m,volume-label=team=x",
		"busybox", "sh", "-c", "df -k /etc | tail -1 | awk '{print $1, $2}'; test -e /etc/passwd || echo no-passwd")
	if out != "tmpfs 4096\nno-passwd\n" {
		t.Errorf("--mount volume-opt tmpfs with volume-nocopy: %q", out)
	}
	if out := s.mustDocker("volume", "inspect", "-f", "{{.Options.type}} {{.Options.device}} {{.Options.o}} {{.Labels.team}}", "mo"); out != "tmpfs tmpfs size=4m x\n" {
		t.Errorf("volume inspect: %q", out)
	}
	// --volumes-from: the other container's volume, read-only with :ro.
	s.mustDocker("create", "--name", "vsrc", "-v", "shv:/s", "busybox", "true")
	if out := s.mustDocker("run", "--rm", "--volumes-from", "vsrc:ro", "busybox", "sh", "-c", "touch /s/x 2>/dev/null && echo written || echo refused"); out != "refused\n" {
		t.Errorf("--volumes-from :ro: %q", out)
	}
	s.mustDocker("run", "--rm", "--volumes-from", "vsrc", "busybox", "sh", "-c", "echo shared > /s/x")
	if b, _ := os.ReadFile(filepath.Join(s.root, "eng", "volumes", "shv", "_data", "x")); string(b) != "shared\n" {
		t.Errorf("--volumes-from rw write: %q", b)
	}
	// Without nocopy the image's files are copied in.
	if out := s.mustDocker("run", "--rm", "--mount", "type=volume,src=mc,dst=/etc", "busybox", "head", "-c", "5", "/etc/passwd"); out != "root:" {
		t.Errorf("--mount volume copy-up: %q", out)
	}
}

// The local driver's options mount a host directory (o=bind) or a block
// device (a loop device with ext4) as the volume; an image's VOLUME is an
// anonymous volume with the image's content, gone with run --rm and kept
// by rm without -v.
func TestVolumesLocalDriverDevices(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	src := filepath.Join(s.root, "bindsrc")
	os.MkdirAll(src, 0o755)
	s.mustDocker("volume", "create", "--opt", "type=none", "--opt", "device="+src, "--opt", "o=bind", "bv")
	s.mustDocker("run", "--rm", "-v", "bv:/b", "busybox", "sh", "-c", "echo via-bind > /b/f")
	if b, err := os.ReadFile(filepath.Join(src, "f")); string(b) != "via-bind\n" {
		t.Errorf("o=bind volume: %q %v", b, err)
	}
	if got := mountsAt(t, filepath.Join(s.root, "eng", "volumes", "bv", "_data")); got != "" {
		t.Errorf("the bind volume stayed mounted after its user: %q", got)
	}

	img := filepath.Join(s.root, "disk.img")
	if out, err := exec.Command("truncate", "-s", "32M", img).CombinedOutput(); err != nil {
		t.Fatalf("truncate: %v %s", err, out)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	testprereq.Require(t, err == nil, "needs a loop device: %s", out)
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	s.mustDocker("volume", "create", "--opt", "type=ext4", "--opt", "device="+loop, "blk")
	if out := s.mustDocker("run", "--rm", "-v", "blk:/d", "busybox", "sh", "-c", "echo on-disk > /d/f; grep ' /d ' /proc/mounts | awk '{print $3}'"); out != "ext4\n" {
		t.Errorf("block device volume's filesystem: %q", out)
	}
	if out := s.mustDocker("run", "--rm", "-v", "blk:/d", "busybox", "cat", "/d/f"); out != "on-disk\n" {
		t.Errorf("block device volume read back: %q", out)
	}
	s.mustDocker("volume", "rm", "blk")
	mnt := filepath.Join(s.root, "mnt")
	os.MkdirAll(mnt, 0o755)
	if out, err := exec.Command("mount", loop, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount the disk: %v %s", err, out)
	}
	b, _ := os.ReadFile(filepath.Join(mnt, "f"))
	exec.Command("umount", mnt).Run()
	if string(b) != "on-disk\n" {
		t.Errorf("the data is not on the block device: %q", b)
	}

	// An image's VOLUME.
	s.mustDocker("run", "--name", "mk", "busybox", "sh", "-c", "mkdir /vol && echo from-image > /vol/f")
	s.mustDocker("commit", "-c", "VOLUME /vol", "mk", "withvol:1")
	before := strings.Fields(s.mustDocker("volume", "ls", "-q"))
	if out := s.mustDocker("run", "--rm", "withvol:1", "cat", "/vol/f"); out != "from-image\n" {
		t.Errorf("the image's VOLUME content: %q", out)
	}
	if after := strings.Fields(s.mustDocker("volume", "ls", "-q")); len(after) != len(before) {
		t.Errorf("run --rm kept the image VOLUME's anonymous volume: %v -> %v", before, after)
	}
	s.mustDocker("run", "--name", "kv", "withvol:1", "true")
	name := strings.TrimSpace(s.mustDocker("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "kv"))
	s.mustDocker("rm", "kv")
	if b, err := os.ReadFile(filepath.Join(s.root, "eng", "volumes", name, "_data", "f")); string(b) != "from-image\n" {
		t.Errorf("rm without -v: the anonymous volume %s: %q %v", name, b, err)
	}
}

// An unknown volume driver through --mount: docker's error, nothing made
// (a 404 would send the docker CLI pulling the image).
func TestMountsUnknownDriver(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	_, errOut, code := s.docker("run", "--rm", "--mount", "type=volume,src=x1,dst=/x,volume-driver=nfsplug", "busybox", "true")
	if code == 0 || !strings.Contains(errOut, "error looking up volume plugin nfsplug") || strings.Contains(errOut, "Unable to find image") {
		t.Errorf("--mount volume-driver=nfsplug: exit %d %q", code, errOut)
	}
	if out := s.mustDocker("volume", "ls", "-q"); out != "" {
		t.Errorf("volumes made: %q", out)
	}
	if out := s.mustDocker("ps", "-aq"); out != "" {
		t.Errorf("containers made: %q", out)
	}
}

// Under --userns-remap the read-only bind is read-only with its submounts
// too (mount_setattr in the container's user namespace).
func TestMountsReadOnlyRecursiveUserns(t *testing.T) {
	_, err := exec.LookPath("useradd")
	testprereq.Require(t, err == nil, "needs useradd and usermod (passwd)")
	s := newStackArgs(t, "--userns-remap", "default")
	s.loadBusybox()
	h := filepath.Join(s.root, "h")
	os.MkdirAll(filepath.Join(h, "sub"), 0o777)
	os.Chmod(h, 0o777)
	mountHost(t, filepath.Join(h, "sub"), "-t", "tmpfs", "-o", "mode=1777", "tmpfs")
	probe := "touch /h/sub/x 2>/dev/null && echo sub-rw || echo sub-ro"
	if out := s.mustDocker("run", "--rm", "-v", h+":/h:ro", "busybox", "sh", "-c", probe); out != "sub-ro\n" {
		t.Errorf("-v :ro under userns-remap: %q", out)
	}
	if out := s.mustDocker("run", "--rm", "-v", h+":/h", "busybox", "sh", "-c", probe); out != "sub-rw\n" {
		t.Errorf("-v rw under userns-remap: %q", out)
	}
}
