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
	slab    slab[S]
	index   index
	open    list  // by last packet time, flows not closing
	closing list  // by last packet time, flows that saw FIN both ways or RST
	starts  list  // by record start time, non-empty records
	now     int64 // latest packet time seen (ns)
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
	t := &Table[S]{cfg: cfg, h: h}
	t.starts.starts = true
	// At most MaxFlows flows are in the slab at once, so refs stay at or
	// below it.
	t.index.tagged = cfg.MaxFlows <= refMask
	return t
}

// Stats returns the running totals.
func (t *Table[S]) Stats() Stats {
	s := t.stats
	s.Active = t.index.n
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

	f := t.lookup(&ck)
	if f != nil && pureSyn && f.Closing() {
		// The tuple is being reused for a new connection.
		t.end(f, ExpireClosed)
		f = nil
	}
	if f == nil {
		f = t.create(ck, ts)
		f.Initiator = Side(from)
		if syn {
			f.set(bitInitiatorKnown)
			if !pureSyn {
				f.Initiator = Side(from).Other() // a SYN-ACK comes from the responder
			}
		}
	} else {
		if pureSyn && !f.has(bitInitiatorKnown) && f.Dir[0].Bytes+f.Dir[1].Bytes == 0 {
			// The first SYN decides, as long as no payload was seen (the
			// parsers were told directions already once there was).
			f.Initiator = Side(from)
			f.set(bitInitiatorKnown)
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
	f := t.lookup(&ck)
	if f == nil {
		f = t.create(ck, c.First)
		f.Initiator = Side(from)
		if c.TCPFlags&decode.TCPSyn != 0 && c.TCPFlags&decode.TCPAck == 0 {
			f.set(bitInitiatorKnown)
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

// lookup returns the flow of a canonical key, nil if none.
func (t *Table[S]) lookup(ck *flowkey.Key) *Flow[S] {
	if ref, _ := find(&t.index, &t.slab, ck); ref != 0 {
		return t.slab.at(ref)
	}
	return nil
}

func (t *Table[S]) create(ck flowkey.Key, ts int64) *Flow[S] {
	if t.index.n >= t.cfg.MaxFlows {
		t.evictOne()
	}
	_, slot := find(&t.index, &t.slab, &ck)
	f := t.slab.alloc()
	f.Key, f.ID = ck, flowID(&ck, ts)
	insert(&t.index, &t.slab, &ck, f.ref, slot)
	t.stats.Flows++
	t.pushBack(&t.open, f)
	t.h.Begin(f)
	return f
}

// recencyList returns the list the flow's recency link is in.
func (t *Table[S]) recencyList(f *Flow[S]) *list {
	if f.has(bitClosingList) {
		return &t.closing
	}
	return &t.open
}

// touch records a packet time on the flow and keeps the lists ordered.
func (t *Table[S]) touch(f *Flow[S], ts int64) {
	if f.Empty() {
		f.Start, f.End = ts, ts
		f.set(bitHasPackets)
		t.pushBack(&t.starts, f)
	} else if ts > f.End {
		// A capture's timestamps can go backwards; time_start stays the
		// first packet's time and time_end the latest seen.
		f.End = ts
	}
	t.moveToBack(t.recencyList(f), f)
}

func (t *Table[S]) noteClose(f *Flow[S], side Side, flags uint8) {
	was := f.Closing()
	if flags&decode.TCPFin != 0 {
		f.set(bitFin0 << side)
	}
	if flags&decode.TCPRst != 0 {
		f.set(bitRst)
	}
	if !was && f.Closing() {
		t.unlink(&t.open, f)
		f.set(bitClosingList)
		t.pushBack(&t.closing, f)
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
	t.unlink(&t.starts, f)
	f.Start, f.End = 0, 0
	f.bits &^= bitHasPackets
	f.Dir = [2]Counters{}
	f.TCPFlags = [2]uint8{}
	f.Lost = 0
}

// end writes the flow's last record and removes it.
func (t *Table[S]) end(f *Flow[S], why ExpireType) {
	_, slot := find(&t.index, &t.slab, &f.Key)
	remove(&t.index, &t.slab, slot)
	t.unlink(t.recencyList(f), f)
	if !f.Empty() {
		t.unlink(&t.starts, f)
	}
	if !f.Empty() || f.Records == 0 {
		// (Else everything was already written by an active-timeout
		// split.)
		t.stats.Records++
		t.h.End(f, why, true)
	}
	t.slab.release(f)
}

func (t *Table[S]) evictOne() {
	victim := t.closing.head
	if victim == 0 {
		victim = t.open.head
	}
	if victim != 0 {
		t.stats.Evicted++
		t.end(t.slab.at(victim), ExpireEvicted)
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
		for ref := t.closing.head; ref != 0; ref = t.closing.head {
			f := t.slab.at(ref)
			if now-f.End < d {
				break
			}
			t.end(f, ExpireClosed)
		}
	}
	if d := int64(t.cfg.IdleTimeout); d > 0 {
		for ref := t.open.head; ref != 0; ref = t.open.head {
			f := t.slab.at(ref)
			if now-f.End < d {
				break
			}
			t.end(f, ExpireIdle)
		}
	}
	if d := int64(t.cfg.ActiveTimeout); d > 0 {
		for ref := t.starts.head; ref != 0; ref = t.starts.head {
			f := t.slab.at(ref)
			if now-f.Start < d {
				break
			}
			t.split(f)
		}
	}
}

// Flush ends every flow with the given reason (ExpireEnd at end of input
// or shutdown), oldest first.
func (t *Table[S]) Flush(why ExpireType) {
	for _, l := range []*list{&t.closing, &t.open} {
		for ref := l.head; ref != 0; ref = l.head {
			t.end(t.slab.at(ref), why)
		}
	}
}

func (t *Table[S]) linkOf(l *list, f *Flow[S]) *link {
	if l.starts {
		return &f.starts
	}
	return &f.recency
}

func (t *Table[S]) pushBack(l *list, f *Flow[S]) {
	lk := t.linkOf(l, f)
	lk.prev, lk.next = l.tail, 0
	if l.tail != 0 {
		t.linkOf(l, t.slab.at(l.tail)).next = f.ref
	} else {
		l.head = f.ref
	}
	l.tail = f.ref
}

func (t *Table[S]) unlink(l *list, f *Flow[S]) {
	lk := t.linkOf(l, f)
	if lk.prev != 0 {
		t.linkOf(l, t.slab.at(lk.prev)).next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != 0 {
		t.linkOf(l, t.slab.at(lk.next)).prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	lk.prev, lk.next = 0, 0
}

func (t *Table[S]) moveToBack(l *list, f *Flow[S]) {
	if l.tail == f.ref {
		return
	}
	t.unlink(l, f)
	t.pushBack(l, f)
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
	if f := t.lookup(&ck); f != nil {
		t.stats.Evicted++
		t.end(f, ExpireEvicted)
	}
}
