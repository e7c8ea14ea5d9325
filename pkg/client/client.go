// Package client is the Go client of the supervisor gRPC API
// (proto/berth/supervisor/v1). It is what embedders import: it dials
// supervisord's unix socket, carries the tenant namespace on every call, and
// turns every wire error back into an errdefs class.
//
//	c, err := client.New("/run/berth/supervisord.sock", client.WithNamespace("demo"))
//	imgs, err := c.Import(ctx, tarReader, "")
//	err = c.NewContainer(ctx, "web", imgs[0].Name, specJSON, "")
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/trace/tracegrpc"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Client is a connection to one supervisord. It is safe for concurrent use.
type Client struct {
	conn      *grpc.ClientConn
	namespace string
	timeout   time.Duration
	// connected is set once the connection has been ready: from then on an
	// idle connection is one gRPC let go after losing the server, and a
	// call waits for the redial as for a connection in transient failure.
	connected atomic.Bool
	// configs are the image configs read, by digest (imageconfig_cache.go).
	configs configCache
}

type options struct {
	namespace string
	timeout   time.Duration
}

// Opt configures New.
type Opt func(*options)

// WithNamespace sets the namespace used when a call's context carries none.
func WithNamespace(ns string) Opt { return func(o *options) { o.namespace = ns } }

// WithTimeout bounds how long New waits for the connection to become ready
// (0: do not wait, connect lazily on the first call).
func WithTimeout(d time.Duration) Opt { return func(o *options) { o.timeout = d } }

// New connects to supervisord at address: "unix:///path", or a bare path.
func New(address string, opts ...Opt) (*Client, error) {
	o := options{namespace: namespaces.Default}
	for _, opt := range opts {
		opt(&o)
	}
	if err := namespaces.Validate(o.namespace); err != nil {
		return nil, err
	}
	path := strings.TrimPrefix(address, "unix://")
	if path == "" {
		return nil, fmt.Errorf("supervisor address %q: %w", address, errdefs.ErrInvalidArgument)
	}
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	conn, err := grpc.NewClient("passthrough:///"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial),
		reconnectParams,
		grpc.WithChainUnaryInterceptor(tracegrpc.UnaryClient()),
		grpc.WithChainStreamInterceptor(tracegrpc.StreamClient()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)),
	)
	if err != nil {
		return nil, fmt.Errorf("dial supervisor %s: %w", path, err)
	}
	c := &Client{conn: conn, namespace: o.namespace, timeout: o.timeout}
	if o.timeout > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		defer cancel()
		if _, err := c.IntrospectionService().Version(c.ctx(ctx), &supervisorv1.VersionRequest{}, grpc.WaitForReady(true)); err != nil {
			conn.Close()
			return nil, fmt.Errorf("connect to supervisor %s: %w", path, errdefs.FromGRPC(err))
		}
	}
	return c, nil
}

// Namespace is the client's default namespace.
func (c *Client) Namespace() string { return c.namespace }

// ctx adds the client's namespace unless ctx already carries one.
func (c *Client) ctx(ctx context.Context) context.Context {
	if ns, ok := nsFromContext(ctx); ok {
		return namespaces.WithNamespace(ctx, ns)
	}
	return namespaces.WithNamespace(ctx, c.namespace)
}

func nsFromContext(ctx context.Context) (string, bool) {
	ns := namespaces.Namespace(ctx)
	// Namespace returns Default when nothing is set; treat an explicit
	// "default" the same, it is what the caller would get anyway.
	return ns, ns != namespaces.Default
}

// Conn is the underlying gRPC connection.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// The service accessors wrap the generated clients so that every call gets
// the namespace and every error goes through errdefs.FromGRPC.

// ContentService is the content store.
func (c *Client) ContentService() supervisorv1.ContentClient {
	return supervisorv1.NewContentClient(c.wrapped())
}

// ImageService is the image store.
func (c *Client) ImageService() supervisorv1.ImagesClient {
	return supervisorv1.NewImagesClient(c.wrapped())
}

// SnapshotService is the snapshotter.
func (c *Client) SnapshotService() supervisorv1.SnapshotsClient {
	return supervisorv1.NewSnapshotsClient(c.wrapped())
}

// ContainerService is the container metadata store.
func (c *Client) ContainerService() supervisorv1.ContainersClient {
	return supervisorv1.NewContainersClient(c.wrapped())
}

// TaskService runs containers.
func (c *Client) TaskService() supervisorv1.TasksClient {
	return supervisorv1.NewTasksClient(c.wrapped())
}

// IntrospectionService describes the supervisor.
func (c *Client) IntrospectionService() supervisorv1.IntrospectionClient {
	return supervisorv1.NewIntrospectionClient(c.wrapped())
}

// wrapped is a grpc.ClientConnInterface that adds the namespace to every call
// and maps errors (also those of stream Recv/Send) to errdefs classes.
func (c *Client) wrapped() grpc.ClientConnInterface { return &conn{c: c} }

type conn struct{ c *Client }

func (w *conn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	w.c.awaitReady(ctx)
	err := w.c.conn.Invoke(w.c.ctx(ctx), method, args, reply, opts...)
	if err == nil {
		w.c.connected.Store(true)
	}
	return errdefs.FromGRPC(err)
}

func (w *conn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	w.c.awaitReady(ctx)
	s, err := w.c.conn.NewStream(w.c.ctx(ctx), desc, method, opts...)
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return &stream{ClientStream: s}, nil
}

type stream struct{ grpc.ClientStream }

func (s *stream) SendMsg(m any) error { return mapStreamErr(s.ClientStream.SendMsg(m)) }
func (s *stream) RecvMsg(m any) error { return mapStreamErr(s.ClientStream.RecvMsg(m)) }
func (s *stream) CloseSend() error    { return mapStreamErr(s.ClientStream.CloseSend()) }

func mapStreamErr(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err // io.EOF must stay io.EOF
	}
	return errdefs.FromGRPC(err)
}
