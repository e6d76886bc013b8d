package quic

import (
	"bytes"
	"errors"
	"testing"
)

// TestReadVarint uses the examples of RFC 9000 Appendix A.1.
func TestReadVarint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		n    int
	}{
		{"c2197c5eff14e88c", 151288809941952652, 8},
		{"9d7f3e7d", 494878333, 4},
		{"7bbd", 15293, 2},
		{"25", 37, 1},
		{"4025", 37, 2}, // not the shortest encoding, still valid
		{"4025ff", 37, 2},
		{"", 0, 0},
		{"40", 0, 0},         // 2-byte form cut short
		{"c2197c5eff", 0, 0}, // 8-byte form cut short
	} {
		v, n := readVarint(unhex(t, tc.in))
		if v != tc.want || n != tc.n {
			t.Errorf("readVarint(%s) = %d, %d; want %d, %d", tc.in, v, n, tc.want, tc.n)
		}
	}
}

// TestDecodePacketNumber uses RFC 9000 Appendix A.3's example and the
// window edges.
func TestDecodePacketNumber(t *testing.T) {
	for _, tc := range []struct {
		expected  int64
		truncated uint64
		pnLen     int
		want      int64
	}{
		{0xa82f30ea + 1, 0x9b32, 2, 0xa82f9b32}, // RFC 9000 A.3
		{0, 5, 1, 5},
		{0, 0x1234, 2, 0x1234},
		{256, 0x00, 1, 256}, // wrapped forward
		{300, 0xff, 1, 255}, // just behind
		{300, 0x2b, 1, 299}, // 0x12b
		{1 << 20, 0xffff, 2, 0x0fffff},
		{(1 << 62) - 1, 0xff, 1, (1 << 62) - 1}, // at the top of the range
	} {
		if got := decodePacketNumber(tc.expected, tc.truncated, tc.pnLen); got != tc.want {
			t.Errorf("decodePacketNumber(%#x, %#x, %d) = %#x, want %#x", tc.expected, tc.truncated, tc.pnLen, got, tc.want)
		}
	}
}

func TestParseLongHeader(t *testing.T) {
	v1 := unhex(t, rfc9001ClientInitial)
	vn := unhex(t, "80 00000000 04 01020304 02 0a0b 00000001 6b3343cf")
	unknown := unhex(t, "c0 51303433 08 0102030405060708 00 aabbcc")
	longCID := unhex(t, "c0 00000001 15 000102030405060708090a0b0c0d0e0f1011121314 00 00 05 0000000000")
	for _, tc := range []struct {
		name     string
		in       []byte
		err      error // errors.Is target, nil for success
		anyErr   bool
		typ      packetType
		known    bool
		version  uint32
		dcid     string
		scid     string
		tokenLen int
		size     int
		pnOffset int
	}{
		{name: "v1 initial", in: v1, typ: typeInitial, known: true, version: Version1,
			dcid: rfcDCID, size: 1200, pnOffset: 18},
		{name: "v1 server initial", in: unhex(t, rfc9001ServerInitial), typ: typeInitial, known: true,
			version: Version1, scid: "f067a5502a4262b5", size: 135, pnOffset: 18},
		{name: "v2 initial (type bits 01)", in: unhex(t, rfc9369ClientInitial), typ: typeInitial, known: true,
			version: Version2, dcid: rfcDCID, size: 1200, pnOffset: 18},
		{name: "v1 retry", in: unhex(t, rfc9001Retry), typ: typeRetry, known: true, version: Version1,
			scid: "f067a5502a4262b5", size: 36},
		{name: "v2 retry (type bits 00)", in: unhex(t, rfc9369Retry), typ: typeRetry, known: true, version: Version2,
			scid: "f067a5502a4262b5", size: 36},
		{name: "version negotiation", in: vn, typ: typeVersionNegotiation, known: true, dcid: "01020304",
			scid: "0a0b", size: len(vn)},
		{name: "unknown version", in: unknown, known: false, version: 0x51303433, dcid: "0102030405060708", size: len(unknown)},
		{name: "coalesced: size stops at the packet", in: append(bytes.Clone(v1[:1200]), 0x40, 1, 2, 3),
			typ: typeInitial, known: true, version: Version1, dcid: rfcDCID, size: 1200, pnOffset: 18},
		{name: "short header", in: unhex(t, "4001020304050607"), err: errShortHeader},
		{name: "too short", in: unhex(t, "c0000000"), err: errShortHeader},
		{name: "dcid past end", in: unhex(t, "c0 00000001 10 0102"), err: errTruncated},
		{name: "scid past end", in: unhex(t, "c0 00000001 01 01 09 0102"), err: errTruncated},
		{name: "cid over 20 bytes", in: longCID, anyErr: true},
		{name: "token past end", in: unhex(t, "c0 00000001 01 01 00 44"), err: errTruncated},
		{name: "token length past end", in: unhex(t, "c0 00000001 01 01 00 05 0102"), err: errTruncated},
		{name: "length past end", in: v1[:600], err: errTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseLongHeader(tc.in)
			switch {
			case tc.err != nil || tc.anyErr:
				if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			}
			if h.typ != tc.typ || h.known != tc.known || h.version != tc.version ||
				hexString(h.dcid) != tc.dcid || hexString(h.scid) != tc.scid ||
				len(h.token) != tc.tokenLen || h.size != tc.size || h.pnOffset != tc.pnOffset {
				t.Errorf("got type %d known %v version %#x dcid %x scid %x token %d size %d pn@%d",
					h.typ, h.known, h.version, h.dcid, h.scid, len(h.token), h.size, h.pnOffset)
			}
		})
	}
}

