package dhcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// namesV6 are the DHCPv6 option names: Joy's where Joy had one (IANA's
// OPTION_ names without the prefix and underscores), the same rule for the
// rest. Options without a name here are named by their decimal code, as
// Joy did.
var namesV6 = map[uint16]string{
	1: "CLIENTID", 2: "SERVERID", 3: "IANA", 4: "IATA", 5: "IAADDR", 6: "ORO",
	7: "PREFERENCE", 8: "ELAPSEDTIME", 9: "RELAYMSG", 11: "AUTHENTICATION",
	12: "UNICAST", 13: "STATUSCODE", 14: "RAPIDCOMMIT", 15: "USERCLASS",
	16: "VENDORCLASS", 17: "VENDOROPTS", 18: "INTERFACEID", 19: "RECONFMSG",
	20: "RECONFACCEPT", 21: "SIPSERVERD", 22: "SIPSERVERA", 23: "DNSSERVERS",
	24: "DOMAINLIST", 25: "IAPD", 26: "IAPREFIX", 27: "NISSERVERS",
	28: "NISPSERVERS", 29: "NISDOMAINNAME", 30: "NISPDOMAINNAME",
	31: "SNTPSERVERS", 32: "INFOREFRESHTIME", 33: "BCMCSSERVERD",
	34: "BCMCSSERVERA", 36: "GEOCONFCIVIC", 37: "REMOTEID", 38: "SUBSCRIBERID",
	39: "CLIENTFQDN", 40: "PANAAGENT", 41: "NEWPOSIXTIMEZONE",
	42: "NEWTZDBTIMEZONE", 43: "ERO", 44: "LQQUERY", 45: "CLIENTDATA",
	46: "CLTTIME", 47: "LQRELAYDATA", 48: "LQCLIENTLINK", 56: "NTPSERVER",
	59: "BOOTFILEURL", 60: "BOOTFILEPARAM", 61: "CLIENTARCHTYPE", 62: "NII",
	64: "AFTRNAME", 65: "ERPLOCALDOMAINNAME", 66: "RSOO", 67: "PDEXCLUDE",
	79: "CLIENTLINKLAYERADDR", 80: "LINKADDRESS", 82: "SOLMAXRT", 83: "INFMAXRT",
	87: "DHCPV4MSG", 88: "DHCP4O6SERVERADDR", 103: "V6CAPTIVEPORTAL",
	112: "MUDURLV6", 135: "RELAYPORT", 136: "V6SZTPREDIRECT",
}

func nameV6(code uint16) string {
	if n, ok := namesV6[code]; ok {
		return n
	}
	return strconv.Itoa(int(code))
}

// kindsV6 lays out the options that need no function of their own.
var kindsV6 = map[uint16]kind{
	7: kindU8, 8: kindU16, 12: kindAddr, 19: kindU8, 22: kindAddrs, 23: kindAddrs,
	27: kindAddrs, 28: kindAddrs, 31: kindAddrs, 32: kindU32, 34: kindAddrs,
	38: kindString, 40: kindAddrs, 41: kindString, 42: kindString, 46: kindU32,
	48: kindAddrs, 59: kindString, 80: kindAddr, 82: kindU32, 83: kindU32,
	88: kindAddrs, 103: kindString, 112: kindString, 135: kindU16,
}

// DUID is a DHCP Unique Identifier (RFC 8415 §11, RFC 6355).
type DUID struct {
	Type       uint16            `json:"type"`
	HWType     *uint16           `json:"hwtype,omitempty"`     // LLT, LL
	Time       *uint32           `json:"time,omitempty"`       // LLT: seconds since 2000-01-01 UTC
	LLAddr     string            `json:"lladdr,omitempty"`     // LLT, LL: link-layer address
	Enterprise *uint32           `json:"enterprise,omitempty"` // EN
	ID         jsontext.HexBytes `json:"id,omitempty"`         // EN identifier; unknown types: all
	UUID       jsontext.HexBytes `json:"uuid,omitempty"`       // UUID (RFC 6355)
}

