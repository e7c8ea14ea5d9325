package api

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/stdcopy"
)

const (
	mediaMultiplexed = "application/vnd.docker.multiplexed-stream"
	mediaRaw         = "application/vnd.docker.raw-stream"
)

// outputs returns the writers for a container's stdout and stderr: frames of
// the multiplexed format, or the raw bytes for a tty (which has one stream).
func outputs(w io.Writer, tty bool) (stdout, stderr io.Writer) {
	if tty {
		return w, w
	}
	m := stdcopy.NewMux(w)
	return m.Writer(stdcopy.Stdout), m.Writer(stdcopy.Stderr)
}

// containerAttach hijacks the connection and streams the container's
// output on it, as dockerd does (101 UPGRADED when the client asked for an
// upgrade, else 200).
func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, err := s.d.Inspect(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	opts := containers.AttachOptions{Stdout: boolParam(r, "stdout"), Stderr: boolParam(r, "stderr"), Logs: boolParam(r, "logs"), Stream: boolParam(r, "stream")}
	if q.Get("stream") == "" && q.Get("logs") == "" {
		opts.Stream = true
	}
	// Checked with or without stdin, as dockerd does: bad keys are an
	// error, not keys that are silently never used.
	keys, err := containers.ParseDetachKeys(q.Get("detachKeys"))
	if err != nil {
		writeError(w, err)
		return
	}
	stdin := &lateReader{}
	if boolParam(r, "stdin") {
		opts.Stdin = stdin
		opts.DetachKeys = keys
	}
	// The attach lives as long as the container's output, or until a write to
	// the client fails: not as long as the request context, which ends with
	// the hijack. It is registered before the answer, after which the client
	// may start the container.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	stream, err := s.d.PrepareAttach(ctx, id, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	media := mediaMultiplexed
	if c.Config.Tty {
		media = mediaRaw
	}
	conn, buf, err := s.hijack(w, r, media)
	if err != nil {
		s.log.Warn("attach", "id", id, "err", err)
		cancel()
		stream(io.Discard, io.Discard)
		return
	}
	defer conn.Close()
	stdin.r = buf.Reader
	fw := &failWriter{w: conn, cancel: cancel}
	stdout, stderr := outputs(fw, c.Config.Tty)
	if err := stream(stdout, stderr); err != nil {
		s.log.Warn("attach", "id", id, "err", err)
	}
}

// failWriter cancels the attach when the client is gone.
type failWriter struct {
	mu     sync.Mutex
	w      io.Writer
	cancel func()
}

func (f *failWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if err != nil {
		f.cancel()
	}
	return n, err
}

// flushWriter flushes after every write, for streamed responses.
type flushWriter struct {
	mu sync.Mutex
	w  io.Writer
	f  http.Flusher
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if f.f != nil {
		f.f.Flush()
	}
	return n, err
}

// ParseTimestamp reads docker's since/until values: unix seconds with an
// optional fraction ("1700000000.5"), or RFC 3339.
func ParseTimestamp(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, badRequest("invalid timestamp %q", v)
	}
	var ns int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		frac += strings.Repeat("0", 9-len(frac))
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, badRequest("invalid timestamp %q", v)
		}
	}
	if s == 0 && ns == 0 {
		return time.Time{}, nil
	}
	return time.Unix(s, ns), nil
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, err := s.d.Inspect(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	o := containers.LogsOptions{Stdout: boolParam(r, "stdout"), Stderr: boolParam(r, "stderr"), Follow: boolParam(r, "follow"), Timestamps: boolParam(r, "timestamps"), Details: boolParam(r, "details"), Tail: -1}
	if !o.Stdout && !o.Stderr {
		writeError(w, badRequest("Bad parameters: you must choose at least one stream"))
		return
	}
	if err := c.LogsReadable(); err != nil {
		writeError(w, err)
		return
	}
	if o.Since, err = ParseTimestamp(q.Get("since")); err != nil {
		writeError(w, err)
		return
	}
	if o.Until, err = ParseTimestamp(q.Get("until")); err != nil {
		writeError(w, err)
		return
	}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil {
			writeError(w, badRequest("invalid value for tail: %s", t))
			return
		}
		if n >= 0 {
			o.Tail = n
		}
	}
	media := mediaMultiplexed
	if c.Config.Tty {
		media = mediaRaw
	}
	w.Header().Set("Content-Type", media)
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	if f != nil {
		f.Flush()
	}
	bw := bufio.NewWriter(w)
	var out io.Writer = bw
	if o.Follow {
		out = &flushWriter{w: w, f: f}
	}
	stdout, stderr := outputs(out, c.Config.Tty)
	if err := s.d.Logs(r.Context(), id, o, stdout, stderr); err != nil {
		s.log.Warn("logs", "id", id, "err", err)
	}
	bw.Flush()
}
