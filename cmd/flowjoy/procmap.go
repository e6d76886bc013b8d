package main

import (
	"fmt"
	"io"

	"github.com/flowjoy/flowjoy/procmap"
	"github.com/flowjoy/flowjoy/userspace/pipeline"
)

// attribution is process attribution as runLive uses it.
type attribution interface {
	pipeline.Attribution
	Stats() procmap.Stats
	Close() error
}

// openAttribution starts process attribution for eng, or returns nil
// (--no-procmap, or it cannot run here: a note says why, and the capture
// goes on without exe objects). The eBPF engine attributes in the kernel;
// libpcap falls back to /proc snapshots.
func openAttribution(c *config, eng liveEngine, stderr io.Writer) attribution {
	if !c.procmap {
		return nil
	}
	warn := func(s string) { fmt.Fprintf(stderr, "flowjoy: process attribution: %s\n", s) }
	if e, ok := eng.(*ebpfEngine); ok {
		a, err := procmap.Open(procmap.Config{Owners: e.OwnersMap(), Cgroup: c.cgroup, ExeHash: c.exeHash, Warn: warn})
		if err != nil {
			fmt.Fprintf(stderr, "flowjoy: process attribution unavailable (%v); records have no exe (--no-procmap silences this)\n", err)
			return nil
		}
		return a
	}
	if c.cgroup != "" {
		warn("--cgroup applies to the eBPF engine only; libpcap looks sockets up in /proc")
	}
	return procmap.NewProcAttributor(c.exeHash)
}

// attributionStats is the summary's part about attribution.
type attributionStats struct {
	LocalFlows      uint64 `json:"local_flows"`
	AttributedFlows uint64 `json:"attributed_flows"`
	Processes       int    `json:"processes_known"`
	Events          uint64 `json:"process_events"`
	SocketsSeeded   uint64 `json:"sockets_seeded"`
	ProcReads       uint64 `json:"proc_reads"`
	Unknown         uint64 `json:"unknown_owners"`
}

func newAttributionStats(p pipeline.Stats, a attribution) *attributionStats {
	if a == nil {
		return nil
	}
	s := a.Stats()
	return &attributionStats{LocalFlows: p.LocalFlows, AttributedFlows: p.AttributedFlows,
		Processes: s.Processes, Events: s.Events, SocketsSeeded: s.Sockets, ProcReads: s.ProcReads, Unknown: s.Unknown}
}
