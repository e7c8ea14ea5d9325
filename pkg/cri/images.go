package cri

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// A CRI image is what the supervisor records as several images (one per
// name) sharing one config: its ID is the config digest, its tags and
// digests are the names.

// ListImages lists every image of the namespace, one entry per image ID.
func (s *Server) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	if ref := req.GetFilter().GetImage().GetImage(); ref != "" {
		st, err := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		if err != nil {
			return nil, err
		}
		resp := &runtimeapi.ListImagesResponse{}
		if st.Image != nil {
			resp.Images = append(resp.Images, st.Image)
		}
		return resp, nil
	}
	groups, err := s.imageGroups(ctx)
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListImagesResponse{}
	for _, g := range groups {
		img, err := s.criImage(ctx, g)
		if err != nil {
			return nil, err
		}
		resp.Images = append(resp.Images, img)
	}
	return resp, nil
}

// imageGroups returns the namespace's image records grouped by ID, in ID order.
func (s *Server) imageGroups(ctx context.Context) ([][]*client.Image, error) {
	l, err := s.sup.ImageService().List(ctx, &supervisorv1.ListImagesRequest{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	by := map[string][]*client.Image{}
	for _, img := range l.GetImages() {
		id := img.GetConfig().GetDigest()
		by[id] = append(by[id], img)
	}
	ids := make([]string, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([][]*client.Image, 0, len(ids))
	for _, id := range ids {
		out = append(out, by[id])
	}
	return out, nil
}

// findImage returns every record of the image ref names (a name, an ID or
// an ID prefix); NotFound when there is none.
func (s *Server) findImage(ctx context.Context, ref string) ([]*client.Image, error) {
	if ref == "" {
		return nil, fmt.Errorf("image reference is empty: %w", errdefs.ErrInvalidArgument)
	}
	img, err := s.sup.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		// name@digest, one of the repo digests: records are named by tag,
		// and the digest is their manifest's.
		return s.findByRepoDigest(ctx, ref)
	}
	if err != nil {
		return nil, err
	}
	groups, err := s.imageGroups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g[0].GetConfig().GetDigest() == img.GetConfig().GetDigest() {
			return g, nil
		}
	}
	return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

// findByRepoDigest finds the image whose repo digests include ref.
func (s *Server) findByRepoDigest(ctx context.Context, ref string) ([]*client.Image, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	canonical, ok := named.(reference.Canonical)
	if err != nil || !ok {
		return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
	}
	groups, err := s.imageGroups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		for _, r := range g {
			n, err := reference.ParseNormalizedNamed(r.GetName())
			if err == nil && n.Name() == canonical.Name() && digestOf(r) == canonical.Digest() {
				return g, nil
			}
		}
	}
	return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

// criImage describes one image (all records share the config).
func (s *Server) criImage(ctx context.Context, recs []*client.Image) (*runtimeapi.Image, error) {
	id := recs[0].GetConfig().GetDigest()
	img := &runtimeapi.Image{Id: id, Size: uint64(recs[0].GetSize()), Spec: &runtimeapi.ImageSpec{Image: id}}
	for _, r := range recs {
		named, err := reference.ParseNormalizedNamed(r.GetName())
		if err != nil {
			continue // an unnamed image: recorded under its digest
		}
		if _, ok := named.(reference.Tagged); ok {
			img.RepoTags = append(img.RepoTags, named.String())
		}
		if d, err := reference.WithDigest(reference.TrimNamed(named), digestOf(r)); err == nil {
			if !contains(img.RepoDigests, d.String()) {
				img.RepoDigests = append(img.RepoDigests, d.String())
			}
		}
	}
	cfg, err := s.sup.ImageConfig(ctx, recs[0])
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", id, err)
	}
	user, _, _ := strings.Cut(cfg.Config.User, ":")
	if user != "" {
		if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
			img.Uid = &runtimeapi.Int64Value{Value: uid}
		} else {
			img.Username = user
		}
	}
	return img, nil
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// ImageStatus describes one image; an image that is not there is an empty
// answer, not an error (the kubelet pulls on that).
func (s *Server) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	recs, err := s.findImage(ctx, req.GetImage().GetImage())
	if errdefs.IsNotFound(err) {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	img, err := s.criImage(ctx, recs)
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ImageStatusResponse{Image: img}
	if req.GetVerbose() {
		cfg, err := s.sup.ImageConfig(ctx, recs[0])
		if err != nil {
			return nil, err
		}
		info, _ := json.Marshal(map[string]any{"chainID": recs[0].GetChainId(), "imageSpec": cfg})
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

// PullImage pulls with the request's credentials (or supervisord's docker
// config when there are none) and answers the image ID.
func (s *Server) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, fmt.Errorf("image.image is empty: %w", errdefs.ErrInvalidArgument)
	}
	auth, err := registryAuth(req.GetAuth())
	if err != nil {
		return nil, err
	}
	img, err := s.sup.Pull(ctx, ref, auth, nil)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	return &runtimeapi.PullImageResponse{ImageRef: img.GetConfig().GetDigest()}, nil
}

// registryAuth turns the CRI's AuthConfig into the supervisor's; "auth" is
// base64 of "user:password", as in a docker config.
func registryAuth(a *runtimeapi.AuthConfig) (*supervisorv1.RegistryAuth, error) {
	if a == nil {
		return nil, nil
	}
	out := &supervisorv1.RegistryAuth{
		Username: a.Username, Password: a.Password,
		IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken,
		ServerAddress: a.ServerAddress,
	}
	if a.Auth != "" {
		b, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return nil, fmt.Errorf("auth.auth is not base64: %w", errdefs.ErrInvalidArgument)
		}
		u, p, ok := strings.Cut(string(b), ":")
		if !ok {
			return nil, fmt.Errorf("auth.auth is not \"user:password\": %w", errdefs.ErrInvalidArgument)
		}
		out.Username, out.Password = u, p
	}
	return out, nil
}

