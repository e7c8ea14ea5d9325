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
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"

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
	files      map[string]map[string][]byte // snapshot key -> path -> data
	fileReads  int
	signals    map[string][]uint32 // task id -> the signals its init was sent
	// TaskLogs are the log settings of the last task created per container.
	TaskLogs map[string]containers.TaskLog
	// Healthchecks are the images' HEALTHCHECKs, by config digest.
	Healthchecks map[string]*container.HealthConfig
	// Execs are the process specs of the execs, in order.
	Execs []*specs.Process
	// ExportFiles are tars ExportPath returns, by path (any container).
	ExportFiles map[string][]byte
	// Extracted are the archives ExtractToContainerDir was given, by path.
	Extracted map[string]*supervisorv1.ExtractToDirRequest
	// InitPid is the pid reported for tasks' init processes (4242 if 0);
	// a test that runs ps on the host sets a real one.
	InitPid      uint32
	scripts      map[string][]ExecScript
	scriptRuns   map[string]int
	eventSubs    []chan *supervisorv1.Envelope
	created      chan struct{} // closed and replaced by each CreateTask
	nextPid      uint32
	metricsCalls uint64
	// UpdateErr, when set, is what UpdateTask answers (a runtime that
	// refuses the limits).
	UpdateErr error
	// NewContainerErr, when set, is what NewContainer answers after making
	// the container and its snapshot (a supervisor that died before its
	// answer).
	NewContainerErr error
	// CreateTaskErr, when set, is what CreateTask answers (a runtime whose
	// create fails).
	CreateTaskErr error
	// ImportErr, when set, is what Import answers (an archive the
	// supervisor refuses).
	ImportErr       error
	importPlatforms [][]ocispec.Platform // see ImportPlatforms
	// OnStartTask, when set, runs inside StartTask before the task's
	// process starts (what a client does while a start is under way).
	OnStartTask func()
	// OnCreateTask, when set, runs at CreateTask's beginning, outside the
	// lock (a create that takes its time).
	OnCreateTask func()
	createTasks  int
}

// Task is a fake task: its init process "" and its execs.
type Task struct {
	id     string
	log    containers.TaskLog
	procs  map[string]*proc
	paused bool
	// Resources are the live limits the task was last updated with.
	Resources *specs.LinuxResources
}

// proc is a fake process.
type proc struct {
	args          []string
	stdin         bool
	tty           bool
	status        supervisorv1.TaskStatus
	pid           uint32
	exit          uint32
	exited        int64
	started       int64 // Unix ns
	done          chan struct{}
	kill          chan uint32
	subs          []chan *supervisorv1.AttachTaskResponse
	input         chan []byte // stdin data; closed at stdin's EOF
	inputClosed   bool
	width, height uint32
}

func newProc(args []string, stdin, tty bool, pid uint32) *proc {
	return &proc{args: args, stdin: stdin, tty: tty, pid: pid, status: supervisorv1.TaskStatus_TASK_STATUS_CREATED,
		done: make(chan struct{}), kill: make(chan uint32, 8), input: make(chan []byte, 64)}
}

var _ containers.Supervisor = (*Supervisor)(nil)

// ExportPath writes the archive recorded in ExportFiles for the path, or
// fails NotFound.
func (s *Supervisor) ExportPath(_ context.Context, id, path string, w io.Writer) error {
	s.mu.Lock()
	data, ok := s.ExportFiles[path]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("export %s of %s: %w", path, id, errdefs.ErrNotFound)
	}
	_, err := w.Write(data)
	return err
}

