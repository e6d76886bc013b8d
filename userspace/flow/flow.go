// Package flow keeps the table of bidirectional flows: it keys packets to
// flows, counts packets and bytes per direction, decides which side started
// the flow, and ends flows on idle, active, close and eviction, handing
// each record-to-be to a Handler. What is measured inside a flow (packet
// lengths, byte distribution, protocol metadata) is the Handler's business,
// kept in the per-flow state S, so this package knows nothing about it.
package flow

import (
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// ExpireType says why a record was written; the values are Joy's
// "expire_type" letters.
type ExpireType byte

const (
	ExpireIdle    ExpireType = 'i' // no packet for the idle timeout
	ExpireActive  ExpireType = 'a' // the flow lasted the active timeout; it goes on in a new record
	ExpireClosed  ExpireType = 'f' // FIN in both directions or RST, then the close grace time
	ExpireEnd     ExpireType = 'e' // end of input (or shutdown)
	ExpireEvicted ExpireType = 'o' // the table was full and this flow was the least recently seen
)

// Side is one end of a flow: 0 is the canonical key's Src, 1 its Dst.
type Side uint8

// Other returns the opposite side.
func (s Side) Other() Side { return s ^ 1 }

// Counters are per-direction totals of one record.
type Counters struct {
	Packets uint64 // wire segments, fragments and retransmissions included
	Bytes   uint64 // transport payload bytes from the length fields
}

// Flow is one bidirectional flow. Exported fields are read by the Handler;
// the table owns them.
type Flow[S any] struct {
	// Key is the canonical key: Src is side 0.
	Key flowkey.Key
	// Initiator is the side that started the flow: sender of the first
	// SYN, else of the first packet. It is the record's "sa".
	Initiator Side
	// TCPFlags is the OR of the TCP flags seen per side.
	TCPFlags [2]uint8

	// The small fields are next to each other so that the struct, kept
	// for every flow, has no padding.
	hasPackets     bool // the current record has at least one packet
	initiatorKnown bool // a SYN fixed the initiator
	finSeen        [2]bool
	rstSeen        bool

	// Records is how many records of this flow were already written.
	Records uint32
	// ID is shared by all records of this flow (active-timeout splits).
	ID uint64
	// Start and End are the times (ns) of the first and last packet of
	// the current record; meaningless while Empty (just after an
	// active-timeout split).
	Start, End int64
	// Dir holds the counters of the current record per side.
	Dir [2]Counters
	// Lost counts packets of this record that the engine counted but
	// whose sample it could not deliver (kernel ring buffer full).
	Lost uint64

	// State is the Handler's per-flow data.
	State S

	// Intrusive list links: the flow is in one of the table's
	// recency lists (open or closing) and in the start-time list.
	recency link[S]
	starts  link[S]
	inList  *list[S]
}

// OutSide returns the side of the initiator ("out" in Joy's terms).
func (f *Flow[S]) OutSide() Side { return f.Initiator }

// Closing reports whether the flow saw FIN both ways or an RST.
func (f *Flow[S]) Closing() bool { return f.rstSeen || (f.finSeen[0] && f.finSeen[1]) }

// Empty reports whether the current record has no packet.
func (f *Flow[S]) Empty() bool { return !f.hasPackets }

type link[S any] struct{ prev, next *Flow[S] }

// list is an intrusive doubly linked list through one of the two links of
// a Flow, chosen by the accessor. Flows are appended as they are touched,
// so the head is always the oldest: expiry only ever looks at the head.
type list[S any] struct {
	head, tail *Flow[S]
	n          int
	links      func(*Flow[S]) *link[S]
}

func (l *list[S]) pushBack(f *Flow[S]) {
	lk := l.links(f)
	lk.prev, lk.next = l.tail, nil
	if l.tail != nil {
		l.links(l.tail).next = f
	} else {
		l.head = f
	}
	l.tail = f
	l.n++
}

func (l *list[S]) remove(f *Flow[S]) {
	lk := l.links(f)
	if lk.prev != nil {
		l.links(lk.prev).next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != nil {
		l.links(lk.next).prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	lk.prev, lk.next = nil, nil
	l.n--
}

func (l *list[S]) moveToBack(f *Flow[S]) {
	if l.tail == f {
		return
	}
	l.remove(f)
	l.pushBack(f)
}
