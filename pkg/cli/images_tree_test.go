package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/image"
)

// treeList is an image list with manifests: app (two names, its platform
// in use), an image known only by digest whose platform's content is not
// all here and which has an attestation, a dangling image, and one
// without manifests (its config was unreadable).
var treeList = `[
{"Id":"sha256:aaaa1111222233334444","RepoTags":["app:1","registry.example:5000/team/app:1"],"RepoDigests":["app@sha256:1111"],"Created":300,"Size":5000000,"Containers":1,
 "Manifests":[{"ID":"sha256:bbbb1111222233334444","Available":true,"Size":{"Total":7000000,"Content":3000000},"Kind":"image","ImageData":{"Platform":{"os":"linux","architecture":"arm64","variant":"v8"},"Containers":["c1"]}}]},
{"Id":"sha256:cccc1111222233334444","RepoTags":[],"RepoDigests":["base@sha256:2222"],"Created":200,"Size":1234,"Containers":0,
 "Manifests":[{"ID":"sha256:dddd1111222233334444","Available":false,"Size":{"Total":1500,"Content":1000},"Kind":"image","ImageData":{"Platform":{"os":"linux","architecture":"amd64"},"Containers":[]}},
  {"ID":"sha256:eeee1111222233334444","Available":true,"Size":{"Total":600,"Content":600},"Kind":"attestation","AttestationData":{"For":"sha256:dddd1111222233334444"}}]},
{"Id":"sha256:ffff1111222233334444","RepoTags":[],"RepoDigests":[],"Created":100,"Size":2000,"Containers":0,
 "Manifests":[{"ID":"sha256:9999111122223333","Available":true,"Size":{"Total":2500,"Content":2000},"Kind":"image","ImageData":{"Platform":{"os":"linux","architecture":"amd64"},"Containers":[]}}]},
{"Id":"sha256:0000111122223333","RepoTags":["old:latest"],"RepoDigests":[],"Created":50,"Size":999,"Containers":0}
]`

// TestImagesTree: images --tree asks the list with manifests and prints
// docker CLI 28.2's tree to the byte (these outputs are the docker CLI's
// for the same list): the names longest first, the last beside the
// details; the platforms under them; the in-use mark; sizes; dangling
// images only with -a; docker's refusals of the flags it does not combine.
func TestImagesTree(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /images/json": reply(200, treeList),
	})
	out, errOut, code := rec.run(t, "", "images", "--tree")
	want := "WARNING: This is an experimental feature. The output may change and shouldn't be depended on.\n" +
		"                                                              Info ->  U In Use \n" +
		"\n" +
		"\x1b[39m\x1b[1mIMAGE\x1b[0m                           \x1b[39m\x1b[1mID\x1b[0m             \x1b[39m\x1b[1mDISK USAGE\x1b[0m   \x1b[39m\x1b[1mCONTENT SIZE\x1b[0m   \x1b[39m\x1b[1mEXTRA\x1b[0m\n" +
		"registry.example:5000/team/app:1\n" +
		"app:1                           aaaa11112222          5MB            3MB   U    \n" +
		"└─ linux/arm64/v8               bbbb11112222          7MB            3MB   U    \n" +
		"\n" +
		"<untagged>                      cccc11112222       1.23kB          1.6kB        \n" +
		"└─ linux/amd64                  dddd11112222        1.5kB            1kB        \n" +
		"\n" +
		"old:latest                      000011112222         999B             0B        \n" +
		"\n"
	if code != 0 || out != want {
		t.Errorf("images --tree: %d %q\n%s\nwant\n%s", code, errOut, out, want)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].Query.Get("manifests") != "1" || reqs[0].Query.Has("all") {
		t.Errorf("requests: %+v", reqs)
	}

	out, _, _ = rec.run(t, "", "images", "--tree", "-a", "base")
	if !strings.Contains(out, "<untagged>                      ffff11112222          2kB            2kB        \n└─ linux/amd64                  999911112222        2.5kB            2kB        \n\n") {
		t.Errorf("images --tree -a lacks the dangling image:\n%s", out)
	}
	if reqs := rec.requests(); len(reqs) != 1 || reqs[0].Query.Get("all") != "1" || !strings.Contains(reqs[0].Query.Get("filters"), `"reference":{"base":true}`) {
		t.Errorf("requests: %+v", reqs)
	}

	for flag, msg := range map[string]string{"-q": "--quiet", "--no-trunc": "--no-trunc", "--digests": "--show-digest", "--format=x": "--format"} {
		if _, errOut, code := rec.run(t, "", "images", "--tree", flag); code != 1 || !strings.Contains(errOut, msg+" is not yet supported with --tree") {
			t.Errorf("images --tree %s: %d %q", flag, code, errOut)
		}
	}
	if reqs := rec.requests(); len(reqs) != 0 {
		t.Errorf("refused trees made requests: %v", paths(reqs))
	}
}

// TestImagesTreeTerminal: on a terminal 50 columns wide, the tree is
// docker's with its colours (faint for untagged images and platforms whose
// content is not all here), its in-use chip, and the columns that do not
// fit left out.
func TestImagesTreeTerminal(t *testing.T) {
	var list []image.Summary
	if err := json.Unmarshal([]byte(treeList), &list); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	imgs, spacing := treeImages(list, true)
	treeOutput{w: &b, tty: true, ttyWidth: 50}.print(imgs, spacing)
	want := "\x1b[93mWARNING: This is an experimental feature. The output may change and shouldn't be depended on.\x1b[0m\n" +
		"                             \x1b[1m\x1b[106m\x1b[30mi\x1b[0m\x1b[0m \x1b[96mInfo → \x1b[0m\x1b[0m \x1b[38;5;0m\x1b[48;5;14m U \x1b[0m In Use \n" +
		"\n" +
		"\x1b[39m\x1b[1mIMAGE\x1b[0m                    \x1b[39m\x1b[1mID\x1b[0m             \x1b[39m\x1b[1mDISK USAGE\x1b[0m\n" +
		"\x1b[34m\x1b[1mregistry.example:5000/team/app:1\x1b[0m\n" +
		"\x1b[34m\x1b[1mapp:1\x1b[0m                    \x1b[39maaaa11112222\x1b[0m          \x1b[39m5MB\x1b[0m\n" +
		"\x1b[39m└─ linux/arm64/v8\x1b[0m        \x1b[39mbbbb11112222\x1b[0m          \x1b[39m7MB\x1b[0m\n" +
		"\n" +
		"\x1b[39m\x1b[2m<untagged>\x1b[0m               \x1b[39mcccc11112222\x1b[0m       \x1b[39m1.23kB\x1b[0m\n" +
		"\x1b[39m\x1b[2m└─ linux/amd64\x1b[0m           \x1b[39m\x1b[2mdddd11112222\x1b[0m        \x1b[39m\x1b[2m1.5kB\x1b[0m\n" +
		"\n" +
		"\x1b[39m\x1b[2m<untagged>\x1b[0m               \x1b[39mffff11112222\x1b[0m          \x1b[39m2kB\x1b[0m\n" +
		"\x1b[39m└─ linux/amd64\x1b[0m           \x1b[39m999911112222\x1b[0m        \x1b[39m2.5kB\x1b[0m\n" +
		"\n" +
		"\x1b[34m\x1b[1mold:latest\x1b[0m               \x1b[39m000011112222\x1b[0m         \x1b[39m999B\x1b[0m\n" +
		"\n"
	if b.String() != want {
		t.Errorf("tree on a terminal:\n%q\nwant\n%q", b.String(), want)
	}
}
