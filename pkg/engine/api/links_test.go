package api

import (
	"context"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berthd/berth/pkg/engine/containers"
)

// rm --link removes a link (/PARENT/ALIAS, whose slashes no route of the
// mux takes) and nothing else; naming a container with it removes nothing.
func TestRemoveLink(t *testing.T) {
	e, _ := newFullEnv(t)
	ctx := context.Background()
	e.named(t, "web", &container.Config{Cmd: []string{"sleep"}})
	res, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "app",
		Config:     &container.Config{Image: "busybox", Cmd: []string{"sleep"}},
		HostConfig: &container.HostConfig{Links: []string{"web:db", "web:cache"}}})
	if err != nil {
		t.Fatal(err)
	}
	rm := func(name string) error {
		_, err := e.cl.ContainerRemove(ctx, name, client.ContainerRemoveOptions{RemoveLinks: true})
		return err
	}
	if err := rm("app"); !errdefs.IsConflict(err) {
		t.Fatalf("rm --link of a container's name: %v, want a conflict", err)
	}
	if err := rm("/app/nope"); !errdefs.IsNotFound(err) {
		t.Fatalf("rm --link of no link: %v, want not found", err)
	}
	if err := rm("/nope/db"); !errdefs.IsNotFound(err) {
		t.Fatalf("rm --link under no container: %v, want not found", err)
	}
	if err := rm("/app/db"); err != nil {
		t.Fatal(err)
	}
	if got := e.inspect(t, res.ID).HostConfig.Links; !slices.Equal(got, []string{"web:cache"}) {
		t.Fatalf("links after rm --link /app/db: %v", got)
	}
	// Both containers are still there, and the change is on disk.
	e.inspect(t, "web")
	e.d.Close()
	d, err := containers.New(ctx, e.full, e.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if c, err := d.Inspect(ctx, "app"); err != nil || !slices.Equal(c.HostConfig.Links, []string{"web:cache"}) {
		t.Fatalf("links read by a new engine: %v %v", c.HostConfig, err)
	}
}
