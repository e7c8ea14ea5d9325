package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/sysinfo"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Stats are read by the shim from the container's cgroup (Tasks.Metrics)
// and by the snapshotter for the writable layer (Snapshots.Usage).

func u64(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }

// ctrStats of a container; a container without a running task has no
// cgroup: only its attributes and writable layer.
func (s *Server) ctrStats(ctx context.Context, r record) (*runtimeapi.ContainerStats, error) {
	var cfg runtimeapi.ContainerConfig
	if err := r.decode(&cfg); err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	st := &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{Id: r.id(), Metadata: cfg.GetMetadata(), Labels: cfg.GetLabels(), Annotations: cfg.GetAnnotations()},
		Cpu:        &runtimeapi.CpuUsage{Timestamp: now, UsageCoreNanoSeconds: u64(0)},
		Memory:     &runtimeapi.MemoryUsage{Timestamp: now, WorkingSetBytes: u64(0)},
	}
	if state, _ := s.ctrState(ctx, r); state == runtimeapi.ContainerState_CONTAINER_RUNNING {
		m, err := s.sup.TaskService().Metrics(ctx, &supervisorv1.MetricsRequest{ContainerId: r.id()})
		if err == nil {
			st.Cpu = &runtimeapi.CpuUsage{Timestamp: m.GetReadAt(), UsageCoreNanoSeconds: u64(m.GetCpuUsageNs())}
			ws := m.GetMemoryUsage()
			if ws > m.GetMemoryCache() {
				ws -= m.GetMemoryCache() // the kubelet's working set: usage less inactive cache
			}
			st.Memory = &runtimeapi.MemoryUsage{Timestamp: m.GetReadAt(), WorkingSetBytes: u64(ws), UsageBytes: u64(m.GetMemoryUsage())}
			if lim := m.GetMemoryLimit(); lim > 0 && lim < 1<<62 && lim > m.GetMemoryUsage() {
				st.Memory.AvailableBytes = u64(lim - ws)
			}
		}
	}
	if u, err := s.sup.SnapshotService().Usage(ctx, &supervisorv1.UsageRequest{Key: r.c.GetSnapshotKey()}); err == nil {
		st.WritableLayer = &runtimeapi.FilesystemUsage{
			Timestamp: now, FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: filepath.Join(s.cfg.SupervisorRoot, "snapshots")},
			UsedBytes: u64(uint64(u.GetSize())), InodesUsed: u64(uint64(u.GetInodes())),
		}
	}
	return st, nil
}

// ContainerStats reports one container's usage.
func (s *Server) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	r, err := s.find(ctx, kindContainer, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	st, err := s.ctrStats(ctx, r)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: st}, nil
}

// ListContainerStats reports the usage of the containers the filter
// selects.
func (s *Server) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	f := req.GetFilter()
	l, err := s.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		Id: f.GetId(), PodSandboxId: f.GetPodSandboxId(), LabelSelector: f.GetLabelSelector(),
	}})
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListContainerStatsResponse{}
	for _, c := range l.GetContainers() {
		r, err := s.find(ctx, kindContainer, c.GetId())
		if err != nil {
			continue // removed meanwhile
		}
		st, err := s.ctrStats(ctx, r)
		if err != nil {
			return nil, err
		}
		resp.Stats = append(resp.Stats, st)
	}
	return resp, nil
}

// podStats sums the pod's containers (and its pause) and counts its
// processes.
func (s *Server) podStats(ctx context.Context, r record) (*runtimeapi.PodSandboxStats, error) {
	var cfg runtimeapi.PodSandboxConfig
	if err := r.decode(&cfg); err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	lin := &runtimeapi.LinuxPodSandboxStats{
		Cpu:     &runtimeapi.CpuUsage{Timestamp: now, UsageCoreNanoSeconds: u64(0)},
		Memory:  &runtimeapi.MemoryUsage{Timestamp: now, WorkingSetBytes: u64(0)},
		Process: &runtimeapi.ProcessUsage{Timestamp: now, ProcessCount: u64(0)},
	}
	add := func(id string) {
		m, err := s.sup.TaskService().Metrics(ctx, &supervisorv1.MetricsRequest{ContainerId: id})
		if err != nil {
			return
		}
		lin.Cpu.UsageCoreNanoSeconds.Value += m.GetCpuUsageNs()
		lin.Memory.WorkingSetBytes.Value += m.GetMemoryUsage() - min(m.GetMemoryCache(), m.GetMemoryUsage())
		lin.Process.ProcessCount.Value += m.GetPidsCurrent()
	}
	if state, _ := s.sandboxState(ctx, r); state == runtimeapi.PodSandboxState_SANDBOX_READY {
		add(r.id())
	}
	cs, err := s.podContainers(ctx, r.id())
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.state() == stateCreating {
			continue
		}
		st, err := s.ctrStats(ctx, c)
		if err != nil {
			return nil, err
		}
		if state, _ := s.ctrState(ctx, c); state == runtimeapi.ContainerState_CONTAINER_RUNNING {
			add(c.id())
		}
		lin.Containers = append(lin.Containers, st)
	}
	return &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{Id: r.id(), Metadata: cfg.GetMetadata(), Labels: cfg.GetLabels(), Annotations: cfg.GetAnnotations()},
		Linux:      lin,
	}, nil
}

