package reassembly

import "slices"

// DefaultBudget is the stream bytes a direction delivers when Budget is 0.
// It is sized for the largest thing the parsers need from the start of a
// stream: a TLS 1.2 server flight (ServerHello, a certificate chain of
// typically 3-8 KiB and rarely over 20 KiB, key exchange) fits with room to
// spare, as do HTTP/1 request and response headers (servers refuse more
// than 8-64 KiB) and an SSH banner and KEXINIT. Delivering in order costs
// no memory, so the budget mostly bounds parser work; out-of-order bytes
// are buffered only within it.
const DefaultBudget = 64 << 10

// MaxBudget is the largest budget honoured; larger values are clamped.
// Keeping stream offsets below 2^30 keeps them well clear of sequence
// number wraparound.
const MaxBudget = 1 << 30

// maxDistance is how far from the next expected byte, in sequence space,
// a segment may start and still belong to the stream: 2^30 is the largest
// window TCP can advertise (RFC 7323 section 2.3). Anything farther is
// another incarnation of the connection or garbage.
const maxDistance = 1 << 30

// TCP flag bits as in the TCP header (and decode.TCPFin etc.).
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
)

// Deliverer receives one direction's reassembled stream. Data gets the
// next bytes in stream order, never empty and never repeated; data is only
// valid during the call. ts is the timestamp of the segment whose arrival
// made these bytes contiguous. Gap reports that bytes are missing and that
// nothing more of this direction follows; it is called at most once.
//
// A nil Deliverer discards the bytes but keeps the Stats. Pass a pointer
// (or another pointer-shaped value): converting a larger struct to the
// interface on every Segment call would allocate.
type Deliverer interface {
	Data(data []byte, ts int64)
	Gap()
}

// End says whether a direction still reassembles, and if not, why.
type End uint8

const (
	// EndOpen: still reassembling.
	EndOpen End = iota
	// EndComplete: every byte up to the FIN was delivered.
	EndComplete
	// EndClosed: Close was called with nothing known to be missing (no
	// FIN seen, e.g. the flow timed out or the budget was met exactly).
	EndClosed
	// EndStopped: Stop was called; the consumer wanted no more.
	EndStopped
	// EndMissing: bytes will never arrive: cut short by the capture, or
	// holes left at Close. Gap was called.
	EndMissing
	// EndBudget: the stream went on past the budget. Gap was called.
	EndBudget
	// EndLimit: the shared Limiter refused to buffer out-of-order bytes.
	// Gap was called.
	EndLimit
	// EndOverflow: more separate out-of-order runs than a direction may
	// buffer (see maxSpans). Gap was called.
	EndOverflow
)

var endNames = [...]string{
	EndOpen:     "open",
	EndComplete: "complete",
	EndClosed:   "closed",
	EndStopped:  "stopped",
	EndMissing:  "missing",
	EndBudget:   "budget",
	EndLimit:    "limit",
	EndOverflow: "overflow",
}

// String returns a short lowercase name for statistics and logs.
func (e End) String() string {
	if int(e) < len(endNames) {
		return endNames[e]
	}
	return "unknown"
}

// Gap reports whether a direction that ended this way called Gap.
func (e End) Gap() bool { return e >= EndMissing }

// Stats describes what one direction saw, for the flow record and the
// statistics. Counts stop when the direction ends.
type Stats struct {
	// Delivered is the stream bytes handed to the Deliverer.
	Delivered uint64
	// Retransmitted is the captured bytes that arrived again for stream
	// offsets already delivered or buffered.
	Retransmitted uint64
	// Inconsistent is the segments that contradicted what came first:
	// bytes differing from buffered ones, data past the FIN, or a FIN
	// before bytes already seen.
	Inconsistent uint32
	// OutOfOrder is the segments that arrived ahead of a hole.
	OutOfOrder uint32
	// Ignored is the segments dropped for lying outside the stream: too
	// far from the expected sequence number, or wholly before its start.
	Ignored uint32
	// MidStream says no SYN was seen: the stream starts at the first
	// payload captured, not at the connection's beginning.
	MidStream bool
	// End is why the direction stopped, EndOpen while it has not.
	End End
}

