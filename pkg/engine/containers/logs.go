package containers

import (
	"context"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/berthd/berth/pkg/engine/logs"
)

// LogsOptions selects log entries (see logs.Options).
type LogsOptions struct {
	Stdout, Stderr bool
	Since, Until   time.Time
	Tail           int // < 0: all
	Follow         bool
	Timestamps     bool
	// Details prefixes each line with the attributes the log options
	// added (labels, env, tag), as "k=v,k=v ".
	Details bool
}

// rfc3339NanoFixed is dockerd's timestamp format in logs: always nine
// fractional digits, so that the lines' prefixes align.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// Logs writes the container's json-file log to stdout and stderr.
func (d *Daemon) Logs(ctx context.Context, ref string, o LogsOptions, stdout, stderr io.Writer) error {
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	if err := c.LogsReadable(); err != nil {
		return err
	}
	lo := logs.Options{Stdout: o.Stdout, Stderr: o.Stderr, Since: o.Since, Until: o.Until, Tail: o.Tail, Follow: o.Follow}
	if o.Follow {
		lo.Stopped = c.Exited()
	}
	return logs.Read(ctx, logFile(c), lo, func(e logs.Entry) error {
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		line := e.Log
		if o.Details {
			line = detailsPrefix(e.Attrs) + line
		}
		if o.Timestamps {
			line = e.Time.UTC().Format(rfc3339NanoFixed) + " " + line
		}
		_, err := io.WriteString(w, line)
		return err
	})
}

// detailsPrefix is dockerd's rendering of a record's attributes: sorted,
// query-escaped k=v pairs joined by commas, then a space.
func detailsPrefix(attrs map[string]string) string {
	var b strings.Builder
	for i, k := range sortedKeys(attrs) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(attrs[k]))
	}
	b.WriteByte(' ')
	return b.String()
}
