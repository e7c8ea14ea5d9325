package client

import (
	"context"
	"fmt"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

func (s snapSrv) ReadFile(ctx context.Context, r *supervisorv1.ReadSnapshotFileRequest) (*supervisorv1.ReadSnapshotFileResponse, error) {
	s.ns(ctx)
	switch {
	case r.Key == "c1" && r.Path == "/etc/passwd" && r.MaxBytes == 100:
		return &supervisorv1.ReadSnapshotFileResponse{Data: []byte("root:x:0:0::/:/bin/sh\n")}, nil
	case r.Key == "c1" && r.Path == "/etc/passwd":
		return nil, errdefs.ToGRPC(fmt.Errorf("%s: more than the %d bytes allowed: %w", r.Path, r.MaxBytes, errdefs.ErrFailedPrecondition))
	}
	return nil, errdefs.ToGRPC(fmt.Errorf("%s of snapshot %s: %w", r.Path, r.Key, errdefs.ErrNotFound))
}

// ReadSnapshotFile passes key, path and limit, and gives back the file or
// the server's error class.
func TestReadSnapshotFile(t *testing.T) {
	_, c := newServerClient(t)
	ctx := context.Background()
	if b, err := c.ReadSnapshotFile(ctx, "c1", "/etc/passwd", 100); err != nil || string(b) != "root:x:0:0::/:/bin/sh\n" {
		t.Errorf("read: %q, %v", b, err)
	}
	if _, err := c.ReadSnapshotFile(ctx, "c1", "/etc/passwd", 10); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := c.ReadSnapshotFile(ctx, "c1", "/etc/group", 100); !errdefs.IsNotFound(err) || err.Error() != "/etc/group of snapshot c1: not found" {
		t.Errorf("missing: %v", err)
	}
}
