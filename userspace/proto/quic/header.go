package quic

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version numbers with a name in this package.
const (
	Version1        uint32 = 0x00000001 // RFC 9000
	Version2        uint32 = 0x6b3343cf // RFC 9369
	versionVN       uint32 = 0          // Version Negotiation packets carry version 0
	versionT050     uint32 = 0x54303530 // Google QUIC "T050": TLS in IETF long headers
	versionT051     uint32 = 0x54303531 // Google QUIC "T051"
	versionMvfst2   uint32 = 0xfaceb002 // Facebook mvfst, draft-27 based
	versionMvfstExp uint32 = 0xfaceb00e // Facebook mvfst experimental, draft-27 based
	versionMvfst1   uint32 = 0xfaceb001 // Facebook mvfst, draft-22 based
)

// maxCIDLen is the longest connection ID QUIC v1 and v2 allow (RFC 9000
// §17.2). Versions this package does not know may use longer ones; it
// never decrypts those.
const maxCIDLen = 20

// packetType is a long-header packet type independent of how a version
// numbers it on the wire (QUIC v2 rotated the numbers).
type packetType uint8

const (
	typeInitial packetType = iota
	type0RTT
	typeHandshake
	typeRetry
	typeVersionNegotiation
)

// versionInfo is what decryption needs to know about one QUIC version.
type versionInfo struct {
	salt []byte
	// Labels of HKDF-Expand-Label for the packet protection key, IV and
	// header protection key ("quic key" in v1, "quicv2 key" in v2).
	keyLabel, ivLabel, hpLabel string
	// v2Types: long-header packet types use RFC 9369 §3.2 numbering.
	v2Types bool
	// retryKey/retryNonce compute the Retry Integrity Tag; nil when this
	// package does not know them for the version (the tag goes unchecked).
	retryKey, retryNonce []byte
	// gquicFrames: the payload uses Google QUIC frame encodings (T05x).
	gquicFrames bool
}

// Initial salts. v1 and v2 are from RFC 9001 §5.2 and RFC 9369 §3.3.1; the
// draft and Google salts are the ones Wireshark and the drafts publish.
var (
	saltV1 = []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
		0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}
	saltV2 = []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
		0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}
	saltDraft22 = []byte{0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a,
		0x96, 0xcd, 0x21, 0x51, 0x9e, 0xbd, 0x7a, 0x02, 0x64, 0x4a}
	saltDraft23 = []byte{0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7,
		0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02}
	saltDraft29 = []byte{0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97,
		0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99}
	saltT050 = []byte{0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80,
		0x30, 0x4c, 0x43, 0xa2, 0x36, 0x7c, 0x60, 0x48, 0x83, 0x10}
	saltT051 = []byte{0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50,
		0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc, 0xda, 0x6e, 0x03, 0x3d}

	// Retry Integrity Tag AEAD key and nonce: RFC 9001 §5.8, RFC 9369 §3.3.3.
	retryKeyV1   = []byte{0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54, 0xe3, 0x68, 0xc8, 0x4e}
	retryNonceV1 = []byte{0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb}
	retryKeyV2   = []byte{0x8f, 0xb4, 0xb0, 0x1b, 0x56, 0xac, 0x48, 0xe2, 0x60, 0xfb, 0xcb, 0xce, 0xad, 0x7c, 0xcc, 0x92}
	retryNonceV2 = []byte{0xd8, 0x69, 0x69, 0xbc, 0x2d, 0x7c, 0x6d, 0x99, 0x90, 0xef, 0xb0, 0x4a}
)

var (
	infoV1 = versionInfo{salt: saltV1, keyLabel: "quic key", ivLabel: "quic iv", hpLabel: "quic hp",
		retryKey: retryKeyV1, retryNonce: retryNonceV1}
	infoV2 = versionInfo{salt: saltV2, keyLabel: "quicv2 key", ivLabel: "quicv2 iv", hpLabel: "quicv2 hp",
		v2Types: true, retryKey: retryKeyV2, retryNonce: retryNonceV2}
	infoDraft22 = versionInfo{salt: saltDraft22, keyLabel: "quic key", ivLabel: "quic iv", hpLabel: "quic hp"}
	infoDraft23 = versionInfo{salt: saltDraft23, keyLabel: "quic key", ivLabel: "quic iv", hpLabel: "quic hp"}
	infoDraft29 = versionInfo{salt: saltDraft29, keyLabel: "quic key", ivLabel: "quic iv", hpLabel: "quic hp"}
	infoDraft33 = versionInfo{salt: saltV1, keyLabel: "quic key", ivLabel: "quic iv", hpLabel: "quic hp"}
	infoT050    = versionInfo{salt: saltT050, keyLabel: "quic key", ivLabel: "quic iv", hpLabel: "quic hp", gquicFrames: true}
	infoT051    = versionInfo{salt: saltT051, keyLabel: "quic key", ivLabel: "quic iv", hpLabel: "quic hp", gquicFrames: true}
)

