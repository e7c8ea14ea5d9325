package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/sysinfo"
)

// UpdatePodSandboxResources records a pod's new pod-level overhead and
// resources. The CRI calls it after the kubelet has resized the pod's
// cgroup (the cgroup parent), which every cgroup of the pod is below
// (cgroupsPath): the limits hold from then on, and the pod's config keeps
// what they are (PodSandboxStatus verbose reports it), as it keeps what
// RunPodSandbox was given. A pod without a cgroup parent has no pod-level
// cgroup (its containers' cgroups are siblings below supervisord's), so
// nothing would hold pod-level limits: refused by name, as are cgroup v2
// `unified` resources on a cgroup v1 host.
func (s *Server) UpdatePodSandboxResources(ctx context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	if !sysinfo.CgroupV2() {
		if len(req.GetOverhead().GetUnified()) > 0 {
			return nil, unsupportedf("overhead.unified", "cgroup v2 only; this host has cgroup v1")
		}
		if len(req.GetResources().GetUnified()) > 0 {
			return nil, unsupportedf("resources.unified", "cgroup v2 only; this host has cgroup v1")
		}
	}
	r, err := s.find(ctx, kindSandbox, req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	unlock := s.locks.lock(r.id())
	defer unlock()
	// Read again under the lock: a concurrent call may have changed it.
	if r, err = s.find(ctx, kindSandbox, r.id()); err != nil {
		return nil, err
	}
	if req.GetOverhead() == nil && req.GetResources() == nil {
		return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
	}
	var cfg runtimeapi.PodSandboxConfig
	if err := r.decode(&cfg); err != nil {
		return nil, err
	}
	if p, _ := cgroupsPath(cfg.GetLinux().GetCgroupParent(), r.id()); p == "berth-cri/"+r.id() {
		field := "resources"
		if req.GetResources() == nil {
			field = "overhead"
		}
		return nil, fmt.Errorf("%s: pod %s has no cgroup parent (linux.cgroup_parent), so no pod-level cgroup to hold pod-level limits: %w",
			field, r.id(), errdefs.ErrFailedPrecondition)
	}
	if cfg.Linux == nil {
		cfg.Linux = &runtimeapi.LinuxPodSandboxConfig{}
	}
	// Absent means unchanged, as in UpdateContainerResources.
	if req.GetOverhead() != nil {
		cfg.Linux.Overhead = req.GetOverhead()
	}
	if req.GetResources() != nil {
		cfg.Linux.Resources = req.GetResources()
	}
	conf, err := encodeConfig(&cfg)
	if err != nil {
		return nil, err
	}
	if _, err := s.setLabels(ctx, r, map[string]string{labelConfig: conf}); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}
