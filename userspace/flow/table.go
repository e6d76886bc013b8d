package flow

import (
	"time"

	"github.com/flowjoy/flowjoy/userspace/decode"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// Config holds the table's policy. Zero durations mean "never".
type Config struct {
	// IdleTimeout ends a flow that saw no packet for this long (Joy: 10 s).
	IdleTimeout time.Duration
	// ActiveTimeout writes a record for a flow that has lasted this long
	// and goes on counting in a new record with the same ID (Joy: 30 s).
	ActiveTimeout time.Duration
	// CloseTimeout is how long a closed TCP flow (FIN both ways, or RST)
	// stays in the table so that its last ACKs are counted in it. It is
	// an idle timeout, so it never exceeds IdleTimeout; with IdleTimeout
	// 0 closed flows end only when the tuple is reused or input ends.
	CloseTimeout time.Duration
	// MaxFlows bounds the table; when full, the least recently seen flow
	// is written early with expire_type "o". 0 means DefaultMaxFlows.
	MaxFlows int
}

// Defaults, as Joy's where Joy has one.
const (
	DefaultIdleTimeout   = 10 * time.Second
	DefaultActiveTimeout = 30 * time.Second
	DefaultCloseTimeout  = 2 * time.Second
	DefaultMaxFlows      = 1_000_000
)

// DefaultConfig returns Joy's timeouts and the default table size.
func DefaultConfig() Config {
	return Config{
		IdleTimeout:   DefaultIdleTimeout,
		ActiveTimeout: DefaultActiveTimeout,
		CloseTimeout:  DefaultCloseTimeout,
		MaxFlows:      DefaultMaxFlows,
	}
}

// Handler receives the flow life cycle. The table calls it synchronously.
type Handler[S any] interface {
	// Begin is called once when a flow is created, before its first
	// packet.
	Begin(f *Flow[S])
	// Packet is called for every packet event after the counters were
	// updated; from is the sender's side.
	Packet(f *Flow[S], from Side, ev *event.Packet, p *decode.Packet)
	// End is called when a record of the flow is due. final is false for
	// an active-timeout split: the flow goes on and the Handler should
	// reset what belongs to one record only. After a final End the flow
	// is gone and f must not be kept.
	End(f *Flow[S], why ExpireType, final bool)
}

// Stats are the table's running totals.
type Stats struct {
	Flows          uint64 // flows created
	Records        uint64 // records handed to End
	Evicted        uint64 // flows ended early because the table was full
	Active         int    // flows in the table now
	FragmentsNoKey uint64 // non-first fragments whose first fragment was not seen
}

// Table is the flow table. It is not safe for concurrent use: one
// goroutine owns a table (sharding gives each core its own).
type Table[S any] struct {
	cfg     Config
	h       Handler[S]
	flows   map[flowkey.Key]*Flow[S]
	open    list[S] // by last packet time, flows not closing
	closing list[S] // by last packet time, flows that saw FIN both ways or RST
	starts  list[S] // by record start time, non-empty records
	now     int64   // latest packet time seen (ns)
	frags   Fragments
	stats   Stats
}

// NewTable returns an empty table.
func NewTable[S any](cfg Config, h Handler[S]) *Table[S] {
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	if cfg.IdleTimeout > 0 && (cfg.CloseTimeout <= 0 || cfg.CloseTimeout > cfg.IdleTimeout) {
		cfg.CloseTimeout = cfg.IdleTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.CloseTimeout = 0
	}
	t := &Table[S]{cfg: cfg, h: h, flows: make(map[flowkey.Key]*Flow[S])}
	t.open.links = func(f *Flow[S]) *link[S] { return &f.recency }
	t.closing.links = t.open.links
	t.starts.links = func(f *Flow[S]) *link[S] { return &f.starts }
	return t
}

// Stats returns the running totals.
func (t *Table[S]) Stats() Stats {
	s := t.stats
	s.Active = len(t.flows)
	return s
}

// Now returns the table's clock: the latest event time seen.
func (t *Table[S]) Now() int64 { return t.now }

// Packet accounts one decoded packet to its flow.
func (t *Table[S]) Packet(ev *event.Packet, p *decode.Packet) {
	ts := ev.Timestamp
	t.Advance(ts)

	key := p.Key
	if p.Fragment {
		key = t.frags.Resolve(p)
		if key.SrcPort == 0 && key.DstPort == 0 && p.FragOffset != 0 && flowkey.HasPorts(key.Proto) {
			t.stats.FragmentsNoKey++
		}
	}
	ck, from := key.Canonical()
	syn := key.Proto == flowkey.ProtoTCP && p.TransportOK && p.TCPFlags&decode.TCPSyn != 0
	pureSyn := syn && p.TCPFlags&decode.TCPAck == 0

	f := t.flows[ck]
	if f != nil && pureSyn && f.Closing() {
		// The tuple is being reused for a new connection.
		t.end(f, ExpireClosed)
		f = nil
	}
	if f == nil {
		f = t.create(ck, ts)
		f.Initiator = Side(from)
		if syn {
			f.initiatorKnown = true
			if !pureSyn {
				f.Initiator = Side(from).Other() // a SYN-ACK comes from the responder
			}
		}
	} else {
		if pureSyn && !f.initiatorKnown && f.Dir[0].Bytes+f.Dir[1].Bytes == 0 {
			// The first SYN decides, as long as no payload was seen (the
			// parsers were told directions already once there was).
			f.Initiator = Side(from)
			f.initiatorKnown = true
		}
		t.splitIfActiveExpired(f, ts)
	}

	t.touch(f, ts)
	side := Side(from)
	f.Dir[side].Packets += uint64(ev.SegmentCount())
	f.Dir[side].Bytes += uint64(p.PayloadLen)
	if key.Proto == flowkey.ProtoTCP && p.TransportOK {
		f.TCPFlags[side] |= p.TCPFlags
		t.noteClose(f, side, p.TCPFlags)
	}
	t.h.Packet(f, side, ev, p)
}

// Count adds packets an engine counted without delivering them.
func (t *Table[S]) Count(c *event.Counts) {
	if c.Packets == 0 && c.Lost == 0 {
		return
	}
	t.Advance(c.Last)
	ck, from := c.Key.Canonical()
	f := t.flows[ck]
	if f == nil {
		f = t.create(ck, c.First)
		f.Initiator = Side(from)
		if c.TCPFlags&decode.TCPSyn != 0 && c.TCPFlags&decode.TCPAck == 0 {
			f.initiatorKnown = true
		}
	} else {
		t.splitIfActiveExpired(f, c.First)
	}
	side := Side(from)
	if f.Empty() {
		t.touch(f, c.First)
	}
	t.touch(f, c.Last)
	f.Dir[side].Packets += c.Packets
	f.Dir[side].Bytes += c.Bytes
	f.Lost += c.Lost
	f.TCPFlags[side] |= c.TCPFlags
	t.noteClose(f, side, c.TCPFlags)
}

func (t *Table[S]) create(ck flowkey.Key, ts int64) *Flow[S] {
	if len(t.flows) >= t.cfg.MaxFlows {
		t.evictOne()
	}
	f := &Flow[S]{Key: ck, ID: flowID(&ck, ts)}
	t.flows[ck] = f
	t.stats.Flows++
	f.inList = &t.open
	t.open.pushBack(f)
	t.h.Begin(f)
	return f
}

// touch records a packet time on the flow and keeps the lists ordered.
func (t *Table[S]) touch(f *Flow[S], ts int64) {
	if f.Empty() {
		f.Start, f.End, f.hasPackets = ts, ts, true
		t.starts.pushBack(f)
	} else if ts > f.End {
		// A capture's timestamps can go backwards; time_start stays the
		// first packet's time and time_end the latest seen.
		f.End = ts
	}
	f.inList.moveToBack(f)
}

func (t *Table[S]) noteClose(f *Flow[S], side Side, flags uint8) {
	was := f.Closing()
	if flags&decode.TCPFin != 0 {
		f.finSeen[side] = true
	}
	if flags&decode.TCPRst != 0 {
		f.rstSeen = true
	}
	if !was && f.Closing() {
		f.inList.remove(f)
		f.inList = &t.closing
		t.closing.pushBack(f)
	}
}

func (t *Table[S]) splitIfActiveExpired(f *Flow[S], ts int64) {
	if t.cfg.ActiveTimeout > 0 && !f.Empty() && ts-f.Start >= int64(t.cfg.ActiveTimeout) {
		t.split(f)
	}
}

// split writes the current record of a long-lived flow and starts the next.
func (t *Table[S]) split(f *Flow[S]) {
	t.stats.Records++
	t.h.End(f, ExpireActive, false)
	f.Records++
	t.starts.remove(f)
	f.Start, f.End, f.hasPackets = 0, 0, false
	f.Dir = [2]Counters{}
	f.TCPFlags = [2]uint8{}
	f.Lost = 0
}

// end writes the flow's last record and removes it.
func (t *Table[S]) end(f *Flow[S], why ExpireType) {
	delete(t.flows, f.Key)
	f.inList.remove(f)
	if !f.Empty() {
		t.starts.remove(f)
	}
	if f.Empty() && f.Records > 0 {
		// Everything was already written by an active-timeout split.
		return
	}
	t.stats.Records++
	t.h.End(f, why, true)
}

func (t *Table[S]) evictOne() {
	victim := t.closing.head
	if victim == nil {
		victim = t.open.head
	}
	if victim != nil {
		t.stats.Evicted++
		t.end(victim, ExpireEvicted)
	}
}

// Advance moves the table's clock to now (if later) and ends the flows
// whose timeouts have passed. File engines call it through Packet; live
// engines also call it on a timer so that quiet flows end on time.
func (t *Table[S]) Advance(now int64) {
	if now <= t.now {
		return
	}
	t.now = now
	if d := int64(t.cfg.CloseTimeout); d > 0 {
		for f := t.closing.head; f != nil && now-f.End >= d; f = t.closing.head {
			t.end(f, ExpireClosed)
		}
	}
	if d := int64(t.cfg.IdleTimeout); d > 0 {
		for f := t.open.head; f != nil && now-f.End >= d; f = t.open.head {
			t.end(f, ExpireIdle)
		}
	}
	if d := int64(t.cfg.ActiveTimeout); d > 0 {
		for f := t.starts.head; f != nil && now-f.Start >= d; f = t.starts.head {
			t.split(f)
		}
	}
}

// Flush ends every flow with the given reason (ExpireEnd at end of input
// or shutdown), oldest first.
func (t *Table[S]) Flush(why ExpireType) {
	for _, l := range []*list[S]{&t.closing, &t.open} {
		for f := l.head; f != nil; f = l.head {
			t.end(f, why)
		}
	}
}

// flowID derives a record-stable flow id from the canonical key and the
// flow's first time (FNV-1a, 64 bits): deterministic for a given input,
// so runs over the same capture give the same ids.
func flowID(k *flowkey.Key, ts int64) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(b byte) { h ^= uint64(b); h *= prime }
	for _, b := range k.Src {
		mix(b)
	}
	for _, b := range k.Dst {
		mix(b)
	}
	for _, v := range [...]uint64{uint64(k.SrcPort), uint64(k.DstPort), uint64(k.Proto), uint64(k.VLAN), uint64(k.IfIndex), uint64(ts)} {
		for i := 0; i < 8; i++ {
			mix(byte(v >> (8 * i)))
		}
	}
	return h
}

// Evict ends the flow of key (either direction) early with expire_type
// "o": an engine whose own table is full (the kernel's flow map) dropped
// it, so its counts from here on would start a new flow.
func (t *Table[S]) Evict(key flowkey.Key) {
	ck, _ := key.Canonical()
	if f := t.flows[ck]; f != nil {
		t.stats.Evicted++
		t.end(f, ExpireEvicted)
	}
}
