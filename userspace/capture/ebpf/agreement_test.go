package ebpf

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/decode"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// TestKernelAgreesWithDecoder injects packets of many kinds and checks
// that the kernel keys and measures each as userspace's decoder does: the
// first packet of each flow is a sample, which the decoder keys; the
// others are counted by the kernel, and their Counts must carry the
// decoder's key and its payload length per packet. Packets the kernel
// does not key (tunnels, IPv6 fragment headers) must all come up whole.
func TestKernelAgreesWithDecoder(t *testing.T) {
	const n = 4
	a4, b4 := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
	a6, b6 := netip.MustParseAddr("fd77::1"), netip.MustParseAddr("fd77::2")
	udp := func(sport, dport uint16, payload int, length int) []byte {
		b := make([]byte, 8+payload)
		binary.BigEndian.PutUint16(b, sport)
		binary.BigEndian.PutUint16(b[2:], dport)
		if length < 0 {
			length = len(b)
		}
		binary.BigEndian.PutUint16(b[4:], uint16(length))
		return b
	}
	tcp := func(sport, dport uint16, optWords, payload int, flags byte) []byte {
		b := make([]byte, 20+4*optWords+payload)
		binary.BigEndian.PutUint16(b, sport)
		binary.BigEndian.PutUint16(b[2:], dport)
		b[12] = byte(5+optWords) << 4
		b[13] = flags
		for i := 20; i < 20+4*optWords; i++ {
			b[i] = 1 // NOP
		}
		return b
	}
	icmpEcho := func(typ byte, payload int) []byte {
		b := make([]byte, 8+payload)
		b[0] = typ
		binary.BigEndian.PutUint16(b[4:], 0x1234)
		return b
	}
	cat := func(parts ...[]byte) (b []byte) {
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	sctp := cat(udp(5000, 5001, 4, -1), make([]byte, 16+20)) // 12-byte common header + a chunk
	dccp := make([]byte, 12+8)
	binary.BigEndian.PutUint16(dccp, 6000)
	binary.BigEndian.PutUint16(dccp[2:], 6001)
	dccp[4] = 3 // data offset: 12 bytes
	vxlan := cat(udp(40000, 4789, 8+len(mustFrame(t)), -1)[:8], []byte{0x08, 0, 0, 0, 0, 0, 42, 0}, mustFrame(t))
	hopDest := cat([]byte{60, 0, 1, 4, 0, 0, 0, 0}, []byte{17, 0, 1, 4, 0, 0, 0, 0}) // hop-by-hop, then destination options, then UDP
	atomicFrag := []byte{17, 0, 0, 0, 0, 0, 0, 7}                                    // fragment header, offset 0, M=0

	for _, tc := range []struct {
		name  string
		ip    []byte
		whole bool // the kernel sends every packet of it
	}{
		{"ipv4/tcp with options", ipv4(b4, a4, 6, nil, tcp(1000, 80, 3, 100, 0x18), 0), false},
		{"ipv4/udp", ipv4(b4, a4, 17, nil, udp(1001, 53, 20, -1), 0), false},
		{"ipv4 options/udp", ipv4(b4, a4, 17, []byte{1, 1, 1, 0}, udp(1002, 53, 20, -1), 0), false},
		{"ipv4/udp length beyond ip", ipv4(b4, a4, 17, nil, udp(1003, 53, 20, 500), 0), false},
		{"ipv4/udp length short of ip", ipv4(b4, a4, 17, nil, udp(1004, 53, 20, 12), 0), false},
		{"ipv4/udp padded frame", ipv4(b4, a4, 17, nil, udp(1005, 53, 1, -1), 0), false},
		{"ipv4/icmp echo", ipv4(b4, a4, 1, nil, icmpEcho(8, 16), 0), false},
		{"ipv4/sctp", ipv4(b4, a4, 132, nil, sctp, 0), false},
		{"ipv4/dccp", ipv4(b4, a4, 33, nil, dccp, 0), false},
		{"ipv4/udp-lite", ipv4(b4, a4, 136, nil, udp(1006, 1007, 30, 8), 0), false},
		{"ipv4/unknown protocol", ipv4(b4, a4, 253, nil, make([]byte, 30), 0), false},
		{"ipv4 total length 0 (GSO)", ipv4(b4, a4, 17, nil, udp(1008, 53, 40, -1), -1), false},
		{"ipv6/udp", ipv6(b6, a6, 17, udp(1009, 53, 33, -1)), false},
		{"ipv6/tcp", ipv6(b6, a6, 6, tcp(1010, 443, 0, 50, 0x10)), false},
		{"ipv6/icmpv6 echo", ipv6(b6, a6, 58, icmpEcho(128, 24)), false},
		{"ipv6 hop-by-hop+dest opts/udp", ipv6(b6, a6, 0, cat(hopDest, udp(1011, 53, 10, -1))), false},
		{"ipv4/vxlan", ipv4(b4, a4, 17, nil, vxlan, 0), true},
		{"ipv4/ipip", ipv4(b4, a4, 4, nil, ipv4(netip.MustParseAddr("192.168.0.1"), netip.MustParseAddr("192.168.0.2"), 17, nil, udp(1, 2, 3, -1), 0), 0), true},
		{"ipv6 atomic fragment/udp", ipv6(b6, a6, 44, cat(atomicFrag, udp(1012, 53, 10, -1))), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t)
			r := tb.start(Config{NumPkts: 1, DistBytes: -1})
			macA, macB := tb.mac(tb.hA, tb.ifA), tb.mac(tb.hB, tb.ifB)
			frame := ethernet(macB, macA, tc.ip)
			dc := &decoding{ifindex: uint32(tb.ifIndexA)}
			r.col.onPacket = dc.packet
			tb.inject(tb.hB, tb.ifB, n, frame)
			waitFor(t, "the packets to be seen", 5e9, func() bool { return r.eng.Stats().KernelPackets >= n })
			r.stop(t)

			var want decode.Packet
			if err := (&decode.Decoder{}).Decode(event.LinkEthernet, frame, &want); err != nil {
				t.Fatalf("the decoder refuses the test packet: %v", err)
			}
			want.Key.IfIndex = uint32(tb.ifIndexA)
			if tc.whole {
				var outer decode.Packet
				if err := (&decode.Decoder{NoDecap: true}).Decode(event.LinkEthernet, frame, &outer); err != nil {
					t.Fatal(err)
				}
				outer.Key.IfIndex = want.Key.IfIndex
				if dc.count(want.Key) != n || r.col.counts[outer.Key].Packets != 0 {
					t.Errorf("%d of %d packets came up whole, %d were counted", dc.count(want.Key), n, r.col.counts[outer.Key].Packets)
				}
				return
			}
			if dc.count(want.Key) != 1 {
				t.Errorf("%d samples decode to %+v, want 1 (keys seen: %v)", dc.count(want.Key), want.Key, dc.keys())
			}
			counted := r.col.counts[want.Key]
			if counted.Packets != n-1 || counted.Bytes != uint64(n-1)*uint64(want.PayloadLen) {
				t.Errorf("kernel counted %d packets, %d bytes under the decoder's key; want %d packets of %d payload bytes (all counts: %v)",
					counted.Packets, counted.Bytes, n-1, want.PayloadLen, r.col.counts)
			}
		})
	}
}

