package integration

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/errdefs"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

// Snapshots.ReadFile reads a snapshot's file as the container sees it,
// through pkg/client, on both snapshotters: an image whose /etc/passwd and
// /etc/group are symlinks out of the rootfs gets the container's files or
// NotFound, never the host's; a huge file is refused; nothing stays mounted
// and no snapshot is recorded for the reads.
func TestSupervisorSnapshotReadFile(t *testing.T) {
	for _, sn := range []string{"overlayfs", "native"} {
		t.Run(sn, func(t *testing.T) {
			e := newSvEnv(t, false)
			e.stop(t)
			e.cfg.Snapshotter = sn
			e.start(t)
			ctx := svCtx(t)
			cl, err := client.New(e.cfg.Address, client.WithNamespace("test"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()

			// A host file the hostile links aim at, and the same path
			// inside the image with other content.
			host := filepath.Join(e.dir, "host-secret")
			if err := os.WriteFile(host, []byte("HOST\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			inside := strings.TrimPrefix(host, "/")
			ents := []tarEnt{}
			for d := filepath.Dir(inside); d != "."; d = filepath.Dir(d) {
				ents = append([]tarEnt{{name: d + "/", typ: tar.TypeDir}}, ents...)
			}
			ents = append(ents,
				tarEnt{name: inside, body: "CONTAINER\n"},
				tarEnt{name: "etc/passwd", typ: tar.TypeSymlink, link: "/../../../../etc/shadow"},
				tarEnt{name: "etc/group", typ: tar.TypeSymlink, link: host},
				tarEnt{name: "etc/up", typ: tar.TypeSymlink, link: "../../../../../../../" + inside},
				tarEnt{name: "etc/parent", typ: tar.TypeSymlink, link: filepath.Dir(host)},
				tarEnt{name: "big", body: strings.Repeat("x", 2<<20)},
			)
			base, err := image.Busybox()
			if err != nil {
				t.Fatal(err)
			}
			img, err := image.New([][]byte{base.Layers[0], hostileTar(t, ents...)}, []string{"sh"})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := img.WriteDockerArchiveTo(&buf, "hostile:latest"); err != nil {
				t.Fatal(err)
			}
			resp, err := e.importArchive(ctx, buf.Bytes(), "")
			if err != nil {
				t.Fatal(err)
			}
			hostile := resp.Images[0].ChainId
			plain := e.importBusybox(t, ctx, "busybox:latest").ChainId
			if _, err := e.snaps.Prepare(ctx, &pb.PrepareSnapshotRequest{Key: "active", Parent: hostile}); err != nil {
				t.Fatal(err)
			}

			read := func(key, path string, max int64) (string, error) {
				b, err := cl.ReadSnapshotFile(ctx, key, path, max)
				if strings.Contains(string(b), "HOST") || strings.Contains(string(b), "root:$") || strings.Contains(string(b), "root:*") || strings.Contains(string(b), "root:!") {
					t.Fatalf("%s of %s: read a host file: %q", path, key, b)
				}
				return string(b), err
			}
			if got, err := read(plain, "/etc/passwd", 1<<20); err != nil || !strings.Contains(got, "nobody:x:65534:65534:") {
				t.Fatalf("busybox /etc/passwd: %q, %v", got, err)
			}
			for _, key := range []string{hostile, "active"} {
				for _, tc := range []struct {
					path  string
					max   int64
					want  string
					class error
				}{
					{"/etc/passwd", 1 << 20, "", errdefs.ErrNotFound}, // the image has no /etc/shadow
					{"/etc/group", 1 << 20, "CONTAINER\n", nil},
					{"/etc/up", 1 << 20, "CONTAINER\n", nil},
					{"/etc/parent/host-secret", 1 << 20, "CONTAINER\n", nil},
					{"../../../../" + host, 1 << 20, "CONTAINER\n", nil},
					{"/etc/nothing", 1 << 20, "", errdefs.ErrNotFound},
					{"/big", 1 << 20, "", errdefs.ErrFailedPrecondition},
					{"/etc", 1 << 20, "", errdefs.ErrFailedPrecondition},
					{"/bin/busybox", 0, "", errdefs.ErrInvalidArgument},
					{"", 1 << 20, "", errdefs.ErrInvalidArgument},
				} {
					got, err := read(key, tc.path, tc.max)
					if tc.class != nil {
						if !errors.Is(err, tc.class) {
							t.Errorf("%s %q (max %d): %q, %v; want %v", key, tc.path, tc.max, got, err, tc.class)
						}
						continue
					}
					if err != nil || got != tc.want {
						t.Errorf("%s %q: %q, %v; want %q", key, tc.path, got, err, tc.want)
					}
				}
			}
			if _, err := read("no-such-snapshot", "/etc/passwd", 1<<20); !errdefs.IsNotFound(err) {
				t.Errorf("unknown snapshot: %v, want NotFound", err)
			}
			if m := svMountsUnder(e.dir); len(m) != 0 {
				t.Errorf("left mounted: %v", m)
			}
			l, err := e.snaps.List(ctx, &pb.ListSnapshotsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range l.Info {
				if i.Kind == pb.SnapshotKind_SNAPSHOT_KIND_VIEW {
					t.Errorf("a view was recorded: %s", i.Name)
				}
			}
			if ents, _ := os.ReadDir(filepath.Join(e.cfg.Root, "tmp")); len(ents) != 0 {
				t.Errorf("left in the supervisor's tmp: %v", ents)
			}
		})
	}
}
