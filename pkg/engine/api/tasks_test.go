package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

func (e *env) create(t *testing.T, cfg *container.Config, hc *container.HostConfig) string {
	t.Helper()
	return e.api.Create(t, cfg, hc)
}

func (e *env) startC(t *testing.T, id string) {
	t.Helper()
	e.api.Start(t, id)
}

func (e *env) inspect(t *testing.T, id string) container.InspectResponse {
	t.Helper()
	return e.api.Inspect(t, id)
}

// ctrl-p ctrl-q ends a tty attach without closing stdin; the container
// keeps running.
func TestAttachDetachKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, &container.Config{Cmd: []string{"cat"}, Tty: true, OpenStdin: true, AttachStdin: true, AttachStdout: true}, nil)
	e.startC(t, id)
	att, err := e.cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	// A partial sequence is passed on.
	att.Conn.Write([]byte("a\x10b"))
	got := make([]byte, 3)
	if _, err := io.ReadFull(att.Reader, got); err != nil || string(got) != "a\x10b" {
		t.Errorf("output before detach %q %v", got, err)
	}
	att.Conn.Write([]byte("\x10\x11"))
	if rest, err := io.ReadAll(att.Reader); err != nil || len(rest) != 0 { // ends at the detach
		t.Errorf("after detach: %q %v", rest, err)
	}
	if !e.inspect(t, id).State.Running {
		t.Fatal("container stopped at detach")
	}
	if _, err := e.cl.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: 40, Width: 100}); err != nil {
		t.Fatal(err)
	}
	if w, h := e.sup.Size(id, ""); w != 100 || h != 40 {
		t.Errorf("pty size %dx%d", w, h)
	}
}

// The exec's process spec has the container's env with the exec's added,
// the exec's user and the container's working dir (the suite in apitest
// runs execs on both supervisors; this reads what the fake was given).
func TestExecProcessSpec(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, &container.Config{Cmd: []string{"sleep"}, Env: []string{"A=1"}, WorkingDir: "/srv"}, nil)
	e.startC(t, id)

	ex, err := e.cl.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: []string{"fail", "3", "oops"}, Env: []string{"B=2"}, User: "1000:1000", AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	att, err := e.cl.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	stdcopy.StdCopy(io.Discard, &stderr, att.Reader)
	att.Close()
	if stderr.String() != "oops\n" {
		t.Errorf("exec stderr %q", stderr.String())
	}
	p := e.sup.ExecSpecs()[0]
	if strings.Join(p.Env, " ") != strings.Join(append(e.inspect(t, id).Config.Env, "B=2"), " ") || p.User.UID != 1000 || p.Cwd != "/srv" {
		t.Errorf("exec process: env %v user %+v cwd %q", p.Env, p.User, p.Cwd)
	}
}

// A supervisor's OOM event becomes the container's oom event.
func TestEventsOOM(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev := e.cl.Events(ctx, client.EventsListOptions{Filters: client.Filters{}.Add("type", "container")})
	time.Sleep(100 * time.Millisecond) // the subscription is made by the request
	id := e.create(t, &container.Config{Cmd: []string{"sleep"}}, nil)
	e.startC(t, id)
	e.sup.Publish(&supervisorv1.Envelope{Topic: "/tasks/oom", ContainerId: id})
	for {
		select {
		case m := <-ev.Messages:
			if m.Actor.ID == id && m.Action == events.ActionOOM {
				return
			}
		case err := <-ev.Err:
			t.Fatal(err)
		}
	}
}

// A client attached before a start whose task create fails is told, and
// let go (its attach is made beside the create, then given back to the
// failed start); the next start with a working create attaches the next
// client and runs.
func TestAttachStartCreateFails(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := e.create(t, &container.Config{Cmd: []string{"echo", "hello"}, AttachStdout: true}, nil)
	att, err := e.cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	e.sup.SetCreateTaskErr(errors.New("runtime create: no such executable"))
	if _, err := e.cl.ContainerStart(ctx, id, client.ContainerStartOptions{}); err == nil || !strings.Contains(err.Error(), "no such executable") {
		t.Fatalf("start with a failing create: %v", err)
	}
	awaitAttachEnd(t, ctx, att.Reader, "the attach of a failed start")

	e.sup.SetCreateTaskErr(nil)
	att2, err := e.cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att2.Close()
	e.startC(t, id)
	var out bytes.Buffer
	stdcopy.StdCopy(&out, io.Discard, att2.Reader)
	if out.String() != "hello\n" {
		t.Fatalf("attached output after a start that worked: %q", out.String())
	}
}

// A client that attaches while the start is under way (its task created,
// not yet reported running) is attached too, not left waiting for a start
// that already happened: it sees the container's end.
func TestAttachDuringStart(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := e.create(t, &container.Config{Cmd: []string{"sleep", "1"}, AttachStdout: true}, nil)
	var att client.ContainerAttachResult
	attached := make(chan error, 1)
	e.sup.SetOnStartTask(func() {
		var err error
		att, err = e.cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true})
		attached <- err
	})
	e.startC(t, id)
	e.sup.SetOnStartTask(nil)
	if err := <-attached; err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	awaitAttachEnd(t, ctx, att.Reader, "an attach made during the start")
}

// awaitAttachEnd reads an attach's stream until it ends; ctx's end first
// fails the test.
func awaitAttachEnd(t *testing.T, ctx context.Context, r io.Reader, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		done <- err
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("%s never ended", what)
	}
}

// Bad detach keys are refused, with or without stdin (dockerd's check).
func TestAttachBadDetachKeys(t *testing.T) {
	e := newEnv(t)
	id := e.create(t, &container.Config{Cmd: []string{"sleep"}}, nil)
	for _, stdin := range []string{"1", "0"} {
		resp, body := e.do(t, "POST", "/containers/"+id+"/attach?stream=1&stdout=1&stdin="+stdin+"&detachKeys=foo", "")
		if resp.StatusCode != 400 || !strings.Contains(body, "invalid detach keys (foo)") {
			t.Errorf("stdin=%s: %d %s, want 400 invalid detach keys", stdin, resp.StatusCode, body)
		}
	}
}
