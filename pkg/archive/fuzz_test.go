package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"

	"github.com/berthd/berth/pkg/archive/archivetest"
)

// FuzzApply applies arbitrary layer tars (plain, gzip or zstd) in each
// whiteout mode into a root below a parent that holds an "outside" file:
// whatever the entries (.., absolute or chained symlinks, hardlinks out,
// whiteouts of parents), nothing outside the root is written or created,
// and nothing panics. Seeds are the escapes the unit tests name.
func FuzzApply(f *testing.F) {
	seeds := [][]ent{
		{{name: "a/b/c", body: "x"}, {name: "d", typ: tar.TypeDir}},
		{{name: "../../../outside/secret", body: "pwned"}},
		{{name: "l", link: "../../../outside", typ: tar.TypeSymlink}, {name: "l/secret", body: "pwned"}},
		{{name: "l", link: "/", typ: tar.TypeSymlink}, {name: "l/x", body: "pwned"}},
		{{name: "h", link: "../../../outside/secret", typ: tar.TypeLink}},
		{{name: "f", body: "x"}, {name: "h", link: "f", typ: tar.TypeLink}, {name: ".wh.f", body: ""}},
		{{name: "d/.wh..wh..opq", body: ""}, {name: ".wh.d", body: ""}, {name: "d/e", body: "x"}},
		{{name: "p", typ: tar.TypeFifo}, {name: "c", typ: tar.TypeChar}},
	}
	for i, s := range seeds {
		f.Add(mktar(f, s...), uint8(i))
	}
	f.Add(archivetest.SparseTar("big", 1<<40, true), uint8(0))
	f.Add([]byte{0x1f, 0x8b, 0x08}, uint8(0))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		root, outside := sandbox(t)
		opts := Options{Whiteouts: WhiteoutMode(mode % 3), NoOverwriteDirNonDir: mode&4 != 0}
		_, _ = Apply(context.Background(), root, bytes.NewReader(data), opts)
		assertOutsideUntouched(t, outside)
	})
}
