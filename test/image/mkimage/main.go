// Command mkimage writes the offline busybox test image, made from the host's
// static busybox, as a docker-archive tar or an OCI image layout directory.
//
//	mkimage -o busybox.tar [-ref busybox:latest]
//	mkimage -oci DIR [-ref busybox:latest]
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
	ref := flag.String("ref", "busybox:latest", "image name and tag")
	flag.Parse()
	if (*out == "") == (*oci == "") {
		fmt.Fprintln(os.Stderr, "mkimage: give exactly one of -o FILE or -oci DIR")
		os.Exit(2)
	}
	var err error
	if *out != "" {
		err = image.WriteDockerArchive(*out, *ref)
	} else {
		err = image.WriteOCILayout(*oci, *ref)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}
