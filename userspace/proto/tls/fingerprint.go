package tls

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
)

// isGREASE reports whether v is one of the reserved GREASE code points
// (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa.
func isGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}

// ja3String is the JA3 input of a ClientHello: version, cipher suites,
// extension types, supported groups, point formats, each list joined
// with '-' in wire order and the fields with ','. GREASE values are left
// out of every list, as Wireshark does (and the JA3 spec asks).
func ja3String(ch *clientHello) []byte {
	b := make([]byte, 0, 256)
	b = strconv.AppendUint(b, uint64(ch.version), 10)
	b = append(b, ',')
	b = appendDecimals(b, ch.ciphers)
	b = append(b, ',')
	b = appendDecimals(b, ch.extensionTypes())
	b = append(b, ',')
	b = appendDecimals(b, ch.groups)
	b = append(b, ',')
	for i, f := range ch.pointFormats {
		if i > 0 {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, uint64(f), 10)
	}
	return b
}

// ja3sString is the JA3S input of a ServerHello: version, cipher suite,
// extension types.
func ja3sString(sh *serverHello) []byte {
	b := make([]byte, 0, 64)
	b = strconv.AppendUint(b, uint64(sh.version), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(sh.cipher), 10)
	b = append(b, ',')
	types := make([]uint16, len(sh.extensions))
	for i, e := range sh.extensions {
		types[i] = e.Type
	}
	return appendDecimals(b, types)
}

// appendDecimals appends the non-GREASE values joined by '-'.
func appendDecimals(b []byte, vs []uint16) []byte {
	first := true
	for _, v := range vs {
		if isGREASE(v) {
			continue
		}
		if !first {
			b = append(b, '-')
		}
		first = false
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	return b
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// ja4 computes FoxIO's JA4 of a ClientHello (technical_details/JA4.md):
//
//	<t|q><version><d|i><#ciphers><#extensions><alpn>_<cipher hash>_<extension hash>
//
// GREASE is ignored everywhere. quic selects the "q" prefix.
func ja4(ch *clientHello, quic bool) string {
	b := make([]byte, 0, 36)
	if quic {
		b = append(b, 'q')
	} else {
		b = append(b, 't')
	}
	b = append(b, ja4Version(ch)...)
	sni := byte('i')
	exts := make([]uint16, 0, len(ch.extensions))
	for _, e := range ch.extensions {
		if isGREASE(e.Type) {
			continue
		}
		if e.Type == extServerName {
			sni = 'd'
		}
		exts = append(exts, e.Type)
	}
	b = append(b, sni)
	ciphers := withoutGREASE(ch.ciphers)
	b = appendCount(b, len(ciphers))
	b = appendCount(b, len(exts))
	b = append(b, ja4ALPN(ch)...)

	b = append(b, '_')
	slices.Sort(ciphers)
	if len(ciphers) == 0 {
		b = append(b, "000000000000"...)
	} else {
		b = append(b, hash12(hexJoin(nil, ciphers))...)
	}

	b = append(b, '_')
	// SNI and ALPN are already in the first part.
	exts = slices.DeleteFunc(exts, func(t uint16) bool { return t == extServerName || t == extALPN })
	slices.Sort(exts)
	if len(exts) == 0 {
		return string(append(b, "000000000000"...))
	}
	in := hexJoin(nil, exts)
	if sigs := withoutGREASE(ch.sigAlgs); len(sigs) > 0 {
		in = append(in, '_')
		in = hexJoin(in, sigs)
	}
	return string(append(b, hash12(in)...))
}

// ja4Version is the two-character version: the highest non-GREASE
// supported_versions entry if the extension is present, else the
// ClientHello's version.
func ja4Version(ch *clientHello) string {
	v := ch.version
	if ch.hasExtension(extSupportedVersions) {
		v = 0
		for _, sv := range ch.supportedVersions {
			if !isGREASE(sv) && sv > v {
				v = sv
			}
		}
	}
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

// ja4ALPN is the first and last character of the first ALPN protocol;
// "00" without one; the first and last hex digit of the protocol when
// either end is not an ASCII letter or digit.
func ja4ALPN(ch *clientHello) string {
	if len(ch.alpn) == 0 || len(ch.alpn[0]) == 0 {
		return "00"
	}
	p := ch.alpn[0]
	first, last := p[0], p[len(p)-1]
	if isAlnum(first) && isAlnum(last) {
		return string([]byte{first, last})
	}
	h := hex.EncodeToString(p)
	return string([]byte{h[0], h[len(h)-1]})
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// extensionTypes lists the extension types in wire order.
func (ch *clientHello) extensionTypes() []uint16 {
	types := make([]uint16, len(ch.extensions))
	for i, e := range ch.extensions {
		types[i] = e.Type
	}
	return types
}

func (ch *clientHello) hasExtension(t uint16) bool {
	for _, e := range ch.extensions {
		if e.Type == t {
			return true
		}
	}
	return false
}

func withoutGREASE(vs []uint16) []uint16 {
	out := make([]uint16, 0, len(vs))
	for _, v := range vs {
		if !isGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}

// appendCount appends a two-digit count, capped at 99.
func appendCount(b []byte, n int) []byte {
	n = min(n, 99)
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// hexJoin appends the values as four-digit lowercase hex joined by ','.
func hexJoin(b []byte, vs []uint16) []byte {
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, hex4(v)...)
	}
	return b
}

func hash12(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}
