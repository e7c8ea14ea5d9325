package containers

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/errdefs"
)

// The logging drivers the engine has. Each is a file the shim writes and
// rotates; none has no file. Other drivers dockerd has (syslog, journald,
// gelf, fluentd, awslogs, splunk, gcplogs, logentries, etwlogs) are refused.
const (
	LogDriverJSONFile = "json-file"
	LogDriverLocal    = "local"
	LogDriverNone     = "none"
)

// LogDrivers lists the drivers that log somewhere, for /info's Plugins.Log
// (dockerd does not list none either).
func LogDrivers() []string { return []string{LogDriverJSONFile, LogDriverLocal} }

// The local driver's defaults, as dockerd's.
const (
	localMaxSize  = 20 << 20
	localMaxFiles = 5
	localCompress = true
)

// logOpts are the options each driver takes; labels, labels-regex, env,
// env-regex and tag select the attributes written into each record.
var logOpts = map[string]map[string]bool{
	LogDriverJSONFile: {"max-size": true, "max-file": true, "compress": true, "labels": true, "labels-regex": true, "env": true, "env-regex": true, "tag": true},
	LogDriverLocal:    {"max-size": true, "max-file": true, "compress": true, "labels": true, "labels-regex": true, "env": true, "env-regex": true, "tag": true},
	LogDriverNone:     {},
}

// logSettings is what a LogConfig means for the shim's log file.
type logSettings struct {
	driver   string
	maxSize  int64 // 0: no rotation
	maxFiles int
	compress bool
	opts     map[string]string
}

func logConfigError(format string, args ...any) error {
	return &msgError{msg: fmt.Sprintf(format, args...), class: errdefs.ErrInvalidArgument}
}

// VerifyLogConfig checks lc as dockerd does when a container is created,
// and fills in what dockerd stores: the default driver and an empty
// option map. Errors are invalid arguments that name the driver or option.
func VerifyLogConfig(lc *container.LogConfig) error {
	if lc.Type == "" {
		lc.Type = LogDriverJSONFile
	}
	if lc.Config == nil {
		lc.Config = map[string]string{}
	}
	s, err := parseLogConfig(*lc)
	if err != nil {
		return err
	}
	// Try the attribute options (regular expressions, the tag template)
	// on an empty container, so that a bad one fails now, not at start.
	_, err = s.attrs(&Container{Config: &container.Config{}})
	return err
}

func parseLogConfig(lc container.LogConfig) (logSettings, error) {
	s := logSettings{driver: lc.Type, opts: lc.Config}
	if s.driver == "" {
		s.driver = LogDriverJSONFile
	}
	known, ok := logOpts[s.driver]
	if !ok {
		if err := checkLogMode(lc.Config); err != nil {
			return s, err
		}
		return s, logConfigError("logger: no log driver named '%s' is registered", s.driver)
	}
	if s.driver != LogDriverNone {
		if err := checkLogMode(lc.Config); err != nil {
			return s, err
		}
	}
	for _, k := range sortedKeys(lc.Config) {
		if known[k] || k == "mode" && s.driver != LogDriverNone {
			continue
		}
		if s.driver == LogDriverJSONFile {
			return s, logConfigError("unknown log opt '%s' for json-file log driver", k)
		}
		return s, logConfigError("unknown log opt '%s' for log driver %s", k, s.driver)
	}
	var err error
	switch s.driver {
	case LogDriverJSONFile:
		err = s.parseJSONFile(lc.Config)
	case LogDriverLocal:
		err = s.parseLocal(lc.Config)
	}
	return s, err
}

