package api

import (
	"net/http"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
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
		lu := s.layerUsage(ctx, be, groups)
		// A layer costs its snapshot and its compressed blob when the store
		// still has it; without a snapshot usage, the blob's size stands in.
		layerSize := map[string]int64{}
		var unpacked int64
		for _, si := range lu.images {
			for _, l := range si.layers {
				u := l.unpacked
				if u < 0 {
					u = l.blobSize
				}
				if _, seen := layerSize[l.chain]; !seen {
					unpacked += u
				}
				layerSize[l.chain] = u + lu.blobs[l.blob]
			}
		}
		// The content store is on disk beside the unpacked layers: configs
		// and manifests count too.
		du.LayersSize = unpacked
		for _, n := range lu.blobs {
			du.LayersSize += n
		}
		for i := range sums {
			si, ok := lu.images[sums[i].ID]
			if !ok {
				imageSize[sums[i].ID] = sums[i].Size
				continue
			}
			var size, shared int64
			for _, l := range si.layers {
				size += layerSize[l.chain]
				if lu.users[l.chain] > 1 {
					shared += layerSize[l.chain]
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
