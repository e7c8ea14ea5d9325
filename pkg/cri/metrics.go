package cri

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	nshandle "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	supervisorv1 "github.com/berthd/berth/proto/berth/supervisor/v1"
)

// The values come from where the rest of the CRI reads them: a
// container's cgroup and processes through its shim (Tasks.Metrics with
// the detail), its writable layer from the snapshotter, the filesystem
// under the snapshots from statfs(2), and a pod's interfaces from its
// network namespace (which the CRI server holds), by netlink. Values are
// read live, so their timestamps are 0 (the CRI's convention); seconds
// are whole, as the API's integers are.

// ListMetricDescriptors describes every series ListPodSandboxMetrics
// reports.
func (s *Server) ListMetricDescriptors(ctx context.Context, req *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	out := make([]*runtimeapi.MetricDescriptor, 0, len(metricDescriptions))
	for _, d := range metricDescriptions {
		out = append(out, d.descriptor())
	}
	return &runtimeapi.ListMetricDescriptorsResponse{Descriptors: out}, nil
}

// ListPodSandboxMetrics reports the series of every ready pod: its
// interfaces', and each running container's.
func (s *Server) ListPodSandboxMetrics(ctx context.Context, req *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	pods, err := s.records(ctx, kindSandbox)
	if err != nil {
		return nil, err
	}
	ctrs, err := s.records(ctx, kindContainer)
	if err != nil {
		return nil, err
	}
	byPod := map[string][]record{}
	for _, c := range ctrs {
		byPod[c.sandboxID()] = append(byPod[c.sandboxID()], c)
	}
	fs := snapshotFilesystem(filepath.Join(s.cfg.SupervisorRoot, "snapshots"))
	resp := &runtimeapi.ListPodSandboxMetricsResponse{}
	for _, p := range pods {
		if state, _ := s.sandboxState(ctx, p); state != runtimeapi.PodSandboxState_SANDBOX_READY {
			continue
		}
		var cfg runtimeapi.PodSandboxConfig
		if err := p.decode(&cfg); err != nil {
			continue
		}
		md := cfg.GetMetadata()
		pm := &runtimeapi.PodSandboxMetrics{PodSandboxId: p.id()}
		// Pod-level series have no container or image.
		ps := series{base: []string{md.GetName(), md.GetNamespace(), "", p.id(), ""}}
		if path := p.label(labelNetns); path != "" {
			if err := ps.network(path); err != nil {
				s.log.Debug("cri: pod network metrics", "id", p.id(), "err", err)
			}
		}
		pm.Metrics = ps.out
		for _, c := range byPod[p.id()] {
			if c.state() == stateCreating {
				continue
			}
			if state, _ := s.ctrState(ctx, c); state != runtimeapi.ContainerState_CONTAINER_RUNNING {
				continue // no cgroup to read
			}
			cm, err := s.containerMetrics(ctx, c, md, fs)
			if err != nil {
				s.log.Debug("cri: container metrics", "id", c.id(), "err", err)
				continue // exited meanwhile
			}
			pm.ContainerMetrics = append(pm.ContainerMetrics, cm)
		}
		resp.PodMetrics = append(resp.PodMetrics, pm)
	}
	return resp, nil
}

// series collects metrics with the same base label values.
type series struct {
	base []string
	out  []*runtimeapi.Metric
}

func (s *series) add(d metricDef, v uint64, labels ...string) {
	if len(labels) != len(d.labels) {
		panic(fmt.Sprintf("cri: metric %s takes labels %v, got %v", d.name, d.labels, labels))
	}
	s.out = append(s.out, &runtimeapi.Metric{
		Name: d.name, MetricType: d.typ,
		LabelValues: append(append(make([]string, 0, len(s.base)+len(labels)), s.base...), labels...),
		Value:       &runtimeapi.UInt64Value{Value: v},
	})
}

const nsPerSec = uint64(time.Second)

