package quic

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// Connection IDs for synthetic handshakes.
var (
	cidA = []byte{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8} // client's first DCID
	cidB = []byte{0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8} // server's chosen / Retry SCID
	cidC = []byte{0xc1, 0xc2, 0xc3, 0xc4}                         // client's SCID
)

// testHellos returns a ClientHello and a ServerHello message that the
// handshake tracker counts (their contents do not matter to this package).
func testHellos() (ch, sh []byte) {
	ch = handshakeMsg(1, bytes.Repeat([]byte{0x11}, 300))
	sh = handshakeMsg(2, append([]byte{3, 3}, bytes.Repeat([]byte{0x22}, 60)...))
	return ch, sh
}

// buildRetry makes a Retry packet with a valid integrity tag over odcid.
func buildRetry(t testing.TB, version uint32, odcid, dcid, scid, token []byte) []byte {
	t.Helper()
	vi := lookupVersion(version)
	first := byte(0xf0) // v1: type 0b11
	if vi.v2Types {
		first = 0xc0 // v2: type 0b00
	}
	pkt := binary.BigEndian.AppendUint32([]byte{first}, version)
	pkt = append(pkt, byte(len(dcid)))
	pkt = append(pkt, dcid...)
	pkt = append(pkt, byte(len(scid)))
	pkt = append(pkt, scid...)
	pkt = append(pkt, token...)
	block, _ := aes.NewCipher(vi.retryKey)
	aead, _ := cipher.NewGCM(block)
	pseudo := concat([]byte{byte(len(odcid))}, odcid, pkt)
	return aead.Seal(pkt, vi.retryNonce, nil, pseudo)
}

// step is one datagram of a synthetic flow.
type step struct {
	dir       proto.Dir
	payload   []byte
	truncated bool
}

func run(p *Parser, steps []step) {
	for i, s := range steps {
		p.Datagram(s.dir, s.payload, s.truncated, int64(i))
	}
}

func report(t *testing.T, p *Parser) *Report {
	t.Helper()
	key, v := p.Report()
	r, ok := v.(*Report)
	if key != "quic" || !ok || r == nil {
		t.Fatalf("Report() = %q, %#v", key, v)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("report does not marshal: %v", err)
	}
	return r
}

