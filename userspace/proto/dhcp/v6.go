package dhcp

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
	"github.com/flowjoy/flowjoy/userspace/proto"
)

// DHCPv6 message types (RFC 8415 §7.3, RFC 5007, RFC 5460, RFC 6977,
// RFC 7341). Joy's names for 1–13; the rest follow their pattern.
var msgTypesV6 = [...]string{
	1: "SOLICIT", 2: "ADVERTISE", 3: "REQUEST", 4: "CONFIRM", 5: "RENEW",
	6: "REBIND", 7: "REPLY", 8: "RELEASE", 9: "DECLINE", 10: "RECONFIGURE",
	11: "INFOREQUEST", 12: "RELAYFORWD", 13: "RELAYREPL", 14: "LEASEQUERY",
	15: "LEASEQUERYREPLY", 16: "LEASEQUERYDONE", 17: "LEASEQUERYDATA",
	18: "RECONFIGUREREQUEST", 19: "RECONFIGUREREPLY", 20: "DHCPV4QUERY",
	21: "DHCPV4RESPONSE", 22: "ACTIVELEASEQUERY", 23: "STARTTLS",
}

const (
	msgRelayForw = 12
	msgRelayRepl = 13
)

// MessageV6 is one DHCPv6 message. "type" and "transid" are Joy's keys and
// formats (the type's name, or its number in a string; the transaction id
// in hex without leading zeros).
type MessageV6 struct {
	Type    string `json:"type,omitempty"`
	TransID string `json:"transid,omitempty"`
	// Relay messages (RFC 8415 §9) have these instead of a transaction id.
	HopCount    *uint8 `json:"hop_count,omitempty"`
	LinkAddress string `json:"link_address,omitempty"`
	PeerAddress string `json:"peer_address,omitempty"`

	Options []Option `json:"options,omitempty"`

	Dir       string `json:"dir,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	Error     string `json:"error,omitempty"`
}

// ParserV6 implements proto.Datagram for DHCPv6. Its zero value is ready
// to use.
type ParserV6 struct {
	msgs []*MessageV6
}

// NewV6 returns a ParserV6.
func NewV6() *ParserV6 { return &ParserV6{} }

var _ proto.Datagram = (*ParserV6)(nil)

// Datagram implements proto.Datagram.
func (p *ParserV6) Datagram(dir proto.Dir, payload []byte, truncated bool, _ int64) {
	if p.Done() || len(payload) == 0 {
		return
	}
	m := parseV6(payload, &budget{}, 0)
	m.Dir = dirString(dir)
	m.Truncated = truncated
	p.msgs = append(p.msgs, m)
}

// Done implements proto.Datagram: the flow has given maxMessages.
func (p *ParserV6) Done() bool { return len(p.msgs) >= maxMessages }

// Report implements proto.Reporter. The key is Joy's "dhcpv6".
func (p *ParserV6) Report() (string, any) {
	if len(p.msgs) == 0 {
		return "dhcpv6", nil
	}
	return "dhcpv6", p.msgs
}

// parseV6 decodes one message; depth counts the messages and options it is
// nested in.
func parseV6(b []byte, bud *budget, depth int) *MessageV6 {
	m := &MessageV6{}
	t := int(b[0])
	if t < len(msgTypesV6) && msgTypesV6[t] != "" {
		m.Type = msgTypesV6[t]
	} else {
		m.Type = strconv.Itoa(t)
	}
	var opts []byte
	if t == msgRelayForw || t == msgRelayRepl {
		if len(b) < 34 {
			m.Error = fmt.Sprintf("relay message of %d bytes, header needs 34", len(b))
			return m
		}
		hops := b[1]
		m.HopCount = &hops
		m.LinkAddress, m.PeerAddress = addrString(b[2:18]), addrString(b[18:34])
		opts = b[34:]
	} else {
		if len(b) < 4 {
			m.Error = fmt.Sprintf("message of %d bytes, header needs 4", len(b))
			return m
		}
		m.TransID = strconv.FormatUint(uint64(b[1])<<16|uint64(b[2])<<8|uint64(b[3]), 16)
		opts = b[4:]
	}
	var err error
	m.Options, err = parseOptionsV6(opts, bud, depth)
	if err != nil {
		m.Error = err.Error()
	}
	return m
}

// parseOptionsV6 decodes a list of options (RFC 8415 §21.1) that fills b.
func parseOptionsV6(b []byte, bud *budget, depth int) ([]Option, error) {
	if depth >= maxDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	var opts []Option
	for i := 0; i < len(b); {
		if !bud.take() {
			return opts, fmt.Errorf("more than %d options", maxOptions)
		}
		if i+4 > len(b) {
			return opts, fmt.Errorf("option header at offset %d cut short", i)
		}
		code := binary.BigEndian.Uint16(b[i:])
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		o := Option{Name: nameV6(code), Body: OptionBody{Code: int(code), Len: n}}
		data := b[i+4:]
		if len(data) < n {
			o.Body.Error = fmt.Sprintf("%d of %d bytes: message ends", len(data), n)
			if len(data) > 0 {
				o.Body.Value = jsontext.HexBytes(clone(data))
			}
			return append(opts, o), fmt.Errorf("option %d at offset %d runs past the end", code, i)
		}
		data = data[:n]
		if n > 0 {
			o.Body.Value = jsontext.HexBytes(clone(data))
		}
		decodeV6(&o, data, bud, depth)
		opts = append(opts, o)
		i += 4 + n
	}
	return opts, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
