package containers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/berthd/berth/pkg/errdefs"
)

// Docker's health check defaults and limits (dockerd's daemon/health.go).
const (
	defaultProbeInterval = 30 * time.Second
	defaultProbeTimeout  = 30 * time.Second
	defaultStartPeriod   = 0
	defaultStartInterval = 5 * time.Second
	defaultProbeRetries  = 3
	// maxHealthLog results are kept in State.Health.Log.
	maxHealthLog = 5
	// maxProbeOutput bytes of a probe's output are kept ("..." marks a cut).
	maxProbeOutput = 4096
	// probeStartTimeout bounds the start of the probe's exec: time the
	// probe does not run does not count against its own timeout.
	probeStartTimeout = 30 * time.Second
	// probeDrainTimeout is how long the output is read after the probe's
	// exit (the stream ends right after it).
	probeDrainTimeout = 2 * time.Second
)

// ValidateHealthcheck checks a create request's health check with dockerd's
// messages. A test type other than CMD, CMD-SHELL and NONE is refused
// (dockerd accepts it and runs no check, a silently ignored option).
func ValidateHealthcheck(hc *container.HealthConfig) error {
	if hc == nil {
		return nil
	}
	invalid := func(format string, args ...any) error {
		return &msgError{msg: fmt.Sprintf(format, args...), class: errdefs.ErrInvalidArgument}
	}
	tooShort := func(name string, v time.Duration) error {
		if v != 0 && v < container.MinimumDuration {
			return invalid("%s in Healthcheck cannot be less than %s", name, container.MinimumDuration)
		}
		return nil
	}
	var negative error
	if hc.Retries < 0 {
		negative = invalid("Retries in Healthcheck cannot be negative")
	}
	// dockerd's order, for the message of a request with several faults.
	if err := cmp.Or(tooShort("Interval", hc.Interval), tooShort("Timeout", hc.Timeout), negative,
		tooShort("StartPeriod", hc.StartPeriod), tooShort("StartInterval", hc.StartInterval)); err != nil {
		return err
	}
	if len(hc.Test) > 0 {
		switch hc.Test[0] {
		case "CMD", "CMD-SHELL", "NONE":
		default:
			return invalid("unknown type %q in Healthcheck.Test (expected CMD, CMD-SHELL or NONE)", hc.Test[0])
		}
	}
	return nil
}

// MergeHealthcheck is the container's health check as dockerd makes it at
// create: the request's, each zero field taken from the image's; the
// image's when the request has none. The request is not modified.
func MergeHealthcheck(req, image *container.HealthConfig) *container.HealthConfig {
	if image == nil {
		return req
	}
	if req == nil {
		hc := *image
		return &hc
	}
	hc := *req
	if len(hc.Test) == 0 {
		hc.Test = image.Test
	}
	if hc.Interval == 0 {
		hc.Interval = image.Interval
	}
	if hc.Timeout == 0 {
		hc.Timeout = image.Timeout
	}
	if hc.StartPeriod == 0 {
		hc.StartPeriod = image.StartPeriod
	}
	if hc.StartInterval == 0 {
		hc.StartInterval = image.StartInterval
	}
	if hc.Retries == 0 {
		hc.Retries = image.Retries
	}
	return &hc
}

// ociImage is the OCI part of a Docker image config.
func ociImage(d *dockerspec.DockerOCIImage) *ocispec.Image {
	img := d.Image
	img.Config = d.Config.ImageConfig
	return &img
}

// HealthStatus is the container's health as the ps filter "health" sees
// it: none without a check (or before its first start), else starting,
// healthy or unhealthy.
func (s State) HealthStatus() container.HealthStatus {
	if s.Health == nil {
		return container.NoHealthcheck
	}
	return s.Health.Status
}

// HealthString is the health part of docker ps's status ("Up 3 seconds
// (healthy)"): "health: starting", "healthy", "unhealthy", or "" without
// a check.
func (s State) HealthString() string {
	switch {
	case s.Health == nil:
		return ""
	case s.Health.Status == container.Starting:
		return "health: starting"
	default:
		return string(s.Health.Status)
	}
}

// probeCommand is the command line of the container's check, nil when it
// has none (no check, NONE, an unknown type from the image).
func probeCommand(cfg *container.Config) []string {
	if cfg == nil || cfg.Healthcheck == nil || len(cfg.Healthcheck.Test) == 0 {
		return nil
	}
	test := cfg.Healthcheck.Test
	switch test[0] {
	case "CMD":
		return append([]string(nil), test[1:]...)
	case "CMD-SHELL":
		shell := cfg.Shell
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		return append(append([]string(nil), shell...), test[1:]...)
	}
	return nil
}

