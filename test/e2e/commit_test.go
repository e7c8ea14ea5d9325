package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// commit of a container that added, changed and deleted files gives an
// image whose history has the new layer, that runs with the --change CMD
// and shows the changes; the volume's content is not in it; diff lists
// A/C/D as dockerd does; a running container is paused for the commit and
// runs again after it.
func TestCommitDiffDocker(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("run", "--name", "c1", "-v", "vol:/data", "busybox", "sh", "-c",
		"echo new > /new.txt && echo changed >> /etc/group && rm /etc/shadow 2>/dev/null; rm /bin/true && mkdir -p /srv/a && echo x > /srv/a/f && echo secret > /data/in-volume")
	diff := s.mustDocker("diff", "c1")
	for _, want := range []string{"A /new.txt", "C /etc/group", "D /bin/true", "A /srv/a/f", "A /data"} {
		if !strings.Contains(diff, want+"\n") {
			t.Errorf("docker diff lacks %q:\n%s", want, diff)
		}
	}
	for _, no := range []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/sys", "/dev", "in-volume"} {
		if strings.Contains(diff, no) {
			t.Errorf("docker diff lists %s:\n%s", no, diff)
		}
	}
	id := strings.TrimSpace(s.mustDocker("commit", "-a", "Ann <a@x>", "-m", "my message", "-c", "CMD [\"cat\", \"/new.txt\"]", "-c", "ENV FOO=bar", "c1", "committed:v1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("commit printed %q", id)
	}
	if out := s.mustDocker("run", "--rm", "committed:v1"); out != "new\n" {
		t.Errorf("run of the committed image: %q", out)
	}
	if out := s.mustDocker("run", "--rm", "committed:v1", "sh", "-c", "echo $FOO; tail -1 /etc/group; test -e /bin/true || echo no-true; cat /srv/a/f; ls /data"); out != "bar\nchanged\nno-true\nx\n" {
		t.Errorf("the committed image shows %q", out)
	}
	hist := s.mustDocker("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "committed:v1")
	if first := strings.SplitN(hist, "\n", 2)[0]; !strings.Contains(first, "|my message") || !strings.Contains(first, "sh -c echo new") {
		t.Errorf("history: %q", hist)
	}
	if out := s.mustDocker("inspect", "-f", "{{.Author}} {{.Config.Cmd}} {{len .RootFS.Layers}}", "committed:v1"); out != "Ann <a@x> [cat /new.txt] 2\n" {
		t.Errorf("inspect: %q", out)
	}

	// A running container is paused while committed and runs on.
	s.mustDocker("run", "-d", "--name", "c2", "busybox", "sh", "-c", "echo 1 > /one; sleep 300")
	s.mustDocker("exec", "c2", "sh", "-c", "test -e /one")
	s.mustDocker("commit", "c2", "committed:v2")
	if out := s.mustDocker("inspect", "-f", "{{.State.Status}}", "c2"); out != "running\n" {
		t.Errorf("after commit: %q", out)
	}
	if out := s.mustDocker("run", "--rm", "committed:v2", "cat", "/one"); out != "1\n" {
		t.Errorf("committed running container: %q", out)
	}
	s.mustDocker("rm", "-f", "c2")

	// Bad input: docker's errors, no image made.
	before := s.mustDocker("images", "-q", "-a")
	if _, errOut, code := s.docker("commit", "nosuch", "x:1"); code == 0 || !strings.Contains(errOut, "No such container: nosuch") {
		t.Errorf("commit of a missing container: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("commit", "-c", "RUN echo hi", "c1", "x:2"); code == 0 || !strings.Contains(errOut, "RUN is not a valid change command") {
		t.Errorf("commit with RUN: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("commit", "-c", "EXPOSE 99999", "c1", "x:3"); code == 0 || !strings.Contains(errOut, "99999") {
		t.Errorf("commit with a bad port: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("diff", "nosuch"); code == 0 || !strings.Contains(errOut, "No such container: nosuch") {
		t.Errorf("diff of a missing container: %d %s", code, errOut)
	}
	if after := s.mustDocker("images", "-q", "-a"); after != before {
		t.Errorf("failed commits made images: %q -> %q", before, after)
	}
}

// export of a container, then import with --change and --message, runs.
func TestImportDocker(t *testing.T) {
	s := newStack(t)
	s.loadBusybox()
	s.mustDocker("create", "--name", "src", "busybox", "true")
	tarPath := filepath.Join(s.root, "rootfs.tar")
	s.mustDocker("export", "-o", tarPath, "src")
	id := strings.TrimSpace(s.mustDocker("import", "-c", "CMD [\"echo\", \"imported\"]", "-c", "WORKDIR /tmp", "-m", "from a tar", tarPath, "imp:1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("import printed %q", id)
	}
	if out := s.mustDocker("run", "--rm", "imp:1"); out != "imported\n" {
		t.Errorf("run of the imported image: %q", out)
	}
	if out := s.mustDocker("run", "--rm", "imp:1", "pwd"); out != "/tmp\n" {
		t.Errorf("workdir: %q", out)
	}
	if out := s.mustDocker("history", "--format", "{{.Comment}}", "imp:1"); out != "from a tar\n" {
		t.Errorf("history: %q", out)
	}
	// From stdin.
	cmd := exec.Command("docker", "-H", "unix://"+s.engSock, "import", "-", "imp:stdin")
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdin = f
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import from stdin: %v %s", err, out)
	}
	if out := s.mustDocker("run", "--rm", "imp:stdin", "echo", "ok"); out != "ok\n" {
		t.Errorf("run of the stdin import: %q", out)
	}

	before := s.mustDocker("images", "-q", "-a")
	bad := filepath.Join(s.root, "bad.tar")
	os.WriteFile(bad, []byte("this is not a tar archive at all, not even close......"), 0o644)
	if _, errOut, code := s.docker("import", bad, "bad:1"); code == 0 || !strings.Contains(errOut, "tar") {
		t.Errorf("import of a bad tar: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("import", "-c", "RUN x", tarPath, "bad:2"); code == 0 || !strings.Contains(errOut, "RUN is not a valid change command") {
		t.Errorf("import with RUN: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("import", "--platform", "linux/s390x", tarPath, "bad:3"); code == 0 || !strings.Contains(errOut, "s390x") {
		t.Errorf("import for another platform: %d %s", code, errOut)
	}
	if _, errOut, code := s.docker("import", "http://127.0.0.1:1/rootfs.tar", "bad:4"); code == 0 || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("import from an unreachable URL: %d %s", code, errOut)
	}
	if after := s.mustDocker("images", "-q", "-a"); after != before {
		t.Errorf("failed imports made images: %q -> %q", before, after)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, "eng", "tmp", "import")); len(ents) != 0 {
		t.Errorf("import spools left: %v", ents)
	}
}
