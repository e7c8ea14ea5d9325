package images

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// authConfig is the JSON the docker CLI puts, base64url-encoded, in the
// X-Registry-Auth header.
type authConfig struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	ServerAddress string `json:"serveraddress,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// DecodeAuth reads an X-Registry-Auth header; nil for an empty one or one
// without credentials (the supervisor then uses what it has stored).
func DecodeAuth(header string) (*supervisorv1.RegistryAuth, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return nil, nil
	}
	raw, err := decodeHeader(header)
	if err != nil {
		return nil, fmt.Errorf("invalid X-Registry-Auth header: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return authFromJSON(raw)
}

// DecodeRegistryConfig reads an X-Registry-Config header (what the docker
// CLI sends with a build: credentials by registry) into credentials by
// registry host ("docker.io" for Docker Hub's index addresses).
func DecodeRegistryConfig(header string) (map[string]*supervisorv1.RegistryAuth, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return nil, nil
	}
	raw, err := decodeHeader(header)
	if err != nil {
		return nil, fmt.Errorf("invalid X-Registry-Config header: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("invalid X-Registry-Config header: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	out := map[string]*supervisorv1.RegistryAuth{}
	for addr, v := range m {
		a, err := authFromJSON(v)
		if err != nil {
			return nil, fmt.Errorf("X-Registry-Config %s: %w", addr, err)
		}
		if a == nil {
			continue
		}
		host := strings.TrimPrefix(strings.TrimPrefix(addr, "https://"), "http://")
		host, _, _ = strings.Cut(host, "/")
		if host == "index.docker.io" || host == "registry-1.docker.io" {
			host = "docker.io"
		}
		out[host] = a
	}
	return out, nil
}

// decodeHeader decodes a base64 header: clients differ in padding and
// alphabet (the docker CLI sends padded base64url, some send standard
// base64).
func decodeHeader(header string) ([]byte, error) {
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if raw, err = enc.DecodeString(header); err == nil {
			return raw, nil
		}
	}
	return nil, err
}

// authFromJSON reads one auth config; nil when it has no credentials.
func authFromJSON(raw []byte) (*supervisorv1.RegistryAuth, error) {
	var ac authConfig
	if err := json.Unmarshal(raw, &ac); err != nil {
		return nil, fmt.Errorf("invalid registry auth: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if ac.Auth != "" && ac.Username == "" {
		b, err := base64.StdEncoding.DecodeString(ac.Auth)
		if err != nil {
			return nil, fmt.Errorf("invalid registry auth: auth: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		user, pass, ok := strings.Cut(string(b), ":")
		if !ok {
			return nil, fmt.Errorf("invalid registry auth: auth is not user:password: %w", errdefs.ErrInvalidArgument)
		}
		ac.Username, ac.Password = user, pass
	}
	if ac == (authConfig{}) || ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return nil, nil
	}
	return &supervisorv1.RegistryAuth{
		Username: ac.Username, Password: ac.Password,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
		ServerAddress: ac.ServerAddress,
	}, nil
}
