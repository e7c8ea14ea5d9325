package api

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/berthd/berth/pkg/engine/containers"
)

// filters is the decoded `filters` query parameter: {"key":{"value":true}}
// (or the old {"key":["value"]}).
type filters map[string][]string

func parseFilters(raw string) (filters, error) {
	f := filters{}
	if raw == "" {
		return f, nil
	}
	var m map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &m); err == nil {
		for k, vs := range m {
			for v, ok := range vs {
				if ok {
					f[k] = append(f[k], v)
				}
			}
		}
		return f, nil
	}
	var old map[string][]string
	if err := json.Unmarshal([]byte(raw), &old); err != nil {
		return nil, badRequest("invalid filter: %v", err)
	}
	return old, nil
}

// containerFilterKeys are the filters of GET /containers/json we support.
var containerFilterKeys = map[string]bool{"id": true, "name": true, "status": true, "label": true, "exited": true, "ancestor": true}

func (f filters) validate(keys map[string]bool) error {
	for k := range f {
		if !keys[k] {
			return badRequest("invalid filter '%s'", k)
		}
	}
	return nil
}

// anyOf is true when the filter is absent or one of its values matches.
func (f filters) anyOf(key string, match func(string) bool) bool {
	vs, ok := f[key]
	if !ok {
		return true
	}
	for _, v := range vs {
		if match(v) {
			return true
		}
	}
	return false
}

func (f filters) matchContainer(c containers.Container) bool {
	return f.anyOf("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
		f.anyOf("name", func(v string) bool {
			re, err := regexp.Compile(v)
			return err == nil && re.MatchString(strings.TrimPrefix(c.Name, "/"))
		}) &&
		f.anyOf("status", func(v string) bool { return string(c.State.Status) == v }) &&
		f.anyOf("exited", func(v string) bool {
			n, err := strconv.Atoi(v)
			return err == nil && !c.State.Running && c.State.Status == "exited" && c.State.ExitCode == n
		}) &&
		f.anyOf("ancestor", func(v string) bool {
			return v == c.ImageName || strings.HasPrefix(strings.TrimPrefix(c.ImageID, "sha256:"), strings.TrimPrefix(v, "sha256:"))
		}) &&
		f.allLabels(c.Config.Labels)
}

// allLabels: every "label" filter (key or key=value) must match.
func (f filters) allLabels(labels map[string]string) bool {
	for _, v := range f["label"] {
		k, val, hasVal := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || hasVal && got != val {
			return false
		}
	}
	return true
}
