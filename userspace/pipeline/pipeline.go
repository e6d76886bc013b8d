// Package pipeline joins the stages after an engine: it decodes each
// packet event, keys it into the flow table, runs the feature extractors
// and protocol parsers of its flow, and writes each finished record to the
// sink. Every engine (files, libpcap, eBPF) feeds the same Pipeline, which
// is why their records are the same.
package pipeline

import (
	"errors"

	"github.com/flowjoy/flowjoy/userspace/decode"
	"github.com/flowjoy/flowjoy/userspace/dissect"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/features"
	"github.com/flowjoy/flowjoy/userspace/flow"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
	"github.com/flowjoy/flowjoy/userspace/record"
	"github.com/flowjoy/flowjoy/userspace/sink"
)

// Config is everything the stages after the engine need.
type Config struct {
	Flow     flow.Config
	Features features.Config
	Dissect  dissect.Config
	// NoDecap keys tunnelled packets by their outer headers.
	NoDecap bool
	// InterfaceName names an interface index in records (live engines);
	// nil for files.
	InterfaceName func(ifindex uint32) string
	// PayloadDone, when set, is told once per flow that nothing more of
	// its payload is needed: the packets list is full, byte_dist has its
	// --dist-bytes, the first data packets are kept and the parsers are
	// done. The eBPF engine then stops copying the flow's payload.
	PayloadDone func(key flowkey.Key)
	// Attribution names the processes behind local flows (procmap); nil
	// means none, and records have no exe objects.
	Attribution Attribution
}

// Attribution is how the pipeline learns which process owned each side
// of a flow. The eBPF engine carries the owner of a locally sent packet in
// the event; other engines ask Lookup once per side. Describe runs when a
// record is written, so a process that has exited since still has a name.
type Attribution interface {
	// Lookup returns the owner (process id) of the local socket that sent
	// a packet with this key (Src = sender), 0 if none, and whether the
	// sender is local at all. Called at most once per side of a flow,
	// and only when the engine's event has no owner.
	Lookup(key flowkey.Key, at int64) (owner uint32, local bool)
	// Describe fills e with the process owner as it was at time at (ns
	// since the epoch), or returns false when it is unknown.
	Describe(owner uint32, at int64, e *record.Exe) bool
}

// Stats count what the pipeline saw.
type Stats struct {
	Packets   uint64 // packet events received
	NotIP     uint64 // frames without an IP packet (ARP, LLDP, …)
	Malformed uint64 // frames the decoder rejected
	Truncated uint64 // frames cut before the IP header ended
	Unknown   uint64 // frames of a link type we do not decode
	Flow      flow.Stats
	Dissect   dissect.Stats
	// LocalFlows are flows (counted once, when they end) with a packet
	// sent by a socket on this host; AttributedFlows are those of them
	// with a known owner process. Zero without Attribution.
	LocalFlows      uint64
	AttributedFlows uint64
}

// state is what the pipeline keeps per flow. The dissection state is
// allocated only for a TCP or UDP flow when a parser is enabled, so a
// basic flow does not carry it.
type state struct {
	features    features.Flow
	dissect     *dissect.Flow
	payloadDone bool // PayloadDone was called
	// Attribution only: a side is a local socket; each side's owner
	// was looked for; each side's owning process, 0 if unknown.
	local  bool
	looked [2]bool
	owner  [2]uint32
}

// noDissect stands for the dissection state of a flow that has none: it
// saw no packet a parser could take. Read only.
var noDissect dissect.Flow

func (st *state) dissection() *dissect.Flow {
	if st.dissect == nil {
		return &noDissect
	}
	return st.dissect
}

// Pipeline is not safe for concurrent use; an engine calls it from one
// goroutine.
type Pipeline struct {
	cfg       Config
	anyParser bool // cfg.Dissect.Any()
	decoder   decode.Decoder
	pkt       decode.Packet
	table     *flow.Table[state]
	enc       *record.Encoder
	line      []byte
	rec       record.Record
	community [flowkey.CommunityIDLen]byte // rec.Community's storage
	// What ended flows allocated, for the flows that start later.
	pool        features.Pool
	dissectPool dissect.Pool
	dissects    []*dissect.Flow
	exe         [2]record.Exe // the record's exe and peer_exe, reused
	out         sink.Sink
	err         error // first sink error; the pipeline stops writing after it
	stats       Stats
}

