package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
)

func TestContainerUpdateRoute(t *testing.T) {
	e := newEnv(t)
	c, err := e.d.Create(context.Background(), containers.CreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep"}},
		HostConfig: &container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemorySwap: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(t, "POST", "/v1.51/containers/"+c.ID+"/update", `{"Memory":33554432,"PidsLimit":20,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}`)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != `{"Warnings":[]}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got, _ := e.d.Get(c.ID)
	if got.HostConfig.Memory != 32<<20 || *got.HostConfig.PidsLimit != 20 || got.HostConfig.RestartPolicy.MaximumRetryCount != 3 {
		t.Errorf("HostConfig %+v", got.HostConfig)
	}
	for _, bad := range []struct {
		body   string
		status int
		msg    string
	}{
		{`{"Memory":1024}`, 400, "Minimum memory limit allowed is 6MB"},
		{`{"KernelMemory":10485760}`, 400, "KernelMemory"},
		{`{"Memory":`, 400, "invalid JSON"},
		{``, 400, "empty body"},
		{`{"Ulimits":[{"Name":"nofile","Soft":1,"Hard":1}]}`, 400, "Ulimits cannot be updated"},
	} {
		resp, body := e.do(t, "POST", "/containers/"+c.ID+"/update", bad.body)
		if resp.StatusCode != bad.status || !strings.Contains(body, bad.msg) {
			t.Errorf("%s: %d %s", bad.body, resp.StatusCode, body)
		}
	}
	if resp, body := e.do(t, "POST", "/containers/nope/update", `{}`); resp.StatusCode != 404 || !strings.Contains(body, "No such container: nope") {
		t.Errorf("unknown container: %d %s", resp.StatusCode, body)
	}
	if got, _ := e.d.Get(c.ID); got.HostConfig.Memory != 32<<20 {
		t.Errorf("refused updates changed memory to %d", got.HostConfig.Memory)
	}
}
