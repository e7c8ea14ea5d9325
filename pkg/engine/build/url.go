package build

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/pkg/errdefs"
)

// maxURLSource is the largest file ADD fetches from a URL.
const maxURLSource = 1 << 30

// addURL fetches a remote ADD source; it is a file named after the URL's
// last path element (not extracted, as in dockerd). An unreachable
// network is a clear error naming the URL.
// With checksum (ADD --checksum=sha256:...), content of another digest
// is an error.
func (j *job) addURL(ctx context.Context, src, checksum string, rule copyRule, lw *layerWriter) error {
	var want digest.Digest
	if checksum != "" {
		d, err := digest.Parse(checksum)
		if err != nil {
			return fmt.Errorf("ADD --checksum=%s: %v: %w", checksum, err, errdefs.ErrInvalidArgument)
		}
		want = d
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fmt.Errorf("ADD %s: %v: %w", src, err, errdefs.ErrInvalidArgument)
	}
	hc := &http.Client{Timeout: 10 * time.Minute}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: cannot download: %v: %w", src, err, errdefs.ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: cannot download: %s: %w", src, resp.Status, errdefs.ErrUnavailable)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxURLSource+1))
	if err != nil {
		return fmt.Errorf("ADD %s: %w", src, err)
	}
	if len(data) > maxURLSource {
		return fmt.Errorf("ADD %s: larger than %d bytes: %w", src, maxURLSource, errdefs.ErrInvalidArgument)
	}
	if want != "" {
		if got := want.Algorithm().FromBytes(data); got != want {
			return fmt.Errorf("%s: digest mismatch: --checksum=%s, got %s: %w", src, want, got, errdefs.ErrInvalidArgument)
		}
	}
	u, _ := url.Parse(src)
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		if !rule.destIsDir {
			name = ""
		} else {
			return fmt.Errorf("ADD %s: cannot name the file: the URL has no path, give a file destination: %w", src, errdefs.ErrInvalidArgument)
		}
	}
	if rule.mode == nil {
		perm := urlMode
		if rule.symbolic != nil {
			perm = os.FileMode(rule.symbolic(int64(urlMode), false) & 0o777)
		}
		rule.mode, rule.symbolic = &perm, nil
	}
	return lw.addFile(name, data, rule)
}

// urlMode is the mode of a downloaded file, as dockerd gives it.
const urlMode os.FileMode = 0o600
