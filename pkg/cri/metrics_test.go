package cri

import (
	"context"
	"testing"
)

// Every series is described once, with help and its labels after the
// base ones; a value with the wrong number of labels is a bug caught at
// once.
func TestMetricDescriptors(t *testing.T) {
	resp, err := (&Server{}).ListMetricDescriptors(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range resp.Descriptors {
		if seen[d.Name] || d.Help == "" || len(d.LabelKeys) < len(baseLabels) {
			t.Errorf("descriptor %v: duplicate, or no help or labels", d)
		}
		seen[d.Name] = true
	}
	if len(seen) != len(metricDescriptions) {
		t.Errorf("%d descriptors for %d series", len(seen), len(metricDescriptions))
	}
	s := series{base: []string{"pod", "ns", "c", "id", "img"}}
	s.add(mNetRxBytes, 7, "eth0")
	if m := s.out[0]; len(m.LabelValues) != 6 || m.LabelValues[5] != "eth0" || m.Value.GetValue() != 7 || m.MetricType != counter {
		t.Errorf("metric %v", m)
	}
	defer func() {
		if recover() == nil {
			t.Error("a missing label did not panic")
		}
	}()
	s.add(mNetRxBytes, 1)
}

func TestDeviceNames(t *testing.T) {
	if got := blockDeviceName(4095, 4095); got != "4095:4095" {
		t.Errorf("unknown block device: %q", got)
	}
	if got := mountSource(4095, 4095); got != "4095:4095" {
		t.Errorf("unknown mount: %q", got)
	}
	if fs := snapshotFilesystem(t.TempDir()); fs.device == "" || fs.limit == 0 || fs.inodes == 0 {
		t.Errorf("filesystem of a temp dir: %+v", fs)
	}
}
