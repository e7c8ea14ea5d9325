package content

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/errdefs"
)

// Blobs addressed by sha512 are verified with sha512 and stored apart.
func TestSHA512(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("a sha512 blob")
	d := digest.SHA512.FromBytes(data)
	info, err := s.Write(ctx, bytes.NewReader(data), d, int64(len(data)))
	if err != nil || info.Digest != d {
		t.Fatalf("write: %v %+v", err, info)
	}
	if _, err := os.Stat(filepath.Join(root, "blobs", "sha512", d.Encoded())); err != nil {
		t.Fatal(err)
	}
	if b, err := s.ReadAll(ctx, d, 100); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read: %v %q", err, b)
	}
	// The sha256 of the same bytes is another blob, not there.
	if _, err := s.Info(ctx, digest.SHA256.FromBytes(data)); !errdefs.IsNotFound(err) {
		t.Fatalf("sha256 of the same data: %v", err)
	}
	// A sha512 digest of other data is a mismatch, whichever way it arrives.
	wrong := digest.SHA512.FromString("other")
	if _, err := s.Write(ctx, bytes.NewReader(data), wrong, -1); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), wrong.String()) {
		t.Fatalf("mismatch: %v", err)
	}
	w, err := s.OpenWriter(ctx, "ref-wrong", wrong, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if _, err := w.Commit(ctx); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("ingest mismatch: %v", err)
	}
	// A resumed sha512 ingest rehashes what it holds with sha512.
	big := bytes.Repeat([]byte("0123456789"), 1000)
	bd := digest.SHA512.FromBytes(big)
	w, err = s.OpenWriter(ctx, "ref", bd, int64(len(big)))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(big[:4000])
	w.Close()
	w, err = s.OpenWriter(ctx, "ref", bd, int64(len(big)))
	if err != nil || w.Offset() != 4000 {
		t.Fatalf("resume: %v", err)
	}
	w.Write(big[4000:])
	if info, err := w.Commit(ctx); err != nil || info.Digest != bd {
		t.Fatalf("commit: %v %+v", err, info)
	}
	l, err := s.List(ctx)
	if err != nil || len(l) != 2 {
		t.Fatalf("list: %v %+v", err, l)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownAlgorithm(t *testing.T) {
	ctx := context.Background()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []digest.Digest{
		digest.SHA384.FromString("x"),                   // known to go-digest, not to us
		"md5:" + digest.Digest(strings.Repeat("a", 32)), // unknown
		"sha512:abc", // malformed
		"sha256:../../etc/passwd",
	} {
		if _, err := s.Write(ctx, strings.NewReader("x"), d, -1); !errdefs.IsInvalidArgument(err) {
			t.Errorf("write %s: %v", d, err)
		}
		if _, err := s.OpenWriter(ctx, "r", d, -1); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ingest %s: %v", d, err)
		}
		if _, err := s.Info(ctx, d); !errdefs.IsInvalidArgument(err) {
			t.Errorf("info %s: %v", d, err)
		}
	}
}
