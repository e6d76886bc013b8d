// Package dns parses the DNS messages of a flow (UDP datagrams, or the
// length-prefixed messages of a TCP stream) into the record's "dns" list.
//
// The list keeps Joy's shape and keys: one object per message with "qn"
// (query) or "rn" (response) for the question name, "rc" for the RCODE and
// "rr" for the records, each record keyed by its type ("a", "aaaa",
// "cname", "ns", "mx", "txt", "ptr", "soa", "srv", ...) plus "ttl". Unlike
// Joy, which printed only one direction of a bidirectional flow and so lost
// either the queries or the answers, the list holds the messages of both
// directions in the order they were seen. New facts have new snake_case
// keys; see MarshalJSON.
//
// The wire format is decoded here rather than with
// golang.org/x/net/dns/dnsmessage: dnsmessage rejects a whole message when
// a label contains a '.' octet (golang/go#56246) and stops at the first
// malformed rdata, while a security record needs exactly those names and
// everything that came before the fault.
package dns

import (
	"encoding/binary"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// MaxMessages is how many messages one flow keeps; later ones are counted
// (Messages.Omitted) but not decoded.
const MaxMessages = 64

// Well-known ports of the protocols that use the DNS message format.
const (
	PortDNS   = 53
	PortMDNS  = 5353
	PortLLMNR = 5355
)

// Parser collects the DNS messages of one flow. The zero value is ready to
// use: Datagram takes one message per call (UDP), Data takes a TCP stream
// with RFC 1035 §4.2.2 two-octet length framing. NewUDP and NewTCP say
// which of the two a caller means.
type Parser struct {
	msgs    []Message
	omitted int
	kept    int // octets kept by msgs, against MaxFlowBytes
	stream  [2]framer
}

// framer splits one direction of a TCP stream into messages.
type framer struct {
	lenBuf  [2]byte
	lenHave int    // octets of the length prefix seen so far
	need    int    // octets of the current message still to come
	buf     []byte // the current message so far, when it is kept
	skip    bool   // the current message is past MaxMessages: count, don't keep
	closed  bool   // a gap ended this direction
}

var (
	_ proto.Datagram = (*Parser)(nil)
	_ proto.Stream   = (*Parser)(nil)
)

// NewUDP returns a parser for a message-per-datagram flow (UDP 53, mDNS,
// LLMNR).
func NewUDP() *Parser { return &Parser{} }

// NewTCP returns a parser for a DNS-over-TCP connection.
func NewTCP() *Parser { return &Parser{} }

// Datagram implements proto.Datagram: payload is one whole DNS message,
// cut short by the capture when truncated is set.
func (p *Parser) Datagram(dir proto.Dir, payload []byte, truncated bool, _ int64) {
	p.add(dir, payload, truncated, false)
}

// Data implements proto.Stream. Messages may be split across calls and
// several may arrive in one call.
func (p *Parser) Data(dir proto.Dir, data []byte, _ int64) {
	f := &p.stream[dir&1]
	for len(data) > 0 && !f.closed {
		if f.need == 0 {
			// Reading the length prefix.
			n := copy(f.lenBuf[f.lenHave:], data)
			f.lenHave += n
			data = data[n:]
			if f.lenHave < 2 {
				return
			}
			f.lenHave = 0
			f.need = int(binary.BigEndian.Uint16(f.lenBuf[:]))
			f.skip = len(p.msgs) >= MaxMessages
			if f.need == 0 {
				// An empty message: nothing to decode, but it was sent.
				p.add(dir, nil, false, f.skip)
			}
			continue
		}
		n := min(f.need, len(data))
		chunk := data[:n]
		data = data[n:]
		f.need -= n
		switch {
		case f.skip:
			// Only counted.
		case f.need == 0 && len(f.buf) == 0:
			// The whole message is in this call: decode in place.
			p.add(dir, chunk, false, false)
			continue
		default:
			f.buf = append(f.buf, chunk...)
		}
		if f.need == 0 {
			p.add(dir, f.buf, false, f.skip)
			// Keep a small buffer for the next message; let a big one go.
			if cap(f.buf) > 4<<10 {
				f.buf = nil
			} else {
				f.buf = f.buf[:0]
			}
		}
	}
}

// add records one complete (or, at a gap, partial) message.
func (p *Parser) add(dir proto.Dir, msg []byte, truncated, skip bool) {
	if skip || len(p.msgs) >= MaxMessages {
		p.omitted++
		return
	}
	p.msgs = append(p.msgs, parseMessage(msg, dir, truncated, &p.kept))
}

// Gap implements proto.Stream: nothing more of dir will come. A message
// that was partly received is decoded as far as it goes and marked
// capture_truncated; the octets after the gap are never guessed at.
func (p *Parser) Gap(dir proto.Dir) {
	f := &p.stream[dir&1]
	if f.closed {
		return
	}
	if f.need > 0 {
		p.add(dir, f.buf, true, f.skip)
	}
	*f = framer{closed: true}
}

// Done implements proto.Stream and proto.Datagram. A TCP parser is done
// when both directions ended at a gap. It keeps reading past MaxMessages,
// since counting the rest costs no allocation and the count is reported.
func (p *Parser) Done() bool {
	return p.stream[0].closed && p.stream[1].closed
}

// Report implements proto.Reporter: the key "dns" and a Messages value, or
// a nil value when the flow carried no message.
func (p *Parser) Report() (string, any) {
	if len(p.msgs) == 0 && p.omitted == 0 {
		return "dns", nil
	}
	return "dns", Messages{List: p.msgs, Omitted: p.omitted}
}

// Messages is the "dns" value of a record: the messages in the order they
// were seen, and how many more there were past MaxMessages.
type Messages struct {
	List    []Message
	Omitted int
}

// Detect reports whether a UDP flow looks like DNS from its ports and its
// first payload: one port is 53, 5353 (mDNS) or 5355 (LLMNR), and the
// payload starts with a plausible DNS header.
func Detect(srcPort, dstPort uint16, payload []byte) bool {
	return isDNSPort(srcPort, dstPort) && plausibleHeader(payload, true)
}

// DetectTCP is Detect for a TCP flow, whose first payload starts with the
// two-octet message length.
func DetectTCP(srcPort, dstPort uint16, payload []byte) bool {
	if !isDNSPort(srcPort, dstPort) || len(payload) < 2 {
		return false
	}
	n := int(binary.BigEndian.Uint16(payload))
	msg := payload[2:]
	whole := len(msg) >= n
	if whole {
		msg = msg[:n]
	}
	return n >= 12 && plausibleHeader(msg, whole)
}

func isDNSPort(a, b uint16) bool {
	for _, port := range [...]uint16{PortDNS, PortMDNS, PortLLMNR} {
		if a == port || b == port {
			return true
		}
	}
	return false
}

// plausibleHeader checks what a DNS header must satisfy: 12 octets, an
// assigned opcode, at least one question or record, and, when the whole
// message is at hand, section counts that fit in the octets that follow
// (a question takes at least 5, a record at least 11).
func plausibleHeader(b []byte, whole bool) bool {
	if len(b) < 12 {
		return false
	}
	switch opcode := b[2] >> 3 & 0xf; opcode {
	case 0, 1, 2, 4, 5, 6: // QUERY, IQUERY, STATUS, NOTIFY, UPDATE, DSO
	default:
		return false
	}
	qd := int(binary.BigEndian.Uint16(b[4:]))
	rrs := int(binary.BigEndian.Uint16(b[6:])) + int(binary.BigEndian.Uint16(b[8:])) + int(binary.BigEndian.Uint16(b[10:]))
	if qd+rrs == 0 {
		return false
	}
	return !whole || 12+5*qd+11*rrs <= len(b)
}
