package integration

import (
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListMetricDescriptors and ListPodSandboxMetrics on a real pod: every
// series described is reported with the labels its descriptor names
// (block I/O only when the host accounts it), and the values are the
// container's: its limits as set, its processes and open sockets, its
// memory, and the pod's interface.
func TestCRIPodSandboxMetrics(t *testing.T) {
	e := newCRIEnv(t, true)
	e.writeCNI(t)
	img := e.criBusybox(t)
	ctx := criCtx(t)

	descs, err := e.rt.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, d := range descs.Descriptors {
		if d.Help == "" || len(d.LabelKeys) == 0 {
			t.Errorf("descriptor %v has no help or labels", d)
		}
		if _, dup := keys[d.Name]; dup {
			t.Errorf("descriptor %s twice", d.Name)
		}
		keys[d.Name] = len(d.LabelKeys)
	}

	pc := podConfig("metrics")
	pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.rt.RemovePodSandbox(criCtx(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId})
	})
	c, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, SandboxConfig: pc, Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "web"}, Image: &runtimeapi.ImageSpec{Image: img},
		Command: []string{"httpd", "-f", "-p", "8080"},
		Linux: &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
			CpuPeriod: 100000, CpuQuota: 20000, CpuShares: 512, MemoryLimitInBytes: 64 << 20,
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	// Some traffic on the pod's interface, some files in its layer.
	if r, err := e.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Timeout: 10,
		Cmd: []string{"sh", "-c", "ping -c 1 -W 1 " + e.gatewayOf(t, pod.PodSandboxId) + " >/dev/null; mkdir /data && echo hi > /data/f && sync"}}); err != nil || r.ExitCode != 0 {
		t.Fatalf("exec: %v %v %s", r, err, r.GetStderr())
	}

	l, err := e.rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var pm *runtimeapi.PodSandboxMetrics
	for _, m := range l.PodMetrics {
		if m.PodSandboxId == pod.PodSandboxId {
			pm = m
		}
	}
	if pm == nil || len(pm.ContainerMetrics) != 1 || pm.ContainerMetrics[0].ContainerId != c.ContainerId {
		t.Fatalf("metrics of the pod: %v", pm)
	}
	values := map[string]uint64{} // name{extra labels} -> value
	seen := map[string]bool{}
	check := func(ms []*runtimeapi.Metric, container string) {
		for _, m := range ms {
			n, ok := keys[m.Name]
			if !ok {
				t.Errorf("%s is not described", m.Name)
				continue
			}
			if len(m.LabelValues) != n {
				t.Errorf("%s: %d label values for %d keys", m.Name, len(m.LabelValues), n)
				continue
			}
			if m.LabelValues[0] != "metrics" || m.LabelValues[1] != "test" || m.LabelValues[2] != container {
				t.Errorf("%s: labels %v", m.Name, m.LabelValues)
			}
			seen[m.Name] = true
			values[strings.Join(append([]string{m.Name}, m.LabelValues[5:]...), " ")] = m.Value.GetValue()
		}
	}
	check(pm.Metrics, "")
	check(pm.ContainerMetrics[0].Metrics, "web")
	for name := range keys {
		if !seen[name] && !strings.HasPrefix(name, "container_fs_reads") && !strings.HasPrefix(name, "container_fs_writes") && name != "container_blkio_device_usage_total" {
			t.Errorf("%s is described but not reported", name)
		}
	}
	want := map[string]uint64{
		"container_spec_cpu_period": 100000, "container_spec_cpu_quota": 20000, "container_spec_cpu_shares": 512,
		"container_spec_memory_limit_bytes": 64 << 20, "container_processes": 1, "container_threads": 1,
	}
	for k, v := range want {
		if values[k] != v {
			t.Errorf("%s = %d, want %d", k, values[k], v)
		}
	}
	for _, k := range []string{"container_memory_usage_bytes", "container_memory_working_set_bytes", "container_sockets", "container_network_receive_packets_total eth0", "container_network_transmit_packets_total eth0"} {
		if values[k] == 0 {
			t.Errorf("%s is 0", k)
		}
	}
	if values["container_file_descriptors"] < 4 { // stdio and the listening socket
		t.Errorf("container_file_descriptors = %d", values["container_file_descriptors"])
	}
	if start := int64(values["container_start_time_seconds"]); time.Since(time.Unix(start, 0)) > time.Minute || time.Until(time.Unix(start, 0)) > time.Second {
		t.Errorf("container_start_time_seconds = %d", start)
	}
	for k, v := range values {
		if strings.HasPrefix(k, "container_fs_usage_bytes ") && v == 0 {
			t.Errorf("%s is 0 after writing a file", k)
		}
	}

	// A stopped pod reports nothing.
	if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	l, err = e.rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range l.PodMetrics {
		if m.PodSandboxId == pod.PodSandboxId {
			t.Errorf("a stopped pod's metrics: %v", m)
		}
	}
}

// gatewayOf is the gateway of the pod's subnet (x.y.z.1).
func (e *criEnv) gatewayOf(t *testing.T, pod string) string {
	t.Helper()
	st, err := e.rt.PodSandboxStatus(criCtx(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pod})
	if err != nil {
		t.Fatal(err)
	}
	ip := st.Status.GetNetwork().GetIp()
	return ip[:strings.LastIndex(ip, ".")] + ".1"
}
