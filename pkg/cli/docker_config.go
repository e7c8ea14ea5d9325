package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// What ctl reads of docker's client config file, as the docker CLI does:
// registry credentials, the proxies given to new containers and the
// default detach keys of run.

// dockerConfigFile is $DOCKER_CONFIG/config.json or ~/.docker/config.json.
func dockerConfigFile() string {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".docker")
	}
	return filepath.Join(dir, "config.json")
}

type proxyConfig struct {
	HTTPProxy  string `json:"httpProxy"`
	HTTPSProxy string `json:"httpsProxy"`
	NoProxy    string `json:"noProxy"`
	FTPProxy   string `json:"ftpProxy"`
	AllProxy   string `json:"allProxy"`
}

type dockerConfig struct {
	Auths      map[string]json.RawMessage `json:"auths"`
	Proxies    map[string]proxyConfig     `json:"proxies"`
	DetachKeys string                     `json:"detachKeys"`
}

// readDockerConfig reads the config file; none is an empty config.
func readDockerConfig() (dockerConfig, error) {
	var cfg dockerConfig
	data, err := os.ReadFile(dockerConfigFile())
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", dockerConfigFile(), err)
	}
	return cfg, nil
}

// localAuths is the "auths" of the config.
func localAuths() (map[string]json.RawMessage, error) {
	cfg, err := readDockerConfig()
	return cfg.Auths, err
}

// configDetachKeys is the config's detachKeys, the default of
// --detach-keys ("" when unset: the engine's ctrl-p,ctrl-q).
func configDetachKeys() string {
	cfg, _ := readDockerConfig()
	return cfg.DetachKeys
}

// proxyEnv is the proxy variables docker's CLI gives a new container: those
// of "proxies" for the engine's host (else "default"), each in upper and
// lower case, unless the command line sets that name with -e.
func proxyEnv(host string, env []string) []string {
	cfg, err := readDockerConfig()
	if err != nil || len(cfg.Proxies) == 0 {
		return nil
	}
	p, ok := cfg.Proxies[host]
	if !ok {
		p = cfg.Proxies["default"]
	}
	set := map[string]bool{}
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		set[k] = true
	}
	var out []string
	for _, v := range []struct{ name, value string }{
		{"HTTP_PROXY", p.HTTPProxy}, {"HTTPS_PROXY", p.HTTPSProxy}, {"NO_PROXY", p.NoProxy},
		{"FTP_PROXY", p.FTPProxy}, {"ALL_PROXY", p.AllProxy},
	} {
		if v.value == "" {
			continue
		}
		for _, name := range []string{v.name, strings.ToLower(v.name)} {
			if !set[name] {
				out = append(out, name+"="+v.value)
			}
		}
	}
	return out
}
