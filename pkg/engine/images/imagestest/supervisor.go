// Package imagestest has an in-memory fake of the supervisor's image API
// (images.Backend) on top of containerstest's fake, for unit tests of the
// engine's image endpoints and of ctl's image commands.
package imagestest

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/engine/images"
	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Supervisor is containerstest's fake plus a scripted image API.
type Supervisor struct {
	*containerstest.Supervisor

	mu sync.Mutex
	// PullSteps are reported by every Pull; then PullErr (if set) is
	// returned, else the image is recorded under the pulled name with
	// PullConfig (busybox's config if nil).
	PullSteps  []*supervisorv1.Progress
	PullErr    error
	PullConfig *ocispec.Image
	// PushSteps are reported by every Push, then PushErr or the digest.
	PushSteps []*supervisorv1.Progress
	PushErr   error
	// Auths records the credentials of each Pull and Push.
	Auths []*supervisorv1.RegistryAuth
	// Pushed records the refs pushed.
	Pushed []string
	// Usages by snapshot key (chain ID or container ID); missing keys are
	// NotFound, as a supervisor without Usage would answer.
	Usages map[string]int64
	// Blobs of the content store by digest.
	Blobs map[string][]byte
	// Labels of blobs by digest, as the supervisor's pulls and pushes
	// record them.
	Labels map[string]map[string]string
	// Reclaimed is what GarbageCollect reports; GCs counts its calls.
	Reclaimed int64
	GCs       int
	// Files are the contents of each snapshot for ExportSnapshot.
	Files map[string]map[string]string
}

var (
	_ images.Backend       = (*Supervisor)(nil)
	_ images.ContentUsage  = (*Supervisor)(nil)
	_ images.ContentLabels = (*Supervisor)(nil)
)

// New returns a fake with busybox:latest.
func New() *Supervisor {
	return &Supervisor{
		Supervisor: containerstest.New(),
		Usages:     map[string]int64{},
		Blobs:      map[string][]byte{},
		Labels:     map[string]map[string]string{},
		Files:      map[string]map[string]string{},
	}
}

func (s *Supervisor) report(steps []*supervisorv1.Progress, fn images.ProgressFunc) {
	for _, p := range steps {
		if fn != nil {
			fn(p)
		}
	}
}

func (s *Supervisor) Pull(ctx context.Context, ref string, auth *supervisorv1.RegistryAuth, _ *supervisorv1.Platform, fn images.ProgressFunc) (*client.Image, error) {
	s.mu.Lock()
	s.Auths = append(s.Auths, auth)
	steps, perr, cfg := s.PullSteps, s.PullErr, s.PullConfig
	s.mu.Unlock()
	s.report(steps, fn)
	if perr != nil {
		return nil, perr
	}
	if cfg == nil {
		busy, err := s.GetImage(ctx, "docker.io/library/busybox:latest")
		if err == nil {
			cfg, _ = s.ImageConfig(ctx, busy)
		}
		if cfg == nil {
			cfg = &ocispec.Image{}
		}
	}
	s.AddImage(ref, "sha256:"+strings.Repeat("c", 64), cfg)
	return s.GetImage(ctx, ref)
}

func (s *Supervisor) Push(_ context.Context, name, ref string, auth *supervisorv1.RegistryAuth, fn images.ProgressFunc) (string, int64, error) {
	s.mu.Lock()
	s.Auths = append(s.Auths, auth)
	s.Pushed = append(s.Pushed, ref)
	steps, perr := s.PushSteps, s.PushErr
	s.mu.Unlock()
	s.report(steps, fn)
	if perr != nil {
		return "", 0, perr
	}
	return "sha256:" + strings.Repeat("d", 64), 527, nil
}

func (s *Supervisor) Tag(ctx context.Context, name string, target *client.Image) error {
	cfg, err := s.ImageConfig(ctx, target)
	if err != nil {
		return err
	}
	s.AddImage(name, target.GetConfig().GetDigest(), cfg)
	return nil
}

// Export writes a tar with one file, "names", listing the names asked for.
func (s *Supervisor) Export(_ context.Context, names []string, format string, w io.Writer) error {
	body := format + "\n" + strings.Join(names, "\n") + "\n"
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "names", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, body); err != nil {
		return err
	}
	return tw.Close()
}

func (s *Supervisor) ReadBlob(_ context.Context, digest string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.Blobs[digest]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("blob %s: %w", digest, errdefs.ErrNotFound)
}

// ContentSizes sizes Blobs.
func (s *Supervisor) ContentSizes(context.Context) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for d, b := range s.Blobs {
		out[d] = int64(len(b))
	}
	return out, nil
}

func (s *Supervisor) BlobLabels(_ context.Context, digest string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.Blobs[digest]; !ok {
		return nil, fmt.Errorf("blob %s: %w", digest, errdefs.ErrNotFound)
	}
	return s.Labels[digest], nil
}

func (s *Supervisor) GarbageCollect(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.GCs++
	return s.Reclaimed, nil
}

func (s *Supervisor) Usage(_ context.Context, key string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.Usages[key]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
}

func (s *Supervisor) ExportSnapshot(_ context.Context, key string, w io.Writer) error {
	s.mu.Lock()
	files, ok := s.Files[key]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, files[n]); err != nil {
			return err
		}
	}
	return tw.Close()
}
