package content

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// A blob's time is never before the moment its write began (garbage
// collection compares it with a lease's time.Now()): the kernel's coarse
// mtime would be up to a tick earlier. A write of content already here
// renews it.
func TestBlobTimeNotBeforeItsWrite(t *testing.T) {
	ctx := context.Background()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		data := []byte(fmt.Sprintf("blob %d", i))
		before := time.Now()
		if _, err := s.Write(ctx, bytes.NewReader(data), digest.FromBytes(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx, digest.FromBytes(data))
		if err != nil {
			t.Fatal(err)
		}
		if info.CreatedAt.Before(before) {
			t.Fatalf("blob %d: time %v, %v before its write began", i, info.CreatedAt, before.Sub(info.CreatedAt))
		}
	}
	data := []byte("blob 0")
	before := time.Now()
	info, err := s.Write(ctx, bytes.NewReader(data), digest.FromBytes(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := s.Info(ctx, info.Digest); info.CreatedAt.Before(before) || stored.CreatedAt.Before(before) {
		t.Fatalf("a blob written again keeps its old time: %v / %v, the write began %v", info.CreatedAt, stored.CreatedAt, before)
	}
}
