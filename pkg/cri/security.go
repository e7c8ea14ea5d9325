package cri

import (
	"fmt"
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/specdefaults"
)

func invalidf(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

func unsupportedf(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), errdefs.ErrNotImplemented)
}

// seccompProfile turns the CRI's seccomp choice (the profile, or the
// deprecated path form) into the spec's filter; nil is unconfined, which
// is what the CRI means by no profile. Localhost profiles are docker's
// JSON format, read from the absolute path the kubelet sends.
func seccompProfile(field string, p *runtimeapi.SecurityProfile, legacyPath string, s *specs.Spec) (*specs.LinuxSeccomp, error) {
	kind, ref := runtimeapi.SecurityProfile_Unconfined, ""
	if p != nil {
		kind, ref = p.GetProfileType(), p.GetLocalhostRef()
	} else {
		switch {
		case legacyPath == "" || legacyPath == "unconfined":
		case legacyPath == "runtime/default" || legacyPath == "docker/default":
			kind = runtimeapi.SecurityProfile_RuntimeDefault
		case strings.HasPrefix(legacyPath, "localhost/"):
			kind, ref = runtimeapi.SecurityProfile_Localhost, strings.TrimPrefix(legacyPath, "localhost/")
		default:
			return nil, invalidf(field+"_profile_path", "unknown profile %q", legacyPath)
		}
	}
	switch kind {
	case runtimeapi.SecurityProfile_Unconfined:
		return nil, nil
	case runtimeapi.SecurityProfile_RuntimeDefault:
		return specdefaults.Seccomp(s)
	case runtimeapi.SecurityProfile_Localhost:
		if !path.IsAbs(ref) {
			return nil, invalidf(field+".localhost_ref", "%q is not an absolute path", ref)
		}
		b, err := os.ReadFile(ref)
		if err != nil {
			return nil, invalidf(field+".localhost_ref", "%v", err)
		}
		prof, err := specdefaults.LoadSeccomp(string(b), s)
		if err != nil {
			return nil, invalidf(field+".localhost_ref", "%v", err)
		}
		return prof, nil
	}
	return nil, invalidf(field+".profile_type", "unknown type %v", kind)
}

// hostHasAppArmor and hostHasSELinux: a profile or label on a host
// without the LSM is refused rather than silently not enforced.
func hostHasAppArmor() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

func hostHasSELinux() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/selinux", &st) == nil && st.Type == unix.SELINUX_MAGIC
}

func checkAppArmor(field string, p *runtimeapi.SecurityProfile, legacy string) error {
	if p != nil && p.GetProfileType() != runtimeapi.SecurityProfile_Unconfined ||
		p == nil && legacy != "" && legacy != "unconfined" {
		if !hostHasAppArmor() {
			return unsupportedf(field, "AppArmor is not enabled on this host")
		}
		return unsupportedf(field, "AppArmor profiles are not supported by berth")
	}
	return nil
}

func checkSELinux(field string, o *runtimeapi.SELinuxOption) error {
	if o == nil || o.GetUser() == "" && o.GetRole() == "" && o.GetType() == "" && o.GetLevel() == "" {
		return nil
	}
	if !hostHasSELinux() {
		return unsupportedf(field, "SELinux is not enabled on this host")
	}
	return unsupportedf(field, "SELinux labels are not supported by berth")
}

// ownOOMScoreAdj is the daemon's own oom_score_adj: a process it starts
// cannot go lower without CAP_SYS_RESOURCE, so requests below are clamped
// to it (as containerd's restrict_oom_score_adj does).
func ownOOMScoreAdj() int {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscan(strings.TrimSpace(string(b)), &n)
	return n
}

func clampOOMScoreAdj(v int) *int {
	if own := ownOOMScoreAdj(); v < own {
		v = own
	}
	if v > 1000 {
		v = 1000
	}
	return &v
}
