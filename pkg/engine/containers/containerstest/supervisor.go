// Package containerstest has an in-memory fake of the supervisor for unit
// tests of the engine and of ctl. Its "processes" understand a few commands
// (see run) instead of executing anything.
package containerstest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Supervisor implements containers.Supervisor in memory.
type Supervisor struct {
	mu         sync.Mutex
	Images     map[string]*client.Image
	Configs    map[string]*ocispec.Image // by config digest
	Containers map[string]*supervisorv1.Container
	Snapshots  map[string]string // key -> parent
	Tasks      map[string]*Task
}

// Task is a fake task.
type Task struct {
	id      string
	logPath string
	args    []string
	status  supervisorv1.TaskStatus
	pid     uint32
	exit    uint32
	exited  int64
	done    chan struct{}
	kill    chan uint32
	subs    []chan *supervisorv1.AttachTaskResponse
}

var _ containers.Supervisor = (*Supervisor)(nil)

// New returns a fake with busybox:latest.
func New() *Supervisor {
	s := &Supervisor{
		Images:     map[string]*client.Image{},
		Configs:    map[string]*ocispec.Image{},
		Containers: map[string]*supervisorv1.Container{},
		Snapshots:  map[string]string{},
		Tasks:      map[string]*Task{},
	}
	s.AddImage("docker.io/library/busybox:latest", "sha256:"+strings.Repeat("b", 64), &ocispec.Image{
		Config: ocispec.ImageConfig{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: []string{"sh"}},
	})
	return s
}

// AddImage registers an image.
func (s *Supervisor) AddImage(name, configDigest string, cfg *ocispec.Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Images[name] = &client.Image{Name: name, Config: &supervisorv1.Descriptor{Digest: configDigest}, ChainId: "sha256:chain-" + name, Target: &supervisorv1.Descriptor{Digest: "sha256:" + strings.Repeat("m", 64)}, Size: 1234}
	s.Configs[configDigest] = cfg
}

func (s *Supervisor) GetImage(_ context.Context, ref string) (*client.Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if img, ok := s.Images[ref]; ok {
		return img, nil
	}
	for _, img := range s.Images {
		if img.Config.Digest == ref || strings.HasPrefix(strings.TrimPrefix(img.Config.Digest, "sha256:"), ref) {
			return img, nil
		}
	}
	return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

func (s *Supervisor) ListImages(context.Context) ([]*client.Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*client.Image
	for _, img := range s.Images {
		out = append(out, img)
	}
	return out, nil
}

func (s *Supervisor) ImageConfig(_ context.Context, img *client.Image) (*ocispec.Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.Configs[img.Config.Digest]; ok {
		return c, nil
	}
	return nil, errdefs.ErrNotFound
}

// Import reads the archive as "name\n" lines: one image per line.
func (s *Supervisor) Import(_ context.Context, r io.Reader, _ string) ([]*client.Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(string(data), "IMAGES\n") {
		return nil, fmt.Errorf("unrecognised archive: %w", errdefs.ErrInvalidArgument)
	}
	var out []*client.Image
	for i, name := range strings.Fields(strings.TrimPrefix(string(data), "IMAGES\n")) {
		s.AddImage(name, fmt.Sprintf("sha256:%064d", i+1), &ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"sh"}}})
		out = append(out, s.Images[name])
	}
	return out, nil
}

func (s *Supervisor) DeleteImage(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.Images[name]; !ok {
		return fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
	}
	delete(s.Images, name)
	return nil
}

func (s *Supervisor) NewContainer(_ context.Context, id string, img *client.Image, spec []byte, runtime string, labels map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.Containers[id]; ok {
		return errdefs.ErrAlreadyExists
	}
	s.Snapshots[id] = img.ChainId
	s.Containers[id] = &supervisorv1.Container{Id: id, Image: img.Name, Spec: spec, SnapshotKey: id, Runtime: &supervisorv1.Runtime{Name: runtime}, Labels: labels}
	return nil
}

func (s *Supervisor) DeleteContainer(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.Tasks[id]; ok {
		return fmt.Errorf("container %s has a task: %w", id, errdefs.ErrFailedPrecondition)
	}
	if _, ok := s.Containers[id]; !ok {
		return errdefs.ErrNotFound
	}
	delete(s.Containers, id)
	delete(s.Snapshots, id)
	return nil
}

func (s *Supervisor) ListContainers(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.Containers {
		ids = append(ids, id)
	}
	return ids, nil
}

func (s *Supervisor) CreateTask(_ context.Context, id, logPath string, _ bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.Containers[id]
	if !ok {
		return errdefs.ErrNotFound
	}
	if _, ok := s.Tasks[id]; ok {
		return errdefs.ErrAlreadyExists
	}
	var spec specs.Spec
	if err := json.Unmarshal(c.Spec, &spec); err != nil {
		return err
	}
	s.Tasks[id] = &Task{id: id, logPath: logPath, args: spec.Process.Args, status: supervisorv1.TaskStatus_TASK_STATUS_CREATED, pid: 4242, done: make(chan struct{}), kill: make(chan uint32, 1)}
	return nil
}