// hasProbe: the container has a check to run ("CMD" with no command is
// one: each run fails, as in dockerd).
func hasProbe(cfg *container.Config) bool {
	if cfg == nil || cfg.Healthcheck == nil || len(cfg.Healthcheck.Test) == 0 {
		return false
	}
	t := cfg.Healthcheck.Test[0]
	return t == "CMD" || t == "CMD-SHELL"
}

func withDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// healthMonitor is the running check loop of one container; its stop
// channel is closed to end it.
type healthMonitor struct {
	stop chan struct{}
}

// initHealthLocked resets the health state of a container that was just
// started (or found running after an engine restart) and starts its
// monitor: status starting, no failing streak, the log of earlier runs
// kept, as dockerd does. c.mu is held.
func (d *Daemon) initHealthLocked(c *Container) {
	if !hasProbe(c.Config) {
		if c.Config != nil && c.Config.Healthcheck != nil && len(c.Config.Healthcheck.Test) > 0 && c.Config.Healthcheck.Test[0] != "NONE" {
			// Only an image can bring one (create refuses it): as dockerd.
			d.log.Warn("unknown health check type, no check runs (expected CMD or CMD-SHELL)", "id", c.ID, "type", c.Config.Healthcheck.Test[0])
		}
		return
	}
	d.stopHealthMonitorLocked(c)
	h := &container.Health{Status: container.Starting}
	if old := c.State.Health; old != nil {
		h.Log = old.Log
	}
	c.State.Health = h
	d.updateHealthLocked(c)
}

// updateHealthLocked runs the monitor while the container runs unpaused
// and stops it otherwise; a stopped monitor leaves the status unhealthy,
// as dockerd's does. c.mu is held.
func (d *Daemon) updateHealthLocked(c *Container) {
	if c.State.Health == nil {
		return
	}
	if d.ctx.Err() != nil {
		// The engine shuts down: the next one starts the check again.
		d.stopHealthMonitorLocked(c)
		return
	}
	if !c.State.Running || c.State.Paused || !hasProbe(c.Config) {
		d.stopHealthMonitorLocked(c)
		if c.State.Health.Status != container.Unhealthy {
			h := *c.State.Health
			h.Status = container.Unhealthy
			c.State.Health = &h
		}
		return
	}
	if c.health != nil {
		return
	}
	m := &healthMonitor{stop: make(chan struct{})}
	c.health = m
	hc := *c.Config.Healthcheck
	started := c.State.StartedAt
	d.wg.Add(1)
	go d.monitorHealth(c, m, hc, started)
}

// stopHealthMonitorLocked ends the monitor, if any; a probe in flight is
// killed. c.mu is held.
func (d *Daemon) stopHealthMonitorLocked(c *Container) {
	if c.health != nil {
		close(c.health.stop)
		c.health = nil
	}
}

// monitorHealth runs the probe every interval (start interval during the
// start period while the status is starting) until stopped. The first run
// is one interval after the start.
func (d *Daemon) monitorHealth(c *Container, m *healthMonitor, hc container.HealthConfig, started time.Time) {
	defer d.wg.Done()
	interval := withDefault(hc.Interval, defaultProbeInterval)
	startInterval := withDefault(hc.StartInterval, defaultStartInterval)
	startPeriod := withDefault(hc.StartPeriod, defaultStartPeriod)
	next := func() time.Duration {
		if time.Since(started) >= startPeriod {
			return interval
		}
		c.mu.Lock()
		starting := c.State.Health != nil && c.State.Health.Status == container.Starting
		c.mu.Unlock()
		if starting {
			return startInterval
		}
		return interval
	}
	timer := time.NewTimer(next())
	defer timer.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-d.ctx.Done():
			return
		case <-timer.C:
		}
		res, ok := d.runProbe(c, m, hc)
		if !ok {
			return
		}
		d.recordHealth(c, m, hc, res)
		timer.Reset(next())
	}
}

