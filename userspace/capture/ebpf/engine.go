// Package ebpf is the live capture engine on flowjoy's kernel data path
// (bpf/flowjoy.c): it loads and attaches the programs, turns the kernel's
// samples into event.Packet and its per-flow counters into event.Counts,
// and keeps the kernel's flow map within bounds.
//
// The kernel copies the first NumPkts packets of each flow, and payload
// while the byte budget of its direction lasts (each direction of a flow
// has its own, as each TCP direction is reassembled with its own budget),
// into a ring buffer; it counts every
// other packet in a hash map. A packet is either sampled or counted, never
// both, so the flow table adds Packets and Counts without double counting.
// Counters are cumulative in the kernel; the engine reads them every
// SweepInterval and emits the deltas, and deletes an entry only when it
// has been idle (or the map is nearly full), taking its last values with
// the deletion so that no count is lost.
//
// Tunnels are not decapsulated in the kernel. Unless Config.NoDecap is
// set, tunnel packets (GRE, IP-in-IP, VXLAN, Geneve) are sent whole, with
// IP fragments, MPLS, PPPoE and packets whose headers the kernel finds
// malformed: userspace's decoder keys them.
package ebpf

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/flowjoy/flowjoy/bpf"
	"github.com/flowjoy/flowjoy/loader"
)

// Defaults for the zero Config.
const (
	DefaultNumPkts       = 50
	DefaultDistBytes     = 16 << 10
	DefaultMaxFlows      = 65536
	DefaultRingBytes     = 8 << 20
	DefaultIdleTimeout   = 10 * time.Second
	DefaultSweepInterval = time.Second
	DefaultPollInterval  = 20 * time.Millisecond
)

// maxBudgetOverrides bounds the payload-budget side map (an LRU map, so
// preallocated whole; see budget_overrides in bpf/flowjoy.c).
const maxBudgetOverrides = 65536

// AnyInterface as the only interface captures on all of them.
const AnyInterface = "any"

// Config configures the engine. The zero value of every field but
// Interfaces picks its default.
type Config struct {
	// Interfaces to capture on, in the calling thread's network namespace.
	// AnyInterface alone means every interface that is up there, loopback
	// included, and those that come up later (see loader.Options.Any).
	Interfaces []string
	// Notify hears, from another goroutine, of interfaces attached,
	// detached or skipped after Open (with AnyInterface).
	Notify func(msg string)
	// XDP captures ingress with XDP instead of TC (Ethernet devices).
	XDP bool
	// TC chooses tcx or clsact; the zero value prefers tcx.
	TC loader.TCMode
	// Filter is a tcpdump filter expression run in the kernel in front
	// of the programs (loader.Filter): packets it rejects are neither
	// counted nor sampled. Empty: every packet.
	Filter string

	// NumPkts is how many packets of each flow are sampled with their
	// headers (Joy's --num-pkts). 0 means DefaultNumPkts; negative, none.
	NumPkts int
	// DistBytes is the payload budget each direction of a flow starts
	// with, in bytes: what byte_dist and the protocol parsers may see of
	// that direction. SetPayloadBudget changes it per flow. 0 means
	// DefaultDistBytes; negative, none.
	DistBytes int
	// MaxFlows is the size of the kernel's flow map.
	MaxFlows int
	// RingBytes is the ring buffer size: a power of two, at least a page.
	RingBytes int
	// NoDecap keys tunnel packets by their outer header in the kernel, as
	// userspace does with decapsulation off.
	NoDecap bool

	// IdleTimeout is how long a kernel entry may see no packet before
	// it is deleted. Use the flow table's idle timeout.
	IdleTimeout time.Duration
	// SweepInterval is how often counters are read. Keep it below the
	// flow table's close grace time, so that the last packets of a closed
	// connection arrive before its record is written.
	SweepInterval time.Duration
	// PollInterval is how long the reader waits for samples after it last
	// found some (the kernel skips wakeups until the ring fills up). While
	// the ring stays empty the wait doubles, up to SweepInterval: every
	// sweep drains the ring anyway, and an idle engine then wakes about
	// once a sweep instead of 50 times a second.
	PollInterval time.Duration
}