// RemoveImage removes an image: by ID or digest every name of it, by tag
// only that tag (the image goes when its last name does). Removing what is
// not there is not an error.
func (s *Server) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	ref := req.GetImage().GetImage()
	recs, err := s.findImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.RemoveImageResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(recs))
	for _, r := range recs {
		names = append(names, r.GetName())
	}
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		// a tag names one record: only that name goes ("sha256:ID" parses
		// as a tag too, but names no record)
		if n := reference.TagNameOnly(named).String(); contains(names, n) {
			names = []string{n}
		}
	}
	for _, n := range names {
		if _, err := s.sup.ImageService().Delete(ctx, &supervisorv1.DeleteImageRequest{Name: n}); err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("remove image %s: %w", n, err)
		}
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

// ImageFsInfo reports the bytes and inodes used by supervisord's
// snapshots, where unpacked images live.
func (s *Server) ImageFsInfo(ctx context.Context, req *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	dir := filepath.Join(s.cfg.SupervisorRoot, "snapshots")
	var bytes, inodes uint64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // a snapshot removed while walking
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if seen[st.Ino] {
				return nil // hard links are counted once
			}
			seen[st.Ino] = true
			bytes += uint64(st.Blocks) * 512
		}
		inodes++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("image filesystem %s: %w", dir, err)
	}
	u := &runtimeapi.FilesystemUsage{
		Timestamp:  time.Now().UnixNano(),
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: dir},
		UsedBytes:  &runtimeapi.UInt64Value{Value: bytes},
		InodesUsed: &runtimeapi.UInt64Value{Value: inodes},
	}
	return &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{u}, ContainerFilesystems: []*runtimeapi.FilesystemUsage{u}}, nil
}

func digestOf(r *client.Image) digest.Digest { return digest.Digest(r.GetTarget().GetDigest()) }
