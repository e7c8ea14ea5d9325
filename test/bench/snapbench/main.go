// snapbench measures what a container start costs in each snapshotter:
// Prepare on a committed layer of many small files (native copies it,
// overlay makes two empty directories), beside `cp -a` of the same tree.
// Run as root (make bench); timings only, no assertions.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/berthd/berth/pkg/namespaces"
	"github.com/berthd/berth/pkg/snapshots"
	"github.com/berthd/berth/pkg/snapshots/native"
	"github.com/berthd/berth/pkg/snapshots/overlay"
)

var (
	totalMB = flag.Int("mb", 100, "size of the tree in MiB")
	nFiles  = flag.Int("files", 20000, "files in the tree")
)

func die(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "snapbench: "+f+"\n", a...)
	os.Exit(1)
}

// fill writes nFiles files of totalMB in 100 directories, with a symlink
// and a hardlink per directory.
func fill(dir string) {
	size := *totalMB << 20 / *nFiles
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i * 31)
	}
	for i := 0; i < *nFiles; i++ {
		d := filepath.Join(dir, fmt.Sprintf("d%03d", i%100))
		os.MkdirAll(d, 0o755)
		p := filepath.Join(d, fmt.Sprintf("f%06d", i))
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			die("%v", err)
		}
		if i < 100 {
			os.Symlink("f000000", filepath.Join(d, "link"))
			os.Link(p, filepath.Join(d, "hard"))
		}
	}
}

func main() {
	flag.Parse()
	tmp, err := os.MkdirTemp("/var/tmp", "bsnap")
	if err != nil {
		die("%v", err)
	}
	defer os.RemoveAll(tmp)
	ctx := namespaces.WithNamespace(context.Background(), "bench")
	fmt.Printf("%-40s %10s %10s\n", "prepare on a layer of "+fmt.Sprintf("%d MiB, %d files", *totalMB, *nFiles), "seconds", "MB/s")
	for _, impl := range []string{"overlayfs", "native"} {
		var sn snapshots.Snapshotter
		root := filepath.Join(tmp, impl)
		if impl == "native" {
			sn, err = native.New(root)
		} else {
			sn, err = overlay.New(root)
		}
		if err != nil {
			die("%v", err)
		}
		ms, err := sn.Prepare(ctx, "layer", "", nil)
		if err != nil {
			die("%v", err)
		}
		fill(ms[0].Source) // a parentless snapshot is a bind of a plain directory
		if err := sn.Commit(ctx, "base", "layer", nil); err != nil {
			die("%v", err)
		}
		exec.Command("sync").Run()
		start := time.Now()
		if _, err := sn.Prepare(ctx, "container", "base", nil); err != nil {
			die("%v", err)
		}
		sec := time.Since(start).Seconds()
		fmt.Printf("%-40s %10.3f %10.0f\n", impl+" Prepare", sec, float64(*totalMB)/sec)
		if impl == "native" {
			// A view binds the committed tree itself: copy that.
			v, err := sn.View(ctx, "v", "base", nil)
			if err != nil {
				die("%v", err)
			}
			src := v[0].Source
			exec.Command("sync").Run()
			start = time.Now()
			if out, err := exec.Command("cp", "-a", "--reflink=auto", src, filepath.Join(tmp, "cp")).CombinedOutput(); err != nil {
				die("cp: %v %s", err, out)
			}
			sec = time.Since(start).Seconds()
			fmt.Printf("%-40s %10.3f %10.0f\n", "cp -a --reflink=auto (same tree)", sec, float64(*totalMB)/sec)
		}
		sn.Close()
	}
}
