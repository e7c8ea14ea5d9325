package api

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
)

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// topOf builds ps -ef's columns for pids from the host's /proc. A process
// that exits meanwhile is left out.
func topOf(pids []int) container.TopResponse {
	resp := container.TopResponse{Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}, Processes: [][]string{}}
	boot := bootTime()
	users := hostUsers()
	uptime := uptimeTicks()
	for _, pid := range pids {
		row, err := procRow(pid, boot, uptime, users)
		if err != nil {
			continue
		}
		resp.Processes = append(resp.Processes, row)
	}
	return resp
}

func procRow(pid int, boot time.Time, uptime float64, users map[string]string) ([]string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// comm may hold spaces and parentheses: the fields start after the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	comm := s[strings.IndexByte(s, '(')+1 : i]
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 20 {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	num := func(k int) uint64 { v, _ := strconv.ParseUint(f[k-3], 10, 64); return v }
	ppid, ttyNr := num(4), num(7)
	cpu := num(14) + num(15)
	start := num(22)

	uid := "?"
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "Uid:"); ok {
				if fs := strings.Fields(v); len(fs) > 0 {
					uid = fs[0]
				}
			}
		}
	}
	if name, ok := users[uid]; ok {
		uid = name
	}
	cmd := "[" + comm + "]"
	if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(cl) > 0 {
		cmd = strings.TrimSpace(strings.ReplaceAll(strings.TrimRight(string(cl), "\x00"), "\x00", " "))
	}
	// C: cpu time over lifetime, in percent, as ps computes it.
	c := 0
	if elapsed := uptime - float64(start); elapsed > 0 {
		c = int(float64(cpu) * 100 / elapsed)
	}
	started := boot.Add(time.Duration(start) * time.Second / clockTicks)
	stime := started.Format("15:04")
	if time.Since(started) > 24*time.Hour {
		stime = started.Format("Jan02")
	}
	secs := cpu / clockTicks
	tm := fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs/60%60, secs%60)
	if secs >= 86400 {
		tm = fmt.Sprintf("%d-%02d:%02d:%02d", secs/86400, secs/3600%24, secs/60%60, secs%60)
	}
	return []string{uid, strconv.Itoa(pid), strconv.FormatUint(ppid, 10), strconv.Itoa(c), stime, ttyName(ttyNr), tm, cmd}, nil
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

func bootTime() time.Time {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Unix(n, 0)
		}
	}
	return time.Time{}
}

func uptimeTicks() float64 {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	fs := strings.Fields(string(data))
	if len(fs) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(fs[0], 64)
	return v * clockTicks
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
