package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseBuildSecrets(t *testing.T) {
	f := filepath.Join(t.TempDir(), "s")
	os.WriteFile(f, []byte("file-secret"), 0o600)
	t.Setenv("SEC_ENV", "env-secret")
	t.Setenv("byname", "by-name")
	got, err := parseBuildSecrets([]string{"id=a,src=" + f, "id=b,env=SEC_ENV", "id=byname", "type=file,id=c,source=" + f})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"a": "file-secret", "b": "env-secret", "byname": "by-name", "c": "file-secret"} {
		if string(got[id]) != want {
			t.Errorf("%s: %q, want %q", id, got[id], want)
		}
	}
	for _, bad := range []string{"src=" + f, "id=x,src=/nonexistent", "id=x,env=NOT_SET_ANYWHERE_1", "id=x,type=ssh", "id=x,bogus=1", "id=x,novalue"} {
		if _, err := parseBuildSecrets([]string{bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
