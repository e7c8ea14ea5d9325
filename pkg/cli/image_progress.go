package cli

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"golang.org/x/term"
)

// progressMessage is a line of the engine's JSON progress stream.
type progressMessage struct {
	Status         string               `json:"status"`
	ID             string               `json:"id"`
	Progress       string               `json:"progress"`
	ProgressDetail *jsonstream.Progress `json:"progressDetail"`
	Stream         string               `json:"stream"`
	ErrorDetail    *jsonstream.Error    `json:"errorDetail"`
	Error          string               `json:"error"`
	Aux            json.RawMessage      `json:"aux"`
}

// isTerminal tells whether w is a terminal (progress bars are redrawn in
// place only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// displayProgress prints a pull or push stream as docker does: on a terminal
// one line per layer, rewritten in place as it progresses; otherwise plain
// lines, without the progress bars. It returns the stream's error message.
func displayProgress(in io.Reader, out io.Writer, tty bool, aux func(json.RawMessage)) error {
	dec := json.NewDecoder(in)
	lines := map[string]int{} // layer id -> its line, counted from the first
	n := 0
	for {
		var m progressMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if m.ErrorDetail != nil || m.Error != "" {
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			return errors.New(msg)
		}
		if len(m.Aux) > 0 && aux != nil {
			aux(m.Aux)
		}
		if m.Stream != "" {
			fmt.Fprint(out, m.Stream)
			continue
		}
		if m.Status == "" {
			continue
		}
		text := m.Status
		if m.ID != "" {
			text = m.ID + ": " + m.Status
		}
		if !tty {
			if m.Progress == "" && (m.ProgressDetail == nil || m.ProgressDetail.Total == 0) {
				fmt.Fprintln(out, text)
			}
			continue
		}
		if m.Progress != "" {
			text += " " + m.Progress
		}
		if m.ID == "" {
			fmt.Fprintln(out, text)
			lines = map[string]int{} // later ids start below this line
			n = 0
			continue
		}
		i, seen := lines[m.ID]
		if !seen {
			lines[m.ID] = n
			n++
			fmt.Fprintf(out, "%s\n", text)
			continue
		}
		up := n - i
		// Up to the layer's line, clear it, write, back down.
		fmt.Fprintf(out, "\x1b[%dA\r\x1b[2K%s\r\x1b[%dB", up, text, up)
	}
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
