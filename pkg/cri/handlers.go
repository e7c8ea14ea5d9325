package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go/features"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// A runtime handler is one of supervisord's runtimes ("" its default).
// What each can do is asked of the runtime itself, as the OCI defines it:
// `RUNTIME features` (runtime-spec features JSON). A runtime that has no
// such command can do none of the optional things.

type handlerFeatures struct {
	recursiveReadOnly bool // the "rro" mount option
}

type handlers struct {
	mu     sync.Mutex
	loaded bool
	def    string
	by     map[string]handlerFeatures
}

// runtimeHandlers reads supervisord's runtimes and their features, once
// they can be read.
func (s *Server) runtimeHandlers(ctx context.Context) (map[string]handlerFeatures, string, error) {
	h := &s.handlers
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.loaded {
		return h.by, h.def, nil
	}
	resp, err := s.sup.IntrospectionService().Server(ctx, &supervisorv1.ServerRequest{})
	if err != nil {
		return nil, "", fmt.Errorf("runtimes of supervisord: %w", err)
	}
	by := map[string]handlerFeatures{}
	for _, r := range resp.GetRuntimes() {
		by[r.GetName()] = runtimeFeatures(ctx, r.GetPath(), r.GetArgs())
	}
	h.loaded, h.def, h.by = true, resp.GetDefaultRuntime(), by
	return by, h.def, nil
}

func runtimeFeatures(ctx context.Context, path string, args []string) handlerFeatures {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, append(slices.Clone(args), "features")...).Output()
	if err != nil {
		return handlerFeatures{}
	}
	var f features.Features
	if json.Unmarshal(out, &f) != nil {
		return handlerFeatures{}
	}
	return handlerFeatures{recursiveReadOnly: slices.Contains(f.MountOptions, "rro")}
}

// handlerFeatures of the handler name ("" the default runtime).
func (s *Server) handlerFeatures(ctx context.Context, name string) (handlerFeatures, error) {
	by, def, err := s.runtimeHandlers(ctx)
	if err != nil {
		return handlerFeatures{}, err
	}
	if name == "" {
		name = def
	}
	f, ok := by[name]
	if !ok {
		return handlerFeatures{}, fmt.Errorf("runtime_handler %q: supervisord has no such runtime: %w", name, errdefs.ErrNotFound)
	}
	return f, nil
}

// statusHandlers are Status's runtime handlers: the default ("") and each
// runtime by name.
func (s *Server) statusHandlers(ctx context.Context) []*runtimeapi.RuntimeHandler {
	by, def, err := s.runtimeHandlers(ctx)
	if err != nil {
		return []*runtimeapi.RuntimeHandler{{Name: "", Features: &runtimeapi.RuntimeHandlerFeatures{}}}
	}
	names := []string{""}
	for n := range by {
		names = append(names, n)
	}
	slices.Sort(names[1:])
	out := make([]*runtimeapi.RuntimeHandler, 0, len(names))
	for _, n := range names {
		f := by[n]
		if n == "" {
			f = by[def]
		}
		// User namespaces are refused (namespace_options.userns_options).
		out = append(out, &runtimeapi.RuntimeHandler{Name: n, Features: &runtimeapi.RuntimeHandlerFeatures{
			RecursiveReadOnlyMounts: f.recursiveReadOnly,
		}})
	}
	return out
}

// checkHandlerMounts refuses a recursive read-only mount on a runtime
// that cannot make one (a plain read-only bind would leave the mounts
// below it writable).
func (s *Server) checkHandlerMounts(ctx context.Context, handler string, cfg *runtimeapi.ContainerConfig) error {
	for i, m := range cfg.GetMounts() {
		if !m.GetRecursiveReadOnly() {
			continue
		}
		f, err := s.handlerFeatures(ctx, handler)
		if err != nil {
			return err
		}
		if !f.recursiveReadOnly {
			return unsupportedf(fmt.Sprintf("mounts[%d].recursive_read_only", i), "runtime handler %q has no recursive read-only mounts", handler)
		}
	}
	return nil
}
