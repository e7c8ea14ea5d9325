package cri

import (
	"context"
	"encoding/json"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// apiVersion is the CRI version served.
const apiVersion = "v1"

// Version reports the runtime's name and versions.
func (s *Server) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version:           "0.1.0",
		RuntimeName:       "berth",
		RuntimeVersion:    s.cfg.RuntimeVersion,
		RuntimeApiVersion: apiVersion,
	}, nil
}

// Status reports RuntimeReady from a call to the supervisor (the CRI's
// own process answering proves nothing about it).
func (s *Server) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	runtimeReady := &runtimeapi.RuntimeCondition{Type: runtimeapi.RuntimeReady, Status: true}
	if _, err := s.sup.IntrospectionService().Version(ctx, &supervisorv1.VersionRequest{}); err != nil {
		runtimeReady.Status, runtimeReady.Reason, runtimeReady.Message = false, "SupervisorUnreachable", err.Error()
	}
	networkReady := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	if err := s.networkStatus(); err != nil {
		networkReady.Status, networkReady.Reason, networkReady.Message = false, "NetworkPluginNotReady", err.Error()
	}
	resp := &runtimeapi.StatusResponse{
		Status:          &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{runtimeReady, networkReady}},
		RuntimeHandlers: s.statusHandlers(ctx),
		// supplemental_groups_policy Strict and Merge are applied (container_spec.go).
		Features: &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}
	if req.GetVerbose() {
		s.mu.Lock()
		cfg, _ := json.Marshal(map[string]any{"supervisor": s.cfg.Supervisor, "namespace": Namespace, "podCIDR": s.podCIDR})
		s.mu.Unlock()
		resp.Info = map[string]string{"config": string(cfg)}
	}
	return resp, nil
}

// RuntimeConfig reports the cgroup driver: cgroupfs (supervisord places
// cgroups under its own, never through systemd).
func (s *Server) RuntimeConfig(ctx context.Context, req *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: runtimeapi.CgroupDriver_CGROUPFS}}, nil
}

// UpdateRuntimeConfig records the node's pod CIDR, which the kubelet sends
// once it is known: pods made from then on get their addresses from it
// (the CNI ipRanges capability, cidr.go); Status (verbose) reports it.
func (s *Server) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	cidr := req.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	if cidr != "" {
		if _, _, err := parseCIDRs(cidr); err != nil {
			return nil, fmt.Errorf("runtime_config.network_config.pod_cidr %q: %v: %w", cidr, err, errdefs.ErrInvalidArgument)
		}
	}
	s.mu.Lock()
	s.podCIDR = cidr
	s.mu.Unlock()
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}
