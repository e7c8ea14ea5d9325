package shim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"os"
	"time"

	"github.com/containerd/ttrpc"

	"github.com/berthd/berth/pkg/shim/record"
	"github.com/berthd/berth/pkg/trace"
)

// traceInterceptor traces the calls that carry a trace ID (ttrpc metadata
// berth-trace), logs the shim's own spans and writes the trace to
// record.TraceFile of the shim's socket. One shim serves one container, so a
// few traces suffice.
func traceInterceptor(socket func() string) ttrpc.UnaryServerInterceptor {
	st := trace.NewStore("shim", 8, func(id string, sp trace.Span) {
		log.Printf("span trace=%s step=%q took=%s", id, sp.Name, sp.Dur)
	})
	return func(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
		id, _ := ttrpc.GetMetadataValue(ctx, trace.MetadataKey)
		if !trace.ValidID(id) {
			return method(ctx, unmarshal)
		}
		t := st.Get(id)
		end := t.Begin(trace.MethodName(info.FullMethod))
		resp, err := method(trace.NewContext(ctx, t), unmarshal)
		end()
		if werr := trace.WriteFile(record.TraceFile(socket()), t); werr != nil {
			log.Printf("trace %s: %v", id, werr)
		}
		return resp, err
	}
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
