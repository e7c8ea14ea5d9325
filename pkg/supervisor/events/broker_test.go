package events

import (
	"testing"

	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

func TestFilterByNamespaceAndPrefix(t *testing.T) {
	b := NewBroker(0)
	all := b.Subscribe("a", nil)
	tasks := b.Subscribe("a", []string{"/tasks/"})
	other := b.Subscribe("b", nil)
	b.Publish(&pb.Envelope{Namespace: "a", Topic: TaskStart, ContainerId: "c1"})
	b.Publish(&pb.Envelope{Namespace: "a", Topic: ImageCreate, Image: "x"})
	b.Publish(&pb.Envelope{Namespace: "b", Topic: TaskExit, ContainerId: "c2"})
	b.Close()
	var got []string
	for e := range all.C {
		got = append(got, e.Topic)
	}
	if len(got) != 2 || got[0] != TaskStart || got[1] != ImageCreate {
		t.Fatalf("all: %v", got)
	}
	got = nil
	for e := range tasks.C {
		if e.Timestamp == 0 {
			t.Error("no timestamp")
		}
		got = append(got, e.Topic)
	}
	if len(got) != 1 || got[0] != TaskStart {
		t.Fatalf("tasks: %v", got)
	}
	got = nil
	for e := range other.C {
		got = append(got, e.ContainerId)
	}
	if len(got) != 1 || got[0] != "c2" {
		t.Fatalf("other namespace: %v", got)
	}
}

func TestSlowSubscriberDropped(t *testing.T) {
	b := NewBroker(4)
	slow := b.Subscribe("a", nil)
	fast := b.Subscribe("a", nil)
	n := 0
	for i := 0; i < 10; i++ {
		// Publish never blocks, whatever the slow one does.
		b.Publish(&pb.Envelope{Namespace: "a", Topic: TaskExit})
		if i%2 == 0 {
			for len(fast.C) > 0 {
				<-fast.C
				n++
			}
		}
	}
	for range slow.C {
	}
	if !slow.Dropped() {
		t.Fatal("slow subscriber not dropped")
	}
	if fast.Dropped() {
		t.Fatal("fast subscriber dropped")
	}
	fast.Close()
	for range fast.C {
		n++
	}
	if n != 10 {
		t.Fatalf("fast got %d events, want 10", n)
	}
	fast.Close() // twice is fine
}
