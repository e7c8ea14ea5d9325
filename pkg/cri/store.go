package cri

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Pods and containers are supervisor containers of the k8s.io namespace;
// what the CRI needs to know about them beyond the OCI spec lives in their
// labels, so it survives supervisord's restart in the supervisor's own
// store (one owner of container metadata), and every change of state is one
// Containers.Update of the labels.
const (
	labelKind    = "io.berth.cri.kind"    // "sandbox" or "container"
	labelConfig  = "io.berth.cri.config"  // the CRI config, protojson
	labelState   = "io.berth.cri.state"   // see the state* constants
	labelCreated = "io.berth.cri.created" // unix nanoseconds
	labelSandbox = "io.berth.cri.sandbox" // a container's pod
	labelNetns   = "io.berth.cri.netns"   // a pod's network namespace ("" on the host's)
	labelIPs     = "io.berth.cri.ips"     // a pod's IPs, comma separated
	labelLogPath = "io.berth.cri.logpath" // a container's log file
	labelImage   = "io.berth.cri.image"   // a container's image ID (config digest)
	labelImgRef  = "io.berth.cri.imageref"
	labelStarted = "io.berth.cri.started" // a container's start, unix nanoseconds

	kindSandbox   = "sandbox"
	kindContainer = "container"

	// stateCreating marks a record whose creation has not finished: what it
	// names may be half made, and recovery tears it down.
	stateCreating = "creating"
	stateReady    = "ready"    // a pod that runs
	stateNotReady = "notready" // a pod stopped (its network is torn down)
	stateCreated  = "created"  // a container whose task exists
)

// record is a supervisor container seen through the CRI's labels.
type record struct {
	c *supervisorv1.Container
}

func (r record) id() string            { return r.c.GetId() }
func (r record) label(k string) string { return r.c.GetLabels()[k] }
func (r record) kind() string          { return r.label(labelKind) }
func (r record) state() string         { return r.label(labelState) }
func (r record) sandboxID() string     { return r.label(labelSandbox) }
func (r record) createdAt() int64      { n, _ := strconv.ParseInt(r.label(labelCreated), 10, 64); return n }
func (r record) startedAt() int64      { n, _ := strconv.ParseInt(r.label(labelStarted), 10, 64); return n }
func (r record) decode(m proto.Message) error {
	if err := protojson.Unmarshal([]byte(r.label(labelConfig)), m); err != nil {
		return fmt.Errorf("record %s: CRI config: %w", r.id(), err)
	}
	return nil
}

func encodeConfig(m proto.Message) (string, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode CRI config: %w", err)
	}
	return string(b), nil
}

func nowLabel() string { return strconv.FormatInt(time.Now().UnixNano(), 10) }

// records lists every record of kind.
func (s *Server) records(ctx context.Context, kind string) ([]record, error) {
	l, err := s.sup.ContainerService().List(ctx, &supervisorv1.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []record
	for _, c := range l.GetContainers() {
		if r := (record{c}); r.kind() == kind {
			out = append(out, r)
		}
	}
	return out, nil
}

// find returns the record of kind whose ID is id or starts with it (crictl
// and people pass truncated IDs). A record still being created is not
// found: it is not there yet for the CRI.
func (s *Server) find(ctx context.Context, kind, id string) (record, error) {
	what := "pod sandbox"
	if kind == kindContainer {
		what = "container"
	}
	if id == "" {
		return record{}, fmt.Errorf("%s id is empty: %w", what, errdefs.ErrInvalidArgument)
	}
	if c, err := s.sup.ContainerService().Get(ctx, &supervisorv1.GetContainerRequest{Id: id}); err == nil {
		if r := (record{c.GetContainer()}); r.kind() == kind && r.state() != stateCreating {
			return r, nil
		}
		return record{}, fmt.Errorf("%s %q: %w", what, id, errdefs.ErrNotFound)
	} else if !errdefs.IsNotFound(err) {
		return record{}, err
	}
	rs, err := s.records(ctx, kind)
	if err != nil {
		return record{}, err
	}
	var match []record
	for _, r := range rs {
		if strings.HasPrefix(r.id(), id) && r.state() != stateCreating {
			match = append(match, r)
		}
	}
	switch len(match) {
	case 0:
		return record{}, fmt.Errorf("%s %q: %w", what, id, errdefs.ErrNotFound)
	case 1:
		return match[0], nil
	}
	return record{}, fmt.Errorf("%s id prefix %q is ambiguous: %w", what, id, errdefs.ErrInvalidArgument)
}

// setLabels merges labels into the record's (an empty value deletes one).
func (s *Server) setLabels(ctx context.Context, r record, labels map[string]string) (record, error) {
	merged := make(map[string]string, len(r.c.GetLabels())+len(labels))
	for k, v := range r.c.GetLabels() {
		merged[k] = v
	}
	for k, v := range labels {
		if v == "" {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	resp, err := s.sup.ContainerService().Update(ctx, &supervisorv1.UpdateContainerRequest{
		Container: &supervisorv1.Container{Id: r.id(), Labels: merged}, UpdateFields: []string{"labels"},
	})
	if err != nil {
		return r, fmt.Errorf("update %s: %w", r.id(), err)
	}
	return record{resp.GetContainer()}, nil
}

// locks serialises the lifecycle calls on one pod or container (the
// kubelet and critest call them concurrently on different objects).
type locks struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	mu   sync.Mutex
	refs int
}

func (l *locks) lock(id string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*lockEntry{}
	}
	e := l.m[id]
	if e == nil {
		e = &lockEntry{}
		l.m[id] = e
	}
	e.refs++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}