// New returns a fake with busybox:latest.
func New() *Supervisor {
	s := &Supervisor{
		Images:     map[string]*client.Image{},
		Configs:    map[string]*ocispec.Image{},
		Containers: map[string]*supervisorv1.Container{},
		Snapshots:  map[string]string{},
		Tasks:      map[string]*Task{},
		TaskLogs:   map[string]containers.TaskLog{},
		created:    make(chan struct{}),
	}
	s.Healthchecks = map[string]*container.HealthConfig{}
	s.scripts = map[string][]ExecScript{}
	s.scriptRuns = map[string]int{}
	s.AddImage("docker.io/library/busybox:latest", "sha256:"+strings.Repeat("b", 64), &ocispec.Image{
		Config: ocispec.ImageConfig{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: []string{"sh"}},
	})
	s.SetFile("sha256:chain-docker.io/library/busybox:latest", "/etc/passwd", []byte(BusyboxPasswd))
	s.SetFile("sha256:chain-docker.io/library/busybox:latest", "/etc/group", []byte(BusyboxGroup))
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

func (s *Supervisor) DockerImageConfig(ctx context.Context, img *client.Image) (*dockerspec.DockerOCIImage, error) {
	c, err := s.ImageConfig(ctx, img)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &dockerspec.DockerOCIImage{Image: *c}
	d.Image.Config = ocispec.ImageConfig{}
	d.Config.ImageConfig = c.Config
	d.Config.Healthcheck = s.Healthchecks[img.Config.Digest]
	return d, nil
}

// SetImageHealthcheck gives the image with this config digest a HEALTHCHECK.
func (s *Supervisor) SetImageHealthcheck(configDigest string, hc *container.HealthConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Healthchecks[configDigest] = hc
}

// ExecScript is what an exec process does (see ScriptExec).
type ExecScript struct {
	Code   int    // exit code
	Output string // written to stdout before the exit
	Hang   bool   // runs until killed instead (exit 128+signal)
}

// ScriptExec makes the exec processes whose args, joined by spaces, are
// cmd behave as rs (a health check's probe, say): the first such exec as
// rs[0], the next as rs[1]..., the last one again and again. A later call
// replaces the script.
func (s *Supervisor) ScriptExec(cmd string, rs ...ExecScript) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[cmd] = rs
	s.scriptRuns[cmd] = 0
}

// ScriptRuns counts the execs that ran cmd's script since it was set.
func (s *Supervisor) ScriptRuns(cmd string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scriptRuns[cmd]
}

// ExecSpecs returns the process specs of the execs made so far, in order.
func (s *Supervisor) ExecSpecs() []*specs.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*specs.Process(nil), s.Execs...)
}

// LiveExecs counts the exec processes of the task not deleted yet.
func (s *Supervisor) LiveExecs(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.Tasks[id]
	if !ok {
		return 0
	}
	n := 0
	for execID := range t.procs {
		if execID != "" {
			n++
		}
	}
	return n
}

// Import reads a docker-archive (the `docker save` format): each image of
// its manifest.json is registered under its first tag, with its config.
// Layers are not unpacked: the fake has no filesystems. The platforms are
// recorded (ImportPlatforms), not checked; ImportErr, when set, is the
// answer, after the archive is read.
func (s *Supervisor) Import(_ context.Context, r io.Reader, _ string, platforms ...ocispec.Platform) ([]*client.Image, error) {
	s.mu.Lock()
	s.importPlatforms = append(s.importPlatforms, platforms)
	refuse := s.ImportErr
	s.mu.Unlock()
	imgs, err := readDockerArchive(r)
	if err == nil {
		err = refuse
	}
	if err != nil {
		return nil, err
	}
	var out []*client.Image
	for _, img := range imgs {
		s.AddImage(img.name, img.configDigest, img.config)
		s.mu.Lock()
		out = append(out, s.Images[img.name])
		s.mu.Unlock()
	}
	return out, nil
}

// ImportPlatforms are the platforms of each Import call, in order.
func (s *Supervisor) ImportPlatforms() [][]ocispec.Platform {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.importPlatforms)
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
	return s.NewContainerErr
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

