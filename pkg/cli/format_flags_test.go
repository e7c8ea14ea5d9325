package cli

import (
	"net/http"
	"strings"
	"testing"
)

const psListJSON = `[{"Id":"0123456789abcdef0123","Names":["/web"],"Image":"busybox","Command":"sleep 1000","Created":1700000000,
"Ports":[{"PrivatePort":80,"PublicPort":8080,"Type":"tcp","IP":"0.0.0.0"},{"PrivatePort":5000,"Type":"tcp"},{"PrivatePort":5001,"Type":"tcp"}],
"Labels":{"com.example.key":"v","a":"1"},"State":"running","Status":"Up 2 minutes","SizeRw":12288,"SizeRootFs":2060000,
"Mounts":[{"Name":"averyveryverylongvolumename","Driver":"local"},{"Source":"/tmp"}],
"NetworkSettings":{"Networks":{"bridge":{}}}}]`

func TestPsFormatLatestSize(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /containers/json": reply(200, psListJSON),
	})
	out, errOut, code := rec.run(t, "", "ps", "-l", "-s")
	if code != 0 {
		t.Fatalf("ps -l -s: %d %s", code, errOut)
	}
	q := rec.requests()[0].Query
	if q.Get("limit") != "1" || q.Get("size") != "1" {
		t.Errorf("query %v, want limit=1 size=1", q)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasSuffix(strings.TrimSpace(lines[0]), "SIZE") || !strings.Contains(lines[1], "12.3kB (virtual 2.06MB)") {
		t.Errorf("no SIZE column:\n%s", out)
	}
	if !strings.Contains(lines[1], "5000-5001/tcp, 0.0.0.0:8080->80/tcp") {
		t.Errorf("ports not shown as docker does:\n%s", out)
	}

	out, _, _ = rec.run(t, "", "container", "list", "--format", `table {{.ID}}\t{{.Label "com.example.key"}}\t{{.Mounts}}\t{{.LocalVolumes}}`)
	want := "CONTAINER ID   key       MOUNTS                 LOCAL VOLUMES\n0123456789ab   v         averyveryveryl…,/tmp   1\n"
	if out != want {
		t.Errorf("table format:\n%q\nwant\n%q", out, want)
	}
	if q := rec.requests()[0].Query; q.Get("size") != "" {
		t.Errorf("size asked for a template without .Size: %v", q)
	}

	out, _, _ = rec.run(t, "", "ps", "--format", "json")
	for _, s := range []string{`"Platform":null`, `"Labels":"a=1,com.example.key=v"`, `"Networks":"bridge"`, `"Size":"12.3kB (virtual 2.06MB)"`} {
		if !strings.Contains(out, s) {
			t.Errorf("json lacks %s: %s", s, out)
		}
	}

	out, errOut, _ = rec.run(t, "", "ps", "-q", "--format", "{{.Names}}")
	if out != "0123456789ab\n" || !strings.Contains(errOut, "Ignoring custom format") {
		t.Errorf("-q with --format: %q %q", out, errOut)
	}
}

const statsJSON = `{"id":"0123456789abcdef0123","name":"/web","pids_stats":{"current":3},"memory_stats":{"usage":1048576,"limit":4194304}}`

func TestStatsFormatAll(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /containers/json":                       reply(200, `[{"Id":"0123456789abcdef0123","Names":["/web"]}]`),
		"GET /containers/0123456789abcdef0123/stats": reply(200, statsJSON),
	})
	out, errOut, code := rec.run(t, "", "stats", "--no-stream", "-a", "--format", "{{.Container}} {{.Name}} {{.PIDs}} {{.MemUsage}} {{.MemPerc}}")
	if code != 0 {
		t.Fatalf("stats: %d %s", code, errOut)
	}
	if q := rec.requests()[0].Query; q.Get("all") != "1" {
		t.Errorf("-a did not list all containers: %v", q)
	}
	if want := "0123456789ab web 3 1MiB / 4MiB 25.00%\n"; out != want {
		t.Errorf("got %q want %q", out, want)
	}
}

func TestEventsFormat(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /events": reply(200, `{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"web"}},"scope":"local","time":1,"timeNano":1000000001}`+"\n"),
	})
	out, errOut, code := rec.run(t, "", "events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Status}}|{{.TimeNano}}")
	if code != 0 || out != "container start web |1000000001\n" {
		t.Errorf("events --format: %d %q %q", code, out, errOut)
	}
	_, errOut, code = rec.run(t, "", "events", "--format", "{{.Nope}}")
	if code != 64 || !strings.Contains(errOut, "Error parsing format") {
		t.Errorf("bad template: %d %q", code, errOut)
	}
}

func TestInfoVersionFormat(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /info":    reply(200, `{"ServerVersion":"9.9","Containers":4,"Runtimes":{"runc":{"path":"runc"}}}`),
		"GET /version": reply(200, `{"Version":"9.9","ApiVersion":"1.51","Components":[{"Name":"Engine","Version":"9.9","Details":{"GoVersion":"go1.x","KernelVersion":"6.1"}}]}`),
	})
	out, errOut, code := rec.run(t, "", "info", "-f", "{{.ServerVersion}} {{.Containers}} {{json .Runtimes}} {{.ClientInfo.Context}}")
	if code != 0 || out != `9.9 4 {"runc":{"path":"runc"}} default`+"\n" {
		t.Errorf("info -f: %d %q %q", code, out, errOut)
	}
	out, errOut, code = rec.run(t, "", "version", "--format", "{{.Server.Version}} {{.Server.GoVersion}} {{.Server.KernelVersion}} {{.Client.Version}}")
	if code != 0 || out != "9.9 go1.x 6.1 "+Version+"\n" {
		t.Errorf("version -f: %d %q %q", code, out, errOut)
	}
}

func TestSystemDFVerbose(t *testing.T) {
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /system/df": reply(200, `{"LayersSize":4183786,"Images":[{"Id":"sha256:36ef92ba99e5c9d6","RepoTags":["busybox:latest"],"Created":1,"Size":4183000,"SharedSize":0,"Containers":1}],
"Containers":[{"Id":"0123456789abcdef0123","Names":["/web"],"Image":"busybox","Command":"true","State":"exited","Status":"Exited (0)","SizeRw":8192}],
"Volumes":[{"Name":"vol1","UsageData":{"Size":0,"RefCount":1}}]}`),
	})
	out, errOut, code := rec.run(t, "", "system", "df", "-v")
	if code != 0 {
		t.Fatalf("df -v: %d %s", code, errOut)
	}
	if q := rec.requests()[0].Query; q.Get("verbose") != "1" {
		t.Errorf("verbose not asked: %v", q)
	}
	for _, s := range []string{"Images space usage:", "36ef92ba99e5", "4.183MB", "Containers space usage:", "0123456789ab", "Local Volumes space usage:", "vol1", "Build cache usage: 0B"} {
		if !strings.Contains(out, s) {
			t.Errorf("df -v lacks %q:\n%s", s, out)
		}
	}
	out, _, _ = rec.run(t, "", "system", "df", "--format", "{{.Type}} {{.Reclaimable}}")
	if !strings.HasPrefix(out, "Images 786B (0%)\n") {
		t.Errorf("images reclaimable not docker's: %q", out)
	}
	_, errOut, code = rec.run(t, "", "system", "df", "-v", "--format", "json")
	if code == 0 || !strings.Contains(errOut, "--verbose with --format") {
		t.Errorf("-v --format accepted: %d %q", code, errOut)
	}
}
