package images

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/berthd/berth/pkg/client"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// ContentUsage is the optional part of Backend that `system df` uses to
// count the content store (compressed layers, configs, manifests) besides
// the unpacked layers: both are on disk.
type ContentUsage interface {
	// ContentSizes returns the size of every blob by digest.
	ContentSizes(ctx context.Context) (map[string]int64, error)
}

var _ ContentUsage = (*Remote)(nil)

func (r *Remote) ContentSizes(ctx context.Context) (map[string]int64, error) {
	resp, err := r.C.ContentService().List(ctx, &supervisorv1.ListContentRequest{})
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, i := range resp.GetInfo() {
		out[i.GetDigest()] = i.GetSize()
	}
	return out, nil
}

// BlobSizes returns the compressed size of each layer blob of img, bottom
// first (0 for a layer whose manifest entry is missing).
func BlobSizes(ctx context.Context, be Backend, img *client.Image, n int) ([]string, []int64) {
	digests, sizes := make([]string, n), make([]int64, n)
	m, err := ManifestOf(ctx, be, img)
	if err != nil {
		return digests, sizes
	}
	for i := range n {
		if i < len(m.Layers) {
			digests[i], sizes[i] = m.Layers[i].Digest.String(), m.Layers[i].Size
		}
	}
	return digests, sizes
}

// ContentLabels is the optional part of Backend that reads a blob's
// labels, where the supervisor records where content came from.
type ContentLabels interface {
	BlobLabels(ctx context.Context, digest string) (map[string]string, error)
}

var _ ContentLabels = (*Remote)(nil)

func (r *Remote) BlobLabels(ctx context.Context, digest string) (map[string]string, error) {
	resp, err := r.C.ContentService().Info(ctx, &supervisorv1.InfoRequest{Digest: digest})
	if err != nil {
		return nil, fmt.Errorf("labels of blob %s: %w", digest, err)
	}
	return resp.GetInfo().GetLabels(), nil
}

// SourceRepositories are the repositories (domain/path) that the
// supervisor's distribution labels say a blob was pulled from or pushed
// to, sorted.
func SourceRepositories(labels map[string]string) []string {
	var out []string
	for k, v := range labels {
		domain, ok := strings.CutPrefix(k, supervisorv1.DistributionSourceLabelPrefix)
		if !ok || domain == "" {
			continue
		}
		for _, repo := range strings.Split(v, ",") {
			if repo != "" {
				out = append(out, domain+"/"+repo)
			}
		}
	}
	sort.Strings(out)
	return out
}
