package cri

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
	"github.com/berthd/berth/pkg/netns"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// A pod sandbox is a supervisor container running the pause process (see
// sandbox_spec.go) plus what the CRI server makes around it, all named by
// the pod's ID: the network namespace <state>/netns/<id> with its CNI
// attachment, and <state>/pods/<id> holding the files the pod's containers
// mount (hostname, hosts, resolv.conf) and the pod's /dev/shm tmpfs.

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) netnsPath(id string) string { return filepath.Join(s.cfg.State, "netns", id) }
func (s *Server) podDir(id string) string    { return filepath.Join(s.cfg.State, "pods", id) }

func podName(md *runtimeapi.PodSandboxMetadata) string {
	return fmt.Sprintf("%s_%s_%s_%d", md.GetName(), md.GetNamespace(), md.GetUid(), md.GetAttempt())
}

// RunPodSandbox makes and starts a pod. Whatever fails on the way undoes
// all that was made; a crash on the way is undone at the next start
// (the record stays in the "creating" state until the pod runs).
func (s *Server) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (_ *runtimeapi.RunPodSandboxResponse, retErr error) {
	cfg := req.GetConfig()
	if cfg == nil {
		return nil, invalidf("config", "missing")
	}
	if err := validateSandbox(cfg); err != nil {
		return nil, err
	}
	id := newID()
	hostNet := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() == runtimeapi.NamespaceMode_NODE
	netnsPath := ""
	if !hostNet {
		netnsPath = s.netnsPath(id)
	}
	spec, err := s.sandboxSpec(id, netnsPath, cfg)
	if err != nil {
		return nil, err
	}
	conf, err := encodeConfig(cfg)
	if err != nil {
		return nil, err
	}

	// The name is reserved by the record itself: checking and creating
	// under one lock keeps two pods from taking it.
	unlockNames := s.names.lock("sandbox-names")
	rs, err := s.records(ctx, kindSandbox)
	if err != nil {
		unlockNames()
		return nil, err
	}
	name := podName(cfg.GetMetadata())
	for _, r := range rs {
		var other runtimeapi.PodSandboxConfig
		if r.decode(&other) == nil && podName(other.GetMetadata()) == name {
			unlockNames()
			return nil, fmt.Errorf("pod sandbox name %q is taken by %s: %w", name, r.id(), errdefs.ErrAlreadyExists)
		}
	}
	if _, err := s.sup.SnapshotService().Prepare(ctx, &supervisorv1.PrepareSnapshotRequest{Key: id}); err != nil {
		unlockNames()
		return nil, fmt.Errorf("pod rootfs: %w", err)
	}
	c, err := s.sup.ContainerService().Create(ctx, &supervisorv1.CreateContainerRequest{Container: &supervisorv1.Container{
		Id: id, Spec: spec, SnapshotKey: id, Runtime: &supervisorv1.Runtime{Name: req.GetRuntimeHandler()},
		Labels: map[string]string{
			labelKind: kindSandbox, labelConfig: conf, labelState: stateCreating,
			labelCreated: nowLabel(), labelNetns: netnsPath,
		},
	}})
	unlockNames()
	if err != nil {
		s.sup.SnapshotService().Remove(context.WithoutCancel(ctx), &supervisorv1.RemoveSnapshotRequest{Key: id})
		return nil, fmt.Errorf("pod record: %w", err)
	}
	r := record{c.GetContainer()}
	defer func() {
		if retErr != nil {
			if err := s.removeSandbox(context.WithoutCancel(ctx), r); err != nil {
				s.log.Warn("cri: undo a failed RunPodSandbox", "id", id, "err", err)
			}
		}
	}()
	if err := s.makePodFiles(id, cfg); err != nil {
		return nil, err
	}
	var ips []string
	if !hostNet {
		if err := os.MkdirAll(filepath.Dir(netnsPath), 0o711); err != nil {
			return nil, fmt.Errorf("pod %s: %w", id, err)
		}
		if err := netns.Create(netnsPath, nil); err != nil {
			return nil, fmt.Errorf("pod %s: %w", id, err)
		}
		if ips, err = s.setupNetwork(ctx, id, netnsPath, cfg); err != nil {
			return nil, err
		}
	}
	failpoint.Hit("cri-pod-network-set-up")
	if _, err := s.sup.TaskService().Create(ctx, &supervisorv1.CreateTaskRequest{ContainerId: id}); err != nil {
		return nil, fmt.Errorf("pod %s: pause container: %w", id, err)
	}
	if _, err := s.sup.TaskService().Start(ctx, &supervisorv1.StartTaskRequest{ContainerId: id}); err != nil {
		return nil, fmt.Errorf("pod %s: pause container: %w", id, err)
	}
	if _, err := s.setLabels(ctx, r, map[string]string{labelState: stateReady, labelIPs: strings.Join(ips, ",")}); err != nil {
		return nil, err
	}
	s.announce(ctx, id, id, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	s.announce(ctx, id, id, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

// makePodFiles writes the pod's hostname, hosts and resolv.conf, and
// mounts its /dev/shm (a tmpfs the containers bind, unless the pod uses
// the host's IPC and so the host's /dev/shm).
func (s *Server) makePodFiles(id string, cfg *runtimeapi.PodSandboxConfig) error {
	dir := s.podDir(id)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("pod %s: %w", id, err)
	}
	hostHosts, _ := os.ReadFile("/etc/hosts")
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	hostname, hosts, resolv, err := podFiles(cfg, hostHosts, hostResolv)
	if err != nil {
		return err
	}
	if hostname == nil {
		hn, _ := os.Hostname()
		hostname = []byte(hn + "\n")
	}
	for name, data := range map[string][]byte{"hostname": hostname, "hosts": hosts, "resolv.conf": resolv} {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("pod %s: %w", id, err)
		}
	}
	if cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetIpc() == runtimeapi.NamespaceMode_NODE {
		return nil
	}
	shm := filepath.Join(dir, "shm")
	if err := os.MkdirAll(shm, 0o1777); err != nil {
		return fmt.Errorf("pod %s: %w", id, err)
	}
	if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("pod %s: mount /dev/shm: %w", id, err)
	}
	return nil
}

