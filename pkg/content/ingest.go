package content

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
)

// An ingest is a resumable write, named by a ref chosen by the writer (for a
// pull, one per blob digest). It lives in ROOT/ingest/<sha256(ref)>/ as
// `data` plus `status.json`, and survives a crash: a writer that opens the
// same ref again continues at the end of `data` (the bytes already there are
// hashed again, so nothing unverified is ever committed).

// Status describes an ingest in progress.
type Status struct {
	Ref       string        `json:"ref"`
	Offset    int64         `json:"-"`
	Total     int64         `json:"total"`
	Expected  digest.Digest `json:"expected"`
	StartedAt time.Time     `json:"started_at"`
	UpdatedAt time.Time     `json:"-"`
}

// refLocks makes writers of one ref take turns in this process: a second
// puller of a blob waits for the first and then finds the blob committed.
type refLocks struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

func (l *refLocks) lock(ctx context.Context, ref string) error {
	for {
		l.mu.Lock()
		if l.held == nil {
			l.held = map[string]chan struct{}{}
		}
		ch, busy := l.held[ref]
		if !busy {
			l.held[ref] = make(chan struct{})
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *refLocks) unlock(ref string) {
	l.mu.Lock()
	if ch, ok := l.held[ref]; ok {
		close(ch)
		delete(l.held, ref)
	}
	l.mu.Unlock()
}

func (l *refLocks) isHeld(ref string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.held[ref]
	return ok
}

func (s *Store) ingestDir(ref string) string {
	h := sha256.Sum256([]byte(ref))
	return filepath.Join(s.root, "ingest", hex.EncodeToString(h[:16]))
}

// Writer is an open ingest. Write appends; Commit verifies and moves the data
// under its digest; Close keeps the partial data for a later writer.
type Writer struct {
	s      *Store
	ref    string
	dir    string
	f      *os.File
	h      hash.Hash
	alg    digest.Algorithm
	offset int64
	status Status
	done   bool
}

// OpenWriter opens (resuming if present) the ingest ref for a blob expected
// to have digest expected (may be "") and total bytes (-1: unknown). It waits
// while another writer of this process holds ref. When the expected blob is
// already committed it returns an AlreadyExists error and no writer.
func (s *Store) OpenWriter(ctx context.Context, ref string, expected digest.Digest, total int64) (*Writer, error) {
	if ref == "" {
		return nil, fmt.Errorf("ingest: empty ref: %w", errdefs.ErrInvalidArgument)
	}
	if expected != "" {
		if _, err := s.blobPath(expected); err != nil {
			return nil, err
		}
	}
	if err := s.locks.lock(ctx, ref); err != nil {
		return nil, fmt.Errorf("ingest %s: %w", ref, err)
	}
	w, err := s.openWriter(ref, expected, total)
	if err != nil {
		s.locks.unlock(ref)
		return nil, err
	}
	return w, nil
}

func (s *Store) openWriter(ref string, expected digest.Digest, total int64) (*Writer, error) {
	if expected != "" {
		if _, err := s.Info(context.Background(), expected); err == nil {
			os.RemoveAll(s.ingestDir(ref))
			return nil, fmt.Errorf("content %s: %w", expected, errdefs.ErrAlreadyExists)
		}
	}
	dir := s.ingestDir(ref)
	st := Status{Ref: ref, Total: total, Expected: expected, StartedAt: time.Now().UTC()}
	var old Status
	if b, err := os.ReadFile(filepath.Join(dir, "status.json")); err == nil && json.Unmarshal(b, &old) == nil &&
		old.Ref == ref && old.Expected == expected {
		st.StartedAt = old.StartedAt
	} else {
		// Unknown, or written for another blob: start over.
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("ingest %s: %w", ref, err)
		}
		b, _ := json.Marshal(st)
		if err := os.WriteFile(filepath.Join(dir, "status.json"), b, 0o600); err != nil {
			return nil, fmt.Errorf("ingest %s: %w", ref, err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ingest %s: %w", ref, err)
	}
	// Hashed with the expected digest's algorithm: a sha512 blob is
	// verified as sha512.
	alg := digest.Canonical
	if expected != "" {
		alg = expected.Algorithm()
	}
	w := &Writer{s: s, ref: ref, dir: dir, f: f, h: alg.Hash(), alg: alg, status: st}
	n, err := io.Copy(w.h, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ingest %s: rehashing partial data: %w", ref, err)
	}
	w.offset = n
	if total >= 0 && n > total {
		// More than the blob can hold: the partial data is garbage.
		if err := w.Truncate(0); err != nil {
			f.Close()
			return nil, err
		}
	}
	return w, nil
}

// Offset is how many bytes the ingest holds: a resumed download asks for the
// rest from there.
func (w *Writer) Offset() int64 { return w.offset }

// Write appends p.
func (w *Writer) Write(p []byte) (int, error) {
	if w.status.Total >= 0 && w.offset+int64(len(p)) > w.status.Total {
		return 0, fmt.Errorf("ingest %s: more than the %d bytes expected: %w", w.ref, w.status.Total, errdefs.ErrInvalidArgument)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.offset += int64(n)
	if err != nil {
		return n, fmt.Errorf("ingest %s: %w", w.ref, err)
	}
	return n, nil
}

// Truncate drops the data from size on (0: start over, when the source
// cannot resume).
func (w *Writer) Truncate(size int64) error {
	if size != 0 {
		return fmt.Errorf("ingest %s: truncate only to 0: %w", w.ref, errdefs.ErrInvalidArgument)
	}
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("ingest %s: %w", w.ref, err)
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("ingest %s: %w", w.ref, err)
	}
	w.h.Reset()
	w.offset = 0
	return nil
}

// Commit checks the data against the expected digest and size and moves it
// under its digest. On a mismatch the ingest is dropped (its data is
// useless) and the error is InvalidArgument. The writer is closed either way.
func (w *Writer) Commit(ctx context.Context) (Info, error) {
	if w.done {
		return Info{}, fmt.Errorf("ingest %s: closed: %w", w.ref, errdefs.ErrFailedPrecondition)
	}
	defer w.release()
	actual := digest.NewDigestFromEncoded(w.alg, hex.EncodeToString(w.h.Sum(nil)))
	if w.status.Total >= 0 && w.offset != w.status.Total {
		w.f.Close()
		os.RemoveAll(w.dir)
		return Info{}, fmt.Errorf("content %s: size mismatch: expected %d bytes, got %d: %w", w.status.Expected, w.status.Total, w.offset, errdefs.ErrInvalidArgument)
	}
	if w.status.Expected != "" && actual != w.status.Expected {
		w.f.Close()
		os.RemoveAll(w.dir)
		return Info{}, fmt.Errorf("content digest mismatch: expected %s, got %s: %w", w.status.Expected, actual, errdefs.ErrInvalidArgument)
	}
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Info{}, fmt.Errorf("ingest %s: %w", w.ref, err)
	}
	p, _ := w.s.blobPath(actual)
	if info, err := w.s.Info(ctx, actual); err == nil {
		os.RemoveAll(w.dir)
		return stampExisting(p, info), nil
	}
	now := stampNew(filepath.Join(w.dir, "data"))
	failpoint.Hit("content-commit")
	if err := os.Rename(filepath.Join(w.dir, "data"), p); err != nil {
		return Info{}, fmt.Errorf("content commit %s: %w", actual, err)
	}
	syncDir(filepath.Dir(p))
	failpoint.Hit("content-committed")
	os.RemoveAll(w.dir)
	return Info{Digest: actual, Size: w.offset, CreatedAt: now}, nil
}

// Close leaves the ingest for a later writer to resume.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	defer w.release()
	return w.f.Close()
}

func (w *Writer) release() {
	if !w.done {
		w.done = true
		w.s.locks.unlock(w.ref)
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ListStatuses returns the ingests in progress or left for resuming.
func (s *Store) ListStatuses(ctx context.Context) ([]Status, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "ingest"))
	if err != nil {
		return nil, fmt.Errorf("content ingests: %w", err)
	}
	var out []Status
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(s.root, "ingest", e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "status.json"))
		if err != nil {
			continue
		}
		var st Status
		if json.Unmarshal(b, &st) != nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, "data")); err == nil {
			st.Offset, st.UpdatedAt = fi.Size(), fi.ModTime()
		}
		out = append(out, st)
	}
	return out, nil
}

// Abort drops the ingest ref; FailedPrecondition while a writer holds it.
func (s *Store) Abort(ctx context.Context, ref string) error {
	if s.locks.isHeld(ref) {
		return fmt.Errorf("ingest %s: in use: %w", ref, errdefs.ErrFailedPrecondition)
	}
	dir := s.ingestDir(ref)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ingest %s: %w", ref, errdefs.ErrNotFound)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("ingest %s: %w", ref, err)
	}
	return nil
}
