package cli

import (
	"net/http"
	"strings"
	"testing"
)

// Cluster volumes need swarm mode: their create flags are refused before
// any request, and ls --cluster lists none, under docker's cluster header.
func TestVolumeClusterFlags(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /volumes": reply(200, `{"Volumes":[{"Name":"v1","Driver":"local","Scope":"local"}]}`),
	})
	for _, flag := range []string{"--scope=multi", "--group=g", "--type=mount", "--sharing=all", "--availability=pause",
		"--limit-bytes=1", "--required-bytes=1", "--secret=a=b", "--topology-preferred=x", "--topology-required=x"} {
		_, errOut, code := rec.run(t, "", "volume", "create", flag, "v")
		name, _, _ := strings.Cut(flag, "=")
		if code != 1 || !strings.Contains(errOut, name+": cluster volumes need swarm mode") {
			t.Errorf("volume create %s: %d %q", flag, code, errOut)
		}
	}
	if reqs := rec.requests(); len(reqs) != 0 {
		t.Errorf("refused creates made requests: %v", reqs)
	}
	if out, _, code := rec.run(t, "", "volume", "ls", "--cluster"); code != 0 || out != "VOLUME NAME   GROUP     DRIVER    AVAILABILITY   STATUS\n" {
		t.Errorf("volume ls --cluster: %d %q", code, out)
	}
	if out, _, _ := rec.run(t, "", "volume", "ls"); !strings.Contains(out, "v1") {
		t.Errorf("volume ls: %q", out)
	}
}
