package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// buildSecretsHeader is engined's header for RUN --mount=type=secret's
// secrets (pkg/engine/api.BuildSecretsHeader).
const buildSecretsHeader = "X-Berth-Build-Secrets"

// maxBuildSecret is the largest secret engined takes.
const maxBuildSecret = 500 << 10

// parseBuildSecrets reads --secret values in docker buildx's form:
// id=ID[,src=FILE|,env=VAR][,type=file|env]; with neither src nor env the
// secret is the environment variable named ID, else the file ID.
func parseBuildSecrets(specs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, spec := range specs {
		var id, typ, src, env string
		for _, f := range strings.Split(spec, ",") {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("invalid --secret %s: field %q is not key=value", spec, f)
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "id":
				id = v
			case "type":
				typ = v
			case "src", "source":
				src = v
			case "env":
				env = v
			default:
				return nil, fmt.Errorf("invalid --secret %s: unknown field %s", spec, k)
			}
		}
		if id == "" {
			return nil, fmt.Errorf("invalid --secret %s: no id", spec)
		}
		if typ == "" {
			switch {
			case src != "":
				typ = "file"
			case env != "":
				typ = "env"
			default:
				if _, ok := os.LookupEnv(id); ok {
					typ, env = "env", id
				} else {
					typ, src = "file", id
				}
			}
		}
		var data []byte
		switch typ {
		case "file":
			if src == "" {
				src = id
			}
			b, err := os.ReadFile(src)
			if err != nil {
				return nil, fmt.Errorf("--secret %s: %w", spec, err)
			}
			data = b
		case "env":
			if env == "" {
				env = id
			}
			v, ok := os.LookupEnv(env)
			if !ok {
				return nil, fmt.Errorf("--secret %s: environment variable %s is not set", spec, env)
			}
			data = []byte(v)
		default:
			return nil, fmt.Errorf("invalid --secret %s: type %s (file or env)", spec, typ)
		}
		if len(data) > maxBuildSecret {
			return nil, fmt.Errorf("--secret %s: larger than %d bytes", spec, maxBuildSecret)
		}
		out[id] = data
	}
	return out, nil
}

// encodeBuildSecrets is the header value carrying secrets.
func encodeBuildSecrets(secrets map[string][]byte) (string, error) {
	b, err := json.Marshal(secrets)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
