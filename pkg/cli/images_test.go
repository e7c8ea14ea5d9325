package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/image"
)

// imagesFixture: a dangling image; one with two tags of a repository and
// two of another, each repository with its digest; one known by digest
// only, in two repositories (one with two digests).
func imagesFixture() []image.Summary {
	d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	created := time.Now().Add(-3 * time.Hour).Unix()
	return []image.Summary{
		{ID: d("1"), Created: created, Size: 2131218, SharedSize: -1, Containers: -1},
		{ID: d("2"), Created: created, Size: 2131218, SharedSize: -1, Containers: -1,
			RepoTags:    []string{"mine:a", "localhost:5000/bb:v1", "mine:b"},
			RepoDigests: []string{"localhost:5000/bb@" + d("a"), "mine@" + d("b")}},
		{ID: d("3"), Created: created, Size: 2131218, SharedSize: -1, Containers: -1,
			RepoDigests: []string{"only@" + d("c"), "other@" + d("d"), "only@" + d("e")}},
	}
}

// `images` prints what the docker CLI 28 prints for the same list (run
// against listEngine; but for the order of an image's repositories, which
// is the docker CLI's map order, random): a
// Digest only when asked for (--digests or a template naming it), a line
// per tag (and per digest when shown), -q a line per name too, a template
// of the user's winning over -q, raw, and --digests adding its column to a
// table of the user's.
func TestPrintImagesAsDocker(t *testing.T) {
	dg := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	imgs := imagesFixture()
	host := listEngine(t, imgs)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{name: "table", want: "REPOSITORY          TAG       IMAGE ID       CREATED       SIZE\n" +
			"<none>              <none>    111111111111   3 hours ago   2.13MB\n" +
			"mine                a         222222222222   3 hours ago   2.13MB\n" +
			"mine                b         222222222222   3 hours ago   2.13MB\n" +
			"localhost:5000/bb   v1        222222222222   3 hours ago   2.13MB\n" +
			"only                <none>    333333333333   3 hours ago   2.13MB\n" +
			"other               <none>    333333333333   3 hours ago   2.13MB\n"},
		{name: "quiet", args: []string{"-q"}, want: "111111111111\n222222222222\n222222222222\n222222222222\n333333333333\n333333333333\n"},
		{name: "quiet table", args: []string{"-q", "--format", "table"}, want: "111111111111\n222222222222\n222222222222\n222222222222\n333333333333\n333333333333\n"},
		{name: "quiet template", args: []string{"-q", "--format", "{{.Repository}}"}, want: "<none>\nmine\nmine\nlocalhost:5000/bb\nonly\nother\n"},
		{name: "template", args: []string{"--format", "{{.Repository}}:{{.Tag}} {{.Digest}} {{.ID}}"}, want: "<none>:<none> <none> 111111111111\n" +
			"mine:a " + dg("b") + " 222222222222\nmine:b " + dg("b") + " 222222222222\nlocalhost:5000/bb:v1 " + dg("a") + " 222222222222\n" +
			"only:<none>  333333333333\nother:<none>  333333333333\n"},
		{name: "json", args: []string{"--format", "json"}, want: "" +
			`{"Containers":"N/A","CreatedAt":"X","CreatedSince":"3 hours ago","Digest":"\u003cnone\u003e","ID":"111111111111","Repository":"\u003cnone\u003e","SharedSize":"N/A","Size":"2.13MB","Tag":"\u003cnone\u003e","UniqueSize":"N/A","VirtualSize":"2.131MB"}` + "\n" +
			`{"Containers":"N/A","CreatedAt":"X","CreatedSince":"3 hours ago","Digest":"\u003cnone\u003e","ID":"222222222222","Repository":"mine","SharedSize":"N/A","Size":"2.13MB","Tag":"a","UniqueSize":"N/A","VirtualSize":"2.131MB"}` + "\n" +
			`{"Containers":"N/A","CreatedAt":"X","CreatedSince":"3 hours ago","Digest":"\u003cnone\u003e","ID":"222222222222","Repository":"mine","SharedSize":"N/A","Size":"2.13MB","Tag":"b","UniqueSize":"N/A","VirtualSize":"2.131MB"}` + "\n" +
			`{"Containers":"N/A","CreatedAt":"X","CreatedSince":"3 hours ago","Digest":"\u003cnone\u003e","ID":"222222222222","Repository":"localhost:5000/bb","SharedSize":"N/A","Size":"2.13MB","Tag":"v1","UniqueSize":"N/A","VirtualSize":"2.131MB"}` + "\n" +
			`{"Containers":"N/A","CreatedAt":"X","CreatedSince":"3 hours ago","Digest":"","ID":"333333333333","Repository":"only","SharedSize":"N/A","Size":"2.13MB","Tag":"\u003cnone\u003e","UniqueSize":"N/A","VirtualSize":"2.131MB"}` + "\n" +
			`{"Containers":"N/A","CreatedAt":"X","CreatedSince":"3 hours ago","Digest":"","ID":"333333333333","Repository":"other","SharedSize":"N/A","Size":"2.13MB","Tag":"\u003cnone\u003e","UniqueSize":"N/A","VirtualSize":"2.131MB"}` + "\n"},
		{name: "digests", args: []string{"--format", "table {{.Repository}}\\t{{.Tag}}", "--digests"}, want: "REPOSITORY          TAG       DIGEST\n" +
			"<none>              <none>    <none>\n" +
			"mine                a         " + dg("b") + "\nmine                b         " + dg("b") + "\n" +
			"localhost:5000/bb   v1        " + dg("a") + "\n" +
			"only                <none>    " + dg("c") + "\nonly                <none>    " + dg("e") + "\n" +
			"other               <none>    " + dg("d") + "\n"},
		{name: "raw", args: []string{"--format", "raw", "--no-trunc"}, want: "repository: <none>\ntag: <none>\nimage_id: " + dg("1") + "\ncreated_at: X\nvirtual_size: 2.13MB\n\n" +
			"repository: mine\ntag: a\nimage_id: " + dg("2") + "\ncreated_at: X\nvirtual_size: 2.13MB\n\n" +
			"repository: mine\ntag: b\nimage_id: " + dg("2") + "\ncreated_at: X\nvirtual_size: 2.13MB\n\n" +
			"repository: localhost:5000/bb\ntag: v1\nimage_id: " + dg("2") + "\ncreated_at: X\nvirtual_size: 2.13MB\n\n" +
			"repository: only\ntag: <none>\nimage_id: " + dg("3") + "\ncreated_at: X\nvirtual_size: 2.13MB\n\n" +
			"repository: other\ntag: <none>\nimage_id: " + dg("3") + "\ncreated_at: X\nvirtual_size: 2.13MB\n\n"},
		{name: "spaces", args: []string{"--format", "  {{.Tag}} "}, want: "<none>\na\nb\nv1\n<none>\n<none>\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := ctl(t, host, append([]string{"images"}, c.args...)...)
			got := strings.ReplaceAll(out, time.Unix(imgs[0].Created, 0).String(), "X")
			if code != 0 || got != c.want {
				t.Errorf("%d %q; got\n%s\nwant\n%s", code, errOut, got, c.want)
			}
		})
	}
}

// listEngine serves imgs as GET /images/json, for the docker CLI or ctl.
func listEngine(t *testing.T, imgs []image.Summary) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "e.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.50")
		if strings.HasSuffix(r.URL.Path, "/images/json") {
			json.NewEncoder(w).Encode(imgs)
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "unix://" + sock
}

// `images NAME` that finds nothing, NAME a subcommand of `image`, gets
// docker's hint on stderr; `image ls NAME` does not.
func TestImagesAmbiguousHint(t *testing.T) {
	host, _ := imageEngine(t)
	out, errOut, code := ctl(t, host, "images", "ls")
	if code != 0 || out != "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n" || errOut != "\nNo images found matching \"ls\": did you mean \"docker image ls\"?\n" {
		t.Errorf("images ls: %d %q %q", code, out, errOut)
	}
	if _, errOut, _ := ctl(t, host, "image", "ls", "ls"); errOut != "" {
		t.Errorf("image ls ls: %q", errOut)
	}
	if _, errOut, _ := ctl(t, host, "images", "nosuch"); errOut != "" {
		t.Errorf("images nosuch: %q", errOut)
	}
}
