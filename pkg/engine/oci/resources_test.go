package oci

import (
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestResources(t *testing.T) {
	pids := int64(20)
	s, err := Spec(Options{ID: "abc", Config: &container.Config{Cmd: []string{"true"}}, Host: &container.HostConfig{
		Resources: container.Resources{Memory: 16 << 20, PidsLimit: &pids, CPUShares: 512, NanoCPUs: 1.5e9},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Linux.Resources
	if r.Memory == nil || *r.Memory.Limit != 16<<20 || *r.Memory.Swap != 16<<20 {
		t.Errorf("memory %+v", r.Memory)
	}
	if r.Pids == nil || *r.Pids.Limit != 20 {
		t.Errorf("pids %+v", r.Pids)
	}
	if r.CPU == nil || *r.CPU.Shares != 512 || *r.CPU.Quota != 150000 || *r.CPU.Period != 100000 {
		t.Errorf("cpu %+v", r.CPU)
	}
	if len(r.Devices) == 0 {
		t.Error("device rules lost")
	}
	s, _ = Spec(Options{ID: "abc", Config: &container.Config{Cmd: []string{"true"}}, Host: &container.HostConfig{}})
	if r := s.Linux.Resources; r.Memory != nil || r.Pids != nil || r.CPU != nil {
		t.Errorf("limits without flags: %+v", r)
	}
}