func (s *Server) removePodFiles(id string) error {
	dir := s.podDir(id)
	if err := unmountAll(filepath.Join(dir, "shm")); err != nil {
		return fmt.Errorf("pod %s: %w", id, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("pod %s: %w", id, err)
	}
	return nil
}

// StopPodSandbox stops the pod's containers and its pause process and
// releases its network (CNI DEL, the namespace). Stopping a pod that is
// stopped or gone is not an error.
func (s *Server) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	r, err := s.find(ctx, kindSandbox, req.GetPodSandboxId())
	if errdefs.IsNotFound(err) {
		return &runtimeapi.StopPodSandboxResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	unlock := s.locks.lock(r.id())
	defer unlock()
	if err := s.stopSandbox(ctx, r); err != nil {
		return nil, err
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (s *Server) stopSandbox(ctx context.Context, r record) error {
	cs, err := s.podContainers(ctx, r.id())
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := s.stopTask(ctx, c.id(), syscall.SIGKILL, 0); err != nil {
			return fmt.Errorf("stop container %s of pod %s: %w", c.id(), r.id(), err)
		}
		if c.state() != stateCreating {
			s.announceStopped(ctx, c)
		}
	}
	if err := s.stopTask(ctx, r.id(), syscall.SIGKILL, 0); err != nil {
		return fmt.Errorf("stop pod %s: %w", r.id(), err)
	}
	s.announceStopped(ctx, r)
	if err := s.releaseNetwork(ctx, r); err != nil {
		return err
	}
	if r.state() != stateNotReady {
		if _, err := s.setLabels(ctx, r, map[string]string{labelState: stateNotReady}); err != nil {
			return err
		}
	}
	return nil
}

// releaseNetwork runs CNI DEL and removes the pod's network namespace;
// both are idempotent (DEL of what is gone succeeds).
func (s *Server) releaseNetwork(ctx context.Context, r record) error {
	p := r.label(labelNetns)
	if p == "" {
		return nil
	}
	var cfg runtimeapi.PodSandboxConfig
	if err := r.decode(&cfg); err != nil {
		return err
	}
	if netns.Held(p) || r.state() != stateNotReady {
		if err := s.teardownNetwork(ctx, r.id(), p, &cfg); err != nil {
			return err
		}
	}
	return netns.Remove(p)
}

func (s *Server) releaseOrphanNetns(id string) error { return netns.Remove(s.netnsPath(id)) }

// stopTask stops a container's process: sig, then SIGKILL after timeout
// seconds (at once when 0). A task that is not there or has exited is
// stopped already.
func (s *Server) stopTask(ctx context.Context, id string, sig syscall.Signal, timeout int64) error {
	ts := s.sup.TaskService()
	t, err := ts.Get(ctx, &supervisorv1.GetTaskRequest{ContainerId: id})
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	switch t.GetTask().GetStatus() {
	case supervisorv1.TaskStatus_TASK_STATUS_STOPPED:
		return nil
	case supervisorv1.TaskStatus_TASK_STATUS_CREATED:
		// Never started: nothing runs, the task is deleted so that the
		// container reports an exit (CRI: a created container that is
		// stopped is exited).
		_, err := ts.Kill(ctx, &supervisorv1.KillTaskRequest{ContainerId: id, Signal: uint32(syscall.SIGKILL), All: true})
		if err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
			return err
		}
		return s.waitTask(ctx, id, 10*time.Second)
	}
	if timeout > 0 && sig != syscall.SIGKILL {
		if _, err := ts.Kill(ctx, &supervisorv1.KillTaskRequest{ContainerId: id, Signal: uint32(sig)}); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
			return err
		}
		if s.waitTask(ctx, id, time.Duration(timeout)*time.Second) == nil {
			return nil
		}
	}
	if _, err := ts.Kill(ctx, &supervisorv1.KillTaskRequest{ContainerId: id, Signal: uint32(syscall.SIGKILL), All: true}); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		return err
	}
	return s.waitTask(ctx, id, 30*time.Second)
}

