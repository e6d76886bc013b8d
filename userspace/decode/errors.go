package decode

import "errors"

// The four kinds of decode failure. Decode's errors match exactly one of
// them with errors.Is; the concrete error also says which header failed.
// They are package-level values so that failing costs no allocation.
//
// What is an error and what is not:
//
//   - ErrUnsupportedLink: the link type is not one Decode reads (nor,
//     under PKTAP, the link type it names).
//   - ErrNotIP: the frame is well formed as far as read but does not carry
//     IP (ARP, LLDP, STP and other 802.3/LLC frames, PPPoE discovery, PPP
//     control protocols and VJ-compressed TCP, MPLS or NSH over non-IP
//     payloads, BSD loopback and NFLOG families other than IPv4/IPv6, a
//     known tunnel whose inner frame is not IP). Not a flow packet, not
//     broken. (PPTP is the exception: its PPP frames that do not carry IP,
//     mostly encrypted data, stay in the GRE flow.)
//   - ErrTruncated: the capture ends before the flow key is known: inside
//     the link header, a VLAN tag, MPLS label stack or NSH, the fixed IPv4
//     or IPv6 header, the IPv4 AH or IPv6 extension-header chain (the
//     upper protocol is then unknown), or an NFLOG message without its
//     packet.
//   - ErrMalformed: a header that cannot be right: an IP version other
//     than the framing says (EtherType, PPP protocol...; raw-IP link
//     types, LINKTYPE_IPV4/IPV6 included, go by the version nibble, and
//     only a nibble other than 4 and 6 is malformed), IPv4 header length
//     < 20 or total length < header length, an IPv6 extension header or
//     IPv4 AH running past the IP length, an IPv6 jumbo length below
//     65536, more than maxVLANTags VLAN tags, maxMPLSLabels labels or
//     maxExtHeaders extension headers, a PPPoE session header with a bad
//     version or code, a bad NSH or PKTAP header.
//
// Everything past the flow key is best effort and never an error: a
// transport header that is cut short or has impossible length fields
// leaves TransportOK false (the packet still counts for its flow by
// addresses and protocol), and a tunnel whose inner packet cannot be
// read far enough for a flow key is not entered (the outer packet is the
// flow).
var (
	ErrUnsupportedLink = errors.New("decode: unsupported link type")
	ErrNotIP           = errors.New("decode: not an IP packet")
	ErrTruncated       = errors.New("decode: capture ends before the flow key")
	ErrMalformed       = errors.New("decode: malformed header")
)

// decodeError is a failure of one named header, wrapping one of the four
// kinds. All instances are package-level variables.
type decodeError struct {
	kind error
	what string
}

func (e *decodeError) Error() string { return e.kind.Error() + ": " + e.what }
func (e *decodeError) Unwrap() error { return e.kind }

func truncated(what string) error { return &decodeError{ErrTruncated, what} }
func malformed(what string) error { return &decodeError{ErrMalformed, what} }

var (
	errShortEthernet = truncated("ethernet header")
	errShortLLC      = truncated("802.2 LLC/SNAP header")
	errShortVLAN     = truncated("802.1Q/802.1ad tag")
	errShortMPLS     = truncated("MPLS label stack")
	errShortPPP      = truncated("PPP protocol field")
	errShortPPPoE    = truncated("PPPoE session header")
	errShortSLL      = truncated("Linux cooked (SLL) header")
	errShortSLL2     = truncated("Linux cooked v2 (SLL2) header")
	errShortLoopback = truncated("BSD loopback family")
	errShortCHDLC    = truncated("Cisco HDLC header")
	errShortRawIP    = truncated("raw IP version nibble")
	errShortIPv4     = truncated("IPv4 header")
	errShortIPv6     = truncated("IPv6 header")
	errShortIPv6Ext  = truncated("IPv6 extension header chain")
	errShortAH       = truncated("IPv4 authentication header")
	errShortNSH      = truncated("network service header")
	errShortPKTAP    = truncated("PKTAP header")
	errShortNFLOG    = truncated("NFLOG message before its packet")

	errTooManyVLANs  = malformed("more than 8 VLAN tags")
	errTooManyLabels = malformed("more than 16 MPLS labels")
	errPPPoEHeader   = malformed("PPPoE session header version/type or code")
	errIPv4Version   = malformed("IPv4 framing but IP version is not 4")
	errIPv6Version   = malformed("IPv6 framing but IP version is not 6")
	errRawIPVersion  = malformed("raw IP version is neither 4 nor 6")
	errIPv4HeaderLen = malformed("IPv4 header length below 20")
	errIPv4TotalLen  = malformed("IPv4 total length below header length")
	errIPv6ExtLen    = malformed("IPv6 extension header runs past the payload length")
	errIPv6JumboLen  = malformed("IPv6 jumbo payload length out of range")
	errTooManyExt    = malformed("more than 16 IPv6 extension headers / AH")
	errAHLen         = malformed("IPv4 authentication header runs past the total length")
	errNSHHeader     = malformed("network service header version or length")
	errPKTAPHeader   = malformed("PKTAP header length or link type")
)
