package quic

import (
	"bytes"
	"crypto/aes"
	"encoding/binary"
	"testing"
)

// initialSpec describes an Initial packet for sealInitial to build.
type initialSpec struct {
	version    uint32
	keyCID     []byte // the client DCID the keys derive from
	server     bool   // protect with the server's keys
	dcid, scid []byte
	token      []byte
	pn         int64
	pnLen      int // 1..4
	lenBytes   int // size of the Length varint: 2 or 4 (0 means 4)
	payload    []byte
}

// sealInitial builds a protected Initial packet, the inverse of
// packetKeys.open, so that tests can make packets the RFCs have no vectors
// for. The key schedule it relies on is checked against the RFC vectors in
// TestInitialSecrets and TestOpenRFCPackets.
func sealInitial(t testing.TB, s initialSpec) []byte {
	t.Helper()
	vi := lookupVersion(s.version)
	if vi == nil {
		t.Fatalf("sealInitial: unknown version %#x", s.version)
	}
	k, err := deriveInitialKeys(s.version, vi, s.keyCID)
	if err != nil {
		t.Fatal(err)
	}
	keys := &k.client
	if s.server {
		keys = &k.server
	}
	if s.pnLen == 0 {
		s.pnLen = 1
	}
	payload := s.payload
	// The header protection sample needs 4 bytes after the packet number
	// start plus 16: pad short payloads with PADDING frames.
	for s.pnLen+len(payload)+tagLen < 4+sampleLen {
		payload = append(payload, 0)
	}
	typeBits := byte(0)
	if vi.v2Types {
		typeBits = 1
	}
	hdr := []byte{0xc0 | typeBits<<4 | byte(s.pnLen-1)}
	hdr = binary.BigEndian.AppendUint32(hdr, s.version)
	hdr = append(hdr, byte(len(s.dcid)))
	hdr = append(hdr, s.dcid...)
	hdr = append(hdr, byte(len(s.scid)))
	hdr = append(hdr, s.scid...)
	hdr = appendVarint(hdr, uint64(len(s.token)))
	hdr = append(hdr, s.token...)
	length := s.pnLen + len(payload) + tagLen
	if s.lenBytes == 2 {
		hdr = binary.BigEndian.AppendUint16(hdr, 0x4000|uint16(length))
	} else {
		hdr = binary.BigEndian.AppendUint32(hdr, 0x80000000|uint32(length))
	}
	pnOffset := len(hdr)
	for i := s.pnLen - 1; i >= 0; i-- {
		hdr = append(hdr, byte(s.pn>>(8*i)))
	}
	nonce := keys.iv
	for i := range 8 {
		nonce[ivLen-1-i] ^= byte(s.pn >> (8 * i))
	}
	pkt := keys.aead.Seal(hdr, nonce[:], payload, hdr)
	var mask [aes.BlockSize]byte
	keys.hp.Encrypt(mask[:], pkt[pnOffset+4:pnOffset+4+sampleLen])
	pkt[0] ^= mask[0] & 0x0f
	for i := range s.pnLen {
		pkt[pnOffset+i] ^= mask[1+i]
	}
	return pkt
}

func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return binary.BigEndian.AppendUint16(b, uint16(v)|0x4000)
	case v < 1<<30:
		return binary.BigEndian.AppendUint32(b, uint32(v)|0x80000000)
	}
	return binary.BigEndian.AppendUint64(b, v|0xc000000000000000)
}

// cryptoFrame encodes a CRYPTO frame.
func cryptoFrame(off int, data []byte) []byte {
	b := appendVarint([]byte{frameCrypto}, uint64(off))
	b = appendVarint(b, uint64(len(data)))
	return append(b, data...)
}

// handshakeMsg wraps body in a TLS handshake message header.
func handshakeMsg(typ byte, body []byte) []byte {
	n := len(body)
	return append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// TestSealInitialMatchesRFC proves the test helper against RFC 9001 §A.2
// and RFC 9369 §A.2: sealing the sample ClientHello must give the
// published packets byte for byte.
func TestSealInitialMatchesRFC(t *testing.T) {
	plain := append(unhex(t, rfcClientCrypto), make([]byte, 1162-245)...)
	for _, tc := range []struct {
		version uint32
		want    string
	}{{Version1, rfc9001ClientInitial}, {Version2, rfc9369ClientInitial}} {
		got := sealInitial(t, initialSpec{
			version: tc.version, keyCID: unhex(t, rfcDCID), dcid: unhex(t, rfcDCID),
			pn: 2, pnLen: 4, lenBytes: 2, payload: plain,
		})
		if want := unhex(t, tc.want); !bytes.Equal(got, want) {
			t.Errorf("version %#x: sealed packet differs from the RFC's:\n got %x\nwant %x", tc.version, got, want)
		}
	}
}