func (s *Server) waitTask(ctx context.Context, id string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	_, err := s.sup.TaskService().Wait(ctx, &supervisorv1.WaitTaskRequest{ContainerId: id})
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// RemovePodSandbox removes a pod and everything it made: its containers,
// its pause container, network, files and snapshots. A pod that is gone
// is removed already.
func (s *Server) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	r, err := s.find(ctx, kindSandbox, req.GetPodSandboxId())
	if errdefs.IsNotFound(err) {
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	unlock := s.locks.lock(r.id())
	defer unlock()
	if err := s.removeSandbox(ctx, r); err != nil {
		return nil, err
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

// removeSandbox is RunPodSandbox undone, whatever part of it was done.
func (s *Server) removeSandbox(ctx context.Context, r record) error {
	cs, err := s.podContainers(ctx, r.id())
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := s.removeContainer(ctx, c); err != nil {
			return err
		}
	}
	if err := s.stopTask(ctx, r.id(), syscall.SIGKILL, 0); err != nil {
		return err
	}
	announced := r.state() != stateCreating // a RunPodSandbox undone announced nothing
	if announced {
		s.announceStopped(ctx, r)
	}
	if err := s.deleteTask(ctx, r.id()); err != nil {
		return err
	}
	if err := s.releaseNetwork(ctx, r); err != nil {
		return err
	}
	if err := s.removePodFiles(r.id()); err != nil {
		return err
	}
	if _, err := s.sup.ContainerService().Delete(ctx, &supervisorv1.DeleteContainerRequest{Id: r.id()}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove pod %s: %w", r.id(), err)
	}
	if announced {
		s.announce(ctx, r.id(), r.id(), runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT)
	}
	return nil
}

func (s *Server) deleteTask(ctx context.Context, id string) error {
	_, err := s.sup.TaskService().Delete(ctx, &supervisorv1.DeleteTaskRequest{ContainerId: id, Force: true})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	return nil
}

// podContainers are the records of the containers of pod id.
func (s *Server) podContainers(ctx context.Context, id string) ([]record, error) {
	rs, err := s.records(ctx, kindContainer)
	if err != nil {
		return nil, err
	}
	var out []record
	for _, r := range rs {
		if r.sandboxID() == id {
			out = append(out, r)
		}
	}
	return out, nil
}
