// Package supervisor is supervisord: the content store, images, snapshots,
// containers and tasks (one shim each) served over the gRPC API of
// proto/berth/supervisor/v1. It is embeddable: a Go program can run it
// in-process with New and Serve. See docs/supervisor.md.
package supervisor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/content"
	"github.com/berthd/berth/pkg/distribution"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/images"
	"github.com/berthd/berth/pkg/memtrim"
	"github.com/berthd/berth/pkg/metadata"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/snapshots"
	"github.com/berthd/berth/pkg/sockperm"
	"github.com/berthd/berth/pkg/supervisor/events"
	"github.com/berthd/berth/pkg/unixsock"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Version of supervisord, set by the build.
var (
	Version  = "0.1.0-dev"
	Revision = ""
)

// DefaultRuntimeName is the name of berth's own runtime.
const DefaultRuntimeName = "berth"

// Runtime is one OCI runtime supervisord can run containers with.
type Runtime struct {
	Name string
	Path string
	Args []string // extra global arguments
	// Standby: the runtime is berth's own, which its shim may start ahead
	// of a command (`runtime standby`); only DefaultRuntimes knows that.
	Standby bool `json:",omitempty"`
}

// Config of a supervisor.
type Config struct {
	Root    string // persistent data (content, snapshots, metadata)
	State   string // runtime state (bundles, shim sockets), lost on reboot
	Address string // unix socket to serve on; "" serves nothing (Serve fails)
	// SocketGID is the socket's group (mode 0660, owner root; 0: root's only).
	SocketGID int
	// Runtimes, by name. When nil: "berth" (RuntimePath, or the `runtime`
	// binary next to this executable) and "runc"/"crun" when in PATH.
	Runtimes       []Runtime
	DefaultRuntime string // "" is "berth" when registered, else the first
	RuntimePath    string
	ShimBinary     string // "" is the `shim` binary next to this executable
	Logger         *slog.Logger
	// Snapshotter: "overlayfs" ("", the default; native when overlayfs does
	// not mount in Root's filesystem) or "native" (copies).
	Snapshotter string
	// Registries: mirrors, insecure registries, CA dir, docker config.json.
	Distribution distribution.Config

	// shims replaces pkg/shim/client in the unit tests.
	shims shimLauncher
}

// Server is a supervisord.
type Server struct {
	cfg      Config
	log      *slog.Logger
	uuid     string
	db       *metadata.DB
	content  *content.Store
	snaps    snapshots.Snapshotter
	snapName string // the snapshotter in use (Introspection)
	images   *images.Store
	runtimes map[string]Runtime
	tasks    *taskManager
	dist     *distribution.Service
	// gcMu: garbage collection takes it exclusively; pulls and imports
	// share it, so nothing they are writing disappears under them.
	gcMu   sync.RWMutex
	events *events.Broker
	// trim returns the heap a burst of calls freed (pkg/memtrim).
	trim *memtrim.Trimmer

	grpc     *grpc.Server
	mu       sync.Mutex
	listener net.Listener
	closed   bool
}

// New opens the stores under cfg.Root, recovers the tasks found under
// cfg.State and returns a server ready to Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Root == "" || cfg.State == "" {
		return nil, fmt.Errorf("supervisor: root and state are required: %w", errdefs.ErrInvalidArgument)
	}
	var err error
	if cfg.Root, err = filepath.Abs(cfg.Root); err != nil {
		return nil, err
	}
	if cfg.State, err = filepath.Abs(cfg.State); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for _, d := range []string{cfg.Root, cfg.State} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("supervisor: %w", err)
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, events: events.NewBroker(0), trim: memtrim.New(memtrim.Quiet)}
	if err := s.loadUUID(); err != nil {
		return nil, err
	}
	if err := s.setupRuntimes(); err != nil {
		return nil, err
	}
	tmp := filepath.Join(cfg.Root, "tmp")
	cleanTmp(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	if s.content, err = content.New(filepath.Join(cfg.Root, "content")); err != nil {
		return nil, err
	}
	if s.snaps, s.snapName, err = openSnapshotter(cfg.Root, cfg.Snapshotter, s.log); err != nil {
		return nil, err
	}
	if err := s.snaps.RemoveActiveLabeled(images.UnpackLabel, nil); err != nil {
		s.snaps.Close()
		return nil, err
	}
	if s.db, err = metadata.Open(filepath.Join(cfg.Root, "metadata.db")); err != nil {
		s.snaps.Close()
		return nil, err
	}
	if err := s.removeOrphanRootfs(); err != nil {
		s.db.Close()
		s.snaps.Close()
		return nil, err
	}
	if err := s.dropInflightLeases(); err != nil {
		s.db.Close()
		s.snaps.Close()
		return nil, err
	}
	s.images = images.NewStore(s.db, s.content, s.snaps, tmp)
	s.dist = distribution.New(cfg.Distribution, s.content, s.images)
	s.tasks = newTaskManager(s)
	s.tasks.recover(context.Background())

	s.grpc = grpc.NewServer(
		grpc.ChainUnaryInterceptor(unaryInterceptor, s.traceInterceptor(), trimUnary(s.trim)),
		grpc.ChainStreamInterceptor(streamInterceptor, trimStream(s.trim)),
	)
	pb.RegisterContentServer(s.grpc, &contentService{s: s})
	pb.RegisterImagesServer(s.grpc, &imagesService{s: s})
	pb.RegisterSnapshotsServer(s.grpc, &snapshotsService{s: s})
	pb.RegisterContainersServer(s.grpc, &containersService{s: s})
	pb.RegisterTasksServer(s.grpc, &tasksService{s: s})
	pb.RegisterIntrospectionServer(s.grpc, &introspectionService{s: s})
	pb.RegisterDistributionServer(s.grpc, &distributionService{s: s})
	pb.RegisterLeasesServer(s.grpc, &leasesService{s: s})
	pb.RegisterEventsServer(s.grpc, &eventsService{s: s})
	return s, nil
}

