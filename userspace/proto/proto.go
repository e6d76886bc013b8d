// Package proto is the contract between the flow pipeline and the protocol
// parsers (tls, quic, dns, http, ssh, dhcp). The pipeline decides which
// parsers a flow gets, feeds them payload in order, and at the end of the
// flow asks each for the object it puts into the record under its key.
//
// Parsers never see packets, sockets or the flow table: only the bytes of
// one direction at a time. That keeps them testable from byte slices and
// fuzzable, and lets the same parser serve every engine.
package proto

// Dir is the direction of payload relative to the flow's initiator (the
// record's "sa").
type Dir uint8

const (
	Out Dir = 0 // from the initiator (sa → da): Joy's ">"
	In  Dir = 1 // toward the initiator (da → sa): Joy's "<"
)

// Stream parses the reassembled byte streams of one TCP connection.
//
// The pipeline calls Data with each direction's bytes in stream order and
// without repeats (retransmissions and overlaps are resolved before). data
// is only valid during the call. ts is the time, in ns since the epoch, of
// the packet that completed these bytes.
//
// Gap says bytes of dir are missing (not captured, or past the reassembly
// budget): nothing more of dir will follow the gap, and the parser must
// finish what it can from what it has rather than guess.
//
// Done reports that the parser wants no more bytes in either direction; the
// pipeline then stops buffering for it.
type Stream interface {
	Data(dir Dir, data []byte, ts int64)
	Gap(dir Dir)
	Done() bool
	Reporter
}

// Datagram parses the payloads of a UDP (or other message-based) flow, one
// datagram per call. payload is only valid during the call; it may be
// shorter than the datagram on the wire (snap length), and truncated says so.
type Datagram interface {
	Datagram(dir Dir, payload []byte, truncated bool, ts int64)
	Done() bool
	Reporter
}

// Reporter yields the parser's contribution to the flow record: the JSON
// key (Joy's: "tls", "dns", "http", "ssh", "dhcp", or "quic") and a value
// that encoding/json marshals. A nil value means the parser found nothing
// and the key is left out.
type Reporter interface {
	Report() (key string, value any)
}

// TunnelOpener chooses the parser of the bytes a connection carries once
// it becomes a tunnel: an HTTP CONNECT, or a STARTTLS command of a mail
// protocol. The pipeline implements it (a TLS parser when those bytes are
// TLS) and reports that parser's object itself.
type TunnelOpener interface {
	// OpenTunnel returns the parser for a tunnel whose client's first
	// bytes are first (what its first segment brought, so at least one
	// octet), or nil to leave the tunnel unparsed. The parser is given
	// the tunnel's bytes with directions relative to the tunnel's client
	// (Out: from the client).
	OpenTunnel(first []byte) Stream
}

// Object is one parser's contribution to a record: the value of Report.
type Object struct {
	Key   string
	Value any
}