func (c *Config) setDefaults() error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		} else if *v < 0 {
			*v = 0
		}
	}
	def(&c.NumPkts, DefaultNumPkts)
	def(&c.DistBytes, DefaultDistBytes)
	if c.MaxFlows <= 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	if c.RingBytes == 0 {
		c.RingBytes = DefaultRingBytes
	}
	if c.RingBytes < 4096 || c.RingBytes&(c.RingBytes-1) != 0 {
		return fmt.Errorf("ring buffer size %d: must be a power of two of at least 4096", c.RingBytes)
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if len(c.Interfaces) == 0 {
		return errors.New("no interface to capture on")
	}
	if len(c.Interfaces) > 1 && slices.Contains(c.Interfaces, AnyInterface) {
		return errors.New(`interface "any" already means every interface: give it alone`)
	}
	return nil
}

// tcObjects are the kernel objects every engine loads.
type tcObjects struct {
	Flows           *cebpf.Map      `ebpf:"flows"`
	BudgetOverrides *cebpf.Map      `ebpf:"budget_overrides"`
	Samples         *cebpf.Map      `ebpf:"samples"`
	Stats           *cebpf.Map      `ebpf:"stats"`
	Owners          *cebpf.Map      `ebpf:"fj_owners"`
	BudgetGen       *cebpf.Variable `ebpf:"budget_gen"`
	Ingress         *cebpf.Program  `ebpf:"fj_tc_ingress"`
	Egress          *cebpf.Program  `ebpf:"fj_tc_egress"`
	IngressL3       *cebpf.Program  `ebpf:"fj_tc_ingress_l3"`
	EgressL3        *cebpf.Program  `ebpf:"fj_tc_egress_l3"`
}

// objects adds the XDP program, loaded only when asked for, so that a
// kernel refusing it cannot stop the TC path.
type objects struct {
	tcObjects
	XDP *cebpf.Program `ebpf:"fj_xdp_ingress"`
}

func (o *objects) close() {
	for _, m := range []*cebpf.Map{o.Flows, o.BudgetOverrides, o.Samples, o.Stats, o.Owners} {
		if m != nil {
			m.Close()
		}
	}
	for _, p := range []*cebpf.Program{o.Ingress, o.Egress, o.IngressL3, o.EgressL3, o.XDP} {
		if p != nil {
			p.Close()
		}
	}
}

// Engine is a loaded and attached data path.
type Engine struct {
	cfg    Config
	objs   objects
	attach *loader.Attachment
	filter *loader.Filtered // nil without Config.Filter
	reader *ringbuf.Reader
	clock  clock

	running atomic.Bool
	closing atomic.Bool // Close has begun
	closed  atomic.Bool // the kernel objects are gone (Stats uses final)

	// Run's state; Expire shares it and must run on Run's goroutine.
	seen map[bpf.FlowjoyFjKey]flowSeen
	sweepBuf
	pkt     sampleScratch
	counted userCounters

	budgetMu sync.Mutex
	gen      uint32

	// statsMu keeps Close from freeing the stats map under a Stats call;
	// final holds the kernel's totals from the moment of Close.
	statsMu sync.Mutex
	final   bpf.FlowjoyFjStats
}

