// Package events is supervisord's in-process event broker: services
// publish what happened, and subscribers receive it in order, per
// namespace, filtered by topic prefix. Publishing never blocks: a
// subscriber that falls behind is dropped (its channel is closed with
// Dropped set), so a stuck client cannot stall the supervisor.
package events

import (
	"strings"
	"sync"
	"time"

	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Topics published by supervisord.
const (
	TaskCreate       = "/tasks/create"
	TaskStart        = "/tasks/start"
	TaskExit         = "/tasks/exit"
	TaskOOM          = "/tasks/oom"
	TaskDelete       = "/tasks/delete"
	TaskExecAdded    = "/tasks/exec-added"
	TaskExecStarted  = "/tasks/exec-started"
	TaskPaused       = "/tasks/paused"
	TaskResumed      = "/tasks/resumed"
	ContainerCreate  = "/containers/create"
	ContainerDelete  = "/containers/delete"
	ImageCreate      = "/images/create"
	ImageUpdate      = "/images/update"
	ImageDelete      = "/images/delete"
	defaultQueueSize = 1024
)

// Subscription receives events on C until Close, or until it is dropped
// for falling behind (then C is closed and Dropped reports true).
type Subscription struct {
	C         <-chan *pb.Envelope
	ch        chan *pb.Envelope
	namespace string
	topics    []string
	b         *Broker
	dropped   bool
}

// Dropped reports whether the subscription was ended for falling behind.
// Read it once C is closed.
func (s *Subscription) Dropped() bool {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.dropped
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if _, ok := s.b.subs[s]; ok {
		delete(s.b.subs, s)
		close(s.ch)
	}
}

func (s *Subscription) wants(e *pb.Envelope) bool {
	if e.Namespace != s.namespace {
		return false
	}
	if len(s.topics) == 0 {
		return true
	}
	for _, t := range s.topics {
		if strings.HasPrefix(e.Topic, t) {
			return true
		}
	}
	return false
}

// Broker fans events out to subscribers.
type Broker struct {
	mu    sync.Mutex
	subs  map[*Subscription]struct{}
	queue int
}

// NewBroker returns a broker whose subscribers may fall queue events
// behind before they are dropped (0: a default of 1024).
func NewBroker(queue int) *Broker {
	if queue <= 0 {
		queue = defaultQueueSize
	}
	return &Broker{subs: map[*Subscription]struct{}{}, queue: queue}
}

// Subscribe receives the events of namespace whose topic starts with one
// of topics (all when topics is empty), from now on.
func (b *Broker) Subscribe(namespace string, topics []string) *Subscription {
	ch := make(chan *pb.Envelope, b.queue)
	s := &Subscription{C: ch, ch: ch, namespace: namespace, topics: topics, b: b}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Publish sends e to every interested subscriber; Timestamp is set when
// zero. e must not be changed afterwards.
func (b *Broker) Publish(e *pb.Envelope) {
	if e.Timestamp == 0 {
		e.Timestamp = time.Now().UnixNano()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if !s.wants(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.dropped = true
			delete(b.subs, s)
			close(s.ch)
		}
	}
}

// Close ends every subscription.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		delete(b.subs, s)
		close(s.ch)
	}
}