// recordHealth applies a probe's result: the log keeps the last five; a
// success makes the container healthy and ends the start period; a failure
// counts unless the container is still starting within its start period;
// retries failures in a row make it unhealthy. A change of status is
// persisted and announced (health_status: S).
func (d *Daemon) recordHealth(c *Container, m *healthMonitor, hc container.HealthConfig, res *container.HealthcheckResult) {
	retries := hc.Retries
	if retries <= 0 {
		retries = defaultProbeRetries
	}
	c.mu.Lock()
	if c.health != m || c.State.Health == nil {
		c.mu.Unlock()
		return // stopped while probing: the result is stale
	}
	old := c.State.Health
	// Copy on write: snapshots share the old value with readers.
	h := &container.Health{Status: old.Status, FailingStreak: old.FailingStreak}
	keep := old.Log
	if len(keep) >= maxHealthLog {
		keep = keep[len(keep)-maxHealthLog+1:]
	}
	h.Log = append(append(make([]*container.HealthcheckResult, 0, len(keep)+1), keep...), res)
	if res.ExitCode == 0 {
		h.FailingStreak = 0
		h.Status = container.Healthy
	} else if h.Status != container.Starting || res.Start.Sub(c.State.StartedAt) >= withDefault(hc.StartPeriod, defaultStartPeriod) {
		h.FailingStreak++
		if h.FailingStreak >= retries {
			h.Status = container.Unhealthy
		}
	}
	c.State.Health = h
	changed := h.Status != old.Status
	if changed {
		// Only changes are written: a probe every second must not mean a
		// file write every second. The log is best effort, as in dockerd.
		if err := c.saveLocked(); err != nil {
			d.log.Error("persist container", "id", c.ID, "err", err)
		}
	}
	c.mu.Unlock()
	if changed {
		d.emit(c, events.Action(string(events.ActionHealthStatus)+": "+string(h.Status)), nil)
	}
}

// runProbe runs the check once as an exec in the container (the
// container's user, env and working directory, as dockerd's probes) and
// returns its result; ok is false when the monitor was stopped meanwhile.
// At the timeout the probe is killed: exit -1 and "Health check exceeded
// timeout (T)". An exec that cannot be made or started is a failed run
// with the error as output.
func (d *Daemon) runProbe(c *Container, m *healthMonitor, hc container.HealthConfig) (*container.HealthcheckResult, bool) {
	start := time.Now()
	failed := func(err error) (*container.HealthcheckResult, bool) {
		d.log.Warn("health check", "id", c.ID, "err", err)
		return &container.HealthcheckResult{Start: start, End: time.Now(), ExitCode: -1, Output: err.Error()}, true
	}
	c.mu.Lock()
	cmd := probeCommand(c.Config)
	c.mu.Unlock()
	if len(cmd) == 0 {
		return failed(fmt.Errorf("healthcheck for container %s has no command", c.ID))
	}
	p, err := d.startProbe(c, cmd)
	if err != nil {
		select {
		case <-m.stop:
			return nil, false // the container stopped or paused meanwhile
		case <-d.ctx.Done():
			return nil, false // the engine shuts down: not the probe's fault
		default:
		}
		return failed(err)
	}
	timeout := withDefault(hc.Timeout, defaultProbeTimeout)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-p.done:
		return &container.HealthcheckResult{Start: start, End: time.Now(), ExitCode: r.code, Output: r.output}, true
	case <-m.stop:
		d.killProbe(c, p)
		return nil, false
	case <-d.ctx.Done():
		d.killProbe(c, p)
		return nil, false
	case <-timer.C:
	}
	d.killProbe(c, p)
	select {
	case r := <-p.done:
		msg := fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
		if r.output != "" {
			msg += ": " + r.output
		}
		return &container.HealthcheckResult{Start: start, End: time.Now(), ExitCode: -1, Output: msg}, true
	case <-m.stop:
		return nil, false
	case <-d.ctx.Done():
		return nil, false
	}
}

// probe is one run of the check: an exec process of the container.
type probe struct {
	execID string
	done   chan probeResult // receives once the exec exited and was deleted
}

type probeResult struct {
	code   int
	output string
}

