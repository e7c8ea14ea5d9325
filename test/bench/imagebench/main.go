// Command imagebench measures the image side: loading (import + unpack) a
// generated ~200 MB image of 5 gzip layers of many small files with berth,
// `ctr images import` (a private containerd) and `podman load` (a private
// root), and pulling it from a local docker-registry with berth beside
// `skopeo copy docker://... oci:DIR`. One run each, in the same run; MB/s of
// uncompressed layer data. Tools that are not installed are skipped.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	gzip "github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/client"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

var (
	binDir  = flag.String("bin", "bin", "directory of berth's binaries")
	totalMB = flag.Int("mb", 200, "uncompressed image size in MiB")
	nLayers = flag.Int("layers", 5, "layers")
	// Hidden knobs for profiling berth alone: no other tool, and
	// `perf record -g` attached to the supervisord of each berth run.
	berthOnly = flag.Bool("berth-only", false, "measure berth only")
	verbose   = flag.Bool("v", false, "print berth's pull progress with times")
	perfOut   = flag.String("perf", "", "record `perf record -g` of supervisord into FILE.load and FILE.pull")
)

func die(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "imagebench: "+f+"\n", a...)
	os.Exit(1)
}

// makeLayer is a tar of 1-8 KiB files (half random, half text) in
// directories of 500, about mb MiB.
func makeLayer(seed uint64, mb int) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	r := rand.New(rand.NewPCG(seed, 7))
	mt := time.Unix(1700000000, 0)
	for i := 0; buf.Len() < mb<<20; i++ {
		if i%500 == 0 {
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("l%d/d%d/", seed, i/500), Mode: 0o755, Typeflag: tar.TypeDir, ModTime: mt})
		}
		n := 1024 + r.IntN(7*1024)
		b := make([]byte, n)
		if i%2 == 0 {
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		} else {
			for j := range b {
				b[j] = "lorem ipsum dolor sit amet "[j%27]
			}
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("l%d/d%d/f%d", seed, i/500, i), Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg, ModTime: mt})
		tw.Write(b)
	}
	tw.Close()
	return buf.Bytes()
}

// writeArchive writes a docker-archive with gzip layers; it returns the
// uncompressed size and the number of files.
func writeArchive(path string) (int64, int) {
	f, err := os.Create(path)
	if err != nil {
		die("%v", err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
		tw.Write(b)
	}
	var raw int64
	files := 0
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, RootFS: ocispec.RootFS{Type: "layers"},
		Config: ocispec.ImageConfig{Cmd: []string{"sh"}}}
	var names []string
	for i := range *nLayers {
		l := makeLayer(uint64(i+1), *totalMB / *nLayers)
		raw += int64(len(l))
		files += bytes.Count(l, []byte("ustar")) // one per header
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(l))
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		w.Write(l)
		w.Close()
		name := fmt.Sprintf("layer%d.tar.gz", i)
		add(name, gz.Bytes())
		names = append(names, name)
	}
	cb, _ := json.Marshal(cfg)
	// Named by its digest, as docker save does: the import checks it.
	cfgName := digest.FromBytes(cb).Encoded() + ".json"
	add(cfgName, cb)
	mb, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"bench:1"}, "Layers": names}})
	add("manifest.json", mb)
	if err := tw.Close(); err != nil {
		die("%v", err)
	}
	return raw, files
}

type result struct {
	name string
	secs float64
}

func report(title string, raw int64, rs []result) {
	fmt.Printf("== %s\n", title)
	if len(rs) == 0 {
		return
	}
	base := rs[0].secs
	for _, r := range rs {
		fmt.Printf("  %-34s %7.2f s  %7.1f MB/s  x%.2f of berth's time\n", r.name, r.secs, float64(raw)/(1<<20)/r.secs, r.secs/base)
	}
}

func timeCmd(name string, args ...string) (float64, error) {
	start := time.Now()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return time.Since(start).Seconds(), nil
}

