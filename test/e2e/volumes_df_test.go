package e2e

import (
	"encoding/json"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// system df counts everything berth keeps on disk: its images' content
// and layers, the containers' writable layers and the volumes' data add
// up to du of both data roots within 5%; `system df -v` shows each
// volume's size and users.
func TestDiskSpaceSystemDFVolumes(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("run", "--name", "rwdata", "-v", "dfvol:/v", "busybox", "sh", "-c",
		"dd if=/dev/urandom of=/rw bs=1M count=24 2>/dev/null; dd if=/dev/urandom of=/v/f bs=1M count=16 2>/dev/null; ln /v/f /v/hardlink")
	s.mustDocker("volume", "create", "emptyvol")
	code, body := s.http("GET", "/system/df", "", nil)
	if code != 200 {
		t.Fatalf("df: %d %s", code, body)
	}
	var df struct {
		LayersSize int64
		Containers []struct {
			Names  []string
			SizeRw int64
		}
		Volumes []struct {
			Name      string
			UsageData struct{ Size, RefCount int64 }
		}
	}
	if err := json.Unmarshal([]byte(body), &df); err != nil {
		t.Fatal(err)
	}
	total := df.LayersSize
	for _, c := range df.Containers {
		total += c.SizeRw
	}
	vols := map[string][2]int64{}
	for _, v := range df.Volumes {
		total += v.UsageData.Size
		vols[v.Name] = [2]int64{v.UsageData.Size, v.UsageData.RefCount}
	}
	// The hard link is one file: 16 MiB, as dockerd counts it.
	if vols["dfvol"] != [2]int64{16 << 20, 1} || vols["emptyvol"] != [2]int64{0, 0} {
		t.Errorf("volumes' usage: %v", vols)
	}
	du := duBytes(t, filepath.Join(s.root, "sup")) + duBytes(t, filepath.Join(s.root, "eng", "volumes"))
	if diff := math.Abs(float64(total - du)); diff > 0.05*float64(du) {
		t.Errorf("system df counts %d bytes (layers %d, containers %+v, volumes %v), du of the data roots %d", total, df.LayersSize, df.Containers, vols, du)
	}
	out := s.mustDocker("system", "df", "-v")
	sec := out[strings.Index(out, "Local Volumes space usage:"):]
	found := false
	for _, l := range strings.Split(sec, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "dfvol" {
			found = f[1] == "1" && f[2] == "16.78MB"
		}
	}
	if !found {
		t.Errorf("system df -v volumes:\n%s", sec)
	}
	if out := s.mustDocker("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}}"); !strings.Contains(out, "Local Volumes 2 1 16.78MB\n") {
		t.Errorf("system df: %q", out)
	}
	// rm and volume rm free their space at once.
	sup, vols0 := duBytes(t, filepath.Join(s.root, "sup")), duBytes(t, filepath.Join(s.root, "eng", "volumes"))
	s.mustDocker("rm", "rwdata")
	if freed := sup - duBytes(t, filepath.Join(s.root, "sup")); freed < 24<<20 {
		t.Errorf("rm freed %d bytes of the container's 24 MiB", freed)
	}
	s.mustDocker("volume", "rm", "dfvol")
	if freed := vols0 - duBytes(t, filepath.Join(s.root, "eng", "volumes")); freed < 16<<20 {
		t.Errorf("volume rm freed %d bytes of its 16 MiB", freed)
	}
}

// docker-py: an image committed (with its new layer in the history) and
// saved through GET /images/{name}/get loads into another engine and runs.
func TestCommitSaveLoadElsewhereDockerPy(t *testing.T) {
	py := requireDockerPy(t)
	s := newStack(t)
	s.loadBusybox()
	saved := filepath.Join(s.root, "saved.tar")
	s.runDockerPy(py, `
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
ct = c.containers.run("busybox", ["sh", "-c", "echo committed > /c.txt"], detach=True)
ct.wait()
img = ct.commit(repository="pysaved", tag="1", changes=["CMD cat /c.txt"])
assert len(img.history()) == 2, img.history()
with open("`+saved+`", "wb") as f:
    for chunk in img.save(named=True):
        f.write(chunk)
print("ok")
`)
	other := newStack(t)
	if out, errOut, code := other.docker("load", "-i", saved); code != 0 || !strings.Contains(out, "pysaved:1") {
		t.Fatalf("load elsewhere: %d %s %s", code, out, errOut)
	}
	if out := other.mustDocker("run", "--rm", "pysaved:1"); out != "committed\n" {
		t.Errorf("the loaded commit runs: %q", out)
	}
}

// volume ls filters (name, driver, dangling, label) and volume prune's:
// only unused anonymous volumes by default, named ones with --all, label
// and label! narrowing both, the space reclaimed reported.
func TestVolumesPruneFilters(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("volume", "create", "--label", "keep=1", "named1")
	s.mustDocker("volume", "create", "named2")
	s.mustDocker("run", "--rm", "-v", "named2:/v", "busybox", "dd", "if=/dev/zero", "of=/v/f", "bs=1M", "count=2")
	s.mustDocker("create", "--name", "dangle", "-v", "/anon", "busybox", "true")
	s.mustDocker("rm", "dangle") // without -v: its anonymous volume stays, unused
	s.mustDocker("create", "--name", "user", "-v", "/used", "busybox", "true")
	used := strings.TrimSpace(s.mustDocker("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "user"))
	ls := func(args ...string) string {
		t.Helper()
		out := strings.Fields(s.mustDocker(append([]string{"volume", "ls", "-q"}, args...)...))
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	all := strings.Split(ls(), ",")
	if len(all) != 4 {
		t.Fatalf("volumes: %v", all)
	}
	var dangling string
	for _, v := range all {
		if v != "named1" && v != "named2" && v != used {
			dangling = v
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--filter", "name=named"}, "named1,named2"},
		{[]string{"--filter", "name=med1"}, "named1"},
		{[]string{"--filter", "driver=local", "--filter", "label=keep"}, "named1"},
		{[]string{"--filter", "driver=nfs"}, ""},
		{[]string{"--filter", "dangling=false"}, used},
		{[]string{"--filter", "label=com.docker.volume.anonymous"}, strings.Join(sortedPair(dangling, used), ",")},
	} {
		if got := ls(c.args...); got != c.want {
			t.Errorf("volume ls %v: %q, want %q", c.args, got, c.want)
		}
	}
	if _, errOut, code := s.docker("volume", "ls", "--filter", "bogus=1"); code == 0 || !strings.Contains(errOut, "bogus") {
		t.Errorf("unknown filter: exit %d %q", code, errOut)
	}

	prune := func(args ...string) string {
		t.Helper()
		return s.mustDocker(append([]string{"volume", "prune", "-f"}, args...)...)
	}
	if out := prune("--filter", "label=nope"); strings.Contains(out, "Deleted") {
		t.Errorf("prune label=nope deleted: %q", out)
	}
	if out := prune(); !strings.Contains(out, "Deleted Volumes:\n"+dangling+"\n") || strings.Contains(out, "named") || strings.Contains(out, used) {
		t.Errorf("prune (anonymous only): %q", out)
	}
	if out := prune("-a", "--filter", "label!=keep"); !strings.Contains(out, "Deleted Volumes:\nnamed2\n") || !strings.Contains(out, "Total reclaimed space: 2.097MB") || strings.Contains(out, "named1") {
		t.Errorf("prune -a label!=keep: %q", out)
	}
	if out := prune("-a", "--filter", "label=keep=1"); !strings.Contains(out, "Deleted Volumes:\nnamed1\n") {
		t.Errorf("prune -a label=keep=1: %q", out)
	}
	if got := ls(); got != used {
		t.Errorf("after the prunes: %q, want only the used %s", got, used)
	}
	if _, errOut, code := s.docker("volume", "prune", "-f", "--filter", "until=1h"); code == 0 || !strings.Contains(errOut, "until") {
		t.Errorf("prune until: exit %d %q", code, errOut)
	}
}

func sortedPair(a, b string) []string {
	p := []string{a, b}
	sort.Strings(p)
	return p
}
