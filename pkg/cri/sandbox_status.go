package cri

import (
	"context"
	"encoding/json"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// sandboxState is READY while the record says so and the pause process
// runs (a pause killed behind our back makes the pod not ready).
func (s *Server) sandboxState(ctx context.Context, r record) (runtimeapi.PodSandboxState, uint32) {
	if r.state() != stateReady {
		return runtimeapi.PodSandboxState_SANDBOX_NOTREADY, 0
	}
	t, err := s.sup.TaskService().Get(ctx, &supervisorv1.GetTaskRequest{ContainerId: r.id()})
	if err != nil || t.GetTask().GetStatus() != supervisorv1.TaskStatus_TASK_STATUS_RUNNING {
		return runtimeapi.PodSandboxState_SANDBOX_NOTREADY, 0
	}
	return runtimeapi.PodSandboxState_SANDBOX_READY, t.GetTask().GetPid()
}

// PodSandboxStatus reports a pod; verbose adds its pause pid and config.
func (s *Server) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	r, err := s.find(ctx, kindSandbox, req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	var cfg runtimeapi.PodSandboxConfig
	if err := r.decode(&cfg); err != nil {
		return nil, err
	}
	state, pid := s.sandboxState(ctx, r)
	st := &runtimeapi.PodSandboxStatus{
		Id: r.id(), Metadata: cfg.GetMetadata(), State: state, CreatedAt: r.createdAt(),
		Labels: cfg.GetLabels(), Annotations: cfg.GetAnnotations(),
		RuntimeHandler: r.c.GetRuntime().GetName(),
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{
			Options: cfg.GetLinux().GetSecurityContext().GetNamespaceOptions(),
		}},
	}
	if ips := r.label(labelIPs); ips != "" && state == runtimeapi.PodSandboxState_SANDBOX_READY {
		all := strings.Split(ips, ",")
		st.Network = &runtimeapi.PodSandboxNetworkStatus{Ip: all[0]}
		for _, ip := range all[1:] {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: st}
	if req.GetVerbose() {
		info, _ := json.Marshal(map[string]any{
			"pid": pid, "netns": r.label(labelNetns), "config": &cfg, "runtime": r.c.GetRuntime().GetName(),
		})
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

// ListPodSandbox lists the pods, filtered by ID (or its prefix), state and
// labels.
func (s *Server) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	rs, err := s.records(ctx, kindSandbox)
	if err != nil {
		return nil, err
	}
	f := req.GetFilter()
	resp := &runtimeapi.ListPodSandboxResponse{}
	for _, r := range rs {
		if r.state() == stateCreating || f.GetId() != "" && !strings.HasPrefix(r.id(), f.GetId()) {
			continue
		}
		var cfg runtimeapi.PodSandboxConfig
		if err := r.decode(&cfg); err != nil {
			s.log.Warn("cri: undecodable pod record", "id", r.id(), "err", err)
			continue
		}
		if !matchLabels(cfg.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		state, _ := s.sandboxState(ctx, r)
		if f.GetState() != nil && f.GetState().GetState() != state {
			continue
		}
		resp.Items = append(resp.Items, &runtimeapi.PodSandbox{
			Id: r.id(), Metadata: cfg.GetMetadata(), State: state, CreatedAt: r.createdAt(),
			Labels: cfg.GetLabels(), Annotations: cfg.GetAnnotations(), RuntimeHandler: r.c.GetRuntime().GetName(),
		})
	}
	return resp, nil
}

func matchLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// sandboxPid is the pause process's pid, for the pod's containers to join
// its namespaces; a pod that is not ready has none.
func (s *Server) sandboxPid(ctx context.Context, r record) (uint32, error) {
	state, pid := s.sandboxState(ctx, r)
	if state != runtimeapi.PodSandboxState_SANDBOX_READY || pid == 0 {
		return 0, errdefs.ErrFailedPrecondition
	}
	return pid, nil
}
