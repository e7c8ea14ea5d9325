package oci

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"
)

var testAccounts = Accounts{
	Passwd: []byte(strings.Join([]string{
		"root:x:0:0:root:/root:/bin/sh",
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false",
		"app:x:1000:1000::/home/app:/bin/sh",
		"# a comment, and a malformed line follow",
		"broken",
		"",
	}, "\n")),
	Group: []byte(strings.Join([]string{
		"root:x:0:",
		"wheel:x:10:root,app",
		"users:x:100:nobody,app",
		"app:x:1000:",
		"audio:x:29:app",
		"nogroup:x:65534:",
		"",
	}, "\n")),
}

func TestResolveUser(t *testing.T) {
	for _, tc := range []struct {
		spec     string
		groupAdd []string
		acc      Accounts
		want     specs.User
	}{
		// As dockerd: the primary gid first, then the user's groups.
		{"", nil, testAccounts, specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0, 10}}},
		{"root", nil, testAccounts, specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0, 10}}},
		{"nobody", nil, testAccounts, specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534, 100}}},
		{"65534", nil, testAccounts, specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534, 100}}},
		{"app", nil, testAccounts, specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10, 100, 29}}},
		// An explicit group replaces the primary one and drops the
		// implicit supplementary groups.
		{"nobody:nogroup", nil, testAccounts, specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534}}},
		{"app:users", nil, testAccounts, specs.User{UID: 1000, GID: 100, AdditionalGids: []uint32{100}}},
		{"1000:29", nil, testAccounts, specs.User{UID: 1000, GID: 29, AdditionalGids: []uint32{29}}},
		{"nobody:4242", nil, testAccounts, specs.User{UID: 65534, GID: 4242, AdditionalGids: []uint32{4242}}},
		// Numeric ids without an entry are allowed.
		{"4242", nil, testAccounts, specs.User{UID: 4242, GID: 0, AdditionalGids: []uint32{0}}},
		{"4242:4343", nil, testAccounts, specs.User{UID: 4242, GID: 4343, AdditionalGids: []uint32{4343}}},
		// --group-add: names and ids, sorted, after the user's own.
		{"nobody", []string{"audio", "5000", "wheel"}, testAccounts, specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534, 100, 10, 29, 5000}}},
		{"", []string{"0", "users"}, testAccounts, specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0, 10, 100}}},
		// No /etc/passwd or /etc/group: numeric ids work.
		{"", nil, Accounts{}, specs.User{AdditionalGids: []uint32{0}}},
		{"1000:50", nil, Accounts{}, specs.User{UID: 1000, GID: 50, AdditionalGids: []uint32{50}}},
		{"1000", []string{"7"}, Accounts{}, specs.User{UID: 1000, AdditionalGids: []uint32{0, 7}}},
		{"nobody", nil, Accounts{Passwd: testAccounts.Passwd}, specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534}}},
	} {
		got, err := ResolveUser(tc.spec, tc.groupAdd, tc.acc)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q %v: %+v, %v; want %+v", tc.spec, tc.groupAdd, got, err, tc.want)
		}
	}
}

func TestResolveUserErrors(t *testing.T) {
	for _, tc := range []struct {
		spec     string
		groupAdd []string
		acc      Accounts
		msg      string
	}{
		{"nosuchuser", nil, testAccounts, "unable to find user nosuchuser: no matching entries in passwd file"},
		{"nosuchuser", nil, Accounts{}, "unable to find user nosuchuser: no matching entries in passwd file"},
		{"nobody:nosuchgroup", nil, testAccounts, "unable to find group nosuchgroup: no matching entries in group file"},
		{"nobody", []string{"nosuchgroup"}, testAccounts, "Unable to find group nosuchgroup: no matching entries in group file"},
		{"-1", nil, testAccounts, "uids and gids must be in range"},
		{"1:4294967296", nil, testAccounts, "uids and gids must be in range"},
	} {
		_, err := ResolveUser(tc.spec, tc.groupAdd, tc.acc)
		if !errdefs.IsInvalidArgument(err) || !strings.HasPrefix(err.Error(), tc.msg) {
			t.Errorf("%q %v: %v; want 400 %q", tc.spec, tc.groupAdd, err, tc.msg)
		}
	}
}

// A passwd of many entries is parsed; one with a line longer than the
// library's 64 KiB is refused with a 400, as dockerd (same library) does.
// The supervisor caps the file's size before it gets here.
func TestResolveUserLargeFiles(t *testing.T) {
	var b strings.Builder
	for i := range 20000 {
		b.WriteString("u")
		b.WriteString(strings.Repeat("x", i%50))
		b.WriteString(":x:")
		b.WriteString(strings.Repeat("9", 1+i%5))
		b.WriteString(":0::/:/bin/sh\n")
	}
	b.WriteString("last:x:777:778::/:/bin/sh\n")
	got, err := ResolveUser("last", nil, Accounts{Passwd: []byte(b.String())})
	if err != nil || got.UID != 777 || got.GID != 778 {
		t.Fatalf("last entry of a large passwd: %+v, %v", got, err)
	}
	long := Accounts{Passwd: []byte(strings.Repeat("y", 1<<20) + "\nlast:x:777:778::/:/bin/sh\n")}
	if _, err := ResolveUser("last", nil, long); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("a 1 MiB line: %v, want InvalidArgument", err)
	}
}

func TestSpecUser(t *testing.T) {
	s, err := Spec(Options{
		ID:       "c1",
		Config:   &container.Config{Cmd: []string{"id"}, User: "nobody"},
		Host:     &container.HostConfig{GroupAdd: []string{"audio"}},
		Accounts: testAccounts,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534, 100, 29}}
	if !reflect.DeepEqual(s.Process.User, want) {
		t.Errorf("user %+v, want %+v", s.Process.User, want)
	}
	if _, err := Spec(Options{ID: "c1", Config: &container.Config{Cmd: []string{"id"}, User: "nosuchuser"}, Accounts: testAccounts}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("unknown user: %v", err)
	}
}