// Direction bit flags.
const (
	started uint8 = 1 << iota // base is set
	synSeen                   // base came from (or agrees with) a SYN
	finSeen                   // finAt is set
	lostSet                   // lostStart/lostEnd is set
	busy                      // inside Segment: defer freeing memory
)

// Direction reassembles one direction of one TCP connection. The zero value
// is ready to use with DefaultBudget and no shared Limiter. It is not safe
// for concurrent use. Until a segment arrives ahead of a hole it holds no
// memory beyond itself.
//
// Set Budget and Limiter before the first Segment and do not change them.
type Direction struct {
	// Budget is the most stream bytes to deliver; 0 means DefaultBudget.
	Budget uint32
	// Limiter bounds out-of-order bytes across all directions sharing
	// it; nil leaves only Budget as the bound.
	Limiter *Limiter

	buf *reorder // out-of-order bytes; nil when there are none

	// Stream offsets count bytes from the first stream byte, which has
	// sequence number base; except finAt, all stay at most budget+1.
	base  uint32 // sequence number of stream offset 0
	next  uint32 // offset of the next byte to deliver = bytes delivered
	seen  uint32 // offset up to which bytes are known to have been sent, capped at budget+1
	finAt uint32 // offset of the FIN, if finSeen (may lie past the budget)
	// lostStart, lostEnd is the first run, if lostSet, that a segment
	// was too short in the capture to bring: those bytes never arrive.
	lostStart, lostEnd uint32

	retransmitted uint64
	inconsistent  uint32
	outOfOrder    uint32
	ignored       uint32

	flags uint8
	end   End
}

func (d *Direction) budget() uint32 {
	switch {
	case d.Budget == 0:
		return DefaultBudget
	case d.Budget > MaxBudget:
		return MaxBudget
	}
	return d.Budget
}

// Stats returns the direction's counters.
func (d *Direction) Stats() Stats {
	return Stats{
		Delivered:     uint64(d.next),
		Retransmitted: d.retransmitted,
		Inconsistent:  d.inconsistent,
		OutOfOrder:    d.outOfOrder,
		Ignored:       d.ignored,
		MidStream:     d.flags&started != 0 && d.flags&synSeen == 0,
		End:           d.end,
	}
}

// End returns EndOpen while the direction still wants segments, else why
// it stopped. Once it is not EndOpen, Segment does nothing.
func (d *Direction) End() End { return d.end }

// Segment takes one TCP segment sent in this direction. seq is its
// sequence number and flags its TCP flags byte (decode.Packet.TCPFlags);
// payload is the captured part of its payload, valid only
// during the call; wireLen is the payload length on the wire, which is
// larger than len(payload) when the capture cut the segment short (those
// bytes are then missing). ts is the capture time in ns since the epoch.
//
// Bytes that become contiguous are delivered to out before Segment
// returns; out may call Stop or Close on d from within Data or Gap.
func (d *Direction) Segment(seq uint32, flags uint8, payload []byte, wireLen uint32, ts int64, out Deliverer) {
	if d.end != EndOpen {
		return
	}
	d.flags |= busy
	d.segment(seq, flags, payload, wireLen, ts, out)
	d.flags &^= busy
	if d.end != EndOpen {
		d.release()
	}
}

