package quic

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
	"github.com/flowjoy/flowjoy/userspace/proto/internal/pcaptest"
)

// Fuzz inputs for FuzzInitial are a sequence of datagrams, each a control
// byte (bit 0: direction In, bit 1: truncated), a 16-bit big-endian
// length and that many bytes (fewer at the end of the input).

func encodeDatagrams(steps []step) []byte {
	var b []byte
	for _, s := range steps {
		ctrl := byte(s.dir & 1)
		if s.truncated {
			ctrl |= 2
		}
		b = append(b, ctrl)
		b = binary.BigEndian.AppendUint16(b, uint16(len(s.payload)))
		b = append(b, s.payload...)
	}
	return b
}

func decodeDatagrams(b []byte) []step {
	var steps []step
	for len(b) >= 3 {
		n := int(binary.BigEndian.Uint16(b[1:3]))
		s := step{dir: proto.Dir(b[0] & 1), truncated: b[0]&2 != 0}
		b = b[3:]
		n = min(n, len(b))
		s.payload, b = b[:n], b[n:]
		steps = append(steps, s)
	}
	return steps
}

// boundedSink checks, as the parser feeds it, that the handshake bytes of
// each direction never exceed the reassembly limit.
type boundedSink struct {
	t     *testing.T
	total [2]int
}

func (s *boundedSink) Handshake(dir proto.Dir, data []byte, _ int64) {
	if len(data) == 0 {
		s.t.Error("empty Handshake call")
	}
	s.total[dir] += len(data)
	if s.total[dir] > MaxCryptoBytes {
		s.t.Fatalf("dir %d: %d handshake bytes, past MaxCryptoBytes", dir, s.total[dir])
	}
}

// checkBounds asserts the parser's memory and work limits.
func checkBounds(t *testing.T, p *Parser) {
	t.Helper()
	for d := range p.streams {
		s := &p.streams[d]
		if cap(s.buf) > MaxCryptoBytes || len(s.pending) > maxSpans {
			t.Fatalf("dir %d: buffer cap %d, %d pending ranges", d, cap(s.buf), len(s.pending))
		}
	}
	if p.derivations > maxKeyDerivations {
		t.Fatalf("%d key derivations", p.derivations)
	}
}

// FuzzInitial feeds arbitrary datagram sequences to a parser: it must not
// panic, must stay within its bounds, and must produce a report that
// marshals. The seed corpus holds the first datagrams of real QUIC flows
// and the RFC packets, so mutations start from valid Initials.
func FuzzInitial(f *testing.F) {
	f.Add(encodeDatagrams([]step{
		{dir: proto.Out, payload: mustHex(rfc9001ClientInitial)},
		{dir: proto.In, payload: mustHex(rfc9001ServerInitial)},
	}))
	f.Add(encodeDatagrams([]step{
		{dir: proto.Out, payload: mustHex(rfc9369ClientInitial)},
		{dir: proto.In, payload: mustHex(rfc9369Retry)},
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		sink := &boundedSink{t: t}
		p := New(sink)
		for i, s := range decodeDatagrams(data) {
			p.Datagram(s.dir, s.payload, s.truncated, int64(i))
			checkBounds(t, p)
		}
		_ = p.Done()
		if _, v := p.Report(); v != nil {
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("report does not marshal: %v", err)
			}
		}
	})
}

