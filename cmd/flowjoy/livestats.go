package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/flowjoy/flowjoy/userspace/pipeline"
)

// liveStats is the live summary: the pipeline's counters and the engine's.
type liveStats struct {
	Packets   uint64            `json:"packets"`
	NotIP     uint64            `json:"not_ip"`
	Malformed uint64            `json:"malformed"`
	Truncated uint64            `json:"truncated"`
	Flows     uint64            `json:"flows"`
	Records   uint64            `json:"records"`
	Evicted   uint64            `json:"evicted"`
	Active    int               `json:"active_flows"`
	Engine    map[string]uint64 `json:"engine"`
	// Attribution is absent when it is off.
	Attribution *attributionStats `json:"attribution,omitempty"`
	Seconds     float64           `json:"seconds"`
}

func newLiveStats(p pipeline.Stats, engine map[string]uint64, attr *attributionStats, elapsed time.Duration) *liveStats {
	return &liveStats{Packets: p.Packets, NotIP: p.NotIP, Malformed: p.Malformed, Truncated: p.Truncated,
		Flows: p.Flow.Flows, Records: p.Flow.Records, Evicted: p.Flow.Evicted, Active: p.Flow.Active,
		Engine: engine, Attribution: attr, Seconds: elapsed.Seconds()}
}

func (s *liveStats) print(w io.Writer, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(s)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "flowjoy: %d packets (%d not IP, %d malformed, %d truncated), %d flows, %d records, %d evicted, %d active, %.1fs",
		s.Packets, s.NotIP, s.Malformed, s.Truncated, s.Flows, s.Records, s.Evicted, s.Active, s.Seconds)
	keys := make([]string, 0, len(s.Engine))
	for k := range s.Engine {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, ", %s %d", k, s.Engine[k])
	}
	if a := s.Attribution; a != nil {
		fmt.Fprintf(w, ", %d of %d local flows attributed (%d processes known, %d process events, %d owners unknown)",
			a.AttributedFlows, a.LocalFlows, a.Processes, a.Events, a.Unknown)
	}
	fmt.Fprintln(w)
}