// New returns a pipeline writing records to out.
func New(cfg Config, out sink.Sink) *Pipeline {
	p := &Pipeline{cfg: cfg, anyParser: cfg.Dissect.Any(), out: out, enc: record.NewEncoder()}
	p.decoder.NoDecap = cfg.NoDecap
	p.table = flow.NewTable[state](cfg.Flow, (*handler)(p))
	return p
}

// Packet processes one packet event.
func (p *Pipeline) Packet(ev *event.Packet) {
	p.stats.Packets++
	if err := p.decoder.Decode(ev.LinkType, ev.Data, &p.pkt); err != nil {
		switch {
		case errors.Is(err, decode.ErrNotIP):
			p.stats.NotIP++
		case errors.Is(err, decode.ErrUnsupportedLink):
			p.stats.Unknown++
		case errors.Is(err, decode.ErrTruncated):
			p.stats.Truncated++
		default:
			p.stats.Malformed++
		}
		return
	}
	p.pkt.Key.IfIndex = ev.IfIndex
	p.table.Packet(ev, &p.pkt)
}

// Counts adds packets the engine counted without delivering them.
func (p *Pipeline) Counts(c *event.Counts) { p.table.Count(c) }

// Tick advances the flow clock to now (ns) so that idle flows end while
// no packet arrives (live engines call it periodically).
func (p *Pipeline) Tick(now int64) { p.table.Advance(now) }

// Finish ends every flow (end of input, or shutdown) and flushes the sink.
// It returns the first error writing records, if any.
func (p *Pipeline) Finish() error {
	p.table.Flush(flow.ExpireEnd)
	if err := p.out.Flush(); err != nil && p.err == nil {
		p.err = err
	}
	return p.err
}

// Flush makes the records written so far visible.
func (p *Pipeline) Flush() error {
	if err := p.out.Flush(); err != nil && p.err == nil {
		p.err = err
	}
	return p.err
}

// Stats returns the running totals.
func (p *Pipeline) Stats() Stats {
	s := p.stats
	s.Flow = p.table.Stats()
	s.Dissect = dissect.StatsSnapshot()
	return s
}

// handler is the Pipeline seen as the flow table's Handler.
type handler Pipeline

func (h *handler) Begin(f *flow.Flow[state]) {}

func (h *handler) Packet(f *flow.Flow[state], from flow.Side, ev *event.Packet, d *decode.Packet) {
	st := &f.State
	st.features.AddPooled(&h.cfg.Features, &h.pool, uint8(from), ev.Timestamp, d)
	if from == f.Initiator && d.Key.Proto == flowkey.ProtoTCP && d.TransportOK {
		st.features.NoteFirstSeq(d.Seq)
	}
	dir := dissect.Out
	if from != f.Initiator {
		dir = dissect.In
	}
	if h.anyParser && d.TransportOK && (d.Key.Proto == flowkey.ProtoTCP || d.Key.Proto == flowkey.ProtoUDP) {
		if st.dissect == nil {
			st.dissect = h.newDissect()
		}
		st.dissect.Packet(&h.cfg.Dissect, &h.dissectPool, dir, ev.Timestamp, d)
	}
	if a := h.cfg.Attribution; a != nil && st.owner[from] == 0 {
		h.noteOwner(a, st, from, ev, d)
	}
	if h.cfg.PayloadDone != nil && !st.payloadDone && d.PayloadLen > 0 && h.needsNoPayload(st) {
		st.payloadDone = true
		h.cfg.PayloadDone(f.Key)
	}
}

// noteOwner keeps the first owner seen for a side: from the event (eBPF
// egress), else from one Lookup per side.
func (h *handler) noteOwner(a Attribution, st *state, from flow.Side, ev *event.Packet, d *decode.Packet) {
	owner, local := ev.Owner, ev.Local
	if owner == 0 && !st.looked[from] {
		st.looked[from] = true
		var l bool
		owner, l = a.Lookup(d.Key, ev.Timestamp)
		local = local || l
	}
	st.owner[from] = owner
	st.local = st.local || local || owner != 0
}

