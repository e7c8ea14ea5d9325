package apitest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// attach answers 101 UPGRADED with the multiplexed media type when asked to
// upgrade, 200 otherwise, and streams the frames on the hijacked connection.
func testAttachHijack(t *testing.T, e *Env) {
	for _, upgrade := range []bool{true, false} {
		id := e.Create(t, &container.Config{Cmd: []string{"echo", "framed"}}, nil)
		conn, err := net.Dial("unix", e.Sock)
		if err != nil {
			t.Fatal(err)
		}
		hdr := ""
		if upgrade {
			hdr = "Connection: Upgrade\r\nUpgrade: tcp\r\n"
		}
		fmt.Fprintf(conn, "POST /v1.50/containers/%s/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n%sContent-Length: 0\r\n\r\n", id, hdr)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := 200
		if upgrade {
			want = 101
		}
		if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/vnd.docker.multiplexed-stream" {
			t.Errorf("upgrade=%v: %s %v", upgrade, resp.Status, resp.Header)
		}
		e.Start(t, id)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		var o, eb bytes.Buffer
		if _, err := stdcopy.StdCopy(&o, &eb, br); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if o.String() != "framed\n" {
			t.Errorf("upgrade=%v: stdout %q", upgrade, o.String())
		}
	}
}

// A tty container has one raw stream, on attach and in logs, with the
// pty's CR LF line ends.
func testTTYRawStream(t *testing.T, e *Env) {
	ctx := context.Background()
	id := e.Create(t, &container.Config{Cmd: []string{"echo", "raw"}, Tty: true}, nil)
	att, err := e.Cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	if mt, _ := att.MediaType(); mt != "application/vnd.docker.raw-stream" {
		t.Errorf("media type %q", mt)
	}
	e.Start(t, id)
	b, _ := io.ReadAll(att.Reader)
	if string(b) != "raw\r\n" {
		t.Errorf("attach %q", b)
	}
	w := e.Cl.ContainerWait(ctx, id, client.ContainerWaitOptions{})
	select {
	case <-w.Result:
	case err := <-w.Error:
		t.Fatal(err)
	}
	rc, err := e.Cl.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(rc)
	rc.Close()
	if string(b) != "raw\r\n" {
		t.Errorf("logs %q", b)
	}
	if !e.Inspect(t, id).Config.Tty {
		t.Error("Tty not kept")
	}
}

// A StdinOnce container gets its stdin from the attach, and EOF at the
// client's half-close.
func testAttachStdin(t *testing.T, e *Env) {
	ctx := context.Background()
	id := e.Create(t, &container.Config{Cmd: []string{"cat"}, OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true}, nil)
	att, err := e.Cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	wait := e.Cl.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	e.Start(t, id)
	if _, err := att.Conn.Write([]byte("hello stdin\n")); err != nil {
		t.Fatal(err)
	}
	if err := att.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, io.Discard, att.Reader); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello stdin\n" {
		t.Errorf("output %q", out.String())
	}
	select {
	case r := <-wait.Result:
		if r.StatusCode != 0 {
			t.Errorf("exit %d", r.StatusCode)
		}
	case err := <-wait.Error:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("cat did not exit at stdin's EOF")
	}
}
