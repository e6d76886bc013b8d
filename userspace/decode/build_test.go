package decode

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// Helpers that build test packets with gopacket's layers.

// Addresses used throughout the tests.
const (
	cliV4, srvV4       = "192.0.2.1", "198.51.100.2"
	vtepA, vtepB       = "203.0.113.10", "203.0.113.20"
	cliV6, srvV6       = "2001:db8::1", "2001:db8:ffff::2"
	outerV6A, outerV6B = "2001:db8:aaaa::a", "2001:db8:bbbb::b"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

// serialize serializes ls with lengths fixed and checksums computed (each
// TCP/UDP/ICMPv6 layer's pseudo-header from the IP layer before it).
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	var ip gopacket.NetworkLayer
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.IPv4:
			ip = l
		case *layers.IPv6:
			ip = l
		case *layers.TCP:
			if err := l.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
		case *layers.UDP:
			if err := l.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
		case *layers.ICMPv6:
			if err := l.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: ip != nil}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// raw serializes ls with lengths fixed and no checksums, for headers
// that go inside a gopacket.Payload.
func raw(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{
		Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Protocol: proto,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4(),
	}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{
		Version: 6, HopLimit: 61, NextHeader: next,
		SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst),
	}
}

func tcpSYN() *layers.TCP {
	return &layers.TCP{
		SrcPort: 40000, DstPort: 443, Seq: 1000, Ack: 0, SYN: true, Window: 64240,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		},
	}
}

// synOptions is what tcpSYN's options serialize to (gopacket pads to a
// multiple of 4 with zeros).
var synOptions = []byte{2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, 7, 0, 0}

func tcpData() *layers.TCP {
	return &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1001, Ack: 5001, ACK: true, PSH: true, Window: 502}
}

func udpLayer(sport, dport layers.UDPPort) *layers.UDP {
	return &layers.UDP{SrcPort: sport, DstPort: dport}
}

// key builds an expected flow key.
func key(src, dst string, proto uint8, sport, dport uint16) flowkey.Key {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	k := flowkey.Key{Proto: proto, SrcPort: sport, DstPort: dport}
	if s.Is4() {
		k.IPVersion = 4
		a, b := s.As4(), d.As4()
		copy(k.Src[:], a[:])
		copy(k.Dst[:], b[:])
	} else {
		k.IPVersion = 6
		k.Src, k.Dst = s.As16(), d.As16()
	}
	return k
}

func withVLAN(k flowkey.Key, vlan uint16) flowkey.Key {
	k.VLAN = vlan
	return k
}

// ipv6Ext is a generic IPv6 extension header (hop-by-hop, destination
// options, routing) of 8*(1+hdrExtLen) bytes.
func ipv6Ext(next uint8, hdrExtLen uint8) []byte {
	b := make([]byte, 8*(1+int(hdrExtLen)))
	b[0], b[1] = next, hdrExtLen
	for i := 2; i < len(b); i++ {
		b[i] = 0 // Pad1 options, valid in options headers
	}
	return b
}

// ipv6Frag is an IPv6 fragment header.
func ipv6Frag(next uint8, offset uint16, more bool, id uint32) []byte {
	b := make([]byte, 8)
	b[0] = next
	fo := offset &^ 7
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(b[2:], fo)
	binary.BigEndian.PutUint32(b[4:], id)
	return b
}

// ah is an IPsec authentication header with a 12-byte ICV (24 bytes).
func ah(next uint8) []byte {
	b := make([]byte, 24)
	b[0], b[1] = next, 24/4-2
	binary.BigEndian.PutUint32(b[4:], 0x1000) // SPI
	binary.BigEndian.PutUint32(b[8:], 1)      // sequence
	return b
}

// be16 and be32 build big-endian bytes.
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// le16 and le32 build little-endian bytes (host-order fields of NFLOG and
// PKTAP captured on little-endian hosts).
func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
