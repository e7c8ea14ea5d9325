package content

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestWriteVerify(t *testing.T) {
	ctx := context.Background()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("hello")
	d := digest.FromBytes(data)
	info, err := s.Write(ctx, bytes.NewReader(data), d, 5)
	if err != nil || info.Digest != d || info.Size != 5 {
		t.Fatalf("write: %v %+v", err, info)
	}
	b, err := s.ReadAll(ctx, d, 100)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read: %v %q", err, b)
	}
	wrong := digest.FromString("other")
	if _, err := s.Write(ctx, bytes.NewReader([]byte("evil")), wrong, -1); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("mismatch: got %v", err)
	}
	if _, err := s.Info(ctx, wrong); !errdefs.IsNotFound(err) {
		t.Fatalf("mismatched blob committed: %v", err)
	}
	if _, err := s.Write(ctx, bytes.NewReader(data), d, 4); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("size mismatch: %v", err)
	}
	ents, _ := os.ReadDir(s.root + "/ingest")
	if len(ents) != 0 {
		t.Fatalf("ingest leftovers: %v", ents)
	}
	l, _ := s.List(ctx)
	if len(l) != 1 {
		t.Fatalf("list: %v", l)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Info(ctx, d); !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
}

// A digest from an archive or a config may be anything: malformed ones are
// refused, never a panic (go-digest's Algorithm panics without a ':').
func TestCheckDigestRefusesMalformed(t *testing.T) {
	for _, d := range []digest.Digest{"", "sha256", ":abc", "md5:" + digest.Digest(strings.Repeat("0", 32)), "sha256:00", "sha256:" + digest.Digest(strings.Repeat("G", 64))} {
		if err := CheckDigest(d); !errdefs.IsInvalidArgument(err) {
			t.Errorf("CheckDigest(%q) = %v, want InvalidArgument", d, err)
		}
	}
	if err := CheckDigest(digest.FromString("x")); err != nil {
		t.Fatal(err)
	}
}
