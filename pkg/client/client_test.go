package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/namespaces"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// server is a minimal supervisor recording what it was asked.
type server struct {
	mu         sync.Mutex
	namespaces []string
	chunks     []int
	imported   bytes.Buffer
	platforms  [][]*supervisorv1.Platform // of each import message
	snapshots  map[string]string
	containers map[string]bool
	failCreate bool
	// old is a supervisord from before prepare_snapshot; failPrep fails
	// its Snapshots/Prepare.
	old, failPrep bool
	reads         int // content reads
}

type (
	imagesSrv struct {
		supervisorv1.UnimplementedImagesServer
		*server
	}
	contentSrv struct {
		supervisorv1.UnimplementedContentServer
		*server
	}
	snapSrv struct {
		supervisorv1.UnimplementedSnapshotsServer
		*server
	}
	ctrSrv struct {
		supervisorv1.UnimplementedContainersServer
		*server
	}
	introSrv struct {
		supervisorv1.UnimplementedIntrospectionServer
		*server
	}
)

func (s *server) ns(ctx context.Context) {
	s.mu.Lock()
	s.namespaces = append(s.namespaces, namespaces.Namespace(ctx))
	s.mu.Unlock()
}

func (s introSrv) Version(ctx context.Context, _ *supervisorv1.VersionRequest) (*supervisorv1.VersionResponse, error) {
	s.ns(ctx)
	return &supervisorv1.VersionResponse{Version: "t"}, nil
}

func (s imagesSrv) Get(ctx context.Context, r *supervisorv1.GetImageRequest) (*supervisorv1.GetImageResponse, error) {
	s.ns(ctx)
	if r.Name != "busybox" {
		return nil, errdefs.ToGRPC(fmt.Errorf("image %q: %w", r.Name, errdefs.ErrNotFound))
	}
	return &supervisorv1.GetImageResponse{Image: &supervisorv1.Image{Name: "busybox", ChainId: "sha256:chain", Config: &supervisorv1.Descriptor{Digest: "sha256:cfg"}}}, nil
}