func (s *Server) containerMetrics(ctx context.Context, r record, pod *runtimeapi.PodSandboxMetadata, fs filesystem) (*runtimeapi.ContainerMetrics, error) {
	var cfg runtimeapi.ContainerConfig
	if err := r.decode(&cfg); err != nil {
		return nil, err
	}
	m, err := s.sup.TaskService().Metrics(ctx, &supervisorv1.MetricsRequest{ContainerId: r.id(), Detail: true})
	if err != nil {
		return nil, fmt.Errorf("metrics of %s: %w", r.id(), err)
	}
	d := m.GetDetail()
	cs := series{base: []string{pod.GetName(), pod.GetNamespace(), cfg.GetMetadata().GetName(), r.id(), r.label(labelImgRef)}}

	cs.add(mCPUUsage, m.GetCpuUsageNs()/nsPerSec)
	cs.add(mCPUUser, m.GetCpuUserNs()/nsPerSec)
	cs.add(mCPUSystem, m.GetCpuSystemNs()/nsPerSec)
	cs.add(mCFSPeriods, d.GetCpuPeriods())
	cs.add(mCFSThrottled, d.GetCpuThrottledPeriods())
	cs.add(mCFSThrottledSecs, d.GetCpuThrottledNs()/nsPerSec)

	usage := m.GetMemoryUsage()
	cs.add(mMemCache, m.GetMemoryCache())
	cs.add(mMemRSS, d.GetMemoryRss())
	cs.add(mMemKernel, d.GetMemoryKernel())
	cs.add(mMemMapped, d.GetMemoryMappedFile())
	cs.add(mMemSwap, d.GetMemorySwap())
	cs.add(mMemFailcnt, d.GetMemoryFailcnt())
	cs.add(mMemUsage, usage)
	cs.add(mMemMaxUsage, m.GetMemoryMaxUsage())
	cs.add(mMemWorkingSet, usage-min(usage, d.GetMemoryInactiveFile()))
	cs.add(mMemActiveFile, d.GetMemoryActiveFile())
	cs.add(mMemInactiveFile, d.GetMemoryInactiveFile())
	cs.add(mMemFailures, d.GetMemoryPgfault(), "pgfault", "container")
	cs.add(mMemFailures, d.GetMemoryPgmajfault(), "pgmajfault", "container")
	cs.add(mMemFailures, d.GetMemoryHierarchyPgfault(), "pgfault", "hierarchy")
	cs.add(mMemFailures, d.GetMemoryHierarchyPgmajfault(), "pgmajfault", "hierarchy")
	cs.add(mOOMEvents, d.GetMemoryOomKills())

	if fs.device != "" {
		if u, err := s.sup.SnapshotService().Usage(ctx, &supervisorv1.UsageRequest{Key: r.c.GetSnapshotKey()}); err == nil {
			cs.add(mFsUsage, uint64(u.GetSize()), fs.device)
		}
		cs.add(mFsLimit, fs.limit, fs.device)
		cs.add(mFsInodesTotal, fs.inodes, fs.device)
		cs.add(mFsInodesFree, fs.inodesFree, fs.device)
	}
	for _, b := range d.GetBlockIo() {
		dev := blockDeviceName(b.GetMajor(), b.GetMinor())
		cs.add(mFsReadBytes, b.GetReadBytes(), dev)
		cs.add(mFsReads, b.GetReads(), dev)
		cs.add(mFsWriteBytes, b.GetWriteBytes(), dev)
		cs.add(mFsWrites, b.GetWrites(), dev)
		maj, mnr := strconv.FormatUint(uint64(b.GetMajor()), 10), strconv.FormatUint(uint64(b.GetMinor()), 10)
		cs.add(mBlkioUsage, b.GetReadBytes(), dev, maj, mnr, "Read")
		cs.add(mBlkioUsage, b.GetWriteBytes(), dev, maj, mnr, "Write")
	}

	cs.add(mProcesses, d.GetProcesses())
	cs.add(mFileDescriptors, d.GetFileDescriptors())
	cs.add(mSockets, d.GetSockets())
	cs.add(mThreads, d.GetThreads())
	cs.add(mThreadsMax, m.GetPidsLimit())

	cs.add(mLastSeen, uint64(time.Now().Unix()))
	cs.add(mStartTime, uint64(r.startedAt())/nsPerSec)

	cs.add(mSpecCPUPeriod, d.GetCpuPeriodUs())
	cs.add(mSpecCPUQuota, d.GetCpuQuotaUs())
	cs.add(mSpecCPUShares, d.GetCpuShares())
	cs.add(mSpecMemLimit, m.GetMemoryLimit())
	cs.add(mSpecMemSoftLimit, d.GetMemoryReservation())
	cs.add(mSpecMemSwapLimit, d.GetMemorySwapLimit())
	return &runtimeapi.ContainerMetrics{ContainerId: r.id(), Metrics: cs.out}, nil
}

// network adds the counters of every interface but lo of the network
// namespace at path.
func (s *series) network(path string) error {
	ns, err := nshandle.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("interfaces of %s: %w", path, err)
	}
	for _, l := range links {
		a := l.Attrs()
		if a.Name == "lo" || a.Statistics == nil {
			continue
		}
		st := a.Statistics
		s.add(mNetRxBytes, st.RxBytes, a.Name)
		s.add(mNetRxPackets, st.RxPackets, a.Name)
		s.add(mNetRxDropped, st.RxDropped, a.Name)
		s.add(mNetRxErrors, st.RxErrors, a.Name)
		s.add(mNetTxBytes, st.TxBytes, a.Name)
		s.add(mNetTxPackets, st.TxPackets, a.Name)
		s.add(mNetTxDropped, st.TxDropped, a.Name)
		s.add(mNetTxErrors, st.TxErrors, a.Name)
	}
	return nil
}

// filesystem is the one containers' writable layers live on.
type filesystem struct {
	device                    string // its mount's source; "" when unknown
	limit, inodes, inodesFree uint64
}

func snapshotFilesystem(dir string) filesystem {
	var sfs unix.Statfs_t
	var st unix.Stat_t
	if unix.Statfs(dir, &sfs) != nil || unix.Stat(dir, &st) != nil {
		return filesystem{}
	}
	fs := filesystem{limit: sfs.Blocks * uint64(sfs.Bsize), inodes: sfs.Files, inodesFree: sfs.Ffree}
	fs.device = mountSource(unix.Major(st.Dev), unix.Minor(st.Dev))
	return fs
}

// mountSource is the source of the mount whose device is maj:min (the
// first in /proc/self/mountinfo), else "maj:min".
func mountSource(maj, mnr uint32) string {
	id := fmt.Sprintf("%d:%d", maj, mnr)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return id
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != id {
			continue
		}
		for i, v := range fields {
			if v == "-" && i+2 < len(fields) {
				return fields[i+2]
			}
		}
	}
	return id
}

// blockDeviceName is /dev/NAME of a block device, else "maj:min".
func blockDeviceName(maj, mnr uint32) string {
	b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", maj, mnr))
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "DEVNAME="); ok {
				return "/dev/" + v
			}
		}
	}
	return fmt.Sprintf("%d:%d", maj, mnr)
}
