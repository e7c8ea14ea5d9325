package containers_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/containers/containerstest"
	"github.com/berthd/berth/pkg/errdefs"
)

const busyboxChain = "sha256:chain-docker.io/library/busybox:latest"

func userDaemon(t *testing.T) (*containers.Daemon, *containerstest.Supervisor) {
	t.Helper()
	sup := containerstest.New()
	d, err := containers.New(context.Background(), sup, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d, sup
}

func specUser(t *testing.T, sup *containerstest.Supervisor, id string) specs.User {
	t.Helper()
	var s specs.Spec
	if err := json.Unmarshal(sup.Containers[id].Spec, &s); err != nil {
		t.Fatal(err)
	}
	return s.Process.User
}

// -u and --group-add are resolved at create in the image's own files.
func TestCreateUser(t *testing.T) {
	d, sup := userDaemon(t)
	ctx := context.Background()
	for _, tc := range []struct {
		user     string
		groupAdd []string
		want     specs.User
	}{
		{"", nil, specs.User{AdditionalGids: []uint32{0, 10}}},
		{"nobody", nil, specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534, 100}}},
		{"nobody:nogroup", nil, specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534}}},
		{"nobody:wheel", nil, specs.User{UID: 65534, GID: 10, AdditionalGids: []uint32{10}}},
		{"1234:5678", nil, specs.User{UID: 1234, GID: 5678, AdditionalGids: []uint32{5678}}},
		{"nobody", []string{"wheel", "4000"}, specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534, 100, 10, 4000}}},
	} {
		c, err := d.Create(ctx, containers.CreateOptions{
			Config:     &container.Config{Image: "busybox", Cmd: []string{"id"}, User: tc.user},
			HostConfig: &container.HostConfig{GroupAdd: tc.groupAdd},
		})
		if err != nil {
			t.Fatalf("%q %v: %v", tc.user, tc.groupAdd, err)
		}
		if got := specUser(t, sup, c.ID); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q %v: %+v, want %+v", tc.user, tc.groupAdd, got, tc.want)
		}
	}
	// The image's USER is resolved the same way.
	sup.AddImage("docker.io/library/withuser:latest", "sha256:"+strings.Repeat("u", 64), &ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"id"}, User: "nobody"}})
	sup.SetFile("sha256:chain-docker.io/library/withuser:latest", "/etc/passwd", []byte(containerstest.BusyboxPasswd))
	c, err := d.Create(ctx, containers.CreateOptions{Config: &container.Config{Image: "withuser"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := specUser(t, sup, c.ID); got.UID != 65534 || got.GID != 65534 {
		t.Errorf("image USER nobody: %+v", got)
	}
}

// An image without /etc/passwd takes numeric ids only.
func TestCreateUserNoPasswd(t *testing.T) {
	d, sup := userDaemon(t)
	ctx := context.Background()
	sup.AddImage("docker.io/library/scratchy:latest", "sha256:"+strings.Repeat("s", 64), &ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"id"}}})
	c, err := d.Create(ctx, containers.CreateOptions{Config: &container.Config{Image: "scratchy", User: "1000"}, HostConfig: &container.HostConfig{GroupAdd: []string{"20"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := specUser(t, sup, c.ID), (specs.User{UID: 1000, AdditionalGids: []uint32{0, 20}}); !reflect.DeepEqual(got, want) {
		t.Errorf("%+v, want %+v", got, want)
	}
	_, err = d.Create(ctx, containers.CreateOptions{Config: &container.Config{Image: "scratchy", User: "nobody"}})
	if !errdefs.IsInvalidArgument(err) || err.Error() != "unable to find user nobody: no matching entries in passwd file" {
		t.Errorf("name without passwd: %v", err)
	}
}

// A bad user is a 400 with dockerd's message, and leaves nothing: no
// container, no snapshot, the name free.
func TestCreateUserRefused(t *testing.T) {
	d, sup := userDaemon(t)
	ctx := context.Background()
	sup.AddImage("docker.io/library/huge:latest", "sha256:"+strings.Repeat("h", 64), &ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"id"}}})
	sup.SetFile("sha256:chain-docker.io/library/huge:latest", "/etc/passwd", make([]byte, 1<<20+1))
	for _, tc := range []struct {
		image, user string
		groupAdd    []string
		msg         string
	}{
		{"busybox", "nosuchuser", nil, "unable to find user nosuchuser: no matching entries in passwd file"},
		{"busybox", "nobody:nosuchgroup", nil, "unable to find group nosuchgroup: no matching entries in group file"},
		{"busybox", "nobody", []string{"nosuchgroup"}, "Unable to find group nosuchgroup: no matching entries in group file"},
		{"huge", "0", nil, "unable to read /etc/passwd of the container: "},
	} {
		_, err := d.Create(ctx, containers.CreateOptions{
			Name:       "named",
			Config:     &container.Config{Image: tc.image, Cmd: []string{"id"}, User: tc.user},
			HostConfig: &container.HostConfig{GroupAdd: tc.groupAdd},
		})
		if !errdefs.IsInvalidArgument(err) || !strings.HasPrefix(err.Error(), tc.msg) {
			t.Errorf("%s -u %q: %v, want 400 %q", tc.image, tc.user, err, tc.msg)
		}
	}
	if len(sup.Containers) != 0 || len(sup.Snapshots) != 0 || len(d.List(true, 0)) != 0 {
		t.Errorf("left: containers %v snapshots %v engine %v", sup.Containers, sup.Snapshots, d.List(true, 0))
	}
	if _, err := d.Create(ctx, containers.CreateOptions{Name: "named", Config: &container.Config{Image: "busybox", Cmd: []string{"id"}}}); err != nil {
		t.Errorf("the name stayed taken: %v", err)
	}
}

