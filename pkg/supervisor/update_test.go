package supervisor

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthd/berth/pkg/namespaces"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
)

func TestContainersUpdate(t *testing.T) {
	_, conn := serve(t, testConfig(t))
	c := pb.NewContainersClient(conn)
	ctx := namespaces.WithNamespace(context.Background(), "ns1")
	spec := []byte(`{"ociVersion":"1.2.0","process":{"args":["true"]}}`)
	if _, err := c.Create(ctx, &pb.CreateContainerRequest{Container: &pb.Container{Id: "c1", Spec: spec, Image: "img", Labels: map[string]string{"a": "1"}}}); err != nil {
		t.Fatal(err)
	}
	newSpec := []byte(`{"ociVersion":"1.2.0","process":{"args":["true"]},"linux":{"resources":{"pids":{"limit":20}}}}`)
	resp, err := c.Update(ctx, &pb.UpdateContainerRequest{Container: &pb.Container{Id: "c1", Spec: newSpec, Image: "other"}, UpdateFields: []string{"spec"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Container.Spec) != string(newSpec) || resp.Container.Image != "img" || resp.Container.Labels["a"] != "1" {
		t.Errorf("updated %+v: only the spec may change", resp.Container)
	}
	g, _ := c.Get(ctx, &pb.GetContainerRequest{Id: "c1"})
	if string(g.Container.Spec) != string(newSpec) || g.Container.UpdatedAt <= g.Container.CreatedAt {
		t.Errorf("stored %+v", g.Container)
	}
	if _, err := c.Update(ctx, &pb.UpdateContainerRequest{Container: &pb.Container{Id: "c1", Labels: map[string]string{"b": "2"}}, UpdateFields: []string{"labels"}}); err != nil {
		t.Fatal(err)
	}
	if g, _ := c.Get(ctx, &pb.GetContainerRequest{Id: "c1"}); g.Container.Labels["b"] != "2" || string(g.Container.Spec) != string(newSpec) {
		t.Errorf("labels update: %+v", g.Container)
	}
	for _, bad := range []struct {
		req  *pb.UpdateContainerRequest
		code codes.Code
	}{
		{&pb.UpdateContainerRequest{}, codes.InvalidArgument},
		{&pb.UpdateContainerRequest{Container: &pb.Container{Id: "c1", Spec: newSpec}}, codes.InvalidArgument},
		{&pb.UpdateContainerRequest{Container: &pb.Container{Id: "c1", SnapshotKey: "k"}, UpdateFields: []string{"snapshot_key"}}, codes.InvalidArgument},
		{&pb.UpdateContainerRequest{Container: &pb.Container{Id: "c1", Spec: []byte("{")}, UpdateFields: []string{"spec"}}, codes.InvalidArgument},
		{&pb.UpdateContainerRequest{Container: &pb.Container{Id: "nope", Spec: newSpec}, UpdateFields: []string{"spec"}}, codes.NotFound},
		{&pb.UpdateContainerRequest{Container: &pb.Container{Id: "../x", Spec: newSpec}, UpdateFields: []string{"spec"}}, codes.InvalidArgument},
	} {
		if _, err := c.Update(ctx, bad.req); status.Code(err) != bad.code {
			t.Errorf("%v: %v, want %v", bad.req, err, bad.code)
		}
	}
	if g, _ := c.Get(ctx, &pb.GetContainerRequest{Id: "c1"}); string(g.Container.Spec) != string(newSpec) {
		t.Error("a refused update changed the spec")
	}
	// Another namespace's container is not there.
	if _, err := c.Update(namespaces.WithNamespace(context.Background(), "ns2"), &pb.UpdateContainerRequest{Container: &pb.Container{Id: "c1", Spec: spec}, UpdateFields: []string{"spec"}}); status.Code(err) != codes.NotFound {
		t.Errorf("other namespace: %v", err)
	}
	tasks := pb.NewTasksClient(conn)
	if _, err := tasks.Update(ctx, &pb.UpdateTaskRequest{ContainerId: "c1", Resources: []byte(`{}`)}); status.Code(err) != codes.NotFound {
		t.Errorf("update of no task: %v", err)
	}
	if _, err := tasks.Update(ctx, &pb.UpdateTaskRequest{ContainerId: "c1"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("update without resources: %v", err)
	}
}
