// Package archivetest makes the hostile tar streams tests of the archive
// readers need and archive/tar's writer refuses to write.
package archivetest

import (
	"archive/tar"
	"bytes"
	"fmt"
)

// SparseTar returns a tar of one sparse regular file name that is all
// hole: about a kilobyte that archive/tar reads as realSize zero bytes.
// oldGNU picks the GNU type 'S' header, otherwise GNU's PAX format 1.0.
func SparseTar(name string, realSize int64, oldGNU bool) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if oldGNU {
		// A plain header patched to type 'S', its real size at byte 483;
		// no sparse map entries, so the whole file is a hole.
		_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatGNU})
		_ = tw.Close()
		raw := b.Bytes()
		raw[156] = tar.TypeGNUSparse
		putNumeric(raw[483:495], realSize)
		fixChecksum(raw[:512])
		return raw
	}
	records := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", name) + paxRecord("GNU.sparse.realsize", fmt.Sprint(realSize))
	_ = tw.WriteHeader(&tar.Header{Name: "pax", Typeflag: tar.TypeReg, Size: int64(len(records)), Format: tar.FormatUSTAR})
	_, _ = tw.Write([]byte(records))
	_ = tw.Flush()
	// The 1.0 format's sparse map leads the data: no entries.
	data := make([]byte, 512)
	copy(data, "0\n")
	_ = tw.WriteHeader(&tar.Header{Name: "GNUSparseFile.0/" + name, Typeflag: tar.TypeReg, Size: int64(len(data)), Format: tar.FormatUSTAR})
	_, _ = tw.Write(data)
	_ = tw.Close()
	raw := b.Bytes()
	raw[156] = tar.TypeXHeader
	fixChecksum(raw[:512])
	return raw
}

// paxRecord formats "LEN key=value\n", LEN counting itself.
func paxRecord(k, v string) string {
	s := " " + k + "=" + v + "\n"
	n := len(s)
	for {
		r := fmt.Sprintf("%d%s", n, s)
		if len(r) == n {
			return r
		}
		n = len(r)
	}
}

// putNumeric writes n into a header field: octal if it fits, else
// base-256 (a leading 0x80 byte, big-endian), as GNU tar does.
func putNumeric(field []byte, n int64) {
	if n < 1<<33 {
		copy(field, fmt.Sprintf("%0*o\x00", len(field)-1, n))
		return
	}
	for i := len(field) - 1; i > 0; i-- {
		field[i] = byte(n)
		n >>= 8
	}
	field[0] = 0x80
}

func fixChecksum(h []byte) {
	sum := 0
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
}
