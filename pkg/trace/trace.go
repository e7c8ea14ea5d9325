// Package trace is berth's span log: each layer (ctl, engined, supervisord,
// shim, runtime) records how long its steps took under a trace ID that
// travels down with the request (an HTTP header to engined, gRPC metadata to
// supervisord and the shim, an environment variable to the runtime), and
// the spans travel back up with the answers, so the top layer can print one
// timeline across all of them. It has no dependencies: the runtime and the
// shim import it, and each of their package inits costs every container
// start.
package trace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The names the trace ID and the spans travel under.
const (
	// Env holds the trace ID for the runtime (set by the shim); for ctl,
	// any non-empty value turns tracing on, as --trace does.
	Env = "BERTH_TRACE"
	// Header carries the trace ID on an Engine API request.
	Header = "Berth-Trace"
	// SpansHeader carries the trace's spans so far on the answer, one
	// value per span.
	SpansHeader = "Berth-Trace-Spans"
	// MetadataKey and SpansKey are the gRPC metadata keys of the ID (on the
	// request) and of the spans (in the trailer).
	MetadataKey = "berth-trace"
	SpansKey    = "berth-trace-spans"
	// LogMsg is the msg of the runtime's JSON log entries that carry a
	// span (in their "span" field), where the shim reads them.
	LogMsg = "trace-span"
)

// Span is one step of one layer.
type Span struct {
	Layer string
	Name  string
	Start time.Time
	Dur   time.Duration
}

// Encode is the span's wire form: "layer|name|start-unix-ns|duration-ns".
func (s Span) Encode() string {
	return s.Layer + "|" + s.Name + "|" + strconv.FormatInt(s.Start.UnixNano(), 10) + "|" + strconv.FormatInt(int64(s.Dur), 10)
}

// Decode parses Encode's form.
func Decode(v string) (Span, error) {
	f := strings.Split(v, "|")
	if len(f) != 4 || f[0] == "" || f[1] == "" {
		return Span{}, fmt.Errorf("trace: bad span %q", v)
	}
	start, err1 := strconv.ParseInt(f[2], 10, 64)
	dur, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || dur < 0 {
		return Span{}, fmt.Errorf("trace: bad span %q", v)
	}
	return Span{Layer: f[0], Name: f[1], Start: time.Unix(0, start), Dur: time.Duration(dur)}, nil
}

// NewID returns a random trace ID (16 hex digits).
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidID reports whether id can be a trace ID: 1 to 32 hex digits, so a
// header or metadata value cannot smuggle anything into logs or files.
func ValidID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Trace collects the spans of one trace ID seen by one process: its own
// (recorded under its layer) and those the layers below sent back. A nil
// *Trace records nothing, so untraced paths cost a nil check.
type Trace struct {
	id     string
	layer  string
	onSpan func(id string, s Span) // the process's own spans, as they end

	mu    sync.Mutex
	spans []Span
	seen  map[string]bool
}

// New returns an empty trace of id whose own spans are layer's.
func New(id, layer string) *Trace {
	return &Trace{id: id, layer: layer, seen: map[string]bool{}}
}

// ID is the trace ID ("" for nil).
func (t *Trace) ID() string {
	if t == nil {
		return ""
	}
	return t.id
}

// Begin starts a span of the trace's own layer; calling the result ends it.
func (t *Trace) Begin(name string) func() {
	if t == nil {
		return func() {}
	}
	start := time.Now()
	return func() { t.Record(name, start, time.Now()) }
}

// Record adds a span of the trace's own layer from start to end.
func (t *Trace) Record(name string, start, end time.Time) {
	if t == nil {
		return
	}
	s := Span{Layer: t.layer, Name: name, Start: start, Dur: end.Sub(start)}
	t.Add(s)
	if t.onSpan != nil {
		t.onSpan(t.id, s)
	}
}

// Add adds spans (a span already there is not added twice: layers send
// their whole trace with every answer).
func (t *Trace) Add(spans ...Span) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range spans {
		k := s.Encode()
		if t.seen[k] {
			continue
		}
		t.seen[k] = true
		t.spans = append(t.spans, s)
	}
}

// AddEncoded adds spans in their wire form; malformed ones are dropped (a
// trace is a diagnostic: it never fails the request it rides on).
func (t *Trace) AddEncoded(vals []string) {
	if t == nil {
		return
	}
	for _, v := range vals {
		if s, err := Decode(v); err == nil {
			t.Add(s)
		}
	}
}