func (d *Direction) segment(seq uint32, flags uint8, payload []byte, wireLen uint32, ts int64, out Deliverer) {
	if flags&flagRST != 0 {
		return
	}
	if len(payload) > maxDistance {
		payload = payload[:maxDistance] // beyond any budget anyway
	}
	// No real segment is longer than the largest window; clamping keeps
	// every stream offset below 2^32.
	wireLen = min(max(wireLen, uint32(len(payload))), maxDistance)
	syn, fin := flags&flagSYN != 0, flags&flagFIN != 0
	dataSeq := seq
	if syn {
		dataSeq++ // the SYN occupies one sequence number
	}
	if d.flags&started == 0 {
		if !syn && wireLen == 0 {
			return // a pure ACK or lone FIN cannot anchor a mid-stream start
		}
		d.base = dataSeq
		d.flags |= started
	}

	// Place the segment in stream offsets. int32 of the sequence
	// difference is the signed distance modulo 2^32, which is what makes
	// wraparound a non-event.
	rel := int64(int32(dataSeq - (d.base + d.next)))
	if rel < -maxDistance || rel >= maxDistance {
		if wireLen > 0 || fin {
			d.ignored++
		}
		return
	}
	next, budget := int64(d.next), int64(d.budget())
	start := next + rel
	capEnd := start + int64(len(payload))
	wireEnd := start + int64(wireLen)
	if syn && start == 0 {
		d.flags |= synSeen
	}
	if wireEnd <= 0 && wireLen > 0 {
		d.ignored++ // all of it before the stream start
		return
	}

	// The first FIN fixes the stream end; nothing may contradict it.
	if d.flags&finSeen != 0 {
		if end := int64(d.finAt); wireEnd > end || (fin && wireEnd != end) {
			d.inconsistent++
			capEnd = max(min(capEnd, end), start) // payload[:capEnd-start] stays valid
			wireEnd = min(wireEnd, end)
		}
	} else if fin {
		if wireEnd >= max(next, int64(d.seen)) {
			d.finAt = uint32(wireEnd)
			d.flags |= finSeen
		} else {
			d.inconsistent++
		}
	}
	// A segment's end, even a pure ACK's sequence number, proves the
	// bytes before it were sent.
	if wireEnd > int64(d.seen) {
		d.seen = uint32(min(wireEnd, budget+1))
	}

	// The captured bytes: drop what was delivered, deliver what is next
	// directly from payload, buffer the rest.
	lo, hi := max(start, 0), capEnd
	if old := min(hi, next) - lo; old > 0 {
		d.retransmitted += uint64(old)
		lo += old
	}
	hi = min(hi, budget)
	if lo < hi {
		p := payload[lo-start : hi-start]
		if lo == next {
			direct := p
			if d.buf != nil && len(d.buf.spans) > 0 {
				direct = p[:min(int64(len(p)), int64(d.buf.spans[0].start)-next)]
			}
			if len(direct) > 0 {
				if !d.emit(direct, ts, out) {
					return
				}
				p = p[len(direct):]
				lo += int64(len(direct))
			}
		} else {
			d.outOfOrder++
		}
		if len(p) > 0 {
			if end := d.insert(uint32(lo), p); end != EndOpen {
				d.finish(end, out)
				return
			}
		}
	}

	// Bytes the capture cut from this segment never arrive.
	if lo, hi := max(capEnd, int64(d.next)), min(wireEnd, budget); lo < hi {
		if d.flags&lostSet == 0 || uint32(lo) < d.lostStart {
			d.lostStart, d.lostEnd = uint32(lo), uint32(hi)
			d.flags |= lostSet
		}
	}

	if d.flush(ts, out) {
		d.settle(out)
	}
}

// emit delivers p as the next stream bytes and reports whether the
// direction is still open (out may have stopped it).
func (d *Direction) emit(p []byte, ts int64, out Deliverer) bool {
	d.next += uint32(len(p))
	if out != nil {
		out.Data(p, ts)
	}
	return d.end == EndOpen
}

