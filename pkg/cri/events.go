package cri

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Container events (GetContainerEvents, the kubelet's evented PLEG): the
// lifecycle calls announce CREATED, STARTED and DELETED of containers and
// pods (a pod's events carry its ID as the container's, as containerd's
// do); STOPPED is announced by whoever sees the exit first: the call that
// stopped it, or the watcher of the supervisor's /tasks/exit events for a
// process that ended by itself. Each event carries the pod's status and
// the statuses of its containers, read when it is announced.

// eventQueue is the number of events a subscriber may fall behind before
// it is dropped: a stuck client must not stall lifecycle calls.
const eventQueue = 1024

// forgetAfter is how long an ID's STOPPED and DELETED stay remembered, so
// that an exit event the watcher reads late is not announced a second
// time or after the DELETED.
const forgetAfter = 10 * time.Minute

type eventSub struct {
	ch      chan *runtimeapi.ContainerEventResponse
	dropped bool
}

type eventBroker struct {
	mu   sync.Mutex
	subs map[*eventSub]struct{}
	// done: IDs whose STOPPED (or DELETED) was announced, and when.
	stopped map[string]time.Time
	deleted map[string]time.Time
	pruned  time.Time
}

func (b *eventBroker) subscribe() *eventSub {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[*eventSub]struct{}{}
	}
	sub := &eventSub{ch: make(chan *runtimeapi.ContainerEventResponse, eventQueue)}
	b.subs[sub] = struct{}{}
	return sub
}

func (b *eventBroker) unsubscribe(sub *eventSub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[sub]; ok {
		delete(b.subs, sub)
		close(sub.ch)
	}
}

// closeAll ends every subscription (the server is stopping: a
// graceful stop waits for the streams).
func (b *eventBroker) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.subs {
		delete(b.subs, sub)
		close(sub.ch)
	}
}

func (b *eventBroker) listened() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs) > 0
}

// announced reports whether id's event of type t is out already.
func (b *eventBroker) announced(id string, t runtimeapi.ContainerEventType) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.doneLocked(id, t)
}

func (b *eventBroker) doneLocked(id string, t runtimeapi.ContainerEventType) bool {
	_, deleted := b.deleted[id]
	_, stopped := b.stopped[id]
	switch t {
	case runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT:
		return stopped || deleted
	case runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT:
		return deleted
	}
	return false
}

// publish sends e to every subscriber, in one order for all. STOPPED and
// DELETED go out once per ID: the loser of a race between the caller
// that stopped a container and the exit watcher is dropped here.
func (b *eventBroker) publish(e *runtimeapi.ContainerEventResponse) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id, t := e.GetContainerId(), e.GetContainerEventType()
	if b.doneLocked(id, t) {
		return
	}
	now := time.Now()
	switch t {
	case runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT:
		b.remember(&b.stopped, id, now)
	case runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT:
		b.remember(&b.deleted, id, now)
		delete(b.stopped, id)
	}
	if now.Sub(b.pruned) > forgetAfter {
		for _, m := range []map[string]time.Time{b.stopped, b.deleted} {
			for k, at := range m {
				if now.Sub(at) > forgetAfter {
					delete(m, k)
				}
			}
		}
		b.pruned = now
	}
	for sub := range b.subs {
		select {
		case sub.ch <- e:
		default:
			sub.dropped = true
			delete(b.subs, sub)
			close(sub.ch)
		}
	}
}

func (b *eventBroker) remember(m *map[string]time.Time, id string, at time.Time) {
	if *m == nil {
		*m = map[string]time.Time{}
	}
	(*m)[id] = at
}

// GetContainerEvents streams the events from now on until the caller
// hangs up (or falls eventQueue events behind: ResourceExhausted).
func (s *Server) GetContainerEvents(_ *runtimeapi.GetEventsRequest, stream runtimeapi.RuntimeService_GetContainerEventsServer) error {
	sub := s.events.subscribe()
	defer s.events.unsubscribe(sub)
	// The header tells the caller it is subscribed: nothing announced
	// from now on is missed.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for {
		select {
		case e, ok := <-sub.ch:
			if !ok {
				s.events.mu.Lock()
				dropped := sub.dropped
				s.events.mu.Unlock()
				if dropped {
					return status.Errorf(codes.ResourceExhausted, "container events: the subscriber fell %d events behind", eventQueue)
				}
				return status.Error(codes.Unavailable, "container events: the CRI server is shutting down")
			}
			if err := stream.Send(e); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// announce sends the event of type t about id (a container, or a pod when
// id == podID) with the pod's status and its containers' statuses, if
// anyone listens.
func (s *Server) announce(ctx context.Context, id, podID string, t runtimeapi.ContainerEventType) {
	if !s.events.listened() || s.events.announced(id, t) {
		return
	}
	e := &runtimeapi.ContainerEventResponse{ContainerId: id, ContainerEventType: t, CreatedAt: time.Now().UnixNano()}
	// A pod already removed has no status: the event goes without, as
	// containerd's does.
	if ps, err := s.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID}); err == nil {
		e.PodSandboxStatus = ps.GetStatus()
	}
	if l, err := s.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID}}); err == nil {
		for _, c := range l.GetContainers() {
			if c.GetPodSandboxId() != podID {
				continue // a prefix match of another pod
			}
			if cs, err := s.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.GetId()}); err == nil {
				e.ContainersStatuses = append(e.ContainersStatuses, cs.GetStatus())
			}
		}
	}
	s.events.publish(e)
}

// announceStopped announces r's STOPPED (once; see publish).
func (s *Server) announceStopped(ctx context.Context, r record) {
	pod := r.sandboxID()
	if r.kind() == kindSandbox {
		pod = r.id()
	}
	s.announce(ctx, r.id(), pod, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
}

// watchExits announces the STOPPED of a pod or container whose process
// ended by itself (or was killed behind the CRI's back), from the
// supervisor's /tasks/exit events, until ctx is done. The exit is
// announced under the object's lifecycle lock: a StartContainer that is
// still announcing STARTED goes first. subscribed is closed after the
// first subscription (or its failure).
func (s *Server) watchExits(ctx context.Context, subscribed chan<- struct{}) {
	for ctx.Err() == nil {
		st, err := s.sup.Subscribe(ctx, "/tasks/exit")
		if subscribed != nil {
			close(subscribed)
			subscribed = nil
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Debug("cri: subscribe to task exits", "err", err)
				time.Sleep(time.Second)
			}
			continue
		}
		for {
			ev, err := st.Recv()
			if err != nil {
				if ctx.Err() == nil {
					// Dropped for falling behind, or supervisord is going:
					// subscribe again (exits meanwhile are seen by the
					// calls that stop and remove).
					s.log.Debug("cri: task exit events", "err", err)
				}
				break
			}
			if ev.GetExecId() != "" || !s.events.listened() || s.events.announced(ev.GetContainerId(), runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT) {
				continue
			}
			s.exited(ctx, ev)
		}
	}
}

func (s *Server) exited(ctx context.Context, ev *supervisorv1.Envelope) {
	c, err := s.sup.ContainerService().Get(ctx, &supervisorv1.GetContainerRequest{Id: ev.GetContainerId()})
	if err != nil {
		return // removed meanwhile: its remover announced the STOPPED
	}
	r := record{c.GetContainer()}
	if r.kind() != kindSandbox && r.kind() != kindContainer || r.state() == stateCreating {
		return
	}
	unlock := s.locks.lock(r.id())
	defer unlock()
	s.announceStopped(ctx, r)
}
