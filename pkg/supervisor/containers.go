package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/berthd/berth/pkg/cgroupprime"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/failpoint"
	"github.com/berthd/berth/pkg/identifiers"
	"github.com/berthd/berth/pkg/metadata"
	"github.com/berthd/berth/pkg/namespaces"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

func checkID(id string) error {
	if !identifiers.Valid(id) {
		return fmt.Errorf("container id %q: must be 1-128 of [A-Za-z0-9_.-], starting alphanumeric: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

// ContainerLabel marks the snapshot a Create with prepare_snapshot made, its
// value the container's ID: a start removes those whose record a crash did
// not let be written.
const ContainerLabel = "berth.supervisor/container"

// removeOrphanRootfs removes the active snapshots made by a container create
// whose record is not there (the two are made side by side; a crash can
// leave the snapshot alone). Called before anything is served.
func (s *Server) removeOrphanRootfs() error {
	return s.snaps.RemoveActiveLabeled(ContainerLabel, func(ns, key, id string) bool {
		c, err := s.getContainer(namespaces.WithNamespace(context.Background(), ns), id)
		// Kept unless surely an orphan: a store that cannot be read is
		// no reason to remove a container's files.
		return (err != nil && !errdefs.IsNotFound(err)) || (err == nil && c.SnapshotKey == key)
	})
}

// container is the stored record of a container.
type container struct {
	ID          string            `json:"id"`
	Labels      map[string]string `json:"labels,omitempty"`
	Image       string            `json:"image,omitempty"`
	Runtime     string            `json:"runtime,omitempty"`
	Spec        json.RawMessage   `json:"spec"`
	SnapshotKey string            `json:"snapshot_key,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func (c *container) toPB() *pb.Container {
	return &pb.Container{
		Id: c.ID, Labels: c.Labels, Image: c.Image, Runtime: &pb.Runtime{Name: c.Runtime},
		Spec: c.Spec, SnapshotKey: c.SnapshotKey,
		CreatedAt: c.CreatedAt.UnixNano(), UpdatedAt: c.UpdatedAt.UnixNano(),
	}
}

func (s *Server) getContainer(ctx context.Context, id string) (*container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var c container
	err := s.db.View(ctx, func(tx *metadata.Tx) error { return tx.Get(metadata.Containers, id, &c) })
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// containersService serves container metadata.
type containersService struct {
	pb.UnimplementedContainersServer
	s *Server
}

func (cs *containersService) Create(ctx context.Context, req *pb.CreateContainerRequest) (*pb.CreateContainerResponse, error) {
	in := req.GetContainer()
	if in == nil {
		return nil, fmt.Errorf("create container: no container: %w", errdefs.ErrInvalidArgument)
	}
	if err := checkID(in.Id); err != nil {
		return nil, err
	}
	if len(in.Spec) == 0 || !json.Valid(in.Spec) {
		return nil, fmt.Errorf("container %s: spec must be a JSON OCI runtime spec: %w", in.Id, errdefs.ErrInvalidArgument)
	}
	if _, err := cs.s.runtime(in.GetRuntime().GetName()); err != nil {
		return nil, fmt.Errorf("container %s: %w", in.Id, err)
	}
	if req.PrepareSnapshot && in.SnapshotKey == "" {
		return nil, fmt.Errorf("container %s: a snapshot to prepare needs a snapshot key: %w", in.Id, errdefs.ErrInvalidArgument)
	}
	// A task usually follows within milliseconds: begin the kernel's cgroup
	// wait now (package cgroupprime; Tasks/Create, the shim and the runtime
	// prime again).
	cgroupprime.Start()
	now := time.Now().UTC()
	c := &container{
		ID: in.Id, Labels: in.Labels, Image: in.Image, Runtime: in.GetRuntime().GetName(),
		Spec: in.Spec, SnapshotKey: in.SnapshotKey, CreatedAt: now, UpdatedAt: now,
	}
	var snapErr error
	var prepared sync.WaitGroup
	if req.PrepareSnapshot {
		// Beside the record (each store syncs its own file): the label
		// lets a start after a crash between the two find the snapshot
		// without its record (removeOrphanRootfs).
		prepared.Add(1)
		go func() {
			defer prepared.Done()
			_, snapErr = cs.s.snaps.Prepare(ctx, c.SnapshotKey, req.SnapshotParent, map[string]string{ContainerLabel: c.ID})
			if snapErr == nil {
				failpoint.Hit("container-rootfs-prepared")
			}
		}()
	}
	// Its task's shim starts now, while the record is written and the
	// snapshot prepared (shims_spare.go); in the background too, as its
	// fork and exec took 0.5 ms.
	var warmed sync.WaitGroup
	warmed.Add(1)
	go func() {
		defer warmed.Done()
		cs.s.tasks.warmShim(c.Runtime)
	}()
	err := cs.s.db.Update(ctx, func(tx *metadata.Tx) error { return tx.Create(metadata.Containers, c.ID, c) })
	if err == nil {
		failpoint.Hit("container-recorded")
	}
	prepared.Wait()
	warmed.Wait()
	// Undone on a context of our own: ctx may be what failed.
	undo := context.WithoutCancel(ctx)
	if err != nil {
		if req.PrepareSnapshot && snapErr == nil {
			if rerr := cs.s.snaps.Remove(undo, c.SnapshotKey); rerr != nil {
				err = fmt.Errorf("%w (and removing its snapshot: %v)", err, rerr)
			}
		}
		return nil, err
	}
	if snapErr != nil {
		err = fmt.Errorf("prepare rootfs of %s: %w", c.ID, snapErr)
		if derr := cs.s.db.Update(undo, func(tx *metadata.Tx) error { return tx.Delete(metadata.Containers, c.ID) }); derr != nil {
			err = fmt.Errorf("%w (and deleting container %s: %v)", err, c.ID, derr)
		}
		return nil, err
	}
	cs.s.publish(ctx, &pb.Envelope{Topic: "/containers/create", ContainerId: c.ID, Image: c.Image})
	return &pb.CreateContainerResponse{Container: c.toPB(), SnapshotPrepared: req.PrepareSnapshot}, nil
}

func (cs *containersService) Get(ctx context.Context, req *pb.GetContainerRequest) (*pb.GetContainerResponse, error) {
	c, err := cs.s.getContainer(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	return &pb.GetContainerResponse{Container: c.toPB()}, nil
}

func (cs *containersService) List(ctx context.Context, req *pb.ListContainersRequest) (*pb.ListContainersResponse, error) {
	resp := &pb.ListContainersResponse{}
	err := cs.s.db.View(ctx, func(tx *metadata.Tx) error {
		return tx.ForEach(metadata.Containers, func(_ string, raw []byte) error {
			var c container
			if err := json.Unmarshal(raw, &c); err != nil {
				return err
			}
			resp.Containers = append(resp.Containers, c.toPB())
			return nil
		})
	})
	sort.Slice(resp.Containers, func(i, j int) bool { return resp.Containers[i].Id < resp.Containers[j].Id })
	return resp, err
}

func (cs *containersService) Delete(ctx context.Context, req *pb.DeleteContainerRequest) (*pb.DeleteContainerResponse, error) {
	c, err := cs.s.getContainer(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	ns, _ := namespaceOf(ctx)
	if cs.s.tasks.exists(ns, c.ID) {
		return nil, fmt.Errorf("container %s has a task: delete it first: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	// The snapshot first: if it cannot go (still mounted by a shim that is
	// going away), the record stays and a retry finishes the job; the other
	// order would orphan the snapshot (garbage collection keeps active ones).
	if c.SnapshotKey != "" {
		if err := cs.s.snaps.Remove(ctx, c.SnapshotKey); err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("container %s: remove its snapshot: %w", c.ID, err)
		}
	}
	if err := cs.s.db.Update(ctx, func(tx *metadata.Tx) error { return tx.Delete(metadata.Containers, c.ID) }); err != nil {
		return nil, err
	}
	cs.s.tasks.forgetFailed(ns, c.ID)
	cs.s.publish(ctx, &pb.Envelope{Topic: "/containers/delete", ContainerId: c.ID, Image: c.Image})
	return &pb.DeleteContainerResponse{}, nil
}
