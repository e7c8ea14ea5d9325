package cli

import (
	"context"
	"net/http"
	"os"

	"github.com/moby/moby/client"

	"github.com/berthd/berth/pkg/trace"
)

// startTrace turns on the trace of one container start (run --trace, or
// BERTH_TRACE set): every request carries its ID, and every answer brings
// back the spans engined knows, those of supervisord, the shim and the
// runtime included. Called before the client is made; calling the result
// ends the run's span and prints the timeline.
func (c *CLI) startTrace(ctx context.Context) func() {
	c.trace = trace.New(trace.NewID(), "ctl")
	end := c.trace.Begin("run")
	return func() {
		end()
		c.printTrace(ctx, c.client)
	}
}

// traceOpts are the client options of a traced run.
func (c *CLI) traceOpts() []client.Opt {
	if c.trace == nil {
		return nil
	}
	t := c.trace
	return []client.Opt{
		client.WithHTTPHeaders(map[string]string{trace.Header: t.ID()}),
		client.WithHTTPResponseHook(func(resp *http.Response) {
			t.AddEncoded(resp.Header.Values(trace.SpansHeader))
		}),
	}
}

// traceWanted reports whether run traces: --trace, or BERTH_TRACE set.
func traceWanted(flag bool) bool { return flag || os.Getenv(trace.Env) != "" }

// printTrace asks engined once more for the trace (the exit and the wait
// ended after the last answer), then prints the timeline on stderr.
func (c *CLI) printTrace(ctx context.Context, cl *client.Client) {
	if c.trace == nil {
		return
	}
	if cl != nil {
		_, _ = cl.Ping(context.WithoutCancel(ctx), client.PingOptions{})
	}
	trace.Write(c.Err, c.trace.ID(), c.trace.Spans())
}
