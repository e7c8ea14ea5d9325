package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"

	enet "github.com/berthd/berth/pkg/engine/network"
)

func (s *Server) networkRoutes() {
	m := s.mux
	m.HandleFunc("GET /networks", s.networkList)
	m.HandleFunc("GET /networks/{id}", s.networkInspect)
	m.HandleFunc("POST /networks/create", s.networkCreate)
	m.HandleFunc("DELETE /networks/{id}", s.networkRemove)
	m.HandleFunc("POST /networks/prune", s.networkPrune)
	m.HandleFunc("POST /networks/{id}/connect", s.networkConnect)
	m.HandleFunc("POST /networks/{id}/disconnect", s.networkDisconnect)
}

func (s *Server) nets() (*enet.Manager, error) {
	if m := s.d.Network(); m != nil {
		return m, nil
	}
	return nil, &httpError{status: http.StatusNotImplemented, msg: "networking is not enabled in this engine"}
}

// networkResource is a network in dockerd's shape.
func networkResource(n enet.Network) network.Network {
	out := network.Network{
		Name: n.Name, ID: n.ID, Scope: "local", Driver: n.Driver, EnableIPv4: n.Driver == "bridge", EnableIPv6: n.IPv6,
		Internal: n.Internal, Attachable: n.Attachable, Options: n.Options, Labels: n.Labels,
		IPAM: network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}},
	}
	out.Created = n.Created
	if n.Driver == "bridge" {
		out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{Subnet: n.Subnet, IPRange: n.IPRange, Gateway: n.Gateway})
		if n.IPv6 {
			out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{Subnet: n.Subnet6, IPRange: n.IPRange6, Gateway: n.Gateway6})
		}
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	return out
}

var networkFilterKeys = map[string]bool{"name": true, "id": true, "driver": true, "label": true, "type": true, "scope": true, "dangling": true}

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) {
	m, err := s.nets()
	if err == nil {
		var f filters
		if f, err = parseFilters(r.URL.Query().Get("filters")); err == nil {
			if err = f.validate(networkFilterKeys); err == nil {
				out := []network.Summary{}
				for _, n := range m.List() {
					if f.matchNetwork(m, n) {
						out = append(out, network.Summary{Network: networkResource(n)})
					}
				}
				writeJSON(w, http.StatusOK, out)
				return
			}
		}
	}
	writeError(w, err)
}

func (f filters) matchNetwork(m *enet.Manager, n enet.Network) bool {
	return f.anyOf("name", func(v string) bool { return strings.Contains(n.Name, v) }) &&
		f.anyOf("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		f.anyOf("driver", func(v string) bool { return n.Driver == v }) &&
		f.anyOf("scope", func(v string) bool { return v == "local" }) &&
		f.anyOf("type", func(v string) bool { return v == "custom" && !n.Predefined() || v == "builtin" && n.Predefined() }) &&
		f.anyOf("dangling", func(v string) bool {
			d := !n.Predefined() && !m.UsedBy(n.ID)
			return (v == "true" || v == "1") == d
		}) &&
		f.allLabels(n.Labels)
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) {
	m, err := s.nets()
	if err != nil {
		writeError(w, err)
		return
	}
	n, err := m.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := network.Inspect{Network: networkResource(n), Containers: map[string]network.EndpointResource{}}
	for _, mb := range m.Members(n.ID) {
		mac, _ := parseMAC(mb.MAC)
		out.Containers[mb.ContainerID] = network.EndpointResource{Name: mb.Name, EndpointID: mb.EndpointID, MacAddress: mac, IPv4Address: mb.Addr, IPv6Address: mb.Addr6}
	}
	writeJSON(w, http.StatusOK, out)
}

func parseMAC(s string) (network.HardwareAddr, error) {
	var hw network.HardwareAddr
	if s == "" {
		return hw, nil
	}
	err := hw.UnmarshalText([]byte(s))
	return hw, err
}

// decodeStrict decodes body into v, refusing keys v's type does not have
// (as the container create does), so that nothing is dropped unseen.
func decodeStrict(r *http.Request, v any, extra ...string) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return badRequest("reading the request: %v", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("invalid JSON: %v", err)
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) == nil {
		known := jsonNames(reflect.TypeOf(v).Elem())
		for _, k := range extra {
			known[k] = true
		}
		return checkKeys("", top, known)
	}
	return nil
}

var networkNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) {
	m, err := s.nets()
	if err != nil {
		writeError(w, err)
		return
	}
	var req network.CreateRequest
	// CheckDuplicate: older clients send it; dockerd ignores it (names are
	// always unique).
	if err := decodeStrict(r, &req, "checkduplicate"); err != nil {
		writeError(w, err)
		return
	}
	o, err := createOptions(req)
	if err != nil {
		writeError(w, err)
		return
	}
	n, err := m.Create(o)
	if err != nil {
		writeError(w, err)
		return
	}
	s.d.EmitNetwork(n, "create", "")
	writeJSON(w, http.StatusCreated, network.CreateResponse{ID: n.ID, Warning: ""})
}

