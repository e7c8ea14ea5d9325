// Command mkimage writes the offline busybox test image, made from the host's
// static busybox, as a docker-archive tar or an OCI image layout directory.
//
//	mkimage -o busybox.tar [-ref busybox:latest]
//	mkimage -oci DIR [-ref busybox:latest]
//	mkimage -rootfs DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/berthd/berth/test/image"
)

func main() {
	out := flag.String("o", "", "write a docker-archive tar to this file")
	oci := flag.String("oci", "", "write an OCI image layout to this directory")
	rootfs := flag.String("rootfs", "", "write the busybox root filesystem into this directory")
	ref := flag.String("ref", "busybox:latest", "image name and tag")
	flag.Parse()
	given := 0
	for _, o := range []string{*out, *oci, *rootfs} {
		if o != "" {
			given++
		}
	}
	if given != 1 {
		fmt.Fprintln(os.Stderr, "mkimage: give exactly one of -o FILE, -oci DIR or -rootfs DIR")
		os.Exit(2)
	}
	var err error
	switch {
	case *out != "":
		err = image.WriteDockerArchive(*out, *ref)
	case *oci != "":
		err = image.WriteOCILayout(*oci, *ref)
	default:
		err = image.PopulateRootfs(*rootfs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}
