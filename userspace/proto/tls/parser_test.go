package tls

import (
	"bytes"
	gotls "crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
	"github.com/flowjoy/flowjoy/userspace/proto/internal/pcaptest"
)

// report returns the parser's object, failing if there is none.
func report(t testing.TB, p *Parser) *Object {
	t.Helper()
	key, v := p.Report()
	if key != "tls" {
		t.Fatalf("key %q, want tls", key)
	}
	o, _ := v.(*Object)
	if o == nil {
		t.Fatalf("no object: %#v", v)
	}
	return o
}

func TestDetect(t *testing.T) {
	ch := record(typeHandshake, 0x0301, message(hsClientHello, clientHelloBody(helloSpec{version: 0x0303, ciphers: []uint16{0x1301}})))
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{"ClientHello", ch, true},
		{"first three bytes", ch[:3], true},
		{"first five bytes", ch[:5], true},
		{"two bytes", ch[:2], false},
		{"empty", nil, false},
		{"SSL 3.0 record", record(typeHandshake, 0x0300, message(hsClientHello, []byte{3, 0})), true},
		{"TLS 1.3 record version", record(typeHandshake, 0x0304, message(hsClientHello, []byte{3, 3})), true},
		{"ServerHello first", record(typeHandshake, 0x0303, message(hsServerHello, []byte{3, 3})), false},
		{"application data", record(typeApplicationData, 0x0303, []byte("x")), false},
		{"record version 3.5", record(typeHandshake, 0x0305, message(hsClientHello, nil)), false},
		{"record version 2.0", record(typeHandshake, 0x0200, message(hsClientHello, nil)), false},
		{"record too long", []byte{22, 3, 1, 0x48, 0x01, 1}, false},
		{"record too short", []byte{22, 3, 1, 0, 3, 1}, false},
		{"HTTP", []byte("GET / HTTP/1.1\r\n"), false},
		{"SSH", []byte("SSH-2.0-OpenSSH_9.2\r\n"), false},
	}
	for _, tt := range tests {
		if got := Detect(tt.in); got != tt.want {
			t.Errorf("%s: Detect(% x) = %v, want %v", tt.name, tt.in[:min(len(tt.in), 8)], got, tt.want)
		}
	}
}

// tls12Session is one recorded TLS 1.2 connection with a client
// certificate, so both directions carry certificates.
func tls12Session(t testing.TB) session {
	t.Helper()
	k := getPKI(t)
	c := &gotls.Config{RootCAs: k.roots, ServerName: "server.test", Time: pkiTime, MaxVersion: gotls.VersionTLS12,
		Certificates: []gotls.Certificate{k.clientCert}, NextProtos: []string{"h2"}}
	s := &gotls.Config{Certificates: []gotls.Certificate{k.rsaLeaf}, Time: pkiTime, ClientAuth: gotls.RequireAnyClientCert,
		NextProtos: []string{"h2"}}
	return connect(t, c, s)
}

// TestSplitAnywhere feeds a session in pieces of every size from one byte
// up, and at every split point of each write: the result must not depend
// on how the bytes were cut.
func TestSplitAnywhere(t *testing.T) {
	sess := tls12Session(t)
	whole := New()
	for _, e := range sess.events {
		whole.Data(e.Dir, e.Data, 0)
	}
	want, _ := json.Marshal(report(t, whole))

	for _, size := range []int{1, 2, 3, 4, 5, 6, 7, 13, 100, 1000} {
		p := New()
		for _, e := range sess.events {
			for b := e.Data; len(b) > 0; b = b[min(size, len(b)):] {
				p.Data(e.Dir, b[:min(size, len(b))], 0)
			}
		}
		if got, _ := json.Marshal(report(t, p)); !bytes.Equal(got, want) {
			t.Fatalf("pieces of %d bytes: %s\nwhole: %s", size, got, want)
		}
	}
	for i, e := range sess.events {
		for cut := 1; cut < len(e.Data); cut += 1 + len(e.Data)/40 {
			p := New()
			for j, f := range sess.events {
				if j == i {
					p.Data(f.Dir, f.Data[:cut], 0)
					p.Data(f.Dir, f.Data[cut:], 0)
				} else {
					p.Data(f.Dir, f.Data, 0)
				}
			}
			if got, _ := json.Marshal(report(t, p)); !bytes.Equal(got, want) {
				t.Fatalf("write %d cut at %d: %s\nwhole: %s", i, cut, got, want)
			}
		}
	}
}