func (s *Supervisor) CreateTask(_ context.Context, id string, log containers.TaskLog, tty, stdin bool) error {
	s.mu.Lock()
	hook := s.OnCreateTask
	s.createTasks++
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.CreateTaskErr != nil {
		return s.CreateTaskErr
	}
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
	pid := s.InitPid
	if pid == 0 {
		pid = 4242
	}
	s.TaskLogs[id] = log
	s.Tasks[id] = &Task{id: id, log: log, procs: map[string]*proc{"": newProc(spec.Process.Args, stdin, tty, pid)}}
	close(s.created)
	s.created = make(chan struct{})
	return nil
}

func (s *Supervisor) proc(id, execID string) (*Task, *proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.Tasks[id]
	if !ok {
		return nil, nil, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
	}
	p, ok := t.procs[execID]
	if !ok {
		return nil, nil, fmt.Errorf("process %s/%s: %w", id, execID, errdefs.ErrNotFound)
	}
	return t, p, nil
}

func (s *Supervisor) StartTask(ctx context.Context, id string) (*supervisorv1.Task, error) {
	pid, err := s.StartProcess(ctx, id, "")
	if err != nil {
		return nil, err
	}
	return &supervisorv1.Task{ContainerId: id, Pid: pid, Status: supervisorv1.TaskStatus_TASK_STATUS_RUNNING}, nil
}

func (s *Supervisor) StartProcess(_ context.Context, id, execID string) (uint32, error) {
	t, p, err := s.proc(id, execID)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	hook := s.OnStartTask
	s.mu.Unlock()
	if hook != nil && execID == "" {
		hook()
	}
	s.mu.Lock()
	p.status = supervisorv1.TaskStatus_TASK_STATUS_RUNNING
	p.started = time.Now().UnixNano()
	s.mu.Unlock()
	go s.run(t, p, execID == "")
	return p.pid, nil
}