// decoding keys samples with userspace's decoder.
type decoding struct {
	ifindex uint32
	dec     decode.Decoder
	seen    map[flowkey.Key]int
}

func (d *decoding) packet(p *event.Packet) {
	var out decode.Packet
	if d.dec.Decode(p.LinkType, p.Data, &out) != nil {
		return
	}
	out.Key.IfIndex = p.IfIndex
	if d.seen == nil {
		d.seen = map[flowkey.Key]int{}
	}
	d.seen[out.Key]++
}

func (d *decoding) count(k flowkey.Key) int { return d.seen[k] }

func (d *decoding) keys() []flowkey.Key {
	var ks []flowkey.Key
	for k := range d.seen {
		ks = append(ks, k)
	}
	return ks
}

// ipv4 builds an IPv4 header with options around a payload. total 0
// means the right total length, -1 a total length of 0 (as GSO shows).
func ipv4(src, dst netip.Addr, proto byte, options, payload []byte, total int) []byte {
	hl := 20 + len(options)
	b := make([]byte, hl, hl+len(payload))
	b[0] = 0x40 | byte(hl/4)
	switch total {
	case 0:
		binary.BigEndian.PutUint16(b[2:], uint16(hl+len(payload)))
	case -1:
	default:
		binary.BigEndian.PutUint16(b[2:], uint16(total))
	}
	b[8], b[9] = 64, proto
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	copy(b[20:], options)
	var sum uint32
	for i := 0; i < hl; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[10:], ^uint16(sum))
	return append(b, payload...)
}

func ipv6(src, dst netip.Addr, next byte, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6], b[7] = next, 64
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, payload...)
}

func ethernet(src, dst net.HardwareAddr, ip []byte) []byte {
	b := make([]byte, 14, 14+len(ip))
	copy(b, dst)
	copy(b[6:], src)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	if ip[0]>>4 == 6 {
		binary.BigEndian.PutUint16(b[12:], 0x86DD)
	}
	b = append(b, ip...)
	for len(b) < 60 {
		b = append(b, 0) // Ethernet padding
	}
	return b
}

// mustFrame is an inner Ethernet frame for tunnel payloads.
func mustFrame(t *testing.T) []byte {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 9}
	return ethernet(mac, mac, ipv4(netip.MustParseAddr("172.16.0.1"), netip.MustParseAddr("172.16.0.2"), 253, nil, make([]byte, 4), 0))
}
