package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"
)

// wireFilter is a Filter in JSON: the program as the kernel's array of
// struct sock_filter (8 bytes each, little-endian as on amd64), base64.
// The runtime compiles a profile once, in `create`, and hands this to the
// container's init and keeps it for `exec`, which load it as is.
type wireFilter struct {
	Prog   []byte `json:"prog"`
	Flags  uint   `json:"flags,omitempty"`
	Notify bool   `json:"notify,omitempty"`
}

func (f *Filter) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 8*len(f.Prog))
	for _, in := range f.Prog {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return json.Marshal(wireFilter{Prog: b, Flags: f.Flags, Notify: f.Notify})
}

func (f *Filter) UnmarshalJSON(data []byte) error {
	var w wireFilter
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	if len(w.Prog) == 0 || len(w.Prog)%8 != 0 || len(w.Prog) > 8*4096 {
		return fmt.Errorf("seccomp: compiled program of %d bytes is not 1 to 4096 instructions", len(w.Prog))
	}
	prog := make([]unix.SockFilter, len(w.Prog)/8)
	for i := range prog {
		b := w.Prog[8*i:]
		prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:])}
	}
	*f = Filter{Prog: prog, Flags: w.Flags, Notify: w.Notify}
	return nil
}
