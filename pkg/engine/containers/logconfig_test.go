package containers

import (
	"errors"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestVerifyLogConfigRefuses(t *testing.T) {
	for _, c := range []struct {
		typ  string
		opts map[string]string
		want string
	}{
		{"syslog", nil, "logger: no log driver named 'syslog' is registered"},
		{"journald", nil, "logger: no log driver named 'journald' is registered"},
		{"gelf", map[string]string{"gelf-address": "udp://x:1"}, "logger: no log driver named 'gelf' is registered"},
		{"fluentd", nil, "logger: no log driver named 'fluentd' is registered"},
		{"awslogs", nil, "logger: no log driver named 'awslogs' is registered"},
		{"splunk", nil, "logger: no log driver named 'splunk' is registered"},
		{"etwlogs", nil, "logger: no log driver named 'etwlogs' is registered"},
		{"gcplogs", nil, "logger: no log driver named 'gcplogs' is registered"},
		{"logentries", nil, "logger: no log driver named 'logentries' is registered"},
		{"nope", nil, "logger: no log driver named 'nope' is registered"},
		{"", map[string]string{"foo": "1"}, "unknown log opt 'foo' for json-file log driver"},
		{"json-file", map[string]string{"max-size": "1k", "syslog-address": "x"}, "unknown log opt 'syslog-address' for json-file log driver"},
		{"local", map[string]string{"foo": "1"}, "unknown log opt 'foo' for log driver local"},
		{"none", map[string]string{"max-size": "1k"}, "unknown log opt 'max-size' for log driver none"},
		{"json-file", map[string]string{"mode": "non-blocking"}, "logger: logging mode not supported: non-blocking"},
		{"json-file", map[string]string{"max-buffer-size": "4m"}, "logger: max-buffer-size option is only supported with 'mode=non-blocking'"},
		{"json-file", map[string]string{"max-size": "abc"}, "max-size: invalid size: 'abc'"},
		{"json-file", map[string]string{"max-size": "-1"}, "max-size: invalid size: '-1'"},
		{"json-file", map[string]string{"max-size": "0"}, "max-size must be a positive number"},
		{"json-file", map[string]string{"max-size": "1k", "max-file": "0"}, "max-file cannot be less than 1"},
		{"json-file", map[string]string{"max-size": "1k", "max-file": "x"}, `max-file: strconv.Atoi: parsing "x": invalid syntax`},
		{"json-file", map[string]string{"max-file": "3"}, "max-file has no effect without max-size: set max-size too"},
		{"json-file", map[string]string{"max-size": "1k", "compress": "true"}, "compress cannot be true when max-file is less than 2 or max-size is not set"},
		{"json-file", map[string]string{"max-size": "1k", "max-file": "2", "compress": "maybe"}, `compress: strconv.ParseBool: parsing "maybe": invalid syntax`},
		{"json-file", map[string]string{"labels-regex": "("}, "labels-regex: error parsing regexp: missing closing ): `(`"},
		{"local", map[string]string{"env-regex": "["}, "env-regex: error parsing regexp: missing closing ]: `[`"},
		{"json-file", map[string]string{"tag": "{{.Nope}}"}, `tag: template: log-tag:1:2: executing "log-tag" at <.Nope>: can't evaluate field Nope in type *containers.logInfo`},
		{"json-file", map[string]string{"tag": "{{nope}}"}, `tag: template: log-tag:1: function "nope" not defined`},
		{"local", map[string]string{"max-size": "x"}, "invalid value for max-size: x: invalid size: 'x'"},
		{"local", map[string]string{"max-file": "-2"}, "max-file must not be negative"},
		{"local", map[string]string{"max-file": "1"}, "compression cannot be enabled when max file count is 1"},
		{"local", map[string]string{"compress": "x"}, `invalid boolean value for compress: strconv.ParseBool: parsing "x": invalid syntax`},
	} {
		lc := container.LogConfig{Type: c.typ, Config: c.opts}
		err := VerifyLogConfig(&lc)
		if err == nil || err.Error() != c.want || !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s %v: %v, want %q", c.typ, c.opts, err, c.want)
		}
	}
}

func TestParseLogConfig(t *testing.T) {
	for _, c := range []struct {
		typ  string
		opts map[string]string
		want logSettings
	}{
		{"", nil, logSettings{driver: "json-file", maxFiles: 1}},
		{"json-file", map[string]string{"max-size": "1k", "max-file": "3", "compress": "true", "mode": "blocking"}, logSettings{driver: "json-file", maxSize: 1000, maxFiles: 3, compress: true}},
		// dockerd reads sizes with go-units FromHumanSize: decimal, even "MiB".
		{"json-file", map[string]string{"max-size": "10MiB"}, logSettings{driver: "json-file", maxSize: 10000000, maxFiles: 1}},
		{"local", nil, logSettings{driver: "local", maxSize: 20 << 20, maxFiles: 5, compress: true}},
		{"local", map[string]string{"max-size": "1m", "max-file": "2", "compress": "false"}, logSettings{driver: "local", maxSize: 1000000, maxFiles: 2}},
		{"local", map[string]string{"max-file": "0", "compress": "false"}, logSettings{driver: "local", maxSize: 20 << 20, maxFiles: 1}},
		{"none", nil, logSettings{driver: "none"}},
	} {
		lc := container.LogConfig{Type: c.typ, Config: c.opts}
		if err := VerifyLogConfig(&lc); err != nil {
			t.Errorf("%s %v: %v", c.typ, c.opts, err)
			continue
		}
		got, err := parseLogConfig(lc)
		got.opts = nil
		if err != nil || got.driver != c.want.driver || got.maxSize != c.want.maxSize || got.maxFiles != c.want.maxFiles || got.compress != c.want.compress {
			t.Errorf("%s %v: %+v %v, want %+v", c.typ, c.opts, got, err, c.want)
		}
		if lc.Type == "" || lc.Config == nil {
			t.Errorf("not normalized: %+v", lc)
		}
	}
}

func TestLogAttrs(t *testing.T) {
	c := &Container{
		ID: "0123456789abcdef0123", Name: "/web", ImageName: "busybox", ImageID: "sha256:fedcba9876543210",
		Path: "sh", Args: []string{"-c", "echo hi"}, Created: time.Unix(0, 0),
		Config: &container.Config{
			Labels: map[string]string{"app": "shop", "tier": "front", "other": "x"},
			Env:    []string{"REGION=eu", "ZONE=a", "SECRET=s", "NOVALUE"},
		},
	}
	s := logSettings{opts: map[string]string{
		"labels": "app,missing", "labels-regex": "^ti", "env": "REGION,NOVALUE", "env-regex": "^ZO",
		"tag": "{{.Name}}/{{.ID}}/{{.ImageName}}/{{.ImageID}}/{{.Command}}/{{.DaemonName}}/{{upper .Name}}",
	}}
	got, err := s.attrs(c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"app": "shop", "tier": "front", "REGION": "eu", "ZONE": "a",
		"tag": "web/0123456789ab/busybox/fedcba987654/sh -c echo hi/docker/WEB"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if p := detailsPrefix(map[string]string{"tag": "a b", "app": "x=y"}); p != "app=x%3Dy,tag=a+b " {
		t.Errorf("details %q", p)
	}
	if p := detailsPrefix(nil); p != " " {
		t.Errorf("details %q", p)
	}
}
