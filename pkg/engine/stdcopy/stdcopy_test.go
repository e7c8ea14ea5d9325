package stdcopy

import (
	"bytes"
	"testing"

	moby "github.com/moby/moby/api/pkg/stdcopy"
)

func TestFramesReadByDocker(t *testing.T) {
	var buf bytes.Buffer
	m := NewMux(&buf)
	m.Writer(Stdout).Write([]byte("out1\n"))
	m.Writer(Stderr).Write([]byte("err\n"))
	m.Writer(Stdout).Write(nil) // no empty frames
	m.Writer(Stdout).Write([]byte("out2\n"))
	if got := buf.Bytes()[:8]; !bytes.Equal(got, []byte{1, 0, 0, 0, 0, 0, 0, 5}) {
		t.Errorf("header %v", got)
	}
	var o, e bytes.Buffer
	if _, err := moby.StdCopy(&o, &e, &buf); err != nil {
		t.Fatal(err)
	}
	if o.String() != "out1\nout2\n" || e.String() != "err\n" {
		t.Errorf("%q %q", o.String(), e.String())
	}
}
