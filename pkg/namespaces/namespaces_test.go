package namespaces

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestNamespaceFromContextAndMetadata(t *testing.T) {
	if ns := Namespace(context.Background()); ns != Default {
		t.Fatalf("default: %q", ns)
	}
	ctx := WithNamespace(context.Background(), "engine")
	if ns := Namespace(ctx); ns != "engine" {
		t.Fatalf("set: %q", ns)
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	// What a server sees: the outgoing metadata arrives as incoming.
	in := metadata.NewIncomingContext(context.Background(), md)
	if ns := Namespace(in); ns != "engine" {
		t.Fatalf("over the wire: %q", ns)
	}
}

func TestValidate(t *testing.T) {
	for _, ok := range []string{"default", "engine", "k8s.io", "a", "a-b_c"} {
		if err := Validate(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../x", "A", "-a", "a/b", "a\x00"} {
		if err := Validate(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}
