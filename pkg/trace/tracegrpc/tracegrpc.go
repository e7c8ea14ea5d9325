// Package tracegrpc carries berth's trace ID and spans (pkg/trace) over gRPC:
// the ID in the request metadata, the spans back in the trailer. It is its
// own package so that the runtime, which imports pkg/trace, never links
// gRPC.
package tracegrpc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/berthd/berth/pkg/trace"
)

// UnaryServer records a span for every traced call, named after the
// method ("Tasks/Create"), and answers with the trace's spans in the
// trailer. A call without a trace ID is traced under a new one only when
// always is set (a daemon at debug level); otherwise it costs a metadata
// lookup.
func UnaryServer(st *trace.Store, always func() bool) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		id := incomingID(ctx)
		if id == "" {
			if always == nil || !always() {
				return h(ctx, req)
			}
			id = trace.NewID()
		}
		t := st.Get(id)
		end := t.Begin(trace.MethodName(info.FullMethod))
		resp, err := h(trace.NewContext(ctx, t), req)
		end()
		_ = grpc.SetTrailer(ctx, metadata.MD{trace.SpansKey: t.Encoded()})
		return resp, err
	}
}

// UnaryClient sends the trace ID of the call's context (if any) and adds
// the spans of the answer's trailer to that trace.
func UnaryClient() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		t := trace.FromContext(ctx)
		if t == nil {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		var md metadata.MD
		ctx = metadata.AppendToOutgoingContext(ctx, trace.MetadataKey, t.ID())
		err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Trailer(&md))...)
		t.AddEncoded(md.Get(trace.SpansKey))
		return err
	}
}

// StreamClient sends the trace ID on streams (attach, wait streams); their
// spans come back with the next unary answer of the same trace.
func StreamClient() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if t := trace.FromContext(ctx); t != nil {
			ctx = metadata.AppendToOutgoingContext(ctx, trace.MetadataKey, t.ID())
		}
		return streamer(ctx, desc, cc, method, opts...)
	}
}

// incomingID is the call's valid trace ID, or "".
func incomingID(ctx context.Context) string {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ""
	}
	v := md.Get(trace.MetadataKey)
	if len(v) == 0 || !trace.ValidID(v[0]) {
		return ""
	}
	return v[0]
}
