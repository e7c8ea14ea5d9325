package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
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
}

// dfVerboseJSON is a /system/df answer with what docker's df -v treats
// apart: an image with two names (only the first shown), a dangling one,
// a container's virtual size (not shown), build cache records to sort (the
// unused one first) and one in use (its ID marked *). %[1]d is three hours
// ago in seconds, %[2]s in RFC 3339.
const dfVerboseJSON = `{"LayersSize":4195530,
"Images":[{"Id":"sha256:36ef92ba99e5c9d60ae0ccc8eb53177d42618a4475a881558d9f8a2eb83cdc50","RepoTags":["busybox:latest","other/repo:v1"],"Created":%[1]d,"Size":4183000,"SharedSize":4183000,"Containers":1},
 {"Id":"sha256:3b6cd48c2ce8ff867f31db237f4ff905027f08f7e278ef77bb1fbc584c2c59d2","RepoTags":[],"RepoDigests":[],"Created":%[1]d,"Size":4195530,"SharedSize":4183000,"Containers":0}],
"Containers":[{"Id":"0123456789abcdef0123","Names":["/web"],"Image":"busybox","Command":"sh -c 'echo hello > /y; sleep 1000'","Created":%[1]d,
 "State":"exited","Status":"Exited (0) 2 hours ago","SizeRw":12288,"SizeRootFs":4195000,"Mounts":[{"Name":"vol1","Driver":"local"}]}],
"Volumes":[{"Name":"vol1","Driver":"local","Scope":"local","Mountpoint":"/v/vol1/_data","Labels":{"a":"1"},"UsageData":{"Size":1234567,"RefCount":1}}],
"BuildCache":[{"ID":"zz112233445566778899","Type":"regular","Description":"/bin/sh -c echo hi","Shared":true,"Size":12288,"CreatedAt":"%[2]s","LastUsedAt":"%[2]s","UsageCount":2},
 {"ID":"aa112233445566778899","Type":"exec.cachemount","Description":"cached mount","InUse":true,"Size":300000,"CreatedAt":"%[2]s","UsageCount":1}]}`

// TestSystemDFVerboseFormat: `df -v --format` prints what docker CLI 28
// prints: "table" is the per-kind tables, anything else one template over
// Images, Containers, Volumes and BuildCache (no header, tab or final
// newline added; IDs and commands shortened only after "table").
func TestSystemDFVerboseFormat(t *testing.T) {
	ago := time.Now().Add(-3 * time.Hour)
	rec := newRecorder(t, map[string]func(http.ResponseWriter, request){
		"GET /system/df": reply(200, fmt.Sprintf(dfVerboseJSON, ago.Unix(), ago.UTC().Format(time.RFC3339))),
	})
	for _, c := range []struct{ format, want string }{
		{"table", `Images space usage:

REPOSITORY   TAG       IMAGE ID       CREATED       SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS
busybox      latest    36ef92ba99e5   3 hours ago   4.18MB    4.183MB       0B            1
<none>       <none>    3b6cd48c2ce8   3 hours ago   4.2MB     4.183MB       12.53kB       0

Containers space usage:

CONTAINER ID   IMAGE     COMMAND                  LOCAL VOLUMES   SIZE      CREATED       STATUS                   NAMES
0123456789ab   busybox   "sh -c 'echo hello >…"   1               12.3kB    3 hours ago   Exited (0) 2 hours ago   web

Local Volumes space usage:

VOLUME NAME   LINKS     SIZE
vol1          1         1.235MB

Build cache usage: 300kB

CACHE ID        CACHE TYPE        SIZE      CREATED       LAST USED     USAGE     SHARED
aa1122334455*   exec.cachemount   300kB     3 hours ago                 1         false
zz1122334455    regular           12.3kB    3 hours ago   3 hours ago   2         true
`},
		{`table {{range .Images}}{{.ID}}\t{{.Repository}}:{{.Tag}}\n{{end}}{{range .BuildCache}}{{.ID}} {{end}}`,
			"36ef92ba99e5\tbusybox:latest\n3b6cd48c2ce8\t<none>:<none>\naa1122334455* zz1122334455 "},
		{`{{range .Containers}}{{.ID}} {{.Command}} {{.Size}} {{.Mounts}}{{end}}|{{range .Volumes}}{{.Name}} {{.Labels}} {{.Size}} {{.Group}}{{end}}|{{len .Images}}`,
			`0123456789abcdef0123 "sh -c 'echo hello > /y; sleep 1000'" 12.3kB vol1|vol1 a=1 1.235MB N/A|2`},
		{`{{json .Volumes}} {{range .Images}}{{json .Repository}}{{end}}`,
			`[{"Availability":"N/A","Driver":"local","Group":"N/A","Labels":"a=1","Links":"1","Mountpoint":"/v/vol1/_data","Name":"vol1","Scope":"local","Size":"1.235MB","Status":"N/A"}] "busybox""<none>"`},
	} {
		out, errOut, code := rec.run(t, "", "system", "df", "-v", "--format", c.format)
		if code != 0 || out != c.want {
			t.Errorf("df -v --format %q: exit %d %s\n%s\nwant\n%s", c.format, code, errOut, out, c.want)
		}
	}
	out, _, _ := rec.run(t, "", "system", "df", "-v", "--format", "json")
	var all struct{ Images, Containers, Volumes, BuildCache []map[string]any }
	if err := json.Unmarshal([]byte(out), &all); err != nil || len(all.Images) != 2 || len(all.Containers) != 1 || len(all.BuildCache) != 2 ||
		len(all.Images[0]) != 11 || len(all.Containers[0]) != 15 || len(all.Volumes[0]) != 10 || len(all.BuildCache[0]) != 12 ||
		all.Images[1]["Repository"] != "<none>" || !strings.Contains(out, `"Repository":"\u003cnone\u003e"`) || strings.HasSuffix(out, "\n") {
		t.Errorf("df -v --format json: %v\n%s", err, out)
	}
	_, errOut, code := rec.run(t, "", "system", "df", "-v", "--format", "{{.Type}}")
	if code != 1 || !strings.Contains(errOut, "can't evaluate field Type") {
		t.Errorf("df -v --format {{.Type}}: %d %q", code, errOut)
	}
}
