package api

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client/pkg/versions"

	"github.com/berthd/berth/pkg/client"
)

var imageFilterKeys = map[string]bool{"dangling": true, "reference": true, "before": true, "since": true, "label": true, "label!": true}

// imageSummaries lists the images grouped by image ID, newest first, with
// their labels (from the config, read once per image).
func (s *Server) imageSummaries(ctx context.Context) ([]image.Summary, map[string][]*client.Image, error) {
	imgs, err := s.d.Supervisor().ListImages(ctx)
	if err != nil {
		return nil, nil, err
	}
	used := map[string]int64{}
	for _, c := range s.d.List(true, 0) {
		used[c.ImageID]++
	}
	groups := groupImages(imgs)
	out := []image.Summary{}
	for id, group := range groups {
		sum := image.Summary{ID: id, RepoTags: []string{}, RepoDigests: []string{}, Labels: map[string]string{}, Containers: used[id], Size: group[0].GetSize(), SharedSize: -1}
		sum.Created = group[0].GetCreatedAt()
		if cfg, err := s.d.Supervisor().ImageConfig(ctx, group[0]); err == nil {
			if cfg.Created != nil {
				sum.Created = cfg.Created.Unix()
			}
			if cfg.Config.Labels != nil {
				sum.Labels = cfg.Config.Labels
			}
		} else if sum.Created > 1e12 {
			sum.Created /= 1e9
		}
		digests := map[string]bool{}
		for _, img := range group {
			if f := familiar(img.GetName()); f != "" {
				sum.RepoTags = append(sum.RepoTags, f)
				if named, err := reference.ParseNormalizedNamed(img.GetName()); err == nil && img.GetTarget().GetDigest() != "" {
					digests[reference.FamiliarName(named)+"@"+img.GetTarget().GetDigest()] = true
				}
			}
		}
		for d := range digests {
			sum.RepoDigests = append(sum.RepoDigests, d)
		}
		sort.Strings(sum.RepoTags)
		sort.Strings(sum.RepoDigests)
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Created != out[j].Created {
			return out[i].Created > out[j].Created
		}
		return out[i].ID < out[j].ID
	})
	return out, groups, nil
}

// imagesList is GET /images/json with dockerd's filters.
func (s *Server) imagesList(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err == nil {
		err = f.validate(imageFilterKeys)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	x := listExtras{sharedSize: boolParam(r, "shared-size"), manifests: boolParam(r, "manifests"), identity: boolParam(r, "identity")}
	if x.identity && !x.manifests {
		// Identity is a field of each manifest summary: without them it
		// has nowhere to go.
		writeError(w, badRequest("identity=1 requires manifests=1"))
		return
	}
	if versions.LessThan(apiVersion(r), "1.47") {
		// As dockerd: manifests (and identity, a part of them) is a
		// parameter from API 1.47; older clients get no Manifests.
		x.manifests, x.identity = false, false
	}
	all, groups, err := s.imageSummaries(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	var hidden map[string]bool
	if !boolParam(r, "all") {
		tagged := map[string]bool{}
		for _, sum := range all {
			tagged[sum.ID] = len(sum.RepoTags) > 0
		}
		hidden = s.intermediateImages(r.Context(), groups, tagged)
	}
	// before/since name images: compare by creation time.
	var before, since *int64
	for key, dst := range map[string]**int64{"before": &before, "since": &since} {
		for _, ref := range f[key] {
			id, _, err := s.resolveImage(r.Context(), ref)
			if err != nil {
				writeError(w, err)
				return
			}
			for _, sum := range all {
				if sum.ID == id {
					c := sum.Created
					*dst = &c
				}
			}
		}
	}
	out := []image.Summary{}
	for _, sum := range all {
		if hidden[sum.ID] {
			continue
		}
		if !f.anyOf("dangling", func(v string) bool { return (v == "true" || v == "1") == (len(sum.RepoTags) == 0) }) {
			continue
		}
		if before != nil && sum.Created >= *before || since != nil && sum.Created <= *since {
			continue
		}
		if !f.allLabels(sum.Labels) || !f.noneOfLabels(sum.Labels) {
			continue
		}
		if pats := f["reference"]; len(pats) > 0 {
			// As dockerd (containerd's store): the filter keeps the names
			// it matches and the images left with one; the digests shown
			// are those of the repositories of the names kept (a digest is
			// one per tagged repository here, as there).
			sum.RepoTags = matchingRefs(sum.RepoTags, pats)
			if len(sum.RepoTags) == 0 {
				continue
			}
			sum.RepoDigests = digestsOf(sum.RepoDigests, sum.RepoTags)
		}
		out = append(out, sum)
	}
	if x.any() {
		if err := s.fillListExtras(r.Context(), out, groups, x); err != nil {
			writeError(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// digestsOf keeps the digests (repo@digest) of the repositories of tags.
func digestsOf(digests, tags []string) []string {
	repos := map[string]bool{}
	for _, t := range tags {
		if named, err := reference.ParseNormalizedNamed(t); err == nil {
			repos[reference.FamiliarName(named)] = true
		}
	}
	out := []string{}
	for _, d := range digests {
		if repo, _, ok := strings.Cut(d, "@"); ok && repos[repo] {
			out = append(out, d)
		}
	}
	return out
}

// matchingRefs keeps the names (name:tag or name@digest) one of the
// patterns matches, as dockerd's reference filter: a glob on the familiar
// name with or without its tag or digest.
func matchingRefs(refs, patterns []string) []string {
	out := []string{}
	for _, t := range refs {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			continue
		}
		for _, p := range patterns {
			if ok, _ := reference.FamiliarMatch(p, named); ok {
				out = append(out, t)
				break
			}
			if !strings.Contains(p, ":") {
				if ok, _ := reference.FamiliarMatch(p, reference.TrimNamed(named)); ok {
					out = append(out, t)
					break
				}
			}
		}
	}
	return out
}
