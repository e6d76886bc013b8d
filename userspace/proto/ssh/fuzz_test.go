package ssh

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
	"github.com/flowjoy/flowjoy/userspace/proto/internal/pcaptest"
)

// A fuzz input is a transcript of Stream calls: records of a control byte
// (bit 0: direction; bit 1: a Gap of that direction follows), a big-endian
// uint16 length and that many bytes (fewer if the input ends).

func encodeTranscript(fl *pcaptest.Flow) []byte {
	var out []byte
	for _, e := range fl.Events {
		if e.Gap {
			out = append(out, byte(e.Dir)|2, 0, 0)
		}
		for data := e.Data; len(data) > 0; {
			n := min(len(data), 0xffff)
			out = append(out, byte(e.Dir))
			out = binary.BigEndian.AppendUint16(out, uint16(n))
			out = append(out, data[:n]...)
			data = data[n:]
		}
	}
	return out
}

type call struct {
	dir  proto.Dir
	data []byte
	gap  bool
}

func decodeTranscript(b []byte) []call {
	var calls []call
	for len(b) >= 3 {
		ctl, n := b[0], int(binary.BigEndian.Uint16(b[1:3]))
		b = b[3:]
		n = min(n, len(b))
		calls = append(calls, call{proto.Dir(ctl & 1), b[:n], ctl&2 != 0})
		b = b[n:]
	}
	return calls
}

func FuzzSSH(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzSSH (written by TestWriteFuzzSeeds from the
	// captures) plus a few hand-made edge cases.
	f.Add([]byte("\x01\x00\x0bSSH-2.0-x\r\n\x01\x00\x05\x00\x01\x00\x01\x04"))
	f.Add([]byte("\x00\x00\x04SSH-\x02\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		calls := decodeTranscript(in)
		whole := New()
		bytewise := New()
		// Split into single bytes, or for large inputs into pieces of an
		// odd size that still cuts every header somewhere.
		piece := 1
		if len(in) > 4096 {
			piece = 61
		}
		for _, c := range calls {
			whole.Data(c.dir, c.data, 0)
			for b := c.data; len(b) > 0; {
				n := min(piece, len(b))
				bytewise.Data(c.dir, b[:n], 0)
				b = b[n:]
			}
			if c.gap {
				whole.Gap(c.dir)
				bytewise.Gap(c.dir)
			}
		}
		for _, p := range []*Parser{whole, bytewise} {
			for _, d := range p.dirs {
				if len(d.pending) > 4+maxPacketLen || len(d.line) > maxBannerLen || len(d.kexMsgs) > maxKexMessages || d.kexBytes > maxKexBytes || len(d.codes) > maxPackets {
					t.Fatalf("bounds exceeded: pending %d line %d kex %d codes %d", len(d.pending), len(d.line), len(d.kexMsgs), len(d.codes))
				}
			}
		}
		_, a := whole.Report()
		_, b := bytewise.Report()
		ja, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if !json.Valid(ja) {
			t.Fatalf("invalid JSON: %s", ja)
		}
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("report depends on chunking:\n%s\n%s", ja, jb)
		}
		if whole.Done() != bytewise.Done() {
			t.Fatalf("Done() depends on chunking")
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzSSH from the captures
// when FLOWJOY_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("FLOWJOY_WRITE_SEEDS") != "1" {
		t.Skip("set FLOWJOY_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzSSH")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pcaps, _ := filepath.Glob(filepath.Join("testdata", "pcap", "*.pcap"))
	for _, path := range pcaps {
		name := filepath.Base(path)
		name = name[:len(name)-len(".pcap")]
		for i, fl := range pcaptest.ReadTCP(t, path) {
			if i >= 2 || !slices.ContainsFunc(fl.Events, func(e pcaptest.Event) bool { return len(e.Data) > 0 }) {
				continue // two connections per capture are plenty
			}
			seed := encodeTranscript(fl)
			if len(seed) > 8<<10 {
				continue
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d", name, i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func BenchmarkParser(b *testing.B) {
	flows := pcaptest.ReadTCP(b, filepath.Join("testdata", "pcap", "openssh-loopback.pcap"))
	fl := flows[0] // sntrup761x25519, ssh-ed25519: OpenSSH 9.2's defaults
	b.ReportAllocs()
	for b.Loop() {
		p := New()
		for _, e := range fl.Events {
			if e.Gap {
				break
			}
			p.Data(e.Dir, e.Data, e.TS)
			if p.Done() {
				break
			}
		}
		p.Report()
	}
}