// supervisord starts bin/supervisord on a fresh root under dir.
func supervisord(dir string) (*client.Client, func()) {
	os.MkdirAll(dir, 0o700)
	sock := filepath.Join(dir, "s.sock")
	cmd := exec.Command(filepath.Join(*binDir, "supervisord"), "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"), "--address", sock, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		die("supervisord: %v", err)
	}
	c, err := client.New(sock, client.WithNamespace("bench"), client.WithTimeout(20*time.Second))
	if err != nil {
		cmd.Process.Kill()
		die("supervisord: %v", err)
	}
	stopPerf := func() {}
	if *perfOut != "" {
		p := exec.Command("perf", "record", "-g", "-o", *perfOut+"."+filepath.Base(dir), "-p", fmt.Sprint(cmd.Process.Pid))
		if err := p.Start(); err == nil {
			stopPerf = func() { p.Process.Signal(os.Interrupt); p.Wait() }
		}
	}
	return c, func() { stopPerf(); c.Close(); cmd.Process.Kill(); cmd.Wait() }
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("%v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func main() {
	flag.Parse()
	dir, err := os.MkdirTemp("", "bim")
	if err != nil {
		die("%v", err)
	}
	defer func() {
		exec.Command("sh", "-c", "grep ' "+dir+"' /proc/mounts | awk '{print $2}' | sort -r | xargs -r umount -l").Run()
		os.RemoveAll(dir)
	}()
	arch := filepath.Join(dir, "bench.tar")
	raw, files := writeArchive(arch)
	st, _ := os.Stat(arch)
	fmt.Printf("image: %d layers, %d files, %.0f MiB uncompressed, %.0f MiB archive (gzip layers)\n", *nLayers, files, float64(raw)/(1<<20), float64(st.Size())/(1<<20))
	ctx := context.Background()

	// Load.
	var loads []result
	c, stop := supervisord(filepath.Join(dir, "b1"))
	f, _ := os.Open(arch)
	start := time.Now()
	if _, err := c.Import(ctx, f, ""); err != nil {
		die("berth import: %v", err)
	}
	loads = append(loads, result{"berth load (supervisord Import)", time.Since(start).Seconds()})
	f.Close()
	if _, err := exec.LookPath("containerd"); err == nil && !*berthOnly {
		cd := filepath.Join(dir, "cd")
		os.MkdirAll(cd, 0o700)
		cfg := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n",
			cd+"/root", cd+"/state", cd+"/c.sock", cd+"/c.sock.ttrpc")
		os.WriteFile(cd+"/config.toml", []byte(cfg), 0o600)
		cmd := exec.Command("containerd", "--config", cd+"/config.toml")
		if err := cmd.Start(); err == nil {
			for i := 0; i < 100; i++ {
				if _, err := os.Stat(cd + "/c.sock"); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if s, err := timeCmd("ctr", "-a", cd+"/c.sock", "-n", "bench", "images", "import", arch); err == nil {
				loads = append(loads, result{"ctr images import (overlayfs)", s})
			} else {
				fmt.Fprintln(os.Stderr, err)
			}
			exec.Command("ctr", "-a", cd+"/c.sock", "-n", "bench", "images", "rm", "docker.io/library/bench:1").Run()
			cmd.Process.Kill()
			cmd.Wait()
		}
	} else if !*berthOnly {
		fmt.Fprintln(os.Stderr, "imagebench: containerd not installed; skipped")
	}
	if _, err := exec.LookPath("podman"); err == nil && !*berthOnly {
		pd := filepath.Join(dir, "pm")
		args := []string{"--root", pd + "/root", "--runroot", pd + "/run", "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "none", "--tmpdir", pd + "/tmp"}
		os.MkdirAll(pd+"/tmp", 0o700)
		if s, err := timeCmd("podman", append(args, "load", "-q", "-i", arch)...); err == nil {
			loads = append(loads, result{"podman load (overlay)", s})
		} else {
			fmt.Fprintln(os.Stderr, err)
		}
		exec.Command("podman", append(args, "system", "reset", "--force")...).Run()
	} else if !*berthOnly {
		fmt.Fprintln(os.Stderr, "imagebench: podman not installed; skipped")
	}
	report("load: import and unpack", raw, loads)

	// Pull from a local registry.
	if _, err := exec.LookPath("docker-registry"); err != nil {
		fmt.Fprintln(os.Stderr, "imagebench: docker-registry not installed; pull skipped")
		stop()
		return
	}
	addr := freeAddr()
	rd := filepath.Join(dir, "reg")
	os.MkdirAll(rd, 0o700)
	os.WriteFile(rd+"/config.yml", []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: %s\n", rd, addr)), 0o600)
	reg := exec.Command("docker-registry", "serve", rd+"/config.yml")
	if err := reg.Start(); err != nil {
		die("docker-registry: %v", err)
	}
	defer func() { reg.Process.Kill(); reg.Wait() }()
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ref := addr + "/bench:1"
	if _, _, err := c.Push(ctx, "bench:1", ref, nil, nil); err != nil {
		die("push: %v", err)
	}
	stop()
	var pulls []result
	c2, stop2 := supervisord(filepath.Join(dir, "b2"))
	start = time.Now()
	var onProgress func(*supervisorv1.Progress)
	if *verbose {
		onProgress = func(p *supervisorv1.Progress) {
			if p.Status != "downloading" {
				fmt.Printf("  %6.2fs %s %s\n", time.Since(start).Seconds(), p.Status, p.Id)
			}
		}
	}
	if _, err := c2.Pull(ctx, ref, nil, onProgress); err != nil {
		die("berth pull: %v", err)
	}
	pulls = append(pulls, result{"berth pull (fetch + unpack)", time.Since(start).Seconds()})
	stop2()
	if _, err := exec.LookPath("skopeo"); err == nil && !*berthOnly {
		if s, err := timeCmd("skopeo", "copy", "-q", "--src-tls-verify=false", "docker://"+ref, "oci:"+filepath.Join(dir, "skopeo-oci")+":1"); err == nil {
			pulls = append(pulls, result{"skopeo copy to oci: (fetch only)", s})
		} else {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	if _, err := exec.LookPath("podman"); err == nil && !*berthOnly {
		pd := filepath.Join(dir, "pm2")
		args := []string{"--root", pd + "/root", "--runroot", pd + "/run", "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "none", "--tmpdir", pd + "/tmp"}
		os.MkdirAll(pd+"/tmp", 0o700)
		if s, err := timeCmd("podman", append(args, "pull", "-q", "--tls-verify=false", ref)...); err == nil {
			pulls = append(pulls, result{"podman pull (fetch + unpack)", s})
		} else {
			fmt.Fprintln(os.Stderr, err)
		}
		exec.Command("podman", append(args, "system", "reset", "--force")...).Run()
	}
	report("pull from a local registry (127.0.0.1)", raw, pulls)
}
