package archive

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"

	errdefs "github.com/containerd/errdefs"
)

// Reader reads a tar stream that comes from outside (a layer, docker load
// or import, docker cp, an ADD'ed archive) and refuses sparse entries.
// archive/tar expands a sparse entry's holes into zeros, so a kilobyte of
// tar can stand for a file of terabytes that a caller would hash, copy or
// write out to disk. Neither docker nor an image builder writes sparse
// entries, so refusing one loses nothing a user made.
type Reader struct {
	tr *tar.Reader
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	return &Reader{tr: tar.NewReader(r)}
}

// Next advances to the next entry, as tar.Reader.Next, and fails with an
// invalid-argument error naming the entry if it is sparse.
func (r *Reader) Next() (*tar.Header, error) {
	hdr, err := r.tr.Next()
	if err != nil {
		return nil, err
	}
	if err := CheckNotSparse(hdr); err != nil {
		return nil, err
	}
	return hdr, nil
}

// Read reads the current entry's data.
func (r *Reader) Read(p []byte) (int, error) {
	return r.tr.Read(p)
}

// CheckNotSparse refuses a header of a sparse entry, in the old GNU format
// (type 'S') or one of the GNU PAX formats (GNU.sparse.* records).
func CheckNotSparse(hdr *tar.Header) error {
	sparse := hdr.Typeflag == tar.TypeGNUSparse
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			sparse = true
		}
	}
	if sparse {
		return fmt.Errorf("tar entry %q is a sparse file, which is not supported: %w", hdr.Name, errdefs.ErrInvalidArgument)
	}
	return nil
}
