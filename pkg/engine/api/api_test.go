package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/berthd/berth/pkg/engine/api/apitest/apiclient"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/errdefs"
)

type env struct {
	sock string
	d    *containers.Daemon
	sup  *containerstest.Supervisor
	// full, when set, is the supervisor the daemon uses (a fake with
	// more of the API around sup).
	full containers.Supervisor
	opts []containers.Option
	root string
	http *http.Client
	cl   *client.Client
	api  *apiclient.C
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "be")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &env{sock: filepath.Join(dir, "e.sock"), sup: containerstest.New(), root: filepath.Join(dir, "data")}
	e.start(t)
	return e
}

func (e *env) start(t *testing.T) {
	t.Helper()
	var sup containers.Supervisor = e.sup
	if e.full != nil {
		sup = e.full
	}
	d, err := containers.New(context.Background(), sup, e.root, nil, e.opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	l, err := net.Listen("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: New(d, Config{Version: "test", DataRoot: e.root})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); d.Close() })
	e.api = apiclient.New(t, e.sock)
	e.http, e.cl = e.api.HTTP, e.api.Cl
}

func (e *env) do(t *testing.T, method, path, body string) (*http.Response, string) {
	t.Helper()
	return e.api.Do(t, method, path, body)
}

func TestPingAndHeaders(t *testing.T) {
	e := newEnv(t)
	for _, m := range []string{"GET", "HEAD"} {
		resp, body := e.do(t, m, "/_ping", "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s /_ping: %d", m, resp.StatusCode)
		}
		if m == "GET" && body != "OK" {
			t.Errorf("body %q", body)
		}
		want := map[string]string{
			"Api-Version": DefaultVersion, "Docker-Experimental": "false", "Ostype": "linux",
			"Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
			"Server": "Berth/test (linux)",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: header %s = %q, want %q", m, k, got, v)
			}
		}
	}
}

func TestVersionNegotiation(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		path   string
		status int
		msg    string
	}{
		{"/v1.51/version", 200, `"ApiVersion":"1.51"`},
		{"/v1.24/version", 200, `"MinAPIVersion":"1.24"`},
		{"/version", 200, `"Os":"linux"`},
		{"/v1.99/version", 400, `client version 1.99 is too new. Maximum supported API version is 1.51`},
		{"/v1.12/version", 400, `client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version`},
		{"/v1.50/nosuch", 404, `page not found`},
	}
	for _, c := range cases {
		resp, body := e.do(t, "GET", c.path, "")
		if resp.StatusCode != c.status || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s, want %d %s", c.path, resp.StatusCode, body, c.status, c.msg)
		}
		if resp.Header.Get("Api-Version") == "" {
			t.Errorf("%s: no Api-Version header", c.path)
		}
	}
	v, err := e.cl.ServerVersion(context.Background(), client.ServerVersionOptions{})
	if err != nil || v.APIVersion != DefaultVersion {
		t.Fatalf("client version: %v %+v", err, v)
	}
}

func TestStatusOf(t *testing.T) {
	cases := map[error]int{
		errdefs.ErrNotFound:                                 404,
		errdefs.ErrInvalidArgument:                          400,
		errdefs.ErrAlreadyExists:                            409,
		errdefs.ErrConflict:                                 409,
		errdefs.ErrFailedPrecondition:                       409,
		errdefs.ErrNotImplemented:                           501,
		fmt.Errorf("login: %w", errdefs.ErrUnauthenticated): 401,
		errdefs.ErrPermissionDenied:                         403,
		cerrdefs.ErrUnauthenticated:                         401,
		errors.New("boom"):                                  500,
		badRequest("x"):                                     400,
		errors.Join(errors.New("ctx"), errdefs.ErrNotFound): 404,
	}
	for err, want := range cases {
		if got := StatusOf(err); got != want {
			t.Errorf("%v: %d, want %d", err, got, want)
		}
	}
}