// exec -u is resolved in the container's own files (its snapshot, not the
// image's), with the container's --group-add.
func TestExecUser(t *testing.T) {
	d, sup := userDaemon(t)
	ctx := context.Background()
	c, err := d.Create(ctx, containers.CreateOptions{
		Config:     &container.Config{Image: "busybox", Cmd: []string{"sleep"}},
		HostConfig: &container.HostConfig{GroupAdd: []string{"wheel"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// A user the container added after it started.
	sup.SetFile(c.ID, "/etc/passwd", []byte(containerstest.BusyboxPasswd+"late:x:2000:2001::/:/bin/sh\n"))
	run := func(user string) (specs.User, error) {
		t.Helper()
		e, err := d.ExecCreate(ctx, c.ID, container.ExecCreateRequest{Cmd: []string{"true"}, User: user})
		if err != nil {
			return specs.User{}, err
		}
		start, _, err := d.PrepareExecStart(ctx, e.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := start(nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		return sup.Execs[len(sup.Execs)-1].User, nil
	}
	for user, want := range map[string]specs.User{
		"nobody": {UID: 65534, GID: 65534, AdditionalGids: []uint32{65534, 100, 10}},
		"late":   {UID: 2000, GID: 2001, AdditionalGids: []uint32{2001, 10}},
		"7:8":    {UID: 7, GID: 8, AdditionalGids: []uint32{8, 10}},
		// No -u: the container's own user.
		"": {UID: 0, GID: 0, AdditionalGids: []uint32{0, 10}},
	} {
		got, err := run(user)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("exec -u %q: %+v, %v; want %+v", user, got, err, want)
		}
	}
	n := len(sup.Execs)
	if _, err := run("nosuchuser"); !errdefs.IsInvalidArgument(err) || err.Error() != "unable to find user nosuchuser: no matching entries in passwd file" {
		t.Errorf("exec -u nosuchuser: %v", err)
	}
	ci, err := d.Inspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sup.Execs) != n || len(ci.ExecIDs()) != n {
		t.Errorf("a refused exec ran or was recorded: %d processes, exec IDs %v", len(sup.Execs), ci.ExecIDs())
	}
}

// An image's account files are read once: a committed snapshot never
// changes, so later creates from it take them from memory.
func TestCreateReadsImageAccountsOnce(t *testing.T) {
	d, sup := userDaemon(t)
	ctx := context.Background()
	sup.AddImage("docker.io/library/withuser2:latest", "sha256:"+strings.Repeat("w", 64), &ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"id"}, User: "nobody"}})
	sup.SetFile("sha256:chain-docker.io/library/withuser2:latest", "/etc/passwd", []byte(containerstest.BusyboxPasswd))
	var reads []int
	for i := 0; i < 3; i++ {
		before := sup.FileReads()
		c, err := d.Create(ctx, containers.CreateOptions{Config: &container.Config{Image: "withuser2"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := specUser(t, sup, c.ID); got.UID != 65534 || got.GID != 65534 {
			t.Fatalf("create %d: image USER nobody: %+v", i, got)
		}
		reads = append(reads, sup.FileReads()-before)
	}
	if reads[0] != 2 || reads[1] != 0 || reads[2] != 0 {
		t.Fatalf("reads of /etc/passwd and /etc/group per create: %v, want [2 0 0]", reads)
	}
}
