package cli

import (
	"encoding/json"
	"os"
	"time"

	"github.com/berthd/berth/pkg/runtime/container"
	"github.com/berthd/berth/pkg/trace"
)

// traceFromEnv turns tracing on when BERTH_TRACE names a trace (the shim
// sets it): the command's spans go to the log (logSpans).
// A standby runs several commands: one untraced after a traced one is not
// traced.
func traceFromEnv() {
	container.Trace = nil
	if id := os.Getenv(trace.Env); trace.ValidID(id) {
		container.Trace = trace.New(id, "runtime")
	}
}

// logSpans writes the spans as "trace-span" entries of the JSON log, where
// the shim reads them (pkg/shim); with another log they are not written.
func (g *globals) logSpans() {
	t := container.Trace
	if t == nil || g.log == nil || g.log.f == nil || !g.log.json {
		return
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, s := range t.Encoded() {
		b, _ := json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Span  string `json:"span"`
			Time  string `json:"time"`
		}{"debug", trace.LogMsg, s, now})
		g.log.f.Write(append(b, '\n'))
	}
}