// TestHandshakes runs synthetic connections through the parser: each must
// deliver exactly the ClientHello and ServerHello bytes, once, in order.
func TestHandshakes(t *testing.T) {
	ch, sh := testHellos()
	seal := func(s initialSpec) []byte { return sealInitial(t, s) }
	client := func(version uint32, keyCID, dcid []byte, pn int64, payload []byte) []byte {
		return seal(initialSpec{version: version, keyCID: keyCID, dcid: dcid, scid: cidC, pn: pn, payload: payload})
	}
	server := func(version uint32, keyCID []byte, pn int64, payload []byte) []byte {
		return seal(initialSpec{version: version, keyCID: keyCID, server: true, dcid: cidC, scid: cidB, pn: pn, payload: payload})
	}
	// A 0-RTT/Handshake-type packet and a short-header packet to coalesce
	// behind Initials: their contents are never decrypted.
	handshakePkt := concat([]byte{0xe0}, binary.BigEndian.AppendUint32(nil, Version1),
		[]byte{8}, cidB, []byte{4}, cidC, []byte{0x40, 30}, bytes.Repeat([]byte{0x5a}, 30))
	shortPkt := concat([]byte{0x40}, cidB, bytes.Repeat([]byte{0x77}, 40))

	hrrSH := handshakeMsg(2, append([]byte{3, 3}, helloRetryRandom[:]...))
	ch2 := handshakeMsg(1, bytes.Repeat([]byte{0x33}, 200))

	for _, tc := range []struct {
		name    string
		steps   []step
		wantOut []byte // what the sink must get, per direction
		wantIn  []byte
		calls   [2]int // sink calls per direction, 0 to skip the check
		done    bool
		check   func(t *testing.T, r *Report)
	}{
		{
			name: "plain v1",
			steps: []step{
				{proto.Out, client(Version1, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.In, server(Version1, cidA, 0, concat([]byte{frameAck, 0, 0, 0, 0}, cryptoFrame(0, sh))), false},
			},
			wantOut: ch, wantIn: sh, calls: [2]int{1, 1}, done: true,
			check: func(t *testing.T, r *Report) {
				if r.Version != "0x00000001" || deref(r.DCID) != hexString(cidA) || deref(r.SCID) != hexString(cidC) ||
					deref(r.ServerSCID) != hexString(cidB) || r.ServerVersion != "" {
					t.Errorf("report %+v", r)
				}
			},
		},
		{
			name: "ClientHello split across packets, reordered, coalesced",
			steps: []step{
				{proto.Out, concat(
					client(Version1, cidA, cidA, 1, cryptoFrame(200, ch[200:])),
					client(Version1, cidA, cidA, 2, concat([]byte{framePing}, cryptoFrame(100, ch[100:200]))),
				), false},
				{proto.Out, concat(client(Version1, cidA, cidA, 0, cryptoFrame(0, ch[:150])), handshakePkt, shortPkt), false},
				{proto.In, concat(server(Version1, cidA, 0, cryptoFrame(0, sh[:10])), handshakePkt), false},
				{proto.In, concat(server(Version1, cidA, 1, cryptoFrame(10, sh[10:])), shortPkt), false},
			},
			wantOut: ch, wantIn: sh, calls: [2]int{1, 2}, done: true,
		},
		{
			name: "retransmitted ClientHello is delivered once",
			steps: []step{
				{proto.Out, client(Version1, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.Out, client(Version1, cidA, cidA, 1, cryptoFrame(0, ch)), false},
				{proto.In, server(Version1, cidA, 0, cryptoFrame(0, sh)), false},
			},
			wantOut: ch, wantIn: sh, calls: [2]int{1, 1}, done: true,
		},
		{
			name: "v2",
			steps: []step{
				{proto.Out, client(Version2, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.In, server(Version2, cidA, 0, cryptoFrame(0, sh)), false},
			},
			wantOut: ch, wantIn: sh, done: true,
			check: func(t *testing.T, r *Report) {
				if r.Version != "0x6b3343cf" {
					t.Errorf("version %s", r.Version)
				}
			},
		},
		{
			name: "client switches to the server's CID, keys stay",
			steps: []step{
				{proto.Out, client(Version1, cidA, cidA, 0, cryptoFrame(0, ch[:100])), false},
				{proto.In, server(Version1, cidA, 0, cryptoFrame(0, sh)), false},
				{proto.Out, client(Version1, cidA, cidB, 1, cryptoFrame(100, ch[100:])), false},
			},
			wantOut: ch, wantIn: sh, done: true,
		},
		{
			name: "retry: keys follow the new DCID",
			steps: []step{
				{proto.Out, client(Version1, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.In, buildRetry(t, Version1, cidA, cidC, cidB, []byte("retry-token")), false},
				{proto.Out, seal(initialSpec{version: Version1, keyCID: cidB, dcid: cidB, scid: cidC,
					token: []byte("retry-token"), pn: 1, payload: cryptoFrame(0, ch)}), false},
				{proto.In, server(Version1, cidB, 0, cryptoFrame(0, sh)), false},
			},
			wantOut: ch, wantIn: sh, calls: [2]int{1, 1}, done: true,
			check: func(t *testing.T, r *Report) {
				if deref(r.DCID) != hexString(cidA) || r.TokenLen != 0 || r.DecryptFailures != 0 {
					t.Errorf("report %+v", r)
				}
				if r.Retry == nil || r.Retry.SCID != hexString(cidB) || r.Retry.TokenLen != len("retry-token") ||
					r.Retry.IntegrityOK == nil || !*r.Retry.IntegrityOK {
					t.Errorf("retry %+v", r.Retry)
				}
			},
		},
		{
			name: "v2 retry",
			steps: []step{
				{proto.Out, client(Version2, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.In, buildRetry(t, Version2, cidA, cidC, cidB, []byte("tok")), false},
				{proto.Out, seal(initialSpec{version: Version2, keyCID: cidB, dcid: cidB, scid: cidC,
					token: []byte("tok"), pn: 1, payload: cryptoFrame(0, ch)}), false},
				{proto.In, server(Version2, cidB, 0, cryptoFrame(0, sh)), false},
			},
			wantOut: ch, wantIn: sh, done: true,
			check: func(t *testing.T, r *Report) {
				if r.Retry == nil || r.Retry.IntegrityOK == nil || !*r.Retry.IntegrityOK {
					t.Errorf("retry %+v", r.Retry)
				}
			},
		},
		{
			name: "compatible version negotiation: v1 client, v2 server",
			steps: []step{
				{proto.Out, client(Version1, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.In, server(Version2, cidA, 0, cryptoFrame(0, sh)), false},
			},
			wantOut: ch, wantIn: sh, done: true,
			check: func(t *testing.T, r *Report) {
				if r.Version != "0x00000001" || r.ServerVersion != "0x6b3343cf" {
					t.Errorf("versions %s / %s", r.Version, r.ServerVersion)
				}
			},
		},
		{
			name: "version negotiation, then a version we decrypt",
			steps: []step{
				{proto.Out, concat([]byte{0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8}, cidA, []byte{4}, cidC, bytes.Repeat([]byte{0}, 1100)), false},
				{proto.In, concat([]byte{0x80, 0, 0, 0, 0, 4}, cidC, []byte{8}, cidA, []byte{0, 0, 0, 1, 0x6b, 0x33, 0x43, 0xcf}), false},
				{proto.Out, client(Version1, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.In, server(Version1, cidA, 0, cryptoFrame(0, sh)), false},
			},
			wantOut: ch, wantIn: sh, done: true,
			check: func(t *testing.T, r *Report) {
				if r.Version != "0x00000001" || len(r.VNVersions) != 2 || r.VNVersions[1] != "0x6b3343cf" {
					t.Errorf("report %+v", r)
				}
			},
		},
		{
			name: "hello retry request: two of each hello",
			steps: []step{
				{proto.Out, client(Version1, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.In, server(Version1, cidA, 0, cryptoFrame(0, hrrSH)), false},
				{proto.Out, client(Version1, cidA, cidB, 1, cryptoFrame(len(ch), ch2)), false},
				{proto.In, server(Version1, cidA, 1, cryptoFrame(len(hrrSH), sh)), false},
			},
			wantOut: concat(ch, ch2), wantIn: concat(hrrSH, sh), done: true,
		},
		{
			name: "hello retry request: not done after the first pair",
			steps: []step{
				{proto.Out, client(Version1, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.In, server(Version1, cidA, 0, cryptoFrame(0, hrrSH)), false},
			},
			wantOut: ch, wantIn: hrrSH, done: false,
		},
		{
			name: "flow initiator is the server side of the pipeline",
			steps: []step{
				{proto.In, client(Version1, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.Out, server(Version1, cidA, 0, cryptoFrame(0, sh)), false},
			},
			wantOut: sh, wantIn: ch, done: true,
			check: func(t *testing.T, r *Report) {
				if deref(r.DCID) != hexString(cidA) || deref(r.ServerSCID) != hexString(cidB) {
					t.Errorf("report %+v", r)
				}
			},
		},
		{
			name: "client Initial cut by the capture: server keys from its DCID",
			steps: []step{
				{proto.Out, client(Version1, cidA, cidA, 0, cryptoFrame(0, ch))[:60], true},
				{proto.In, server(Version1, cidA, 0, cryptoFrame(0, sh)), false},
			},
			wantOut: nil, wantIn: sh, done: false,
			check: func(t *testing.T, r *Report) {
				if r.DecryptFailures != 0 || deref(r.DCID) != hexString(cidA) {
					t.Errorf("report %+v", r)
				}
			},
		},
		{
			name: "server refuses: CONNECTION_CLOSE",
			steps: []step{
				{proto.Out, client(Version1, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.In, server(Version1, cidA, 0, concat([]byte{frameClose}, appendVarint(nil, 0x178),
					[]byte{0x06, 7}, []byte("no alpn"))), false},
			},
			wantOut: ch, done: false,
			check: func(t *testing.T, r *Report) {
				c := r.Close
				if c == nil || c.Dir != "<" || c.ErrorCode != 0x178 || c.FrameType != 6 || c.Application || c.Reason != "no alpn" {
					t.Errorf("close %+v", c)
				}
			},
		},
		{
			name: "frames after an unexpected one are ignored",
			steps: []step{
				{proto.Out, client(Version1, cidA, cidA, 0, concat(cryptoFrame(0, ch[:50]), []byte{0x08, 0, 0}, cryptoFrame(50, ch[50:]))), false},
			},
			wantOut: ch[:50], done: false,
		},
		{
			name: "corrupted packets are counted, good ones still used",
			steps: []step{
				{proto.Out, flipLast(client(Version1, cidA, cidA, 0, cryptoFrame(0, ch))), false},
				{proto.Out, client(Version1, cidA, cidA, 1, cryptoFrame(0, ch)), false},
				{proto.In, flipLast(server(Version1, cidA, 0, cryptoFrame(0, sh))), false},
				{proto.In, server(Version1, cidA, 1, cryptoFrame(0, sh)), false},
			},
			wantOut: ch, wantIn: sh, done: true,
			check: func(t *testing.T, r *Report) {
				if r.DecryptFailures != 2 {
					t.Errorf("decrypt_failures = %d, want 2", r.DecryptFailures)
				}
			},
		},
		{
			name: "draft-29",
			steps: []step{
				{proto.Out, client(0xff00001d, cidA, cidA, 0, cryptoFrame(0, ch)), false},
				{proto.In, server(0xff00001d, cidA, 0, cryptoFrame(0, sh)), false},
			},
			wantOut: ch, wantIn: sh, done: true,
		},
		{
			name: "Google T051 frames",
			steps: []step{
				{proto.Out, client(versionT051, cidA, cidA, 0, concat([]byte{gquicPing, gquicCrypto, 0}, appendVarint(nil, uint64(len(ch))), ch, []byte{0, 0, 0})), false},
			},
			wantOut: ch, done: false,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink recordingSink
			p := New(&sink)
			run(p, tc.steps)
			if !bytes.Equal(sink.data[proto.Out], tc.wantOut) {
				t.Errorf("Out stream: got %d bytes %x\nwant %d bytes %x", len(sink.data[proto.Out]), sink.data[proto.Out], len(tc.wantOut), tc.wantOut)
			}
			if !bytes.Equal(sink.data[proto.In], tc.wantIn) {
				t.Errorf("In stream: got %d bytes %x\nwant %d bytes %x", len(sink.data[proto.In]), sink.data[proto.In], len(tc.wantIn), tc.wantIn)
			}
			for d, n := range tc.calls {
				if n != 0 && sink.calls[d] != n {
					t.Errorf("dir %d: %d sink calls, want %d", d, sink.calls[d], n)
				}
			}
			if p.Done() != tc.done {
				t.Errorf("Done = %v, want %v", p.Done(), tc.done)
			}
			if tc.check != nil {
				tc.check(t, report(t, p))
			}
		})
	}
}

func flipLast(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)-1] ^= 1
	return b
}

// TestGivesUp: the parser stops (Done) when nothing can be decrypted, and
// bounds its key derivations.
func TestGivesUp(t *testing.T) {
	ch, _ := testHellos()
	t.Run("undecryptable Initials", func(t *testing.T) {
		p := New(nil)
		for i := range maxFailures {
			if p.Done() {
				t.Fatalf("Done after %d failures", i)
			}
			// Each from a new DCID: every one would cost a derivation.
			dcid := []byte{byte(i), 1, 2, 3, 4, 5, 6, 7}
			p.Datagram(proto.Out, flipLast(sealInitial(t, initialSpec{version: Version1, keyCID: dcid, dcid: dcid, payload: cryptoFrame(0, ch)})), false, 0)
		}
		if !p.Done() {
			t.Error("not Done after maxFailures undecryptable packets")
		}
		if p.derivations > maxKeyDerivations {
			t.Errorf("%d key derivations, limit %d", p.derivations, maxKeyDerivations)
		}
		if r := report(t, p); r.DecryptFailures != maxFailures {
			t.Errorf("decrypt_failures = %d", r.DecryptFailures)
		}
	})
	t.Run("short headers only", func(t *testing.T) {
		p := New(nil)
		for range maxDatagrams {
			p.Datagram(proto.Out, []byte{0x41, 1, 2, 3, 4, 5, 6, 7, 8, 9}, false, 0)
		}
		if p.Done() {
			t.Fatal("Done before the datagram limit")
		}
		p.Datagram(proto.In, []byte{0x41, 1, 2, 3}, false, 0)
		if !p.Done() {
			t.Error("not Done past the datagram limit")
		}
		if _, v := p.Report(); v != nil {
			t.Errorf("report %#v for a flow without long headers", v)
		}
	})
	t.Run("unknown version", func(t *testing.T) {
		p := New(nil)
		q043 := concat([]byte{0xc3, 'Q', '0', '4', '3', 8}, cidA, []byte{0}, bytes.Repeat([]byte{1}, 1200))
		for range maxFailures {
			p.Datagram(proto.Out, q043, false, 0)
		}
		if !p.Done() {
			t.Error("not Done")
		}
		if r := report(t, p); r.Version != "0x51303433" || r.DecryptFailures != 0 {
			t.Errorf("report %+v", r)
		}
	})
}

// TestZeroParser: the zero Parser works, without a sink.
func TestZeroParser(t *testing.T) {
	var p Parser
	p.Datagram(proto.Out, unhex(t, rfc9001ClientInitial), false, 0)
	p.Datagram(proto.In, unhex(t, rfc9001ServerInitial), false, 0)
	if !p.Done() {
		t.Error("not Done")
	}
	if r := report(t, &p); deref(r.DCID) != rfcDCID {
		t.Errorf("report %+v", r)
	}
}

// TestReportJSON pins the JSON shape of the "quic" object.
func TestReportJSON(t *testing.T) {
	p := New(nil)
	p.Datagram(proto.Out, unhex(t, rfc9001ClientInitial), false, 0)
	p.Datagram(proto.In, unhex(t, rfc9001Retry), false, 0)
	_, v := p.Report()
	want := `{"version":"0x00000001","dcid":"8394c8f03e515708","scid":"",` +
		`"retry":{"scid":"f067a5502a4262b5","token_len":5,"integrity_ok":true}}`
	if got := marshal(t, v); got != want {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
	// A reason that is not UTF-8 keeps its bytes (jsontext.WireString).
	c := &Close{Dir: ">", ErrorCode: 1, Reason: wireString([]byte{'a', 0xff, '"'})}
	if got, want := marshal(t, c), `{"dir":">","error_code":1,"reason":"a\\xff\""}`; got != want {
		t.Errorf("close JSON %s, want %s", got, want)
	}
}

// marshal encodes v as the record encoder does (no HTML escaping).
func marshal(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
