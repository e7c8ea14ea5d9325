package containers

import (
	"errors"
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/engine/imageconfig"
	"github.com/berthd/berth/pkg/errdefs"
)

func TestCommitName(t *testing.T) {
	for _, tc := range []struct{ repo, tag, want string }{
		{"", "", ""},
		{"img", "", "docker.io/library/img:latest"},
		{"docker.io/library/img", "v1", "docker.io/library/img:v1"},
		{"localhost:5000/a/b", "x", "localhost:5000/a/b:x"},
	} {
		if got, err := CommitName(tc.repo, tc.tag); err != nil || got != tc.want {
			t.Errorf("%q %q: %q %v, want %q", tc.repo, tc.tag, got, err, tc.want)
		}
	}
	for _, bad := range [][2]string{{"", "v1"}, {"UPPER", ""}, {"img", "bad tag"}, {"img@sha256:" + "0123456789012345678901234567890123456789012345678901234567890123", ""}} {
		if _, err := CommitName(bad[0], bad[1]); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%q %q: %v, want InvalidArgument", bad[0], bad[1], err)
		}
	}
}

func TestMergeCommitConfig(t *testing.T) {
	cfg := imageconfig.Config{}
	cfg.Env = []string{"PATH=/bin", "A=1"}
	cfg.Cmd = []string{"sh"}
	cfg.Labels = map[string]string{"img": "x"}
	p, _ := network.ParsePort("80/tcp")
	mergeCommitConfig(&cfg, &container.Config{
		Env: []string{"A=2", "B=3"}, Entrypoint: []string{"top"}, Labels: map[string]string{"c": "y"},
		ExposedPorts: network.PortSet{p: {}}, WorkingDir: "/w", User: "u", StopSignal: "SIGINT",
	})
	if !reflect.DeepEqual(cfg.Env, []string{"PATH=/bin", "A=2", "B=3"}) {
		t.Errorf("env %q", cfg.Env)
	}
	// A container's ENTRYPOINT without CMD drops the image's CMD.
	if cfg.Cmd != nil || !reflect.DeepEqual(cfg.Entrypoint, []string{"top"}) {
		t.Errorf("cmd %q entrypoint %q", cfg.Cmd, cfg.Entrypoint)
	}
	if cfg.Labels["img"] != "x" || cfg.Labels["c"] != "y" || cfg.WorkingDir != "/w" || cfg.User != "u" || cfg.StopSignal != "SIGINT" {
		t.Errorf("config %+v", cfg)
	}
	if _, ok := cfg.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("ports %v", cfg.ExposedPorts)
	}
	mergeCommitConfig(&cfg, nil) // no body: nothing changes
	if cfg.User != "u" {
		t.Error("nil config changed the config")
	}
}