// lookupVersion returns how to decrypt Initial packets of version v, or nil
// when this package cannot. Beyond v1 and v2 it knows the IETF drafts that
// browsers shipped (22–34), Facebook's mvfst and Google's TLS-based T050/T051,
// because captures of real traffic still carry them.
func lookupVersion(v uint32) *versionInfo {
	switch v {
	case Version1:
		return &infoV1
	case Version2:
		return &infoV2
	case versionMvfst1:
		return &infoDraft22
	case versionMvfst2, versionMvfstExp:
		return &infoDraft23
	case versionT050:
		return &infoT050
	case versionT051:
		return &infoT051
	}
	if v>>8 == 0xff0000 {
		switch d := v & 0xff; {
		case d == 22:
			return &infoDraft22
		case d >= 23 && d <= 28:
			return &infoDraft23
		case d >= 29 && d <= 32:
			return &infoDraft29
		case d == 33 || d == 34:
			return &infoDraft33
		}
	}
	return nil
}

// longHeader is a parsed QUIC long header (RFC 8999 invariants plus the
// version-specific fields of RFC 9000 §17.2). Slices point into the packet.
type longHeader struct {
	first   byte // first byte, still header-protected
	version uint32
	dcid    []byte
	scid    []byte
	typ     packetType
	known   bool // the version is one lookupVersion knows; typ is valid
	token   []byte
	// pnOffset is where the packet number starts (Initial, 0-RTT,
	// Handshake). size is the packet's length within the datagram.
	pnOffset int
	size     int
	// rest is what follows the connection IDs of a Version Negotiation
	// packet (the version list) or a Retry packet (token and tag).
	rest []byte
}

var (
	errShortHeader = errors.New("quic: not a long header")
	errTruncated   = errors.New("quic: packet truncated")
)

// parseLongHeader parses the long header at the start of b. For packets of
// unknown versions only the invariant fields are set and size covers the
// rest of the datagram, since their length encoding is unknown.
func parseLongHeader(b []byte) (longHeader, error) {
	var h longHeader
	if len(b) < 7 || b[0]&0x80 == 0 {
		return h, errShortHeader
	}
	h.first = b[0]
	h.version = binary.BigEndian.Uint32(b[1:5])
	off := 5
	var err error
	if h.dcid, off, err = readCID(b, off); err != nil {
		return h, fmt.Errorf("quic: destination connection id: %w", err)
	}
	if h.scid, off, err = readCID(b, off); err != nil {
		return h, fmt.Errorf("quic: source connection id: %w", err)
	}
	if h.version == versionVN {
		h.typ, h.known = typeVersionNegotiation, true
		h.rest, h.size = b[off:], len(b)
		return h, nil
	}
	vi := lookupVersion(h.version)
	if vi == nil {
		h.size = len(b)
		return h, nil
	}
	if len(h.dcid) > maxCIDLen || len(h.scid) > maxCIDLen {
		return h, fmt.Errorf("quic: connection id longer than %d bytes", maxCIDLen)
	}
	h.known = true
	h.typ = wireType(h.first, vi.v2Types)
	if h.typ == typeRetry {
		h.rest, h.size = b[off:], len(b)
		return h, nil
	}
	if h.typ == typeInitial {
		n, l := readVarint(b[off:])
		if l == 0 {
			return h, fmt.Errorf("quic: initial token length: %w", errTruncated)
		}
		off += l
		if n > uint64(len(b)-off) {
			return h, fmt.Errorf("quic: initial token of %d bytes: %w", n, errTruncated)
		}
		h.token = b[off : off+int(n)]
		off += int(n)
	}
	n, l := readVarint(b[off:])
	if l == 0 {
		return h, fmt.Errorf("quic: packet length: %w", errTruncated)
	}
	off += l
	h.pnOffset = off
	if n > uint64(len(b)-off) {
		// The size is still reported so that a caller can tell a packet
		// cut by the capture from garbage.
		h.size = off + int(min(n, 1<<20))
		return h, fmt.Errorf("quic: packet length %d past the datagram: %w", n, errTruncated)
	}
	h.size = off + int(n)
	return h, nil
}

// wireType maps the two type bits of the first byte to a packetType.
func wireType(first byte, v2 bool) packetType {
	t := (first >> 4) & 3
	if v2 {
		// RFC 9369 §3.2: Retry 0b00, Initial 0b01, 0-RTT 0b10, Handshake 0b11.
		return [4]packetType{typeRetry, typeInitial, type0RTT, typeHandshake}[t]
	}
	return packetType(t)
}

func readCID(b []byte, off int) ([]byte, int, error) {
	if off >= len(b) {
		return nil, off, errTruncated
	}
	n := int(b[off])
	off++
	if n > len(b)-off {
		return nil, off, errTruncated
	}
	return b[off : off+n], off + n, nil
}

// readVarint decodes a QUIC variable-length integer (RFC 9000 §16). It
// returns the value and the bytes it took, or 0, 0 if b is too short.
func readVarint(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	n := 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0
	}
	v := uint64(b[0] & 0x3f)
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n
}

// Detect reports whether a UDP payload looks like the start of a QUIC
// connection: a long header with the fixed bit set and a version this
// package decrypts, or a Version Negotiation packet. It is meant for the
// pipeline's choice of parser on a flow's first datagram, so it only reads
// the header.
func Detect(payload []byte) bool {
	h, err := parseLongHeader(payload)
	if err != nil && !(h.known && errors.Is(err, errTruncated)) {
		// A header of a known version cut short by the snap length
		// still counts: the flow's later packets may be whole.
		return false
	}
	if h.version == versionVN {
		// A version list of whole 4-byte entries, at least one.
		return len(h.rest) >= 4 && len(h.rest)%4 == 0
	}
	return h.known && h.first&0x40 != 0
}
