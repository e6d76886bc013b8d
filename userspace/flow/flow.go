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
// the table owns them. Flows live in the table's slab (see slab.go): a
// *Flow stays valid until the final End of that flow, after which the
// slot is zeroed and reused.
type Flow[S any] struct {
	// Key is the canonical key: Src is side 0.
	Key flowkey.Key
	// Initiator is the side that started the flow: sender of the first
	// SYN, else of the first packet. It is the record's "sa".
	Initiator Side
	// TCPFlags is the OR of the TCP flags seen per side.
	TCPFlags [2]uint8

	// bits holds the small flags below, and which recency list the flow
	// is in: the struct is kept for every flow, so it has no padding.
	bits uint8

	// Records is how many records of this flow were already written.
	Records uint32
	// ref is the flow's own slab reference (index+1); the links are the
	// refs of its neighbours in the table's lists (0: none).
	ref     uint32
	recency link // in the open or the closing list, by last packet time
	starts  link // in the start-time list, by record start time
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
}

// Flag bits of Flow.bits.
const (
	bitHasPackets     = 1 << iota // the current record has at least one packet
	bitInitiatorKnown             // a SYN fixed the initiator
	bitFin0                       // FIN seen from side 0
	bitFin1                       // FIN seen from side 1
	bitRst                        // RST seen
	bitClosingList                // the flow is in the closing list, not the open one
)

// OutSide returns the side of the initiator ("out" in Joy's terms).
func (f *Flow[S]) OutSide() Side { return f.Initiator }

// Closing reports whether the flow saw FIN both ways or an RST.
func (f *Flow[S]) Closing() bool {
	return f.bits&bitRst != 0 || f.bits&(bitFin0|bitFin1) == bitFin0|bitFin1
}

// Empty reports whether the current record has no packet.
func (f *Flow[S]) Empty() bool { return f.bits&bitHasPackets == 0 }

func (f *Flow[S]) has(bit uint8) bool { return f.bits&bit != 0 }
func (f *Flow[S]) set(bit uint8)      { f.bits |= bit }

// link holds the refs (slab index+1, 0: none) of a flow's neighbours.
type link struct{ prev, next uint32 }

// list is an intrusive doubly linked list through one of the two links of
// a Flow (recency or starts). Flows are appended as they are touched, so
// the head is always the oldest: expiry only ever looks at the head.
type list struct {
	head, tail uint32
	starts     bool // the list goes through Flow.starts, not Flow.recency
}
