package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// A container of a pod is a supervisor container on a snapshot of its
// image, whose task is created at CreateContainer (the CRI's CREATED
// state is the runtime's created one) with its log in the CRI format at
// the pod's log directory joined with the container's log path; the
// shim writes it, so it is written while supervisord is down.

func ctrName(md *runtimeapi.ContainerMetadata) string {
	return fmt.Sprintf("%s_%d", md.GetName(), md.GetAttempt())
}

// CreateContainer makes a container in a ready pod.
func (s *Server) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (_ *runtimeapi.CreateContainerResponse, retErr error) {
	cfg := req.GetConfig()
	if cfg == nil {
		return nil, invalidf("config", "missing")
	}
	if err := validateContainer(cfg); err != nil {
		return nil, err
	}
	sb, err := s.find(ctx, kindSandbox, req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	pausePid, err := s.sandboxPid(ctx, sb)
	if err != nil {
		return nil, fmt.Errorf("pod sandbox %s is not ready: %w", sb.id(), errdefs.ErrFailedPrecondition)
	}
	var pod runtimeapi.PodSandboxConfig
	if err := sb.decode(&pod); err != nil {
		return nil, err
	}
	if err := s.checkHandlerMounts(ctx, sb.c.GetRuntime().GetName(), cfg); err != nil {
		return nil, err
	}
	imgs, err := s.findImage(ctx, cfg.GetImage().GetImage())
	if err != nil {
		return nil, fmt.Errorf("image.image: %w", err)
	}
	img := imgs[0]
	imgCfg, err := s.sup.ImageConfig(ctx, img)
	if err != nil {
		return nil, err
	}
	in := ctrSpecInput{
		cfg: cfg, pod: &pod, podID: sb.id(), netnsPath: sb.label(labelNetns), pausePid: pausePid,
		image: &imgCfg.Config, podDir: s.podDir(sb.id()),
	}
	if ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions(); ns.GetPid() == runtimeapi.NamespaceMode_TARGET {
		if in.targetPid, err = s.targetPid(ctx, sb.id(), ns.GetTargetId()); err != nil {
			return nil, err
		}
	}
	chains, err := s.resolveImageVolumes(ctx, cfg)
	if err != nil {
		return nil, err
	}
	conf, err := encodeConfig(cfg)
	if err != nil {
		return nil, err
	}
	logPath := ""
	if cfg.GetLogPath() != "" {
		if pod.GetLogDirectory() == "" {
			return nil, invalidf("log_path", "the pod has no log_directory")
		}
		logPath = filepath.Join(pod.GetLogDirectory(), cfg.GetLogPath())
	}

	id := newID()
	in.id = id
	in.imageVolumes = map[int]string{}
	for i := range chains {
		in.imageVolumes[i] = s.imageVolumeSource(id, i)
	}
	unlockNames := s.names.lock("container-names/" + sb.id())
	defer func() {
		if unlockNames != nil {
			unlockNames()
		}
	}()
	cs, err := s.podContainers(ctx, sb.id())
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		var other runtimeapi.ContainerConfig
		if c.decode(&other) == nil && ctrName(other.GetMetadata()) == ctrName(cfg.GetMetadata()) {
			return nil, fmt.Errorf("container name %q is taken in pod %s by %s: %w", ctrName(cfg.GetMetadata()), sb.id(), c.id(), errdefs.ErrAlreadyExists)
		}
	}
	// The snapshot first: the user is looked up in its /etc/passwd.
	if _, err := s.sup.SnapshotService().Prepare(ctx, &supervisorv1.PrepareSnapshotRequest{Key: id, Parent: img.GetChainId()}); err != nil {
		return nil, fmt.Errorf("prepare rootfs of %s: %w", id, err)
	}
	created := false
	defer func() {
		if retErr != nil && !created {
			s.sup.SnapshotService().Remove(context.WithoutCancel(ctx), &supervisorv1.RemoveSnapshotRequest{Key: id})
		}
	}()
	in.passwd = s.readSnapshotFile(ctx, id, "/etc/passwd")
	in.group = s.readSnapshotFile(ctx, id, "/etc/group")
	spec, err := containerSpec(in)
	if err != nil {
		return nil, err
	}
	c, err := s.sup.ContainerService().Create(ctx, &supervisorv1.CreateContainerRequest{Container: &supervisorv1.Container{
		Id: id, Image: img.GetName(), Spec: spec, SnapshotKey: id, Runtime: sb.c.GetRuntime(),
		Labels: map[string]string{
			labelKind: kindContainer, labelConfig: conf, labelState: stateCreating, labelCreated: nowLabel(),
			labelSandbox: sb.id(), labelLogPath: logPath, labelImage: img.GetConfig().GetDigest(),
			labelImgRef: cfg.GetImage().GetImage(),
		},
	}})
	if err != nil {
		return nil, fmt.Errorf("container record: %w", err)
	}
	created = true // removeContainer removes the snapshot with the record
	unlockNames()
	unlockNames = nil
	r := record{c.GetContainer()}
	defer func() {
		if retErr != nil {
			if err := s.removeContainer(context.WithoutCancel(ctx), r); err != nil {
				s.log.Warn("cri: undo a failed CreateContainer", "id", id, "err", err)
			}
		}
	}()
	if err := s.mountImageVolumes(ctx, id, cfg, chains); err != nil {
		return nil, err
	}
	if logPath != "" {
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return nil, fmt.Errorf("log_path: %w", err)
		}
	}
	if _, err := s.sup.TaskService().Create(ctx, &supervisorv1.CreateTaskRequest{
		ContainerId: id, LogPath: logPath, LogFormat: "cri", Stdin: cfg.GetStdin(), Terminal: cfg.GetTty(),
	}); err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	if _, err := s.setLabels(ctx, r, map[string]string{labelState: stateCreated}); err != nil {
		return nil, err
	}
	s.announce(ctx, id, sb.id(), runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

// readSnapshotFile is nil when the file cannot be read (an image without
// /etc/passwd is fine: numeric users need none).
func (s *Server) readSnapshotFile(ctx context.Context, key, path string) []byte {
	resp, err := s.sup.SnapshotService().ReadFile(ctx, &supervisorv1.ReadSnapshotFileRequest{Key: key, Path: path, MaxBytes: 1 << 20})
	if err != nil {
		return nil
	}
	return resp.GetData()
}

// targetPid is the pid of a running container of the same pod, whose PID
// namespace a container asking for TARGET joins.
func (s *Server) targetPid(ctx context.Context, podID, target string) (uint32, error) {
	const f = "linux.security_context.namespace_options.target_id"
	r, err := s.find(ctx, kindContainer, target)
	if err != nil {
		return 0, invalidf(f, "%v", err)
	}
	if r.sandboxID() != podID {
		return 0, invalidf(f, "container %s is in another pod", target)
	}
	t, err := s.sup.TaskService().Get(ctx, &supervisorv1.GetTaskRequest{ContainerId: r.id()})
	if err != nil || t.GetTask().GetStatus() != supervisorv1.TaskStatus_TASK_STATUS_RUNNING {
		return 0, fmt.Errorf("%s: container %s is not running: %w", f, target, errdefs.ErrFailedPrecondition)
	}
	return t.GetTask().GetPid(), nil
}

// StartContainer starts a created container.
func (s *Server) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	r, err := s.find(ctx, kindContainer, req.GetContainerId())
	if err != nil {
		return nil, err
	}
	unlock := s.locks.lock(r.id())
	defer unlock()
	t, err := s.sup.TaskService().Get(ctx, &supervisorv1.GetTaskRequest{ContainerId: r.id()})
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", r.id(), err)
	}
	if st := t.GetTask().GetStatus(); st != supervisorv1.TaskStatus_TASK_STATUS_CREATED {
		return nil, fmt.Errorf("container %s is %s, not created: %w", r.id(), strings.ToLower(strings.TrimPrefix(st.String(), "TASK_STATUS_")), errdefs.ErrFailedPrecondition)
	}
	if _, err := s.sup.TaskService().Start(ctx, &supervisorv1.StartTaskRequest{ContainerId: r.id()}); err != nil {
		return nil, fmt.Errorf("start container %s: %w", r.id(), err)
	}
	if _, err := s.setLabels(ctx, r, map[string]string{labelStarted: nowLabel()}); err != nil {
		return nil, err
	}
	s.announce(ctx, r.id(), r.sandboxID(), runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)
	return &runtimeapi.StartContainerResponse{}, nil
}

