package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/flowjoy/flowjoy/loader"
	"github.com/flowjoy/flowjoy/userspace/capture/ebpf"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
	"github.com/flowjoy/flowjoy/userspace/reassembly"
)

// openEBPF loads and attaches the kernel data path on c.interfaces, in
// this process's network namespace. With -i any it follows the
// namespace's interfaces, and says on stderr when one is attached later,
// detached or skipped.
//
// The kernel copies payload of each direction of a flow while that
// direction's budget lasts, until the pipeline says it needs no more
// (PayloadDone); see kernelBudget for what each direction starts with.
// The budgets are per direction, as reassembly's are, so a parser that
// needs bytes of one direction after the other carried a large transfer
// (a client's close_notify after a download) sees them as it would in a
// capture file.
//
// A filter expression runs in the kernel, in front of the data path
// (loader.Filter): packets it rejects cost the kernel the filter only.
func openEBPF(c *config, stderr io.Writer) (liveEngine, error) {
	dist := c.distBytes.n
	if !c.distBytes.set {
		dist = ebpf.DefaultDistBytes
	}
	eng, err := ebpf.Open(ebpf.Config{
		Interfaces:  c.interfaces,
		XDP:         c.xdp,
		Filter:      c.filter,
		NumPkts:     c.numPkts,
		DistBytes:   kernelBudget(c, dist),
		MaxFlows:    c.maxFlows,
		NoDecap:     !c.decap,
		IdleTimeout: c.idleTimeout.d,
		Notify:      func(msg string) { fmt.Fprintf(stderr, "flowjoy: %s\n", msg) },
	})
	if err != nil {
		return nil, err
	}
	c.distBytes.n = dist // byte_dist covers what the kernel was told
	return &ebpfEngine{Engine: eng, any: isAny(c.interfaces)}, nil
}

// kernelBudget is the payload budget each direction of a flow starts with
// in the kernel: the largest of --dist-bytes (default
// ebpf.DefaultDistBytes here, and then byte_dist covers that much: the
// first dist bytes of the flow hold at most dist of either direction),
// what the parsers may read of one direction (their reassembly budget,
// which is per direction too, so no factor for the two directions) and
// --num-pkts full packets (for the "packets" list).
//
// The kernel's budget counts payload on the wire and reassembly's counts
// stream bytes, so a retransmission inside the budget costs the kernel
// bytes that reassembly does not count: on a lossy path a parser may then
// see up to that many fewer bytes of the direction than in a capture.
func kernelBudget(c *config, dist int64) int {
	if dist < 0 {
		return math.MaxInt64 >> 1 // --dist-bytes all: every byte
	}
	budget := dist
	// The "packets" list wants the first --num-pkts packets with payload,
	// but the kernel sends headers only for the first --num-pkts packets
	// of either kind (ACKs too); later ones go up only while the budget
	// lasts. So the budget covers --num-pkts full packets.
	budget = max(budget, int64(c.numPkts)*int64(maxMTU(c.interfaces)))
	if c.featureSet == "all" && (*c.protocols["tls"] || *c.protocols["http"] || *c.protocols["ssh"] ||
		*c.protocols["dns"] || *c.protocols["quic"] || *c.protocols["dhcp"]) {
		perDir := int64(c.payloadBytes)
		if perDir <= 0 {
			perDir = reassembly.DefaultBudget
		}
		perDir = min(perDir, reassembly.MaxBudget)
		budget = max(budget, perDir)
	}
	if budget == 0 {
		return -1 // ebpf.Config: negative means none
	}
	return int(budget)
}

// maxMTU is the largest MTU of the interfaces (1500 if none is known);
// for -i any, of every interface there now.
func maxMTU(names []string) int {
	m := 1500
	if isAny(names) {
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			m = max(m, i.MTU)
		}
		return m
	}
	for _, n := range names {
		if i, err := net.InterfaceByName(n); err == nil {
			m = max(m, i.MTU)
		}
	}
	return m
}

// isAny says whether -i names every interface.
func isAny(names []string) bool { return len(names) == 1 && names[0] == ebpf.AnyInterface }

