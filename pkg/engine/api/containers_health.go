package api

import (
	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/engine/containers"
)

// healthOf is where a container's health reaches the API: inspect's
// State.Health and the list's `health` filter. HOOK: the health checker
// (being added on another branch) records it in the container's state;
// return it from there once it exists. Until then no check runs, so no
// container has a health status ("none" to the filter, as dockerd says of a
// container without a healthcheck).
func healthOf(c containers.Container) *container.Health { return nil }

// healthStatus is the status the `health` filter compares.
func healthStatus(c containers.Container) container.HealthStatus {
	if h := healthOf(c); h != nil {
		return h.Status
	}
	return container.NoHealthcheck
}