// run interprets the process args as busybox would run them, for the
// few commands the engine's tests use:
//
//	echo WORDS... [>&2] prints WORDS on stdout (stderr), exits 0
//	fail CODE WORDS...  prints WORDS on stderr, exits CODE
//	sleep [SECONDS]     exits 0 after SECONDS, or runs until killed
//	cat                 copies stdin to stdout until its EOF, exits 0
//	sh -c 'CMD; CMD'    runs those commands, and `exit N`, in turn
//
// A signal ends a process with 128+signal, except that an init process
// (the task's own, not an exec) ignores all but SIGKILL, as the kernel
// does for a pid namespace's init that set no handler. A tty's output
// has its newlines turned into CR LF, as the pty's line discipline does.
// An exec whose command line was scripted (ScriptExec) does as told. When
// the init process exits, the task's execs are killed, as the kernel does
// to the processes of a pid namespace whose init died.
func (s *Supervisor) run(t *Task, p *proc, logged bool) {
	emit := func(stream string, line string) {
		if p.tty {
			line = strings.ReplaceAll(line, "\n", "\r\n")
		}
		if logged && t.log.Path != "" {
			os.MkdirAll(filepath.Dir(t.log.Path), 0o700)
			f, err := os.OpenFile(t.log.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err == nil {
				b, _ := json.Marshal(map[string]any{"log": line, "stream": stream, "attrs": t.log.Attrs, "time": time.Now().UTC().Format(time.RFC3339Nano)})
				f.Write(append(b, '\n'))
				f.Close()
			}
		}
		st := supervisorv1.AttachTaskResponse_STDOUT
		if stream == "stderr" {
			st = supervisorv1.AttachTaskResponse_STDERR
		}
		s.mu.Lock()
		for _, ch := range p.subs {
			ch <- &supervisorv1.AttachTaskResponse{Stream: st, Data: []byte(line)}
		}
		s.mu.Unlock()
	}
	var code uint32
	var script ExecScript
	s.mu.Lock()
	cmd := strings.Join(p.args, " ")
	seq := s.scripts[cmd]
	scripted := len(seq) > 0 && !logged
	if scripted {
		script = seq[0]
		if len(seq) > 1 {
			s.scripts[cmd] = seq[1:]
		}
		s.scriptRuns[cmd]++
	}
	s.mu.Unlock()
	switch {
	case scripted:
		if script.Output != "" {
			emit("stdout", script.Output)
		}
		code = uint32(script.Code)
		if script.Hang {
			code = 128 + <-p.kill
		}
	default:
		code = s.interpret(p, logged, emit)
	}
	s.mu.Lock()
	p.status = supervisorv1.TaskStatus_TASK_STATUS_STOPPED
	p.exit = code
	p.exited = time.Now().UnixNano()
	for _, ch := range p.subs {
		close(ch)
	}
	p.subs = nil
	var execs []*proc
	if logged {
		for execID, q := range t.procs {
			if execID != "" {
				execs = append(execs, q)
			}
		}
	}
	s.mu.Unlock()
	close(p.done)
	for _, q := range execs {
		select {
		case q.kill <- 9:
		default:
		}
	}
}

// interpret runs the fake commands of run; init tells whether p is the
// task's init process.
func (s *Supervisor) interpret(p *proc, init bool, emit func(stream, line string)) uint32 {
	if len(p.args) == 3 && path.Base(p.args[0]) == "sh" && p.args[1] == "-c" {
		var code uint32
		for _, c := range strings.Split(p.args[2], ";") {
			args := strings.Fields(c)
			if len(args) == 0 {
				continue
			}
			if args[0] == "exit" {
				n := 0
				if len(args) > 1 {
					n, _ = strconv.Atoi(args[1])
				}
				return uint32(n)
			}
			if code = s.command(p, args, init, emit); code > 128 {
				return code // killed
			}
		}
		return code
	}
	return s.command(p, p.args, init, emit)
}

// command runs one fake command.
func (s *Supervisor) command(p *proc, args []string, init bool, emit func(stream, line string)) uint32 {
	switch path.Base(args[0]) {
	case "echo":
		stream := "stdout"
		if n := len(args); n > 1 && args[n-1] == ">&2" {
			stream, args = "stderr", args[:n-1]
		}
		emit(stream, strings.Join(args[1:], " ")+"\n")
		return 0
	case "fail":
		n, _ := strconv.Atoi(args[1])
		emit("stderr", strings.Join(args[2:], " ")+"\n")
		return uint32(n)
	case "sleep":
		var timeout <-chan time.Time
		if len(args) > 1 {
			if sec, err := strconv.ParseFloat(args[1], 64); err == nil {
				timeout = time.After(time.Duration(sec * float64(time.Second)))
			}
		}
		for {
			select {
			case <-timeout:
				return 0
			case sig := <-p.kill:
				if !init || sig == 9 {
					return 128 + sig
				}
			}
		}
	case "cat":
		for {
			select {
			case data, ok := <-p.input:
				if !ok {
					return 0
				}
				emit("stdout", string(data))
			case sig := <-p.kill:
				if !init || sig == 9 {
					return 128 + sig
				}
			}
		}
	default:
		emit("stderr", args[0]+": not found\n")
		return 127
	}
}

func (s *Supervisor) GetTask(_ context.Context, id string) (*supervisorv1.Task, error) {
	t, p, err := s.proc(id, "")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := p.status
	if t.paused && st == supervisorv1.TaskStatus_TASK_STATUS_RUNNING {
		st = supervisorv1.TaskStatus_TASK_STATUS_PAUSED
	}
	return &supervisorv1.Task{ContainerId: id, Pid: p.pid, Status: st, ExitStatus: p.exit, ExitedAt: p.exited}, nil
}

func (s *Supervisor) KillTask(ctx context.Context, id string, sig uint32) error {
	if err := s.KillProcess(ctx, id, "", sig); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.signals == nil {
		s.signals = map[string][]uint32{}
	}
	s.signals[id] = append(s.signals[id], sig)
	return nil
}

// Signals are the signals the task id's init process was sent, in turn.
func (s *Supervisor) Signals(id string) []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.signals[id])
}