// cleanTmp removes what an interrupted import or unpack left, mounts included.
func cleanTmp(tmp string) {
	ents, _ := os.ReadDir(tmp)
	for _, e := range ents {
		p := filepath.Join(tmp, e.Name())
		if e.IsDir() {
			snapshots.Unmount(p)
		}
		os.RemoveAll(p)
	}
}

func (s *Server) loadUUID() error {
	p := filepath.Join(s.cfg.Root, "uuid")
	if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		s.uuid = strings.TrimSpace(string(b))
		return nil
	}
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	s.uuid = fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	return atomicfile.WriteFile(p, []byte(s.uuid+"\n"), 0o644)
}

func (s *Server) setupRuntimes() error {
	s.runtimes = map[string]Runtime{}
	exeDir := ""
	if exe, err := os.Executable(); err == nil {
		exeDir = filepath.Dir(exe)
	}
	if s.cfg.Runtimes == nil {
		s.cfg.Runtimes = DefaultRuntimes(s.cfg.RuntimePath)
	}
	for _, r := range s.cfg.Runtimes {
		if r.Name == "" || r.Path == "" {
			return fmt.Errorf("supervisor: runtime needs a name and a path: %w", errdefs.ErrInvalidArgument)
		}
		s.runtimes[r.Name] = r
	}
	if s.cfg.DefaultRuntime == "" {
		if _, ok := s.runtimes[DefaultRuntimeName]; ok {
			s.cfg.DefaultRuntime = DefaultRuntimeName
		} else if len(s.cfg.Runtimes) > 0 {
			s.cfg.DefaultRuntime = s.cfg.Runtimes[0].Name
		}
	}
	if s.cfg.ShimBinary == "" && exeDir != "" {
		s.cfg.ShimBinary = filepath.Join(exeDir, "shim")
	}
	return nil
}

// DefaultRuntimes are the runtimes registered when the configuration
// names none: "berth" (runtimePath, or the `runtime` binary next to this
// executable), and "runc" and "crun" when found in PATH.
func DefaultRuntimes(runtimePath string) []Runtime {
	var rts []Runtime
	if runtimePath == "" {
		if exe, err := os.Executable(); err == nil {
			runtimePath = filepath.Join(filepath.Dir(exe), "runtime")
		}
	}
	if st, err := os.Stat(runtimePath); err == nil && !st.IsDir() {
		rts = append(rts, Runtime{Name: DefaultRuntimeName, Path: runtimePath, Standby: true})
	}
	for _, n := range []string{"runc", "crun"} {
		if p, err := exec.LookPath(n); err == nil {
			rts = append(rts, Runtime{Name: n, Path: p})
		}
	}
	return rts
}

// ParseRuntime parses NAME=PATH[,ARG...] (the --runtime flag).
func ParseRuntime(s string) (Runtime, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" || rest == "" {
		return Runtime{}, fmt.Errorf("runtime %q: want NAME=PATH[,ARG...]: %w", s, errdefs.ErrInvalidArgument)
	}
	parts := strings.Split(rest, ",")
	return Runtime{Name: name, Path: parts[0], Args: parts[1:]}, nil
}

// runtime returns the runtime called name ("" for the default).
func (s *Server) runtime(name string) (Runtime, error) {
	if name == "" {
		name = s.cfg.DefaultRuntime
	}
	r, ok := s.runtimes[name]
	if !ok {
		return Runtime{}, fmt.Errorf("runtime %q is not configured: %w", name, errdefs.ErrNotFound)
	}
	return r, nil
}

// GRPC returns the gRPC server with every service registered, for embedders
// that serve it on a listener of their own.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Serve listens on cfg.Address (a unix socket, 0660, parent 0711; a stale
// socket is removed) and serves until ctx is done or Close is called.
func (s *Server) Serve(ctx context.Context) error {
	if s.cfg.Address == "" {
		return fmt.Errorf("supervisor: no address: %w", errdefs.ErrInvalidArgument)
	}
	l, err := unixsock.Listen(s.cfg.Address)
	if err != nil {
		return fmt.Errorf("supervisor: listen: %w", err)
	}
	if err := sockperm.Apply(s.cfg.Address, s.cfg.SocketGID); err != nil {
		l.Close()
		return fmt.Errorf("supervisor: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listener = l
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.stopGRPC() })
	defer stop()
	err = s.grpc.Serve(l)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// stopGRPC stops serving: gracefully, but long calls (Wait, Attach) are cut
// after a grace period.
func (s *Server) stopGRPC() {
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		s.grpc.Stop()
	}
}

// Close stops serving and closes the stores. Shims and their containers keep
// running: a new Server on the same directories recovers them.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.events.Close()
	s.stopGRPC()
	s.tasks.close()
	s.trim.Stop()
	if s.cfg.Address != "" {
		s.mu.Lock()
		if s.listener != nil {
			os.Remove(s.cfg.Address)
		}
		s.mu.Unlock()
	}
	err := s.db.Close()
	if serr := s.snaps.Close(); err == nil {
		err = serr
	}
	return err
}

func unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if _, err := namespaces.NamespaceRequired(ctx); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	resp, err := h(ctx, req)
	return resp, errdefs.ToGRPC(err)
}

func streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if _, err := namespaces.NamespaceRequired(ss.Context()); err != nil {
		return errdefs.ToGRPC(err)
	}
	return errdefs.ToGRPC(h(srv, ss))
}
