package supervisor

import (
	"context"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/namespaces"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// A create with prepare_snapshot makes the record and the snapshot, or
// neither; a start removes a snapshot such a create left without its
// record (a crash between the two) and keeps the others.
func TestCreateContainerPreparesSnapshot(t *testing.T) {
	cfg := testConfig(t)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs := &containersService{s: s}
	ctx := namespaces.WithNamespace(context.Background(), "ns1")
	spec := []byte(`{"ociVersion":"1.2.0","process":{"args":["true"]}}`)
	create := func(id, key, parent string, prepare bool) error {
		resp, err := cs.Create(ctx, &pb.CreateContainerRequest{
			Container:       &pb.Container{Id: id, Spec: spec, SnapshotKey: key},
			PrepareSnapshot: prepare, SnapshotParent: parent,
		})
		if err == nil && resp.SnapshotPrepared != prepare {
			t.Errorf("%s: snapshot_prepared %v, asked %v", id, resp.SnapshotPrepared, prepare)
		}
		return err
	}
	hasRecord := func(id string) bool { _, err := s.getContainer(ctx, id); return err == nil }
	hasSnapshot := func(key string) bool { _, err := s.snaps.Stat(ctx, key); return err == nil }

	if err := create("c1", "c1", "", true); err != nil {
		t.Fatal(err)
	}
	if info, err := s.snaps.Stat(ctx, "c1"); err != nil || !hasRecord("c1") || info.Labels[ContainerLabel] != "c1" {
		t.Fatalf("c1: record %v, snapshot %+v %v", hasRecord("c1"), info, err)
	}
	// The snapshot fails: the record goes again.
	if err := create("c2", "c2", "nosuch", true); !errdefs.IsNotFound(err) {
		t.Fatalf("missing parent: %v", err)
	}
	if hasRecord("c2") || hasSnapshot("c2") {
		t.Fatalf("c2 left: record %v, snapshot %v", hasRecord("c2"), hasSnapshot("c2"))
	}
	// The record fails: the snapshot goes again.
	if err := create("c3", "k3", "", false); err != nil {
		t.Fatal(err)
	}
	if err := create("c3", "k3b", "", true); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("taken id: %v", err)
	}
	if hasSnapshot("k3b") {
		t.Fatal("the snapshot of a create whose record failed is left")
	}
	if err := create("c4", "", "", true); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("no key: %v", err)
	}

	// A crash between the two: the snapshot alone, or pointing at a record
	// that is not its container's.
	if _, err := s.snaps.Prepare(ctx, "o1", "", map[string]string{ContainerLabel: "o1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.snaps.Prepare(ctx, "o2", "", map[string]string{ContainerLabel: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.snaps.Prepare(ctx, "mine", "", nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if hasSnapshot("o1") || hasSnapshot("o2") {
		t.Errorf("orphan snapshots kept at start: o1 %v, o2 %v", hasSnapshot("o1"), hasSnapshot("o2"))
	}
	if !hasSnapshot("c1") || !hasRecord("c1") || !hasSnapshot("mine") {
		t.Errorf("start removed c1 (snapshot %v, record %v) or an unlabeled snapshot (%v)", hasSnapshot("c1"), hasRecord("c1"), hasSnapshot("mine"))
	}
}
