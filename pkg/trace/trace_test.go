package trace

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestSpanRoundTrip(t *testing.T) {
	s := Span{Layer: "shim", Name: "runtime create", Start: time.Unix(0, 1733390000123456789), Dur: 1500 * time.Microsecond}
	got, err := Decode(s.Encode())
	if err != nil || got.Layer != s.Layer || got.Name != s.Name || !got.Start.Equal(s.Start) || got.Dur != s.Dur {
		t.Fatalf("round trip of %+v: %+v, %v", s, got, err)
	}
	for _, bad := range []string{"", "a|b|c", "a|b|x|1", "a|b|1|-1", "|b|1|1", "a|b|1|1|1"} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

func TestValidID(t *testing.T) {
	if !ValidID(NewID()) {
		t.Fatal("a new ID is not valid")
	}
	for _, bad := range []string{"", "XYZ", "0123456789abcdef0123456789abcdef0", "ab\ncd", "ab cd"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q)", bad)
		}
	}
}

// The layers send their whole trace with each answer: a span comes once.
func TestTraceDedupesAndOrders(t *testing.T) {
	tr := New("ab", "engined")
	t0 := time.Now()
	b := Span{Layer: "shim", Name: "b", Start: t0.Add(2 * time.Millisecond), Dur: time.Millisecond}
	a := Span{Layer: "supervisord", Name: "a", Start: t0, Dur: time.Millisecond}
	tr.AddEncoded([]string{b.Encode(), a.Encode(), "junk"})
	tr.AddEncoded([]string{a.Encode(), b.Encode()})
	tr.Record("whole", t0, t0.Add(5*time.Millisecond))
	got := tr.Spans()
	if len(got) != 3 || got[0].Name != "whole" || got[1].Name != "a" || got[2].Name != "b" {
		t.Fatalf("spans %+v", got)
	}
}

func TestNilTraceRecordsNothing(t *testing.T) {
	var tr *Trace
	tr.Begin("x")()
	tr.Add(Span{})
	if tr.Spans() != nil || tr.ID() != "" || FromContext(context.Background()) != nil {
		t.Fatal("a nil trace recorded")
	}
	Begin(context.Background(), "x")() // no trace in the context: no panic
}

func TestStoreKeepsTheLastTraces(t *testing.T) {
	var logged []string
	st := NewStore("shim", 2, func(id string, s Span) { logged = append(logged, id+" "+s.Name) })
	a := st.Get("a")
	if st.Get("a") != a {
		t.Fatal("one ID, two traces")
	}
	a.Begin("create")()
	st.Get("b")
	st.Get("c")
	if st.Get("a") == a {
		t.Fatal("the oldest trace was not dropped")
	}
	if len(logged) != 1 || logged[0] != "a create" {
		t.Fatalf("logged %v", logged)
	}
}

func TestWrite(t *testing.T) {
	t0 := time.Now()
	var b strings.Builder
	Write(&b, "ab", []Span{
		{Layer: "runtime", Name: "exec", Start: t0.Add(3 * time.Millisecond), Dur: time.Millisecond},
		{Layer: "ctl", Name: "run", Start: t0, Dur: 5 * time.Millisecond},
	})
	out := b.String()
	if !strings.Contains(out, "trace ab: 2 spans over 5.00 ms") || strings.Index(out, "ctl") > strings.Index(out, "runtime") ||
		!strings.Contains(out, "3.00 ms") {
		t.Fatalf("timeline:\n%s", out)
	}
}
