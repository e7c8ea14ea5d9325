package images

import (
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/platforms"
)

// An image is stored for one platform: its config, and the snapshot of
// that manifest's layers (an index stays its target, as after a pull).
// An import asked for platforms (`docker load --platform`) takes from an
// index the manifest of those, as dockerd does, and refuses an archive
// whose images do not all hold each of them, before anything is stored.

// chooseManifest picks the entry of index idx (the blob of desc) that an
// import follows, and returns the platforms the index offers: entries whose
// blob the archive holds (`docker save --platform` leaves the others out),
// attestations left out. It is the entry that serves want[0] best
// (platforms.Best), or this host's (platforms.Host) without want, else the
// first without a platform (its config then decides); it must serve every
// other platform of want too.
func (a *archiveFile) chooseManifest(idx ocispec.Index, desc ocispec.Descriptor, image string, want []ocispec.Platform) (ocispec.Descriptor, []ocispec.Platform, error) {
	first := platforms.Host()
	if len(want) > 0 {
		first = want[0]
	}
	var offered []ocispec.Platform
	var at []int
	var chosen *ocispec.Descriptor
	for i, m := range idx.Manifests {
		if _, err := a.resolve(blobName(m.Digest)); err != nil {
			continue
		}
		switch {
		case m.Platform == nil:
			if chosen == nil {
				chosen = &idx.Manifests[i]
			}
		case m.Annotations["vnd.docker.reference.type"] != "":
			// An attestation (buildkit's, platform unknown/unknown).
		default:
			offered, at = append(offered, *m.Platform), append(at, i)
		}
	}
	best := platforms.Best(first, offered)
	if best >= 0 {
		chosen = &idx.Manifests[at[best]]
	}
	if chosen == nil && len(want) == 0 {
		return ocispec.Descriptor{}, offered, invalid("index %s has no manifest for %s", desc.Digest, platforms.Format(first))
	}
	if chosen == nil {
		return ocispec.Descriptor{}, offered, notHeld(image, first, offered)
	}
	if chosen.Platform != nil && len(want) > 0 {
		for _, w := range want[1:] {
			// The chosen entry must be the one that serves w best too: an
			// arm/v6 entry runs on arm/v7, but an archive that also holds
			// the v7 asked for holds two images, of which berth keeps one.
			wb := platforms.Best(w, offered)
			if wb == best {
				continue
			}
			if wb >= 0 {
				return ocispec.Descriptor{}, offered, errdefs.Classf(errdefs.ErrNotImplemented,
					"import: the archive holds %s and %s of image %s as two manifests of an index, but berth stores an image for one platform; nothing was imported",
					platforms.Format(want[0]), platforms.Format(w), image)
			}
			return ocispec.Descriptor{}, offered, notHeld(image, w, offered)
		}
	}
	return *chosen, offered, nil
}

// checkConfigPlatform refuses an image whose config is not for each
// platform of want: the config has the last word on what an image is for
// (it is what the engine's --platform checks read later). offered are the
// platforms the indexes on the way offered, for the message.
func checkConfigPlatform(image string, cfg *ocispec.Image, offered, want []ocispec.Platform) error {
	have := platforms.OfConfig(cfg)
	for _, w := range want {
		if !platforms.Match(w, have) {
			return notHeld(image, w, append(slices.Clip(offered), have))
		}
	}
	return nil
}

// notHeld is the refusal of an archive without platform w of image.
func notHeld(image string, w ocispec.Platform, held []ocispec.Platform) error {
	holds := platforms.FormatAll(held)
	if holds == "" {
		holds = "no manifest of it"
	}
	return errdefs.Classf(errdefs.ErrNotFound, "import: the archive has no %s variant of image %s (it holds %s); nothing was imported", platforms.Format(w), image, holds)
}
