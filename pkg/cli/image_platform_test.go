package cli

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// platformsSent decodes the JSON platforms of a query parameter.
func platformsSent(t *testing.T, reqs []request, param string) []string {
	t.Helper()
	if len(reqs) != 1 {
		t.Fatalf("requests: %v", paths(reqs))
	}
	var out []string
	for _, v := range reqs[0].Query[param] {
		var p ocispec.Platform
		if err := json.Unmarshal([]byte(v), &p); err != nil {
			t.Fatalf("%s=%q: %v", param, v, err)
		}
		s := p.OS + "/" + p.Architecture
		if p.Variant != "" {
			s += "/" + p.Variant
		}
		out = append(out, s)
	}
	return out
}

func imagePlatformRecorder(t *testing.T) *recorder {
	return newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /images/busybox/history":        reply(200, `[{"Id":"sha256:`+strings.Repeat("b", 64)+`","Created":1700000000,"CreatedBy":"sh","Size":4404019,"Tags":["busybox:latest"]}]`),
		"GET /images/busybox/json":           reply(200, `{"Id":"sha256:`+strings.Repeat("b", 64)+`","Architecture":"arm64"}`),
		"DELETE /images/busybox":             reply(200, `[{"Untagged":"busybox:latest"}]`),
		"GET /images/get":                    reply(200, ""),
		"POST /images/load":                  reply(200, `{"stream":"Loaded image: busybox:latest\n"}`),
		"POST /images/localhost:5000/b/push": reply(200, `{"status":"pushed"}`),
		"POST /images/create":                reply(200, `{"status":"pulled"}`),
	})
}

func TestHistoryPlatformAndHuman(t *testing.T) {
	rec := imagePlatformRecorder(t)
	out, errOut, code := rec.run(t, "", "history", "--platform", "linux/arm64", "-H=false", "busybox")
	if got := platformsSent(t, rec.requests(), "platform"); code != 0 || strings.Join(got, " ") != "linux/arm64" {
		t.Errorf("history --platform: %d %q %v", code, errOut, got)
	}
	if !strings.Contains(out, "4404019") || !strings.HasPrefix(out, "IMAGE          CREATED AT ") {
		t.Errorf("history -H=false keeps raw sizes: %s", out)
	}
	_, errOut, code = rec.run(t, "", "image", "history", "--platform", "linux/", "busybox")
	if code == 0 || !strings.Contains(errOut, "invalid platform") || len(rec.requests()) != 0 {
		t.Errorf("history bad platform: %d %q", code, errOut)
	}
}

func TestImageInspectPlatform(t *testing.T) {
	rec := imagePlatformRecorder(t)
	_, errOut, code := rec.run(t, "", "image", "inspect", "--platform", "linux/arm64/v8", "busybox")
	if got := platformsSent(t, rec.requests(), "platform"); code != 0 || strings.Join(got, " ") != "linux/arm64/v8" {
		t.Errorf("image inspect --platform: %d %q %v", code, errOut, got)
	}
	_, _, code = rec.run(t, "", "image", "inspect", "--platform", "a/b/c/d", "busybox")
	if code == 0 || len(rec.requests()) != 0 {
		t.Errorf("image inspect bad platform: %d", code)
	}
}

func TestRmiSaveLoadPlatform(t *testing.T) {
	rec := imagePlatformRecorder(t)
	for _, cmd := range [][]string{{"rmi"}, {"image", "rm"}} {
		args := append(cmd, "--platform", "linux/amd64,linux/arm64", "--platform", "x86_64", "busybox")
		out, errOut, code := rec.run(t, "", args...)
		if got := platformsSent(t, rec.requests(), "platforms"); code != 0 || out != "Untagged: busybox:latest\n" || strings.Join(got, " ") != "linux/amd64 linux/arm64" {
			// x86_64 is linux/amd64 again: the client sends it once.
			t.Errorf("%v: %d %q %q %v", args, code, out, errOut, got)
		}
	}
	out := filepath.Join(t.TempDir(), "b.tar")
	_, errOut, code := rec.run(t, "", "save", "--platform", "linux/arm/7", "-o", out, "busybox")
	if got := platformsSent(t, rec.requests(), "platform"); code != 0 || strings.Join(got, " ") != "linux/arm/v7" {
		t.Errorf("save --platform: %d %q %v", code, errOut, got)
	}
	o, errOut, code := rec.run(t, "x", "load", "--platform", "aarch64")
	if got := platformsSent(t, rec.requests(), "platform"); code != 0 || o != "Loaded image: busybox:latest\n" || strings.Join(got, " ") != runtime.GOOS+"/arm64" {
		t.Errorf("load --platform: %d %q %q %v", code, o, errOut, got)
	}
	_, errOut, code = rec.run(t, "x", "load", "--platform", "nowhere")
	if code == 0 || !strings.Contains(errOut, `invalid platform: "nowhere"`) || len(rec.requests()) != 0 {
		t.Errorf("load bad platform: %d %q", code, errOut)
	}
}

func TestPushPullPlatformContentTrust(t *testing.T) {
	rec := imagePlatformRecorder(t)
	out, errOut, code := rec.run(t, "", "push", "--platform", "linux/arm64", "--disable-content-trust", "localhost:5000/b:1")
	if got := platformsSent(t, rec.requests(), "platform"); code != 0 || strings.Join(got, " ") != "linux/arm64" || !strings.Contains(out, "single-platform") {
		t.Errorf("push --platform: %d %q %q %v", code, out, errOut, got)
	}
	for _, args := range [][]string{
		{"push", "--disable-content-trust=false", "localhost:5000/b:1"},
		{"pull", "--disable-content-trust=false", "busybox"},
		{"image", "pull", "--disable-content-trust=false", "busybox"},
	} {
		_, errOut, code := rec.run(t, "", args...)
		if code != 125 || !strings.Contains(errOut, "content trust") || !strings.Contains(errOut, "not supported") || len(rec.requests()) != 0 {
			t.Errorf("%v: %d %q", args, code, errOut)
		}
	}
	if _, errOut, code := rec.run(t, "", "pull", "--disable-content-trust=true", "busybox"); code != 0 || len(rec.requests()) != 1 {
		t.Errorf("pull --disable-content-trust=true: %d %q", code, errOut)
	}
}

func TestParsePlatformAsDocker(t *testing.T) {
	for in, want := range map[string]string{
		"linux/arm64":     "linux/arm64",
		"linux/arm64/8":   "linux/arm64/v8",
		"LINUX/AMD64":     "linux/amd64",
		"linux/x86_64":    "linux/amd64",
		"linux/amd64/v1":  "linux/amd64",
		"linux/amd64/v3":  "linux/amd64/v3",
		"linux/arm/7":     "linux/arm/v7",
		"windows":         "windows/" + runtime.GOARCH,
		"arm64":           runtime.GOOS + "/arm64",
		"linux/i386":      "linux/386",
		"linux/a/b/c":     "error",
		"linux/":          "error",
		"lin ux":          "error",
		"plan10":          "error",
		"linux//v7":       "error",
		"linux/arm64/v8/": "error",
	} {
		p, err := parsePlatform(in)
		got := p.OS + "/" + p.Architecture
		if p.Variant != "" {
			got += "/" + p.Variant
		}
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("parsePlatform(%q) = %s (%v), want %s", in, got, err, want)
		}
	}
}
