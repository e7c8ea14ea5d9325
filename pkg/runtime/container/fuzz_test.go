package container

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadSpec decodes a bundle's config.json (linux.seccomp kept raw, then
// decoded apart) and validates it as create does: any bytes are refused
// with an error or accepted, never a panic.
func FuzzLoadSpec(f *testing.F) {
	f.Add([]byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"mount"},{"type":"pid"}]}}`))
	f.Add([]byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs","readonly":true},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"pid"}],"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}}}`))
	f.Add([]byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"user"},{"type":"mount","path":"/proc/1/ns/mnt"}],"timeOffsets":{"monotonic":{"secs":1}}}}`))
	f.Add([]byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"linux":null,"process":null}`))
	f.Add([]byte(`{"linux":{"seccomp":null}}`))
	bundle := f.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := LoadSpec(bundle)
		if err != nil {
			return
		}
		_ = Validate(s, bundle)
	})
}
