// Package content is the content-addressed blob store: blobs live at
// ROOT/blobs/<algorithm>/<hex> (sha256 or sha512) and are only ever committed
// after their digest, computed with the digest's own algorithm, and size
// were verified. Writes go through ROOT/ingest and a rename, so a crash
// never leaves a partial blob under its digest.
package content

import (
	"context"
	"crypto/rand"
	_ "crypto/sha512" // go-digest offers sha512 only once it is linked in
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
)

// Info describes one committed blob.
type Info struct {
	Digest    digest.Digest
	Size      int64
	CreatedAt time.Time
}

// Algorithms are the digest algorithms blobs may be addressed by; any other
// is InvalidArgument.
var Algorithms = []digest.Algorithm{digest.SHA256, digest.SHA512}

// Store is a blob store rooted at a directory.
type Store struct {
	root    string
	locks   refLocks
	labelMu sync.Mutex
}

// New opens (creating if needed) a store rooted at root.
func New(root string) (*Store, error) {
	dirs := []string{filepath.Join(root, "ingest")}
	for _, a := range Algorithms {
		dirs = append(dirs, filepath.Join(root, "blobs", a.String()))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("content store: %w", err)
		}
	}
	// Leftovers of one-shot writes interrupted by a crash; directories are
	// resumable ingests (ingest.go) and stay.
	if ents, err := os.ReadDir(filepath.Join(root, "ingest")); err == nil {
		for _, e := range ents {
			if !e.IsDir() {
				os.Remove(filepath.Join(root, "ingest", e.Name()))
			}
		}
	}
	return &Store{root: root}, nil
}

// CheckDigest refuses (InvalidArgument) a malformed digest or one of an
// algorithm not in Algorithms.
func CheckDigest(d digest.Digest) error {
	// go-digest's Algorithm panics on a digest without a separator.
	if i := strings.IndexByte(string(d), ':'); i <= 0 {
		return fmt.Errorf("digest %q: not of the form <algorithm>:<hex>: %w", d, errdefs.ErrInvalidArgument)
	}
	if !supported(d.Algorithm()) {
		return fmt.Errorf("digest %q: algorithm %q is not supported (sha256, sha512): %w", d, d.Algorithm(), errdefs.ErrInvalidArgument)
	}
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return nil
}

func supported(a digest.Algorithm) bool {
	for _, s := range Algorithms {
		if a == s {
			return true
		}
	}
	return false
}

func (s *Store) blobPath(d digest.Digest) (string, error) {
	if err := CheckDigest(d); err != nil {
		return "", err
	}
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded()), nil
}

// Path returns where the blob with digest d is stored (it may not exist).
func (s *Store) Path(d digest.Digest) (string, error) { return s.blobPath(d) }

// Info returns a committed blob's size and time.
func (s *Store) Info(ctx context.Context, d digest.Digest) (Info, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, fmt.Errorf("content %s: %w", d, errdefs.ErrNotFound)
		}
		return Info{}, fmt.Errorf("content %s: %w", d, err)
	}
	return Info{Digest: d, Size: st.Size(), CreatedAt: st.ModTime()}, nil
}

// List returns every committed blob.
func (s *Store) List(ctx context.Context) ([]Info, error) {
	var out []Info
	for _, a := range Algorithms {
		ents, err := os.ReadDir(filepath.Join(s.root, "blobs", a.String()))
		if err != nil {
			return nil, fmt.Errorf("content list: %w", err)
		}
		for _, e := range ents {
			d := digest.NewDigestFromEncoded(a, e.Name())
			if d.Validate() != nil {
				continue
			}
			if info, err := s.Info(ctx, d); err == nil {
				out = append(out, info)
			}
		}
	}
	return out, nil
}

// Open opens a committed blob for reading.
func (s *Store) Open(ctx context.Context, d digest.Digest) (*os.File, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("content %s: %w", d, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("content %s: %w", d, err)
	}
	return f, nil
}

// ReadAll reads a whole blob into memory, refusing blobs above max bytes.
func (s *Store) ReadAll(ctx context.Context, d digest.Digest, max int64) ([]byte, error) {
	f, err := s.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("content %s: %w", d, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("content %s: larger than %d bytes: %w", d, max, errdefs.ErrInvalidArgument)
	}
	return b, nil
}

// Delete removes a blob.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	if lp, err := s.labelPath(d); err == nil {
		os.Remove(lp)
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("content %s: %w", d, errdefs.ErrNotFound)
		}
		return fmt.Errorf("content %s: %w", d, err)
	}
	return nil
}

// Write copies r into the store. When expected is not "" the data must have
// that digest (and size, when size >= 0): otherwise nothing is committed and
// the error is of class InvalidArgument. With expected == "" the digest is
// computed (sha256) and returned. An already present blob is not rewritten.
func (s *Store) Write(ctx context.Context, r io.Reader, expected digest.Digest, size int64) (Info, error) {
	if expected != "" {
		if _, err := s.blobPath(expected); err != nil {
			return Info{}, err
		}
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(s.root, "ingest", hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Info{}, fmt.Errorf("content ingest: %w", err)
	}
	defer os.Remove(tmp) // no-op after the rename
	alg := digest.Canonical
	if expected != "" {
		alg = expected.Algorithm()
	}
	dg := alg.Digester()
	n, err := io.Copy(io.MultiWriter(f, dg.Hash()), readerCtx{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Info{}, fmt.Errorf("content ingest: %w", err)
	}
	actual := dg.Digest()
	if expected != "" && actual != expected {
		return Info{}, fmt.Errorf("content digest mismatch: expected %s, got %s: %w", expected, actual, errdefs.ErrInvalidArgument)
	}
	if size >= 0 && n != size {
		return Info{}, fmt.Errorf("content %s size mismatch: expected %d bytes, got %d: %w", actual, size, n, errdefs.ErrInvalidArgument)
	}
	p, _ := s.blobPath(actual)
	if info, err := s.Info(ctx, actual); err == nil {
		return stampExisting(p, info), nil
	}
	now := stampNew(tmp)
	failpoint.Hit("content-commit")
	if err := os.Rename(tmp, p); err != nil {
		return Info{}, fmt.Errorf("content commit %s: %w", actual, err)
	}
	syncDir(filepath.Dir(p))
	failpoint.Hit("content-committed")
	return Info{Digest: actual, Size: n, CreatedAt: now}, nil
}

// A blob's time (its file's mtime, Info.CreatedAt) is when it was last
// written here, and garbage collection keeps the blobs written since a
// lease without resources was taken (time.Now()). The kernel stamps a
// write with its coarse clock, up to a tick (4 ms at HZ=250) behind
// time.Now(): a blob written just after the lease could look older than
// it and be collected under it. So the time is set from time.Now().

// stampNew sets the time of a blob about to be committed from path.
func stampNew(path string) time.Time {
	now := time.Now()
	os.Chtimes(path, now, now) // best effort: the kernel's time is near
	return now
}

// stampExisting renews the time of a blob written again (a commit of
// content already here): the writer, perhaps under a lease, uses it now.
func stampExisting(path string, info Info) Info {
	now := time.Now()
	if os.Chtimes(path, now, now) == nil {
		info.CreatedAt = now
	}
	return info
}

type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (r readerCtx) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
