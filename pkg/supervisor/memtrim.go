package supervisor

import (
	"context"

	"google.golang.org/grpc"

	"github.com/berthd/berth/pkg/memtrim"
)

// trimUnary and trimStream note the end of each call for t, which returns
// the memory a burst of calls freed once they stop.
func trimUnary(t *memtrim.Trimmer) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		defer t.Done()
		return h(ctx, req)
	}
}

func trimStream(t *memtrim.Trimmer) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		defer t.Done()
		return h(srv, ss)
	}
}