// IA is IA_NA, IA_TA or IA_PD (RFC 8415 §21.4, 21.5, 21.21).
type IA struct {
	IAID    uint32   `json:"iaid"`
	T1      *uint32  `json:"t1,omitempty"` // not in IA_TA
	T2      *uint32  `json:"t2,omitempty"`
	Options []Option `json:"options,omitempty"`
}

// IAAddress is IAADDR, or IAPREFIX with Prefix set (RFC 8415 §21.6, 21.22).
type IAAddress struct {
	Address           string   `json:"address,omitempty"`
	Prefix            string   `json:"prefix,omitempty"`
	PreferredLifetime uint32   `json:"preferred_lifetime"`
	ValidLifetime     uint32   `json:"valid_lifetime"`
	Options           []Option `json:"options,omitempty"`
}

// StatusCode is STATUS_CODE (RFC 8415 §21.13), and DHCPv4's status-code.
type StatusCode struct {
	Code    uint16              `json:"code"`
	Message jsontext.WireString `json:"message"`
}

// Vendor is VENDOR_CLASS (data items) or VENDOR_OPTS (sub-options).
type Vendor struct {
	Enterprise uint32                `json:"enterprise"`
	Data       []jsontext.WireString `json:"data,omitempty"`
	Options    []SubOption           `json:"options,omitempty"`
}

// FQDNV6 is CLIENT_FQDN (RFC 4704); a name without the root label is a
// partial name.
type FQDNV6 struct {
	Flags   uint8               `json:"flags"`
	Name    jsontext.WireString `json:"name"`
	Partial bool                `json:"partial,omitempty"`
}

// NTPServer is one sub-option of NTP_SERVER (RFC 5908).
type NTPServer struct {
	Address   string              `json:"address,omitempty"`
	Multicast string              `json:"multicast,omitempty"`
	FQDN      jsontext.WireString `json:"fqdn,omitempty"`
}

// LinkLayer is CLIENT_LINKLAYER_ADDR (RFC 6939).
type LinkLayer struct {
	HWType uint16 `json:"hwtype"`
	LLAddr string `json:"lladdr"`
}

// RemoteID is REMOTE_ID (RFC 4649).
type RemoteID struct {
	Enterprise uint32            `json:"enterprise"`
	ID         jsontext.HexBytes `json:"id"`
}

// decodeV6 fills o's Decoded from the option's data.
func decodeV6(o *Option, data []byte, bud *budget, depth int) {
	var v any
	var err error
	code := uint16(o.Body.Code)
	if k, ok := kindsV6[code]; ok {
		v, err = decodeKind(k, data, 16)
	} else {
		v, err = specialV6(code, data, bud, depth)
	}
	if err != nil {
		o.Body.Error = err.Error()
	}
	// A nested option list keeps what decoded before its error.
	if !isNil(v) {
		o.Body.Decoded = v
	}
}

