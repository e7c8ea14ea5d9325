package supervisor

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/berthd/berth/pkg/namespaces"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

func serve(t *testing.T, cfg Config) (*Server, *grpc.ClientConn) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", cfg.Address); err == nil {
			c.Close()
			break
		}
		if i > 200 {
			t.Fatal("not listening")
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+cfg.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		s.Close()
		<-done
	})
	return s, conn
}

func testConfig(t *testing.T) Config {
	dir, err := os.MkdirTemp("", "bs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return Config{
		Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state"), Address: filepath.Join(dir, "run", "s.sock"),
		Runtimes: []Runtime{{Name: "fake", Path: "/bin/false"}},
	}
}

func TestContainersAndNamespaces(t *testing.T) {
	cfg := testConfig(t)
	_, conn := serve(t, cfg)
	st, err := os.Stat(cfg.Address)
	if err != nil || st.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v %v", err, st.Mode())
	}
	c := pb.NewContainersClient(conn)
	ctx := namespaces.WithNamespace(context.Background(), "ns1")
	spec := []byte(`{"ociVersion":"1.2.0","process":{"args":["true"]}}`)
	if _, err := c.Create(ctx, &pb.CreateContainerRequest{Container: &pb.Container{Id: "c1", Spec: spec}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, &pb.CreateContainerRequest{Container: &pb.Container{Id: "c1", Spec: spec}}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("dup: %v", err)
	}
	for _, id := range []string{"", "../x", "-a", "a/b"} {
		if _, err := c.Create(ctx, &pb.CreateContainerRequest{Container: &pb.Container{Id: id, Spec: spec}}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("id %q: %v", id, err)
		}
	}
	if _, err := c.Create(ctx, &pb.CreateContainerRequest{Container: &pb.Container{Id: "c2", Spec: spec, Runtime: &pb.Runtime{Name: "nope"}}}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown runtime: %v", err)
	}
	g, err := c.Get(ctx, &pb.GetContainerRequest{Id: "c1"})
	if err != nil || string(g.Container.Spec) != string(spec) || g.Container.CreatedAt == 0 {
		t.Fatalf("get: %v %+v", err, g)
	}
	other := namespaces.WithNamespace(context.Background(), "ns2")
	if _, err := c.Get(other, &pb.GetContainerRequest{Id: "c1"}); status.Code(err) != codes.NotFound {
		t.Fatalf("other namespace: %v", err)
	}
	bad := namespaces.WithNamespace(context.Background(), "Bad/NS")
	if _, err := c.List(bad, &pb.ListContainersRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad namespace: %v", err)
	}
	tasks := pb.NewTasksClient(conn)
	if _, err := tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: "c1"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("task without snapshot: %v", err)
	}
	if _, err := tasks.Get(ctx, &pb.GetTaskRequest{ContainerId: "c1"}); status.Code(err) != codes.NotFound {
		t.Fatalf("no task: %v", err)
	}
	if _, err := c.Delete(ctx, &pb.DeleteContainerRequest{Id: "c1"}); err != nil {
		t.Fatal(err)
	}
	l, _ := c.List(ctx, &pb.ListContainersRequest{})
	if len(l.Containers) != 0 {
		t.Fatalf("list: %+v", l)
	}
}

func TestUUIDPersistsAndStaleSocket(t *testing.T) {
	cfg := testConfig(t)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := s.uuid
	s.Close()
	// A stale socket file (a killed supervisord) does not stop the next one.
	os.MkdirAll(filepath.Dir(cfg.Address), 0o711)
	l, _ := net.Listen("unix", cfg.Address)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	_, conn := serve(t, cfg)
	r, err := pb.NewIntrospectionClient(conn).Server(context.Background(), &pb.ServerRequest{})
	if err != nil || r.Uuid != u || r.DefaultRuntime != "fake" {
		t.Fatalf("server: %v %+v (uuid was %s)", err, r, u)
	}
}
