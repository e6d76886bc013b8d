package quic

import (
	"errors"
	"fmt"
)

// MaxCryptoBytes bounds the Initial CRYPTO stream kept per direction. A
// ClientHello, even one with post-quantum key shares and a long session
// ticket, is a few KiB; the bound only stops a peer (or garbage) from
// making the parser buffer without limit.
const MaxCryptoBytes = 64 << 10

// maxSpans bounds the out-of-order pieces held per direction, so that a
// stream chopped into many tiny frames cannot cost quadratic work.
const maxSpans = 64

var errCryptoLimit = errors.New("quic: CRYPTO stream past the reassembly limit")

// span is a received byte range [start, end) of the CRYPTO stream.
type span struct{ start, end int }

// cryptoStream reassembles one direction's CRYPTO frames of the Initial
// packet number space (RFC 9000 §19.6) into the in-order byte stream.
// Frames may arrive in any order, split at any byte, repeated or
// overlapping (Chromium deliberately splits and shuffles its ClientHello).
// Where two frames disagree about a byte the first one wins, so a later
// injected frame cannot rewrite what was already accepted.
//
// The zero value is an empty stream.
type cryptoStream struct {
	buf       []byte // stream bytes [0, len(buf)); valid where delivered or in pending
	pending   []span // received ranges past delivered: sorted, disjoint, not touching
	delivered int    // [0, delivered) is contiguous and was handed out
	failed    bool   // past the limit: the stream takes nothing more
}

// add stores a CRYPTO frame's data at stream offset off and returns the
// bytes that became contiguous with what was handed out before (nil if
// none). The returned slice is valid until the next add.
func (s *cryptoStream) add(off uint64, data []byte) ([]byte, error) {
	if s.failed {
		return nil, errCryptoLimit
	}
	if off > MaxCryptoBytes || uint64(len(data)) > MaxCryptoBytes-off {
		s.fail()
		return nil, fmt.Errorf("%w (frame at %d, %d bytes)", errCryptoLimit, off, len(data))
	}
	start, end := int(off), int(off)+len(data)
	if start < s.delivered {
		// Retransmitted bytes already handed out: keep only the new tail.
		if end <= s.delivered {
			return nil, nil
		}
		data = data[s.delivered-start:]
		start = s.delivered
	}
	if len(data) == 0 {
		return nil, nil
	}
	if end > len(s.buf) {
		s.grow(end)
	}
	// Copy only into the holes between ranges already held.
	cur := start
	for _, p := range s.pending {
		if p.end <= cur {
			continue
		}
		if p.start >= end {
			break
		}
		if p.start > cur {
			copy(s.buf[cur:p.start], data[cur-start:p.start-start])
		}
		cur = p.end
	}
	if cur < end {
		copy(s.buf[cur:end], data[cur-start:])
	}
	s.insert(span{start, end})
	if len(s.pending) > maxSpans {
		s.fail()
		return nil, fmt.Errorf("quic: CRYPTO stream in more than %d pieces", maxSpans)
	}
	if first := s.pending[0]; first.start == s.delivered {
		s.pending = s.pending[:copy(s.pending, s.pending[1:])]
		s.delivered = first.end
		return s.buf[first.start:first.end], nil
	}
	return nil, nil
}

// fail stops the stream for good and releases what it held: nothing more
// will be delivered from it.
func (s *cryptoStream) fail() {
	s.failed = true
	s.buf, s.pending = nil, nil
}

// grow extends buf to at least n bytes, doubling to keep appends cheap but
// never past MaxCryptoBytes.
func (s *cryptoStream) grow(n int) {
	if n <= cap(s.buf) {
		s.buf = s.buf[:n]
		return
	}
	c := min(max(2*cap(s.buf), n, 2048), MaxCryptoBytes)
	nb := make([]byte, n, c)
	copy(nb, s.buf)
	s.buf = nb
}

// insert merges r into pending, joining ranges that overlap or touch.
func (s *cryptoStream) insert(r span) {
	i := 0
	for i < len(s.pending) && s.pending[i].end < r.start {
		i++
	}
	j := i
	for j < len(s.pending) && s.pending[j].start <= r.end {
		r.start = min(r.start, s.pending[j].start)
		r.end = max(r.end, s.pending[j].end)
		j++
	}
	if i == j {
		s.pending = append(s.pending, span{})
		copy(s.pending[i+1:], s.pending[i:])
		s.pending[i] = r
		return
	}
	s.pending[i] = r
	s.pending = append(s.pending[:i+1], s.pending[j:]...)
}

// handshakeTracker counts the complete TLS handshake messages (RFC 8446
// §4: type, 24-bit length, body) at the start of a CRYPTO stream, which is
// how the parser knows a ClientHello or ServerHello was delivered whole.
type handshakeTracker struct {
	next     int // stream offset of the next message header
	complete int // messages entirely delivered
	hrr      bool
}

// helloRetryRandom is the ServerHello.random that marks a HelloRetryRequest
// (RFC 8446 §4.1.3): after it the client sends a second ClientHello in
// Initial packets and the server a second ServerHello.
var helloRetryRandom = [32]byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// update advances over the messages now complete in stream[:delivered].
func (t *handshakeTracker) update(stream []byte, delivered int) {
	for t.next+4 <= delivered {
		h := stream[t.next:]
		n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
		if t.next+4+n > delivered {
			return
		}
		// ServerHello: legacy_version (2 bytes) then random.
		if h[0] == 2 && t.complete == 0 && n >= 34 && [32]byte(h[6:38]) == helloRetryRandom {
			t.hrr = true
		}
		t.complete++
		t.next += 4 + n
	}
}
