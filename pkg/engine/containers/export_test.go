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
