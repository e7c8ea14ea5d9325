// Package cri serves Kubernetes' Container Runtime Interface (k8s.io/cri-api
// v1, runtime and image services) on a unix socket of its own. It is a
// front end of supervisord, as engined is: it drives the supervisor only
// through its API (pkg/client), in the namespace "k8s.io", so CRI pods and
// Docker containers share the content store, snapshots, shims and runtimes
// but never see each other. See docs/cri.md.
package cri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/unixsock"
)

// Namespace is the supervisor namespace every CRI object lives in, as
// containerd's CRI plugin uses.
const Namespace = "k8s.io"

// Config of a CRI server.
type Config struct {
	// Address is the unix socket the CRI is served on.
	Address string
	// Supervisor is the supervisord socket the server drives.
	Supervisor string
	// SupervisorRoot is supervisord's --root, where the image filesystem
	// lives (ImageFsInfo reports its usage).
	SupervisorRoot string
	// RuntimeVersion is reported by Version.
	RuntimeVersion string
	Logger         *slog.Logger
	// State is where pods' network namespaces and files live (tmpfs,
	// like supervisord's --state).
	State string
	// PauseBinary is the static pause program of pod sandboxes.
	PauseBinary string
	// CNIConfDir and CNIBinDirs: pod networking (DefaultCNIConfDir and
	// DefaultCNIBinDirs when empty).
	CNIConfDir string
	CNIBinDirs []string
	// StreamAddress is where the streaming server of Exec, Attach and
	// PortForward listens (DefaultStreamAddress when empty).
	StreamAddress string
}

// Server is a CRI server.
type Server struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	cfg  Config
	log  *slog.Logger
	sup  *client.Client
	grpc *grpc.Server

	mu      sync.Mutex
	podCIDR string // from UpdateRuntimeConfig

	stream         streaming.Server
	streamListener net.Listener

	handlers handlers // the runtimes' features (handlers.go)

	locks locks // one lifecycle call at a time per pod or container
	names locks // the names of pods, the names of a pod's containers

	events eventBroker // GetContainerEvents (events.go)
}

// New makes a server that talks to the supervisor at cfg.Supervisor.
func New(cfg Config) (*Server, error) {
	if cfg.Address == "" || cfg.Supervisor == "" {
		return nil, fmt.Errorf("cri: address and supervisor socket are required: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.State == "" {
		return nil, fmt.Errorf("cri: a state directory is required: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.CNIConfDir == "" {
		cfg.CNIConfDir = DefaultCNIConfDir
	}
	if len(cfg.CNIBinDirs) == 0 {
		cfg.CNIBinDirs = DefaultCNIBinDirs
	}
	if cfg.StreamAddress == "" {
		cfg.StreamAddress = DefaultStreamAddress
	}
	sup, err := client.New(cfg.Supervisor, client.WithNamespace(Namespace))
	if err != nil {
		return nil, fmt.Errorf("cri: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, sup: sup}
	if err := s.startStreaming(); err != nil {
		sup.Close()
		return nil, fmt.Errorf("cri: %w", err)
	}
	s.grpc = grpc.NewServer(grpc.ChainUnaryInterceptor(s.unaryInterceptor))
	runtimeapi.RegisterRuntimeServiceServer(s.grpc, s)
	runtimeapi.RegisterImageServiceServer(s.grpc, s)
	return s, nil
}

// unaryInterceptor maps errdefs classes to gRPC codes, once, at the edge.
func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err != nil {
		s.log.Debug("cri call failed", "method", info.FullMethod, "err", err)
		return nil, errdefs.ToGRPC(err)
	}
	return resp, nil
}

// Serve listens on cfg.Address (0660; a stale socket is removed) until ctx
// is done, after recovery (recoverState).
func (s *Server) Serve(ctx context.Context) error {
	addr := s.cfg.Address
	// The socket appears once the supervisor answers and what a crash
	// left half made is undone: a kubelet that sees it can use it.
	if err := s.recoverState(ctx); err != nil {
		return fmt.Errorf("cri: %w", err)
	}
	l, err := unixsock.Listen(addr)
	if err != nil {
		return fmt.Errorf("cri: %w", err)
	}
	// Exits are watched before anyone can start a container.
	subscribed := make(chan struct{})
	go s.watchExits(ctx, subscribed)
	<-subscribed
	stop := context.AfterFunc(ctx, func() {
		s.events.closeAll()
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			s.grpc.Stop()
		}
	})
	defer stop()
	err = s.grpc.Serve(l)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Close stops serving and closes the supervisor connection.
func (s *Server) Close() error {
	s.grpc.Stop()
	s.streamListener.Close()
	return s.sup.Close()
}
