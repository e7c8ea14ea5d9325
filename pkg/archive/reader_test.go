package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	errdefs "github.com/containerd/errdefs"

	"github.com/berthd/berth/pkg/archive/archivetest"
)

// TestReaderRefusesSparse: both sparse forms archive/tar expands are
// refused by name before a byte of the hole is read; archive/tar itself
// would hand out the full (here 1 TiB) size.
func TestReaderRefusesSparse(t *testing.T) {
	const size = 1 << 40
	for _, old := range []bool{true, false} {
		raw := archivetest.SparseTar("big", size, old)
		hdr, err := tar.NewReader(bytes.NewReader(raw)).Next()
		if err != nil || hdr.Size != size || hdr.Name != "big" {
			t.Fatalf("oldGNU=%v: the crafted tar is not sparse to archive/tar: %+v, %v", old, hdr, err)
		}
		_, err = NewReader(bytes.NewReader(raw)).Next()
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), `"big" is a sparse file`) {
			t.Fatalf("oldGNU=%v: Next = %v, want a sparse-file refusal naming the entry", old, err)
		}
	}
}

func TestReaderReadsPlainEntries(t *testing.T) {
	raw := mktar(t, ent{name: "a", body: "hello"}, ent{name: "d", typ: tar.TypeDir})
	r := NewReader(bytes.NewReader(raw))
	hdr, err := r.Next()
	if err != nil || hdr.Name != "a" {
		t.Fatalf("Next = %+v, %v", hdr, err)
	}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "hello" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if hdr, err = r.Next(); err != nil || hdr.Name != "d" {
		t.Fatalf("Next = %+v, %v", hdr, err)
	}
	if _, err = r.Next(); err != io.EOF {
		t.Fatalf("Next at end = %v", err)
	}
}

// TestApplyRefusesSparse: a layer with a sparse entry is refused, nothing
// of the hole is written.
func TestApplyRefusesSparse(t *testing.T) {
	root, _ := sandbox(t)
	_, err := Apply(t.Context(), root, bytes.NewReader(archivetest.SparseTar("big", 1<<40, false)), Options{})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "sparse") {
		t.Fatalf("Apply = %v, want a sparse-file refusal", err)
	}
}
