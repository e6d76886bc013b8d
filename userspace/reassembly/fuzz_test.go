package reassembly

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// fuzzStream is the true stream every fuzz segment is cut from.
var fuzzStream = func() []byte {
	b := make([]byte, 1<<16+4096)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

// Fuzz input layout: a 5-byte header, then 5-byte segment records.
//
//	header:  config, ISN (4 bytes, little endian)
//	config:  bits 0-1 budget (DefaultBudget, 16, 1000, 5000)
//	         bit 2    share a two-page Limiter
//	record:  offset (uint16 LE) into fuzzStream, relative to ISN+1
//	         length (uint16 LE, mod 3000)
//	         flags: see fz* below
const (
	fzFIN     = 0x01 // TCP FIN
	fzSYN     = 0x02 // TCP SYN: at ISN, payload from offset 0
	fzRST     = 0x04 // TCP RST
	fzCorrupt = 0x08 // payload bytes differ from the true stream
	fzCut     = 0x10 // capture keeps only the first half of the payload
	fzFar     = 0x20 // sequence number moved by 2^31
	fzACK     = 0x40 // pure ACK: no payload
)

var fuzzBudgets = [4]uint32{0, 16, 1000, 5000}

// fuzzRecord encodes one segment record.
func fuzzRecord(off, length uint16, flags byte) []byte {
	return []byte{byte(off), byte(off >> 8), byte(length), byte(length >> 8), flags}
}

// FuzzReassembly drives a Direction with a segment sequence cut from a
// known stream and checks the invariants: the Deliverer contract holds,
// nothing past the budget is delivered, the delivered bytes are the true
// stream from where it was anchored (unless a segment lied about them),
// a stream with no holes, cuts or lies is delivered whole, and Close
// frees every buffered byte.
func FuzzReassembly(f *testing.F) {
	// Seeds: the structure of the table cases of TestDirection, cut from
	// the fuzz stream instead of their literal bytes.
	for _, c := range [][]seg{
		{syn, {0, 0, "hello ", 0}, {6, 0, "world", 0}},
		{syn, {5, 0, "fghij", 0}, {0, 0, "abcde", 0}},
		{syn, {3, 0, "d", 0}, {5, 0, "f", 0}, {0, 0, "abcdefg", 0}},
		{syn, {3, 0, "de", 4}, {3, 0, "defg", 0}, {0, 0, "abc", 0}, {7, 0, "hi", 0}},
		{syn, {5, 0, "fg", 0}, {3, fFIN, "", 0}, {0, 0, "abcde", 0}},
		{{100, 0, "abc", 0}, {50, 0, "old", 0}},
	} {
		in := []byte{0, 0xf8, 0xff, 0xff, 0xff} // ISN near wraparound
		for _, s := range c {
			var fl byte
			if s.flags&fSYN != 0 {
				fl |= fzSYN
			}
			if s.flags&fFIN != 0 {
				fl |= fzFIN
			}
			if s.wire > len(s.data) {
				fl |= fzCut
			}
			in = append(in, fuzzRecord(uint16(s.off), uint16(max(s.wire, len(s.data))), fl)...)
		}
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 5 {
			return
		}
		cfg, isn := in[0], binary.LittleEndian.Uint32(in[1:5])
		var lim *Limiter
		if cfg&4 != 0 {
			lim = NewLimiter(2 * pageSize)
		}
		d := &Direction{Budget: fuzzBudgets[cfg&3], Limiter: lim}
		budget := int(d.budget())
		r := &recorder{}

		var (
			anchored, lied, cutShort, fin, synFirst bool
			anchor                                  int // fuzzStream offset of stream offset 0
			covered                                 []span
		)
		for i, rec := 0, in[5:]; len(rec) >= 5; i, rec = i+1, rec[5:] {
			off := int(binary.LittleEndian.Uint16(rec))
			length := int(binary.LittleEndian.Uint16(rec[2:])) % 3000
			fl := rec[4]
			var flags uint8
			seq := isn + 1 + uint32(off)
			if fl&fzSYN != 0 {
				flags |= fSYN
				seq, off = isn, 0
			}
			if fl&fzFIN != 0 {
				flags |= fFIN
			}
			if fl&fzRST != 0 {
				flags |= fRST
			}
			if fl&fzACK != 0 {
				length = 0
			}
			if fl&fzFar != 0 {
				seq += 1 << 31
			}
			payload := fuzzStream[off : off+length]
			wire := uint32(length)
			if fl&fzCut != 0 {
				payload = payload[:length/2]
			}
			corrupt := fl&fzCorrupt != 0 && len(payload) > 0
			if corrupt {
				payload = bytes.Clone(payload)
				payload[len(payload)-1] ^= 0xff
			}

			// Mirror the documented anchoring rule to know which stream
			// byte offset 0 is: the first non-RST segment that is a SYN
			// or has payload.
			if !anchored && flags&fRST == 0 && (flags&fSYN != 0 || length > 0) {
				anchored, anchor, synFirst = true, off, flags&fSYN != 0 && fl&fzFar == 0
			}
			if flags&fRST == 0 && d.End() == EndOpen {
				lied = lied || corrupt
				cutShort = cutShort || fl&fzCut != 0
				fin = fin || flags&fFIN != 0
				if fl&fzFar == 0 && len(payload) > 0 {
					covered = append(covered, span{uint32(off), uint32(off + len(payload))})
				}
			}
			d.Segment(seq, flags, payload, wire, int64(i), r)

			if len(r.data) > budget {
				t.Fatalf("delivered %d bytes, budget %d", len(r.data), budget)
			}
		}
		d.Close(r)

		r.check(t, d)
		if d.End() == EndOpen {
			t.Fatal("still open after Close")
		}
		if b := lim.Stats().Buffered; b != 0 {
			t.Fatalf("%d bytes still buffered after Close", b)
		}
		if !lied && len(r.data) > 0 {
			if want := fuzzStream[anchor : anchor+len(r.data)]; !bytes.Equal(r.data, want) {
				t.Fatalf("delivered bytes differ from the stream at %d", firstDiff(r.data, want))
			}
		}
		// With a SYN first and nothing cut, no FIN to argue about and
		// nothing refused for memory, every byte contiguous from the
		// start up to the budget must have been delivered.
		if synFirst && !cutShort && !fin && d.End() != EndLimit && d.End() != EndOverflow {
			if want := min(coveredPrefix(covered), budget); len(r.data) != want {
				t.Fatalf("delivered %d bytes, %d were contiguous (End %v)", len(r.data), want, d.End())
			}
		}
	})
}

// coveredPrefix is how far from 0 the union of spans reaches without a
// hole.
func coveredPrefix(spans []span) int {
	reach := uint32(0)
	for grew := true; grew; {
		grew = false
		for _, s := range spans {
			if s.start <= reach && s.end > reach {
				reach, grew = s.end, true
			}
		}
	}
	return int(reach)
}
