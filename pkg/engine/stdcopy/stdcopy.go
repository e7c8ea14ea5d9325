// Package stdcopy writes the Docker multiplexed stream format used by attach
// and logs of a container without a tty: each frame is an 8-byte header
// (stream type, 3 zero bytes, big-endian uint32 payload length) and the
// payload.
package stdcopy

import (
	"encoding/binary"
	"io"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// The stream types of the header's first byte are moby's, whose StdCopy
// reads this format back (moby/api has the reader only; this is the
// writer).
const (
	Stdout = stdcopy.Stdout
	Stderr = stdcopy.Stderr
)

// Mux serialises frames of several streams onto one writer.
type Mux struct {
	mu sync.Mutex
	w  io.Writer
}

// NewMux returns a Mux writing to w.
func NewMux(w io.Writer) *Mux { return &Mux{w: w} }

// WriteFrame writes p as one frame of stream typ.
func (m *Mux) WriteFrame(typ stdcopy.StdType, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	var hdr [8]byte
	hdr[0] = byte(typ)
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := m.w.Write(p)
	return err
}

// Writer returns an io.Writer whose every Write becomes one frame of typ.
func (m *Mux) Writer(typ stdcopy.StdType) io.Writer { return streamWriter{m: m, typ: typ} }

type streamWriter struct {
	m   *Mux
	typ stdcopy.StdType
}

func (s streamWriter) Write(p []byte) (int, error) {
	if err := s.m.WriteFrame(s.typ, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
