package imageconfig

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestApplyChanges(t *testing.T) {
	cfg := Config{}
	cfg.Env = []string{"PATH=/bin", "HOME=/root"}
	cfg.Cmd = []string{"sh"}
	err := ApplyChanges(&cfg, []string{
		`ENV A=1 B="two words"`,
		`ENV PATH=/usr/bin:$PATH`,
		`LABEL "com.x"="y z" other=$A`,
		`EXPOSE 80 53/udp 8000-8001`,
		`USER nobody:nogroup`,
		`VOLUME ["/data", "/logs"]`,
		`WORKDIR /srv`,
		`WORKDIR app`,
		`STOPSIGNAL SIGINT`,
		`ONBUILD RUN echo hi`,
		`HEALTHCHECK --interval=5s --retries=2 CMD true`,
		`CMD echo $HOME`,
		`ENTRYPOINT ["/bin/tini", "--"]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/usr/bin:/bin", "HOME=/root", "A=1", "B=two words"}
	if !reflect.DeepEqual(cfg.Env, want) {
		t.Errorf("env %q, want %q", cfg.Env, want)
	}
	if cfg.Labels["com.x"] != "y z" || cfg.Labels["other"] != "1" {
		t.Errorf("labels %v", cfg.Labels)
	}
	for _, p := range []string{"80/tcp", "53/udp", "8000/tcp", "8001/tcp"} {
		if _, ok := cfg.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed: %v", p, cfg.ExposedPorts)
		}
	}
	if cfg.User != "nobody:nogroup" || cfg.WorkingDir != "/srv/app" || cfg.StopSignal != "SIGINT" || len(cfg.Volumes) != 2 {
		t.Errorf("config %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.OnBuild, []string{"RUN echo hi"}) {
		t.Errorf("onbuild %q", cfg.OnBuild)
	}
	if cfg.Healthcheck == nil || cfg.Healthcheck.Retries != 2 || cfg.Healthcheck.Interval.Seconds() != 5 || !reflect.DeepEqual(cfg.Healthcheck.Test, []string{"CMD-SHELL", "true"}) {
		t.Errorf("healthcheck %+v", cfg.Healthcheck)
	}
	// CMD is shell form, unexpanded (the shell expands it); set before
	// ENTRYPOINT in the same changes, it is kept.
	if !reflect.DeepEqual(cfg.Cmd, []string{"/bin/sh", "-c", "echo $HOME"}) || !reflect.DeepEqual(cfg.Entrypoint, []string{"/bin/tini", "--"}) {
		t.Errorf("cmd %q entrypoint %q", cfg.Cmd, cfg.Entrypoint)
	}
}

func TestEntrypointClearsInheritedCmd(t *testing.T) {
	cfg := Config{}
	cfg.Cmd = []string{"sh"}
	if err := ApplyChanges(&cfg, []string{`ENTRYPOINT top`}); err != nil {
		t.Fatal(err)
	}
	if cfg.Cmd != nil || !reflect.DeepEqual(cfg.Entrypoint, []string{"/bin/sh", "-c", "top"}) {
		t.Errorf("cmd %q entrypoint %q", cfg.Cmd, cfg.Entrypoint)
	}
}

func TestApplyChangesRefuses(t *testing.T) {
	for _, tc := range []struct{ change, msg string }{
		{`RUN echo hi`, "RUN is not a valid change command"},
		{`FROM busybox`, "FROM is not a valid change command"},
		{`NOSUCH x`, "NOSUCH is not a valid change command"},
		{`EXPOSE 99999`, "invalid containerPort: 99999"},
		{`EXPOSE 80/foo`, "invalid proto: foo"},
		{`STOPSIGNAL SIGNOPE`, "invalid signal: SIGNOPE"},
		{`ENV`, "ENV"},
		{`HEALTHCHECK --interval=x CMD true`, "interval"},
	} {
		cfg := Config{}
		cfg.Env = []string{"A=1"}
		err := ApplyChanges(&cfg, []string{`ENV B=2`, tc.change})
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want InvalidArgument with %q", tc.change, err, tc.msg)
		}
		if len(cfg.Env) != 1 {
			t.Errorf("%s: config changed by a failed ApplyChanges: %q", tc.change, cfg.Env)
		}
	}
}

func TestApplyNotMetadata(t *testing.T) {
	a := New(&Config{})
	if err := a.Apply("RUN true"); !errors.Is(err, ErrNotMetadata) {
		t.Errorf("RUN: %v", err)
	}
	if err := a.Apply(`SHELL ["/bin/bash", "-c"]`); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply("CMD ls"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Config.Cmd, []string{"/bin/bash", "-c", "ls"}) {
		t.Errorf("cmd with SHELL: %q", a.Config.Cmd)
	}
}
