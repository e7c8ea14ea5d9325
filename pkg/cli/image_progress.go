package cli

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"golang.org/x/term"
)

// isTerminal tells whether w is a terminal (progress bars are redrawn in
// place only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// displayProgress prints a pull, push or commit stream as the docker CLI
// does, with its renderer (moby's jsonmessage): on a terminal one line per
// layer, redrawn in place with a progress bar as wide as the terminal
// allows; otherwise plain lines without the bars. It returns the stream's
// error.
func displayProgress(in io.Reader, out io.Writer, tty bool) error {
	fd := ^uintptr(0) // not a file: no window size, full-width bars
	if f, ok := out.(*os.File); ok {
		fd = f.Fd()
	}
	return jsonmessage.DisplayJSONMessagesStream(in, out, fd, tty, nil)
}

// registryAuth is the X-Registry-Auth value for ref's registry, from the
// docker config's stored credentials ($DOCKER_CONFIG/config.json or
// ~/.docker/config.json); "" when there are none.
func registryAuth(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	host := reference.Domain(named)
	data, err := os.ReadFile(dockerConfigFile())
	if err != nil {
		return ""
	}
	var cfg struct {
		Auths map[string]struct {
			Auth          string `json:"auth"`
			IdentityToken string `json:"identitytoken"`
		} `json:"auths"`
	}
	if json.Unmarshal(data, &cfg) != nil {
		return ""
	}
	keys := []string{host, "https://" + host, "http://" + host}
	if host == "docker.io" {
		keys = append(keys, "https://index.docker.io/v1/", "index.docker.io")
	}
	for _, k := range keys {
		a, ok := cfg.Auths[k]
		if !ok {
			continue
		}
		ac := map[string]string{"serveraddress": host}
		if raw, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
			if u, p, ok := strings.Cut(string(raw), ":"); ok {
				ac["username"], ac["password"] = u, p
			}
		}
		if a.IdentityToken != "" {
			ac["identitytoken"] = a.IdentityToken
		}
		b, _ := json.Marshal(ac)
		return base64.URLEncoding.EncodeToString(b)
	}
	return ""
}
