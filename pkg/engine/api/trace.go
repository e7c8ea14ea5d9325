package api

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/berthd/berth/pkg/trace"
)

// newTraceStore keeps engined's recent traces; its own spans are logged at
// debug level as they end.
func newTraceStore(log *slog.Logger) *trace.Store {
	return trace.NewStore("engined", 256, func(id string, s trace.Span) {
		log.Debug("span", "trace", id, "step", s.Name, "took", s.Dur)
	})
}

// serveTraced serves a request that carries a trace ID (Berth-Trace), or
// any request at debug level (under a new ID): the handler's context
// carries the trace, the request is a span, and the answer's headers carry
// every span of the trace known so far, those of supervisord, the shim and
// the runtime included. The requests of one `ctl run` share the ID, so the
// last answer has the whole start.
func (s *Server) serveTraced(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request)) {
	id := r.Header.Get(trace.Header)
	if !trace.ValidID(id) {
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			serve(w, r)
			return
		}
		id = trace.NewID()
	}
	t := s.traces.Get(id)
	end := t.Begin("api " + r.Method + " " + routeOf(r.URL.Path))
	defer end()
	serve(&tracedWriter{ResponseWriter: w, t: t}, r.WithContext(trace.NewContext(r.Context(), t)))
}

// routeOf replaces a container ID in an API path by {id}.
func routeOf(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if len(s) == 64 && trace.ValidID(s[:32]) {
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

// tracedWriter puts the trace's spans into the headers when they are sent.
type tracedWriter struct {
	http.ResponseWriter
	t    *trace.Trace
	sent bool
}

func (w *tracedWriter) spans() {
	if w.sent {
		return
	}
	w.sent = true
	h := w.ResponseWriter.Header()
	for _, v := range w.t.Encoded() {
		h.Add(trace.SpansHeader, v)
	}
}

func (w *tracedWriter) WriteHeader(code int) {
	w.spans()
	w.ResponseWriter.WriteHeader(code)
}

func (w *tracedWriter) Write(b []byte) (int, error) {
	w.spans()
	return w.ResponseWriter.Write(b)
}

func (w *tracedWriter) Flush() {
	w.spans()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack serves attach; the hijacked stream carries no spans.
func (w *tracedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be hijacked")
	}
	return hj.Hijack()
}

func (w *tracedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
