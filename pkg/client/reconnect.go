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
// to be ready. A connection never used yet is not waited for: the call
// connects it (and fails at once when nothing listens). One that was ready
// and went idle after the server went away is redialled and waited for.
func (c *Client) awaitReady(ctx context.Context) {
	st := c.conn.GetState()
	if st == connectivity.Ready {
		c.connected.Store(true)
		return
	}
	if st == connectivity.Idle && !c.connected.Load() {
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
