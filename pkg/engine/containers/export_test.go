package containers

// HealthMonitorRunning tells whether the container's check loop runs.
func (d *Daemon) HealthMonitorRunning(ref string) bool {
	c, err := d.Get(ref)
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health != nil
}

// TaskAhead tells whether the container has a task made ahead of its
// start, not taken yet.
func (d *Daemon) TaskAhead(ref string) bool {
	c, err := d.Get(ref)
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ahead != nil
}
