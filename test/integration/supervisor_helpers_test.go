package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/supervisor"
	"github.com/berthd/berth/pkg/testprereq"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

// svEnv is an in-process supervisor in a private temp dir.
type svEnv struct {
	dir    string
	cfg    supervisor.Config
	srv    *supervisor.Server
	done   chan error
	conn   *grpc.ClientConn
	images pb.ImagesClient
	cont   pb.ContentClient
	snaps  pb.SnapshotsClient
	ctrs   pb.ContainersClient
	tasks  pb.TasksClient
	intro  pb.IntrospectionClient
}

func svCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return namespaces.WithNamespace(ctx, "test")
}

// newSvEnv starts a supervisor; withTasks also sets up a runtime and a shim.
func newSvEnv(t *testing.T, withTasks bool) *svEnv {
	t.Helper()
	testprereq.Root(t)
	dir, err := os.MkdirTemp("", "bs")
	if err != nil {
		t.Fatal(err)
	}
	e := &svEnv{dir: dir}
	e.cfg = supervisor.Config{
		Root:     filepath.Join(dir, "root"),
		State:    filepath.Join(dir, "state"),
		Address:  filepath.Join(dir, "sv.sock"),
		Runtimes: []supervisor.Runtime{},
	}
	if withTasks {
		rt := shimRuntime(t)
		// berth's runtime runs its commands in standby runtimes, as
		// supervisord's own registration of it has them (docs/shim.md).
		e.cfg.Runtimes = []supervisor.Runtime{{Name: "test", Path: rt, Standby: filepath.Base(rt) == "runtime"}}
		e.cfg.DefaultRuntime = "test"
		e.cfg.ShimBinary = shimBinary(t, dir)
	}
	t.Cleanup(func() {
		if e.srv != nil {
			// A failed test may leave tasks: never leave shims behind.
			ctx := namespaces.WithNamespace(context.Background(), "test")
			if l, err := e.tasks.List(ctx, &pb.ListTasksRequest{}); err == nil {
				for _, tk := range l.Tasks {
					e.tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: tk.ContainerId, Force: true})
				}
			}
		}
		e.stop(t)
		svUnmountUnder(dir)
		os.RemoveAll(dir)
		shimRemoveTestCgroups()
	})
	e.start(t)
	return e
}

func (e *svEnv) start(t *testing.T) {
	t.Helper()
	srv, err := supervisor.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.done = make(chan error, 1)
	go func() { e.done <- srv.Serve(context.Background()) }()
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", e.cfg.Address); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatal("supervisor does not listen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+e.cfg.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	e.conn = conn
	e.images = pb.NewImagesClient(conn)
	e.cont = pb.NewContentClient(conn)
	e.snaps = pb.NewSnapshotsClient(conn)
	e.ctrs = pb.NewContainersClient(conn)
	e.tasks = pb.NewTasksClient(conn)
	e.intro = pb.NewIntrospectionClient(conn)
}

func (e *svEnv) stop(t *testing.T) {
	if e.srv == nil {
		return
	}
	e.conn.Close()
	if err := e.srv.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	<-e.done
	e.srv = nil
}

// importArchive streams an archive to Images.Import in small chunks.
func (e *svEnv) importArchive(ctx context.Context, data []byte, name string, platforms ...*pb.Platform) (*pb.ImportResponse, error) {
	st, err := e.images.Import(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Send(&pb.ImportRequest{Name: name, Platforms: platforms}); err != nil {
		return nil, err
	}
	for len(data) > 0 {
		n := min(len(data), 64<<10)
		if err := st.Send(&pb.ImportRequest{Data: data[:n]}); err != nil {
			break // the server ended the call: its error comes from CloseAndRecv
		}
		data = data[n:]
	}
	resp, err := st.CloseAndRecv()
	return resp, errdefs.FromGRPC(err)
}

func (e *svEnv) importBusybox(t *testing.T, ctx context.Context, ref string) *pb.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := image.DockerArchive(&buf, ref); err != nil {
		t.Fatal(err)
	}
	resp, err := e.importArchive(ctx, buf.Bytes(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Images) != 1 {
		t.Fatalf("imported %d images", len(resp.Images))
	}
	return resp.Images[0]
}

func (e *svEnv) readContent(t *testing.T, ctx context.Context, dgst string) []byte {
	t.Helper()
	st, err := e.cont.Read(ctx, &pb.ReadContentRequest{Digest: dgst})
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Data...)
	}
}

// svSpec is the runtime's default spec (`runtime spec`) running args.
func svSpec(t *testing.T, runtime, id string, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command(runtime, "spec", "--bundle", dir).CombinedOutput(); err != nil {
		t.Fatalf("%s spec: %v\n%s", runtime, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	spec.Process.Args = args
	spec.Process.Terminal = false
	spec.Process.Env = []string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin"}
	spec.Linux.CgroupsPath = "berth-test/" + id
	b, _ = json.Marshal(&spec)
	return b
}

// svMountsUnder lists the mount points below dir (from /proc/self/mountinfo).
func svMountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

func svUnmountUnder(dir string) {
	m := svMountsUnder(dir)
	for i := len(m) - 1; i >= 0; i-- {
		exec.Command("umount", "-l", m[i]).Run()
	}
}

func svOtherNS(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, "other")
}
