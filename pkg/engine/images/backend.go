// Package images is the engine's image side beyond what the container store
// needs: pull and push with dockerd's JSON progress stream, tag, history,
// save, prune, disk usage and container export. Backend is the part of the
// supervisor API it uses; Remote implements it with pkg/client, and
// imagestest has an in-memory fake for unit tests.
package images

import (
	"context"
	"io"

	"github.com/berthd/berth/pkg/client"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// ProgressFunc receives the supervisor's transfer steps as they come.
type ProgressFunc func(*supervisorv1.Progress)

// Backend is the image part of the supervisor API that the engine's image
// endpoints use, on top of containers.Supervisor.
type Backend interface {
	// Pull fetches ref (as the user wrote it) and returns the stored image.
	Pull(ctx context.Context, ref string, auth *supervisorv1.RegistryAuth, platform *supervisorv1.Platform, fn ProgressFunc) (*client.Image, error)
	// Push uploads the local image name as ref and returns the manifest's
	// digest and size.
	Push(ctx context.Context, name, ref string, auth *supervisorv1.RegistryAuth, fn ProgressFunc) (string, int64, error)
	// Tag records name (normalized) for target's manifest, replacing an
	// existing name.
	Tag(ctx context.Context, name string, target *client.Image) error
	// Export writes an archive ("docker-archive" or "oci-archive") of the
	// named images to w.
	Export(ctx context.Context, names []string, format string, w io.Writer) error
	// ReadBlob reads a blob of the content store.
	ReadBlob(ctx context.Context, digest string) ([]byte, error)
	// GarbageCollect removes unreferenced content and snapshots and returns
	// the bytes freed.
	GarbageCollect(ctx context.Context) (int64, error)
	// Usage is the disk space a snapshot uses on its own.
	Usage(ctx context.Context, key string) (int64, error)
	// ExportSnapshot writes a tar of the merged filesystem of a snapshot
	// (a container's rootfs: key = container id) to w.
	ExportSnapshot(ctx context.Context, key string, w io.Writer) error
}
