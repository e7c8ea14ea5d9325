package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// ctrState reads the container's state from its task: the shim keeps the
// exit status, also across supervisord's restarts.
func (s *Server) ctrState(ctx context.Context, r record) (runtimeapi.ContainerState, *supervisorv1.Task) {
	t, err := s.sup.TaskService().Get(ctx, &supervisorv1.GetTaskRequest{ContainerId: r.id()})
	if err != nil {
		return runtimeapi.ContainerState_CONTAINER_UNKNOWN, nil
	}
	switch t.GetTask().GetStatus() {
	case supervisorv1.TaskStatus_TASK_STATUS_CREATED:
		return runtimeapi.ContainerState_CONTAINER_CREATED, t.GetTask()
	case supervisorv1.TaskStatus_TASK_STATUS_RUNNING, supervisorv1.TaskStatus_TASK_STATUS_PAUSED:
		return runtimeapi.ContainerState_CONTAINER_RUNNING, t.GetTask()
	case supervisorv1.TaskStatus_TASK_STATUS_STOPPED:
		return runtimeapi.ContainerState_CONTAINER_EXITED, t.GetTask()
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN, t.GetTask()
}

// ContainerStatus reports a container; verbose adds its pid and config.
func (s *Server) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	r, err := s.find(ctx, kindContainer, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	var cfg runtimeapi.ContainerConfig
	if err := r.decode(&cfg); err != nil {
		return nil, err
	}
	state, t := s.ctrState(ctx, r)
	st := &runtimeapi.ContainerStatus{
		Id: r.id(), Metadata: cfg.GetMetadata(), State: state, CreatedAt: r.createdAt(),
		Image: &runtimeapi.ImageSpec{Image: r.label(labelImgRef), UserSpecifiedImage: cfg.GetImage().GetUserSpecifiedImage()}, ImageRef: r.label(labelImage), ImageId: r.label(labelImage),
		Labels: cfg.GetLabels(), Annotations: cfg.GetAnnotations(), Mounts: cfg.GetMounts(),
		LogPath: r.label(labelLogPath), StopSignal: cfg.GetStopSignal(),
		Resources: &runtimeapi.ContainerResources{Linux: cfg.GetLinux().GetResources()},
	}
	if t != nil {
		st.StartedAt = t.GetStartedAt()
		if state == runtimeapi.ContainerState_CONTAINER_EXITED {
			st.FinishedAt, st.ExitCode = t.GetExitedAt(), int32(t.GetExitStatus())
			switch {
			case t.GetOomKilled():
				st.Reason = "OOMKilled"
			case st.ExitCode == 0:
				st.Reason = "Completed"
			default:
				st.Reason = "Error"
			}
			if st.StartedAt == 0 {
				// Stopped before it started: it never ran.
				st.FinishedAt = 0
				st.Reason = "ContainerCannotRun"
			}
		}
	}
	var spec struct {
		Process struct {
			User struct {
				UID            int64   `json:"uid"`
				GID            int64   `json:"gid"`
				AdditionalGids []int64 `json:"additionalGids"`
			} `json:"user"`
		} `json:"process"`
	}
	if json.Unmarshal(r.c.GetSpec(), &spec) == nil {
		u := spec.Process.User
		st.User = &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{Uid: u.UID, Gid: u.GID, SupplementalGroups: u.AdditionalGids}}
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: st}
	if req.GetVerbose() {
		info, _ := json.Marshal(map[string]any{"pid": t.GetPid(), "sandboxID": r.sandboxID(), "config": &cfg, "runtime": r.c.GetRuntime().GetName()})
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

// ListContainers lists containers, filtered by ID (or prefix), pod, state
// and labels.
func (s *Server) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	rs, err := s.records(ctx, kindContainer)
	if err != nil {
		return nil, err
	}
	f := req.GetFilter()
	resp := &runtimeapi.ListContainersResponse{}
	for _, r := range rs {
		if r.state() == stateCreating ||
			f.GetId() != "" && !strings.HasPrefix(r.id(), f.GetId()) ||
			f.GetPodSandboxId() != "" && !strings.HasPrefix(r.sandboxID(), f.GetPodSandboxId()) {
			continue
		}
		var cfg runtimeapi.ContainerConfig
		if err := r.decode(&cfg); err != nil {
			s.log.Warn("cri: undecodable container record", "id", r.id(), "err", err)
			continue
		}
		if !matchLabels(cfg.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		state, _ := s.ctrState(ctx, r)
		if f.GetState() != nil && f.GetState().GetState() != state {
			continue
		}
		resp.Containers = append(resp.Containers, &runtimeapi.Container{
			Id: r.id(), PodSandboxId: r.sandboxID(), Metadata: cfg.GetMetadata(), State: state,
			Image: &runtimeapi.ImageSpec{Image: r.label(labelImgRef)}, ImageRef: r.label(labelImage), ImageId: r.label(labelImage),
			CreatedAt: r.createdAt(), Labels: cfg.GetLabels(), Annotations: cfg.GetAnnotations(),
		})
	}
	return resp, nil
}

// runningContainer finds a container that must be running (exec, attach,
// log reopening); any other state is FailedPrecondition.
func (s *Server) runningContainer(ctx context.Context, id string) (record, error) {
	r, err := s.find(ctx, kindContainer, id)
	if err != nil {
		return record{}, err
	}
	if state, _ := s.ctrState(ctx, r); state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return record{}, fmt.Errorf("container %s is not running: %w", r.id(), errdefs.ErrFailedPrecondition)
	}
	return r, nil
}