// needsNoPayload reports whether every consumer of a flow's payload has
// what it wants.
func (h *handler) needsNoPayload(st *state) bool {
	fc := &h.cfg.Features
	fe := &st.features
	if fe.NumPackets() < fc.NumPkts {
		return false
	}
	if fc.ByteDist && (fc.DistBytes < 0 || fe.Dist == nil || fe.Dist.Bytes < uint64(fc.DistBytes)) {
		return false
	}
	if fc.IDPBytes > 0 && (fe.IDP(0) == nil || fe.IDP(1) == nil) {
		return false
	}
	return st.dissection().Done(&h.cfg.Dissect)
}

func (h *handler) End(f *flow.Flow[state], why flow.ExpireType, final bool) {
	p := (*Pipeline)(h)
	st := &f.State
	r := &p.rec
	*r = record.Record{
		Key:       f.Key,
		Out:       f.Initiator,
		ID:        f.ID,
		Start:     f.Start,
		End:       f.End,
		Dir:       f.Dir,
		TCPFlags:  f.TCPFlags,
		Lost:      f.Lost,
		Expire:    why,
		Features:  &st.features,
		Protocols: r.Protocols[:0],
	}
	r.Community = appendCommunityID(p.community[:0], f)
	if p.cfg.InterfaceName != nil {
		r.Interface = p.cfg.InterfaceName(f.Key.IfIndex)
	}
	if a := p.cfg.Attribution; a != nil {
		p.describe(a, f, final)
	}
	if st.dissect != nil {
		if final {
			st.dissect.Close()
		}
		r.Protocols = st.dissect.Report(r.Protocols, final)
	}
	if p.err == nil {
		var err error
		p.line, err = p.enc.Append(p.line[:0], r)
		if err == nil {
			err = p.out.Write(p.line)
		}
		p.err = err
	}
	if final {
		// The flow is gone: what it allocated goes to the next flows.
		st.features.Release(&p.pool)
		if st.dissect != nil {
			st.dissect.Release(&p.dissectPool)
			if len(p.dissects) < maxPooledDissect {
				p.dissects = append(p.dissects, st.dissect)
			}
		}
		st.dissect = nil
	} else {
		st.features.Reset()
	}
}

// describe sets the record's exe (sa side) and peer_exe (da side) and
// counts local flows once, at their last record.
func (p *Pipeline) describe(a Attribution, f *flow.Flow[state], final bool) {
	st, r := &f.State, &p.rec
	for i, e := range []*record.Exe{&p.exe[0], &p.exe[1]} {
		side := f.Initiator
		if i == 1 {
			side = side.Other()
		}
		if o := st.owner[side]; o != 0 {
			*e = record.Exe{}
			if a.Describe(o, f.Start, e) {
				if i == 0 {
					r.Exe = e
				} else {
					r.PeerExe = e
				}
			}
		}
	}
	if final && st.local {
		p.stats.LocalFlows++
		if r.Exe != nil || r.PeerExe != nil {
			p.stats.AttributedFlows++
		}
	}
}

// maxPooledDissect bounds the dissection states kept for reuse.
const maxPooledDissect = 1 << 12

// newDissect returns a zeroed dissection state, reused if one is kept.
func (h *handler) newDissect() *dissect.Flow {
	if n := len(h.dissects); n > 0 {
		d := h.dissects[n-1]
		h.dissects = h.dissects[:n-1]
		return d
	}
	return new(dissect.Flow)
}

func appendCommunityID(dst []byte, f *flow.Flow[state]) []byte {
	k := f.Key
	if f.Initiator == 1 {
		k = k.Reverse()
	}
	icmp := &f.State.features.ICMP
	return flowkey.AppendCommunityID(dst, k, icmp.Type, icmp.Code, 0)
}

// Evicted ends a flow the engine had to drop early (expire_type "o").
func (p *Pipeline) Evicted(key flowkey.Key) { p.table.Evict(key) }
