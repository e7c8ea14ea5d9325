package client

import (
	"context"

	"github.com/containerd/ttrpc"

	"github.com/berthd/berth/pkg/shim/record"
	"github.com/berthd/berth/pkg/trace"
)

// traceCalls sends the trace ID of a call's context (if any) as ttrpc
// metadata and adds the spans the shim left in its trace file to the trace.
func traceCalls(socket string) ttrpc.UnaryClientInterceptor {
	return func(ctx context.Context, req *ttrpc.Request, resp *ttrpc.Response, _ *ttrpc.UnaryClientInfo, invoke ttrpc.Invoker) error {
		t := trace.FromContext(ctx)
		if t == nil {
			return invoke(ctx, req, resp)
		}
		req.Metadata = append(req.Metadata, &ttrpc.KeyValue{Key: trace.MetadataKey, Value: t.ID()})
		err := invoke(ctx, req, resp)
		t.AddEncoded(trace.ReadFile(record.TraceFile(socket), t.ID()))
		return err
	}
}