// Open probes the kernel, loads the programs with cfg's settings and
// attaches them to cfg.Interfaces. Errors name their cause; those meaning
// the engine cannot run on this machine wrap loader.ErrPermission,
// loader.ErrNoBTF or loader.ErrKernel and suggest --engine pcap.
func Open(cfg Config) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := loader.Probe(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, seen: make(map[bpf.FlowjoyFjKey]flowSeen)}
	if err := e.load(); err != nil {
		return nil, err
	}
	var err error
	if e.reader, err = ringbuf.NewReader(e.objs.Samples); err != nil {
		e.objs.close()
		return nil, fmt.Errorf("opening the sample ring buffer: %w", err)
	}
	progs := loader.Programs{
		Ingress: e.objs.Ingress, Egress: e.objs.Egress,
		IngressL3: e.objs.IngressL3, EgressL3: e.objs.EgressL3,
		XDP: e.objs.XDP,
	}
	if cfg.Filter != "" {
		if progs, e.filter, err = loader.Filter(progs, cfg.Filter); err != nil {
			e.reader.Close()
			e.objs.close()
			return nil, err
		}
	}
	e.attach, err = loader.Attach(progs, e.attachOptions())
	if err != nil {
		e.filter.Close()
		e.reader.Close()
		e.objs.close()
		return nil, err
	}
	e.clock.calibrate()
	return e, nil
}

func (e *Engine) attachOptions() loader.Options {
	opt := loader.Options{Interfaces: e.cfg.Interfaces, XDP: e.cfg.XDP, TC: e.cfg.TC, Notify: e.cfg.Notify}
	if len(opt.Interfaces) == 1 && opt.Interfaces[0] == AnyInterface {
		opt.Interfaces, opt.Any = nil, true
	}
	return opt
}

func (e *Engine) load() error {
	spec, err := bpf.LoadFlowjoy()
	if err != nil {
		return fmt.Errorf("reading the embedded eBPF object: %w", err)
	}
	wakeup := uint64(e.cfg.RingBytes / 4)
	tunnelsWhole := uint8(1)
	if e.cfg.NoDecap {
		tunnelsWhole = 0
	}
	for name, v := range map[string]any{
		bpf.FlowjoyVarNumPkts:      uint32(e.cfg.NumPkts),
		bpf.FlowjoyVarInitBudget:   int64(e.cfg.DistBytes),
		bpf.FlowjoyVarWakeupBytes:  wakeup,
		bpf.FlowjoyVarTunnelsWhole: tunnelsWhole,
	} {
		vs, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("eBPF object has no variable %q", name)
		}
		if err := vs.Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	spec.Maps[bpf.FlowjoyMapFlows].MaxEntries = uint32(e.cfg.MaxFlows)
	spec.Maps[bpf.FlowjoyMapBudgetOverrides].MaxEntries = uint32(min(e.cfg.MaxFlows, maxBudgetOverrides))
	spec.Maps[bpf.FlowjoyMapSamples].MaxEntries = uint32(e.cfg.RingBytes)

	var target any = &e.objs.tcObjects
	if e.cfg.XDP {
		target = &e.objs
	}
	if err := spec.LoadAndAssign(target, nil); err != nil {
		return fmt.Errorf("loading flowjoy's eBPF programs: %w", loader.Explain(err))
	}
	return nil
}

// Filtered says whether a filter expression runs in the kernel.
func (e *Engine) Filtered() bool { return e.filter != nil }

// OwnersMap is the socket-owner storage the egress programs read: process
// attribution (procmap) loads its hooks with this map, so that what they
// write is what the data path reads. Valid until Close.
func (e *Engine) OwnersMap() *cebpf.Map { return e.objs.Owners }

// Interfaces reports how each interface is attached now.
func (e *Engine) Interfaces() []loader.Interface { return e.attach.Interfaces() }

// InterfaceName names an interface index for records: the interface
// attached there, or the last one that was (its flows end after it went).
// Safe to call from any goroutine.
func (e *Engine) InterfaceName(ifindex uint32) string { return e.attach.Name(int(ifindex)) }

// Close detaches the programs and frees every kernel object. Stop Run
// first (cancel its context) to get the last counters; Close also makes
// a running Run return.
func (e *Engine) Close() error {
	if e.closing.Swap(true) {
		return nil
	}
	err := e.attach.Close()
	e.statsMu.Lock()
	e.final = e.readKernelStats()
	e.closed.Store(true)
	e.statsMu.Unlock()
	e.reader.Close()
	e.filter.Close()
	e.objs.close()
	return err
}
