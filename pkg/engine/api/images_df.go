package api

import (
	"net/http"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/berthd/berth/pkg/engine/images"
)

// diskUsage is the /system/df answer in the shape of API versions before
// 1.52 (what we speak).
type diskUsage struct {
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []*volume.Volume
	BuildCache []*build.CacheRecord
}

// systemDF is GET /system/df: image sizes from their layers' snapshots (a
// layer two images share counts once in LayersSize and in each one's
// SharedSize), containers' writable layers from their snapshots' usage.
func (s *Server) systemDF(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	want := map[string]bool{}
	for _, t := range r.URL.Query()["type"] {
		want[t] = true
	}
	all := len(want) == 0
	be, err := s.imageBackend()
	if err != nil {
		writeError(w, err)
		return
	}
	du := diskUsage{Images: []image.Summary{}, Containers: []container.Summary{}, Volumes: []*volume.Volume{}, BuildCache: []*build.CacheRecord{}}
	sums, groups, err := s.imageSummaries(ctx)
	if err != nil {
		writeError(w, err)
		return
	}
	if (all || want["volume"]) && s.d.Volumes() != nil {
		for _, v := range s.d.Volumes().List() {
			vj := s.volumeJSON(v, true)
			du.Volumes = append(du.Volumes, &vj)
		}
	}
	imageSize := map[string]int64{}
	if all || want["image"] || want["container"] {
		chains := map[string][]string{}
		layerSize := map[string]int64{}
		users := map[string]int{}
		// The content store is on disk beside the unpacked layers: a layer
		// costs both, and configs and manifests count too.
		blobs := map[string]int64{}
		if cu, ok := be.(images.ContentUsage); ok {
			if b, err := cu.ContentSizes(ctx); err == nil {
				blobs = b
			}
		}
		var unpacked int64
		for id, group := range groups {
			cfg, err := s.d.Supervisor().ImageConfig(ctx, group[0])
			if err != nil {
				continue
			}
			sizes, err := images.LayerSizes(ctx, be, group[0], cfg)
			if err != nil {
				continue
			}
			chain := images.ChainIDs(cfg)
			chains[id] = chain
			digests, _ := images.BlobSizes(ctx, be, group[0], len(chain))
			for i, c := range chain {
				if _, seen := layerSize[c]; !seen {
					unpacked += sizes[i]
				}
				layerSize[c] = sizes[i] + blobs[digests[i]]
				users[c]++
			}
		}
		du.LayersSize = unpacked
		for _, n := range blobs {
			du.LayersSize += n
		}
		for i := range sums {
			chain, ok := chains[sums[i].ID]
			if !ok {
				imageSize[sums[i].ID] = sums[i].Size
				continue
			}
			var size, shared int64
			for _, c := range chain {
				size += layerSize[c]
				if users[c] > 1 {
					shared += layerSize[c]
				}
			}
			sums[i].Size, sums[i].SharedSize = size, shared
			imageSize[sums[i].ID] = size
		}
		if all || want["image"] {
			du.Images = sums
		}
	}
	if all || want["container"] {
		for _, c := range s.d.List(true, 0) {
			sum := summaryOf(c)
			sum.NetworkSettings = nil
			if n, err := be.Usage(ctx, c.ID); err == nil {
				sum.SizeRw = n
			} else {
				s.log.Debug("df: container usage", "id", c.ID, "err", err)
			}
			sum.SizeRootFs = sum.SizeRw + imageSize[c.ImageID]
			du.Containers = append(du.Containers, sum)
		}
	}
	if all || want["build-cache"] {
		du.BuildCache = s.buildCacheRecords(ctx)
	}
	writeJSON(w, http.StatusOK, du)
}
