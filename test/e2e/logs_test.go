package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	mobyclient "github.com/moby/moby/client"

	"github.com/berthd/berth/test/image"
)

// loadBusyboxDocker loads the test image through the docker CLI.
func loadBusyboxDocker(t *testing.T, s *stack, d *dockerCLI) {
	t.Helper()
	tarPath := filepath.Join(s.root, "busybox.tar")
	if err := image.WriteDockerArchive(tarPath, "busybox:latest"); err != nil {
		t.Fatal(err)
	}
	d.must("load", "-i", tarPath)
}

// containerFiles lists the names in the engine's directory of container id
// (below sub) that match re, with their sizes.
func containerFiles(t *testing.T, s *stack, id, sub string, re *regexp.Regexp) map[string]int64 {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.root, "eng", "containers", id, sub))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]int64{}
	for _, e := range ents {
		if re.MatchString(e.Name()) {
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = info.Size()
		}
	}
	return files
}

// checkLastLines checks that out is "line K\n" ... "line 499\n" for some K
// (consecutive, in order), with at least min lines.
func checkLastLines(t *testing.T, what, out string, min int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < min {
		t.Fatalf("%s: %d lines, want at least %d:\n%s", what, len(lines), min, out)
	}
	first := 500 - len(lines)
	for i, l := range lines {
		if want := fmt.Sprintf("line %d", first+i); l != want {
			t.Fatalf("%s: line %d is %q, want %q:\n%s", what, i, l, want, out)
		}
	}
}

const fiveHundredLines = `i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done; sleep 1`

