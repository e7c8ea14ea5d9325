package content

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/errdefs"
)

// An ingest left open (a crash, a dropped download) resumes where it
// stopped, in a new Store on the same root; a wrong result is refused and
// dropped; statuses and abort see it.
func TestIngestResume(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 10000)
	d := digest.FromBytes(data)
	w, err := s.OpenWriter(ctx, "pull-x", d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:30000])
	w.Close()

	s, err = New(root) // as after a restart
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.ListStatuses(ctx)
	if err != nil || len(st) != 1 || st[0].Ref != "pull-x" || st[0].Offset != 30000 || st[0].Total != int64(len(data)) || st[0].Expected != d {
		t.Fatalf("statuses: %v %+v", err, st)
	}
	w, err = s.OpenWriter(ctx, "pull-x", d, int64(len(data)))
	if err != nil || w.Offset() != 30000 {
		t.Fatalf("reopen: %v offset %d", err, w.Offset())
	}
	if _, err := w.Write(data[30000:]); err != nil {
		t.Fatal(err)
	}
	info, err := w.Commit(ctx)
	if err != nil || info.Digest != d || info.Size != int64(len(data)) {
		t.Fatalf("commit: %v %+v", err, info)
	}
	if st, _ := s.ListStatuses(ctx); len(st) != 0 {
		t.Fatalf("statuses after commit: %+v", st)
	}
	// Now the blob is there: a writer for it is AlreadyExists.
	if _, err := s.OpenWriter(ctx, "pull-x", d, int64(len(data))); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("writer of a committed blob: %v", err)
	}

	// Wrong bytes: InvalidArgument, nothing committed, the ingest gone.
	other := digest.FromString("other")
	w, _ = s.OpenWriter(ctx, "pull-y", other, 5)
	w.Write([]byte("abcde"))
	if _, err := w.Commit(ctx); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("commit of wrong bytes: %v", err)
	}
	if _, err := s.Info(ctx, other); !errdefs.IsNotFound(err) {
		t.Fatalf("wrong bytes committed: %v", err)
	}
	// More than the expected size is refused at the write.
	w, _ = s.OpenWriter(ctx, "pull-z", other, 2)
	if _, err := w.Write([]byte("abc")); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("write past the size: %v", err)
	}
	if err := s.Abort(ctx, "pull-z"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("abort while open: %v", err)
	}
	w.Close()
	if err := s.Abort(ctx, "pull-z"); err != nil {
		t.Fatal(err)
	}
	if err := s.Abort(ctx, "pull-z"); !errdefs.IsNotFound(err) {
		t.Fatalf("abort twice: %v", err)
	}
}

// Writers of one ref take turns: the second waits, then finds the blob.
func TestIngestCoalesce(t *testing.T) {
	ctx := context.Background()
	s, _ := New(t.TempDir())
	data := []byte("shared blob")
	d := digest.FromBytes(data)
	w, err := s.OpenWriter(ctx, "pull-s", d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var second error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, second = s.OpenWriter(ctx, "pull-s", d, int64(len(data)))
	}()
	time.Sleep(50 * time.Millisecond) // let it block; the assertion does not depend on it
	w.Write(data)
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if !errdefs.IsAlreadyExists(second) {
		t.Fatalf("second writer: %v", second)
	}
	// A waiting writer gives up with its context.
	w, _ = s.OpenWriter(ctx, "pull-t", "", -1)
	defer w.Close()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.OpenWriter(cctx, "pull-t", "", -1); err == nil {
		t.Fatal("second writer did not wait")
	}
}
