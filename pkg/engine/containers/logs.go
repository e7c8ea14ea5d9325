package containers

import (
	"context"
	"io"
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
}

// Logs writes the container's json-file log to stdout and stderr.
func (d *Daemon) Logs(ctx context.Context, ref string, o LogsOptions, stdout, stderr io.Writer) error {
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	lo := logs.Options{Stdout: o.Stdout, Stderr: o.Stderr, Since: o.Since, Until: o.Until, Tail: o.Tail, Follow: o.Follow}
	if o.Follow {
		lo.Stopped = c.Exited()
	}
	return logs.Read(ctx, c.LogPath, lo, func(e logs.Entry) error {
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		line := e.Log
		if o.Timestamps {
			line = e.Time.UTC().Format(time.RFC3339Nano) + " " + line
		}
		_, err := io.WriteString(w, line)
		return err
	})
}
