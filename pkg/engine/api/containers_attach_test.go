package api

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// ttyAttach attaches to the running tty container id (cat) with stdin,
// once its echo shows the stream is up.
func ttyAttach(t *testing.T, e *env, id string) client.HijackedResponse {
	t.Helper()
	att, err := e.cl.ContainerAttach(context.Background(), id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, att.HijackedResponse)
	return att.HijackedResponse
}

// ttyExec starts a tty exec of cat with stdin in container id, attached,
// once its echo shows the stream is up; it returns the exec's ID.
func ttyExec(t *testing.T, e *env, id string) (string, client.HijackedResponse) {
	t.Helper()
	ctx := context.Background()
	ex, err := e.cl.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: []string{"cat"}, TTY: true, AttachStdin: true, AttachStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	att, err := e.cl.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{TTY: true})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, att.HijackedResponse)
	return ex.ID, att.HijackedResponse
}

func roundTrip(t *testing.T, att client.HijackedResponse) {
	t.Helper()
	att.Conn.Write([]byte("a"))
	if _, err := io.ReadFull(att.Reader, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
}

// The docker CLI detaches from a tty by closing its connection: the
// container's stdin stays open (StdinOnce closes only a non-tty one, as
// in dockerd) and the shell runs on.
func TestAttachTTYClientCloseKeepsStdin(t *testing.T) {
	e, _ := newFullEnv(t)
	id := e.named(t, "tty2", &container.Config{Cmd: []string{"cat"}, Tty: true, OpenStdin: true, StdinOnce: true})
	e.startC(t, id)
	att := ttyAttach(t, e, id)
	att.Close()
	time.Sleep(200 * time.Millisecond)
	if !e.inspect(t, id).State.Running {
		t.Error("the client's close ended the tty container's stdin")
	}
}

// The same for a tty exec: the client's close leaves its stdin open.
func TestExecTTYClientCloseKeepsStdin(t *testing.T) {
	e, _ := newFullEnv(t)
	id := e.named(t, "ex2", &container.Config{Cmd: []string{"sleep"}})
	e.startC(t, id)
	_, att := ttyExec(t, e, id)
	att.Close()
	time.Sleep(200 * time.Millisecond)
	if n := e.sup.LiveExecs(id); n != 1 {
		t.Errorf("%d live execs after the client's close, want the tty exec running on", n)
	}
}
