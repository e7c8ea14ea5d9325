package e2e

import (
	"strings"
	"testing"
)

// TestSystemDFVerboseFormat: on one engine, `ctl system df -v --format X`
// prints what `docker system df -v --format X` prints (docker CLI 28), to
// the byte, with an image of two names, a dangling one, a container using
// a volume, one that wrote to its layer, and build cache records: "table",
// "json", "raw", and templates with and without the "table" prefix over
// each kind of object. A template docker cannot execute fails in both.
func TestSystemDFVerboseFormat(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	s.loadBusybox()
	d.must("tag", "busybox", "other/repo:v1")
	d.must("volume", "create", "--label", "team=a&b", "dfvol")
	d.must("create", "--name", "user", "-v", "dfvol:/data", "busybox", "sh", "-c", "echo hi > /data/x; sleep 1000")
	d.must("run", "--name", "writer", "busybox", "sh", "-c", "echo hello > /y")
	d.must("commit", "writer") // dangling
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo built > /built\n"})
	if out, errOut, code := s.dockerBuild("-t", "built:1", ctx); code != 0 {
		t.Fatalf("docker build: %d\n%s\n%s", code, out, errOut)
	}

	for _, format := range []string{
		"", "table", "json", "raw", "{{json .}}", "table {{json .}}", "table ",
		`table {{range .Images}}{{.ID}}\t{{.Repository}}:{{.Tag}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}\n{{end}}`,
		`{{range .Images}}{{.ID}} {{json .Repository}} {{.Digest}} {{.VirtualSize}} {{.CreatedAt}}` + "\n{{end}}",
		`{{range .Containers}}{{.ID}} {{.Image}} {{.Command}} {{.Size}} {{.Mounts}} {{.LocalVolumes}} {{.State}} {{.Names}}` + "\n{{end}}",
		`{{range .Volumes}}{{.Name}} {{.Links}} {{.Size}} {{.Labels}} {{.Driver}} {{.Status}} {{json .}}` + "\n{{end}}",
		`{{range .BuildCache}}{{.ID}} {{.CacheType}} {{.Size}} {{.Shared}} {{.InUse}} {{.UsageCount}} {{.Description}}` + "\n{{end}}",
	} {
		args := []string{"system", "df", "-v", "--format", format}
		if format == "" {
			args = args[:3]
		}
		// "N seconds ago" may turn between the two commands: try again.
		var want, got string
		for i := 0; i < 3; i++ {
			want, got = d.must(args...), s.mustRun(args...)
			if got == want {
				break
			}
		}
		if got != want {
			t.Errorf("ctl %s:\n%s\ndocker's:\n%s", strings.Join(args, " "), got, want)
		}
		if want == "" && format != "table " {
			t.Errorf("docker %s printed nothing", strings.Join(args, " "))
		}
	}
	if v := d.must("system", "df", "-v"); !strings.Contains(v, "<none>") || !strings.Contains(v, "regular") || !strings.Contains(v, "dfvol") {
		t.Errorf("docker system df -v lacks the dangling image, the build cache or the volume:\n%s", v)
	}

	_, want, errD := d.run("system", "df", "-v", "--format", "{{.Type}}")
	_, got, code := s.run("system", "df", "-v", "--format", "{{.Type}}")
	if errD == nil || code != 1 || !strings.Contains(want, "can't evaluate field Type") || !strings.Contains(got, "can't evaluate field Type") {
		t.Errorf("df -v --format {{.Type}}: ctl exit %d %q, docker's %v %q", code, got, errD, want)
	}
}
