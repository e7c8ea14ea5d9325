package network

import (
	"log/slog"
	"time"
)

// spans times the steps of an attach or detach for engined's debug log,
// so that the cost of each (namespace, lease, veth, table...) can be
// read off a run without a profiler. A nil *spans records nothing.
type spans struct {
	last  time.Time
	attrs []any
}

func newSpans() *spans { return &spans{last: time.Now()} }

// mark ends the step named name.
func (sp *spans) mark(name string) {
	if sp == nil {
		return
	}
	now := time.Now()
	sp.attrs = append(sp.attrs, slog.Duration(name, now.Sub(sp.last)))
	sp.last = now
}
