package content

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
)

// Labels of a blob live beside the blobs in ROOT/labels/<hex>.json (written
// atomically). They are hints, such as which repositories of a registry hold
// the blob (for cross-repository mounts on push); losing them loses nothing.

func (s *Store) labelPath(d digest.Digest) (string, error) {
	if _, err := s.blobPath(d); err != nil {
		return "", err
	}
	return filepath.Join(s.root, "labels", d.Encoded()+".json"), nil
}

// Labels returns the labels of blob d (nil when none).
func (s *Store) Labels(ctx context.Context, d digest.Digest) map[string]string {
	p, err := s.labelPath(d)
	if err != nil {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var m map[string]string
	json.Unmarshal(b, &m)
	return m
}

// UpdateLabels changes the labels of blob d with fn.
func (s *Store) UpdateLabels(ctx context.Context, d digest.Digest, fn func(map[string]string)) error {
	p, err := s.labelPath(d)
	if err != nil {
		return err
	}
	s.labelMu.Lock()
	defer s.labelMu.Unlock()
	m := s.Labels(ctx, d)
	if m == nil {
		m = map[string]string{}
	}
	fn(m)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("content labels: %w", err)
	}
	if len(m) == 0 {
		os.Remove(p)
		return nil
	}
	b, _ := json.Marshal(m)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("content labels: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("content labels: %w", err)
	}
	return nil
}
