// Package namespaces carries the supervisor tenant ("namespace") in a
// context.Context and across gRPC in request metadata, so that no function
// signature needs a namespace argument.
package namespaces

import (
	"context"
	"fmt"
	"regexp"

	"google.golang.org/grpc/metadata"

	"github.com/berthd/berth/pkg/errdefs"
)

const (
	// Default is the namespace used when none is set.
	Default = "default"
	// MetadataKey is the gRPC metadata key holding the namespace.
	MetadataKey = "berth-namespace"
)

type key struct{}

var valid = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)

// WithNamespace returns a context carrying ns, also set in outgoing gRPC metadata.
func WithNamespace(ctx context.Context, ns string) context.Context {
	ctx = context.WithValue(ctx, key{}, ns)
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	md.Set(MetadataKey, ns)
	return metadata.NewOutgoingContext(ctx, md)
}

// Namespace returns the namespace of ctx: the one set by WithNamespace, else
// the one in incoming gRPC metadata, else Default.
func Namespace(ctx context.Context) string {
	if ns, ok := ctx.Value(key{}).(string); ok && ns != "" {
		return ns
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(MetadataKey); len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return Default
}

// NamespaceRequired returns the namespace of ctx after checking that it is a
// valid name (it becomes a path element and a bbolt bucket name).
func NamespaceRequired(ctx context.Context) (string, error) {
	ns := Namespace(ctx)
	if err := Validate(ns); err != nil {
		return "", err
	}
	return ns, nil
}

// Validate checks that ns is a usable namespace name.
func Validate(ns string) error {
	if !valid.MatchString(ns) {
		return fmt.Errorf("namespace %q: must be 1-64 of [a-z0-9._-], starting and ending alphanumeric: %w", ns, errdefs.ErrInvalidArgument)
	}
	return nil
}
