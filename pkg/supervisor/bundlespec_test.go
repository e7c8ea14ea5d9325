package supervisor

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
)

// The bundle's spec is the container's with root.path "rootfs": every
// other field, root's readonly included, comes through unchanged.
func TestBundleSpecSetsRootPathOnly(t *testing.T) {
	for name, in := range map[string]string{
		"root":    `{"ociVersion":"1.2.0","root":{"path":"/elsewhere","readonly":true},"process":{"args":["sh","-c","echo \"x\""],"env":["A=1"]},"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}},"annotations":{"k":"v"}}`,
		"no root": `{"ociVersion":"1.2.0","process":{"args":["true"]}}`,
		"null":    `{"ociVersion":"1.2.0","root":null}`,
	} {
		out, err := bundleSpec([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var want, got map[string]any
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		root, _ := want["root"].(map[string]any)
		if root == nil {
			root = map[string]any{}
		}
		root["path"] = "rootfs"
		want["root"] = root
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: the bundle's spec is not JSON: %v\n%s", name, err, out)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: bundle spec\n%s\nwant the same as\n%s\nwith root.path rootfs", name, out, in)
		}
	}
}

// A spec that is not JSON, or whose root is not an object, is refused as
// invalid.
func TestBundleSpecRefusesBadSpecs(t *testing.T) {
	for _, in := range []string{`{"root":`, `[1]`, `{"root":"rootfs"}`, `{"root":[]}`} {
		if _, err := bundleSpec([]byte(in)); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v, want an invalid argument", in, err)
		}
	}
}
