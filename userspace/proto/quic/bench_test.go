package quic

import (
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// BenchmarkInitialNewConnection is a connection's first Initial: key
// derivation (HKDF, AES and GCM setup), header protection removal,
// decryption and ClientHello delivery.
func BenchmarkInitialNewConnection(b *testing.B) {
	pkt := mustHex(rfc9001ClientInitial)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		p := New(nil)
		p.Datagram(proto.Out, pkt, false, 0)
		if p.rec.failures != 0 || p.streams[proto.Out].delivered == 0 {
			b.Fatal("packet did not decrypt")
		}
	}
}

// BenchmarkInitialPacket is one more Initial once the keys exist: the
// steady-state cost per packet, which should not allocate.
func BenchmarkInitialPacket(b *testing.B) {
	pkt := mustHex(rfc9001ClientInitial)
	p := New(nil)
	p.Datagram(proto.Out, pkt, false, 0)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		p.datagrams = 0 // stay under the datagram limit
		p.Datagram(proto.Out, pkt, false, 0)
	}
	if p.rec.failures != 0 {
		b.Fatal("packets did not decrypt")
	}
}
