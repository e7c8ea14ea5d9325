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

	"github.com/berthd/berth/pkg/errdefs"
)

// maxURLSource is the largest file ADD fetches from a URL.
const maxURLSource = 1 << 30

// addURL fetches a remote ADD source; it is a file named after the URL's
// last path element (not extracted, as in dockerd). An unreachable
// network is a clear error naming the URL.
func (j *job) addURL(ctx context.Context, src string, rule copyRule, lw *layerWriter) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fmt.Errorf("ADD %s: %v: %w", src, err, errdefs.ErrInvalidArgument)
	}
	hc := &http.Client{Timeout: 10 * time.Minute}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("ADD %s: cannot download: %v: %w", src, err, errdefs.ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ADD %s: cannot download: %s: %w", src, resp.Status, errdefs.ErrUnavailable)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxURLSource+1))
	if err != nil {
		return fmt.Errorf("ADD %s: %w", src, err)
	}
	if len(data) > maxURLSource {
		return fmt.Errorf("ADD %s: larger than %d bytes: %w", src, maxURLSource, errdefs.ErrInvalidArgument)
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
		m := rule
		perm := urlMode
		m.mode = &perm
		rule = m
	}
	return lw.addFile(name, data, rule)
}

// urlMode is the mode of a downloaded file, as dockerd gives it.
const urlMode os.FileMode = 0o600
