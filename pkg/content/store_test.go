package content

import (
	"bytes"
	"context"
	"os"
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
