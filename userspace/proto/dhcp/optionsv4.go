package dhcp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// msgTypesV4 name the values of option 53 (RFC 2132 §9.6, RFC 4388,
// RFC 6926, RFC 7724), as Joy names them.
var msgTypesV4 = [...]string{
	1: "DHCPDISCOVER", 2: "DHCPOFFER", 3: "DHCPREQUEST", 4: "DHCPDECLINE",
	5: "DHCPACK", 6: "DHCPNAK", 7: "DHCPRELEASE", 8: "DHCPINFORM",
	9: "DHCPFORCERENEW", 10: "DHCPLEASEQUERY", 11: "DHCPLEASEUNASSIGNED",
	12: "DHCPLEASEUNKNOWN", 13: "DHCPLEASEACTIVE", 14: "DHCPBULKLEASEQUERY",
	15: "DHCPLEASEQUERYDONE", 16: "DHCPACTIVELEASEQUERY",
	17: "DHCPLEASEQUERYSTATUS", 18: "DHCPTLS",
}

// kind is how an option's value is laid out.
type kind uint8

const (
	kindRaw     kind = iota // opaque: hex only
	kindAddr                // one IPv4 address
	kindAddrs               // a list of IPv4 addresses
	kindString              // text (NUL padding dropped)
	kindBool                // one byte, 0 or 1
	kindU8                  // one byte
	kindU16                 // two bytes
	kindU32                 // four bytes
	kindI32                 // four bytes, signed
	kindU16s                // a list of uint16
	kindSpecial             // decoded by its own function
)

// kindsV4 lays out the options of RFC 2132 and later RFCs.
var kindsV4 = [256]kind{
	1: kindAddr, 2: kindI32, 3: kindAddrs, 4: kindAddrs, 5: kindAddrs, 6: kindAddrs,
	7: kindAddrs, 8: kindAddrs, 9: kindAddrs, 10: kindAddrs, 11: kindAddrs,
	12: kindString, 13: kindU16, 14: kindString, 15: kindString, 16: kindAddr,
	17: kindString, 18: kindString, 19: kindBool, 20: kindBool, 21: kindSpecial,
	22: kindU16, 23: kindU8, 24: kindU32, 25: kindU16s, 26: kindU16, 27: kindBool,
	28: kindAddr, 29: kindBool, 30: kindBool, 31: kindBool, 32: kindAddr,
	33: kindSpecial, 34: kindBool, 35: kindU32, 36: kindBool, 37: kindU8,
	38: kindU32, 39: kindBool, 40: kindString, 41: kindAddrs, 42: kindAddrs,
	44: kindAddrs, 45: kindAddrs, 46: kindU8, 47: kindString, 48: kindAddrs,
	49: kindAddrs, 50: kindAddr, 51: kindU32, 52: kindU8, 53: kindSpecial,
	54: kindAddr, 55: kindSpecial, 56: kindString, 57: kindU16, 58: kindU32,
	59: kindU32, 60: kindString, 61: kindSpecial, 64: kindString, 65: kindAddrs,
	66: kindString, 67: kindString, 68: kindAddrs, 69: kindAddrs, 70: kindAddrs,
	71: kindAddrs, 72: kindAddrs, 73: kindAddrs, 74: kindAddrs, 75: kindAddrs,
	76: kindAddrs, 77: kindSpecial, 81: kindSpecial, 82: kindSpecial, 85: kindAddrs,
	86: kindString, 87: kindString, 89: kindAddrs, 91: kindU32, 92: kindAddrs,
	100: kindString, 101: kindString, 108: kindU32, 112: kindAddrs, 114: kindString,
	116: kindU8, 118: kindAddr, 119: kindSpecial, 121: kindSpecial, 124: kindSpecial, 143: kindSpecial,
	125: kindSpecial, 138: kindAddrs, 150: kindAddrs, 151: kindSpecial,
	152: kindU32, 153: kindU32, 154: kindU32, 155: kindU32, 160: kindString,
	161: kindString, 209: kindString, 210: kindString, 211: kindU32,
}

// decodeV4 fills o's Decoded (and, for the message type, Joy's Value) from
// the option's complete data.
func decodeV4(o *Option, data []byte) {
	code := o.Body.Code
	var v any
	var err error
	switch k := kindsV4[code]; k {
	case kindRaw:
		return
	case kindSpecial:
		v, err = specialV4(o, data)
	default:
		v, err = decodeKind(k, data, 4)
	}
	if err != nil {
		o.Body.Error = err.Error()
		return
	}
	if !isNil(v) {
		o.Body.Decoded = v
	}
}

