package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/metadata"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// Update replaces the named fields of a stored container. Only the spec
// and the labels may change: the image, runtime and snapshot are what the
// container is, and a task that runs keeps its spec until it is created
// again (its live limits change through Tasks.Update).
func (cs *containersService) Update(ctx context.Context, req *pb.UpdateContainerRequest) (*pb.UpdateContainerResponse, error) {
	in := req.GetContainer()
	if in == nil {
		return nil, fmt.Errorf("update container: no container: %w", errdefs.ErrInvalidArgument)
	}
	if err := checkID(in.Id); err != nil {
		return nil, err
	}
	if len(req.UpdateFields) == 0 {
		return nil, fmt.Errorf("update container %s: no update_fields given: %w", in.Id, errdefs.ErrInvalidArgument)
	}
	for _, f := range req.UpdateFields {
		switch f {
		case "spec":
			if len(in.Spec) == 0 || !json.Valid(in.Spec) {
				return nil, fmt.Errorf("container %s: spec must be a JSON OCI runtime spec: %w", in.Id, errdefs.ErrInvalidArgument)
			}
		case "labels":
		default:
			return nil, fmt.Errorf("update container %s: field %q cannot be updated (only spec and labels): %w", in.Id, f, errdefs.ErrInvalidArgument)
		}
	}
	var c container
	err := cs.s.db.Update(ctx, func(tx *metadata.Tx) error {
		if err := tx.Get(metadata.Containers, in.Id, &c); err != nil {
			return err
		}
		for _, f := range req.UpdateFields {
			switch f {
			case "spec":
				c.Spec = in.Spec
			case "labels":
				c.Labels = in.Labels
			}
		}
		c.UpdatedAt = time.Now().UTC()
		return tx.Put(metadata.Containers, c.ID, &c)
	})
	if err != nil {
		return nil, err
	}
	cs.s.publish(ctx, &pb.Envelope{Topic: "/containers/update", ContainerId: c.ID, Image: c.Image})
	return &pb.UpdateContainerResponse{Container: c.toPB()}, nil
}