func specialV6(code uint16, data []byte, bud *budget, depth int) (any, error) {
	u32 := func(off int) uint32 { return binary.BigEndian.Uint32(data[off:]) }
	switch code {
	case 1, 2: // CLIENTID, SERVERID
		return parseDUID(data)
	case 3, 25: // IA_NA, IA_PD: IAID, T1, T2, options
		if len(data) < 12 {
			return nil, fmt.Errorf("length %d, want at least 12", len(data))
		}
		t1, t2 := u32(4), u32(8)
		ia := &IA{IAID: u32(0), T1: &t1, T2: &t2}
		var err error
		ia.Options, err = parseOptionsV6(data[12:], bud, depth+1)
		return ia, err
	case 4: // IA_TA: IAID, options
		if len(data) < 4 {
			return nil, fmt.Errorf("length %d, want at least 4", len(data))
		}
		ia := &IA{IAID: u32(0)}
		var err error
		ia.Options, err = parseOptionsV6(data[4:], bud, depth+1)
		return ia, err
	case 5: // IAADDR: address, preferred and valid lifetimes, options
		if len(data) < 24 {
			return nil, fmt.Errorf("length %d, want at least 24", len(data))
		}
		a := &IAAddress{Address: addrString(data[:16]), PreferredLifetime: u32(16), ValidLifetime: u32(20)}
		var err error
		a.Options, err = parseOptionsV6(data[24:], bud, depth+1)
		return a, err
	case 26: // IAPREFIX: lifetimes, prefix length, prefix, options
		if len(data) < 25 {
			return nil, fmt.Errorf("length %d, want at least 25", len(data))
		}
		if data[8] > 128 {
			return nil, fmt.Errorf("prefix length %d", data[8])
		}
		prefix := netip.PrefixFrom(netip.AddrFrom16([16]byte(data[9:25])), int(data[8]))
		a := &IAAddress{Prefix: prefix.String(), PreferredLifetime: u32(0), ValidLifetime: u32(4)}
		var err error
		a.Options, err = parseOptionsV6(data[25:], bud, depth+1)
		return a, err
	case 6, 43: // ORO, ERO: option codes
		if len(data)%2 != 0 {
			return nil, fmt.Errorf("length %d, want a multiple of 2", len(data))
		}
		codes := make([]uint16, 0, len(data)/2)
		for i := 0; i < len(data); i += 2 {
			codes = append(codes, binary.BigEndian.Uint16(data[i:]))
		}
		return codes, nil
	case 9: // RELAY_MSG: a whole message
		if len(data) == 0 {
			return nil, fmt.Errorf("empty relayed message")
		}
		if depth+1 >= maxDepth {
			return nil, fmt.Errorf("nested deeper than %d", maxDepth)
		}
		return parseV6(data, bud, depth+1), nil
	case 87: // DHCPV4_MSG (RFC 7341): a DHCPv4 message
		if len(data) == 0 {
			return nil, fmt.Errorf("empty DHCPv4 message")
		}
		return parseV4(data, bud), nil
	case 13: // STATUS_CODE
		if len(data) < 2 {
			return nil, fmt.Errorf("length %d, want at least 2", len(data))
		}
		return StatusCode{Code: binary.BigEndian.Uint16(data), Message: wire(data[2:])}, nil
	case 15: // USER_CLASS: length-prefixed opaque data
		return lengthPrefixed16(data)
	case 16: // VENDOR_CLASS: enterprise, length-prefixed data
		if len(data) < 4 {
			return nil, fmt.Errorf("length %d, want at least 4", len(data))
		}
		items, err := lengthPrefixed16(data[4:])
		return &Vendor{Enterprise: u32(0), Data: items}, err
	case 17: // VENDOR_OPTS: enterprise, sub-options with 16-bit code and length
		if len(data) < 4 {
			return nil, fmt.Errorf("length %d, want at least 4", len(data))
		}
		v := &Vendor{Enterprise: u32(0)}
		for i := 4; i < len(data); {
			if i+4 > len(data) || i+4+int(binary.BigEndian.Uint16(data[i+2:])) > len(data) {
				return v, fmt.Errorf("sub-option at %d runs past the end", i)
			}
			n := int(binary.BigEndian.Uint16(data[i+2:]))
			v.Options = append(v.Options, SubOption{Code: int(binary.BigEndian.Uint16(data[i:])), Value: clone(data[i+4 : i+4+n])})
			i += 4 + n
		}
		return v, nil
	case 136: // SZTP redirect (RFC 8572): URIs with 16-bit lengths
		return lengthPrefixed16(data)
	case 21, 24, 29, 30, 33, 65: // domain name lists
		return readNames(data, false)
	case 64: // AFTR_NAME: one name
		names, err := readNames(data, false)
		if err == nil && len(names) != 1 {
			err = fmt.Errorf("%d names, want 1", len(names))
		}
		if err != nil {
			return nil, err
		}
		return names[0], nil
	case 37: // REMOTE_ID
		if len(data) < 4 {
			return nil, fmt.Errorf("length %d, want at least 4", len(data))
		}
		return &RemoteID{Enterprise: u32(0), ID: clone(data[4:])}, nil
	case 39: // CLIENT_FQDN
		if len(data) < 1 {
			return nil, fmt.Errorf("length 0")
		}
		name, next, complete, err := readName(data[1:], 0, false)
		if err == nil && next != len(data)-1 {
			err = fmt.Errorf("%d bytes after the name", len(data)-1-next)
		}
		if err != nil {
			return nil, err
		}
		return &FQDNV6{Flags: data[0], Name: wire([]byte(name)), Partial: !complete && len(data) > 1}, nil
	case 56: // NTP_SERVER: sub-options
		var out []NTPServer
		for i := 0; i < len(data); {
			if i+4 > len(data) || i+4+int(binary.BigEndian.Uint16(data[i+2:])) > len(data) {
				return out, fmt.Errorf("sub-option at %d runs past the end", i)
			}
			sub, n := binary.BigEndian.Uint16(data[i:]), int(binary.BigEndian.Uint16(data[i+2:]))
			val := data[i+4 : i+4+n]
			switch {
			case (sub == 1 || sub == 2) && n == 16:
				s := NTPServer{}
				if sub == 1 {
					s.Address = addrString(val)
				} else {
					s.Multicast = addrString(val)
				}
				out = append(out, s)
			case sub == 3:
				names, err := readNames(val, false)
				if err != nil || len(names) != 1 {
					return out, fmt.Errorf("sub-option at %d: bad FQDN", i)
				}
				out = append(out, NTPServer{FQDN: names[0]})
			default:
				return out, fmt.Errorf("sub-option %d of %d bytes at %d", sub, n, i)
			}
			i += 4 + n
		}
		return out, nil
	case 79: // CLIENT_LINKLAYER_ADDR
		if len(data) < 3 {
			return nil, fmt.Errorf("length %d, want at least 3", len(data))
		}
		return &LinkLayer{HWType: binary.BigEndian.Uint16(data), LLAddr: macString(data[2:])}, nil
	}
	return nil, nil
}

