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
	"sync"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

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
}

// New makes a server that talks to the supervisor at cfg.Supervisor.
func New(cfg Config) (*Server, error) {
	if cfg.Address == "" || cfg.Supervisor == "" {
		return nil, fmt.Errorf("cri: address and supervisor socket are required: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sup, err := client.New(cfg.Supervisor, client.WithNamespace(Namespace))
	if err != nil {
		return nil, fmt.Errorf("cri: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, sup: sup}
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
// is done.
func (s *Server) Serve(ctx context.Context) error {
	addr := s.cfg.Address
	l, err := unixsock.Listen(addr)
	if err != nil {
		return fmt.Errorf("cri: %w", err)
	}
	stop := context.AfterFunc(ctx, func() {
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
	return s.sup.Close()
}
