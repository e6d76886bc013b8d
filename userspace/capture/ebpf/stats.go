package ebpf

import (
	"sync/atomic"

	"github.com/flowjoy/flowjoy/bpf"
)

// Stats are the engine's totals since Open.
type Stats struct {
	// From the kernel (summed over CPUs).
	KernelPackets  uint64 `json:"kernel_packets"`  // wire packets the programs saw
	NotIP          uint64 `json:"not_ip"`          // of which not IP (ARP, LLDP, ...), ignored
	SamplesWritten uint64 `json:"samples_written"` // samples put in the ring buffer
	SampleBytes    uint64 `json:"sample_bytes"`    // packet bytes in them
	SamplesLost    uint64 `json:"samples_lost"`    // samples the full ring buffer refused (the packets were counted)
	UnkeyedSamples uint64 `json:"unkeyed_samples"` // whole packets the kernel did not key (fragments, tunnels, ...)
	InsertFailures uint64 `json:"insert_failures"` // packets of new flows that found the flow map full
	// From userspace.
	SamplesDelivered uint64 `json:"samples_delivered"` // samples read and handed on
	BadSamples       uint64 `json:"bad_samples"`       // records that did not decode (a bug if not 0)
	FlowsInMap       int64  `json:"flows_in_map"`      // kernel entries at the last sweep
	FlowsIdle        uint64 `json:"flows_idle"`        // entries deleted after IdleTimeout
	FlowsEvicted     uint64 `json:"flows_evicted"`     // entries deleted early because the map was nearly full
}

// userCounters are the userspace half of Stats.
type userCounters struct {
	delivered, bad, idle, evicted atomic.Uint64
	inMap                         atomic.Int64
	lastInsertFail                uint64 // Run's goroutine only
}

// Stats returns the totals. It is safe to call from any goroutine while
// Run runs (e.g. on SIGUSR1).
func (e *Engine) Stats() Stats {
	k := e.kernelStats()
	return Stats{
		KernelPackets:    k.Packets,
		NotIP:            k.NotIp,
		SamplesWritten:   k.Samples,
		SampleBytes:      k.SampleBytes,
		SamplesLost:      k.RbFail,
		UnkeyedSamples:   k.Unkeyed,
		InsertFailures:   k.InsertFail,
		SamplesDelivered: e.counted.delivered.Load(),
		BadSamples:       e.counted.bad.Load(),
		FlowsInMap:       e.counted.inMap.Load(),
		FlowsIdle:        e.counted.idle.Load(),
		FlowsEvicted:     e.counted.evicted.Load(),
	}
}

// kernelStats sums the per-CPU counters; after Close, it returns their
// values at Close.
func (e *Engine) kernelStats() bpf.FlowjoyFjStats {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	if e.closed.Load() {
		return e.final
	}
	return e.readKernelStats()
}

func (e *Engine) readKernelStats() bpf.FlowjoyFjStats {
	var sum bpf.FlowjoyFjStats
	var perCPU []bpf.FlowjoyFjStats
	if err := e.objs.Stats.Lookup(uint32(0), &perCPU); err != nil {
		return sum
	}
	for _, s := range perCPU {
		sum.Packets += s.Packets
		sum.Samples += s.Samples
		sum.SampleBytes += s.SampleBytes
		sum.RbFail += s.RbFail
		sum.InsertFail += s.InsertFail
		sum.NotIp += s.NotIp
		sum.Unkeyed += s.Unkeyed
	}
	return sum
}
