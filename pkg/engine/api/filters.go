package api

import (
	"encoding/json"
	"strings"
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
		return nil, badRequest("invalid filter")
	}
	return old, nil
}

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
