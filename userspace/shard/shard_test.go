package shard

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/features"
	"github.com/flowjoy/flowjoy/userspace/flow"
	"github.com/flowjoy/flowjoy/userspace/pipeline"
)

type memSink struct {
	mu    sync.Mutex
	lines [][]byte
}

func (m *memSink) Write(b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) > 0 {
			m.lines = append(m.lines, append([]byte(nil), l...))
		}
	}
	return nil
}
func (m *memSink) Flush() error { return nil }
func (m *memSink) Close() error { return nil }

func (m *memSink) sorted() []string {
	var s []string
	for _, l := range m.lines {
		s = append(s, string(l))
	}
	slices.Sort(s)
	return s
}

// traffic makes a random but fixed mix: TCP flows that close, UDP flows
// that go idle, long flows split by the active timeout, IPv4 fragments,
// timestamps that sometimes go backwards, and frames that are not IP.
func traffic(t *testing.T) []event.Packet {
	rng := rand.New(rand.NewPCG(8, 8))
	var evs []event.Packet
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return slices.Clone(buf.Bytes())
	}
	eth := &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv4}
	for i := 0; i < 3000; i++ {
		ts += int64(rng.IntN(100)) * int64(time.Millisecond)
		if i%1000 == 999 {
			ts += int64(12 * time.Second) // a quiet gap: idle timeouts fire
		}
		pts := ts
		if rng.IntN(20) == 0 {
			pts -= int64(rng.IntN(3000)) * int64(time.Millisecond) // out of order
		}
		c := byte(rng.IntN(40))
		ip := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(i), SrcIP: []byte{10, 0, 1, c}, DstIP: []byte{10, 0, 2, byte(rng.IntN(3))}}
		fromClient := rng.IntN(2) == 0
		if !fromClient {
			ip.SrcIP, ip.DstIP = ip.DstIP, ip.SrcIP
		}
		sport, dport := layers.TCPPort(1000+rng.IntN(4)), layers.TCPPort(443)
		long := i%5 == 0
		if long { // a long flow: split by the active timeout
			ip.SrcIP, ip.DstIP, sport = []byte{10, 0, 9, 9}, []byte{10, 0, 2, 1}, 999
		}
		if !fromClient {
			sport, dport = dport, sport
		}
		payload := make([]byte, rng.IntN(300))
		for j := range payload {
			payload[j] = byte(rng.IntN(256))
		}
		var data []byte
		kind := rng.IntN(10)
		if long {
			kind = 9
		}
		switch kind {
		case 0: // not IP
			data = ser(&layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeARP}, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, SourceHwAddress: make([]byte, 6), SourceProtAddress: make([]byte, 4), DstHwAddress: make([]byte, 6), DstProtAddress: make([]byte, 4)})
		case 1, 2: // UDP, sometimes as two fragments
			ip.Protocol = layers.IPProtocolUDP
			u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
			u.SetNetworkLayerForChecksum(ip)
			full := ser(eth, ip, u, gopacket.Payload(append(payload, make([]byte, 64)...)))
			if rng.IntN(2) == 0 {
				data = full
				break
			}
			// Split the IP payload at 32 bytes into two fragments.
			hdr, body := full[14:34], full[34:]
			f1 := append(slices.Clone(full[:34]), body[:32]...)
			f1[14+6] |= 0x20 // MF
			f1[14+2], f1[14+3] = byte((20+32)>>8), byte(20+32)
			f2 := append(append(slices.Clone(full[:14]), hdr...), body[32:]...)
			f2[14+6], f2[14+7] = 0, 4 // offset 32 bytes
			f2[14+2], f2[14+3] = byte((20+len(body)-32)>>8), byte(20+len(body)-32)
			evs = append(evs, event.Packet{Timestamp: pts, LinkType: event.LinkEthernet, Data: f1})
			data = f2
		default:
			ip.Protocol = layers.IPProtocolTCP
			tcp := &layers.TCP{SrcPort: sport, DstPort: dport, Seq: uint32(i * 1000), Window: 1000, ACK: true, PSH: len(payload) > 0}
			flags := rng.IntN(12)
			if long {
				flags = 11
			}
			switch flags {
			case 0:
				tcp.SYN, tcp.ACK = true, false
			case 1:
				tcp.FIN = true
			case 2:
				tcp.RST = true
			}
			tcp.SetNetworkLayerForChecksum(ip)
			data = ser(eth, ip, tcp, gopacket.Payload(payload))
		}
		evs = append(evs, event.Packet{Timestamp: pts, LinkType: event.LinkEthernet, Data: data})
	}
	return evs
}

