package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// --use-api-socket, as docker does it: the engine's socket is bind-mounted
// at /var/run/docker.sock and, unless the command line sets DOCKER_CONFIG,
// the registry credentials of the local docker config are copied into the
// container (after the create, through the archive API) with DOCKER_CONFIG
// pointing at them.

const apiSocketConfigInContainer = "/run/secrets/docker/config.json"

// apiSocket prepares the create for --use-api-socket; the returned
// credentials are to be copied in once the container exists.
func apiSocket(host string, cfg *containerConfig) (map[string]json.RawMessage, error) {
	sock, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return nil, fmt.Errorf("flag --use-api-socket can only be used with unix sockets: docker endpoint %s incompatible", host)
	}
	cfg.HostConfig.Mounts = append(cfg.HostConfig.Mounts, mount.Mount{
		Type: mount.TypeBind, Source: sock, Target: "/var/run/docker.sock", BindOptions: &mount.BindOptions{},
	})
	for _, e := range cfg.Config.Env {
		if strings.HasPrefix(e, "DOCKER_CONFIG=") {
			return nil, nil // the caller chose its own config
		}
	}
	auths, err := localAuths()
	if err != nil {
		return nil, fmt.Errorf("resolving credentials failed: %w", err)
	}
	if len(auths) > 0 {
		cfg.Config.Env = append(cfg.Config.Env, "DOCKER_CONFIG="+path.Dir(apiSocketConfigInContainer))
	}
	return auths, nil
}

// copyAuthsIn writes the credentials as a docker config file in the
// container, readable by its owner only.
func copyAuthsIn(ctx context.Context, cl *client.Client, id string, auths map[string]json.RawMessage) error {
	data, err := json.MarshalIndent(map[string]any{"auths": auths}, "", "\t")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: apiSocketConfigInContainer, Size: int64(len(data)), Mode: 0o600}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if _, err := cl.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: &buf}); err != nil {
		return fmt.Errorf("injecting docker config.json into container failed: copying config.json into container failed: %w", err)
	}
	return nil
}
