package metadata

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/namespaces"
)

func TestNamespacedRecords(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := namespaces.WithNamespace(context.Background(), "a")
	b := namespaces.WithNamespace(context.Background(), "b")
	type rec struct{ V string }
	if err := db.Update(a, func(tx *Tx) error { return tx.Create(Containers, "x", rec{"1"}) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(a, func(tx *Tx) error { return tx.Create(Containers, "x", rec{"2"}) }); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("dup: %v", err)
	}
	var r rec
	if err := db.View(b, func(tx *Tx) error { return tx.Get(Containers, "x", &r) }); !errdefs.IsNotFound(err) {
		t.Fatalf("other namespace: %v", err)
	}
	if err := db.View(a, func(tx *Tx) error { return tx.Get(Containers, "x", &r) }); err != nil || r.V != "1" {
		t.Fatalf("get: %v %+v", err, r)
	}
	// A failed transaction changes nothing.
	db.Update(a, func(tx *Tx) error {
		tx.Put(Containers, "y", rec{"y"})
		return errdefs.ErrConflict
	})
	if err := db.View(a, func(tx *Tx) error { return tx.Get(Containers, "y", &r) }); !errdefs.IsNotFound(err) {
		t.Fatalf("rolled back record visible: %v", err)
	}
	if err := db.Update(a, func(tx *Tx) error { return tx.Delete(Containers, "x") }); err != nil {
		t.Fatal(err)
	}
	bad := namespaces.WithNamespace(context.Background(), "BAD NS")
	if err := db.View(bad, func(tx *Tx) error { return nil }); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad namespace: %v", err)
	}
	ns, _ := db.Namespaces()
	if len(ns) != 1 || ns[0] != "a" {
		t.Fatalf("namespaces: %v", ns)
	}
}
