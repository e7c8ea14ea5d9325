package cri

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The CRI's metrics (ListMetricDescriptors, ListPodSandboxMetrics: the
// kubelet's cAdvisor-less stats) are cAdvisor's container series, under
// its names. Every series has the base labels; some one or more of their
// own. A descriptor is listed only for a series berth reports.

var baseLabels = []string{"pod", "namespace", "container", "id", "image"}

type metricDef struct {
	name, help string
	typ        runtimeapi.MetricType
	labels     []string // beyond baseLabels
}

const (
	counter = runtimeapi.MetricType_COUNTER
	gauge   = runtimeapi.MetricType_GAUGE
)

var (
	mCPUUsage          = metricDef{"container_cpu_usage_seconds_total", "Cumulative CPU time consumed in seconds.", counter, nil}
	mCPUUser           = metricDef{"container_cpu_user_seconds_total", "Cumulative user CPU time consumed in seconds.", counter, nil}
	mCPUSystem         = metricDef{"container_cpu_system_seconds_total", "Cumulative system CPU time consumed in seconds.", counter, nil}
	mCFSPeriods        = metricDef{"container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", counter, nil}
	mCFSThrottled      = metricDef{"container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", counter, nil}
	mCFSThrottledSecs  = metricDef{"container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", counter, nil}
	mMemCache          = metricDef{"container_memory_cache", "Number of bytes of page cache memory.", gauge, nil}
	mMemRSS            = metricDef{"container_memory_rss", "Size of RSS in bytes.", gauge, nil}
	mMemKernel         = metricDef{"container_memory_kernel_usage", "Size of kernel memory allocated to the container in bytes.", gauge, nil}
	mMemMapped         = metricDef{"container_memory_mapped_file", "Size of memory mapped files in bytes.", gauge, nil}
	mMemSwap           = metricDef{"container_memory_swap", "Container swap usage in bytes.", gauge, nil}
	mMemFailcnt        = metricDef{"container_memory_failcnt", "Number of memory usage hits limits (cgroup v1).", counter, nil}
	mMemUsage          = metricDef{"container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", gauge, nil}
	mMemMaxUsage       = metricDef{"container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes.", gauge, nil}
	mMemWorkingSet     = metricDef{"container_memory_working_set_bytes", "Current working set in bytes (usage less inactive file cache).", gauge, nil}
	mMemActiveFile     = metricDef{"container_memory_total_active_file_bytes", "Active file cache in bytes.", gauge, nil}
	mMemInactiveFile   = metricDef{"container_memory_total_inactive_file_bytes", "Inactive file cache in bytes.", gauge, nil}
	mMemFailures       = metricDef{"container_memory_failures_total", "Cumulative count of memory allocation failures.", counter, []string{"failure_type", "scope"}}
	mOOMEvents         = metricDef{"container_oom_events_total", "Count of out of memory events observed for the container.", counter, nil}
	mNetRxBytes        = metricDef{"container_network_receive_bytes_total", "Cumulative count of bytes received.", counter, []string{"interface"}}
	mNetRxPackets      = metricDef{"container_network_receive_packets_total", "Cumulative count of packets received.", counter, []string{"interface"}}
	mNetRxDropped      = metricDef{"container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.", counter, []string{"interface"}}
	mNetRxErrors       = metricDef{"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", counter, []string{"interface"}}
	mNetTxBytes        = metricDef{"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", counter, []string{"interface"}}
	mNetTxPackets      = metricDef{"container_network_transmit_packets_total", "Cumulative count of packets transmitted.", counter, []string{"interface"}}
	mNetTxDropped      = metricDef{"container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.", counter, []string{"interface"}}
	mNetTxErrors       = metricDef{"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", counter, []string{"interface"}}
	mFsInodesFree      = metricDef{"container_fs_inodes_free", "Number of available inodes.", gauge, []string{"device"}}
	mFsInodesTotal     = metricDef{"container_fs_inodes_total", "Number of inodes.", gauge, []string{"device"}}
	mFsLimit           = metricDef{"container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", gauge, []string{"device"}}
	mFsUsage           = metricDef{"container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", gauge, []string{"device"}}
	mFsReadBytes       = metricDef{"container_fs_reads_bytes_total", "Cumulative count of bytes read.", counter, []string{"device"}}
	mFsReads           = metricDef{"container_fs_reads_total", "Cumulative count of reads completed.", counter, []string{"device"}}
	mFsWriteBytes      = metricDef{"container_fs_writes_bytes_total", "Cumulative count of bytes written.", counter, []string{"device"}}
	mFsWrites          = metricDef{"container_fs_writes_total", "Cumulative count of writes completed.", counter, []string{"device"}}
	mBlkioUsage        = metricDef{"container_blkio_device_usage_total", "Blkio device bytes usage.", counter, []string{"device", "major", "minor", "operation"}}
	mProcesses         = metricDef{"container_processes", "Number of processes running inside the container.", gauge, nil}
	mFileDescriptors   = metricDef{"container_file_descriptors", "Number of open file descriptors for the container.", gauge, nil}
	mSockets           = metricDef{"container_sockets", "Number of open sockets for the container.", gauge, nil}
	mThreads           = metricDef{"container_threads", "Number of threads running inside the container.", gauge, nil}
	mThreadsMax        = metricDef{"container_threads_max", "Maximum number of threads allowed inside the container, infinity if value is zero.", gauge, nil}
	mLastSeen          = metricDef{"container_last_seen", "Last time the container was seen by the exporter (unix seconds).", gauge, nil}
	mStartTime         = metricDef{"container_start_time_seconds", "Start time of the container since unix epoch in seconds.", gauge, nil}
	mSpecCPUPeriod     = metricDef{"container_spec_cpu_period", "CPU period of the container (microseconds).", gauge, nil}
	mSpecCPUQuota      = metricDef{"container_spec_cpu_quota", "CPU quota of the container (microseconds; 0: none).", gauge, nil}
	mSpecCPUShares     = metricDef{"container_spec_cpu_shares", "CPU share of the container.", gauge, nil}
	mSpecMemLimit      = metricDef{"container_spec_memory_limit_bytes", "Memory limit for the container (0: none).", gauge, nil}
	mSpecMemSoftLimit  = metricDef{"container_spec_memory_reservation_limit_bytes", "Memory reservation limit for the container (0: none).", gauge, nil}
	mSpecMemSwapLimit  = metricDef{"container_spec_memory_swap_limit_bytes", "Memory swap limit for the container (0: none).", gauge, nil}
	metricDescriptions = []metricDef{
		mCPUUsage, mCPUUser, mCPUSystem, mCFSPeriods, mCFSThrottled, mCFSThrottledSecs,
		mMemCache, mMemRSS, mMemKernel, mMemMapped, mMemSwap, mMemFailcnt, mMemUsage, mMemMaxUsage,
		mMemWorkingSet, mMemActiveFile, mMemInactiveFile, mMemFailures, mOOMEvents,
		mNetRxBytes, mNetRxPackets, mNetRxDropped, mNetRxErrors, mNetTxBytes, mNetTxPackets, mNetTxDropped, mNetTxErrors,
		mFsInodesFree, mFsInodesTotal, mFsLimit, mFsUsage, mFsReadBytes, mFsReads, mFsWriteBytes, mFsWrites, mBlkioUsage,
		mProcesses, mFileDescriptors, mSockets, mThreads, mThreadsMax, mLastSeen, mStartTime,
		mSpecCPUPeriod, mSpecCPUQuota, mSpecCPUShares, mSpecMemLimit, mSpecMemSoftLimit, mSpecMemSwapLimit,
	}
)

func (d metricDef) descriptor() *runtimeapi.MetricDescriptor {
	return &runtimeapi.MetricDescriptor{Name: d.name, Help: d.help, LabelKeys: append(append([]string(nil), baseLabels...), d.labels...)}
}
