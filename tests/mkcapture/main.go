// Command mkcapture writes a large deterministic capture for benchmarks:
// many short TCP and UDP flows on Ethernet/IPv4 and IPv6, with payloads
// that look like the protocols flowjoy parses (TLS ClientHello, HTTP, DNS)
// and bulk data, so that both "basic" and "all" do realistic work.
//
//	go run ./tests/mkcapture -flows 100000 -o bench.pcap
//
// -packets makes longer flows (more bulk data between the handshake and
// the FINs), standing in for captures of real traffic, where fewer,
// longer flows carry most of the bytes.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	flows := flag.Int("flows", 100_000, "number of flows")
	packets := flag.Int("packets", 10, "packets per flow (at least 10)")
	out := flag.String("o", "bench.pcap", "output file")
	flag.Parse()
	if *packets < 10 {
		fmt.Fprintln(os.Stderr, "mkcapture: -packets must be at least 10 (handshake, exchange, FINs)")
		os.Exit(2)
	}
	if err := write(*out, *flows, *packets); err != nil {
		fmt.Fprintln(os.Stderr, "mkcapture:", err)
		os.Exit(1)
	}
}

// Payload templates, fixed so that the capture is the same every run.
var (
	clientHello = append([]byte{0x16, 0x03, 0x01, 0x00, 0xc4, 0x01, 0x00, 0x00, 0xc0, 0x03, 0x03}, make([]byte, 32+1+2+12+2+140)...)
	httpRequest = []byte("GET /index.html HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: mkcapture/1\r\nAccept: */*\r\n\r\n")
	httpReply   = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1200\r\n\r\n")
)

func write(path string, nflows, npackets int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriterNanos(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	bulk := make([]byte, 1448)
	for i := range bulk {
		bulk[i] = byte(rng.IntN(256))
	}
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}}

	// Flows are interleaved in groups so that many are open at once.
	const group = 1000
	for base := 0; base < nflows; base += group {
		specs := make([]flowSpec, 0, group)
		for i := base; i < min(base+group, nflows); i++ {
			s := flowSpec{client: [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}, server: [4]byte{192, 0, 2, byte(i % 200)},
				sport: uint16(1024 + i%60000), kind: i % 4}
			s.dport = [4]uint16{443, 80, 53, 8443}[s.kind]
			s.seq = [2]uint32{rng.Uint32(), rng.Uint32()}
			specs = append(specs, s)
		}
		for step := 0; step < npackets; step++ {
			for i := range specs {
				s := &specs[i]
				ts = ts.Add(time.Microsecond * time.Duration(1+rng.IntN(20)))
				var payload []byte
				fromClient := step%2 == 0
				if s.kind == 2 { // DNS over UDP: query and answer, 5 exchanges
					payload = make([]byte, 40+step%20)
					binary.BigEndian.PutUint16(payload, uint16(i))
					payload[2] = 0x01
					if !fromClient {
						payload[2] = 0x81
					}
					ip := ipv4(s, fromClient)
					ip.Protocol = layers.IPProtocolUDP
					udp := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
					if !fromClient {
						udp.SrcPort, udp.DstPort = udp.DstPort, udp.SrcPort
					}
					udp.SetNetworkLayerForChecksum(ip)
					eth.EthernetType = layers.EthernetTypeIPv4
					if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
						return err
					}
				} else {
					tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Window: 64240}
					dir := 0
					if !fromClient {
						dir = 1
						tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
					}
					switch fin := step >= npackets-2; {
					case step == 0:
						tcp.SYN = true
						tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}
					case step == 1:
						tcp.SYN, tcp.ACK = true, true
					case fin:
						tcp.FIN, tcp.ACK = true, true
					default:
						tcp.ACK, tcp.PSH = true, true
						switch {
						case step == 2 && (s.kind == 0 || s.kind == 3):
							payload = clientHello
						case step == 2:
							payload = httpRequest
						case step == 3 && s.kind == 1:
							payload = httpReply
						default:
							payload = bulk[:200+rng.IntN(1200)]
						}
					}
					tcp.Seq = s.seq[dir]
					if step >= 1 {
						tcp.Ack = s.seq[1-dir]
					}
					adv := uint32(len(payload))
					if tcp.SYN || tcp.FIN {
						adv++
					}
					s.seq[dir] += adv
					ip := ipv4(s, fromClient)
					ip.Protocol = layers.IPProtocolTCP
					tcp.SetNetworkLayerForChecksum(ip)
					eth.EthernetType = layers.EthernetTypeIPv4
					if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
						return err
					}
				}
				data := buf.Bytes()
				ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}
				if err := w.WritePacket(ci, data); err != nil {
					return err
				}
			}
		}
	}
	return bw.Flush()
}

type flowSpec struct {
	client, server [4]byte
	sport, dport   uint16
	kind           int // 0 TLS on 443, 1 HTTP on 80, 2 DNS on 53, 3 TLS on 8443
	seq            [2]uint32
}

func ipv4(s *flowSpec, fromClient bool) *layers.IPv4 {
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: s.client[:], DstIP: s.server[:]}
	if !fromClient {
		ip.SrcIP, ip.DstIP = ip.DstIP, ip.SrcIP
	}
	return ip
}
