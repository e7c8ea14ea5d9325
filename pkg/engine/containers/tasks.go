package containers

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/pkg/errdefs"
	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// running returns c if its process runs, else dockerd's conflict error.
func (d *Daemon) running(ref string) (*Container, error) {
	c, err := d.Get(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.State.Running {
		return nil, &msgError{msg: fmt.Sprintf("container %s is not running", c.ID), class: errdefs.ErrConflict}
	}
	return c, nil
}

// Pause freezes every process of the container.
func (d *Daemon) Pause(ctx context.Context, ref string) error {
	c, err := d.running(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	paused := c.State.Paused
	c.mu.Unlock()
	if paused {
		return &msgError{msg: fmt.Sprintf("container %s is already paused", c.ID), class: errdefs.ErrConflict}
	}
	if err := d.sup.PauseTask(ctx, c.ID); err != nil {
		return fmt.Errorf("pause %s: %w", c.ID, err)
	}
	c.mu.Lock()
	if c.State.Running {
		c.State.Paused = true
		c.State.Status = container.StatePaused
		d.updateHealthLocked(c)
		_ = c.saveLocked()
	}
	c.mu.Unlock()
	d.emit(c, events.ActionPause, nil)
	return nil
}

// Unpause thaws a paused container.
func (d *Daemon) Unpause(ctx context.Context, ref string) error {
	c, err := d.Get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	paused := c.State.Paused
	c.mu.Unlock()
	if !paused {
		return &msgError{msg: fmt.Sprintf("container %s is not paused", c.ID), class: errdefs.ErrConflict}
	}
	if err := d.sup.ResumeTask(ctx, c.ID); err != nil {
		return fmt.Errorf("unpause %s: %w", c.ID, err)
	}
	d.markThawed(c)
	d.emit(c, events.ActionUnPause, nil)
	return nil
}

func (d *Daemon) markThawed(c *Container) {
	c.mu.Lock()
	c.State.Paused = false
	if c.State.Running {
		c.State.Status = container.StateRunning
	}
	d.updateHealthLocked(c)
	_ = c.saveLocked()
	c.mu.Unlock()
}

// thaw resumes a paused container that was just sent a fatal signal.
func (d *Daemon) thaw(ctx context.Context, c *Container) {
	if err := d.sup.ResumeTask(ctx, c.ID); err != nil && !errdefs.IsNotFound(err) {
		d.log.Warn("resume after kill", "id", c.ID, "err", err)
		return
	}
	d.markThawed(c)
}

// Processes lists the container's processes (host pids) as its shim reads
// them, with what ps shows of each.
func (d *Daemon) Processes(ctx context.Context, ref string) ([]*supervisorv1.ProcessInfo, error) {
	c, err := d.running(ref)
	if err != nil {
		return nil, err
	}
	ps, err := d.sup.ListPids(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("list pids of %s: %w", c.ID, err)
	}
	return ps, nil
}

// Metrics reads the container's cgroup through the supervisor.
func (d *Daemon) Metrics(ctx context.Context, ref string) (*supervisorv1.MetricsResponse, error) {
	c, err := d.running(ref)
	if err != nil {
		return nil, err
	}
	return d.sup.Metrics(ctx, c.ID)
}

// Resize sets the size of the container's pty.
func (d *Daemon) Resize(ctx context.Context, ref string, width, height uint32) error {
	c, err := d.running(ref)
	if err != nil {
		return err
	}
	if err := d.sup.ResizePty(ctx, c.ID, "", width, height); err != nil {
		return err
	}
	d.emit(c, events.ActionResize, map[string]string{
		"height": strconv.FormatUint(uint64(height), 10),
		"width":  strconv.FormatUint(uint64(width), 10),
	})
	return nil
}

// checkRuntime refuses a runtime name the supervisor does not know, with
// dockerd's message, before anything is created.
func (d *Daemon) checkRuntime(ctx context.Context, name string) error {
	if name == "" {
		return nil
	}
	srv, err := d.sup.Server(ctx)
	if err != nil {
		return fmt.Errorf("runtimes of the supervisor: %w", err)
	}
	var names []string
	for _, rt := range srv.GetRuntimes() {
		if rt.GetName() == name {
			return nil
		}
		names = append(names, rt.GetName())
	}
	return &msgError{msg: fmt.Sprintf("unknown or invalid runtime name: %s (known: %s)", name, strings.Join(names, ", ")), class: errdefs.ErrInvalidArgument}
}

// Restart stops the container (if running) and starts it again.
func (d *Daemon) Restart(ctx context.Context, ref string, o StopOptions) error {
	if err := d.Stop(ctx, ref, o); err != nil {
		return err
	}
	if err := d.Start(ctx, ref); err != nil {
		return err
	}
	if c, err := d.Get(ref); err == nil {
		d.emit(c, events.ActionRestart, nil)
	}
	return nil
}
