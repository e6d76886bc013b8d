package dhcp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
	"github.com/flowjoy/flowjoy/userspace/proto"
)

// The BOOTP header (RFC 951, RFC 2131 §2): fixed fields up to the options.
const (
	offChaddr  = 28
	offSname   = 44
	offFile    = 108
	offCookie  = 236
	offOptions = 240
	lenChaddr  = 16
	lenSname   = 64
	lenFile    = 128
)

var magicCookie = []byte{99, 130, 83, 99}

// Option codes with a meaning beyond their value.
const (
	optPad      = 0
	optOverload = 52
	optMsgType  = 53
	optEnd      = 255
)

// MessageV4 is one DHCPv4 (or BOOTP) message. The header keys and their
// string-typed numbers are Joy's (Joy printed them with "%u" in quotes);
// a field the message is too short to hold is left out.
type MessageV4 struct {
	Op     string              `json:"op,omitempty"`
	Htype  string              `json:"htype,omitempty"`
	Hlen   string              `json:"hlen,omitempty"`
	Hops   string              `json:"hops,omitempty"`
	Xid    string              `json:"xid,omitempty"`
	Secs   string              `json:"secs,omitempty"`
	Flags  string              `json:"flags,omitempty"`
	Ciaddr string              `json:"ciaddr,omitempty"`
	Yiaddr string              `json:"yiaddr,omitempty"`
	Siaddr string              `json:"siaddr,omitempty"`
	Giaddr string              `json:"giaddr,omitempty"`
	Chaddr jsontext.HexBytes   `json:"chaddr,omitempty"` // all 16 bytes, as Joy
	Sname  jsontext.WireString `json:"sname,omitempty"`  // up to the first NUL
	File   jsontext.WireString `json:"file,omitempty"`
	// Options in wire order; with Option Overload (52) the options carried
	// in file and then sname follow (RFC 2131 §4.1).
	Options []Option `json:"options,omitempty"`

	// New keys.
	Dir string `json:"dir,omitempty"` // ">" from the flow's initiator, "<" toward it
	// Truncated says the capture cut the datagram short.
	Truncated bool `json:"truncated,omitempty"`
	// Error says what in the message did not follow the RFCs; everything
	// before it was decoded.
	Error string `json:"error,omitempty"`
}

// ParserV4 implements proto.Datagram for DHCPv4. Its zero value is ready
// to use.
type ParserV4 struct {
	msgs []*MessageV4
}

// NewV4 returns a ParserV4.
func NewV4() *ParserV4 { return &ParserV4{} }

var _ proto.Datagram = (*ParserV4)(nil)

// Datagram implements proto.Datagram.
func (p *ParserV4) Datagram(dir proto.Dir, payload []byte, truncated bool, _ int64) {
	if p.Done() || len(payload) == 0 {
		return
	}
	m := parseV4(payload, &budget{})
	m.Dir = dirString(dir)
	m.Truncated = truncated
	p.msgs = append(p.msgs, m)
}

// Done implements proto.Datagram: the flow has given maxMessages.
func (p *ParserV4) Done() bool { return len(p.msgs) >= maxMessages }

// Report implements proto.Reporter.
func (p *ParserV4) Report() (string, any) {
	if len(p.msgs) == 0 {
		return "dhcp", nil
	}
	return "dhcp", p.msgs
}

// parseV4 decodes one message. bud is shared with an enclosing DHCPv6
// message when the DHCPv4 message travels inside one (RFC 7341).
func parseV4(b []byte, bud *budget) *MessageV4 {
	m := &MessageV4{}
	u8 := func(off int) string {
		if off < len(b) {
			return strconv.FormatUint(uint64(b[off]), 10)
		}
		return ""
	}
	u16 := func(off int) string {
		if off+2 <= len(b) {
			return strconv.FormatUint(uint64(binary.BigEndian.Uint16(b[off:])), 10)
		}
		return ""
	}
	addr := func(off int) string {
		if off+4 <= len(b) {
			return netip.AddrFrom4([4]byte(b[off : off+4])).String()
		}
		return ""
	}
	m.Op, m.Htype, m.Hlen, m.Hops = u8(0), u8(1), u8(2), u8(3)
	if len(b) >= 8 {
		m.Xid = strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[4:])), 10)
	}
	m.Secs, m.Flags = u16(8), u16(10)
	m.Ciaddr, m.Yiaddr, m.Siaddr, m.Giaddr = addr(12), addr(16), addr(20), addr(24)
	if len(b) >= offSname {
		m.Chaddr = bytes.Clone(b[offChaddr:offSname])
	}
	if len(b) < offCookie {
		m.Error = fmt.Sprintf("message of %d bytes ends inside the %d-byte BOOTP header", len(b), offCookie)
		return m
	}
	sname, file := b[offSname:offFile], b[offFile:offCookie]
	if len(b) < offOptions || !bytes.Equal(b[offCookie:offOptions], magicCookie) {
		// BOOTP without DHCP options (RFC 951's vendor area), or garbage.
		m.Sname, m.File = cstring(sname), cstring(file)
		if len(b) > offCookie {
			m.Error = fmt.Sprintf("no DHCP magic cookie (%x)", b[offCookie:min(len(b), offOptions)])
		}
		return m
	}
	var overload byte
	var err error
	m.Options, overload, err = parseOptionsV4(m.Options, b[offOptions:], bud)
	// RFC 2131 §4.1: with Option Overload, file and then sname carry more
	// options instead of names.
	if err == nil && overload&1 != 0 {
		m.Options, _, err = parseOptionsV4(m.Options, file, bud)
		file = nil
	}
	if err == nil && overload&2 != 0 {
		m.Options, _, err = parseOptionsV4(m.Options, sname, bud)
		sname = nil
	}
	m.Sname, m.File = cstring(sname), cstring(file)
	if err != nil {
		m.Error = err.Error()
	}
	return m
}

// cstring returns a NUL-terminated field's text.
func cstring(b []byte) jsontext.WireString {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return wire(b)
}

// parseOptionsV4 appends the options of one area (RFC 2132 §2) to opts, up
// to the End option, and returns the Option Overload value seen.
func parseOptionsV4(opts []Option, b []byte, bud *budget) ([]Option, byte, error) {
	var overload byte
	for i := 0; i < len(b); {
		code := b[i]
		switch code {
		case optPad:
			i++
			continue
		case optEnd:
			return opts, overload, nil
		}
		if !bud.take() {
			return opts, overload, fmt.Errorf("more than %d options", maxOptions)
		}
		o := Option{Name: nameV4(code), Body: OptionBody{Code: int(code)}}
		if i+1 >= len(b) {
			o.Body.Error = "no length: message ends"
			return append(opts, o), overload, fmt.Errorf("option %d at offset %d has no length", code, i)
		}
		n := int(b[i+1])
		o.Body.Len = n
		data := b[i+2:]
		var err error
		if len(data) < n {
			o.Body.Error = fmt.Sprintf("%d of %d bytes: message ends", len(data), n)
			err = fmt.Errorf("option %d at offset %d runs past the end", code, i)
		} else {
			data = data[:n]
		}
		if n > 0 {
			o.Body.Value = jsontext.HexBytes(bytes.Clone(data))
		}
		if err == nil {
			if code == optOverload && n == 1 {
				overload = data[0]
			}
			decodeV4(&o, data)
		}
		opts = append(opts, o)
		if err != nil {
			return opts, overload, err
		}
		i += 2 + n
	}
	// No End option: tolerated, as by every server (the area simply ends).
	return opts, overload, nil
}
