// Package dhcp parses DHCPv4 (RFC 2131, 2132, with BOOTP's RFC 951
// header) and DHCPv6 (RFC 8415) messages of a UDP flow.
//
// ParserV4 reports Joy's "dhcp" object: a list of messages with the BOOTP
// header under Joy's keys and the options as Joy writes them ({"Name":
// {"code","len","value"}}), each known option also "decoded". ParserV6
// reports Joy's "dhcpv6" object: message type and transaction id, and, past
// what Joy kept (the first option only), every option, nested ones
// (IA_NA addresses, relayed messages) included.
//
// Nothing from the wire is trusted: lengths are checked before every read,
// a message keeps what decoded before an error and says what went wrong,
// and maxMessages, maxOptions and maxDepth bound memory and recursion.
//
// gopacket/layers has DHCPv4 and DHCPv6 decoders, but they reject a whole
// message for one bad option or a snap-length cut (we keep what came
// before), skip neither Pad nor the nesting of IA and relay options, and
// keep slices into the packet, which a parser may not retain.
package dhcp

import (
	"encoding/json"
	"reflect"
	"strconv"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
	"github.com/flowjoy/flowjoy/userspace/proto"
)

// Limits.
const (
	// maxMessages bounds the messages kept per flow: a lease takes four,
	// a busy broadcast flow (0.0.0.0:68 → 255.255.255.255:67 carries every
	// client's DISCOVER) would otherwise grow without end.
	maxMessages = 32
	// maxOptions bounds the options decoded per message, nested ones
	// included. A 1500-byte message holds at most a few hundred.
	maxOptions = 255
	// maxDepth bounds nesting: a relayed message in a relayed message, or
	// an option inside an option (IA_NA → IAADDR → STATUS_CODE). RFC 8415
	// limits relays to 8 hops.
	maxDepth = 12
)

// Version is the DHCP version a flow's ports say it carries.
type Version uint8

const (
	NotDHCP Version = iota
	V4              // UDP 67/68: BOOTP and DHCPv4
	V6              // UDP 546/547: DHCPv6
)

// Detect returns the DHCP version of a UDP flow by its ports. DHCP has no
// signature worth the name (BOOTP's first byte is 1 or 2), so ports it is:
// clients use 68 (546), servers and relays 67 (547).
func Detect(srcPort, dstPort uint16) Version {
	switch {
	case srcPort == 67 || srcPort == 68 || dstPort == 67 || dstPort == 68:
		return V4
	case srcPort == 546 || srcPort == 547 || dstPort == 546 || dstPort == 547:
		return V6
	}
	return NotDHCP
}

// New returns the parser for a version, or nil for NotDHCP.
func New(v Version) proto.Datagram {
	switch v {
	case V4:
		return NewV4()
	case V6:
		return NewV6()
	}
	return nil
}

// dirString is Joy's way of writing a direction.
func dirString(d proto.Dir) string {
	if d == proto.In {
		return "<"
	}
	return ">"
}

func wire(b []byte) jsontext.WireString { return jsontext.WireString(b) }

// Option is one option of either version, written as Joy writes DHCPv4
// options: an object with one key, the option's name, whose value holds
// the code, the length, the raw value and, for known options, the value
// decoded.
type Option struct {
	Name string
	Body OptionBody
}

// OptionBody is what an Option's name maps to.
type OptionBody struct {
	Code int `json:"code"`
	Len  int `json:"len"`
	// Value is the raw option data in hex; for DHCPv4 option 53 it is the
	// message type's name, as Joy writes it. Absent when the length is 0.
	Value any `json:"value,omitempty"`
	// Decoded is the value in its natural form: an address, a number, a
	// string, a list, or an object.
	Decoded any `json:"decoded,omitempty"`
	// Error says why the option could not be decoded (bad length, cut
	// short by the end of the message).
	Error string `json:"error,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (o Option) MarshalJSON() ([]byte, error) {
	body, err := json.Marshal(o.Body)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(o.Name)+len(body)+5)
	out = append(out, '{')
	out = strconv.AppendQuote(out, o.Name)
	out = append(out, ':')
	out = append(out, body...)
	return append(out, '}'), nil
}

// budget counts options across a message's nesting levels.
type budget struct {
	options int
}

// take reserves one option; false once maxOptions are used.
func (b *budget) take() bool {
	if b.options >= maxOptions {
		return false
	}
	b.options++
	return true
}

// isNil reports whether a decoded value is nothing: an untyped nil, or a
// nil pointer or slice in an interface (which would marshal as null).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch r := reflect.ValueOf(v); r.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		return r.IsNil()
	}
	return false
}
