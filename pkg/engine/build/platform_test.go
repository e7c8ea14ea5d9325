package build

import (
	"runtime"
	"testing"

	"github.com/berthd/berth/pkg/errdefs"
)

// FROM --platform takes this host's platform in any spelling (pkg/platforms).
func TestCheckPlatform(t *testing.T) {
	other := map[bool]string{true: "riscv64", false: "s390x"}[runtime.GOARCH == "s390x"]
	ok := []string{"linux", "linux/" + runtime.GOARCH, "linux/" + runtime.GOARCH + "/v8", "Linux/" + runtime.GOARCH}
	if alias := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]; alias != "" {
		ok = append(ok, "linux/"+alias)
	}
	for _, p := range ok {
		if err := checkPlatform(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []string{"windows", "linux/" + other, "windows/" + runtime.GOARCH} {
		if err := checkPlatform(p); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v", p, err)
		}
	}
}