// createOptions checks a create request against what berth supports, each
// refusal naming its field.
func createOptions(req network.CreateRequest) (enet.CreateOptions, error) {
	o := enet.CreateOptions{Name: req.Name, Internal: req.Internal, Attachable: req.Attachable, Options: req.Options, Labels: req.Labels}
	switch {
	case req.Name == "":
		return o, badRequest("network name must not be empty")
	case !networkNameRE.MatchString(req.Name):
		return o, badRequest("invalid network name %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.Name)
	case req.Driver != "" && req.Driver != "bridge":
		return o, notImpl("network driver %q is not supported by berth (only bridge)", req.Driver)
	case req.Scope != "" && req.Scope != "local":
		return o, notImpl("network scope %q is not supported by berth (only local)", req.Scope)
	case req.EnableIPv4 != nil && !*req.EnableIPv4:
		return o, notImpl("networks without IPv4 are not supported by berth")
	case req.Ingress:
		return o, notImpl("ingress networks are a swarm feature, not supported by berth")
	case req.ConfigOnly || req.ConfigFrom != nil && req.ConfigFrom.Network != "":
		return o, notImpl("config-only networks (--config-only, --config-from) are not supported by berth")
	}
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return o, notImpl("IPAM driver %q is not supported by berth (only default)", req.IPAM.Driver)
		}
		if len(req.IPAM.Options) > 0 {
			return o, notImpl("IPAM options (--ipam-opt) are not supported by berth")
		}
		// One pool per family: --subnet given twice, an IPv4 and an IPv6
		// one (the docker CLI pairs each --ip-range and --gateway with
		// its subnet).
		seen := map[bool]bool{}
		for _, c := range req.IPAM.Config {
			if len(c.AuxAddress) > 0 {
				return o, notImpl("auxiliary addresses (--aux-address) are not supported by berth")
			}
			if !c.Subnet.IsValid() && (c.IPRange.IsValid() || c.Gateway.IsValid()) {
				return o, badRequest("invalid pool request: an ip-range or gateway needs a subnet (--subnet)")
			}
			v6 := c.Subnet.Addr().Is6()
			if seen[v6] {
				return o, notImpl("more than one subnet of a family per network is not supported by berth")
			}
			seen[v6] = true
			if v6 {
				o.Subnet6, o.IPRange6, o.Gateway6 = c.Subnet, c.IPRange, c.Gateway
			} else {
				o.Subnet, o.IPRange, o.Gateway = c.Subnet, c.IPRange, c.Gateway
			}
		}
	}
	o.IPv6 = req.EnableIPv6 != nil && *req.EnableIPv6
	if o.Subnet6.IsValid() && !o.IPv6 {
		// dockerd 28 turns IPv6 on for an IPv6 subnet only with --ipv6.
		return o, badRequest("invalid network config: IPv6 subnet %s given without --ipv6", o.Subnet6)
	}
	return o, nil
}

func notImpl(format string, args ...any) error {
	return &httpError{status: http.StatusNotImplemented, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) {
	m, err := s.nets()
	var n enet.Network
	if err == nil {
		n, err = m.Get(r.PathValue("id"))
	}
	if err == nil {
		err = m.Remove(n.ID)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.d.EmitNetwork(n, "destroy", "")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request) {
	m, err := s.nets()
	var f filters
	if err == nil {
		f, err = parseFilters(r.URL.Query().Get("filters"))
	}
	if err == nil {
		err = f.validate(map[string]bool{"until": true, "label": true, "label!": true})
	}
	var until time.Time
	if err == nil && len(f["until"]) > 0 {
		until, err = parseUntil(f["until"][0])
	}
	if err != nil {
		writeError(w, err)
		return
	}
	pruned, err := m.Prune(func(n enet.Network) bool {
		if !until.IsZero() && !n.Created.Before(until) {
			return false
		}
		for _, l := range f["label!"] {
			k, v, hasV := strings.Cut(l, "=")
			if got, ok := n.Labels[k]; ok && (!hasV || got == v) {
				return false
			}
		}
		return f.allLabels(n.Labels)
	})
	if err != nil {
		writeError(w, err)
		return
	}
	names := []string{}
	for _, n := range pruned {
		s.d.EmitNetwork(n, "destroy", "")
		names = append(names, n.Name)
	}
	// As dockerd: a network frees no space, and says so.
	s.d.EmitPrune(events.NetworkEventType, 0)
	writeJSON(w, http.StatusOK, network.PruneReport{NetworksDeleted: names})
}

// parseUntil reads a prune "until": a duration ago or a timestamp.
func parseUntil(v string) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest("invalid until filter: %q", v)
}

func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) {
	var req network.ConnectRequest
	err := decodeStrict(r, &req)
	if err == nil {
		_, err = s.nets()
	}
	if err == nil {
		err = s.d.NetworkConnect(r.PathValue("id"), req.Container, req.EndpointConfig)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) {
	var req network.DisconnectRequest
	err := decodeStrict(r, &req)
	if err == nil {
		_, err = s.nets()
	}
	if err == nil {
		err = s.d.NetworkDisconnect(r.PathValue("id"), req.Container, req.Force)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
