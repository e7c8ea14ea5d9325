package container

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/berthd/berth/pkg/atomicfile"
	"github.com/berthd/berth/pkg/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// seccompCacheDir holds compiled filters under the runtime's root, keyed by
// the profile's bytes: an engine hands the same profile (Docker's default
// for the default capabilities) to nearly every container, and decoding
// and compiling it was most of what the default profile cost a start
// (docs/runtime.md, "seccomp"). '@' cannot appear in a container id, so
// `list` never mistakes the directory for a container.
const (
	seccompCacheDir = "@seccomp-cache"
	// seccompCacheMax bounds the directory: a profile differs per
	// capability set, so a host sees a handful, not thousands.
	seccompCacheMax = 32
)

// compileSeccompCached turns raw (config.json's linux.seccomp, nil when
// absent) into the container's filter, reusing a filter this same binary
// compiled earlier from identical bytes. The cache is an optimisation
// only: any failure to read or write it falls back to compiling.
func compileSeccompCached(root string, raw json.RawMessage) (*compiledSeccomp, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dir := filepath.Join(root, seccompCacheDir)
	key := seccompCacheKey(raw)
	if key != "" {
		if b, err := os.ReadFile(filepath.Join(dir, key)); err == nil {
			if sc, err := decodeCompiled(b); err == nil {
				sc.cached = filepath.Join(dir, key)
				return sc, nil
			}
		}
	}
	var c specs.LinuxSeccomp
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, invalid("linux.seccomp: %v", err)
	}
	f, err := seccomp.Compile(&c)
	if err != nil {
		return nil, classErr(ErrInvalidArgument, "invalid config: %v", err)
	}
	sc := newCompiledSeccomp(&c, f)
	if key != "" && storeSeccompCache(dir, key, sc) {
		sc.cached = filepath.Join(dir, key)
	}
	return sc, nil
}

// seccompCacheKey names a compiled filter by the profile's bytes, the
// architecture and the identity of this runtime binary (its inode, size
// and mtime), so a rebuilt or upgraded compiler never reuses an old
// program. "" when the binary cannot be identified: then nothing is cached.
func seccompCacheKey(raw []byte) string {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return ""
	}
	h := sha256.New()
	var id [40]byte
	binary.LittleEndian.PutUint64(id[0:], st.Dev)
	binary.LittleEndian.PutUint64(id[8:], st.Ino)
	binary.LittleEndian.PutUint64(id[16:], uint64(st.Size))
	binary.LittleEndian.PutUint64(id[24:], uint64(st.Mtim.Sec))
	binary.LittleEndian.PutUint64(id[32:], uint64(st.Mtim.Nsec))
	h.Write(id[:])
	h.Write([]byte(runtime.GOARCH))
	h.Write([]byte{0})
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil))
}

// storeSeccompCache reports whether sc is now in the cache.
func storeSeccompCache(dir, key string, sc *compiledSeccomp) bool {
	b, err := sc.encode()
	if err != nil {
		return false
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false
	}
	if atomicfile.Replace(filepath.Join(dir, key), b, 0o600) != nil {
		return false
	}
	pruneSeccompCache(dir)
	return true
}

// pruneSeccompCache keeps the newest seccompCacheMax entries.
func pruneSeccompCache(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) <= seccompCacheMax {
		return
	}
	type ent struct {
		name string
		mod  int64
	}
	var es []ent
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			es = append(es, ent{e.Name(), fi.ModTime().UnixNano()})
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].mod > es[j].mod })
	for _, e := range es[min(len(es), seccompCacheMax):] {
		os.Remove(filepath.Join(dir, e.name))
	}
}
