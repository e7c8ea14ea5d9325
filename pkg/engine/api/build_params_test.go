package api

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// POST /build's cachefrom is a JSON list of images (what the docker CLI
// and docker-py send); an empty one is none; a bad one and the options
// the builder does not have are refused by name.
func TestBuildParamsCacheFrom(t *testing.T) {
	params := func(q url.Values) ([]string, error) {
		o, _, err := buildParams(httptest.NewRequest("POST", "/build?"+q.Encode(), nil))
		return o.CacheFrom, err
	}
	if cf, err := params(url.Values{"cachefrom": {`["cf:1","cf:builder"]`}}); err != nil || !slices.Equal(cf, []string{"cf:1", "cf:builder"}) {
		t.Errorf("cachefrom list: %v %v", err, cf)
	}
	for _, empty := range []string{"", "[]", "null"} {
		if cf, err := params(url.Values{"cachefrom": {empty}}); err != nil || len(cf) != 0 {
			t.Errorf("cachefrom %q: %v %v", empty, err, cf)
		}
	}
	for q, name := range map[string]string{"cachefrom=cf:1": "cachefrom", "squash=1": "squash", "isolation=hyperv": "isolation"} {
		v, _ := url.ParseQuery(q)
		if _, err := params(v); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v (want a refusal naming %s)", q, err, name)
		}
	}
}

// rm=0 keeps the step containers, unless forcerm=1 (dockerd's order).
func TestBuildParamsRemove(t *testing.T) {
	for q, keep := range map[string]bool{"": false, "rm=1": false, "rm=0": true, "rm=0&forcerm=1": false, "forcerm=1": false} {
		o, _, err := buildParams(httptest.NewRequest("POST", "/build?"+q, nil))
		if err != nil || o.KeepContainers != keep {
			t.Errorf("%q: keep %v %v, want %v", q, o.KeepContainers, err, keep)
		}
	}
}