// ebpfEngine adapts the eBPF engine to runLive.
type ebpfEngine struct {
	*ebpf.Engine
	any            bool
	budgetFailures atomic.Uint64
}

func (e *ebpfEngine) Run(ctx context.Context, h eventHandler, lock *sync.Mutex) error {
	return e.Engine.Run(ctx, &lockedHandler{h: h, lock: lock})
}

func (e *ebpfEngine) Describe() string {
	var parts []string
	for _, i := range e.Interfaces() {
		in := string(i.Ingress)
		if in == "" {
			in = "none"
		}
		parts = append(parts, fmt.Sprintf("%s (eBPF: ingress %s, egress %s)", i.Name, in, i.Egress))
	}
	d := strings.Join(parts, ", ")
	if e.any {
		d = "any interface that is up, now and later: " + d
	}
	if e.Filtered() {
		d += ", filter in kernel"
	}
	return d
}

// PayloadDone sets the flow's kernel payload budget to 0: from now on the
// flow costs the kernel one map update per packet. A failure (the side
// map is full) only means the kernel keeps copying until its own budget
// runs out; it is counted.
func (e *ebpfEngine) PayloadDone(key flowkey.Key) {
	if e.SetPayloadBudget(key, 0) != nil {
		e.budgetFailures.Add(1)
	}
}

func (e *ebpfEngine) Stats() map[string]uint64 {
	s := e.Engine.Stats()
	return map[string]uint64{
		"kernel_packets":    s.KernelPackets,
		"budget_failures":   e.budgetFailures.Load(),
		"kernel_not_ip":     s.NotIP,
		"samples_written":   s.SamplesWritten,
		"sample_bytes":      s.SampleBytes,
		"samples_lost":      s.SamplesLost,
		"unkeyed_samples":   s.UnkeyedSamples,
		"insert_failures":   s.InsertFailures,
		"samples_delivered": s.SamplesDelivered,
		"bad_samples":       s.BadSamples,
		"flows_in_map":      uint64(max(s.FlowsInMap, 0)),
		"flows_idle":        s.FlowsIdle,
		"flows_evicted":     s.FlowsEvicted,
	}
}

func (e *ebpfEngine) Close() { e.Engine.Close() }

// lockedHandler is the pipeline as the eBPF engine's handler: every call
// takes the lock that runLive's timer shares, and the engine's ticks and
// evictions reach the pipeline too.
type lockedHandler struct {
	h    eventHandler
	lock *sync.Mutex
}

func (l *lockedHandler) Packet(p *event.Packet) {
	l.lock.Lock()
	l.h.Packet(p)
	l.lock.Unlock()
}

func (l *lockedHandler) Counts(c *event.Counts) {
	l.lock.Lock()
	l.h.Counts(c)
	l.lock.Unlock()
}

func (l *lockedHandler) Tick(now int64) {
	if t, ok := l.h.(ebpf.TickHandler); ok {
		l.lock.Lock()
		t.Tick(now)
		l.lock.Unlock()
	}
}

func (l *lockedHandler) Evicted(key flowkey.Key) {
	if ev, ok := l.h.(ebpf.EvictHandler); ok {
		l.lock.Lock()
		ev.Evicted(key)
		l.lock.Unlock()
	}
}

// cleanupLeftovers removes the TC filters of flowjoy processes that are
// gone (a SIGKILL leaves clsact filters; tcx and XDP links die with the
// process), in this network namespace, and says what it removed.
func cleanupLeftovers(w io.Writer) error {
	removed, err := loader.Cleanup()
	for _, r := range removed {
		fmt.Fprintf(w, "flowjoy: removed %s\n", r)
	}
	if err != nil {
		return fmt.Errorf("--cleanup: %w", err)
	}
	if len(removed) == 0 {
		fmt.Fprintln(w, "flowjoy: nothing left behind to remove")
	} else {
		fmt.Fprintf(w, "flowjoy: removed %d leftover filter(s)\n", len(removed))
	}
	return nil
}
