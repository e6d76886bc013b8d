package dhcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
	"github.com/flowjoy/flowjoy/userspace/proto/internal/pcaptest"
)

// countOptions counts options at every nesting level of a report.
func countOptions(v any) int {
	n := 0
	var walk func(opts []Option)
	walk = func(opts []Option) {
		for _, o := range opts {
			n++
			switch d := o.Body.Decoded.(type) {
			case *IA:
				walk(d.Options)
			case *IAAddress:
				walk(d.Options)
			case *MessageV6:
				walk(d.Options)
			case *MessageV4:
				walk(d.Options)
			}
		}
	}
	switch m := v.(type) {
	case *MessageV4:
		walk(m.Options)
	case *MessageV6:
		walk(m.Options)
	}
	return n
}

// fuzzOne checks what must hold for any datagram: no panic, valid JSON,
// bounded options, and a report that owns its bytes.
func fuzzOne(t *testing.T, p proto.Datagram, in []byte) {
	buf := bytes.Clone(in)
	p.Datagram(proto.Out, buf, false, 0)
	_, v := p.Report()
	if len(in) == 0 {
		if v != nil {
			t.Fatal("report for an empty datagram")
		}
		return
	}
	first, err := json.Marshal(v)
	if err != nil || !json.Valid(first) {
		t.Fatalf("marshal: %v\n%s", err, first)
	}
	var msg any
	switch msgs := v.(type) {
	case []*MessageV4:
		msg = msgs[0]
	case []*MessageV6:
		msg = msgs[0]
	}
	if n := countOptions(msg); n > maxOptions {
		t.Fatalf("%d options decoded, bound is %d", n, maxOptions)
	}
	for i := range buf {
		buf[i] ^= 0xff
	}
	if again, _ := json.Marshal(v); !bytes.Equal(first, again) {
		t.Fatal("report changed with the caller's buffer")
	}
}

func FuzzDHCPv4(f *testing.F) {
	f.Add(bootp(53, 1, 1, 61, 7, 1, 2, 0, 0, 0, 0, 1, 119, 4, 1, 'a', 0xc0, 0, 255))
	f.Add(bootp(52, 1, 3, 255))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzOne(t, NewV4(), in) })
}

func FuzzDHCPv6(f *testing.F) {
	f.Add([]byte{12, 0, 32: 0, 33: 0, 34: 0, 35: 9, 36: 0, 37: 4, 38: 1, 39: 0, 40: 0, 41: 1})
	f.Add([]byte{1, 0, 0, 1, 0, 39, 0, 3, 1, 1, 'a'})
	f.Fuzz(func(t *testing.T, in []byte) { fuzzOne(t, NewV6(), in) })
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzDHCPv4 and FuzzDHCPv6
// from the captures' datagrams when FLOWJOY_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("FLOWJOY_WRITE_SEEDS") != "1" {
		t.Skip("set FLOWJOY_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	pcaps, _ := filepath.Glob(filepath.Join("testdata", "pcap", "*.pcap"))
	seen := map[string]bool{}
	for _, path := range pcaps {
		name := strings.TrimSuffix(filepath.Base(path), ".pcap")
		n := 0
		for _, fl := range pcaptest.ReadUDP(t, path) {
			target := map[Version]string{V4: "FuzzDHCPv4", V6: "FuzzDHCPv6"}[Detect(fl.Src.Port(), fl.Dst.Port())]
			for _, d := range fl.Events {
				if target == "" || n >= 4 || seen[string(d.Data)] {
					continue
				}
				seen[string(d.Data)] = true
				dir := filepath.Join("testdata", "fuzz", target)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", d.Data)
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d", name, d.Frame)), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				n++
			}
		}
	}
}

func BenchmarkV4(b *testing.B) {
	flows := pcaptest.ReadUDP(b, filepath.Join("testdata", "pcap", "joy-dhcp.pcap"))
	ack := flows[1].Events[0].Data // DHCPACK with seven options
	b.ReportAllocs()
	b.SetBytes(int64(len(ack)))
	for b.Loop() {
		p := NewV4()
		p.Datagram(proto.In, ack, false, 0)
		p.Report()
	}
}

func BenchmarkV6(b *testing.B) {
	flows := pcaptest.ReadUDP(b, filepath.Join("testdata", "pcap", "tcpdump-dhcpv6-ia-na.pcap"))
	reply := flows[1].Events[1].Data // REPLY with IA_NA, IAADDR, DUIDs
	b.ReportAllocs()
	b.SetBytes(int64(len(reply)))
	for b.Loop() {
		p := NewV6()
		p.Datagram(proto.In, reply, false, 0)
		p.Report()
	}
}
