// Command shimbench measures the running side of berth through a private
// supervisord: the wall time to create and start N containers at once, the
// idle memory of one shim (RSS and PSS from /proc/PID/smaps_rollup), and
// supervisord's memory with 0 and N containers.
//
//	shimbench -bin bin -n 100          # berth
//	shimbench mem PID...               # the same memory figures of any process
//	shimbench floor [-n 50] [-label TEXT] BINARY
//
// floor measures a program that serves the unix socket named by its only
// argument (test/bench/shimfloor): one instance alone, then the mean of n
// running at once.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/berthd/berth/pkg/namespaces"
	pb "github.com/berthd/berth/proto/berth/supervisor/v1"
	"github.com/berthd/berth/test/image"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "mem" {
		for _, a := range os.Args[2:] {
			pid, _ := strconv.Atoi(a)
			m, err := readMem(pid)
			if err != nil {
				fmt.Fprintln(os.Stderr, "shimbench:", err)
				os.Exit(1)
			}
			fmt.Println(m)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		if err := floor(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "shimbench floor:", err)
			os.Exit(1)
		}
		return
	}
	bin := flag.String("bin", "bin", "directory of supervisord, shim and runtime")
	n := flag.Int("n", 100, "containers")
	flag.DurationVar(&hold, "hold", 0, "keep the containers running this long after measuring (to look at the shims)")
	flag.Parse()
	if err := run(*bin, *n); err != nil {
		fmt.Fprintln(os.Stderr, "shimbench:", err)
		os.Exit(1)
	}
}

var hold time.Duration

// mem is a reading of /proc/PID/smaps_rollup, in kB.
type mem struct {
	pid                        int
	rss, pss, pssAnon, pssFile int
}

func (m mem) String() string {
	return fmt.Sprintf("pid %d: RSS %.1f MB, PSS %.1f MB (anon %.1f MB, file %.1f MB)",
		m.pid, float64(m.rss)/1024, float64(m.pss)/1024, float64(m.pssAnon)/1024, float64(m.pssFile)/1024)
}

func (m mem) add(o mem) mem {
	return mem{rss: m.rss + o.rss, pss: m.pss + o.pss, pssAnon: m.pssAnon + o.pssAnon, pssFile: m.pssFile + o.pssFile}
}

// meanOf is the mean of k readings whose sum is m.
func (m mem) meanOf(k int) string {
	d := 1024 * float64(k)
	return fmt.Sprintf("RSS %.1f MB, PSS %.2f MB (anon %.2f MB, file %.2f MB)",
		float64(m.rss)/d, float64(m.pss)/d, float64(m.pssAnon)/d, float64(m.pssFile)/d)
}

func readMem(pid int) (mem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return mem{}, err
	}
	defer f.Close()
	m := mem{pid: pid}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fl[1])
		switch fl[0] {
		case "Rss:":
			m.rss = v
		case "Pss:":
			m.pss = v
		case "Pss_Anon:":
			m.pssAnon = v
		case "Pss_File:":
			m.pssFile = v
		}
	}
	return m, sc.Err()
}

