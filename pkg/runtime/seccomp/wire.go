package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"
)

// maxProg is the kernel's BPF_MAXINSNS.
const maxProg = 4096

// ProgBytes is the program as the kernel's array of struct sock_filter (8
// bytes each, little-endian as on amd64).
func ProgBytes(prog []unix.SockFilter) []byte {
	b := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return b
}

// ParseProg reads what ProgBytes wrote: 1 to 4096 instructions.
func ParseProg(b []byte) ([]unix.SockFilter, error) {
	if len(b) == 0 || len(b)%8 != 0 || len(b) > 8*maxProg {
		return nil, fmt.Errorf("seccomp: compiled program of %d bytes is not 1 to %d instructions", len(b), maxProg)
	}
	prog := make([]unix.SockFilter, len(b)/8)
	for i := range prog {
		in := b[8*i:]
		prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(in), Jt: in[2], Jf: in[3], K: binary.LittleEndian.Uint32(in[4:])}
	}
	return prog, nil
}

// wireFilter is a Filter in JSON: the program (ProgBytes) base64.
type wireFilter struct {
	Prog   []byte `json:"prog"`
	Flags  uint   `json:"flags,omitempty"`
	Notify bool   `json:"notify,omitempty"`
}

func (f *Filter) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireFilter{Prog: ProgBytes(f.Prog), Flags: f.Flags, Notify: f.Notify})
}

func (f *Filter) UnmarshalJSON(data []byte) error {
	var w wireFilter
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	prog, err := ParseProg(w.Prog)
	if err != nil {
		return err
	}
	*f = Filter{Prog: prog, Flags: w.Flags, Notify: w.Notify}
	return nil
}
