package ebpf

import (
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// BenchmarkProgramCost runs the TC egress program on one packet again and
// again in the kernel (BPF_PROG_TEST_RUN), for the paths a packet can
// take, so that the cost per packet `make bench-live` reports can be
// split up: ns/packet is the kernel's average over the repeats.
//
//	go test ./userspace/capture/ebpf -run '^$' -bench ProgramCost
func BenchmarkProgramCost(b *testing.B) {
	if testing.Short() {
		b.Skip("loads eBPF programs")
	}
	requireRootB(b)
	udp := frame(b, 18)
	arp := append([]byte(nil), udp...)
	binary.BigEndian.PutUint16(arp[12:], uint16(layers.EthernetTypeARP))
	for _, c := range []struct {
		name string
		cfg  Config
		pkt  []byte
	}{
		// Not IP: parse the link header, count, leave.
		{"not-ip", Config{}, arp},
		// A flow past its samples and budget: key, look up, count.
		{"counted", Config{NumPkts: -1, DistBytes: -1}, udp},
		// Every packet sampled (header only) into the ring buffer.
		{"sampled", Config{NumPkts: 1 << 30, DistBytes: -1}, udp},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.cfg.Interfaces = []string{"lo"}
			if err := c.cfg.setDefaults(); err != nil {
				b.Fatal(err)
			}
			e := &Engine{cfg: c.cfg}
			if err := e.load(); err != nil {
				b.Fatal(err)
			}
			defer e.objs.close()
			rd, err := ringbuf.NewReader(e.objs.Samples)
			if err != nil {
				b.Fatal(err)
			}
			defer rd.Close()
			// The kernel times the runs; between batches the ring is
			// emptied, untimed, so that samples never find it full.
			const repeat = 10000
			var total time.Duration
			runs := 0
			for runs < b.N {
				_, d, err := e.objs.Egress.Benchmark(c.pkt, repeat, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += d * repeat
				runs += repeat
				rd.SetDeadline(time.Now())
				for {
					if _, err := rd.Read(); err != nil {
						break
					}
				}
			}
			if lost := e.readKernelStats().RbFail; lost > 0 {
				b.Fatalf("%d samples lost: the ring filled", lost)
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(runs), "ns/packet")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func requireRootB(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root: loads eBPF programs")
	}
}

// frame is an Ethernet/IPv4/UDP frame with size payload bytes.
func frame(b *testing.B, size int) []byte {
	b.Helper()
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: []byte{10, 78, 0, 1}, DstIP: []byte{10, 78, 0, 2}}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9000}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(make([]byte, size))); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}