func (s *Supervisor) KillProcess(_ context.Context, id, execID string, sig uint32) error {
	_, p, err := s.proc(id, execID)
	if err != nil {
		return err
	}
	select {
	case p.kill <- sig:
	default:
	}
	return nil
}

func (s *Supervisor) WaitTask(ctx context.Context, id string) (*supervisorv1.WaitTaskResponse, error) {
	return s.WaitProcess(ctx, id, "")
}

func (s *Supervisor) WaitProcess(ctx context.Context, id, execID string) (*supervisorv1.WaitTaskResponse, error) {
	_, p, err := s.proc(id, execID)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &supervisorv1.WaitTaskResponse{ExitStatus: p.exit, ExitedAt: p.exited}, nil
}

func (s *Supervisor) DeleteTask(_ context.Context, id string, force bool) error {
	_, p, err := s.proc(id, "")
	if err != nil {
		return err
	}
	s.mu.Lock()
	running := p.status == supervisorv1.TaskStatus_TASK_STATUS_RUNNING
	s.mu.Unlock()
	if running && !force {
		return errdefs.ErrFailedPrecondition
	}
	if running {
		s.KillTask(context.Background(), id, 9)
		<-p.done
	}
	s.mu.Lock()
	delete(s.Tasks, id)
	s.mu.Unlock()
	return nil
}

func (s *Supervisor) DeleteProcess(_ context.Context, id, execID string) error {
	if execID == "" {
		return s.DeleteTask(context.Background(), id, false)
	}
	t, p, err := s.proc(id, execID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.status == supervisorv1.TaskStatus_TASK_STATUS_RUNNING {
		return errdefs.ErrFailedPrecondition
	}
	delete(t.procs, execID)
	return nil
}

// output ends with its context, as a gRPC stream does.
type output struct {
	ctx context.Context
	ch  chan *supervisorv1.AttachTaskResponse
}

func (o output) Recv() (*supervisorv1.AttachTaskResponse, error) {
	select {
	case m, ok := <-o.ch:
		if !ok {
			return nil, io.EOF
		}
		return m, nil
	case <-o.ctx.Done():
		return nil, o.ctx.Err()
	}
}

func (s *Supervisor) AttachTask(ctx context.Context, id string, stdout, stderr bool) (containers.Output, error) {
	return s.AttachProcess(ctx, id, "", stdout, stderr)
}

// SetOnStartTask sets OnStartTask under the lock.
func (s *Supervisor) SetOnStartTask(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.OnStartTask = f
}

// SetOnCreateTask sets OnCreateTask under the lock.
func (s *Supervisor) SetOnCreateTask(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.OnCreateTask = f
}

// CreateTasks counts the CreateTask calls so far.
func (s *Supervisor) CreateTasks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createTasks
}

// HasContainer reports whether the supervisor holds container id.
func (s *Supervisor) HasContainer(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.Containers[id]
	return ok
}

// TaskStatus is the status of the container's task's init, ok false when
// it has no task.
func (s *Supervisor) TaskStatus(id string) (st supervisorv1.TaskStatus, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.Tasks[id]
	if !ok {
		return st, false
	}
	return t.procs[""].status, true
}

// SetCreateTaskErr sets CreateTaskErr under the lock.
func (s *Supervisor) SetCreateTaskErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.CreateTaskErr = err
}

