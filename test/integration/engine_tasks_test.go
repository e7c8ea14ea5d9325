package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	mobyclient "github.com/moby/moby/client"
)

// The engine's task features on the real supervisor, shim and runtime:
// attach stdin, exec with stdin and exit code, pause, top, stats.
func TestEngineStdinExecPauseStats(t *testing.T) {
	e := newEngEnv(t)
	e.load(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Attach stdin, EOF at the half-close of a StdinOnce container.
	res, err := e.cl.ContainerCreate(ctx, mobyclient.ContainerCreateOptions{Config: &container.Config{
		Image: "busybox", Cmd: []string{"sh", "-c", "read x; echo got $x; cat; echo eof"},
		OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	att, err := e.cl.ContainerAttach(ctx, res.ID, mobyclient.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	w := e.cl.ContainerWait(ctx, res.ID, mobyclient.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := e.cl.ContainerStart(ctx, res.ID, mobyclient.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	att.Conn.Write([]byte("line1\nline2\n"))
	att.CloseWrite()
	var out bytes.Buffer
	stdcopy.StdCopy(&out, io.Discard, att.Reader)
	att.Close()
	if out.String() != "got line1\nline2\neof\n" {
		t.Errorf("attach stdin output %q", out.String())
	}
	select {
	case r := <-w.Result:
		if r.StatusCode != 0 {
			t.Errorf("exit %d", r.StatusCode)
		}
	case err := <-w.Error:
		t.Fatal(err)
	}

	// Exec.
	res, err = e.cl.ContainerCreate(ctx, mobyclient.ContainerCreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"sleep", "300"}}})
	if err != nil {
		t.Fatal(err)
	}
	id := res.ID
	if _, err := e.cl.ContainerStart(ctx, id, mobyclient.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	ex, err := e.cl.ExecCreate(ctx, id, mobyclient.ExecCreateOptions{Cmd: []string{"sh", "-c", "tr a-z A-Z; exit 7"}, AttachStdin: true, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	ea, err := e.cl.ExecAttach(ctx, ex.ID, mobyclient.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ea.Conn.Write([]byte("shout\n"))
	ea.CloseWrite()
	out.Reset()
	stdcopy.StdCopy(&out, io.Discard, ea.Reader)
	ea.Close()
	if out.String() != "SHOUT\n" {
		t.Errorf("exec output %q", out.String())
	}
	ei, err := e.cl.ExecInspect(ctx, ex.ID, mobyclient.ExecInspectOptions{})
	if err != nil || ei.Running || ei.ExitCode != 7 {
		t.Errorf("exec inspect %+v %v", ei, err)
	}

	top, err := e.cl.ContainerTop(ctx, id, mobyclient.ContainerTopOptions{})
	if err != nil || len(top.Processes) != 1 || top.Processes[0][7] != "sleep 300" {
		t.Errorf("top %+v %v", top, err)
	}
	st, err := e.cl.ContainerStats(ctx, id, mobyclient.ContainerStatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var s container.StatsResponse
	err = json.NewDecoder(st.Body).Decode(&s)
	st.Body.Close()
	if err != nil || s.MemoryStats.Usage == 0 || s.PidsStats.Current != 1 || s.CPUStats.SystemUsage == 0 {
		t.Errorf("stats %+v %v", s, err)
	}

	if _, err := e.cl.ContainerPause(ctx, id, mobyclient.ContainerPauseOptions{}); err != nil {
		t.Fatal(err)
	}
	ci, err := e.cl.ContainerInspect(ctx, id, mobyclient.ContainerInspectOptions{})
	if err != nil || !ci.Container.State.Paused {
		t.Errorf("paused: %+v %v", ci.Container.State, err)
	}
	// A paused container is killed for good by rm -f (thawed after the kill).
	if _, err := e.cl.ContainerRemove(ctx, id, mobyclient.ContainerRemoveOptions{Force: true}); err != nil && !strings.Contains(err.Error(), "No such") {
		t.Fatal(err)
	}
}
