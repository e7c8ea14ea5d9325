package supervisor

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"

	"github.com/berthd/berth/pkg/trace"
	"github.com/berthd/berth/pkg/trace/tracegrpc"
)

// traceInterceptor traces the calls that carry a trace ID (and, at debug
// level, every call), logging supervisord's own spans at debug level; the
// shim's and the runtime's come back through the shim client's interceptor.
func (s *Server) traceInterceptor() grpc.UnaryServerInterceptor {
	debug := func() bool { return s.log.Enabled(context.Background(), slog.LevelDebug) }
	st := trace.NewStore("supervisord", 256, func(id string, sp trace.Span) {
		s.log.Debug("span", "trace", id, "step", sp.Name, "took", sp.Dur)
	})
	return tracegrpc.UnaryServer(st, debug)
}