func run(cfg pipeline.Config, evs []event.Packet, n int) (*memSink, pipeline.Stats) {
	out := &memSink{}
	s := New(cfg, out, n)
	buf := make([]byte, 0, 2048)
	for i := range evs {
		// The reader reuses its buffer: the sharder must copy.
		ev := evs[i]
		buf = append(buf[:0], ev.Data...)
		ev.Data = buf
		s.Packet(&ev)
		clear(buf)
	}
	if err := s.Finish(); err != nil {
		panic(err)
	}
	return out, s.Stats()
}

// TestShardedRecordsAreTheSingleRecords: any number of shards writes the
// records one pipeline writes (sorted: only the order across flows may
// differ), with every timeout firing as in one table.
func TestShardedRecordsAreTheSingleRecords(t *testing.T) {
	evs := traffic(t)
	cfg := pipeline.Config{
		Flow:     flow.Config{IdleTimeout: 10 * time.Second, ActiveTimeout: 30 * time.Second, CloseTimeout: 2 * time.Second},
		Features: features.Config{NumPkts: 50, ByteDist: true, DistBytes: -1},
	}
	for _, p := range []string{"tls", "quic", "dns", "http", "ssh", "dhcp"} {
		cfg.Dissect.Enable(p)
	}
	one, oneStats := run(cfg, evs, 1)
	want := one.sorted()
	kinds := map[byte]int{}
	for _, l := range want {
		kinds[l[len(l)-4]]++
	}
	// The traffic must exercise every timeout, or the test proves little.
	for _, k := range []byte{'i', 'a', 'f', 'e'} {
		if kinds[k] == 0 {
			t.Fatalf("no record with expire_type %q in the single-pipeline output: %v", k, kinds)
		}
	}
	if oneStats.NotIP == 0 {
		t.Fatal("no non-IP frames")
	}
	for _, n := range []int{2, 3, 7} {
		got, st := run(cfg, evs, n)
		if g := got.sorted(); !slices.Equal(g, want) {
			t.Errorf("%d shards: %d records differ from the single pipeline's %d", n, len(g), len(want))
			for i := range min(len(g), len(want)) {
				if g[i] != want[i] {
					t.Errorf("first difference:\n got %s\nwant %s", g[i], want[i])
					break
				}
			}
		}
		st.Dissect, oneStats.Dissect = pipeline.Stats{}.Dissect, pipeline.Stats{}.Dissect // process-wide
		if st != oneStats {
			t.Errorf("%d shards: stats %+v, want %+v", n, st, oneStats)
		}
	}
}

// TestPacketDoesNotAllocate: batches are reused; no allocation per packet.
func TestPacketDoesNotAllocate(t *testing.T) {
	evs := traffic(t)
	cfg := pipeline.Config{Flow: flow.DefaultConfig()}
	s := New(cfg, &memSink{}, 2)
	ev := event.Packet{LinkType: event.LinkEthernet, Data: []byte{1, 2, 3}} // not IP: no flow state
	for i := 0; i < 10000; i++ {
		s.Packet(&ev)
	}
	allocs := testing.AllocsPerRun(20000, func() { s.Packet(&ev) })
	s.Finish()
	if allocs != 0 {
		t.Errorf("%v allocations per packet in the reader", allocs)
	}
	_ = evs
}
