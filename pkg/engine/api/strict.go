package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/moby/moby/api/types/container"
)

// unknownFields finds keys of a create body that the API types do not
// have and that carry a value: encoding/json would drop them without a
// word, and an option dropped without a word is one ignored (e.g. the
// KernelMemory older clients still send). Zero values pass: clients send
// every field of their own version's structs.
func unknownFields(body []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil // the typed decode reports it
	}
	known := jsonNames(reflect.TypeOf(container.Config{}))
	known["hostconfig"], known["networkingconfig"] = true, true
	if err := checkKeys("", top, known); err != nil {
		return err
	}
	if raw, ok := lookup(top, "HostConfig"); ok {
		var hc map[string]json.RawMessage
		if json.Unmarshal(raw, &hc) == nil {
			if err := checkKeys("HostConfig.", hc, jsonNames(reflect.TypeOf(container.HostConfig{}))); err != nil {
				return err
			}
		}
	}
	return nil
}

func lookup(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func checkKeys(prefix string, m map[string]json.RawMessage, known map[string]bool) error {
	for k, v := range m {
		if known[strings.ToLower(k)] || isZeroJSON(v) {
			continue
		}
		return badRequest("%s%s is not supported by this engine (API %s): remove it from the request", prefix, k, DefaultVersion)
	}
	return nil
}

// jsonNames are the lower-cased JSON keys of a struct (encoding/json
// matches keys case-insensitively), embedded structs flattened.
func jsonNames(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k := range jsonNames(f.Type) {
				out[k] = true
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		out[strings.ToLower(name)] = true
	}
	return out
}

func isZeroJSON(v json.RawMessage) bool {
	switch string(bytes.TrimSpace(v)) {
	case "null", "0", "false", `""`, "[]", "{}":
		return true
	}
	return false
}
