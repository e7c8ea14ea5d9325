package build

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
)

func TestCopyRuleTarget(t *testing.T) {
	for _, tc := range []struct {
		rule     copyRule
		top      string
		topIsDir bool
		name     string
		want     string
	}{
		{copyRule{dest: "/app"}, "a.txt", false, "a.txt", "/app"},
		{copyRule{dest: "/app", destIsDir: true}, "a.txt", false, "a.txt", "/app/a.txt"},
		{copyRule{dest: "/app", destIsDir: true}, "src", true, "src/x/y", "/app/x/y"},
		{copyRule{dest: "/app"}, "src", true, "src/x", "/app/x"},
		{copyRule{dest: "/"}, "src", true, "src/x", "/x"},
	} {
		got, ok := tc.rule.target(tc.top, tc.topIsDir, tc.name)
		if !ok || got != tc.want {
			t.Errorf("%+v %s %s: %q %v, want %q", tc.rule, tc.top, tc.name, got, ok, tc.want)
		}
	}
	if _, ok := (copyRule{dest: "/app"}).target("src", true, "srcother/x"); ok {
		t.Errorf("a name outside the source was mapped")
	}
}

func TestParseChmod(t *testing.T) {
	m, err := parseChmod("4755")
	if err != nil || modeBits(*m) != 0o4755 {
		t.Fatalf("4755: %v %v", m, err)
	}
	for _, bad := range []string{"u+x", "99999", "0o755"} {
		if _, err := parseChmod(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if m, err := parseChmod(""); m != nil || err != nil {
		t.Errorf("empty: %v %v", m, err)
	}
}

// The content digest of COPY sources changes with content, names, modes
// and owners, not with times.
func TestLayerWriterDigest(t *testing.T) {
	digest := func(name, content string, mode int64, uid int, mtime time.Time) string {
		lw := newLayerWriter(io.Discard)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: mtime})
		tw.Write([]byte(content))
		tw.Close()
		if _, err := lw.addSource(&buf, copyRule{dest: "/d", destIsDir: true, uid: uid}); err != nil {
			t.Fatal(err)
		}
		return lw.digest()
	}
	base := digest("f", "x", 0o644, 0, time.Unix(1, 0))
	if d := digest("f", "x", 0o644, 0, time.Unix(99999, 0)); d != base {
		t.Errorf("a new mtime changed the digest")
	}
	for _, d := range []string{digest("f", "y", 0o644, 0, time.Unix(1, 0)), digest("g", "x", 0o644, 0, time.Unix(1, 0)),
		digest("f", "x", 0o755, 0, time.Unix(1, 0)), digest("f", "x", 0o644, 1000, time.Unix(1, 0))} {
		if d == base {
			t.Errorf("a change kept the digest")
		}
	}
}

func TestChainKey(t *testing.T) {
	a := chainKey("p", "RUN x", map[string]string{"A": "1", "B": "2"}, "")
	if b := chainKey("p", "RUN x", map[string]string{"B": "2", "A": "1"}, ""); a != b {
		t.Errorf("arg order changed the key")
	}
	for _, k := range []string{chainKey("q", "RUN x", map[string]string{"A": "1", "B": "2"}, ""), chainKey("p", "RUN y", map[string]string{"A": "1", "B": "2"}, ""),
		chainKey("p", "RUN x", map[string]string{"A": "1"}, ""), chainKey("p", "RUN x", map[string]string{"A": "1", "B": "2"}, "sha256:x")} {
		if k == a {
			t.Errorf("a different input gave the same key")
		}
	}
}

func TestCacheSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put("k", "sha256:img"); err != nil {
		t.Fatal(err)
	}
	c2, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := c2.Get("k"); !ok || v != "sha256:img" {
		t.Errorf("reopened cache: %q %v", v, ok)
	}
	os.WriteFile(filepath.Join(dir, "build", "cache.json"), []byte("{broken"), 0o600)
	c3, err := OpenCache(dir)
	if err == nil || c3.Len() != 0 {
		t.Errorf("a broken file: %v, %d entries", err, c3.Len())
	}
	if n, err := c2.Prune(); n != 1 || err != nil || c2.Len() != 0 {
		t.Errorf("prune: %d %v", n, err)
	}
}

