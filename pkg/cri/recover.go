package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/grpc"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// recoverState undoes what a crash left half made, once the supervisor
// answers: records still "creating" (a RunPodSandbox or CreateContainer
// cut short) are removed with all they made, and network namespaces and
// pod directories no record names are released. Pods and containers that
// were made keep running: their shims outlived the crash.
func (s *Server) recoverState(ctx context.Context) error {
	if _, err := s.sup.IntrospectionService().Version(ctx, &supervisorv1.VersionRequest{}, grpc.WaitForReady(true)); err != nil {
		return fmt.Errorf("wait for the supervisor: %w", err)
	}
	ctrs, err := s.records(ctx, kindContainer)
	if err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	ctrKnown := map[string]bool{}
	for _, r := range ctrs {
		ctrKnown[r.id()] = true
		if r.state() == stateCreating {
			s.log.Info("cri: recovery: removing a container whose creation was cut short", "id", r.id())
			if err := s.removeContainer(ctx, r); err != nil {
				s.log.Warn("cri: recovery", "id", r.id(), "err", err)
			}
		}
	}
	pods, err := s.records(ctx, kindSandbox)
	if err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	known := map[string]bool{}
	for _, r := range pods {
		if r.state() == stateCreating {
			s.log.Info("cri: recovery: removing a pod whose creation was cut short", "id", r.id())
			if err := s.removeSandbox(ctx, r); err != nil {
				s.log.Warn("cri: recovery", "id", r.id(), "err", err)
				known[r.id()] = true
			}
			continue
		}
		known[r.id()] = true
	}
	// A crash before the record was written leaves files no record names
	// (and no CNI attachment: that comes after the record).
	for _, sub := range []string{"netns", "pods"} {
		ents, _ := os.ReadDir(filepath.Join(s.cfg.State, sub))
		for _, e := range ents {
			if known[e.Name()] {
				continue
			}
			s.log.Info("cri: recovery: removing an orphan", "what", sub, "id", e.Name())
			var err error
			if sub == "netns" {
				err = s.releaseOrphanNetns(e.Name())
			} else {
				err = s.removePodFiles(e.Name())
			}
			if err != nil {
				s.log.Warn("cri: recovery", "id", e.Name(), "err", err)
			}
		}
	}
	// Image volumes are made after the container's record: a directory
	// no record names is what a removal cut short left.
	ents, _ := os.ReadDir(filepath.Join(s.cfg.State, "containers"))
	for _, e := range ents {
		if !ctrKnown[e.Name()] {
			s.log.Info("cri: recovery: removing an orphan", "what", "containers", "id", e.Name())
			if err := s.unmountContainerDir(e.Name()); err != nil {
				s.log.Warn("cri: recovery", "id", e.Name(), "err", err)
			}
		}
	}
	s.log.Debug("cri: recovery done", "pods", len(known))
	return nil
}