// decodeKind decodes the common layouts; addrLen is 4 or 16.
func decodeKind(k kind, data []byte, addrLen int) (any, error) {
	fixed := func(n int) error {
		if len(data) != n {
			return fmt.Errorf("length %d, want %d", len(data), n)
		}
		return nil
	}
	switch k {
	case kindAddr:
		if err := fixed(addrLen); err != nil {
			return nil, err
		}
		return addrString(data), nil
	case kindAddrs:
		if len(data) == 0 || len(data)%addrLen != 0 {
			return nil, fmt.Errorf("length %d, want a multiple of %d", len(data), addrLen)
		}
		return addrList(data, addrLen), nil
	case kindString:
		return wire(bytes.TrimRight(data, "\x00")), nil
	case kindBool:
		if err := fixed(1); err != nil {
			return nil, err
		}
		return data[0] != 0, nil
	case kindU8:
		if err := fixed(1); err != nil {
			return nil, err
		}
		return data[0], nil
	case kindU16:
		if err := fixed(2); err != nil {
			return nil, err
		}
		return binary.BigEndian.Uint16(data), nil
	case kindU32:
		if err := fixed(4); err != nil {
			return nil, err
		}
		return binary.BigEndian.Uint32(data), nil
	case kindI32:
		if err := fixed(4); err != nil {
			return nil, err
		}
		return int32(binary.BigEndian.Uint32(data)), nil
	case kindU16s:
		if len(data) == 0 || len(data)%2 != 0 {
			return nil, fmt.Errorf("length %d, want a multiple of 2", len(data))
		}
		out := make([]uint16, 0, len(data)/2)
		for i := 0; i < len(data); i += 2 {
			out = append(out, binary.BigEndian.Uint16(data[i:]))
		}
		return out, nil
	}
	return nil, nil
}

func addrString(b []byte) string {
	a, _ := netip.AddrFromSlice(b)
	return a.String()
}

func addrList(b []byte, n int) []string {
	out := make([]string, 0, len(b)/n)
	for i := 0; i+n <= len(b); i += n {
		out = append(out, addrString(b[i:i+n]))
	}
	return out
}

// Route is a destination and the router to it (options 33, 121) or an
// address and mask pair (option 21).
type Route struct {
	Destination string `json:"destination"`
	Router      string `json:"router,omitempty"`
	Mask        string `json:"mask,omitempty"`
}

// ClientIDV4 is option 61 (RFC 2132 §9.14, RFC 4361).
type ClientIDV4 struct {
	Type   uint8             `json:"type"`
	HWAddr string            `json:"hwaddr,omitempty"` // type 1 (Ethernet), 6 bytes
	IAID   *uint32           `json:"iaid,omitempty"`   // type 255: RFC 4361
	DUID   *DUID             `json:"duid,omitempty"`
	ID     jsontext.HexBytes `json:"id,omitempty"` // any other type
}

// FQDNV4 is option 81 (RFC 4702).
type FQDNV4 struct {
	Flags  uint8               `json:"flags"`
	RCode1 uint8               `json:"rcode1"`
	RCode2 uint8               `json:"rcode2"`
	Name   jsontext.WireString `json:"name"`
}

// SubOption is a sub-option kept as raw bytes (relay agent information,
// vendor-specific data).
type SubOption struct {
	Code  int               `json:"code"`
	Value jsontext.HexBytes `json:"value"`
}

// VendorData is an enterprise's data (options 124 and 125, RFC 3925).
type VendorData struct {
	Enterprise uint32            `json:"enterprise"`
	Data       jsontext.HexBytes `json:"data"`
}

