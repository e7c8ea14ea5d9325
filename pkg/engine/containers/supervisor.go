package containers

import (
	"context"
	"io"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/client"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Supervisor is the part of the supervisor API the engine uses. *Remote
// implements it over pkg/client; unit tests use a fake.
type Supervisor interface {
	GetImage(ctx context.Context, ref string) (*client.Image, error)
	ListImages(ctx context.Context) ([]*client.Image, error)
	ImageConfig(ctx context.Context, img *client.Image) (*ocispec.Image, error)
	// DockerImageConfig is the image's config with Docker's extensions
	// (Healthcheck, Shell, OnBuild) that the OCI type drops.
	DockerImageConfig(ctx context.Context, img *client.Image) (*dockerspec.DockerOCIImage, error)
	// Import stores an image archive; with platforms, only those (see
	// client.Import).
	Import(ctx context.Context, r io.Reader, name string, platforms ...ocispec.Platform) ([]*client.Image, error)
	DeleteImage(ctx context.Context, name string) error

	NewContainer(ctx context.Context, id string, img *client.Image, spec []byte, runtime string, labels map[string]string) error
	DeleteContainer(ctx context.Context, id string) error
	// ListContainers returns the IDs of the namespace's containers.
	ListContainers(ctx context.Context) ([]string, error)

	CreateTask(ctx context.Context, id string, log TaskLog, tty, stdin bool) error
	StartTask(ctx context.Context, id string) (*supervisorv1.Task, error)
	GetTask(ctx context.Context, id string) (*supervisorv1.Task, error)
	KillTask(ctx context.Context, id string, signal uint32) error
	WaitTask(ctx context.Context, id string) (*supervisorv1.WaitTaskResponse, error)
	DeleteTask(ctx context.Context, id string, force bool) error
	// AttachTask subscribes to the task's live output. It returns once the
	// subscription is in place (as far as the transport lets us know), so
	// that a StartTask after it loses no output.
	AttachTask(ctx context.Context, id string, stdout, stderr bool) (Output, error)
	// AttachCreatingTask is AttachTask for a task the caller is creating
	// beside the call: it attaches once the task exists. The caller
	// cancels ctx when its create fails.
	AttachCreatingTask(ctx context.Context, id string, stdout, stderr bool) (Output, error)

	// ExportPath writes a tar of one path of a container's filesystem
	// (its snapshot), names starting with the path's last component.
	ExportPath(ctx context.Context, id, path string, w io.Writer) error

	Server(ctx context.Context) (*supervisorv1.ServerResponse, error)
	ContainerFiles
	Processes
	SnapshotFiles
	Updater
	Version(ctx context.Context) (*supervisorv1.VersionResponse, error)
	// Host is the host's facts (memory, CPUs, cgroup support, OS): engined
	// reads none of the host's /proc or cgroup files itself.
	Host(ctx context.Context) (*supervisorv1.HostResponse, error)
}

// TaskLog is the log file the shim writes for a task, in json-file's line
// format, and how it rotates it. A zero TaskLog is no log file.
type TaskLog struct {
	Path string
	// MaxSize 0 is no rotation; MaxFiles counts the live file.
	MaxSize  int64
	MaxFiles int
	Compress bool
	// Attrs are written into every record.
	Attrs map[string]string
}

// Output is a task's live output stream; Recv returns io.EOF at its end.
type Output interface {
	Recv() (*supervisorv1.AttachTaskResponse, error)
}

// Remote implements Supervisor with a pkg/client connection.
type Remote struct{ C *client.Client }

func (r *Remote) ExportPath(ctx context.Context, id, path string, w io.Writer) error {
	return r.C.ExportSnapshot(ctx, w, id, path)
}

func (r *Remote) GetImage(ctx context.Context, ref string) (*client.Image, error) {
	return r.C.GetImage(ctx, ref)
}

func (r *Remote) ListImages(ctx context.Context) ([]*client.Image, error) {
	resp, err := r.C.ImageService().List(ctx, &supervisorv1.ListImagesRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetImages(), nil
}

func (r *Remote) ImageConfig(ctx context.Context, img *client.Image) (*ocispec.Image, error) {
	return r.C.ImageConfig(ctx, img)
}

func (r *Remote) DockerImageConfig(ctx context.Context, img *client.Image) (*dockerspec.DockerOCIImage, error) {
	return r.C.DockerImageConfig(ctx, img)
}

func (r *Remote) Import(ctx context.Context, rd io.Reader, name string, platforms ...ocispec.Platform) ([]*client.Image, error) {
	return r.C.Import(ctx, rd, name, platforms...)
}

func (r *Remote) DeleteImage(ctx context.Context, name string) error {
	_, err := r.C.ImageService().Delete(ctx, &supervisorv1.DeleteImageRequest{Name: name})
	return err
}

func (r *Remote) NewContainer(ctx context.Context, id string, img *client.Image, spec []byte, runtime string, labels map[string]string) error {
	_, err := r.C.NewContainer(ctx, id, img, spec, runtime, labels)
	return err
}

func (r *Remote) DeleteContainer(ctx context.Context, id string) error {
	_, err := r.C.ContainerService().Delete(ctx, &supervisorv1.DeleteContainerRequest{Id: id})
	return err
}

func (r *Remote) ListContainers(ctx context.Context) ([]string, error) {
	resp, err := r.C.ContainerService().List(ctx, &supervisorv1.ListContainersRequest{})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range resp.GetContainers() {
		ids = append(ids, c.GetId())
	}
	return ids, nil
}

func (r *Remote) CreateTask(ctx context.Context, id string, log TaskLog, tty, stdin bool) error {
	_, err := r.C.TaskService().Create(ctx, &supervisorv1.CreateTaskRequest{
		ContainerId: id, LogPath: log.Path, LogFormat: "json-file", Terminal: tty, Stdin: stdin,
		LogMaxSize: log.MaxSize, LogMaxFiles: int32(log.MaxFiles), LogCompress: log.Compress, LogAttrs: log.Attrs,
	})
	return err
}

func (r *Remote) StartTask(ctx context.Context, id string) (*supervisorv1.Task, error) {
	resp, err := r.C.TaskService().Start(ctx, &supervisorv1.StartTaskRequest{ContainerId: id})
	if err != nil {
		return nil, err
	}
	return resp.GetTask(), nil
}

func (r *Remote) GetTask(ctx context.Context, id string) (*supervisorv1.Task, error) {
	resp, err := r.C.TaskService().Get(ctx, &supervisorv1.GetTaskRequest{ContainerId: id})
	if err != nil {
		return nil, err
	}
	return resp.GetTask(), nil
}

func (r *Remote) KillTask(ctx context.Context, id string, signal uint32) error {
	_, err := r.C.TaskService().Kill(ctx, &supervisorv1.KillTaskRequest{ContainerId: id, Signal: signal})
	return err
}

func (r *Remote) WaitTask(ctx context.Context, id string) (*supervisorv1.WaitTaskResponse, error) {
	return r.C.TaskService().Wait(ctx, &supervisorv1.WaitTaskRequest{ContainerId: id})
}

func (r *Remote) DeleteTask(ctx context.Context, id string, force bool) error {
	_, err := r.C.TaskService().Delete(ctx, &supervisorv1.DeleteTaskRequest{ContainerId: id, Force: force})
	return err
}

func (r *Remote) AttachTask(ctx context.Context, id string, stdout, stderr bool) (Output, error) {
	return r.attach(ctx, &supervisorv1.AttachTaskRequest{ContainerId: id, Stdout: stdout, Stderr: stderr})
}

func (r *Remote) AttachCreatingTask(ctx context.Context, id string, stdout, stderr bool) (Output, error) {
	return r.attach(ctx, &supervisorv1.AttachTaskRequest{ContainerId: id, Stdout: stdout, Stderr: stderr, AwaitCreate: true})
}

func (r *Remote) attach(ctx context.Context, req *supervisorv1.AttachTaskRequest) (Output, error) {
	st, err := r.C.TaskService().Attach(ctx, req)
	if err != nil {
		return nil, err
	}
	waitHeader(ctx, st)
	return st, nil
}

func (r *Remote) Server(ctx context.Context) (*supervisorv1.ServerResponse, error) {
	return r.C.IntrospectionService().Server(ctx, &supervisorv1.ServerRequest{})
}

func (r *Remote) Version(ctx context.Context) (*supervisorv1.VersionResponse, error) {
	return r.C.IntrospectionService().Version(ctx, &supervisorv1.VersionRequest{})
}

func (r *Remote) Host(ctx context.Context) (*supervisorv1.HostResponse, error) {
	return r.C.IntrospectionService().Host(ctx, &supervisorv1.HostRequest{})
}
