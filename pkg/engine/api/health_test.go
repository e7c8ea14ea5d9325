package api

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/engine/containers/containerstest"
)

// inspect shows State.Health, ps the health in Status; a bad check is a 400
// with dockerd's message; StartInterval is dropped below API 1.44.
func TestHealthInspectAndPs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.sup.ScriptExec("/bin/sh -c check", containerstest.ExecScript{Code: 1, Output: "down\n"})
	id := e.create(t, &container.Config{Cmd: []string{"sleep"}, Healthcheck: &container.HealthConfig{
		Test: []string{"CMD-SHELL", "check"}, Interval: 5 * time.Millisecond, StartPeriod: time.Hour, StartInterval: time.Hour, Retries: 1}}, nil)
	e.startC(t, id)
	status := func() string {
		res, err := e.cl.ContainerList(ctx, client.ContainerListOptions{})
		if err != nil || len(res.Items) != 1 {
			t.Fatalf("ps: %v %+v", err, res)
		}
		return res.Items[0].Status
	}
	// Within the start period, with an hour's start interval: starting.
	if st := status(); !regexp.MustCompile(`^Up .* \(health: starting\)$`).MatchString(st) {
		t.Errorf("ps status %q", st)
	}
	if h := e.inspect(t, id).State.Health; h == nil || h.Status != container.Starting {
		t.Errorf("inspect health %+v", h)
	}

	id = e.create(t, &container.Config{Cmd: []string{"sleep"}, Healthcheck: &container.HealthConfig{
		Test: []string{"CMD-SHELL", "check"}, Interval: 5 * time.Millisecond, Retries: 1}}, nil)
	e.startC(t, id)
	deadline := time.Now().Add(20 * time.Second)
	var h *container.Health
	for h = e.inspect(t, id).State.Health; h == nil || h.Status != container.Unhealthy; h = e.inspect(t, id).State.Health {
		if time.Now().After(deadline) {
			t.Fatalf("not unhealthy: %+v", h)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if h.FailingStreak < 1 || len(h.Log) == 0 || h.Log[0].Output != "down\n" || h.Log[0].ExitCode != 1 {
		t.Errorf("inspect health %+v", h)
	}
	res, err := e.cl.ContainerList(ctx, client.ContainerListOptions{Filters: client.Filters{}.Add("id", id)})
	if err != nil || len(res.Items) != 1 || !strings.HasSuffix(res.Items[0].Status, " (unhealthy)") {
		t.Errorf("ps: %v %+v", err, res.Items)
	}
	// ps's health filter sees the recorded status.
	for st, want := range map[string]int{"unhealthy": 1, "starting": 1, "healthy": 0, "none": 0} {
		res, err := e.cl.ContainerList(ctx, client.ContainerListOptions{Filters: client.Filters{}.Add("health", st)})
		if err != nil || len(res.Items) != want || want == 1 && st == "unhealthy" && res.Items[0].ID != id {
			t.Errorf("health=%s: %v %d containers", st, err, len(res.Items))
		}
	}

	resp, body := e.do(t, "POST", "/v1.51/containers/create", `{"Image":"busybox","Healthcheck":{"Interval":1000}}`)
	if resp.StatusCode != 400 || strings.TrimSpace(body) != `{"message":"Interval in Healthcheck cannot be less than 1ms"}` {
		t.Errorf("bad interval: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/v1.51/containers/create", `{"Image":"busybox","Healthcheck":{"Retries":-1}}`)
	if resp.StatusCode != 400 || strings.TrimSpace(body) != `{"message":"Retries in Healthcheck cannot be negative"}` {
		t.Errorf("negative retries: %d %s", resp.StatusCode, body)
	}

	// An image's HEALTHCHECK shows in image inspect, as docker's does.
	e.sup.AddImage("docker.io/library/hc:latest", "sha256:"+strings.Repeat("c", 64), &ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"sleep"}}})
	e.sup.SetImageHealthcheck("sha256:"+strings.Repeat("c", 64), &container.HealthConfig{Test: []string{"CMD-SHELL", "probe"}, Retries: 4})
	ii, err := e.cl.ImageInspect(ctx, "hc")
	if err != nil || ii.Config == nil || ii.Config.Healthcheck == nil || ii.Config.Healthcheck.Retries != 4 || len(ii.Config.Cmd) != 1 {
		t.Errorf("image inspect: %v %+v", err, ii.Config)
	}

	for version, want := range map[string]time.Duration{"1.43": 0, "1.44": 2 * time.Second, "": 2 * time.Second} {
		path := "/containers/create"
		if version != "" {
			path = "/v" + version + path
		}
		resp, body := e.do(t, "POST", path, `{"Image":"busybox","Healthcheck":{"Test":["CMD","true"],"StartInterval":2000000000}}`)
		var cr container.CreateResponse
		if resp.StatusCode != 201 || json.Unmarshal([]byte(body), &cr) != nil {
			t.Fatalf("create at %q: %d %s", version, resp.StatusCode, body)
		}
		if got := e.inspect(t, cr.ID).Config.Healthcheck.StartInterval; got != want {
			t.Errorf("API %q: StartInterval %v, want %v", version, got, want)
		}
	}
}