// StopContainer signals the container's stop signal (its config's, else
// SIGTERM) and SIGKILLs it after timeout seconds. Stopping a stopped or
// removed container is not an error.
func (s *Server) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	r, err := s.find(ctx, kindContainer, req.GetContainerId())
	if errdefs.IsNotFound(err) {
		return &runtimeapi.StopContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	var cfg runtimeapi.ContainerConfig
	if err := r.decode(&cfg); err != nil {
		return nil, err
	}
	sig := syscall.SIGTERM
	if v := cfg.GetStopSignal(); v != runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		sig = stopSignalNumber(v)
	}
	if err := s.stopTask(ctx, r.id(), sig, req.GetTimeout()); err != nil {
		return nil, fmt.Errorf("stop container %s: %w", r.id(), err)
	}
	s.announceStopped(ctx, r)
	return &runtimeapi.StopContainerResponse{}, nil
}

// RemoveContainer stops and removes a container and its snapshot (its log
// file stays: the kubelet owns the log directory). Removing a removed
// container is not an error.
func (s *Server) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	r, err := s.find(ctx, kindContainer, req.GetContainerId())
	if errdefs.IsNotFound(err) {
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	unlock := s.locks.lock(r.id())
	defer unlock()
	if err := s.removeContainer(ctx, r); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func (s *Server) removeContainer(ctx context.Context, r record) error {
	if err := s.stopTask(ctx, r.id(), syscall.SIGKILL, 0); err != nil {
		return fmt.Errorf("remove container %s: %w", r.id(), err)
	}
	announced := r.state() != stateCreating // a CreateContainer undone announced nothing
	if announced {
		s.announceStopped(ctx, r)
	}
	if err := s.deleteTask(ctx, r.id()); err != nil {
		return err
	}
	var cfg runtimeapi.ContainerConfig
	if err := r.decode(&cfg); err != nil {
		return err
	}
	if err := s.removeImageVolumes(ctx, r.id(), &cfg); err != nil {
		return err
	}
	_, err := s.sup.ContainerService().Delete(ctx, &supervisorv1.DeleteContainerRequest{Id: r.id()})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", r.id(), err)
	}
	if announced {
		s.announce(ctx, r.id(), r.sandboxID(), runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT)
	}
	return nil
}

// stopSignalNumber maps the CRI's signal names (SIGNAL_SIGTERM) to
// numbers; an unknown one is SIGTERM.
func stopSignalNumber(v runtimeapi.Signal) syscall.Signal {
	if n := unix.SignalNum(strings.TrimPrefix(v.String(), "SIGNAL_")); n != 0 {
		return n
	}
	return syscall.SIGTERM
}