func TestLookupVersion(t *testing.T) {
	for _, tc := range []struct {
		version uint32
		salt    []byte // nil: not decryptable
		v2      bool
	}{
		{Version1, saltV1, false},
		{Version2, saltV2, true},
		{0xff00001d, saltDraft29, false}, // draft-29 (Chrome's h3-29)
		{0xff000020, saltDraft29, false},
		{0xff00001b, saltDraft23, false},
		{0xff000016, saltDraft22, false},
		{0xff000022, saltV1, false},
		{0xff000015, nil, false}, // draft-21: different header layout
		{0xfaceb002, saltDraft23, false},
		{0xfaceb001, saltDraft22, false},
		{0x54303531, saltT051, false},
		{0x51303530, nil, false}, // Q050: gQUIC crypto, not TLS
		{0x1a2a3a4a, nil, false}, // GREASE
		{0x709a50c4, nil, false}, // withdrawn v2 draft number
		{0, nil, false},
	} {
		vi := lookupVersion(tc.version)
		if tc.salt == nil {
			if vi != nil {
				t.Errorf("lookupVersion(%#x) = %+v, want nil", tc.version, vi)
			}
			continue
		}
		if vi == nil || !bytes.Equal(vi.salt, tc.salt) || vi.v2Types != tc.v2 {
			t.Errorf("lookupVersion(%#x) = %+v, want salt %x v2 %v", tc.version, vi, tc.salt, tc.v2)
		}
	}
}

func TestDetect(t *testing.T) {
	v1 := unhex(t, rfc9001ClientInitial)
	noFixed := bytes.Clone(v1)
	noFixed[0] &^= 0x40
	for _, tc := range []struct {
		name string
		in   []byte
		want bool
	}{
		{"v1 initial", v1, true},
		{"v2 initial", unhex(t, rfc9369ClientInitial), true},
		{"v1 server initial", unhex(t, rfc9001ServerInitial), true},
		{"retry", unhex(t, rfc9001Retry), true},
		{"version negotiation", unhex(t, "80 00000000 04 01020304 02 0a0b 00000001 6b3343cf"), true},
		{"initial cut by snap length", v1[:100], true},
		{"fixed bit clear", noFixed, false},
		{"short header", unhex(t, "4001020304050607080910"), false},
		{"gQUIC Q043", unhex(t, "c3 51303433 50 0102030405060708 01"), false},
		{"version negotiation with a partial version", unhex(t, "80 00000000 04 01020304 02 0a0b 000000"), false},
		{"DNS query", unhex(t, "abcd01000001000000000000076578616d706c6503636f6d0000010001"), false},
		{"empty", nil, false},
	} {
		if got := Detect(tc.in); got != tc.want {
			t.Errorf("%s: Detect = %v, want %v", tc.name, got, tc.want)
		}
	}
}