// checkLogMode handles the options dockerd takes for every driver: mode
// (blocking is what the shim does; non-blocking, which drops output when
// the log falls behind, is not implemented) and max-buffer-size (only
// with non-blocking).
func checkLogMode(cfg map[string]string) error {
	switch mode := cfg["mode"]; mode {
	case "", "blocking":
	default:
		return logConfigError("logger: logging mode not supported: %s", mode)
	}
	if _, ok := cfg["max-buffer-size"]; ok {
		return logConfigError("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
	}
	return nil
}

// parseJSONFile reads json-file's rotation options with dockerd's rules.
func (s *logSettings) parseJSONFile(cfg map[string]string) error {
	if v, ok := cfg["max-size"]; ok {
		n, err := units.FromHumanSize(v)
		if err != nil {
			return logConfigError("max-size: %v", err)
		}
		if n <= 0 {
			return logConfigError("max-size must be a positive number")
		}
		s.maxSize = n
	}
	s.maxFiles = 1
	if v, ok := cfg["max-file"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return logConfigError("max-file: %v", err)
		}
		if n < 1 {
			return logConfigError("max-file cannot be less than 1")
		}
		if s.maxSize == 0 {
			// dockerd accepts it and ignores it: refuse rather than ignore.
			return logConfigError("max-file has no effect without max-size: set max-size too")
		}
		s.maxFiles = n
	}
	if v, ok := cfg["compress"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return logConfigError("compress: %v", err)
		}
		if b && (s.maxFiles == 1 || s.maxSize == 0) {
			return logConfigError("compress cannot be true when max-file is less than 2 or max-size is not set")
		}
		s.compress = b
	}
	return nil
}

// parseLocal reads the local driver's options over its defaults.
func (s *logSettings) parseLocal(cfg map[string]string) error {
	s.maxSize, s.maxFiles, s.compress = localMaxSize, localMaxFiles, localCompress
	if v, ok := cfg["max-size"]; ok {
		n, err := units.FromHumanSize(v)
		if err != nil {
			return logConfigError("invalid value for max-size: %s: %v", v, err)
		}
		if n == 0 {
			// dockerd then rotates at every record; refuse that.
			return logConfigError("invalid value for max-size: %s: max-size must be a positive number", v)
		}
		s.maxSize = n
	}
	if v, ok := cfg["max-file"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return logConfigError("invalid value for max-file: %s: %v", v, err)
		}
		if n < 0 {
			return logConfigError("max-file must not be negative")
		}
		s.maxFiles = max(n, 1) // 0 keeps one file, as in dockerd
	}
	if v, ok := cfg["compress"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return logConfigError("invalid boolean value for compress: %v", err)
		}
		s.compress = b
	}
	if s.compress && s.maxFiles <= 1 {
		return logConfigError("compression cannot be enabled when max file count is 1")
	}
	return nil
}

// logFile is the file the shim writes c's log to ("" for none): json-file's
// is c.LogPath (what inspect shows); local's is a file of its own, in the
// same line format (its format is the engine's business, as dockerd's
// local format is dockerd's), which inspect does not show, as with dockerd.
func logFile(c *Container) string {
	switch c.HostConfig.LogConfig.Type {
	case LogDriverNone:
		return ""
	case LogDriverLocal:
		return filepath.Join(c.dir, "local-logs", "container.log")
	}
	return c.LogPath
}

// inspectLogPath is the LogPath a new container shows.
func inspectLogPath(dir, id string, lc container.LogConfig) string {
	if lc.Type != LogDriverJSONFile {
		return ""
	}
	return filepath.Join(dir, id+"-json.log")
}

// errLogsNotReadable is dockerd's answer to logs of a container without a
// log file.
var errLogsNotReadable = &msgError{msg: "configured logging driver does not support reading", class: errdefs.ErrNotImplemented}

// LogsReadable returns an error when c's driver keeps no log to read.
func (c *Container) LogsReadable() error {
	if c.HostConfig != nil && c.HostConfig.LogConfig.Type == LogDriverNone {
		return errLogsNotReadable
	}
	return nil
}

// taskLog returns how the shim logs c.
func taskLog(c *Container) (TaskLog, error) {
	s, err := parseLogConfig(c.HostConfig.LogConfig)
	if err != nil {
		return TaskLog{}, fmt.Errorf("log config: %w", err)
	}
	path := logFile(c)
	if path == "" {
		return TaskLog{}, nil
	}
	attrs, err := s.attrs(c)
	if err != nil {
		return TaskLog{}, err
	}
	tl := TaskLog{Path: path, Attrs: attrs}
	if s.maxSize > 0 {
		tl.MaxSize, tl.MaxFiles, tl.Compress = s.maxSize, s.maxFiles, s.compress
	}
	return tl, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