// json-file with max-size and max-file keeps that many files of that
// size, plain or gzipped, and docker logs reads them in order.
func TestLogRotation(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	loadBusyboxDocker(t, s, d)
	for _, compress := range []bool{false, true} {
		args := []string{"run", "-d", "--log-opt", "max-size=1k", "--log-opt", "max-file=3"}
		if compress {
			args = append(args, "--log-opt", "compress=true")
		}
		id := strings.TrimSpace(d.must(append(args, "busybox", "sh", "-c", fiveHundredLines)...))
		if code := strings.TrimSpace(d.must("wait", id)); code != "0" {
			t.Fatalf("exit %s", code)
		}
		want := []string{id + "-json.log", id + "-json.log.1", id + "-json.log.2"}
		if compress {
			want[1], want[2] = want[1]+".gz", want[2]+".gz"
		}
		var files map[string]int64
		// (A compression may still be finishing.)
		eventually(t, fmt.Sprintf("log files %v", want), func() bool {
			files = containerFiles(t, s, id, "", regexp.MustCompile(`-json\.log`))
			return len(files) == 3 && files[want[1]] > 0 && files[want[2]] > 0
		})
		for _, name := range want {
			if size := files[name]; size > 1000 || size == 0 {
				t.Fatalf("compress %v: %s: size %d, files %v", compress, name, size, files)
			}
		}
		logs := d.must("logs", id)
		// Three files of 1000 bytes hold at least 30 lines of ~75 bytes.
		checkLastLines(t, "logs", logs, 30)
		checkLastLines(t, "logs --tail 5", d.must("logs", "--tail", "5", id), 5)
		// Timestamps come from the records, across the files.
		ts := d.must("logs", "-t", "--tail", "2", id)
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line 498\n\S+ line 499\n$`).MatchString(ts) {
			t.Errorf("logs -t: %q", ts)
		}
		if p := strings.TrimSpace(d.must("inspect", "-f", "{{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Config}} {{.LogPath}}", id)); !strings.HasPrefix(p, "json-file map[") || !strings.HasSuffix(p, id+"-json.log") {
			t.Errorf("inspect: %q", p)
		}
	}
}

// local keeps its own files (dockerd's defaults: 20 MB, 5 files, gzip),
// which inspect does not show, and docker logs reads them.
func TestLogLocalDriver(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	loadBusyboxDocker(t, s, d)
	id := strings.TrimSpace(d.must("run", "-d", "--log-driver", "local", "--log-opt", "max-size=1k", "busybox", "sh", "-c", fiveHundredLines))
	d.must("wait", id)
	eventually(t, "5 files in local-logs, 4 gzipped", func() bool {
		files := containerFiles(t, s, id, "local-logs", regexp.MustCompile(`^container\.log`))
		return len(files) == 5 && files["container.log.4.gz"] > 0 && files["container.log.1.gz"] > 0 && files["container.log"] > 0
	})
	checkLastLines(t, "logs", d.must("logs", id), 50)
	if p := d.must("inspect", "-f", "{{.LogPath}}", id); p != "\n" {
		t.Errorf("LogPath %q", p)
	}
	if others := containerFiles(t, s, id, "", regexp.MustCompile(`-json\.log`)); len(others) != 0 {
		t.Errorf("json-file files for a local container: %v", others)
	}
}

// none writes no file; docker logs answers dockerd's error; attach works.
func TestLogDriverNone(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	loadBusyboxDocker(t, s, d)
	if out := d.must("run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "attached"); out != "attached\n" {
		t.Errorf("attached output %q", out)
	}
	id := strings.TrimSpace(d.must("inspect", "-f", "{{.Id}}", "quiet"))
	if files := containerFiles(t, s, id, "", regexp.MustCompile(`log`)); len(files) != 0 {
		t.Errorf("log files of a none container: %v", files)
	}
	_, errOut, err := d.run("logs", "quiet")
	if err == nil || !strings.Contains(errOut, "configured logging driver does not support reading") {
		t.Errorf("docker logs: %v %q", err, errOut)
	}
	if code, body := s.http("GET", "/containers/quiet/logs?stdout=1", "", nil); code != 501 {
		t.Errorf("logs: %d %s", code, body)
	}
}

// Drivers berth does not have and unknown options are refused at create
// with 400, and leave no container.
func TestLogDriverRefused(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	loadBusyboxDocker(t, s, d)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--log-driver", "syslog"}, "logger: no log driver named 'syslog' is registered"},
		{[]string{"--log-driver", "journald"}, "logger: no log driver named 'journald' is registered"},
		{[]string{"--log-opt", "max-size=1k", "--log-opt", "bogus=1"}, "unknown log opt 'bogus' for json-file log driver"},
		{[]string{"--log-opt", "max-size=big"}, "max-size: invalid size: 'big'"},
		{[]string{"--log-opt", "max-file=3"}, "max-file has no effect without max-size"},
	} {
		_, errOut, err := d.run(append(append([]string{"run", "--name", "refused"}, c.args...), "busybox", "true")...)
		if err == nil || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: %v %q, want %q", c.args, err, errOut, c.msg)
		}
	}
	code, body := s.http("POST", "/containers/create?name=refused", "application/json",
		[]byte(`{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"syslog","Config":{}}}}`))
	if code != 400 || !strings.Contains(body, "logger: no log driver named 'syslog' is registered") {
		t.Errorf("create: %d %s", code, body)
	}
	if ps := d.must("ps", "-aq"); ps != "" {
		t.Errorf("containers left: %q", ps)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, "eng", "containers")); len(ents) != 0 {
		t.Errorf("container directories left: %d", len(ents))
	}
	// And the log drivers /info reports are the ones there are.
	if info := d.must("info", "-f", "{{.LoggingDriver}} {{.Plugins.Log}}"); info != "json-file [json-file local]\n" {
		t.Errorf("info %q", info)
	}
}

// tag, labels and env add attributes that docker logs --details shows.
func TestLogDetails(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	loadBusyboxDocker(t, s, d)
	d.must("run", "--name", "tagged", "--label", "app=shop", "-e", "REGION=eu",
		"--log-opt", "tag={{.Name}}/{{.ImageName}}", "--log-opt", "labels=app", "--log-opt", "env=REGION",
		"busybox", "echo", "hi")
	if out := d.must("logs", "--details", "tagged"); out != "REGION=eu,app=shop,tag=tagged%2Fbusybox hi\n" {
		t.Errorf("logs --details %q", out)
	}
}

// docker logs -f follows the log through rotations (compressed ones too)
// without losing or repeating a line: the test feeds a cat through its
// stdin, each line once the follower has seen the one three before, so the
// follower is never a whole file behind.
func TestLogFollowAcrossRotations(t *testing.T) {
	s := newStack(t)
	d := newDockerCLI(t, s)
	loadBusyboxDocker(t, s, d)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := mobyclient.New(mobyclient.WithHost("unix://"+s.engSock), mobyclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := cl.ContainerCreate(ctx, mobyclient.ContainerCreateOptions{
		Config: &container.Config{Image: "busybox", Cmd: []string{"cat"}, OpenStdin: true, StdinOnce: true, AttachStdin: true},
		HostConfig: &container.HostConfig{LogConfig: container.LogConfig{Type: "json-file",
			Config: map[string]string{"max-size": "1k", "max-file": "3", "compress": "true"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	att, err := cl.ContainerAttach(ctx, res.ID, mobyclient.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	go io.Copy(io.Discard, att.Reader)
	if _, err := cl.ContainerStart(ctx, res.ID, mobyclient.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, err := cl.ContainerLogs(ctx, res.ID, mobyclient.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() { _, err := stdcopy.StdCopy(pw, pw, rc); pw.CloseWithError(err) }()
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	const n, lag = 300, 3
	var got []string
	for i := 0; i < n; i++ {
		for len(got) < i-lag {
			l, ok := <-lines
			if !ok {
				t.Fatalf("follow ended after %d lines: %q", len(got), got)
			}
			got = append(got, l)
		}
		if _, err := fmt.Fprintf(att.Conn, "line %d\n", i); err != nil {
			t.Fatal(err)
		}
	}
	// cat exits at stdin's end; the follow ends with the container.
	if err := att.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		got = append(got, l)
	}
	if len(got) != n {
		t.Fatalf("followed %d lines, want %d", len(got), n)
	}
	for i, l := range got {
		if want := fmt.Sprintf("line %d", i); l != want {
			t.Fatalf("line %d is %q, want %q", i, l, want)
		}
	}
	// It did rotate, and compress.
	files := containerFiles(t, s, res.ID, "", regexp.MustCompile(`-json\.log\.2\.gz$`))
	if len(files) != 1 {
		t.Errorf("no rotated, compressed file: %v", files)
	}
}
