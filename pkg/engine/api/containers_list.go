package api

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/pkg/client"
	"github.com/berthd/berth/pkg/engine/containers"
	"github.com/berthd/berth/pkg/engine/images"
)

// containerFilterKeys are dockerd's filters of GET /containers/json.
var containerFilterKeys = map[string]bool{
	"ancestor": true, "before": true, "exited": true, "id": true, "isolation": true, "label": true,
	"name": true, "status": true, "health": true, "since": true, "volume": true, "network": true,
	"is-task": true, "publish": true, "expose": true,
}

// listFilter is a checked `filters` of GET /containers/json.
type listFilter struct {
	f              filters
	exited         []int
	all            bool   // a status filter lists stopped containers too
	before, since  string // container IDs
	isTask         *bool
	ancestorFilter bool
	ancestors      map[string]bool // image IDs: the ancestors' and their descendants'
	publish        map[string]bool // "80/tcp"
	expose         map[string]bool
	// networksOf is a container's networks (by name) and published ports.
	networksOf func(containers.Container) (map[string]*network.EndpointSettings, network.PortMap)
}

// parseListFilter validates the filters with dockerd's messages.
func (s *Server) parseListFilter(ctx context.Context, raw string) (*listFilter, error) {
	f, err := parseFilters(raw)
	if err != nil {
		return nil, err
	}
	if err := f.validate(containerFilterKeys); err != nil {
		return nil, err
	}
	lf := &listFilter{f: f}
	for _, v := range f["exited"] {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, badRequest("invalid filter 'exited=%s': %v", v, err)
		}
		lf.exited = append(lf.exited, n)
	}
	for _, v := range f["status"] {
		if err := container.ValidateContainerState(container.ContainerState(v)); err != nil {
			return nil, badRequest("invalid filter 'status=%s': %v", v, err)
		}
		lf.all = true
	}
	if _, ok := f["is-task"]; ok {
		b, err := f.boolValue("is-task")
		if err != nil {
			return nil, err
		}
		lf.isTask = &b
	}
	for _, v := range f["health"] {
		if err := container.ValidateHealthStatus(container.HealthStatus(v)); err != nil {
			return nil, badRequest("invalid filter 'health=%s': %v", v, err)
		}
	}
	for _, v := range f["before"] {
		c, err := s.d.Get(v)
		if err != nil {
			return nil, err
		}
		lf.before = c.ID
	}
	for _, v := range f["since"] {
		c, err := s.d.Get(v)
		if err != nil {
			return nil, err
		}
		lf.since = c.ID
	}
	if vs, ok := f["ancestor"]; ok {
		lf.ancestorFilter = true
		if lf.ancestors, err = s.ancestorImages(ctx, vs); err != nil {
			return nil, err
		}
	}
	if lf.publish, err = portFilter("publish", f["publish"]); err != nil {
		return nil, err
	}
	if lf.expose, err = portFilter("expose", f["expose"]); err != nil {
		return nil, err
	}
	return lf, nil
}

// boolValue reads a boolean filter as dockerd does: one of 1/true or
// 0/false, not both.
func (f filters) boolValue(key string) (bool, error) {
	vs := map[string]bool{}
	for _, v := range f[key] {
		vs[v] = true
	}
	isFalse, isTrue := vs["0"] || vs["false"], vs["1"] || vs["true"]
	if isFalse == isTrue {
		return false, badRequest("invalid filter '%s=%v'", key, f[key])
	}
	return isTrue, nil
}

func portFilter(key string, values []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, v := range values {
		if strings.Contains(v, ":") {
			return nil, badRequest("filter for '%s' should not contain ':': %s", key, v)
		}
		pr, err := network.ParsePortRange(v)
		if err != nil {
			return nil, badRequest("error while looking up for %s %s: %s", key, v, err)
		}
		for p := range pr.All() {
			out[p.String()] = true
		}
	}
	return out, nil
}

// ancestorImages resolves the `ancestor` values (names, IDs, ID prefixes)
// to image IDs, with every image built on one of them (whose layers start
// with all of its layers), as dockerd includes an image's children. A
// value naming no image matches nothing.
func (s *Server) ancestorImages(ctx context.Context, refs []string) (map[string]bool, error) {
	sup := s.d.Supervisor()
	imgs, err := sup.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	chains := map[string][]string{}
	for id, group := range groupImages(imgs) {
		if cfg, err := sup.ImageConfig(ctx, group[0]); err == nil {
			chains[id] = images.ChainIDs(cfg)
		}
	}
	out := map[string]bool{}
	for _, ref := range refs {
		id := resolveImageID(imgs, ref)
		if id == "" {
			s.log.Warn("ps: no image for ancestor filter", "ancestor", ref)
			continue
		}
		out[id] = true
		base := chains[id]
		if len(base) == 0 {
			continue
		}
		for other, chain := range chains {
			if len(chain) > len(base) && strings.Join(chain[:len(base)], ",") == strings.Join(base, ",") {
				out[other] = true
			}
		}
	}
	return out, nil
}

// resolveImageID finds the image ID a reference or ID (prefix) names.
func resolveImageID(imgs []*client.Image, ref string) string {
	name, _, err := containers.NormalizeImageRef(ref)
	if err != nil {
		return ""
	}
	hex := strings.TrimPrefix(ref, "sha256:")
	for _, img := range imgs {
		id := img.GetConfig().GetDigest()
		if img.GetName() == name || id == ref || len(hex) >= 1 && strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), hex) && isHex(hex) {
			return id
		}
	}
	return ""
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// regexpMatch is dockerd's filters.Match: the exact value, or a regular
// expression found in source.
func (f filters) regexpMatch(key, source string) bool {
	vs, ok := f[key]
	if !ok || len(vs) == 0 {
		return true
	}
	for _, v := range vs {
		if v == source {
			return true
		}
		if re, err := regexp.Compile(v); err == nil && re.MatchString(source) {
			return true
		}
	}
	return false
}