// parseDUID decodes a DUID (RFC 8415 §11.1).
func parseDUID(b []byte) (*DUID, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("DUID of %d bytes", len(b))
	}
	d := &DUID{Type: binary.BigEndian.Uint16(b)}
	b = b[2:]
	switch d.Type {
	case 1: // DUID-LLT: hardware type, time, link-layer address
		if len(b) < 6 {
			return nil, fmt.Errorf("DUID-LLT of %d bytes", len(b)+2)
		}
		hw, t := binary.BigEndian.Uint16(b), binary.BigEndian.Uint32(b[2:])
		d.HWType, d.Time, d.LLAddr = &hw, &t, macString(b[6:])
	case 2: // DUID-EN: enterprise number, identifier
		if len(b) < 4 {
			return nil, fmt.Errorf("DUID-EN of %d bytes", len(b)+2)
		}
		en := binary.BigEndian.Uint32(b)
		d.Enterprise, d.ID = &en, clone(b[4:])
	case 3: // DUID-LL: hardware type, link-layer address
		if len(b) < 2 {
			return nil, fmt.Errorf("DUID-LL of %d bytes", len(b)+2)
		}
		hw := binary.BigEndian.Uint16(b)
		d.HWType, d.LLAddr = &hw, macString(b[2:])
	case 4: // DUID-UUID (RFC 6355)
		if len(b) != 16 {
			return nil, fmt.Errorf("DUID-UUID of %d bytes", len(b)+2)
		}
		d.UUID = clone(b)
	default:
		d.ID = clone(b)
	}
	return d, nil
}

// lengthPrefixed16 splits data into items of a 16-bit length and that many
// bytes (RFC 8415 §21.15, 21.16).
func lengthPrefixed16(data []byte) ([]jsontext.WireString, error) {
	var items []jsontext.WireString
	for i := 0; i < len(data); {
		if i+2 > len(data) || i+2+int(binary.BigEndian.Uint16(data[i:])) > len(data) {
			return items, fmt.Errorf("item at %d runs past the end", i)
		}
		n := int(binary.BigEndian.Uint16(data[i:]))
		items = append(items, wire(data[i+2:i+2+n]))
		i += 2 + n
	}
	return items, nil
}
