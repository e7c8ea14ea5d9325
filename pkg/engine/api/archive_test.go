package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// The archive endpoints through the moby client: the stat header decodes,
// a missing path is dockerd's 404, PUT passes its options on.
func TestContainerArchiveAPI(t *testing.T) {
	e := newEnv(t)
	since := time.Now().Add(-time.Second)
	id := e.named(t, "arch", &container.Config{Image: "busybox", Cmd: []string{"true"}})
	e.sup.ExportFiles = map[string][]byte{"/etc/f": []byte("tarbytes")}
	ctx := context.Background()
	st, err := e.cl.ContainerStatPath(ctx, "arch", client.ContainerStatPathOptions{Path: "/etc/f"})
	if err != nil || st.Stat.Name != "/etc/f" || st.Stat.Size != 8 || st.Stat.Mode != 0o644 {
		t.Fatalf("stat: %+v %v", st, err)
	}
	res, err := e.cl.CopyFromContainer(ctx, "arch", client.CopyFromContainerOptions{SourcePath: "/etc/f"})
	if err != nil {
		t.Fatal(err)
	}
	b := new(strings.Builder)
	buf := make([]byte, 64)
	for {
		n, err := res.Content.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	res.Content.Close()
	if b.String() != "tarbytes" || res.Stat.Size != 8 {
		t.Errorf("archive: %q %+v", b.String(), res.Stat)
	}
	_, err = e.cl.CopyFromContainer(ctx, "arch", client.CopyFromContainerOptions{SourcePath: "/nope"})
	if err == nil || !strings.Contains(err.Error(), "Could not find the file /nope in container arch") {
		t.Errorf("missing path: %v", err)
	}
	if resp, _ := e.do(t, "HEAD", "/containers/arch/archive?path=/nope", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD missing: %d", resp.StatusCode)
	}
	if resp, body := e.do(t, "GET", "/containers/arch/archive", ""); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "no path specified") {
		t.Errorf("no path: %d %s", resp.StatusCode, body)
	}
	_, err = e.cl.CopyToContainer(ctx, "arch", client.CopyToContainerOptions{DestinationPath: "/tmp", Content: strings.NewReader("in"), CopyUIDGID: true})
	if err != nil {
		t.Fatal(err)
	}
	got := e.sup.Extracted["/tmp"]
	if got == nil || string(got.Data) != "in" || got.Id != id || !got.NoOverwriteDirNonDir || got.Chown {
		t.Errorf("extract: %+v", got)
	}
	_, ms, raw := e.pastEvents(t, since, `{"event":["archive-path","extract-to-dir"]}`)
	if len(ms) != 2 || ms[0].Action != "archive-path" || ms[1].Action != "extract-to-dir" {
		t.Errorf("events: %s", raw)
	}
}
