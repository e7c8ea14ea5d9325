package containers

// InitBinary is the docker-init that --init bind-mounts into containers:
// the configured one, else the one found on the PATH ("" when none).
func (d *Daemon) InitBinary() string {
	if d.initPath != "" {
		return d.initPath
	}
	return FindInit()
}
