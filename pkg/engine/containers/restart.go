package containers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/errdefs"
)

// Docker's restart backoff: 100 ms, doubled at every restart, back to the
// start once a run lasted 10 s.
const (
	restartBackoffStart = 100 * time.Millisecond
	restartBackoffMax   = time.Minute
	restartResetAfter   = 10 * time.Second
)

// ValidateRestartPolicy checks a policy as dockerd does.
func ValidateRestartPolicy(p container.RestartPolicy) error {
	switch p.Name {
	case "", container.RestartPolicyDisabled:
		if p.MaximumRetryCount != 0 {
			return &msgError{msg: "invalid restart policy: maximum retry count can only be used with 'on-failure'", class: errdefs.ErrInvalidArgument}
		}
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if p.MaximumRetryCount != 0 {
			return &msgError{msg: "invalid restart policy: maximum retry count can only be used with 'on-failure'", class: errdefs.ErrInvalidArgument}
		}
	case container.RestartPolicyOnFailure:
		if p.MaximumRetryCount < 0 {
			return &msgError{msg: "invalid restart policy: maximum retry count cannot be negative", class: errdefs.ErrInvalidArgument}
		}
	default:
		return &msgError{msg: fmt.Sprintf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", p.Name), class: errdefs.ErrInvalidArgument}
	}
	return nil
}

// ParseRestartPolicy reads ctl's --restart value: no, always,
// unless-stopped, on-failure[:N].
func ParseRestartPolicy(s string) (container.RestartPolicy, error) {
	name, n, hasN := strings.Cut(s, ":")
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if hasN {
		v, err := strconv.Atoi(n)
		if err != nil {
			return p, fmt.Errorf("invalid restart policy format: maximum retry count must be an integer: %w", errdefs.ErrInvalidArgument)
		}
		p.MaximumRetryCount = v
	}
	if s == "" {
		p.Name = container.RestartPolicyDisabled
	}
	return p, ValidateRestartPolicy(p)
}

// nextRestartLocked decides, at an exit, whether the policy restarts the
// container and after which delay; c.mu is held.
func (c *Container) nextRestartLocked(code int, ranFor time.Duration) (time.Duration, bool) {
	if c.HostConfig == nil || c.HasBeenManuallyStopped || c.removing {
		return 0, false
	}
	p := c.HostConfig.RestartPolicy
	switch p.Name {
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
	case container.RestartPolicyOnFailure:
		if code == 0 || (p.MaximumRetryCount > 0 && c.RestartCount >= p.MaximumRetryCount) {
			return 0, false
		}
	default:
		return 0, false
	}
	if ranFor >= restartResetAfter || c.restartDelay == 0 {
		c.restartDelay = restartBackoffStart
	} else {
		c.restartDelay *= 2
		if c.restartDelay > restartBackoffMax {
			c.restartDelay = restartBackoffMax
		}
	}
	return c.restartDelay, true
}

// restartAtBoot tells whether a stopped container is started when the
// engine starts, as dockerd does: always, even after a stop by a user (the
// difference to unless-stopped); unless-stopped unless a user stopped it.
// A container never started stays so.
func restartAtBoot(c *Container) bool {
	if c.HostConfig == nil || c.State.Status == container.StateCreated {
		return false
	}
	switch c.HostConfig.RestartPolicy.Name {
	case container.RestartPolicyAlways:
		return true
	case container.RestartPolicyUnlessStopped:
		return !c.HasBeenManuallyStopped
	}
	return false
}

// scheduleRestart starts c again after delay, unless a stop, kill, start or
// remove cancels it first.
func (d *Daemon) scheduleRestart(c *Container, delay time.Duration) {
	cancel := make(chan struct{})
	c.mu.Lock()
	if c.cancelRestart != nil {
		close(c.cancelRestart)
	}
	c.cancelRestart = cancel
	c.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-time.After(delay):
		case <-cancel:
			return
		case <-d.ctx.Done():
			return // Restarting stays recorded: the next engine resumes it
		}
		c.mu.Lock()
		if c.cancelRestart != cancel {
			c.mu.Unlock()
			return
		}
		c.cancelRestart = nil
		c.mu.Unlock()
		if err := d.start(d.ctx, c, true); err != nil {
			d.log.Warn("restart policy: start", "id", c.ID, "err", err)
			c.mu.Lock()
			c.State.Restarting = false
			c.State.Status = container.StateExited
			c.State.Error = err.Error()
			_ = c.saveLocked()
			c.mu.Unlock()
		}
	}()
}

// stopRestartsLocked records a stop by a user: no restart by the policy,
// and a pending one is cancelled; c.mu is held.
func (c *Container) stopRestartsLocked() {
	c.HasBeenManuallyStopped = true
	if c.cancelRestart != nil {
		close(c.cancelRestart)
		c.cancelRestart = nil
	}
	if c.State.Restarting {
		c.State.Restarting = false
		c.State.Status = container.StateExited
	}
	_ = c.saveLocked()
}
