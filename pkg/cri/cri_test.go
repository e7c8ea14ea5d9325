package cri

import (
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestRegistryAuth(t *testing.T) {
	a, err := registryAuth(&runtimeapi.AuthConfig{Auth: "dTpwOnE=", ServerAddress: "r"}) // u:p:q
	if err != nil || a.Username != "u" || a.Password != "p:q" || a.ServerAddress != "r" {
		t.Fatalf("registryAuth = %v, %v", a, err)
	}
	for _, bad := range []string{"%%", "bm9jb2xvbg=="} { // not base64; "nocolon"
		if _, err := registryAuth(&runtimeapi.AuthConfig{Auth: bad}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("auth %q: %v, want InvalidArgument", bad, err)
		}
	}
	if a, err := registryAuth(nil); a != nil || err != nil {
		t.Fatalf("no auth = %v, %v", a, err)
	}
}

func TestParseCIDRs(t *testing.T) {
	v4, v6, err := parseCIDRs("10.88.0.0/16, fd00::/64")
	if err != nil || v4.String() != "10.88.0.0/16" || v6.String() != "fd00::/64" {
		t.Fatalf("parseCIDRs = %v %v %v", v4, v6, err)
	}
	if _, _, err := parseCIDRs("10.0.0.0/40"); err == nil {
		t.Fatal("a bad prefix was accepted")
	}
}
