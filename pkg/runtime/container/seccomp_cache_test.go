package container

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/berthd/berth/pkg/runtime/seccomp"
	profiles "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func dockerProfile(t testing.TB, caps ...string) *specs.LinuxSeccomp {
	s := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	p, err := profiles.GetDefaultProfile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeBundle(t *testing.T, s *specs.Spec) string {
	dir := t.TempDir()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The raw decode must give the same spec as a plain decode, the profile
// aside, or create would run a different container than the config says.
func TestLoadBundleSpecKeepsEverythingButSeccomp(t *testing.T) {
	s := DefaultSpec(true)
	s.Linux.Seccomp = dockerProfile(t, "CAP_CHOWN")
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	s.Annotations = map[string]string{"a": "b"}
	bundle := writeBundle(t, s)

	got, raw, err := loadBundleSpec(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if got.Linux.Seccomp != nil {
		t.Fatal("loadBundleSpec decoded linux.seccomp")
	}
	var prof specs.LinuxSeccomp
	if err := json.Unmarshal(raw, &prof); err != nil || !reflect.DeepEqual(&prof, s.Linux.Seccomp) {
		t.Fatalf("raw profile differs (err %v)", err)
	}
	full, err := LoadSpec(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(full, s) {
		t.Fatal("LoadSpec differs from the spec written")
	}
	full.Linux.Seccomp = nil
	if !reflect.DeepEqual(full, got) {
		t.Fatal("loadBundleSpec differs from LoadSpec beyond linux.seccomp")
	}

	s.Linux = nil
	got, raw, err = loadBundleSpec(writeBundle(t, s))
	if err != nil || got.Linux != nil || raw != nil {
		t.Fatalf("no linux section: %v %v %q", err, got.Linux, raw)
	}
	// Other platforms' sections are ignored, as runc does, and not decoded.
	s = DefaultSpec(true)
	s.Windows = &specs.Windows{LayerFolders: []string{`C:\layers`}}
	s.VM = &specs.VM{Kernel: specs.VMKernel{Path: "/vmlinuz"}}
	s.Solaris = &specs.Solaris{Milestone: "m"}
	s.ZOS = &specs.ZOS{}
	full, err = LoadSpec(writeBundle(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if full.Windows != nil || full.VM != nil || full.Solaris != nil || full.ZOS != nil {
		t.Fatalf("other platforms decoded: %+v %+v %+v %+v", full.Windows, full.VM, full.Solaris, full.ZOS)
	}
	s.Windows, s.VM, s.Solaris, s.ZOS = nil, nil, nil, nil
	if !reflect.DeepEqual(full, s) {
		t.Fatal("LoadSpec with other platforms' sections differs from the spec written without them")
	}

	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "config.json"), []byte(`{"ociVersion":"1.0.0","linux":{"seccomp":{"defaultAction":7}}}`), 0o600)
	if _, err := LoadSpec(bad); err == nil {
		t.Fatal("LoadSpec accepted a malformed linux.seccomp")
	}
}

func TestSeccompCache(t *testing.T) {
	root := t.TempDir()
	raw, _ := json.Marshal(dockerProfile(t, "CAP_CHOWN"))

	first, err := compileSeccompCached(root, raw)
	if err != nil || first == nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, seccompCacheDir))
	if len(ents) != 1 {
		t.Fatalf("cache has %d entries, want 1", len(ents))
	}
	again, err := compileSeccompCached(root, raw)
	if err != nil || !reflect.DeepEqual(first, again) {
		t.Fatalf("cached filter differs (err %v)", err)
	}

	// Another capability set is another profile, hence another filter.
	other, _ := json.Marshal(dockerProfile(t, "CAP_SYS_ADMIN"))
	o, err := compileSeccompCached(root, other)
	if err != nil || reflect.DeepEqual(o.Filter.Prog, first.Filter.Prog) {
		t.Fatalf("a different profile got the same program (err %v)", err)
	}

	// A damaged entry is compiled again, not trusted.
	key := seccompCacheKey(raw)
	if err := os.WriteFile(filepath.Join(root, seccompCacheDir, key), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err = compileSeccompCached(root, raw)
	if err != nil || !reflect.DeepEqual(first, again) {
		t.Fatalf("after damage: %v", err)
	}

	// A bad profile is an error and leaves nothing cached.
	if _, err := compileSeccompCached(root, []byte(`{"defaultAction":"SCMP_ACT_NOPE"}`)); err == nil {
		t.Fatal("bad profile compiled")
	}
	if sc, err := compileSeccompCached(root, []byte("null")); sc != nil || err != nil {
		t.Fatal("null profile gave a filter")
	}
	ents, _ = os.ReadDir(filepath.Join(root, seccompCacheDir))
	if len(ents) != 2 {
		t.Fatalf("cache has %d entries, want 2", len(ents))
	}
}

func TestSeccompCachePrunes(t *testing.T) {
	dir := t.TempDir()
	for i := range seccompCacheMax + 5 {
		os.WriteFile(filepath.Join(dir, string(rune('a'+i))), nil, 0o600)
	}
	pruneSeccompCache(dir)
	if ents, _ := os.ReadDir(dir); len(ents) != seccompCacheMax {
		t.Fatalf("%d entries after prune, want %d", len(ents), seccompCacheMax)
	}
}

func BenchmarkCreateSeccompCached(b *testing.B) {
	root := b.TempDir()
	raw, _ := json.Marshal(dockerProfile(b, "CAP_CHOWN"))
	for b.Loop() {
		if _, err := compileSeccompCached(root, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateSeccompUncached(b *testing.B) {
	raw, _ := json.Marshal(dockerProfile(b, "CAP_CHOWN"))
	for b.Loop() {
		var c specs.LinuxSeccomp
		if err := json.Unmarshal(raw, &c); err != nil {
			b.Fatal(err)
		}
		if _, err := seccomp.Compile(&c); err != nil {
			b.Fatal(err)
		}
	}
}

// The container's filter is the cache's file, linked: the same bytes exec
// reads, without encoding and writing them again; without that file (pruned
// meanwhile) it is written.
func TestSavedSeccompLinksTheCache(t *testing.T) {
	root := t.TempDir()
	raw, _ := json.Marshal(dockerProfile(t, "CAP_CHOWN"))
	for i, fresh := range []bool{true, false} {
		if fresh {
			os.RemoveAll(filepath.Join(root, seccompCacheDir))
		}
		sc, err := compileSeccompCached(root, raw)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, "c"+string(rune('0'+i)))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := saveSeccomp(dir, sc); err != nil {
			t.Fatal(err)
		}
		saved, err1 := os.Stat(filepath.Join(dir, seccompFile))
		cached, err2 := os.Stat(filepath.Join(root, seccompCacheDir, seccompCacheKey(raw)))
		if err1 != nil || err2 != nil || !os.SameFile(saved, cached) {
			t.Fatalf("fresh=%v: saved filter is not the cache's file (%v, %v)", fresh, err1, err2)
		}
		got, err := loadSeccomp(&State{dir: dir})
		if err != nil || !reflect.DeepEqual(got.Filter, sc.Filter) {
			t.Fatalf("fresh=%v: loaded filter differs (err %v)", fresh, err)
		}
	}

	sc, err := compileSeccompCached(root, raw)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(root, seccompCacheDir))
	dir := filepath.Join(root, "pruned")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := saveSeccomp(dir, sc); err != nil {
		t.Fatal(err)
	}
	got, err := loadSeccomp(&State{dir: dir})
	if err != nil || !reflect.DeepEqual(got.Filter, sc.Filter) || got.ListenerPath != sc.ListenerPath {
		t.Fatalf("filter written without its cache file differs (err %v)", err)
	}
}

// A compiled filter's file: what encode writes decodes to the same filter,
// and the JSON that earlier runtimes wrote (seccomp-filter.json) still
// reads; a truncated program or a file without its header does not.
func TestCompiledFilterFile(t *testing.T) {
	p := dockerProfile(t, "CAP_CHOWN")
	p.ListenerPath, p.ListenerMetadata = "/run/agent.sock", "meta"
	f, err := seccomp.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	sc := newCompiledSeccomp(p, f)
	b, err := sc.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeCompiled(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sc) {
		t.Fatalf("decoded %+v, want %+v", got, sc)
	}
	old, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeCompiled(old); err != nil || !reflect.DeepEqual(got, sc) {
		t.Fatalf("the JSON of earlier runtimes: %v, %+v", err, got)
	}
	for name, bad := range map[string][]byte{
		"truncated":    b[:len(b)-3],
		"no header":    []byte(compiledMagic),
		"no program":   b[:len(b)-8*len(f.Prog)],
		"not a filter": []byte(`{"listenerPath":"x"}`),
	} {
		if _, err := decodeCompiled(bad); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// exec of a container an earlier runtime created reads its filter, JSON,
// from seccomp-filter.json.
func TestLoadSeccompEarlierJSON(t *testing.T) {
	p := dockerProfile(t, "CAP_CHOWN")
	f, err := seccomp.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	sc := newCompiledSeccomp(p, f)
	b, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	st := &State{dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(st.dir, seccompFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := loadSeccomp(st)
	if err != nil || !reflect.DeepEqual(got, sc) {
		t.Fatalf("loadSeccomp: %v, %+v", err, got)
	}
}