func TestFraming(t *testing.T) {
	ch := message(hsClientHello, clientHelloBody(helloSpec{version: 0x0303, ciphers: []uint16{0xc02f},
		extensions: []Extension{sniExt("framing.test")}}))
	sh := message(hsServerHello, serverHelloBody(helloSpec{version: 0x0303, ciphers: []uint16{0xc02f}, noExts: true}))
	done := message(14, nil)
	big := message(hsCertificate, make([]byte, maxHandshakeLen+1))
	type write struct {
		dir  proto.Dir
		data []byte
	}
	tests := []struct {
		name   string
		writes []write
		check  func(t *testing.T, o *Object)
	}{
		{"several messages in one record", []write{
			{0, record(22, 0x0301, ch)},
			{1, record(22, 0x0303, slices.Concat(sh, message(hsCertificate, []byte{0, 0, 0}), done))},
		}, func(t *testing.T, o *Object) {
			if got := fmt.Sprint(o.SRLT[1].HSTypes, o.SRLT[1].HSLens); got != fmt.Sprint([]int{2, 11, 14}, []int{len(sh) - 4, 3, 0}) {
				t.Errorf("hs_types/lens %s", got)
			}
			if o.SCS != "c02f" || o.SCert != nil {
				t.Errorf("scs %q, s_cert %v (an empty list)", o.SCS, o.SCert)
			}
		}},
		{"one message over three records", []write{
			{0, record(22, 0x0301, ch[:3])},
			{0, record(22, 0x0301, ch[3:20])},
			{0, record(22, 0x0301, ch[20:])},
		}, func(t *testing.T, o *Object) {
			if len(o.SRLT) != 3 || fmt.Sprint(o.SRLT[0].HSTypes) != "[1]" || o.SRLT[1].HSTypes != nil || o.SRLT[2].HSTypes != nil {
				t.Errorf("srlt %+v: the type belongs to the record the message began in", o.SRLT)
			}
			if len(o.SNI) != 1 || o.SNI[0] != "framing.test" {
				t.Errorf("sni %v", o.SNI)
			}
		}},
		{"oversize message skipped, next one parsed", []write{
			{1, slices.Concat(record(22, 0x0303, big[:16000]), record(22, 0x0303, big[16000:32000]),
				record(22, 0x0303, big[32000:48000]), record(22, 0x0303, big[48000:64000]),
				record(22, 0x0303, slices.Concat(big[64000:], sh)))},
		}, func(t *testing.T, o *Object) {
			if o.SCS != "c02f" || o.ParseErrors != nil {
				t.Errorf("scs %q errors %q", o.SCS, o.ParseErrors)
			}
			if fmt.Sprint(o.SRLT[0].HSTypes, o.SRLT[0].HSLens, o.SRLT[4].HSTypes) != fmt.Sprint([]int{11}, []int{maxHandshakeLen + 1}, []int{2}) {
				t.Errorf("srlt %+v", o.SRLT)
			}
		}},
		{"not TLS in one direction", []write{
			{0, record(22, 0x0301, ch)},
			{1, []byte("HTTP/1.1 400 Bad Request\r\n\r\n")},
		}, func(t *testing.T, o *Object) {
			if len(o.SNI) != 1 || len(o.ParseErrors) != 1 || !strings.Contains(o.ParseErrors[0], "in stream offset 0: content type 72") {
				t.Errorf("sni %v errors %q", o.SNI, o.ParseErrors)
			}
		}},
		{"record version 2.0", []write{{0, record(22, 0x0200, ch)}}, func(t *testing.T, o *Object) {
			t.Errorf("an object for a non-TLS stream: %+v", o)
		}},
		{"record too long", []write{{0, record(23, 0x0303, make([]byte, maxRecordLen+1))}}, func(t *testing.T, o *Object) {
			t.Errorf("an object for a non-TLS stream: %+v", o)
		}},
		{"record after a bad one is not read", []write{
			{0, slices.Concat(record(22, 0x0301, ch), []byte{99, 3, 3, 0, 1, 0}, record(21, 0x0303, []byte{2, 40}))},
		}, func(t *testing.T, o *Object) {
			if len(o.SRLT) != 1 || o.Alerts != nil || len(o.ParseErrors) != 1 ||
				!strings.Contains(o.ParseErrors[0], fmt.Sprintf("offset %d: content type 99", len(ch)+5)) {
				t.Errorf("srlt %v alerts %v errors %q", o.SRLT, o.Alerts, o.ParseErrors)
			}
		}},
		{"alerts: cleartext and encrypted", []write{
			{0, record(22, 0x0301, ch)},
			{1, record(21, 0x0303, []byte{2, 40})},
			{0, record(21, 0x0303, make([]byte, 26))},
		}, func(t *testing.T, o *Object) {
			if fmt.Sprint(o.Alerts) != fmt.Sprint([]Alert{{"<", 2, 40}}) || len(o.SRLT) != 3 || o.SRLT[2].TP != 21 {
				t.Errorf("alerts %v srlt %v", o.Alerts, o.SRLT)
			}
		}},
		{"handshake after ChangeCipherSpec is encrypted (TLS 1.2)", []write{
			{0, record(22, 0x0301, ch)},
			{1, record(22, 0x0303, slices.Concat(sh, done))},
			{0, slices.Concat(record(20, 0x0303, []byte{1}), record(22, 0x0303, message(hsClientKeyExchange, make([]byte, 40))))},
		}, func(t *testing.T, o *Object) {
			if o.CKeyLength != 0 || o.SRLT[3].HSTypes != nil {
				t.Errorf("c_key_length %d, hs_types %v of an encrypted record", o.CKeyLength, o.SRLT[3].HSTypes)
			}
		}},
		{"ClientHello after ChangeCipherSpec (TLS 1.3 compatibility)", []write{
			{0, record(22, 0x0301, ch)},
			{0, slices.Concat(record(20, 0x0303, []byte{1}), record(22, 0x0303, ch))},
		}, func(t *testing.T, o *Object) {
			if fmt.Sprint(o.SRLT[2].HSTypes) != "[1]" {
				t.Errorf("second ClientHello not read: %+v", o.SRLT)
			}
		}},
		{"six messages in a record: five listed", []write{
			{1, record(22, 0x0303, slices.Concat(done, done, done, done, done, done))},
		}, func(t *testing.T, o *Object) {
			if len(o.SRLT[0].HSTypes) != maxHandshakesPerRecord {
				t.Errorf("hs_types %v", o.SRLT[0].HSTypes)
			}
		}},
		{"srlt keeps 50 records per direction", []write{
			{0, bytes.Repeat(record(23, 0x0303, []byte{1}), 60)},
			{1, bytes.Repeat(record(23, 0x0303, []byte{1, 2}), 70)},
		}, func(t *testing.T, o *Object) {
			n := [2]int{}
			for _, r := range o.SRLT {
				n[map[string]int{">": 0, "<": 1}[r.Dir]]++
			}
			if n != [2]int{50, 50} {
				t.Errorf("srlt per direction %v", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New()
			for _, w := range tt.writes {
				p.Data(w.dir, w.data, 0)
			}
			_, v := p.Report()
			if o, _ := v.(*Object); o != nil {
				tt.check(t, o)
			} else if !strings.Contains(tt.name, "record version 2.0") && !strings.Contains(tt.name, "too long") {
				t.Errorf("no object")
			}
		})
	}
}

func TestIPT(t *testing.T) {
	p := New()
	const ms = int64(1e6)
	p.Data(0, record(23, 0x0303, []byte{1}), 1000*ms)
	p.Data(1, record(23, 0x0303, []byte{1}), 1000*ms+1500000) // +1.5 ms
	p.Data(0, record(23, 0x0303, []byte{1}), 1010*ms)         // +8.5 ms
	p.Data(1, record(23, 0x0303, []byte{1}), 1005*ms)         // earlier: 0
	var got []int64
	for _, r := range report(t, p).SRLT {
		got = append(got, r.IPT)
	}
	if fmt.Sprint(got) != "[0 1 8 0]" {
		t.Errorf("ipt %v, want [0 1 8 0]", got)
	}
}

func TestDoneAndGap(t *testing.T) {
	p := New()
	if p.Done() {
		t.Fatal("done before any data")
	}
	p.Data(0, bytes.Repeat(record(23, 0x0303, nil), maxRecordsPerDir), 0)
	if p.Done() {
		t.Fatal("done with one direction full")
	}
	p.Gap(1)
	if !p.Done() {
		t.Fatal("not done: one direction full, the other gapped")
	}
	p.Data(1, record(23, 0x0303, nil), 0) // after the gap: ignored
	for _, r := range report(t, p).SRLT {
		if r.Dir == "<" {
			t.Fatalf("data after a gap was parsed: %+v", r)
		}
	}

	q := New()
	q.Gap(0)
	q.Gap(1)
	if !q.Done() {
		t.Error("not done after gaps in both directions")
	}
	if _, v := q.Report(); v != nil {
		t.Errorf("Report of nothing = %#v, want nil", v)
	}
}

func TestQUIC(t *testing.T) {
	k := getPKI(t)
	// A TLS 1.3 handshake's hellos stand in for a QUIC Initial's CRYPTO
	// stream: the same messages without record headers.
	sess := connect(t, &gotls.Config{RootCAs: k.roots, ServerName: "server.test", Time: pkiTime},
		&gotls.Config{Certificates: []gotls.Certificate{k.rsaLeaf}, Time: pkiTime})
	tcp := sess.parse(t)
	var crypto [2][]byte
	for _, e := range sess.events {
		b := e.Data
		for len(b) >= 5 {
			n := int(b[3])<<8 | int(b[4])
			if b[0] == typeHandshake && (e.Dir == 0 || len(crypto[1]) == 0) {
				crypto[e.Dir] = append(crypto[e.Dir], b[5:5+n]...)
			}
			b = b[5+n:]
		}
	}
	p := NewQUIC()
	half := len(crypto[0]) / 2
	p.Handshake(0, crypto[0][:half], 0)
	if p.Done() {
		t.Fatal("done with half a ClientHello")
	}
	p.Handshake(0, crypto[0][half:], 0)
	p.Handshake(1, crypto[1], 0)
	if !p.Done() {
		t.Fatal("not done after both hellos")
	}
	o := report(t, p)
	if o.JA4 != "q"+tcp.JA4[1:] || o.JA3 != tcp.JA3 || o.JA3S != tcp.JA3S || o.SCS != tcp.SCS || o.SVersion != Version1_3 {
		t.Errorf("QUIC ja4 %s ja3 %s ja3s %s scs %s version %d; TCP %s %s %s %s", o.JA4, o.JA3, o.JA3S, o.SCS, o.SVersion,
			tcp.JA4, tcp.JA3, tcp.JA3S, tcp.SCS)
	}
	if o.SRLT != nil {
		t.Errorf("srlt without records: %v", o.SRLT)
	}
}

// TestObjectJSON checks the encodings of the object as a JSON consumer
// sees them.
func TestObjectJSON(t *testing.T) {
	sess := tls12Session(t)
	b, err := json.Marshal(sess.parse(t))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	isHex := func(v any, n int) bool {
		s, ok := v.(string)
		if !ok || (n > 0 && len(s) != n) {
			return false
		}
		for _, c := range s {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	if m["c_version"] != 5.0 || m["s_version"] != 5.0 {
		t.Errorf("versions %v %v, want Joy's 5", m["c_version"], m["s_version"])
	}
	if !isHex(m["scs"], 4) || !isHex(m["c_random"], 64) || !isHex(m["c_key_exchange"], 0) {
		t.Errorf("scs %v c_random %v c_key_exchange %v", m["scs"], m["c_random"], m["c_key_exchange"])
	}
	for _, key := range []string{"cs", "c_supported_groups", "c_signature_algorithms"} {
		for _, v := range m[key].([]any) {
			if !isHex(v, 4) {
				t.Errorf("%s entry %v", key, v)
			}
		}
	}
	for _, e := range m["c_extensions"].([]any) {
		obj := e.(map[string]any)
		if _, unknown := obj["kind"]; (len(obj) != 1 || unknown) && len(obj) != 2 {
			t.Errorf("extension %v: want {name: hex} or {kind, data}", obj)
		}
	}
	srlt := m["srlt"].([]any)
	for _, r := range srlt {
		rec := r.(map[string]any)
		for _, k := range []string{"b", "dir", "ipt", "tp"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("srlt entry %v lacks %s", rec, k)
			}
		}
	}
	for _, key := range []string{"s_cert", "c_cert"} {
		cert := m[key].([]any)[0].(map[string]any)
		for _, k := range []string{"length", "serial_number", "signature", "signature_algo", "signature_key_size",
			"issuer", "subject", "extensions", "validity_not_before", "validity_not_after",
			"subject_public_key_algo", "subject_public_key_size"} {
			if _, ok := cert[k]; !ok {
				t.Errorf("%s lacks Joy's %s", key, k)
			}
		}
		for _, a := range cert["subject"].([]any) {
			if len(a.(map[string]any)) != 1 {
				t.Errorf("%s subject entry %v: want one key", key, a)
			}
		}
	}
}

func TestExtensionJSON(t *testing.T) {
	tests := []struct {
		ext  Extension
		want string
	}{
		{Extension{0, []byte{0, 1}}, `{"server_name":"0001"}`},
		{Extension{65281, []byte{0}}, `{"renegotiation_info":"00"}`},
		{Extension{51, nil}, `{"key_share":""}`},
		{Extension{0x0a0a, []byte{0xff}}, `{"kind":2570,"data":"ff"}`},
		{Extension{17513, []byte{0}}, `{"kind":17513,"data":"00"}`},
		{Extension{21, make([]byte, 1025)}, `{"padding":""}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.ext)
		if err != nil || string(b) != tt.want {
			t.Errorf("%v: %s %v, want %s", tt.ext.Type, b, err, tt.want)
		}
	}
	if b, _ := json.Marshal(Extension{21, make([]byte, 1024)}); len(b) != len(`{"padding":""}`)+2048 {
		t.Errorf("1024 bytes of data should still be written")
	}
}

func TestSSLv2ClientHello(t *testing.T) {
	// SSLv2-format ClientHello offering TLS 1.0: two SSL 3.0/TLS suites
	// and one SSLv2 cipher, a 16-byte challenge.
	v2 := []byte{1, 0x03, 0x01, 0, 9, 0, 0, 0, 16,
		0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x07, 0x00, 0xc0}
	v2 = append(v2, bytes.Repeat([]byte{0xaa}, 16)...)
	p := New()
	p.Data(0, append([]byte{0x80, byte(len(v2))}, v2...), 0)
	p.Data(1, record(22, 0x0301, message(hsServerHello, serverHelloBody(helloSpec{version: 0x0301, ciphers: []uint16{0x002f}, noExts: true}))), 0)
	o := report(t, p)
	if o.CVersion != Version1_0 || o.CHelloVersion != "0301" || fmt.Sprint(o.CS) != "[002f 0035 0700c0]" ||
		hex.EncodeToString(o.CRandom) != strings.Repeat("aa", 16) || o.JA3 != "" || o.SCS != "002f" || o.ParseErrors != nil {
		t.Errorf("%+v", o)
	}
}

// TestRecordHeaderErrors checks the texts of the record-header errors,
// which are built without fmt (they are met once per non-TLS stream),
// against the fmt formats they replaced.
func TestRecordHeaderErrors(t *testing.T) {
	hello := []byte{0x16, 0x03, 0x01, 0x00, 0x02, 0x0e, 0x00} // a valid record first, so the offset is not 0
	cases := []struct {
		hdr  []byte
		want string
	}{
		{[]byte{0x99, 0x03, 0x03, 0x00, 0x10}, fmt.Sprintf("%s offset %d: content type %d is not TLS", "in stream", 7, 0x99)},
		{[]byte{0x17, 0x7f, 0xa3, 0x00, 0x10}, fmt.Sprintf("%s offset %d: record version 0x%02x%02x is not TLS", "in stream", 7, 0x7f, 0xa3)},
		{[]byte{0x17, 0x03, 0x05, 0x00, 0x10}, fmt.Sprintf("%s offset %d: record version 0x%02x%02x is not TLS", "in stream", 7, 3, 5)},
		{[]byte{0x17, 0x03, 0x03, 0xff, 0xff}, fmt.Sprintf("%s offset %d: record length %d exceeds %d", "in stream", 7, 0xffff, maxRecordLen)},
	}
	for _, c := range cases {
		p := New()
		p.Data(proto.In, append(append([]byte(nil), hello...), c.hdr...), 0)
		p.Data(proto.Out, []byte{0x80, 0x05, 0x01, 0x03, 0x01}, 0)
		errs := report(t, p).ParseErrors
		if len(errs) != 2 || errs[0] != c.want || errs[1] != fmt.Sprintf("%s: SSLv2 ClientHello of length %d", "out stream", 5) {
			t.Errorf("header % x: errors %q, want %q then the SSLv2 one", c.hdr, errs, c.want)
		}
	}
}

// TestReset: a parser that parsed another connection and was Reset, and
// a parser whose Group's other parser reported before it, report what a
// new parser reports, since the pipeline reuses parsers from flow to flow
// and its parsers share one Group.
func TestReset(t *testing.T) {
	k := getPKI(t)
	tls13 := connect(t, &gotls.Config{RootCAs: k.roots, ServerName: "server.test", Time: pkiTime},
		&gotls.Config{Certificates: []gotls.Certificate{k.ecdsaLeaf}, Time: pkiTime})
	notTLS := session{events: []pcaptest.Event{
		{Dir: proto.Out, Data: record(typeHandshake, 0x0301, message(hsClientHello, clientHelloBody(helloSpec{version: 0x0303, ciphers: []uint16{0x1301}})))},
		{Dir: proto.In, Data: bytes.Repeat([]byte{0xee}, 300)},
		{Dir: proto.Out, Data: []byte("GET / HTTP/1.1\r\n\r\n")},
	}}
	sessions := map[string]session{"TLS 1.2": tls12Session(t), "TLS 1.3": tls13, "not TLS": notTLS}
	feed := func(p *Parser, s session) []byte {
		for _, e := range s.events {
			p.Data(e.Dir, e.Data, e.TS)
		}
		_, v := p.Report()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for na, a := range sessions {
		for nb, b := range sessions {
			p := New()
			feed(p, a)
			p.Reset()
			if got, want := feed(p, b), feed(New(), b); !bytes.Equal(got, want) {
				t.Errorf("%s after %s and Reset:\n%s\nnew parser:\n%s", nb, na, got, want)
			}
			// Parsers of a Group, each reporting after the other one
			// reported (a pipeline's order), report as parsers of their own.
			var g Group
			pa, pb := g.New(), g.New()
			if got, want := feed(pa, a), feed(New(), a); !bytes.Equal(got, want) {
				t.Errorf("%s in a group:\n%s\nnew parser:\n%s", na, got, want)
			}
			if got, want := feed(pb, b), feed(New(), b); !bytes.Equal(got, want) {
				t.Errorf("%s in a group after %s:\n%s\nnew parser:\n%s", nb, na, got, want)
			}
		}
	}
}