func (s contentSrv) Read(r *supervisorv1.ReadContentRequest, st grpc.ServerStreamingServer[supervisorv1.ReadContentResponse]) error {
	s.ns(st.Context())
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["A=1"],"Healthcheck":{"Test":["CMD","true"],"Retries":2}}}`)
	for i := 0; i < len(cfg); i += 10 {
		end := min(i+10, len(cfg))
		if err := st.Send(&supervisorv1.ReadContentResponse{Offset: int64(i), Data: cfg[i:end]}); err != nil {
			return err
		}
	}
	return nil
}

func (s imagesSrv) Import(st grpc.ClientStreamingServer[supervisorv1.ImportRequest, supervisorv1.ImportResponse]) error {
	s.ns(st.Context())
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.chunks = append(s.chunks, len(m.Data))
		s.platforms = append(s.platforms, m.Platforms)
		s.imported.Write(m.Data)
		s.mu.Unlock()
	}
	return st.SendAndClose(&supervisorv1.ImportResponse{Images: []*supervisorv1.Image{{Name: "docker.io/library/busybox:latest"}}})
}

func (s ctrSrv) Create(ctx context.Context, r *supervisorv1.CreateContainerRequest) (*supervisorv1.CreateContainerResponse, error) {
	if s.failCreate {
		return nil, errdefs.ToGRPC(fmt.Errorf("container %s: %w", r.Container.Id, errdefs.ErrAlreadyExists))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.containers[r.Container.Id] = true
	if r.PrepareSnapshot && !s.old {
		s.snapshots[r.Container.SnapshotKey] = r.SnapshotParent
		return &supervisorv1.CreateContainerResponse{Container: r.Container, SnapshotPrepared: true}, nil
	}
	return &supervisorv1.CreateContainerResponse{Container: r.Container}, nil
}

func (s ctrSrv) Delete(ctx context.Context, r *supervisorv1.DeleteContainerRequest) (*supervisorv1.DeleteContainerResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.containers, r.Id)
	return &supervisorv1.DeleteContainerResponse{}, nil
}

func (s snapSrv) Prepare(ctx context.Context, r *supervisorv1.PrepareSnapshotRequest) (*supervisorv1.PrepareSnapshotResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failPrep {
		return nil, errdefs.ToGRPC(fmt.Errorf("parent %s: %w", r.Parent, errdefs.ErrNotFound))
	}
	s.snapshots[r.Key] = r.Parent
	return &supervisorv1.PrepareSnapshotResponse{}, nil
}

func newServer(t *testing.T) (*server, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "bcl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{snapshots: map[string]string{}, containers: map[string]bool{}}
	g := grpc.NewServer()
	supervisorv1.RegisterImagesServer(g, imagesSrv{server: s})
	supervisorv1.RegisterContentServer(g, contentSrv{server: s})
	supervisorv1.RegisterSnapshotsServer(g, snapSrv{server: s})
	supervisorv1.RegisterContainersServer(g, ctrSrv{server: s})
	supervisorv1.RegisterIntrospectionServer(g, introSrv{server: s})
	go g.Serve(l)
	t.Cleanup(g.Stop)
	return s, sock
}

// newServerClient is a server and a client of it in namespace engine.
func newServerClient(t *testing.T) (*server, *Client) {
	t.Helper()
	s, sock := newServer(t)
	c, err := New("unix://"+sock, WithNamespace("engine"), WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}

func TestClient(t *testing.T) {
	s, c := newServerClient(t)
	ctx := context.Background()

	// Errors come back as errdefs classes with the server's message.
	_, err := c.GetImage(ctx, "nosuch")
	if !errdefs.IsNotFound(err) || err.Error() != `image "nosuch": not found` {
		t.Errorf("not found: %v", err)
	}
	img, err := c.GetImage(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.ImageConfig(ctx, img)
	if err != nil || cfg.Config.Cmd[0] != "sh" || cfg.Config.Env[0] != "A=1" {
		t.Fatalf("config: %v %+v", err, cfg)
	}
	// Docker's extension: the HEALTHCHECK, beside the OCI part.
	dcfg, err := c.DockerImageConfig(ctx, img)
	if err != nil || dcfg.Config.Cmd[0] != "sh" || dcfg.Config.Healthcheck == nil || dcfg.Config.Healthcheck.Retries != 2 || dcfg.Architecture != "amd64" {
		t.Fatalf("docker config: %v %+v", err, dcfg)
	}

	data := bytes.Repeat([]byte("x"), 2<<20+5)
	imgs, err := c.Import(ctx, bytes.NewReader(data), "")
	if err != nil || len(imgs) != 1 {
		t.Fatalf("import: %v %v", err, imgs)
	}
	if !bytes.Equal(s.imported.Bytes(), data) || len(s.chunks) != 4 || s.chunks[1] != 1<<20 || s.chunks[3] != 5 {
		t.Errorf("import chunks %v", s.chunks)
	}
	// The platforms asked for go in the first message, whole.
	want := ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7", OSVersion: "1", OSFeatures: []string{"f"}}
	if _, err := c.Import(ctx, bytes.NewReader([]byte("x")), "", want, ocispec.Platform{OS: "linux", Architecture: "s390x"}); err != nil {
		t.Fatal(err)
	}
	if ps := s.platforms[4:]; len(ps) != 2 || len(ps[0]) != 2 || len(ps[1]) != 0 || !proto.Equal(ps[0][0], &supervisorv1.Platform{Os: "linux", Architecture: "arm", Variant: "v7", OsVersion: "1", OsFeatures: []string{"f"}}) || ps[0][1].GetArchitecture() != "s390x" {
		t.Errorf("import platforms: %v", ps)
	}

	// The namespace travels; a context's own namespace wins.
	if _, err := c.IntrospectionService().Version(namespaces.WithNamespace(ctx, "other"), &supervisorv1.VersionRequest{}); err != nil {
		t.Fatal(err)
	}
	last := s.namespaces[len(s.namespaces)-1]
	for _, ns := range s.namespaces[:len(s.namespaces)-1] {
		if ns != "engine" {
			t.Errorf("namespace %q, want engine", ns)
		}
	}
	if last != "other" {
		t.Errorf("namespace %q, want other", last)
	}

	// NewContainer asks for the record and its snapshot on the image's
	// chain ID in one call; the server's error comes back as it is.
	if _, err := c.NewContainer(ctx, "c1", img, []byte("{}"), "", nil); err != nil || !s.containers["c1"] || s.snapshots["c1"] != "sha256:chain" {
		t.Fatalf("new container: %v %v %v", err, s.containers, s.snapshots)
	}
	s.failCreate = true
	if _, err := c.NewContainer(ctx, "c2", img, []byte("{}"), "", nil); !errdefs.IsAlreadyExists(err) {
		t.Errorf("create failure: %v", err)
	}
	// An older supervisord makes the record only: the snapshot is asked
	// for after it, and its failure takes the record back.
	s.failCreate, s.old = false, true
	if _, err := c.NewContainer(ctx, "c3", img, []byte("{}"), "", nil); err != nil || !s.containers["c3"] || s.snapshots["c3"] != "sha256:chain" {
		t.Fatalf("older supervisor: %v %v %v", err, s.containers, s.snapshots)
	}
	s.failPrep = true
	if _, err := c.NewContainer(ctx, "c4", img, []byte("{}"), "", nil); !errdefs.IsNotFound(err) || s.containers["c4"] {
		t.Errorf("older supervisor, prepare failure: %v, record left %v", err, s.containers["c4"])
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(""); !errdefs.IsInvalidArgument(err) {
		t.Errorf("empty address: %v", err)
	}
	if _, err := New("/nonexistent/sock", WithNamespace("Bad NS")); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad namespace: %v", err)
	}
	if _, err := New("/nonexistent/sock", WithTimeout(200*time.Millisecond)); err == nil {
		t.Error("dial of a missing socket succeeded")
	}
}

// An image config is read from the content store once per digest and
// namespace; every caller decodes its own copy.
func TestImageConfigReadOnce(t *testing.T) {
	s, c := newServerClient(t)
	ctx := context.Background()
	img, err := c.GetImage(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.ImageConfig(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	a.Config.Env[0] = "CHANGED=1"
	b, err := c.DockerImageConfig(ctx, img)
	if err != nil || b.Config.Env[0] != "A=1" || b.Config.Healthcheck == nil {
		t.Fatalf("second read: %v %+v", err, b)
	}
	if s.reads != 1 {
		t.Errorf("%d content reads for one digest, want 1", s.reads)
	}
	// Another namespace reads for itself: its content is its own.
	if _, err := c.ImageConfig(namespaces.WithNamespace(ctx, "other"), img); err != nil {
		t.Fatal(err)
	}
	if s.reads != 2 {
		t.Errorf("%d content reads after another namespace's, want 2", s.reads)
	}
}
