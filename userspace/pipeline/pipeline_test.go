package pipeline

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/flowjoy/flowjoy/schema"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/features"
	"github.com/flowjoy/flowjoy/userspace/flow"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

type memSink struct{ lines [][]byte }

func (m *memSink) Write(l []byte) error {
	m.lines = append(m.lines, append([]byte(nil), l...))
	return nil
}
func (m *memSink) Flush() error { return nil }
func (m *memSink) Close() error { return nil }

// tcpPacket serializes an Ethernet/IPv4/TCP packet.
func tcpPacket(t testing.TB, sport, dport uint16, fromClient bool, flags string, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Window: 1000, Seq: 1}
	if !fromClient {
		ip.SrcIP, ip.DstIP = ip.DstIP, ip.SrcIP
		tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
	}
	for _, f := range flags {
		switch f {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'F':
			tcp.FIN = true
		case 'P':
			tcp.PSH = true
		}
	}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func basicConfig() Config {
	return Config{Flow: flow.DefaultConfig(), Features: features.Config{NumPkts: 50, ByteDist: true, DistBytes: -1}}
}

func TestPipelineWritesValidRecords(t *testing.T) {
	out := &memSink{}
	p := New(basicConfig(), out)
	seq := []struct {
		client  bool
		flags   string
		payload string
	}{{true, "S", ""}, {false, "SA", ""}, {true, "A", ""}, {true, "PA", "hello"}, {false, "PA", "world!"}, {true, "FA", ""}, {false, "FA", ""}}
	for i, s := range seq {
		ev := event.Packet{Timestamp: int64(i) * 1_000_000, LinkType: event.LinkEthernet, Data: tcpPacket(t, 5555, 80, s.client, s.flags, []byte(s.payload))}
		p.Packet(&ev)
	}
	p.Packet(&event.Packet{Timestamp: 1, LinkType: event.LinkEthernet, Data: []byte{1, 2, 3}})
	if err := p.Finish(); err != nil {
		t.Fatal(err)
	}
	if len(out.lines) != 1 {
		t.Fatalf("%d records", len(out.lines))
	}
	recs, err := schema.ValidateLines(out.lines[0])
	if err != nil {
		t.Fatal(err)
	}
	r := recs[0]
	if r["bytes_out"] != 5.0 || r["bytes_in"] != 6.0 || r["num_pkts_out"] != 4.0 || r["num_pkts_in"] != 3.0 || r["sp"] != 5555.0 {
		t.Errorf("record %v", r)
	}
	if st := p.Stats(); st.Packets != 8 || st.Truncated+st.Malformed != 1 {
		t.Errorf("stats %+v", st)
	}
}

// Packets of flows already in the table cost no allocation (basic
// features: SPLT, byte distribution, IP/TCP facts).
func TestSteadyStateAllocatesNothing(t *testing.T) {
	p := New(basicConfig(), &memSink{})
	pkts := make([][]byte, 64)
	for i := range pkts {
		pkts[i] = tcpPacket(t, uint16(1000+i), 443, i%2 == 0, "PA", []byte("some payload bytes"))
	}
	ev := event.Packet{LinkType: event.LinkEthernet}
	// The packets and IP id lists grow until NumPkts entries; fill them
	// first, then a packet must allocate nothing.
	for n := 0; n < 60; n++ {
		for _, d := range pkts {
			ev.Data = d
			ev.Timestamp++
			p.Packet(&ev)
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		ev.Data = pkts[i%len(pkts)]
		ev.Timestamp++
		i++
		p.Packet(&ev)
	})
	if allocs != 0 {
		t.Errorf("%.2f allocations per packet", allocs)
	}
}

func BenchmarkPipelinePacket(b *testing.B) {
	p := New(basicConfig(), &memSink{})
	pkts := make([][]byte, 1024)
	for i := range pkts {
		pkts[i] = tcpPacket(b, uint16(1000+i), 443, i%2 == 0, "PA", make([]byte, 200))
	}
	ev := event.Packet{LinkType: event.LinkEthernet}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Data = pkts[i&1023]
		ev.Timestamp = int64(i)
		p.Packet(&ev)
	}
}

// PayloadDone is told once, when the packets list is full and byte_dist
// has its bytes (no parser enabled: nothing else wants payload).
func TestPayloadDone(t *testing.T) {
	cfg := basicConfig()
	cfg.Features.NumPkts = 3
	cfg.Features.DistBytes = 10
	var done []int
	n := 0
	cfg.PayloadDone = func(key flowkey.Key) { done = append(done, n) }
	p := New(cfg, &memSink{})
	for n = 1; n <= 6; n++ {
		ev := event.Packet{Timestamp: int64(n), LinkType: event.LinkEthernet, Data: tcpPacket(t, 7000, 80, n%2 == 1, "PA", []byte("four"))}
		p.Packet(&ev)
	}
	// After 3 packets the list is full and 12 >= 10 bytes were counted.
	if len(done) != 1 || done[0] != 3 {
		t.Errorf("PayloadDone after packets %v, want once after the 3rd", done)
	}
}