// PodSandboxStats reports one pod's usage.
func (s *Server) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	r, err := s.find(ctx, kindSandbox, req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	st, err := s.podStats(ctx, r)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: st}, nil
}

// ListPodSandboxStats reports the usage of the pods the filter selects.
func (s *Server) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	f := req.GetFilter()
	l, err := s.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{Id: f.GetId(), LabelSelector: f.GetLabelSelector()}})
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListPodSandboxStatsResponse{}
	for _, p := range l.GetItems() {
		r, err := s.find(ctx, kindSandbox, p.GetId())
		if err != nil {
			continue
		}
		st, err := s.podStats(ctx, r)
		if err != nil {
			return nil, err
		}
		resp.Stats = append(resp.Stats, st)
	}
	return resp, nil
}

// UpdateContainerResources changes a container's limits: the running
// task's cgroup (through its shim) and the stored spec, for a later
// start. Windows resources are refused.
func (s *Server) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	if req.GetWindows() != nil {
		return nil, unsupportedf("windows", "this is a Linux runtime")
	}
	if len(req.GetAnnotations()) > 0 {
		return nil, unsupportedf("annotations", "resource annotations are not supported")
	}
	lr := req.GetLinux()
	if lr == nil {
		return &runtimeapi.UpdateContainerResourcesResponse{}, nil
	}
	if len(lr.GetUnified()) > 0 && !sysinfo.CgroupV2() {
		return nil, unsupportedf("linux.unified", "cgroup v2 only; this host has cgroup v1")
	}
	r, err := s.find(ctx, kindContainer, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	unlock := s.locks.lock(r.id())
	defer unlock()
	res := resources(lr)
	res.Devices = nil // the device rules do not change
	if state, _ := s.ctrState(ctx, r); state == runtimeapi.ContainerState_CONTAINER_RUNNING || state == runtimeapi.ContainerState_CONTAINER_CREATED {
		b, _ := json.Marshal(res)
		if _, err := s.sup.TaskService().Update(ctx, &supervisorv1.UpdateTaskRequest{ContainerId: r.id(), Resources: b}); err != nil {
			return nil, fmt.Errorf("update container %s: %w", r.id(), err)
		}
	} else if state == runtimeapi.ContainerState_CONTAINER_EXITED {
		return nil, fmt.Errorf("container %s has exited: %w", r.id(), errdefs.ErrFailedPrecondition)
	}
	var spec specs.Spec
	if err := json.Unmarshal(r.c.GetSpec(), &spec); err != nil || spec.Linux == nil {
		return nil, fmt.Errorf("container %s: spec: %v: %w", r.id(), err, errdefs.ErrFailedPrecondition)
	}
	devices := spec.Linux.Resources.Devices
	spec.Linux.Resources = res
	spec.Linux.Resources.Devices = devices
	if lr.GetOomScoreAdj() != 0 {
		spec.Process.OOMScoreAdj = clampOOMScoreAdj(int(lr.GetOomScoreAdj()))
	}
	b, _ := json.Marshal(&spec)
	if _, err := s.sup.ContainerService().Update(ctx, &supervisorv1.UpdateContainerRequest{Container: &supervisorv1.Container{Id: r.id(), Spec: b}, UpdateFields: []string{"spec"}}); err != nil {
		return nil, fmt.Errorf("update container %s: %w", r.id(), err)
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

// CheckpointContainer is refused: berth's runtime has no CRIU support.
func (s *Server) CheckpointContainer(ctx context.Context, req *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	return nil, unsupportedf("CheckpointContainer", "checkpointing is not supported (the runtime has no CRIU support)")
}

// ReopenContainerLog has the container's shim reopen its log file, after
// the kubelet moved it away to rotate it. The container must be running.
func (s *Server) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	r, err := s.runningContainer(ctx, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if _, err := s.sup.TaskService().ReopenLog(ctx, &supervisorv1.ReopenLogRequest{ContainerId: r.id()}); err != nil {
		return nil, fmt.Errorf("reopen log of %s: %w", r.id(), err)
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}
