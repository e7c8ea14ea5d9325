package client

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
)

// reconnectWait bounds how long a call waits for a connection that is not
// ready (supervisord restarting) before it is tried anyway and fails as
// unavailable. Without it, the first calls after a restart fail at once:
// gRPC fails fast while the channel is in transient failure.
const reconnectWait = 5 * time.Second

// reconnectParams keep the redial delay short (gRPC's default grows to
// two minutes), so that a restarted supervisord is found within a second.
var reconnectParams = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
	MinConnectTimeout: 2 * time.Second,
})

// awaitReady waits, up to reconnectWait or ctx's end, for the connection
// to be ready. Idle is waited for too: after failed dials gRPC's
// pick-first parks the channel in Idle until a call comes, and a fail-fast
// call that makes the one dial attempt fails with it.
func (c *Client) awaitReady(ctx context.Context) {
	st := c.conn.GetState()
	if st == connectivity.Ready {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, reconnectWait)
	defer cancel()
	for st != connectivity.Ready && st != connectivity.Shutdown {
		c.conn.Connect()
		if !c.conn.WaitForStateChange(ctx, st) {
			return
		}
		st = c.conn.GetState()
	}
}
