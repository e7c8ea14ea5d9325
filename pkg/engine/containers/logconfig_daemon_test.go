package containers_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/errdefs"
)

func logDaemon(t *testing.T) (*containers.Daemon, *containerstest.Supervisor, string) {
	t.Helper()
	dir := t.TempDir()
	sup := containerstest.New()
	d, err := containers.New(context.Background(), sup, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d, sup, dir
}

func runLogged(t *testing.T, d *containers.Daemon, name string, lc container.LogConfig, cfg *container.Config) *containers.Container {
	t.Helper()
	ctx := context.Background()
	if cfg == nil {
		cfg = &container.Config{}
	}
	cfg.Image = "busybox"
	if cfg.Cmd == nil {
		cfg.Cmd = []string{"echo", "hello"}
	}
	c, err := d.Create(ctx, containers.CreateOptions{Name: name, Config: cfg, HostConfig: &container.HostConfig{LogConfig: lc}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Wait(ctx, c.ID, "not-running"); err != nil {
		t.Fatal(err)
	}
	return c
}

// A refused driver leaves no container, name, directory or supervisor
// container behind.
func TestCreateRefusesLogDriver(t *testing.T) {
	d, sup, dir := logDaemon(t)
	_, err := d.Create(context.Background(), containers.CreateOptions{Name: "web", Config: &container.Config{Image: "busybox"},
		HostConfig: &container.HostConfig{LogConfig: container.LogConfig{Type: "syslog"}}})
	if !errdefs.IsInvalidArgument(err) || err.Error() != "logger: no log driver named 'syslog' is registered" {
		t.Fatalf("err %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "containers")); len(ents) != 0 || len(d.List(true, -1)) != 0 || len(sup.Containers) != 0 {
		t.Fatalf("left behind: %d dirs, %d containers", len(ents), len(d.List(true, -1)))
	}
	// The name is free again.
	runLogged(t, d, "web", container.LogConfig{}, nil)
}

func TestLogDrivers(t *testing.T) {
	d, sup, dir := logDaemon(t)
	ctx := context.Background()

	def := runLogged(t, d, "", container.LogConfig{}, nil)
	tl := sup.TaskLogs[def.ID]
	if want := filepath.Join(dir, "containers", def.ID, def.ID+"-json.log"); tl.Path != want || def.LogPath != want || tl.MaxSize != 0 || len(tl.Attrs) != 0 {
		t.Errorf("default: %+v, LogPath %s", tl, def.LogPath)
	}
	if got, _ := d.Inspect(ctx, def.ID); got.HostConfig.LogConfig.Type != "json-file" || got.HostConfig.LogConfig.Config == nil {
		t.Errorf("stored log config %+v", got.HostConfig.LogConfig)
	}

	js := runLogged(t, d, "", container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1k", "max-file": "3", "compress": "true", "labels": "app", "tag": "{{.Name}}"}},
		&container.Config{Labels: map[string]string{"app": "shop"}})
	tl = sup.TaskLogs[js.ID]
	if tl.MaxSize != 1000 || tl.MaxFiles != 3 || !tl.Compress || tl.Attrs["app"] != "shop" || tl.Attrs["tag"] != strings.TrimPrefix(js.Name, "/") {
		t.Errorf("json-file: %+v", tl)
	}
	var out bytes.Buffer
	if err := d.Logs(ctx, js.ID, containers.LogsOptions{Stdout: true, Tail: -1, Details: true}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if want := "app=shop,tag=" + strings.TrimPrefix(js.Name, "/") + " hello\n"; out.String() != want {
		t.Errorf("details %q, want %q", out.String(), want)
	}

	local := runLogged(t, d, "", container.LogConfig{Type: "local"}, nil)
	tl = sup.TaskLogs[local.ID]
	if want := filepath.Join(dir, "containers", local.ID, "local-logs", "container.log"); tl.Path != want || tl.MaxSize != 20<<20 || tl.MaxFiles != 5 || !tl.Compress || local.LogPath != "" {
		t.Errorf("local: %+v, LogPath %q", tl, local.LogPath)
	}
	out.Reset()
	if err := d.Logs(ctx, local.ID, containers.LogsOptions{Stdout: true, Tail: -1}, &out, &out); err != nil || out.String() != "hello\n" {
		t.Errorf("local logs %q %v", out.String(), err)
	}

	none := runLogged(t, d, "", container.LogConfig{Type: "none"}, nil)
	if tl = sup.TaskLogs[none.ID]; tl.Path != "" || none.LogPath != "" {
		t.Errorf("none: %+v, LogPath %q", tl, none.LogPath)
	}
	err := d.Logs(ctx, none.ID, containers.LogsOptions{Stdout: true, Tail: -1}, &out, &out)
	if !errdefs.IsNotImplemented(err) || err.Error() != "configured logging driver does not support reading" {
		t.Errorf("none logs: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "containers", none.ID)); len(ents) == 0 {
		t.Fatal("no container dir")
	} else {
		for _, e := range ents {
			if strings.Contains(e.Name(), "log") {
				t.Errorf("none wrote %s", e.Name())
			}
		}
	}
}
