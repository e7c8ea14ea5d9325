package containers

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/errdefs"
)

// eventLog keeps the recent events (for ?since=) and fans new ones out to
// the subscribers of /events.
type eventLog struct {
	mu   sync.Mutex
	ring []events.Message
	subs map[chan events.Message]struct{}
}

const eventRing = 1024

func (l *eventLog) publish(m events.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) == eventRing {
		copy(l.ring, l.ring[1:])
		l.ring = l.ring[:eventRing-1]
	}
	l.ring = append(l.ring, m)
	for ch := range l.subs {
		select {
		case ch <- m:
		default: // a subscriber that does not read loses events, never blocks us
		}
	}
}

// SubscribeEvents returns the recorded events and a channel of the new ones;
// cancel ends the subscription.
func (d *Daemon) SubscribeEvents() (past []events.Message, ch <-chan events.Message, cancel func()) {
	l := &d.events
	c := make(chan events.Message, 256)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.subs == nil {
		l.subs = map[chan events.Message]struct{}{}
	}
	l.subs[c] = struct{}{}
	past = append(past, l.ring...)
	return past, c, func() {
		l.mu.Lock()
		delete(l.subs, c)
		l.mu.Unlock()
	}
}

// emit records a container event with docker's attributes (name, image,
// labels, plus extra).
func (d *Daemon) emit(c *Container, action events.Action, extra map[string]string) {
	c.mu.Lock()
	attrs := map[string]string{"name": strings.TrimPrefix(c.Name, "/"), "image": c.ImageName}
	if c.Config != nil {
		for k, v := range c.Config.Labels {
			attrs[k] = v
		}
	}
	id := c.ID
	c.mu.Unlock()
	for k, v := range extra {
		attrs[k] = v
	}
	now := time.Now()
	d.events.publish(events.Message{
		Type: events.ContainerEventType, Action: action, Scope: "local",
		Actor: events.Actor{ID: id, Attributes: attrs},
		Time:  now.Unix(), TimeNano: now.UnixNano(),
	})
}

// EmitImage records an image event as dockerd's image store shapes it:
// the actor is id (the image's ID, or the reference pulled or pushed),
// "name" is name, and the image's labels are added while it exists (img;
// nil for one deleted).
func (d *Daemon) EmitImage(ctx context.Context, action events.Action, id, name string, img *client.Image) {
	attrs := map[string]string{}
	if img != nil {
		if cfg, err := d.sup.DockerImageConfig(ctx, img); err == nil {
			maps.Copy(attrs, cfg.Config.Labels)
		}
	}
	if name != "" {
		attrs["name"] = name
	}
	d.publishEvent(events.ImageEventType, action, id, attrs)
}

// EmitPrune records the prune of a type's objects (image, builder), with
// what it freed, as dockerd does: an event without an actor ID.
func (d *Daemon) EmitPrune(t events.Type, reclaimed uint64) {
	d.publishEvent(t, events.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(reclaimed, 10)})
}

func (d *Daemon) publishEvent(t events.Type, action events.Action, id string, attrs map[string]string) {
	now := time.Now()
	d.events.publish(events.Message{
		Type: t, Action: action, Scope: "local",
		Actor: events.Actor{ID: id, Attributes: attrs},
		Time:  now.Unix(), TimeNano: now.UnixNano(),
	})
}

// watchSupervisorEvents turns the supervisor's task events that only it
// sees (OOM kills) into container events; the other container events are
// the engine's own doing and emitted where they happen.
func (d *Daemon) watchSupervisorEvents() {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for first := true; d.ctx.Err() == nil; {
			st, err := d.sup.Subscribe(d.ctx, "/tasks/oom")
			if err == nil {
				if !first {
					// Back after a break (supervisord restarted): a start
					// it cut short may have left a task.
					d.dropStaleTasks(d.ctx)
				}
				first = false
				for {
					env, rerr := st.Recv()
					if rerr != nil {
						err = rerr
						break
					}
					if c, gerr := d.Get(env.GetContainerId()); gerr == nil {
						d.emit(c, events.ActionOOM, nil)
					}
				}
			}
			if d.ctx.Err() != nil {
				return
			}
			// Unimplemented: this supervisor has no events; nothing to wait for.
			if errdefs.IsNotImplemented(err) {
				return
			}
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
}

// EventListeners is the number of /events subscribers.
func (d *Daemon) EventListeners() int {
	d.events.mu.Lock()
	defer d.events.mu.Unlock()
	return len(d.events.subs)
}
