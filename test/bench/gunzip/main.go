// Command gunzip measures layer decompression speed: Go's compress/gzip
// beside klauspost/compress/gzip, and klauspost's zstd, on the same
// generated layer (many small files, half of them compressible). It decides
// which decoder pkg/archive uses; `make bench` prints its figures.
package main

import (
	"archive/tar"
	"bytes"
	stdgzip "compress/gzip"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func layer(mb int) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; buf.Len() < mb<<20; i++ {
		n := 1024 + r.IntN(7*1024)
		b := make([]byte, n)
		if i%2 == 0 {
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		} else {
			for j := range b {
				b[j] = "the quick brown fox "[j%20]
			}
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d/f%d", i/1000, i), Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	return buf.Bytes()
}

func measure(name string, size int, runs int, f func() (io.Reader, error)) {
	best := time.Duration(1 << 62)
	for range runs {
		start := time.Now()
		r, err := f()
		if err != nil {
			fmt.Fprintln(os.Stderr, name, err)
			os.Exit(1)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			fmt.Fprintln(os.Stderr, name, err)
			os.Exit(1)
		}
		best = min(best, time.Since(start))
	}
	fmt.Printf("%-28s %8.1f MB/s (uncompressed, best of %d)\n", name, float64(size)/(1<<20)/best.Seconds(), runs)
}

func main() {
	mb := flag.Int("mb", 64, "layer size in MiB")
	runs := flag.Int("runs", 3, "runs each")
	flag.Parse()
	raw := layer(*mb)
	var gz bytes.Buffer
	w := stdgzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll(raw, nil)
	measure("compress/gzip", len(raw), *runs, func() (io.Reader, error) { return stdgzip.NewReader(bytes.NewReader(gz.Bytes())) })
	measure("klauspost/compress/gzip", len(raw), *runs, func() (io.Reader, error) { return kgzip.NewReader(bytes.NewReader(gz.Bytes())) })
	measure("klauspost/compress/zstd", len(raw), *runs, func() (io.Reader, error) {
		return zstd.NewReader(bytes.NewReader(zs), zstd.WithDecoderConcurrency(1))
	})
}
