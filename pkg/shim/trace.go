package shim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/berthd/berth/pkg/trace"
	"github.com/berthd/berth/pkg/trace/tracegrpc"
)

// traceInterceptor traces the calls that carry a trace ID and logs the
// shim's own spans. One shim serves one container, so a few traces suffice.
func traceInterceptor() grpc.UnaryServerInterceptor {
	st := trace.NewStore("shim", 8, func(id string, sp trace.Span) {
		log.Printf("span trace=%s step=%q took=%s", id, sp.Name, sp.Dur)
	})
	return tracegrpc.UnaryServer(st, nil)
}

// runtimeSpans reads the spans the runtime logged after offset: it writes
// its own and its container init's into its --log when BERTH_TRACE names a
// trace (pkg/runtime/cli).
func runtimeSpans(path string, offset int64) []trace.Span {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	var out []trace.Span
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(trace.LogMsg)) {
			continue
		}
		var e struct {
			Msg  string `json:"msg"`
			Span string `json:"span"`
		}
		if json.Unmarshal(line, &e) != nil || e.Msg != trace.LogMsg {
			continue
		}
		if s, err := trace.Decode(e.Span); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// traceEnv is the runtime's environment for an invocation traced by t: ours
// with BERTH_TRACE set to t's ID.
func traceEnv(t *trace.Trace) []string {
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if len(kv) > len(trace.Env) && kv[:len(trace.Env)+1] == trace.Env+"=" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, trace.Env+"="+t.ID())
}

// recordReap adds the shim's reap span: from the exit of init to its exit
// status persisted and its waiters released.
func recordReap(t *trace.Trace, exitedAt time.Time) {
	t.Record("reap", exitedAt, time.Now())
}