// startProbe makes and starts the exec. A reaper goroutine collects its
// output and exit, deletes the process and reports on done, so that no
// probe outlives its run, whoever stops waiting for it.
func (d *Daemon) startProbe(c *Container, cmd []string) (*probe, error) {
	ctx := d.ctx
	spec, err := d.processSpec(ctx, &Exec{ContainerID: c.ID, Config: container.ExecCreateRequest{Cmd: cmd}})
	if err != nil {
		return nil, err
	}
	p := &probe{execID: NewID(), done: make(chan probeResult, 1)}
	// dockerd's probes are execs, with their events.
	action := cmd[0] + " " + strings.Join(cmd[1:], " ")
	d.emit(c, events.Action(string(events.ActionExecCreate)+": "+action), map[string]string{"execID": p.execID})
	if err := d.sup.ExecProcess(ctx, c.ID, p.execID, spec, false, false); err != nil {
		return nil, fmt.Errorf("exec health check in %s: %w", c.ID, err)
	}
	actx, cancelAttach := context.WithCancel(ctx)
	out, err := d.sup.AttachProcess(actx, c.ID, p.execID, true, true)
	if err != nil {
		cancelAttach()
		d.deleteProbe(c, p)
		return nil, fmt.Errorf("attach health check %s: %w", p.execID, err)
	}
	sctx, cancelStart := context.WithTimeout(ctx, probeStartTimeout)
	_, err = d.sup.StartProcess(sctx, c.ID, p.execID)
	timedOut := errors.Is(sctx.Err(), context.DeadlineExceeded)
	cancelStart()
	if err != nil {
		cancelAttach()
		d.deleteProbe(c, p)
		if timedOut {
			return nil, fmt.Errorf("timed out starting health check for container %s", c.ID)
		}
		return nil, fmt.Errorf("start health check in %s: %w", c.ID, err)
	}
	d.emit(c, events.Action(string(events.ActionExecStart)+": "+action), map[string]string{"execID": p.execID})

	buf := &limitedBuffer{}
	drained := make(chan struct{})
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		defer close(drained)
		for {
			msg, err := out.Recv()
			if err != nil {
				return
			}
			buf.Write(msg.GetData())
		}
	}()
	go func() {
		defer d.wg.Done()
		defer cancelAttach()
		code := d.waitProbe(c, p)
		select {
		case <-drained:
		case <-time.After(probeDrainTimeout):
		}
		cancelAttach()
		d.deleteProbe(c, p)
		d.emit(c, events.ActionExecDie, map[string]string{"execID": p.execID, "exitCode": strconv.Itoa(code)})
		p.done <- probeResult{code: code, output: buf.String()}
	}()
	return p, nil
}

// waitProbe returns the probe's exit code. When the engine shuts down
// meanwhile the probe is killed (nobody would delete it later) and waited
// for a little.
func (d *Daemon) waitProbe(c *Container, p *probe) int {
	for {
		resp, err := d.sup.WaitProcess(d.ctx, c.ID, p.execID)
		if err == nil {
			return int(resp.GetExitStatus())
		}
		if d.ctx.Err() != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), 5*time.Second)
			defer cancel()
			_ = d.sup.KillProcess(ctx, c.ID, p.execID, uint32(syscall.SIGKILL))
			if resp, err := d.sup.WaitProcess(ctx, c.ID, p.execID); err == nil {
				return int(resp.GetExitStatus())
			}
			return -1
		}
		if !errdefs.IsUnavailable(err) {
			if !errdefs.IsNotFound(err) {
				d.log.Warn("wait health check", "id", c.ID, "exec", p.execID, "err", err)
			}
			return -1
		}
		select {
		case <-time.After(time.Second): // the supervisor restarts
		case <-d.ctx.Done():
		}
	}
}

// killProbe kills a probe that ran out of time or whose monitor stopped;
// its reaper deletes it once it is dead (for a frozen container: at the
// thaw).
func (d *Daemon) killProbe(c *Container, p *probe) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), 10*time.Second)
	defer cancel()
	if err := d.sup.KillProcess(ctx, c.ID, p.execID, uint32(syscall.SIGKILL)); err != nil && !errdefs.IsNotFound(err) {
		d.log.Warn("kill health check", "id", c.ID, "exec", p.execID, "err", err)
	}
}

func (d *Daemon) deleteProbe(c *Container, p *probe) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), 10*time.Second)
	defer cancel()
	err := d.sup.DeleteProcess(ctx, c.ID, p.execID)
	if err == nil || errdefs.IsNotFound(err) {
		return
	}
	c.mu.Lock()
	running := c.State.Running
	c.mu.Unlock()
	if running {
		d.log.Warn("delete health check", "id", c.ID, "exec", p.execID, "err", err)
	}
	// Else the container's exit took the probe with it.
}

// limitedBuffer keeps the first maxProbeOutput bytes written to it.
type limitedBuffer struct {
	mu        sync.Mutex
	buf       []byte
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(maxProbeOutput-len(b.buf), len(p))
	b.buf = append(b.buf, p[:keep]...)
	if keep < len(p) {
		b.truncated = true
	}
	return len(p), nil
}

// String is the output kept, with "..." when some was cut.
func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return string(b.buf) + "..."
	}
	return string(b.buf)
}