// FuzzInitialPlaintext seals arbitrary client and server payloads into
// valid Initial packets, which gets the fuzzer past authentication into
// frame parsing and CRYPTO reassembly. The handshake bytes delivered must
// equal a simple model: the contiguous prefix of the CRYPTO frames, the
// first copy of each byte winning.
func FuzzInitialPlaintext(f *testing.F) {
	ch, sh := testHellos()
	f.Add(mustHex(rfcClientCrypto), mustHex(rfcServerPlaintext))
	f.Add(concat(cryptoFrame(100, ch[100:]), []byte{framePing}, cryptoFrame(0, ch[:120])),
		concat([]byte{frameAck, 5, 0, 1, 0, 1, 2}, cryptoFrame(0, sh)))
	f.Add(concat([]byte{frameAckECN, 1, 2, 0, 0, 7, 8, 9}, cryptoFrame(0, ch)),
		concat([]byte{frameClose, 0x41, 0x78, 6, 3}, []byte("bye")))
	f.Fuzz(func(t *testing.T, client, server []byte) {
		if len(client) > 1<<16 || len(server) > 1<<16 {
			return
		}
		cid := mustHex(rfcDCID)
		client, server = padForSample(client), padForSample(server)
		sink := &recordingSink{}
		p := New(sink)
		p.Datagram(proto.Out, sealInitial(t, initialSpec{version: Version1, keyCID: cid, dcid: cid, payload: client}), false, 0)
		p.Datagram(proto.In, sealInitial(t, initialSpec{version: Version1, keyCID: cid, server: true, scid: cid[:4], payload: server}), false, 1)
		checkBounds(t, p)
		if p.rec.failures != 0 {
			t.Fatalf("%d decrypt failures on valid packets", p.rec.failures)
		}
		for d, payload := range [2][]byte{client, server} {
			want, exact := modelCrypto(payload)
			got := sink.data[d]
			if exact && !bytes.Equal(got, want) || !bytes.HasPrefix(want, got) {
				t.Fatalf("dir %d: delivered %x\nmodel %x (exact %v)", d, got, want, exact)
			}
		}
		if _, v := p.Report(); v != nil {
			if _, err := json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// padForSample pads a payload with PADDING frames to the minimum a
// 1-byte packet number needs, as sealInitial would, so that the model
// sees the same frames as the parser.
func padForSample(b []byte) []byte {
	for 1+len(b)+tagLen < 4+sampleLen {
		b = append(b, 0)
	}
	return b
}

// modelCrypto reassembles the CRYPTO frames of one payload the naive way.
// exact is false when a frame runs past the reassembly limits, after which
// the parser may deliver only a prefix.
func modelCrypto(payload []byte) (stream []byte, exact bool) {
	var m cryptoModel
	_ = walkFrames(payload, false, &m)
	for i := 0; ; i++ {
		b, ok := m.bytes[i]
		if !ok {
			break
		}
		stream = append(stream, b)
	}
	return stream, !m.overLimit && m.frames <= maxSpans
}

type cryptoModel struct {
	bytes     map[int]byte
	frames    int
	overLimit bool
}

func (m *cryptoModel) crypto(off uint64, data []byte) {
	if m.bytes == nil {
		m.bytes = map[int]byte{}
	}
	m.frames++
	if off+uint64(len(data)) > MaxCryptoBytes {
		m.overLimit = true
		return
	}
	for i, b := range data {
		if _, ok := m.bytes[int(off)+i]; !ok {
			m.bytes[int(off)+i] = b
		}
	}
}

func (m *cryptoModel) connectionClose(uint64, uint64, bool, []byte) {}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestWriteFuzzCorpus regenerates the seed corpora under testdata/fuzz from
// the test captures: for FuzzInitial the first two datagrams of one QUIC flow
// per capture, for FuzzInitialPlaintext the decrypted payloads of its first
// client and server Initial. It runs only with QUIC_WRITE_FUZZ_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("QUIC_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set QUIC_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz")
	}
	write := func(target, name string, args ...[]byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, a := range args {
			body += "[]byte(" + strconv.Quote(string(a)) + ")\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, ec := range loadExpected(t) {
		for _, f := range pcaptest.ReadUDP(t, filepath.Join("testdata/captures", ec.File)) {
			if len(f.Events) == 0 || !Detect(f.Events[0].Data) {
				continue
			}
			var steps []step
			for _, d := range f.Events[:min(len(f.Events), 2)] {
				steps = append(steps, step{dir: d.Dir, payload: d.Data, truncated: d.Truncated})
			}
			write("FuzzInitial", ec.File, encodeDatagrams(steps))
			if client, server := firstPlaintexts(f); client != nil && server != nil {
				// Trailing PADDING only makes the corpus large.
				write("FuzzInitialPlaintext", ec.File, bytes.TrimRight(client, "\x00"), bytes.TrimRight(server, "\x00"))
			}
			break
		}
	}
}

// firstPlaintexts decrypts the first client and server Initial of a flow
// whose client is its initiator.
func firstPlaintexts(f *pcaptest.Flow) (client, server []byte) {
	var keys *initialKeys
	var buf openBuffer
	for _, d := range f.Events {
		h, err := parseLongHeader(d.Data)
		if err != nil || !h.known || h.typ != typeInitial {
			continue
		}
		if keys == nil {
			if d.Dir != proto.Out {
				return nil, nil
			}
			if keys, err = deriveInitialKeys(h.version, lookupVersion(h.version), h.dcid); err != nil {
				return nil, nil
			}
		}
		pk := &keys.client
		if d.Dir == proto.In {
			pk = &keys.server
		}
		payload, _, err := pk.open(d.Data[:h.size], h.pnOffset, 0, &buf)
		if err != nil {
			continue
		}
		if d.Dir == proto.Out && client == nil {
			client = bytes.Clone(payload)
		} else if d.Dir == proto.In && server == nil {
			server = bytes.Clone(payload)
		}
		if client != nil && server != nil {
			return client, server
		}
	}
	return client, server
}
