package api

import (
	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
)

// healthOf is where a container's health reaches the API: inspect's
// State.Health and the list's `health` filter (nil: no check, or one that
// never ran because the container was never started).
func healthOf(c containers.Container) *container.Health { return c.State.Health }

// healthStatus is the status the `health` filter compares ("none" without
// a check, as dockerd says).
func healthStatus(c containers.Container) container.HealthStatus { return c.State.HealthStatus() }
