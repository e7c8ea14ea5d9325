package integration

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/cri"
)

// criEnv is a CRI server in front of an in-process supervisor, reached
// through the k8s.io/cri-api client as a kubelet reaches it.
type criEnv struct {
	sv   *svEnv
	addr string
	srv  *cri.Server
	done chan error
	rt   runtimeapi.RuntimeServiceClient
	img  runtimeapi.ImageServiceClient
	// cniDir is the CNI configuration directory, empty until a test
	// writes a network (writeCNI).
	cniDir string
}

func newCRIEnv(t *testing.T, withTasks bool) *criEnv {
	t.Helper()
	sv := newSvEnv(t, withTasks)
	e := &criEnv{sv: sv, addr: filepath.Join(sv.dir, "cri.sock")}
	e.cniDir = filepath.Join(sv.dir, "net.d")
	srv, err := cri.New(cri.Config{
		Address: e.addr, Supervisor: sv.cfg.Address, SupervisorRoot: sv.cfg.Root, RuntimeVersion: "test",
		State: filepath.Join(sv.dir, "cri"), PauseBinary: pauseBinary(t, sv.dir), CNIConfDir: e.cniDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.done = srv, make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { e.done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-e.done
		srv.Close()
	})
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", e.addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatal("CRI server does not listen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.rt = runtimeapi.NewRuntimeServiceClient(conn)
	e.img = runtimeapi.NewImageServiceClient(conn)
	return e
}

func criCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
