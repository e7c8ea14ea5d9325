package api

import (
	"strings"
	"time"
)

// filterTime reads the time of an `until` (or since/before-style) filter as
// dockerd does: a Go duration back from now ("24h"), an RFC 3339 date or
// date-time, whole or cut short ("2006-01-02", "2006-01-02T15:04"), in the
// local zone unless it names one, or a unix timestamp ("1700000000.5").
func filterTime(v string, now time.Time) (time.Time, error) {
	if strings.TrimSpace(v) == "" {
		return time.Time{}, badRequest("failed to parse value as time or duration: value is empty")
	}
	if d, err := time.ParseDuration(v); v != "0" && err == nil {
		return now.Add(-d).UTC(), nil
	}
	// A zone is named by Z, +hh:mm or a third dash (-hh:mm).
	local := !strings.ContainsAny(v, "zZ+") && strings.Count(v, "-") != 3
	var layout string
	switch {
	case strings.Contains(v, "."):
		layout = time.RFC3339Nano
		if local {
			layout = "2006-01-02T15:04:05.999999999"
		}
	case strings.Contains(v, "T"):
		colons := strings.Count(v, ":")
		if !local && !strings.ContainsAny(v, "zZ") && colons > 0 {
			colons-- // the zone's own colon
		}
		layouts := [3]string{"2006-01-02T15", "2006-01-02T15:04", "2006-01-02T15:04:05"}
		if !local {
			layouts = [3]string{"2006-01-02T15Z07:00", "2006-01-02T15:04Z07:00", time.RFC3339}
		}
		layout = layouts[min(colons, 2)]
	case local:
		layout = "2006-01-02"
	default:
		layout = "2006-01-02Z07:00"
	}
	var t time.Time
	var err error
	if local {
		t, err = time.ParseInLocation(layout, v, time.FixedZone(now.Zone()))
	} else {
		t, err = time.Parse(layout, v)
	}
	if err == nil {
		return t.UTC(), nil
	}
	if strings.Contains(v, "-") {
		return time.Time{}, badRequest("%v", err)
	}
	t, terr := ParseTimestamp(v)
	if terr != nil {
		return time.Time{}, badRequest("failed to parse value as time or duration: %v", terr)
	}
	return t.UTC(), nil
}
