package cli

import (
	"net/http"
	"strings"
	"testing"
)

// inspect looks for a container, then an image, a network, a volume, as
// docker's; --type picks one; -s asks a container's sizes.
func TestInspectAnyObject(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /containers/c/json":  reply(200, `{"Id":"c1","State":{"ExitCode":3},"SizeRootFs":2060288}`),
		"GET /containers/i/json":  reply(404, `{"message":"No such container: i"}`),
		"GET /images/i/json":      reply(200, `{"Id":"sha256:i1","Size":2060288}`),
		"GET /containers/v/json":  reply(404, `{"message":"No such container: v"}`),
		"GET /images/v/json":      reply(404, `{"message":"No such image: v"}`),
		"GET /networks/v":         reply(404, `{"message":"network v not found"}`),
		"GET /volumes/v":          reply(200, `{"Name":"v","Driver":"local"}`),
		"GET /containers/no/json": reply(404, `{"message":"No such container: no"}`),
		"GET /images/no/json":     reply(404, `{"message":"No such image: no"}`),
		"GET /networks/no":        reply(404, `{"message":"network no not found"}`),
		"GET /volumes/no":         reply(404, `{"message":"get no: no such volume"}`),
	})
	for _, tc := range []struct {
		args      []string
		out, err  string
		code      int
		requested []string
	}{
		{[]string{"-f", "{{.Id}}", "c", "i"}, "c1\nsha256:i1\n", "", 0, []string{"GET /containers/c/json", "GET /containers/i/json", "GET /images/i/json"}},
		{[]string{"-f", "{{.Name}}", "v"}, "v\n", "", 0, []string{"GET /containers/v/json", "GET /images/v/json", "GET /networks/v", "GET /volumes/v"}},
		// A field the object lacks: docker's error, after the others.
		{[]string{"-f", "{{.Id}}", "v", "c"}, "c1\n", `template parsing error: template: :1:2: executing "" at <.Id>: map has no entry for key "Id"`, 1, []string{"GET /containers/v/json", "GET /images/v/json", "GET /networks/v", "GET /volumes/v", "GET /containers/c/json"}},
		{[]string{"--type", "volume", "-f", "{{.Driver}}", "v"}, "local\n", "", 0, []string{"GET /volumes/v"}},
		{[]string{"--type", "image", "-f", "{{.Size}}", "i"}, "2060288\n", "", 0, []string{"GET /images/i/json"}},
		// The API type first: ExitCode is an int, as docker's template sees it.
		{[]string{"-s", "-f", "{{if eq .State.ExitCode 3}}three{{end}} {{.SizeRootFs}}", "c"}, "three 2060288\n", "", 0, []string{"GET /containers/c/json"}},
		{[]string{"-f", "json", "c"}, `[{"Id":"c1","State":{"ExitCode":3},"SizeRootFs":2060288}]` + "\n", "", 0, []string{"GET /containers/c/json"}},
		{[]string{"no"}, "[]\n", "Error: No such object: no\n", 1, []string{"GET /containers/no/json", "GET /images/no/json", "GET /networks/no", "GET /volumes/no"}},
		{[]string{"--type", "node", "x"}, "", "berth has no swarm mode", 1, nil},
		{[]string{"--type", "bogus", "x"}, "", `unknown type: "bogus": must be one of "config", "container", "image", "network", "node"`, 1, nil},
	} {
		out, errOut, code := rec.run(t, "", append([]string{"inspect"}, tc.args...)...)
		reqs := paths(rec.requests())
		if out != tc.out || !strings.Contains(errOut, tc.err) || (tc.err == "") != (errOut == "") || code != tc.code || strings.Join(reqs, ",") != strings.Join(tc.requested, ",") {
			t.Errorf("inspect %v:\n out %q err %q code %d requests %v\nwant out %q err %q code %d requests %v", tc.args, out, errOut, code, reqs, tc.out, tc.err, tc.code, tc.requested)
		}
	}
	rec.run(t, "", "inspect", "-s", "c")
	if reqs := rec.requests(); len(reqs) != 1 || reqs[0].Query.Get("size") != "1" {
		t.Errorf("inspect -s: %v", reqs)
	}
}