func run(bin string, n int) error {
	bin, _ = filepath.Abs(bin)
	dir, err := os.MkdirTemp("", "sb")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "sv.sock")
	state := filepath.Join(dir, "state")
	sv := exec.Command(filepath.Join(bin, "supervisord"), "--root", filepath.Join(dir, "root"),
		"--state", state, "--address", sock, "--log-level", "error")
	sv.Stderr = os.Stderr
	sv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sv.Start(); err != nil {
		return err
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			sv.Process.Signal(syscall.SIGTERM)
			sv.Wait()
		}
	}
	defer stop()
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if i > 500 {
			return fmt.Errorf("supervisord does not listen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx := namespaces.WithNamespace(context.Background(), "bench")
	tasks, ctrs, snaps := pb.NewTasksClient(conn), pb.NewContainersClient(conn), pb.NewSnapshotsClient(conn)

	img, err := importBusybox(ctx, pb.NewImagesClient(conn))
	if err != nil {
		return err
	}
	spec, err := benchSpec(filepath.Join(bin, "runtime"))
	if err != nil {
		return err
	}
	ids := make([]string, n+1) // one alone first, then n at once
	for i := range ids {
		ids[i] = fmt.Sprintf("b%03d", i)
		if _, err := snaps.Prepare(ctx, &pb.PrepareSnapshotRequest{Key: ids[i], Parent: img.ChainId}); err != nil {
			return err
		}
		s := bytes.ReplaceAll(spec, []byte("CGROUP"), []byte(ids[i]))
		if _, err := ctrs.Create(ctx, &pb.CreateContainerRequest{Container: &pb.Container{
			Id: ids[i], Image: img.Name, Spec: s, SnapshotKey: ids[i]}}); err != nil {
			return err
		}
	}
	defer func() {
		for _, id := range ids {
			tasks.Delete(ctx, &pb.DeleteTaskRequest{ContainerId: id, Force: true})
			ctrs.Delete(ctx, &pb.DeleteContainerRequest{Id: id})
		}
		removeCgroups()
	}()
	time.Sleep(time.Second)
	sv0, _ := readMem(sv.Process.Pid)

	// One container alone: the shim's idle memory when nothing shares its
	// binary's pages with it.
	one, err := startTask(ctx, tasks, ids[0])
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	shimAlone, err := readMem(parentOf(one))
	if err != nil {
		return err
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, id := range ids[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := startTask(ctx, tasks, id); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	for err := range errs {
		return err
	}
	time.Sleep(2 * time.Second)
	svN, _ := readMem(sv.Process.Pid)
	l, err := tasks.List(ctx, &pb.ListTasksRequest{})
	if err != nil {
		return err
	}
	var pss []int
	var sum mem
	for _, tk := range l.Tasks {
		if tk.ContainerId == ids[0] {
			continue // the one alone: the figures below are of the n started at once
		}
		if m, err := readMem(parentOf(tk.Pid)); err == nil {
			pss = append(pss, m.pss)
			sum = sum.add(m)
		}
	}
	sort.Ints(pss)

	fmt.Printf("create+start of %d containers at once (sleep, berth runtime): %v wall, %.1f ms per container\n",
		n, wall.Round(time.Millisecond), float64(wall.Milliseconds())/float64(n))
	fmt.Printf("berth shim, one idle container alone:   %v\n", shimAlone)
	if len(pss) > 0 {
		fmt.Printf("berth shim, median PSS of %d running: %.1f MB\n", len(pss), float64(pss[len(pss)/2])/1024)
		fmt.Printf("berth shim, mean of %d running:         %s\n", len(pss), sum.meanOf(len(pss)))
	}
	fmt.Printf("supervisord, 0 containers:   %v\n", sv0)
	fmt.Printf("supervisord, %d containers: %v\n", len(l.Tasks), svN)
	time.Sleep(hold)
	return nil
}

func startTask(ctx context.Context, tasks pb.TasksClient, id string) (uint32, error) {
	if _, err := tasks.Create(ctx, &pb.CreateTaskRequest{ContainerId: id}); err != nil {
		return 0, fmt.Errorf("%s: %w", id, err)
	}
	s, err := tasks.Start(ctx, &pb.StartTaskRequest{ContainerId: id})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", id, err)
	}
	return s.Task.Pid, nil
}

func parentOf(pid uint32) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || len(s) < i+2 {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

func importBusybox(ctx context.Context, images pb.ImagesClient) (*pb.Image, error) {
	var buf bytes.Buffer
	if err := image.DockerArchive(&buf, "busybox:latest"); err != nil {
		return nil, err
	}
	st, err := images.Import(ctx)
	if err != nil {
		return nil, err
	}
	data := buf.Bytes()
	for len(data) > 0 {
		k := min(len(data), 1<<20)
		if err := st.Send(&pb.ImportRequest{Data: data[:k]}); err != nil {
			break
		}
		data = data[k:]
	}
	resp, err := st.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.Images[0], nil
}

// benchSpec is the runtime's default spec running `sleep 1000`, with the
// cgroup path CGROUP (replaced per container) below ours.
func benchSpec(runtime string) ([]byte, error) {
	d, err := os.MkdirTemp("", "sbs")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(d)
	if out, err := exec.Command(runtime, "spec", "--bundle", d).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s spec: %v: %s", runtime, err, out)
	}
	b, err := os.ReadFile(filepath.Join(d, "config.json"))
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, err
	}
	spec.Process.Args = []string{"sleep", "1000"}
	spec.Process.Terminal = false
	spec.Process.Env = []string{"PATH=/bin"}
	spec.Linux.CgroupsPath = "berth-bench/CGROUP"
	return json.Marshal(&spec)
}

// removeCgroups removes the empty berth-bench parents in our cgroups.
func removeCgroups() {
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, l := range strings.Split(string(b), "\n") {
		p := strings.SplitN(l, ":", 3)
		if len(p) != 3 {
			continue
		}
		for _, c := range strings.Split(p[1], ",") {
			c = strings.TrimPrefix(c, "name=")
			if c == "" {
				c = "unified"
			}
			os.Remove(filepath.Join("/sys/fs/cgroup", c, p[2], "berth-bench"))
		}
	}
}
