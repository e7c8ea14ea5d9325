package cli

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSplitCpArg(t *testing.T) {
	for _, tc := range []struct{ in, ctr, p string }{
		{"c1:/etc", "c1", "/etc"},
		{"/abs:x", "", "/abs:x"},
		{"./a:b", "", "./a:b"},
		{"file", "", "file"},
		{"c1:", "c1", ""},
	} {
		if ctr, p := splitCpArg(tc.in); ctr != tc.ctr || p != tc.p {
			t.Errorf("splitCpArg(%q) = %q, %q", tc.in, ctr, p)
		}
	}
}

func TestPrepareCopy(t *testing.T) {
	for _, tc := range []struct {
		name            string
		src, dst        copyInfo
		dir, oldB, newB string
		err             error
	}{
		{"file into dir", copyInfo{Path: "/s/f"}, copyInfo{Path: "/d", Exists: true, IsDir: true}, "/d", "", "", nil},
		{"file onto file", copyInfo{Path: "/s/f"}, copyInfo{Path: "/d/x", Exists: true}, "/d", "f", "x", nil},
		{"file to new name", copyInfo{Path: "/s/f"}, copyInfo{Path: "/d/new"}, "/d", "f", "new", nil},
		{"file to new dir/", copyInfo{Path: "/s/f"}, copyInfo{Path: "/d/new/"}, "", "", "", errCpDirNotExists},
		{"dir onto file", copyInfo{Path: "/s/d", IsDir: true}, copyInfo{Path: "/d/x", Exists: true}, "", "", "", errCpCannotCopy},
		{"dir to new name", copyInfo{Path: "/s/d", IsDir: true}, copyInfo{Path: "/d/new"}, "/d", "d", "new", nil},
		{"dir/. to new name", copyInfo{Path: "/s/d/.", IsDir: true}, copyInfo{Path: "/d/new"}, "/d", ".", "new", nil},
		{"followed link", copyInfo{Path: "/s/target", RebaseName: "link"}, copyInfo{Path: "/d/new"}, "/d", "link", "new", nil},
	} {
		dir, o, n, err := prepareCopy(tc.src, tc.dst)
		if dir != tc.dir || o != tc.oldB || n != tc.newB || !errors.Is(err, tc.err) {
			t.Errorf("%s: %q %q %q %v", tc.name, dir, o, n, err)
		}
	}
}

func TestRebaseEntries(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for _, h := range []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir}, {Name: "./a", Typeflag: tar.TypeReg},
		{Name: "./h", Typeflag: tar.TypeLink, Linkname: "./a"}, {Name: "other", Typeflag: tar.TypeReg},
	} {
		tw.WriteHeader(h)
	}
	tw.Close()
	var out bytes.Buffer
	if err := rebaseEntries(&in, &out, ".", "new"); err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		got = append(got, h.Name+">"+h.Linkname)
	}
	if s := strings.Join(got, ","); s != "new/>,new/a>,new/h>new/a,other>" {
		t.Errorf("rebased: %s", s)
	}
}

func TestLocalPaths(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "d"), 0o755)
	os.Symlink("d", filepath.Join(dir, "ld"))
	os.Symlink("missing", filepath.Join(dir, "dangling"))
	src, err := localSource(filepath.Join(dir, "ld"), true)
	if err != nil || src.Path != filepath.Join(dir, "d") || !src.IsDir || src.RebaseName != "ld" {
		t.Errorf("-L source: %+v %v", src, err)
	}
	src, err = localSource(filepath.Join(dir, "ld"), false)
	if err != nil || src.IsDir || src.RebaseName != "" {
		t.Errorf("source link: %+v %v", src, err)
	}
	dst, err := localDestination(filepath.Join(dir, "ld"))
	if err != nil || !dst.Exists || !dst.IsDir || dst.Path != filepath.Join(dir, "d") {
		t.Errorf("destination link: %+v %v", dst, err)
	}
	dst, err = localDestination(filepath.Join(dir, "dangling"))
	if err != nil || dst.Exists || dst.Path != filepath.Join(dir, "missing") {
		t.Errorf("dangling destination: %+v %v", dst, err)
	}
	if _, err := localDestination(filepath.Join(dir, "nope", "x")); err == nil {
		t.Errorf("destination in a missing directory accepted")
	}
	if err := validateOutputPath(filepath.Join(dir, "nope", "x")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("validateOutputPath: %v", err)
	}
	if p, _ := resolveLocalPath("rel/."); !strings.HasSuffix(p, "/rel/.") || !filepath.IsAbs(p) {
		t.Errorf("resolveLocalPath kept no /.: %q", p)
	}
}
