package containers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"
	"time"
	"unicode"
)

// attrs returns the attributes the log options select for c, as dockerd's
// json-file and local drivers add them to each record: the labels named by
// "labels" or matched by "labels-regex", the environment variables named
// by "env" or matched by "env-regex", and "tag" (a template of logInfo).
func (s *logSettings) attrs(c *Container) (map[string]string, error) {
	extra := map[string]string{}
	if err := selectAttrs(extra, c.Config.Labels, s.opts, "labels"); err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, e := range c.Config.Env {
		if k, v, ok := strings.Cut(e, "="); ok {
			env[k] = v
		}
	}
	if err := selectAttrs(extra, env, s.opts, "env"); err != nil {
		return nil, err
	}
	if v := s.opts["tag"]; v != "" {
		tmpl, err := parseLogTag(v)
		if err != nil {
			return nil, logConfigError("tag: %v", err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, newLogInfo(c, s.opts)); err != nil {
			return nil, logConfigError("tag: %v", err)
		}
		if buf.Len() > 0 {
			extra["tag"] = buf.String()
		}
	}
	return extra, nil
}

// selectAttrs copies into extra the entries of from that option opt names
// (a comma-separated list) or that opt-regex matches.
func selectAttrs(extra, from, opts map[string]string, opt string) error {
	if v := opts[opt]; v != "" {
		for _, k := range strings.Split(v, ",") {
			if val, ok := from[k]; ok {
				extra[k] = val
			}
		}
	}
	if v := opts[opt+"-regex"]; v != "" {
		re, err := regexp.Compile(v)
		if err != nil {
			return logConfigError("%s-regex: %v", opt, err)
		}
		for k, val := range from {
			if re.MatchString(k) {
				extra[k] = val
			}
		}
	}
	return nil
}

// logTagFuncs are the functions dockerd offers in log tag templates.
var logTagFuncs = template.FuncMap{
	"json": func(v any) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		return strings.TrimSpace(buf.String())
	},
	"split": strings.Split,
	"join":  strings.Join,
	"title": titleCase,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"pad": func(s string, prefix, suffix int) string {
		if s == "" {
			return s
		}
		return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
	},
	"truncate": func(s string, n int) string {
		if len(s) < n {
			return s
		}
		return s[:n]
	},
}

// titleCase upper-cases the first letter of each space-separated word.
func titleCase(s string) string {
	var b strings.Builder
	start := true
	for _, r := range s {
		if start {
			r = unicode.ToTitle(r)
		}
		start = unicode.IsSpace(r)
		b.WriteRune(r)
	}
	return b.String()
}

func parseLogTag(tag string) (*template.Template, error) {
	return template.New("log-tag").Funcs(logTagFuncs).Parse(tag)
}

// logInfo is what a log tag template sees: the fields and methods of
// dockerd's logger.Info, so that tags written for dockerd
// ("{{.Name}}/{{.ID}}", "{{.ImageName}}") mean the same here.
type logInfo struct {
	Config              map[string]string
	ContainerID         string
	ContainerName       string
	ContainerEntrypoint string
	ContainerArgs       []string
	ContainerImageID    string
	ContainerImageName  string
	ContainerCreated    time.Time
	ContainerEnv        []string
	ContainerLabels     map[string]string
	LogPath             string
	DaemonName          string
}

func newLogInfo(c *Container, opts map[string]string) *logInfo {
	return &logInfo{
		Config: opts, ContainerID: c.ID, ContainerName: c.Name,
		ContainerEntrypoint: c.Path, ContainerArgs: c.Args,
		ContainerImageID: c.ImageID, ContainerImageName: c.ImageName,
		ContainerCreated: c.Created, ContainerEnv: c.Config.Env, ContainerLabels: c.Config.Labels,
		LogPath: c.LogPath, DaemonName: "docker",
	}
}

// shortID is dockerd's truncated ID: without an algorithm prefix, 12 characters.
func shortID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

func (i *logInfo) ID() string          { return shortID(i.ContainerID) }
func (i *logInfo) FullID() string      { return i.ContainerID }
func (i *logInfo) Name() string        { return strings.TrimPrefix(i.ContainerName, "/") }
func (i *logInfo) ImageID() string     { return shortID(i.ContainerImageID) }
func (i *logInfo) ImageFullID() string { return i.ContainerImageID }
func (i *logInfo) ImageName() string   { return i.ContainerImageName }

// Command is the entrypoint and its arguments.
func (i *logInfo) Command() string {
	return strings.Join(append([]string{i.ContainerEntrypoint}, i.ContainerArgs...), " ")
}

// Hostname is the host's name (not the container's), as in dockerd.
func (i *logInfo) Hostname() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("logger: can not resolve hostname: %v", err)
	}
	return h, nil
}
