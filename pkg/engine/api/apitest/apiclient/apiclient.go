// Package apiclient drives an engine's Docker API on a unix socket for
// tests: with the official Docker Go client and with raw requests.
package apiclient

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// C is a client of the engine listening on Sock.
type C struct {
	Sock string
	HTTP *http.Client
	Cl   *client.Client
}

// New returns a client of the engine on the unix socket sock, closed at
// the end of the test.
func New(t *testing.T, sock string) *C {
	t.Helper()
	c := &C{Sock: sock, HTTP: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}}
	var err error
	c.Cl, err = client.New(client.WithHost("unix://"+sock), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Cl.Close() })
	return c
}

// Run does what `docker run [--rm]` does: create, attach, wait, start.
func (e *C) Run(t *testing.T, rm bool, cmd ...string) (id, stdout, stderr string, code int64) {
	t.Helper()
	ctx := context.Background()
	res, err := e.Cl.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: "busybox", Cmd: cmd, AttachStdout: true, AttachStderr: true},
		HostConfig: &container.HostConfig{AutoRemove: rm},
	})
	if err != nil {
		t.Fatal(err)
	}
	att, err := e.Cl.ContainerAttach(ctx, res.ID, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	cond := container.WaitConditionNextExit
	if rm {
		cond = container.WaitConditionRemoved
	}
	w := e.Cl.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: cond})
	var o, eb bytes.Buffer
	copied := make(chan error, 1)
	go func() { _, err := stdcopy.StdCopy(&o, &eb, att.Reader); copied <- err }()
	e.Start(t, res.ID)
	select {
	case r := <-w.Result:
		code = r.StatusCode
	case err := <-w.Error:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("wait timed out")
	}
	select {
	case err := <-copied:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("attach stream did not end")
	}
	return res.ID, o.String(), eb.String(), code
}

// Do sends a raw request to the API and returns the response and its body.
func (e *C) Do(t *testing.T, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://engine"+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Create creates a container of busybox unless cfg names an image.
func (e *C) Create(t *testing.T, cfg *container.Config, hc *container.HostConfig) string {
	t.Helper()
	if cfg.Image == "" {
		cfg.Image = "busybox"
	}
	res, err := e.Cl.ContainerCreate(context.Background(), client.ContainerCreateOptions{Config: cfg, HostConfig: hc})
	if err != nil {
		t.Fatal(err)
	}
	return res.ID
}

// Start starts a container.
func (e *C) Start(t *testing.T, id string) {
	t.Helper()
	if _, err := e.Cl.ContainerStart(context.Background(), id, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Inspect inspects a container.
func (e *C) Inspect(t *testing.T, id string) container.InspectResponse {
	t.Helper()
	res, err := e.Cl.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Container
}