// insert buffers p, the bytes at stream offsets [lo, lo+len(p)), all
// after next, keeping the copy already buffered where they overlap. It
// returns EndOpen, or why the bytes could not be buffered.
func (d *Direction) insert(lo uint32, p []byte) End {
	b := d.buf
	if b == nil {
		b = newReorder()
		d.buf = b
	}
	hi := lo + uint32(len(p))
	// Runs i..j-1 overlap or touch [lo, hi) and merge with it.
	i, _ := slices.BinarySearchFunc(b.spans, lo, func(s span, off uint32) int {
		if s.end < off {
			return -1
		}
		return 1
	})
	j := i
	for j < len(b.spans) && b.spans[j].start <= hi {
		j++
	}
	if len(b.spans)-(j-i)+1 > maxSpans {
		return EndOverflow
	}
	if !b.ensurePages(lo, hi, d.Limiter) {
		return EndLimit
	}

	pos, differ := lo, false
	for _, s := range b.spans[i:j] {
		if pos < s.start {
			b.write(pos, p[pos-lo:s.start-lo])
		}
		if oLo, oHi := max(pos, s.start), min(s.end, hi); oLo < oHi {
			d.retransmitted += uint64(oHi - oLo)
			if !b.equal(oLo, p[oLo-lo:oHi-lo]) {
				differ = true
			}
		}
		pos = max(pos, s.end)
	}
	if pos < hi {
		b.write(pos, p[pos-lo:])
	}
	if differ {
		d.inconsistent++
	}

	merged := span{lo, hi}
	if i < j {
		merged = span{min(lo, b.spans[i].start), max(hi, b.spans[j-1].end)}
	}
	b.spans = slices.Replace(b.spans, i, j, merged)
	return EndOpen
}

// flush delivers the buffered run that starts at next, if any, frees the
// pages that are then wholly delivered, and reports whether the direction
// is still open.
func (d *Direction) flush(ts int64, out Deliverer) bool {
	b := d.buf
	if b == nil {
		return true
	}
	if len(b.spans) > 0 && b.spans[0].start == d.next {
		s := b.spans[0]
		b.spans = slices.Delete(b.spans, 0, 1)
		for d.next < s.end {
			if !d.emit(b.chunk(d.next, s.end), ts, out) {
				return false // Segment frees b
			}
		}
		b.dropBefore(d.next, d.Limiter)
	}
	if len(b.spans) == 0 {
		b.free(d.Limiter)
		d.buf = nil
	}
	return true
}

// settle ends the direction if what was delivered completes it or runs
// into bytes that will never come.
func (d *Direction) settle(out Deliverer) {
	budget := d.budget()
	switch {
	case d.flags&finSeen != 0 && d.next >= d.finAt:
		d.finish(EndComplete, out)
	case d.next >= budget:
		if d.seen > budget {
			d.finish(EndBudget, out)
		}
	case d.flags&lostSet != 0:
		if d.next >= d.lostEnd {
			d.flags &^= lostSet
		} else if d.next >= d.lostStart {
			d.finish(EndMissing, out)
		}
	}
}

// finish ends the direction, calling Gap if the end means bytes are
// missing. Memory is freed by the caller (Segment or Close).
func (d *Direction) finish(end End, out Deliverer) {
	d.end = end
	if end == EndLimit {
		d.Limiter.noteCut()
	}
	if end.Gap() && out != nil {
		out.Gap()
	}
}

// Close ends the direction at the end of its flow. Contiguous bytes are
// always delivered as soon as they are, so what Close adds is the verdict:
// if bytes are known to have been sent past what was delivered (buffered
// beyond a hole, or proven by a later sequence number or a FIN), it calls
// Gap. It frees the direction's memory; calling it again does nothing.
func (d *Direction) Close(out Deliverer) {
	if d.end == EndOpen {
		if d.seen > d.next {
			d.finish(EndMissing, out)
		} else {
			d.end = EndClosed
		}
	}
	if d.flags&busy == 0 {
		d.release()
	}
}

// Stop ends the direction without a verdict because its consumer wants no
// more bytes. It frees the direction's memory; later segments cost only a
// comparison.
func (d *Direction) Stop() {
	if d.end == EndOpen {
		d.end = EndStopped
	}
	if d.flags&busy == 0 {
		d.release()
	}
}

// release frees the out-of-order buffer.
func (d *Direction) release() {
	if d.buf != nil {
		d.buf.free(d.Limiter)
		d.buf = nil
	}
	d.flags &^= lostSet
}
