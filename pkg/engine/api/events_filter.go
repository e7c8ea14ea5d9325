package api

import (
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
)

// eventFilterKeys are dockerd's /events filters. dockerd lets an unknown
// key through and ignores it; we refuse it, so that no filter a client
// believes applied is silently dropped.
var eventFilterKeys = map[string]bool{
	"container": true, "event": true, "image": true, "label": true, "type": true, "daemon": true,
	"network": true, "volume": true, "plugin": true, "node": true, "service": true, "secret": true,
	"config": true, "scope": true,
}

// validateEventFilters checks the keys. Values are not checked, as in
// dockerd: one that names nothing matches nothing.
func validateEventFilters(f filters) error {
	return f.validate(eventFilterKeys)
}

// exact is dockerd's ExactMatch: true when the key is absent or one of its
// values is source.
func (f filters) exact(key, source string) bool {
	return f.anyOf(key, func(v string) bool { return v == source })
}

// fuzzy is dockerd's FuzzyMatch: a value equal to source or a prefix of it.
func (f filters) fuzzy(key, source string) bool {
	return f.anyOf(key, func(v string) bool { return strings.HasPrefix(source, v) })
}

// matchEvent is dockerd's event filter: every key given must match.
func matchEvent(f filters, m events.Message) bool {
	return matchEventAction(f, string(m.Action)) &&
		f.exact("type", string(m.Type)) &&
		f.exact("scope", m.Scope) &&
		matchActor(f, events.DaemonEventType, m) &&
		matchActor(f, events.ContainerEventType, m) &&
		matchActor(f, events.PluginEventType, m) &&
		matchActor(f, events.VolumeEventType, m) &&
		matchActor(f, events.NetworkEventType, m) &&
		matchEventImage(f, m) &&
		matchActor(f, events.NodeEventType, m) &&
		matchActor(f, events.ServiceEventType, m) &&
		matchActor(f, events.SecretEventType, m) &&
		matchActor(f, events.ConfigEventType, m) &&
		f.allLabels(m.Actor.Attributes)
}

// matchEventAction: actions with a detail ("exec_start: sh",
// "health_status: healthy") also match their bare name when one of those
// is asked for, as in dockerd.
func matchEventAction(f filters, action string) bool {
	for _, v := range f["event"] {
		if v == "health_status" || v == "exec_create" || v == "exec_start" {
			return f.fuzzy("event", action)
		}
	}
	return f.exact("event", action)
}

// matchActor: the filter named after an object type matches that
// object's ID or name by prefix (and excludes events without it).
func matchActor(f filters, t events.Type, m events.Message) bool {
	return f.fuzzy(string(t), m.Actor.ID) || f.fuzzy(string(t), m.Actor.Attributes["name"])
}

// matchEventImage matches an image event's ID or name, a container
// event's image, each also without its tag.
func matchEventImage(f filters, m events.Message) bool {
	attr := "image"
	if m.Type == events.ImageEventType {
		attr = "name"
	}
	name := m.Actor.Attributes[attr]
	return f.exact("image", m.Actor.ID) || f.exact("image", name) ||
		f.exact("image", stripTag(m.Actor.ID)) || f.exact("image", stripTag(name))
}

func stripTag(image string) string {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.FamiliarName(ref)
}
