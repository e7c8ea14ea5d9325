package api

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// topOf builds ps -ef's columns from the processes as the container's
// shim read them (through the supervisor): engined reads no /proc.
func topOf(procs []*supervisorv1.ProcessInfo, now time.Time) container.TopResponse {
	resp := container.TopResponse{Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}, Processes: [][]string{}}
	users := hostUsers()
	for _, p := range procs {
		resp.Processes = append(resp.Processes, procRow(p, now, users))
	}
	return resp
}

func procRow(p *supervisorv1.ProcessInfo, now time.Time, users map[string]string) []string {
	uid := strconv.FormatUint(uint64(p.GetUid()), 10)
	if name, ok := users[uid]; ok {
		uid = name
	}
	cmd := "[" + p.GetComm() + "]"
	if len(p.GetArgs()) > 0 {
		cmd = strings.TrimSpace(strings.Join(p.GetArgs(), " "))
	}
	started := time.Unix(0, p.GetStartedAt())
	cpu := time.Duration(p.GetCpuNs())
	// C: cpu time over lifetime, in percent, as ps computes it.
	c := 0
	if elapsed := now.Sub(started); elapsed > 0 {
		c = int(cpu * 100 / elapsed)
	}
	stime := started.Format("15:04")
	if now.Sub(started) > 24*time.Hour {
		stime = started.Format("Jan02")
	}
	secs := uint64(cpu / time.Second)
	tm := fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs/60%60, secs%60)
	if secs >= 86400 {
		tm = fmt.Sprintf("%d-%02d:%02d:%02d", secs/86400, secs/3600%24, secs/60%60, secs%60)
	}
	return []string{uid, strconv.FormatUint(uint64(p.GetPid()), 10), strconv.FormatUint(uint64(p.GetPpid()), 10),
		strconv.Itoa(c), stime, ttyName(p.GetTty()), tm, cmd}
}

// ttyName turns a tty_nr into ps's name (pts/0, tty1, or ? for none).
func ttyName(nr uint64) string {
	major := (nr >> 8) & 0xfff
	minor := (nr & 0xff) | ((nr >> 12) & 0xfff00)
	switch {
	case nr == 0:
		return "?"
	case major >= 136 && major <= 143:
		return fmt.Sprintf("pts/%d", minor+(major-136)*256)
	case major == 4 && minor < 64:
		return fmt.Sprintf("tty%d", minor)
	case major == 4:
		return fmt.Sprintf("ttyS%d", minor-64)
	default:
		return "?"
	}
}

// hostUsers maps uids to the host's user names, as ps on the host shows.
func hostUsers() map[string]string {
	m := map[string]string{}
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return m
	}
	for _, l := range strings.Split(string(data), "\n") {
		fs := strings.Split(l, ":")
		if len(fs) > 2 {
			if _, ok := m[fs[2]]; !ok {
				m[fs[2]] = fs[0]
			}
		}
	}
	return m
}