// The context is unpacked, the Dockerfile read, and .dockerignore applied
// with exceptions; a Dockerfile the client added under its own name is not
// part of the context.
func TestUnpackContextIgnore(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range map[string]string{
		"Dockerfile": "FROM scratch\n", ".dockerignore": "*.log\nsecret\ndir\n!dir/keep\n",
		"a.log": "l", "keep.txt": "k", "secret": "s", "dir/x": "x", "dir/keep": "k", ".dockerfile.abc": "FROM busybox\n",
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		tw.Write([]byte(content))
	}
	tw.Close()
	data := buf.Bytes()
	bc, df, err := unpackContext(context.Background(), bytes.NewReader(data), t.TempDir(), ".dockerfile.abc")
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	if string(df) != "FROM busybox\n" {
		t.Errorf("Dockerfile %q", df)
	}
	var files []string
	filepath.Walk(bc.dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(bc.dir, p)
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	if got := strings.Join(files, " "); got != ".dockerignore Dockerfile dir/keep keep.txt" {
		t.Errorf("context after .dockerignore: %s", got)
	}
	if _, err := bc.resolve("../../etc/passwd"); err == nil {
		if p, _ := bc.resolve("../../etc/passwd"); !strings.HasPrefix(p, bc.dir) {
			t.Errorf("resolve left the context: %s", p)
		}
	}
	if _, _, err := unpackContext(context.Background(), bytes.NewReader(data), t.TempDir(), "nosuch"); err == nil || !strings.Contains(err.Error(), "Cannot locate specified Dockerfile: nosuch") {
		t.Errorf("a missing Dockerfile was accepted")
	}
}

func TestParentsKeepAndExclude(t *testing.T) {
	for src, want := range map[string]string{"a/b/c.txt": "a/b/c.txt", "x/./y/": "y", "./x/y": "x/y", "/abs/./k/f": "k/f"} {
		if got := parentsKeep(src); got != want {
			t.Errorf("parentsKeep(%q) = %q, want %q", src, got, want)
		}
	}
	r := copyRule{dest: "/p", keep: "a/b"}
	if got, _ := r.target("b", true, "b/c.txt"); got != "/p/a/b/c.txt" {
		t.Errorf("--parents target: %s", got)
	}
	pm, err := patternmatcher.New([]string{"**/*.md", "tmp"})
	if err != nil {
		t.Fatal(err)
	}
	r = copyRule{dest: "/e", exclude: pm}
	for _, tc := range []struct {
		top   string
		isDir bool
		name  string
		want  bool
	}{
		{"src", true, "src/x/readme.md", true}, {"src", true, "src/tmp/f", true}, {"src", true, "src/x/a.go", false},
		{"src", true, "src", false}, {"notes.md", false, "notes.md", true}, {"a.go", false, "a.go", false},
	} {
		if got := r.excluded(tc.top, tc.isDir, tc.name); got != tc.want {
			t.Errorf("excluded(%s, %s) = %v", tc.top, tc.name, got)
		}
	}
}

func TestParseSymbolic(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		mode  int64
		isDir bool
		want  int64
	}{
		{"u+x", 0o644, false, 0o744}, {"+x", 0o644, false, 0o755}, {"go-w", 0o666, false, 0o644},
		{"u=rwx,go=rx", 0o600, false, 0o755}, {"a+X", 0o644, false, 0o644}, {"a+X", 0o644, true, 0o755},
		{"u+s,o+t", 0o755, false, 0o5755}, {"o=", 0o777, false, 0o770}, {"u+r-w", 0o600, false, 0o400},
	} {
		f, err := parseSymbolic(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		if got := f(tc.mode, tc.isDir); got != tc.want {
			t.Errorf("%s on %o: %o, want %o", tc.spec, tc.mode, got, tc.want)
		}
	}
	for _, bad := range []string{"", "u", "u+q", "z+x", "u+x,", "755x"} {
		if _, err := parseSymbolic(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