func (s *Supervisor) task(id string) (*Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.Tasks[id]
	if !ok {
		return nil, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
	}
	return t, nil
}

func (s *Supervisor) StartTask(_ context.Context, id string) (*supervisorv1.Task, error) {
	t, err := s.task(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	t.status = supervisorv1.TaskStatus_TASK_STATUS_RUNNING
	s.mu.Unlock()
	go s.run(t)
	return &supervisorv1.Task{ContainerId: id, Pid: t.pid, Status: supervisorv1.TaskStatus_TASK_STATUS_RUNNING}, nil
}

// run interprets the process args:
//
//	echo WORDS...       prints WORDS on stdout, exits 0
//	fail CODE WORDS...  prints WORDS on stderr, exits CODE
//	sleep               runs until killed (exit 128+signal)
func (s *Supervisor) run(t *Task) {
	emit := func(stream string, line string) {
		f, err := os.OpenFile(t.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err == nil {
			b, _ := json.Marshal(map[string]string{"log": line, "stream": stream, "time": time.Now().UTC().Format(time.RFC3339Nano)})
			f.Write(append(b, '\n'))
			f.Close()
		}
		st := supervisorv1.AttachTaskResponse_STDOUT
		if stream == "stderr" {
			st = supervisorv1.AttachTaskResponse_STDERR
		}
		s.mu.Lock()
		for _, ch := range t.subs {
			ch <- &supervisorv1.AttachTaskResponse{Stream: st, Data: []byte(line)}
		}
		s.mu.Unlock()
	}
	var code uint32
	switch t.args[0] {
	case "echo":
		emit("stdout", strings.Join(t.args[1:], " ")+"\n")
	case "fail":
		n, _ := strconv.Atoi(t.args[1])
		code = uint32(n)
		emit("stderr", strings.Join(t.args[2:], " ")+"\n")
	case "sleep":
		code = 128 + <-t.kill
	default:
		emit("stderr", t.args[0]+": not found\n")
		code = 127
	}
	s.mu.Lock()
	t.status = supervisorv1.TaskStatus_TASK_STATUS_STOPPED
	t.exit = code
	t.exited = time.Now().UnixNano()
	for _, ch := range t.subs {
		close(ch)
	}
	t.subs = nil
	s.mu.Unlock()
	close(t.done)
}

func (s *Supervisor) GetTask(_ context.Context, id string) (*supervisorv1.Task, error) {
	t, err := s.task(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &supervisorv1.Task{ContainerId: id, Pid: t.pid, Status: t.status, ExitStatus: t.exit, ExitedAt: t.exited}, nil
}

func (s *Supervisor) KillTask(_ context.Context, id string, sig uint32) error {
	t, err := s.task(id)
	if err != nil {
		return err
	}
	select {
	case t.kill <- sig:
	default:
	}
	return nil
}

func (s *Supervisor) WaitTask(ctx context.Context, id string) (*supervisorv1.WaitTaskResponse, error) {
	t, err := s.task(id)
	if err != nil {
		return nil, err
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &supervisorv1.WaitTaskResponse{ExitStatus: t.exit, ExitedAt: t.exited}, nil
}

func (s *Supervisor) DeleteTask(_ context.Context, id string, force bool) error {
	t, err := s.task(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	running := t.status == supervisorv1.TaskStatus_TASK_STATUS_RUNNING
	s.mu.Unlock()
	if running && !force {
		return errdefs.ErrFailedPrecondition
	}
	if running {
		s.KillTask(context.Background(), id, 9)
		<-t.done
	}
	s.mu.Lock()
	delete(s.Tasks, id)
	s.mu.Unlock()
	return nil
}

type output struct {
	ch chan *supervisorv1.AttachTaskResponse
}

func (o output) Recv() (*supervisorv1.AttachTaskResponse, error) {
	m, ok := <-o.ch
	if !ok {
		return nil, io.EOF
	}
	return m, nil
}

func (s *Supervisor) AttachTask(_ context.Context, id string, stdout, stderr bool) (containers.Output, error) {
	t, err := s.task(id)
	if err != nil {
		return nil, err
	}
	ch := make(chan *supervisorv1.AttachTaskResponse, 100)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.status == supervisorv1.TaskStatus_TASK_STATUS_STOPPED {
		close(ch)
	} else {
		t.subs = append(t.subs, ch)
	}
	return output{ch}, nil
}

func (s *Supervisor) Server(context.Context) (*supervisorv1.ServerResponse, error) {
	return &supervisorv1.ServerResponse{Uuid: "fake", Snapshotter: "overlayfs", DefaultRuntime: "berth", Runtimes: []*supervisorv1.RuntimeInfo{{Name: "berth", Path: "/usr/bin/berth-runtime"}}}, nil
}

func (s *Supervisor) Version(context.Context) (*supervisorv1.VersionResponse, error) {
	return &supervisorv1.VersionResponse{Version: "fake"}, nil
}