// AttachCreatingTask waits for the task to be created, then attaches.
func (s *Supervisor) AttachCreatingTask(ctx context.Context, id string, stdout, stderr bool) (containers.Output, error) {
	for {
		s.mu.Lock()
		_, ok := s.Tasks[id]
		created := s.created
		s.mu.Unlock()
		if ok {
			return s.AttachProcess(ctx, id, "", stdout, stderr)
		}
		select {
		case <-created:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *Supervisor) AttachProcess(ctx context.Context, id, execID string, stdout, stderr bool) (containers.Output, error) {
	_, p, err := s.proc(id, execID)
	if err != nil {
		return nil, err
	}
	ch := make(chan *supervisorv1.AttachTaskResponse, 100)
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.status == supervisorv1.TaskStatus_TASK_STATUS_STOPPED {
		close(ch)
	} else {
		p.subs = append(p.subs, ch)
	}
	return output{ctx: ctx, ch: ch}, nil
}

func (s *Supervisor) ExecProcess(_ context.Context, id, execID string, spec []byte, stdin, tty bool) error {
	var p specs.Process
	if err := json.Unmarshal(spec, &p); err != nil {
		return fmt.Errorf("exec spec: %w", errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.Tasks[id]
	if !ok {
		return errdefs.ErrNotFound
	}
	if _, ok := t.procs[execID]; ok {
		return errdefs.ErrAlreadyExists
	}
	s.nextPid++
	t.procs[execID] = newProc(p.Args, stdin, tty, 5000+s.nextPid)
	s.Execs = append(s.Execs, &p)
	return nil
}

type fakeStdin struct {
	s *Supervisor
	p *proc
}

func (f fakeStdin) Write(b []byte) (int, error) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if f.p.inputClosed {
		return 0, fmt.Errorf("stdin closed: %w", errdefs.ErrFailedPrecondition)
	}
	f.p.input <- append([]byte(nil), b...)
	return len(b), nil
}

func (f fakeStdin) Close() error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if !f.p.inputClosed {
		f.p.inputClosed = true
		close(f.p.input)
	}
	return nil
}

func (f fakeStdin) Detach() error { return nil }

func (s *Supervisor) OpenStdin(_ context.Context, id, execID string) (containers.Stdin, error) {
	_, p, err := s.proc(id, execID)
	if err != nil {
		return nil, err
	}
	if !p.stdin {
		return nil, fmt.Errorf("process has no stdin: %w", errdefs.ErrFailedPrecondition)
	}
	return fakeStdin{s: s, p: p}, nil
}

func (s *Supervisor) ResizePty(_ context.Context, id, execID string, width, height uint32) error {
	_, p, err := s.proc(id, execID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !p.tty {
		return fmt.Errorf("no pty: %w", errdefs.ErrFailedPrecondition)
	}
	p.width, p.height = width, height
	return nil
}

// Size returns the pty size last set on a process.
func (s *Supervisor) Size(id, execID string) (width, height uint32) {
	_, p, err := s.proc(id, execID)
	if err != nil {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return p.width, p.height
}

func (s *Supervisor) setPaused(id string, paused bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.Tasks[id]
	if !ok {
		return errdefs.ErrNotFound
	}
	t.paused = paused
	return nil
}

func (s *Supervisor) PauseTask(_ context.Context, id string) error  { return s.setPaused(id, true) }
func (s *Supervisor) ResumeTask(_ context.Context, id string) error { return s.setPaused(id, false) }

func (s *Supervisor) ListPids(_ context.Context, id string) ([]*supervisorv1.ProcessInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.Tasks[id]
	if !ok {
		return nil, errdefs.ErrNotFound
	}
	var out []*supervisorv1.ProcessInfo
	for execID, p := range t.procs {
		if p.status == supervisorv1.TaskStatus_TASK_STATUS_RUNNING {
			// As a shim reads it: the init is the others' parent; 1 s of CPU.
			info := &supervisorv1.ProcessInfo{Pid: p.pid, ExecId: execID, Args: p.args, Comm: path.Base(p.args[0]),
				StartedAt: p.started, CpuNs: 1e9}
			if execID != "" {
				info.Ppid = t.procs[""].pid
			}
			out = append(out, info)
		}
	}
	return out, nil
}

// Metrics returns a fixed reading: 1 ms of cpu per call so far, 4 MiB of
// memory of which 1 MiB cache, 3 pids.
func (s *Supervisor) Metrics(_ context.Context, id string) (*supervisorv1.MetricsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.Tasks[id]; !ok {
		return nil, errdefs.ErrNotFound
	}
	s.metricsCalls++
	return &supervisorv1.MetricsResponse{ReadAt: time.Now().UnixNano(), CpuUsageNs: s.metricsCalls * 1e6, SystemCpuNs: s.metricsCalls * 2e6,
		MemoryUsage: 4 << 20, MemoryCache: 1 << 20,
		MemoryLimit: 1 << 30, PidsCurrent: 3, OnlineCpus: 2}, nil
}

func (s *Supervisor) ContainerSpec(_ context.Context, id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.Containers[id]
	if !ok {
		return nil, errdefs.ErrNotFound
	}
	return c.Spec, nil
}

type eventStream struct {
	ctx context.Context
	ch  chan *supervisorv1.Envelope
}

func (e eventStream) Recv() (*supervisorv1.Envelope, error) {
	select {
	case m := <-e.ch:
		return m, nil
	case <-e.ctx.Done():
		return nil, e.ctx.Err()
	}
}

func (s *Supervisor) Subscribe(ctx context.Context, _ ...string) (containers.EventStream, error) {
	ch := make(chan *supervisorv1.Envelope, 16)
	s.mu.Lock()
	s.eventSubs = append(s.eventSubs, ch)
	s.mu.Unlock()
	return eventStream{ctx: ctx, ch: ch}, nil
}

// Publish sends a supervisor event to the subscribers.
func (s *Supervisor) Publish(e *supervisorv1.Envelope) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.eventSubs {
		ch <- e
	}
}

func (s *Supervisor) Server(context.Context) (*supervisorv1.ServerResponse, error) {
	return &supervisorv1.ServerResponse{Uuid: "fake", Snapshotter: "overlayfs", DefaultRuntime: "berth", Runtimes: []*supervisorv1.RuntimeInfo{{Name: "berth", Path: "/usr/bin/berth-runtime"}}}, nil
}

func (s *Supervisor) Version(context.Context) (*supervisorv1.VersionResponse, error) {
	return &supervisorv1.VersionResponse{Version: "fake"}, nil
}

// FakeHost is the host the fake supervisor reports: cgroup v1 with every
// controller but swap (with the real-time scheduler), 8 GiB, 4 CPUs.
var FakeHost = &supervisorv1.HostResponse{
	CgroupVersion: "1", MemTotal: 8 << 30, Ncpu: 4, KernelVersion: "6.1.0-fake",
	OperatingSystem: "Fake OS 1", OsVersion: "1", Architecture: "x86_64",
	Cgroups: &supervisorv1.CgroupSupport{MemoryLimit: true, CpuCfsPeriod: true, CpuCfsQuota: true, CpuShares: true,
		Cpuset: true, PidsLimit: true, OomKillDisable: true, CpuRealtime: true},
}

func (s *Supervisor) Host(context.Context) (*supervisorv1.HostResponse, error) {
	return proto.Clone(FakeHost).(*supervisorv1.HostResponse), nil
}

// SnapshotMounts returns an overlay mount of the container's snapshot, with
// directories named after its key and parent (nothing is mounted).
func (s *Supervisor) SnapshotMounts(_ context.Context, key string) ([]*supervisorv1.Mount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	parent, ok := s.Snapshots[key]
	if !ok {
		return nil, fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	return []*supervisorv1.Mount{{Type: "overlay", Source: "overlay", Options: []string{
		"index=off", "lowerdir=/snapshots/" + parent + "/fs", "upperdir=/snapshots/" + key + "/fs", "workdir=/snapshots/" + key + "/work",
	}}}, nil
}

// Left counts, under the lock, the containers, tasks and snapshots the
// fake still holds: a test of run --rm waits for zero, since the engine
// removes the supervisor's side in the background.
func (s *Supervisor) Left() (containers, tasks, snapshots int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.Containers), len(s.Tasks), len(s.Snapshots)
}

// Counts are the numbers of containers and snapshots the supervisor holds.
func (s *Supervisor) Counts() (containers, snapshots int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.Containers), len(s.Snapshots)
}