func specialV4(o *Option, data []byte) (any, error) {
	switch o.Body.Code {
	case optMsgType:
		if len(data) != 1 {
			return nil, fmt.Errorf("length %d, want 1", len(data))
		}
		if t := int(data[0]); t < len(msgTypesV4) && msgTypesV4[t] != "" {
			o.Body.Value = msgTypesV4[t] // Joy writes the name as the value
			return msgTypesV4[t], nil
		}
		return data[0], nil
	case 55: // Parameter Request List: option codes
		codes := make([]uint8, len(data))
		copy(codes, data)
		return codeList(codes), nil
	case 21, 33: // Policy Filter: address/mask; Static Route: destination/router
		if len(data) == 0 || len(data)%8 != 0 {
			return nil, fmt.Errorf("length %d, want a multiple of 8", len(data))
		}
		var routes []Route
		for i := 0; i < len(data); i += 8 {
			r := Route{Destination: addrString(data[i : i+4])}
			if o.Body.Code == 21 {
				r.Mask = addrString(data[i+4 : i+8])
			} else {
				r.Router = addrString(data[i+4 : i+8])
			}
			routes = append(routes, r)
		}
		return routes, nil
	case 121: // Classless Static Route (RFC 3442): width, significant octets, router
		var routes []Route
		for i := 0; i < len(data); {
			width := int(data[i])
			if width > 32 {
				return nil, fmt.Errorf("route at %d: prefix length %d", i, width)
			}
			sig := (width + 7) / 8
			if i+1+sig+4 > len(data) {
				return nil, fmt.Errorf("route at %d runs past the end", i)
			}
			var dst [4]byte
			copy(dst[:], data[i+1:i+1+sig])
			prefix := netip.PrefixFrom(netip.AddrFrom4(dst), width)
			routes = append(routes, Route{Destination: prefix.String(), Router: addrString(data[i+1+sig : i+5+sig])})
			i += 5 + sig
		}
		return routes, nil
	case 61:
		if len(data) < 2 {
			return nil, fmt.Errorf("length %d, want at least 2", len(data))
		}
		c := &ClientIDV4{Type: data[0]}
		switch {
		case data[0] == 1 && len(data) == 7:
			c.HWAddr = macString(data[1:])
		case data[0] == 255 && len(data) >= 7:
			iaid := binary.BigEndian.Uint32(data[1:])
			c.IAID = &iaid
			d, err := parseDUID(data[5:])
			if err != nil {
				return nil, err
			}
			c.DUID = d
		default:
			c.ID = bytes.Clone(data[1:])
		}
		return c, nil
	case 77: // User Class (RFC 3004): length-prefixed items; some clients send plain text
		if items, ok := lengthPrefixed8(data); ok {
			return items, nil
		}
		return []jsontext.WireString{wire(data)}, nil
	case 81:
		if len(data) < 3 {
			return nil, fmt.Errorf("length %d, want at least 3", len(data))
		}
		f := &FQDNV4{Flags: data[0], RCode1: data[1], RCode2: data[2]}
		if f.Flags&0x04 != 0 { // E: canonical wire format
			name, _, _, err := readName(data[3:], 0, false)
			if err != nil {
				return nil, err
			}
			f.Name = wire([]byte(name))
		} else {
			f.Name = wire(bytes.TrimRight(data[3:], "\x00"))
		}
		return f, nil
	case 82: // Relay Agent Information (RFC 3046): sub-options
		return subOptions8(data)
	case 119: // Domain Search (RFC 3397)
		return readNames(data, true)
	case 124, 125: // V-I Vendor Class / Vendor-Specific (RFC 3925)
		var out []VendorData
		for i := 0; i < len(data); {
			if i+5 > len(data) || i+5+int(data[i+4]) > len(data) {
				return nil, fmt.Errorf("enterprise data at %d runs past the end", i)
			}
			n := int(data[i+4])
			out = append(out, VendorData{Enterprise: binary.BigEndian.Uint32(data[i:]), Data: bytes.Clone(data[i+5 : i+5+n])})
			i += 5 + n
		}
		return out, nil
	case 143: // SZTP redirect (RFC 8572): URIs with 16-bit lengths
		return lengthPrefixed16(data)
	case 151: // status-code (RFC 6926)
		if len(data) < 1 {
			return nil, fmt.Errorf("length 0")
		}
		return StatusCode{Code: uint16(data[0]), Message: wire(data[1:])}, nil
	}
	return nil, nil
}

// codeList is a list of option codes; a plain []uint8 would marshal as
// base64.
type codeList []uint8

// MarshalJSON implements json.Marshaler.
func (c codeList) MarshalJSON() ([]byte, error) {
	out := []byte{'['}
	for i, v := range c {
		if i > 0 {
			out = append(out, ',')
		}
		out = fmt.Appendf(out, "%d", v)
	}
	return append(out, ']'), nil
}

func macString(b []byte) string {
	var out []byte
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = fmt.Appendf(out, "%02x", c)
	}
	return string(out)
}

// lengthPrefixed8 splits data into items of a length byte and that many
// bytes; ok is false unless they fill data exactly.
func lengthPrefixed8(data []byte) ([]jsontext.WireString, bool) {
	var items []jsontext.WireString
	for i := 0; i < len(data); {
		n := int(data[i])
		if n == 0 || i+1+n > len(data) {
			return nil, false
		}
		items = append(items, wire(data[i+1:i+1+n]))
		i += 1 + n
	}
	return items, len(items) > 0
}

// subOptions8 decodes code/length/value sub-options with one-byte fields.
func subOptions8(data []byte) ([]SubOption, error) {
	var out []SubOption
	for i := 0; i < len(data); {
		if i+2 > len(data) || i+2+int(data[i+1]) > len(data) {
			return out, fmt.Errorf("sub-option at %d runs past the end", i)
		}
		n := int(data[i+1])
		out = append(out, SubOption{Code: int(data[i]), Value: bytes.Clone(data[i+2 : i+2+n])})
		i += 2 + n
	}
	return out, nil
}
