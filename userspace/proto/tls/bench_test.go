package tls

import (
	gotls "crypto/tls"
	"testing"
)

// BenchmarkTLS12Handshake parses a full TLS 1.2 connection (ECDHE-RSA, a
// three-certificate chain, one record of data each way) and builds its
// object.
func BenchmarkTLS12Handshake(b *testing.B) {
	k := getPKI(b)
	sess := connect(b, &gotls.Config{RootCAs: k.roots, ServerName: "server.test", Time: pkiTime, MaxVersion: gotls.VersionTLS12},
		&gotls.Config{Certificates: []gotls.Certificate{k.rsaLeaf}, Time: pkiTime})
	if o := sess.parse(b); len(o.SCert) != 3 {
		b.Fatalf("%d certificates, want 3", len(o.SCert))
	}
	var n int64
	for _, e := range sess.events {
		n += int64(len(e.Data))
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		p := New()
		for _, e := range sess.events {
			p.Data(e.Dir, e.Data, e.TS)
		}
		if _, v := p.Report(); v == nil {
			b.Fatal("no object")
		}
	}
}