// include is dockerd's per-container decision, in its order: before and
// since walk the list newest first.
func (lf *listFilter) include(c containers.Container, all bool) (include, stop bool) {
	if lf.before != "" {
		if c.ID == lf.before {
			lf.before = ""
		}
		return false, false
	}
	if lf.since != "" && c.ID == lf.since {
		return false, true
	}
	if !c.State.Running && !all {
		return false, false
	}
	f := lf.f
	name := c.Name
	if !f.regexpMatch("name", name) && !f.regexpMatch("name", strings.TrimPrefix(name, "/")) {
		return false, false
	}
	if !f.anyOf("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) {
		return false, false
	}
	// No container is a swarm task here.
	if lf.isTask != nil && *lf.isTask {
		return false, false
	}
	if !f.allLabels(c.Config.Labels) {
		return false, false
	}
	// isolation: Linux has only the default one; dockerd matches every
	// container on Linux whatever the value.
	if len(lf.exited) > 0 {
		ok := false
		for _, code := range lf.exited {
			if code == c.State.ExitCode && !c.State.Running && !c.State.StartedAt.IsZero() {
				ok = true
			}
		}
		if !ok {
			return false, false
		}
	}
	if !f.regexpMatch("status", string(c.State.Status)) {
		return false, false
	}
	if !f.anyOf("health", func(v string) bool { return v == string(healthStatus(c)) }) {
		return false, false
	}
	if _, ok := f["volume"]; ok && !f.anyOf("volume", func(v string) bool { return mountedAt(c, v) }) {
		return false, false
	}
	if !lf.networkMatch(c) {
		return false, false
	}
	if lf.ancestorFilter && !lf.ancestors[c.ImageID] {
		return false, false
	}
	return true, false
}

func (s *Server) containerList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, badRequest("%v", err))
			return
		}
		limit = n
	}
	lf, err := s.parseListFilter(ctx, q.Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	lf.networksOf = func(c containers.Container) (map[string]*network.EndpointSettings, network.PortMap) {
		n, p, _ := s.containerNetworks(c)
		return n, p
	}
	var sizes *containerSizes
	if boolParam(r, "size") {
		if sizes, err = s.newContainerSizes(); err != nil {
			writeError(w, err)
			return
		}
	}
	all := boolParam(r, "all") || limit > 0 || lf.all
	refs := imageRefs{s: s}
	out := []container.Summary{}
	for _, c := range s.d.List(true, 0) {
		if limit > 0 && len(out) >= limit {
			break
		}
		ok, stop := lf.include(c, all)
		if stop {
			break
		}
		if !ok {
			continue
		}
		sum := summaryOf(c)
		s.addNetworks(&sum, c)
		sum.Image = refs.shown(ctx, c)
		if h := healthOf(c); h != nil {
			sum.Health = &container.HealthSummary{Status: h.Status, FailingStreak: h.FailingStreak}
		}
		if sizes != nil {
			rw, rootfs, err := sizes.of(ctx, c)
			if err != nil {
				writeError(w, err)
				return
			}
			sum.SizeRw, sum.SizeRootFs = rw, rootfs
		}
		out = append(out, sum)
	}
	writeJSON(w, http.StatusOK, out)
}

// mountedAt is dockerd's `volume` filter: a mount whose destination, or
// volume name (a bind's source when it has none), is v.
func mountedAt(c containers.Container, v string) bool {
	for _, mp := range c.MountPoints {
		if !mp.Listed() {
			continue
		}
		name := mp.Name
		if name == "" {
			name = mp.Source
		}
		if mp.Destination == v || name == v {
			return true
		}
	}
	return false
}

// summaryOf is a container's line of the list (and of /system/df).
func summaryOf(c containers.Container) container.Summary {
	sum := container.Summary{
		ID: c.ID, Names: []string{c.Name}, Image: c.ImageName, ImageID: c.ImageID,
		Command: commandString(c.Path, c.Args),
		Created: c.Created.Unix(), Labels: c.Config.Labels, State: c.State.Status,
		Status: statusString(c.State), Ports: []container.PortSummary{}, Mounts: mountPoints(c),
		NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{}},
	}
	if sum.Labels == nil {
		sum.Labels = map[string]string{}
	}
	sum.HostConfig.NetworkMode = networkMode(c)
	return sum
}

// commandString is dockerd's Command: the path and the args, an arg with
// a space in single quotes.
func commandString(path string, args []string) string {
	if len(args) == 0 {
		return path
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		quoted[i] = a
	}
	return fmt.Sprintf("%s %s", path, strings.Join(quoted, " "))
}

// imageRefs is dockerd's refresh of the Image column: the reference the
// user gave while it still names the container's image, else the image ID
// (the name was deleted or now points elsewhere).
type imageRefs struct {
	s     *Server
	cache map[string]string // reference -> image ID ("" when none)
}

func (ir *imageRefs) shown(ctx context.Context, c containers.Container) string {
	if c.ImageName == c.ImageID {
		return c.ImageName
	}
	if ir.cache == nil {
		ir.cache = map[string]string{}
	}
	id, ok := ir.cache[c.ImageName]
	if !ok {
		if name, _, err := containers.NormalizeImageRef(c.ImageName); err == nil {
			if img, err := ir.s.d.Supervisor().GetImage(ctx, name); err == nil {
				id = img.GetConfig().GetDigest()
			}
		}
		ir.cache[c.ImageName] = id
	}
	if id != c.ImageID {
		return c.ImageID
	}
	return c.ImageName
}
