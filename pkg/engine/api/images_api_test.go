package api

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/images"
	"github.com/berthd/berth/pkg/engine/images/imagestest"
	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

type imgEnv struct {
	sup  *imagestest.Supervisor
	http *http.Client
	cl   *client.Client
}

func newImgEnv(t *testing.T) *imgEnv {
	t.Helper()
	dir, err := os.MkdirTemp("", "bi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &imgEnv{sup: imagestest.New()}
	d, err := containers.New(context.Background(), e.sup, filepath.Join(dir, "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "e.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: New(d, Config{Version: "test"})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); d.Close() })
	e.http = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	if e.cl, err = client.New(client.WithHost("unix://"+sock), client.WithAPIVersionNegotiation()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cl.Close() })
	return e
}

func (e *imgEnv) do(t *testing.T, method, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://engine"+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// lines decodes a JSON progress stream.
func lines(t *testing.T, body string) []images.Message {
	t.Helper()
	var out []images.Message
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m images.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func statuses(ms []images.Message) []string {
	var out []string
	for _, m := range ms {
		s := m.Status
		if m.ID != "" {
			s = m.ID + " " + s
		}
		if m.Error != "" {
			s = "error " + m.Error
		}
		out = append(out, s)
	}
	return out
}

func step(id, status string, cur, total int64) *supervisorv1.Progress {
	return &supervisorv1.Progress{Id: id, Status: status, Current: cur, Total: total}
}

var (
	layerA = "sha256:" + strings.Repeat("a1", 32)
	layerB = "sha256:" + strings.Repeat("b2", 32)
)

func TestPullProgressStream(t *testing.T) {
	e := newImgEnv(t)
	e.sup.PullSteps = []*supervisorv1.Progress{
		step("sha256:"+strings.Repeat("f", 64), "resolving", 0, 0),
		step(layerA, "waiting", 0, 0),
		step(layerB, "exists", 0, 0),
		step(layerA, "downloading", 0, 100),
		step(layerA, "downloading", 100, 100),
		step(layerA, "verifying", 0, 0),
		step(layerA, "extracting", 50, 100),
		step(layerA, "done", 0, 0),
	}
	auth := base64.URLEncoding.EncodeToString([]byte(`{"username":"joe","password":"s3cret","serveraddress":"localhost:5000"}`))
	resp, body := e.do(t, "POST", "/v1.47/images/create?fromImage=localhost:5000/team/busybox&tag=1.36", map[string]string{"X-Registry-Auth": auth})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	ms := lines(t, body)
	want := []string{
		"1.36 Pulling from team/busybox",
		"a1a1a1a1a1a1 Pulling fs layer",
		"a1a1a1a1a1a1 Waiting",
		"b2b2b2b2b2b2 Already exists",
		"a1a1a1a1a1a1 Downloading",
		"a1a1a1a1a1a1 Downloading",
		"a1a1a1a1a1a1 Verifying Checksum",
		"a1a1a1a1a1a1 Download complete",
		"a1a1a1a1a1a1 Extracting",
		"a1a1a1a1a1a1 Pull complete",
		"Digest: sha256:" + strings.Repeat("m", 64),
		"Status: Downloaded newer image for localhost:5000/team/busybox:1.36",
	}
	if got := statuses(ms); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stream:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	dl := ms[5]
	if dl.ProgressDetail == nil || dl.ProgressDetail.Current != 100 || dl.ProgressDetail.Total != 100 || !strings.HasPrefix(dl.Progress, "[====") {
		t.Errorf("downloading line: %+v", dl)
	}
	if !strings.Contains(body, `"progressDetail":{}`) {
		t.Errorf("Pulling fs layer has no empty progressDetail: %s", body)
	}
	if len(e.sup.Auths) != 1 || e.sup.Auths[0].GetUsername() != "joe" || e.sup.Auths[0].GetPassword() != "s3cret" || e.sup.Auths[0].GetServerAddress() != "localhost:5000" {
		t.Errorf("auth passed on: %+v", e.sup.Auths)
	}
	if _, err := e.sup.GetImage(context.Background(), "localhost:5000/team/busybox:1.36"); err != nil {
		t.Errorf("pulled image not recorded: %v", err)
	}
	// Pulled again with everything in place: up to date.
	e.sup.PullSteps = []*supervisorv1.Progress{step(layerA, "exists", 0, 0)}
	_, body = e.do(t, "POST", "/images/create?fromImage=localhost:5000/team/busybox&tag=1.36", nil)
	if got := statuses(lines(t, body)); got[len(got)-1] != "Status: Image is up to date for localhost:5000/team/busybox:1.36" {
		t.Errorf("second pull: %q", got)
	}
	// The docker Go client reads the stream to the end without error.
	res, err := e.cl.ImagePull(context.Background(), "busybox", client.ImagePullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Wait(context.Background()); err != nil {
		t.Errorf("client pull: %v", err)
	}
}

func TestPullErrors(t *testing.T) {
	e := newImgEnv(t)
	// Failing before any progress: a plain HTTP error with the class's status.
	e.sup.PullErr = errdefs.ErrNotFound
	resp, body := e.do(t, "POST", "/images/create?fromImage=nosuch&tag=latest", nil)
	if resp.StatusCode != 404 || !strings.Contains(body, `"message"`) {
		t.Errorf("early failure: %d %s", resp.StatusCode, body)
	}
	// Failing in the middle: inside the stream, in both fields.
	e.sup.PullSteps = []*supervisorv1.Progress{step(layerA, "downloading", 1, 10)}
	e.sup.PullErr = errdefs.ErrUnavailable
	resp, body = e.do(t, "POST", "/images/create?fromImage=busybox&tag=latest", nil)
	ms := lines(t, body)
	last := ms[len(ms)-1]
	if resp.StatusCode != 200 || last.ErrorDetail == nil || last.ErrorDetail.Message == "" || last.Error != last.ErrorDetail.Message {
		t.Errorf("stream failure: %d %s", resp.StatusCode, body)
	}
	if _, err := e.cl.ImagePull(context.Background(), "busybox", client.ImagePullOptions{}); err != nil {
		t.Fatal(err)
	} else if res, _ := e.cl.ImagePull(context.Background(), "busybox", client.ImagePullOptions{}); res.Wait(context.Background()) == nil {
		t.Error("client saw no error in the stream")
	}
	if resp, _ := e.do(t, "POST", "/images/create?fromImage=busybox", nil); resp.StatusCode != 501 {
		t.Errorf("pull of all tags: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/images/create?fromImage=localhost:5000/busybox:1", nil); resp.StatusCode != 200 {
		t.Errorf("pull with the tag in fromImage: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/images/create?fromImage=busybox&tag=latest", map[string]string{"X-Registry-Auth": "%%%"}); resp.StatusCode != 400 {
		t.Errorf("bad auth header: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/images/create?fromImage=Bad_Name&tag=1", nil); resp.StatusCode != 400 {
		t.Errorf("bad name: %d", resp.StatusCode)
	}
}

func TestDecodeAuth(t *testing.T) {
	enc := func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct{ hdr, user, pass string }{
		{enc(`{"username":"a","password":"b"}`), "a", "b"},
		{strings.TrimRight(enc(`{"username":"a","password":"b?>"}`), "="), "a", "b?>"},
		{enc(`{"auth":"` + base64.StdEncoding.EncodeToString([]byte("u:p:w")) + `"}`), "u", "p:w"},
	} {
		a, err := images.DecodeAuth(tc.hdr)
		if err != nil || a.GetUsername() != tc.user || a.GetPassword() != tc.pass {
			t.Errorf("%s: %+v %v", tc.hdr, a, err)
		}
	}
	if a, err := images.DecodeAuth(enc(`{}`)); a != nil || err != nil {
		t.Errorf("empty config: %+v %v", a, err)
	}
	if _, err := images.DecodeAuth(enc(`not json`)); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad json: %v", err)
	}
}

func TestPushStream(t *testing.T) {
	e := newImgEnv(t)
	e.sup.PushSteps = []*supervisorv1.Progress{
		step(layerA, "pushing", 10, 100),
		step(layerA, "done", 0, 0),
		step(layerB, "exists", 0, 0),
		step("sha256:"+strings.Repeat("c3", 32), "mounted from library/alpine", 0, 0),
		step("sha256:"+strings.Repeat("d4", 32), "pushing", 0, 50), // no step of its own at the end
		step("sha256:"+strings.Repeat("b", 64), "pushing", 0, 50),  // busybox's config: not shown
	}
	if _, err := e.cl.ImageTag(context.Background(), client.ImageTagOptions{Source: "busybox", Target: "localhost:5000/busybox:v1"}); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(t, "POST", "/images/localhost:5000/busybox/push?tag=v1", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	ms := lines(t, body)
	want := []string{
		"The push refers to repository [localhost:5000/busybox]",
		"a1a1a1a1a1a1 Preparing",
		"a1a1a1a1a1a1 Pushing",
		"a1a1a1a1a1a1 Pushed",
		"b2b2b2b2b2b2 Layer already exists",
		"c3c3c3c3c3c3 Mounted from library/alpine",
		"d4d4d4d4d4d4 Preparing",
		"d4d4d4d4d4d4 Pushing",
		"d4d4d4d4d4d4 Pushed",
		"v1: digest: sha256:" + strings.Repeat("d", 64) + " size: 527",
		"",
	}
	if got := statuses(ms); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stream:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var aux images.PushResult
	b, _ := json.Marshal(ms[len(ms)-1].Aux)
	if json.Unmarshal(b, &aux); aux.Tag != "v1" || aux.Size != 527 || aux.Digest != "sha256:"+strings.Repeat("d", 64) {
		t.Errorf("aux: %s", b)
	}
	if resp, body := e.do(t, "POST", "/images/localhost:5000/nosuch/push?tag=v1", nil); resp.StatusCode != 404 || !strings.Contains(body, "An image does not exist locally with the tag: localhost:5000/nosuch") {
		t.Errorf("push of a missing image: %d %s", resp.StatusCode, body)
	}
	// No tag: every tag of the repository.
	e.cl.ImageTag(context.Background(), client.ImageTagOptions{Source: "busybox", Target: "localhost:5000/busybox:v2"})
	e.sup.Pushed = nil
	res, err := e.cl.ImagePush(context.Background(), "localhost:5000/busybox", client.ImagePushOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Wait(context.Background()); err != nil || strings.Join(e.sup.Pushed, ",") != "localhost:5000/busybox:v1,localhost:5000/busybox:v2" {
		t.Errorf("push all tags: %v %v", err, e.sup.Pushed)
	}
}

func TestTagHistoryRmi(t *testing.T) {
	e := newImgEnv(t)
	ctx := context.Background()
	created := time.Unix(1700000000, 0).UTC()
	cfg := &ocispec.Image{
		Created: &created,
		Config:  ocispec.ImageConfig{Cmd: []string{"sh"}},
		RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.Digest(layerA), digest.Digest(layerB)}},
		History: []ocispec.History{
			{Created: &created, CreatedBy: "ADD file:abc in /"},
			{Created: &created, CreatedBy: "ENV X=1", EmptyLayer: true},
			{Created: &created, CreatedBy: "RUN make", Comment: "built"},
			{Created: &created, CreatedBy: `CMD ["sh"]`, EmptyLayer: true},
		},
	}
	id := "sha256:" + strings.Repeat("e", 64)
	e.sup.AddImage("docker.io/library/app:1", id, cfg)
	chain := images.ChainIDs(cfg)
	e.sup.Usages[chain[0]] = 4000
	e.sup.Usages[chain[1]] = 300

	if _, err := e.cl.ImageTag(ctx, client.ImageTagOptions{Source: "app:1", Target: "app:2"}); err != nil {
		t.Fatal(err)
	}
	resp, _ := e.do(t, "POST", "/images/app:1/tag?repo=app&tag=3", nil)
	if resp.StatusCode != 201 {
		t.Errorf("tag status %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/images/app:1/tag?repo=UPPER", nil); resp.StatusCode != 400 {
		t.Errorf("bad repo: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/images/nosuch/tag?repo=x", nil); resp.StatusCode != 404 {
		t.Errorf("tag of a missing image: %d", resp.StatusCode)
	}

	h, err := e.cl.ImageHistory(ctx, "app:2")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Items) != 4 {
		t.Fatalf("history: %+v", h.Items)
	}
	top, run, add := h.Items[0], h.Items[1], h.Items[3]
	if top.ID != id || top.CreatedBy != `CMD ["sh"]` || top.Size != 0 || strings.Join(top.Tags, ",") != "app:1,app:2,app:3" || top.Created != created.Unix() {
		t.Errorf("top entry: %+v", top)
	}
	if run.ID != "<missing>" || run.Size != 300 || run.Comment != "built" || add.Size != 4000 {
		t.Errorf("layer entries: %+v %+v", run, add)
	}

	// rmi: untag while other names remain; by ID with several names is a
	// conflict; a container's image cannot be removed unless forced.
	r, err := e.cl.ImageRemove(ctx, "app:3", client.ImageRemoveOptions{})
	if err != nil || len(r.Items) != 1 || r.Items[0].Untagged != "app:3" {
		t.Errorf("untag: %+v %v", r.Items, err)
	}
	if _, err := e.cl.ImageRemove(ctx, id[7:19], client.ImageRemoveOptions{}); err == nil || !strings.Contains(err.Error(), "image is referenced in multiple repositories") {
		t.Errorf("rmi by ID with two names: %v", err)
	}
	e.cl.ImageRemove(ctx, "app:2", client.ImageRemoveOptions{})
	c, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "app:1", Cmd: []string{"echo"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.ImageRemove(ctx, "app:1", client.ImageRemoveOptions{}); err == nil || !strings.Contains(err.Error(), `unable to remove repository reference "app:1" (must force) - container `+c.ID[:12]) {
		t.Errorf("rmi of a used image: %v", err)
	}
	if _, err := e.cl.ImageRemove(ctx, id, client.ImageRemoveOptions{}); err == nil || !strings.Contains(err.Error(), "(must be forced) - image is being used by stopped container "+c.ID[:12]) {
		t.Errorf("rmi by ID of a used image: %v", err)
	}
	r, err = e.cl.ImageRemove(ctx, "app:1", client.ImageRemoveOptions{Force: true})
	if err != nil || len(r.Items) != 1 || r.Items[0].Untagged != "app:1" {
		t.Errorf("forced untag of a used image: %+v %v", r.Items, err)
	}
	if _, err := e.sup.GetImage(ctx, "docker.io/library/busybox:latest"); err != nil {
		t.Fatal(err)
	}
	r, err = e.cl.ImageRemove(ctx, "busybox", client.ImageRemoveOptions{})
	if err != nil || len(r.Items) != 2 || r.Items[0].Untagged != "busybox:latest" || r.Items[1].Deleted != "sha256:"+strings.Repeat("b", 64) {
		t.Errorf("rmi of the last name: %+v %v", r.Items, err)
	}
}

func TestImagesFiltersPruneDF(t *testing.T) {
	e := newImgEnv(t)
	ctx := context.Background()
	day := func(d int) *time.Time { t := time.Unix(1700000000+int64(d)*86400, 0).UTC(); return &t }
	mk := func(created *time.Time, labels map[string]string, diffs ...string) *ocispec.Image {
		cfg := &ocispec.Image{Created: created, Config: ocispec.ImageConfig{Labels: labels}, RootFS: ocispec.RootFS{Type: "layers"}}
		for _, d := range diffs {
			cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.Digest(d))
		}
		return cfg
	}
	e.sup.DeleteImage(ctx, "docker.io/library/busybox:latest")
	old, mid, dang := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64), "sha256:"+strings.Repeat("3", 64)
	e.sup.AddImage("docker.io/library/old:1", old, mk(day(1), map[string]string{"team": "a"}, layerA))
	e.sup.AddImage("docker.io/library/mid:1", mid, mk(day(2), nil, layerA, layerB))
	e.sup.AddImage(dang, dang, mk(day(3), nil, layerA))
	chainAB := images.ChainIDs(mk(nil, nil, layerA, layerB))[1]
	e.sup.Usages[layerA] = 1000
	e.sup.Usages[chainAB] = 200

	list := func(f client.Filters) string {
		t.Helper()
		res, err := e.cl.ImageList(ctx, client.ImageListOptions{Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range res.Items {
			ids = append(ids, s.ID[7:8]+strings.Join(s.RepoTags, "+"))
		}
		return strings.Join(ids, " ")
	}
	if got := list(nil); got != "3 2mid:1 1old:1" {
		t.Errorf("all: %q", got)
	}
	for f, want := range map[string]string{
		"dangling=true":   "3",
		"dangling=false":  "2mid:1 1old:1",
		"reference=mi*":   "2mid:1",
		"reference=old:1": "1old:1",
		"before=mid:1":    "1old:1",
		"since=old:1":     "3 2mid:1",
		"label=team=a":    "1old:1",
		"label!=team":     "3 2mid:1",
	} {
		k, v, _ := strings.Cut(f, "=")
		if got := list(make(client.Filters).Add(k, v)); got != want {
			t.Errorf("%s: %q, want %q", f, got, want)
		}
	}
	if _, err := e.cl.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("bogus", "1")}); err == nil {
		t.Error("unknown filter accepted")
	}

	c, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "mid:1", Cmd: []string{"echo"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.sup.Usages[c.ID] = 42
	du, err := e.cl.DiskUsage(ctx, client.DiskUsageOptions{Images: true, Containers: true, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if du.Images.TotalSize != 1200 || du.Images.TotalCount != 3 || du.Images.ActiveCount != 1 {
		t.Errorf("df images: %+v", du.Images)
	}
	for _, s := range du.Images.Items {
		want := map[string][2]int64{old: {1000, 1000}, mid: {1200, 1000}, dang: {1000, 1000}}[s.ID]
		if s.Size != want[0] || s.SharedSize != want[1] {
			t.Errorf("df %s: size %d shared %d, want %v", s.ID[:8], s.Size, s.SharedSize, want)
		}
	}
	if len(du.Containers.Items) != 1 || du.Containers.Items[0].SizeRw != 42 || du.Containers.Items[0].SizeRootFs != 1242 || du.Containers.TotalSize != 42 {
		t.Errorf("df containers: %+v", du.Containers)
	}

	e.sup.Reclaimed = 777
	p, err := e.cl.ImagePrune(ctx, client.ImagePruneOptions{})
	if err != nil || len(p.Report.ImagesDeleted) != 1 || p.Report.ImagesDeleted[0].Deleted != dang || p.Report.SpaceReclaimed != 777 || e.sup.GCs != 1 {
		t.Errorf("prune dangling: %+v %v", p.Report, err)
	}
	// All unused: mid:1 is kept for its container.
	p, err = e.cl.ImagePrune(ctx, client.ImagePruneOptions{Filters: make(client.Filters).Add("dangling", "false")})
	if err != nil || len(p.Report.ImagesDeleted) != 2 || p.Report.ImagesDeleted[0].Untagged != "old:1" || p.Report.ImagesDeleted[1].Deleted != old {
		t.Errorf("prune all: %+v %v", p.Report, err)
	}
	if got := list(nil); got != "2mid:1" {
		t.Errorf("after prune: %q", got)
	}
}

func readTar(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = string(b)
	}
}

func TestSaveAndExport(t *testing.T) {
	e := newImgEnv(t)
	ctx := context.Background()
	res, err := e.cl.ImageSave(ctx, []string{"busybox", strings.Repeat("b", 12)})
	if err != nil {
		t.Fatal(err)
	}
	files := readTar(t, res)
	res.Close()
	if files["names"] != "docker-archive\ndocker.io/library/busybox:latest\nsha256:"+strings.Repeat("b", 64)+"\n" {
		t.Errorf("save asked for %q", files["names"])
	}
	resp, body := e.do(t, "GET", "/images/busybox/get", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-tar" || !strings.Contains(body, "docker.io/library/busybox:latest") {
		t.Errorf("GET /images/busybox/get: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, body := e.do(t, "GET", "/images/get?names=nosuch", nil); resp.StatusCode != 404 || !strings.Contains(body, "No such image: nosuch:latest") {
		t.Errorf("save of a missing image: %d %s", resp.StatusCode, body)
	}

	c, err := e.cl.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"echo"}}, Name: "exp"})
	if err != nil {
		t.Fatal(err)
	}
	e.sup.Files[c.ID] = map[string]string{"bin/busybox": "ELF", "data/out.txt": "written\n"}
	ex, err := e.cl.ContainerExport(ctx, "exp", client.ContainerExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files = readTar(t, ex)
	ex.Close()
	if files["bin/busybox"] != "ELF" || files["data/out.txt"] != "written\n" {
		t.Errorf("export: %v", files)
	}
	if resp, _ := e.do(t, "GET", "/containers/nosuch/export", nil); resp.StatusCode != 404 {
		t.Errorf("export of a missing container: %d", resp.StatusCode)
	}
}

// The reference filter keeps an image's digests as it keeps its tags: only
// the names it matches, as dockerd does (the docker CLI shows each digest
// of another repository as a line of its own).
func TestImagesReferenceFilterDigests(t *testing.T) {
	e := newImgEnv(t)
	ctx := context.Background()
	id := "sha256:" + strings.Repeat("4", 64)
	e.sup.AddImage("docker.io/library/one:a", id, &ocispec.Image{})
	e.sup.AddImage("docker.io/library/one:b", id, &ocispec.Image{})
	e.sup.AddImage("localhost:5000/two:c", id, &ocispec.Image{})
	dg := "@sha256:" + strings.Repeat("5", 64)
	for _, n := range []string{"docker.io/library/one:a", "docker.io/library/one:b", "localhost:5000/two:c"} {
		e.sup.Images[n].Target.Digest = dg[1:]
	}
	for ref, want := range map[string]string{
		"one":      "one:a,one:b one" + dg,
		"one:a":    "one:a one" + dg,
		"two":      "",
		"*/two*":   "localhost:5000/two:c localhost:5000/two" + dg,
		"one@*":    "",
		"nomatch*": "",
	} {
		res, err := e.cl.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", ref)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range res.Items {
			if s.ID == id {
				got = append(got, strings.Join(s.RepoTags, ",")+" "+strings.Join(s.RepoDigests, ","))
			}
		}
		if strings.Join(got, "|") != want {
			t.Errorf("reference=%s: %q, want %q", ref, strings.Join(got, "|"), want)
		}
	}
}