// Spans returns the spans, ordered by start (the longer first on a tie, so
// that a step comes before its parts).
func (t *Trace) Spans() []Span {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	out := append([]Span(nil), t.spans...)
	t.mu.Unlock()
	Sort(out)
	return out
}

// Encoded returns every span in wire form.
func (t *Trace) Encoded() []string {
	spans := t.Spans()
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Encode()
	}
	return out
}

// Sort orders spans by start, the longer first on a tie.
func Sort(spans []Span) {
	sort.SliceStable(spans, func(i, j int) bool {
		if !spans[i].Start.Equal(spans[j].Start) {
			return spans[i].Start.Before(spans[j].Start)
		}
		return spans[i].Dur > spans[j].Dur
	})
}

type ctxKey struct{}

// NewContext returns ctx carrying t.
func NewContext(ctx context.Context, t *Trace) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// FromContext returns the trace ctx carries, or nil.
func FromContext(ctx context.Context) *Trace {
	t, _ := ctx.Value(ctxKey{}).(*Trace)
	return t
}

// Begin starts a span of the trace in ctx (if any); calling the result ends
// it: defer trace.Begin(ctx, "create")().
func Begin(ctx context.Context, name string) func() {
	return FromContext(ctx).Begin(name)
}

// Store holds a process's recent traces by ID, so that the requests of one
// container start (create, attach, start, wait) share one trace. It keeps
// the last Cap traces.
type Store struct {
	layer  string
	cap    int
	onSpan func(id string, s Span)

	mu     sync.Mutex
	traces map[string]*Trace
	order  []string
}

// NewStore returns a store of layer's traces; onSpan (may be nil) is called
// with each own span as it ends, for the debug log.
func NewStore(layer string, capacity int, onSpan func(id string, s Span)) *Store {
	if capacity <= 0 {
		capacity = 64
	}
	return &Store{layer: layer, cap: capacity, onSpan: onSpan, traces: map[string]*Trace{}}
}

// Get returns the trace of id, made on first use.
func (st *Store) Get(id string) *Trace {
	st.mu.Lock()
	defer st.mu.Unlock()
	if t := st.traces[id]; t != nil {
		return t
	}
	t := New(id, st.layer)
	t.onSpan = st.onSpan
	st.traces[id] = t
	st.order = append(st.order, id)
	if len(st.order) > st.cap {
		delete(st.traces, st.order[0])
		st.order = st.order[1:]
	}
	return t
}

// Write prints spans as a timeline: each span's offset from the first
// start, its duration, layer and step, in order of start.
func Write(w io.Writer, id string, spans []Span) {
	spans = append([]Span(nil), spans...)
	Sort(spans)
	if len(spans) == 0 {
		fmt.Fprintf(w, "trace %s: no spans\n", id)
		return
	}
	t0, end := spans[0].Start, spans[0].Start
	for _, s := range spans {
		if e := s.Start.Add(s.Dur); e.After(end) {
			end = e
		}
	}
	fmt.Fprintf(w, "trace %s: %d spans over %s\n", id, len(spans), ms(end.Sub(t0)))
	fmt.Fprintf(w, "%10s %10s  %-12s %s\n", "AT", "TOOK", "LAYER", "STEP")
	for _, s := range spans {
		fmt.Fprintf(w, "%10s %10s  %-12s %s\n", ms(s.Start.Sub(t0)), ms(s.Dur), s.Layer, s.Name)
	}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

// WriteFile replaces path with t's ID and spans, one a line: how the shim
// hands its spans to supervisord (ttrpc answers carry no metadata).
func WriteFile(path string, t *Trace) error {
	if t == nil {
		return nil
	}
	b := []byte(t.ID() + "\n" + strings.Join(t.Encoded(), "\n") + "\n")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadFile returns the encoded spans of trace id in path (none when the
// file holds another trace or is missing).
func ReadFile(path, id string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 || lines[0] != id {
		return nil
	}
	return lines[1:]
}

// MethodName shortens an RPC's full method, "/berth.shim.v1.Shim/Create",
// to "Shim/Create".
func MethodName(full string) string {
	full = strings.TrimPrefix(full, "/")
	svc, m, ok := strings.Cut(full, "/")
	if !ok {
		return full
	}
	return svc[strings.LastIndexByte(svc, '.')+1:] + "/" + m
}
