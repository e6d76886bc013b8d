package decode

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

type decodeCase struct {
	name    string
	link    event.LinkType
	noDecap bool
	data    func(t testing.TB) []byte

	err     error  // kind expected from Decode; nil for success
	want    Packet // without slices, compared exactly
	payload []byte // expected Payload
	options []byte // expected TCPOptions
	ipLen   int    // expected len(IP)
}

func (c decodeCase) run(t *testing.T) {
	data := c.data(t)
	d := Decoder{NoDecap: c.noDecap}
	var got Packet
	err := d.Decode(c.link, data, &got)
	if c.err != nil {
		if !errors.Is(err, c.err) {
			t.Fatalf("error %v, want %v", err, c.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error %v", err)
	}
	if !bytes.Equal(got.Payload, c.payload) {
		t.Errorf("Payload %x, want %x", got.Payload, c.payload)
	}
	if !bytes.Equal(got.TCPOptions, c.options) {
		t.Errorf("TCPOptions %x, want %x", got.TCPOptions, c.options)
	}
	if len(got.IP) != c.ipLen {
		t.Errorf("len(IP) %d, want %d", len(got.IP), c.ipLen)
	}
	got.Payload, got.TCPOptions, got.IP = nil, nil, nil
	if !reflect.DeepEqual(got, c.want) {
		t.Errorf("packet mismatch\n got %s\nwant %s", describe(&got), describe(&c.want))
	}
}

func describe(p *Packet) string {
	k := func(k flowkey.Key) string {
		return fmt.Sprintf("%d %s:%d > %s:%d v%d vlan %d", k.Proto, k.SrcAddr(), k.SrcPort, k.DstAddr(), k.DstPort, k.IPVersion, k.VLAN)
	}
	return fmt.Sprintf("key[%s] tunnel %s id %d outer[%s] ttl %d ipid %#x iplen %d optlen %d frag %v/%d/%v tcp %#x seq %d ack %d win %d icmp %d/%d/%#x ok %v plen %d",
		k(p.Key), p.Tunnel, p.TunnelID, k(p.TunnelKey), p.TTL, p.IPID, p.IPLen, p.IPOptionsLen,
		p.Fragment, p.FragOffset, p.MoreFragments, p.TCPFlags, p.Seq, p.Ack, p.Window,
		p.ICMPType, p.ICMPCode, p.ICMPID, p.TransportOK, p.PayloadLen)
}

func bytesOf(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

// Expected packets shared by several cases.
var (
	synKey = key(cliV4, srvV4, flowkey.ProtoTCP, 40000, 443)
	// tcpSYN over IPv4: 20 + 32 bytes.
	synPacket = Packet{Key: synKey, TTL: 64, IPID: 0x1234, IPLen: 52, TCPFlags: TCPSyn, Seq: 1000, Window: 64240, TransportOK: true}
	// tcpData + "abc" over IPv4: 20 + 20 + 3 bytes.
	dataPacket = Packet{Key: synKey, TTL: 64, IPID: 0x1234, IPLen: 43, TCPFlags: TCPAck | TCPPsh, Seq: 1001, Ack: 5001, Window: 502, TransportOK: true, PayloadLen: 3}
)

func innerTCP(t testing.TB) []byte {
	return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpData(), gopacket.Payload("abc"))
}

func innerTCPFrame(t testing.TB) []byte {
	return serialize(t, eth(layers.EthernetTypeIPv4), ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpData(), gopacket.Payload("abc"))
}

func outerV4(proto layers.IPProtocol) *layers.IPv4 {
	ip := ip4(vtepA, vtepB, proto)
	ip.TTL, ip.Id = 250, 9
	return ip
}

func withTunnel(p Packet, t Tunnel, id uint32, outer flowkey.Key) Packet {
	p.Tunnel, p.TunnelID, p.TunnelKey = t, id, outer
	return p
}

func TestDecodeLinkLayers(t *testing.T) {
	ipv4Bytes := func(t testing.TB) []byte {
		return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpSYN())
	}
	udp6 := func(t testing.TB) []byte {
		return serialize(t, ip6(cliV6, srvV6, layers.IPProtocolUDP), udpLayer(5353, 53), gopacket.Payload("query"))
	}
	udp6Packet := Packet{Key: key(cliV6, srvV6, flowkey.ProtoUDP, 5353, 53), TTL: 61, IPLen: 53, TransportOK: true, PayloadLen: 5}
	sllHeader := func(proto uint16, hatype uint16) []byte {
		return cat(be16(0), be16(hatype), be16(6), bytesOf(8, 0xaa), be16(proto))
	}
	sll2Header := func(proto uint16, hatype uint16) []byte {
		return cat(be16(proto), be16(0), be32(3), be16(hatype), []byte{0, 6}, bytesOf(8, 0xaa))
	}
	tests := []decodeCase{
		{
			name: "ethernet ipv4 tcp syn with options", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeIPv4), ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpSYN())
			},
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "ethernet trailer beyond the IP length is not payload", link: event.LinkEthernet,
			data: func(t testing.TB) []byte { return cat(innerTCPFrame(t), []byte{0xde, 0xad, 0xbe, 0xef}) },
			want: dataPacket, payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "802.1Q ipv6 udp", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv6},
					ip6(cliV6, srvV6, layers.IPProtocolUDP), udpLayer(5353, 53), gopacket.Payload("query"))
			},
			want: Packet{Key: withVLAN(udp6Packet.Key, 100), TTL: 61, IPLen: 53, TransportOK: true, PayloadLen: 5}, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "802.1ad QinQ keeps the outer VLAN", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 200, Priority: 5, Type: layers.EthernetTypeDot1Q},
					&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpSYN())
			},
			want: func() Packet { p := synPacket; p.Key.VLAN = 200; return p }(), options: synOptions, ipLen: 52,
		},
		{
			name: "802.3 SNAP carrying IPv4", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				ip := ipv4Bytes(t)
				return cat(macB, macA, be16(uint16(8+len(ip))), []byte{0xaa, 0xaa, 0x03, 0, 0, 0}, be16(0x0800), ip)
			},
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "MPLS two labels then IPv4", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeMPLSUnicast), &layers.MPLS{Label: 100, TTL: 64}, &layers.MPLS{Label: 200, StackBottom: true, TTL: 64},
					ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpSYN())
			},
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "MPLS multicast then IPv6", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				// Built by hand: gopacket would pad the short Ethernet frame before the IPv6 bytes are appended.
				return cat(macB, macA, be16(0x8848), serialize(t, &layers.MPLS{Label: 16, StackBottom: true, TTL: 64}), udp6(t))
			},
			want: udp6Packet, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "PPPoE session in Ethernet", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypePPPoESession), &layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 0x11},
					&layers.PPP{PPPType: layers.PPPTypeIPv4}, ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpSYN())
			},
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "PPPoE link type", link: event.LinkPPPoE,
			data: func(t testing.TB) []byte {
				return cat(serialize(t, &layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 0x11}, &layers.PPP{PPPType: layers.PPPTypeIPv6}), udp6(t))
			},
			want: udp6Packet, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "PPP with HDLC address and control", link: event.LinkPPP,
			data: func(t testing.TB) []byte { return cat([]byte{0xff, 0x03}, be16(0x0021), ipv4Bytes(t)) },
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "PPP without address and control", link: event.LinkPPP,
			data: func(t testing.TB) []byte { return cat(be16(0x0057), udp6(t)) },
			want: udp6Packet, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "PPP compressed protocol field", link: event.LinkPPP,
			data: func(t testing.TB) []byte { return cat([]byte{0x21}, ipv4Bytes(t)) },
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "PPP MPLS", link: linkPPPHDLC,
			data: func(t testing.TB) []byte {
				return cat([]byte{0xff, 0x03}, be16(0x0281), serialize(t, &layers.MPLS{Label: 7, StackBottom: true, TTL: 1}), ipv4Bytes(t))
			},
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "Linux SLL", link: event.LinkLinuxSLL,
			data: func(t testing.TB) []byte { return cat(sllHeader(0x0800, 1), ipv4Bytes(t)) },
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "Linux SLL with a VLAN tag", link: event.LinkLinuxSLL,
			data: func(t testing.TB) []byte {
				return cat(sllHeader(0x8100, 1), be16(0x2000|42), be16(0x0800), ipv4Bytes(t))
			},
			want: func() Packet { p := synPacket; p.Key.VLAN = 42; return p }(), options: synOptions, ipLen: 52,
		},
		{
			name: "Linux SLL2", link: event.LinkSLL2,
			data: func(t testing.TB) []byte { return cat(sll2Header(0x86dd, 1), udp6(t)) },
			want: udp6Packet, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "BSD NULL little-endian AF_INET", link: event.LinkNull,
			data: func(t testing.TB) []byte { return cat([]byte{2, 0, 0, 0}, ipv4Bytes(t)) },
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "BSD NULL little-endian Darwin AF_INET6", link: event.LinkNull,
			data: func(t testing.TB) []byte { return cat([]byte{30, 0, 0, 0}, udp6(t)) },
			want: udp6Packet, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "BSD NULL big-endian OpenBSD AF_INET6", link: event.LinkNull,
			data: func(t testing.TB) []byte { return cat(be32(24), udp6(t)) },
			want: udp6Packet, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "OpenBSD LOOP", link: event.LinkLoop,
			data: func(t testing.TB) []byte { return cat(be32(2), ipv4Bytes(t)) },
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "raw IPv4", link: event.LinkRaw, data: ipv4Bytes,
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "raw IPv6", link: event.LinkRaw, data: udp6,
			want: udp6Packet, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "raw IP as BSD DLT 12", link: 12, data: ipv4Bytes,
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "raw IP as BSD DLT 14", link: 14, data: udp6,
			want: udp6Packet, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "LINKTYPE_IPV4", link: event.LinkIPv4, data: ipv4Bytes,
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "LINKTYPE_IPV6", link: event.LinkIPv6, data: udp6,
			want: udp6Packet, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "LINKTYPE_IPV4 carrying IPv6 is read by its version", link: event.LinkIPv4, data: udp6,
			want: udp6Packet, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "NSH over Ethernet", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				// Length 3 words: the 8-byte base and path header, one context word.
				return cat(macB, macA, be16(0x894f), []byte{0x0f, 3, 0x02, 1}, be32(0x000101ff), be32(0xabcd), ipv4Bytes(t))
			},
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "PKTAP carrying Ethernet", link: linkPKTAP,
			data: func(t testing.TB) []byte {
				return cat(le32(108), le32(1), bytesOf(100, 0), serialize(t, eth(layers.EthernetTypeIPv4), ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpSYN()))
			},
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "NFLOG little-endian attributes", link: linkNFLOG,
			data: func(t testing.TB) []byte {
				// A packet-header attribute (6 bytes, padded to 8), then the payload.
				ip := ipv4Bytes(t)
				return cat([]byte{2, 0, 0, 1}, le16(6), le16(1), []byte{8, 0, 0, 0}, le16(uint16(4+len(ip))), le16(9), ip)
			},
			want: synPacket, options: synOptions, ipLen: 52,
		},
		{
			name: "NFLOG big-endian attributes, IPv6", link: linkNFLOG,
			data: func(t testing.TB) []byte {
				ip := udp6(t)
				return cat([]byte{10, 0, 0, 1}, be16(8), be16(1), be32(0), be16(uint16(4+len(ip))), be16(9), ip)
			},
			want: udp6Packet, payload: []byte("query"), ipLen: 53,
		},
		{
			name: "Cisco HDLC", link: linkCHDLC,
			data: func(t testing.TB) []byte { return cat([]byte{0x0f, 0x00}, be16(0x0800), ipv4Bytes(t)) },
			want: synPacket, options: synOptions, ipLen: 52,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestDecodeIP(t *testing.T) {
	udpHeader := func(sport, dport, length uint16) []byte { return cat(be16(sport), be16(dport), be16(length), be16(0)) }
	fragUDPKey := key(cliV4, srvV4, flowkey.ProtoUDP, 5000, 6000)
	fragKey := key(cliV4, srvV4, flowkey.ProtoUDP, 0, 0)
	frag6UDPKey := key(cliV6, srvV6, flowkey.ProtoUDP, 5000, 6000)
	frag6Key := key(cliV6, srvV6, flowkey.ProtoUDP, 0, 0)
	tcpBytes := func(t testing.TB) []byte { return raw(t, tcpData(), gopacket.Payload("abc")) }
	tcp6Key := key(cliV6, srvV6, flowkey.ProtoTCP, 40000, 443)

	tests := []decodeCase{
		{
			name: "IPv4 options", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				ip := ip4(cliV4, srvV4, layers.IPProtocolTCP)
				ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}} // router alert
				return serialize(t, ip, tcpData(), gopacket.Payload("abc"))
			},
			want: func() Packet { p := dataPacket; p.IPLen, p.IPOptionsLen = 47, 4; return p }(), payload: []byte("abc"), ipLen: 47,
		},
		{
			name: "IPv4 first fragment counts the whole UDP datagram", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				ip := ip4(cliV4, srvV4, layers.IPProtocolUDP)
				ip.Flags = layers.IPv4MoreFragments
				return serialize(t, ip, gopacket.Payload(cat(udpHeader(5000, 6000, 8+3000), bytesOf(1472, 'x'))))
			},
			want:    Packet{Key: fragUDPKey, TTL: 64, IPID: 0x1234, IPLen: 1500, Fragment: true, MoreFragments: true, TransportOK: true, PayloadLen: 3000},
			payload: bytesOf(1472, 'x'), ipLen: 1500,
		},
		{
			name: "IPv4 middle fragment has no transport", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				ip := ip4(cliV4, srvV4, layers.IPProtocolUDP)
				ip.Flags, ip.FragOffset = layers.IPv4MoreFragments, 1480/8
				return serialize(t, ip, gopacket.Payload(bytesOf(1480, 'y')))
			},
			want:  Packet{Key: fragKey, TTL: 64, IPID: 0x1234, IPLen: 1500, Fragment: true, FragOffset: 1480, MoreFragments: true},
			ipLen: 1500,
		},
		{
			name: "IPv4 last fragment", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				ip := ip4(cliV4, srvV4, layers.IPProtocolUDP)
				ip.Flags, ip.FragOffset = layers.IPv4DontFragment, 2960/8 // DF is not MF
				return serialize(t, ip, gopacket.Payload(bytesOf(48, 'z')))
			},
			want:  Packet{Key: fragKey, TTL: 64, IPID: 0x1234, IPLen: 68, Fragment: true, FragOffset: 2960},
			ipLen: 68,
		},
		{
			name: "IPv4 AH is walked to the transport", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolAH), gopacket.Payload(cat(ah(6), tcpBytes(t))))
			},
			want: func() Packet { p := dataPacket; p.IPLen, p.IPOptionsLen = 67, 24; return p }(), payload: []byte("abc"), ipLen: 67,
		},
		{
			name: "IPv4 total length 0 (TSO) uses the captured length", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				b := serialize(t, ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpData(), gopacket.Payload(bytesOf(3000, 'd')))
				b[2], b[3] = 0, 0
				return b
			},
			want: func() Packet { p := dataPacket; p.IPLen, p.PayloadLen = 3040, 3000; return p }(), payload: bytesOf(3000, 'd'), ipLen: 3040,
		},
		{
			name: "IPv4 options cut short: key without transport", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				ip := ip4(cliV4, srvV4, layers.IPProtocolTCP)
				ip.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 39, OptionData: bytesOf(37, 0)}} // record route, 40 bytes padded
				return serialize(t, ip, tcpData())[:30]
			},
			want:  Packet{Key: key(cliV4, srvV4, flowkey.ProtoTCP, 0, 0), TTL: 64, IPID: 0x1234, IPLen: 80, IPOptionsLen: 40},
			ipLen: 30,
		},
		{
			name: "IPv6 hop-by-hop, destination options and routing headers", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip6(cliV6, srvV6, 0), gopacket.Payload(cat(ipv6Ext(60, 0), ipv6Ext(43, 1), ipv6Ext(6, 2), tcpBytes(t))))
			},
			want: Packet{Key: tcp6Key, TTL: 61, IPLen: 40 + 48 + 23, IPOptionsLen: 48, TCPFlags: TCPAck | TCPPsh,
				Seq: 1001, Ack: 5001, Window: 502, TransportOK: true, PayloadLen: 3},
			payload: []byte("abc"), ipLen: 111,
		},
		{
			name: "IPv6 AH", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip6(cliV6, srvV6, layers.IPProtocolAH), gopacket.Payload(cat(ah(17), udpHeader(500, 4500, 11), []byte("ike"))))
			},
			want:    Packet{Key: key(cliV6, srvV6, flowkey.ProtoUDP, 500, 4500), TTL: 61, IPLen: 40 + 24 + 11, IPOptionsLen: 24, TransportOK: true, PayloadLen: 3},
			payload: []byte("ike"), ipLen: 75,
		},
		{
			name: "IPv6 first fragment", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip6(cliV6, srvV6, layers.IPProtocolIPv6Fragment),
					gopacket.Payload(cat(ipv6Frag(17, 0, true, 0xabcdef01), udpHeader(5000, 6000, 8+2000), bytesOf(1000, 'f'))))
			},
			want: Packet{Key: frag6UDPKey, TTL: 61, IPID: 0xabcdef01, IPLen: 1056, IPOptionsLen: 8, Fragment: true, MoreFragments: true,
				TransportOK: true, PayloadLen: 2000},
			payload: bytesOf(1000, 'f'), ipLen: 1056,
		},
		{
			name: "IPv6 last fragment", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip6(cliV6, srvV6, layers.IPProtocolIPv6Fragment), gopacket.Payload(cat(ipv6Frag(17, 1008, false, 0xabcdef01), bytesOf(1000, 'g'))))
			},
			want:  Packet{Key: frag6Key, TTL: 61, IPID: 0xabcdef01, IPLen: 1048, IPOptionsLen: 8, Fragment: true, FragOffset: 1008},
			ipLen: 1048,
		},
		{
			name: "IPv6 atomic fragment is not a fragment", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip6(cliV6, srvV6, layers.IPProtocolIPv6Fragment), gopacket.Payload(cat(ipv6Frag(6, 0, false, 77), tcpBytes(t))))
			},
			want: Packet{Key: tcp6Key, TTL: 61, IPID: 77, IPLen: 40 + 8 + 23, IPOptionsLen: 8, TCPFlags: TCPAck | TCPPsh,
				Seq: 1001, Ack: 5001, Window: 502, TransportOK: true, PayloadLen: 3},
			payload: []byte("abc"), ipLen: 71,
		},
		{
			name: "IPv6 jumbogram", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				b := serialize(t, ip6(cliV6, srvV6, 0), gopacket.Payload(cat([]byte{17, 0, 0xc2, 4}, be32(70000), udpHeader(1, 2, 0), bytesOf(10, 'j'))))
				b[4], b[5] = 0, 0
				return b
			},
			want:    Packet{Key: key(cliV6, srvV6, flowkey.ProtoUDP, 1, 2), TTL: 61, IPLen: 70040, IPOptionsLen: 8, TransportOK: true, PayloadLen: 70040 - 48 - 8},
			payload: bytesOf(10, 'j'), ipLen: 66,
		},
		{
			name: "IPv6 payload length 0 (TSO/BIG TCP) uses the captured length", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				b := serialize(t, ip6(cliV6, srvV6, layers.IPProtocolTCP), tcpData(), gopacket.Payload(bytesOf(100, 'b')))
				b[4], b[5] = 0, 0
				return b
			},
			want: Packet{Key: tcp6Key, TTL: 61, IPLen: 160, TCPFlags: TCPAck | TCPPsh, Seq: 1001, Ack: 5001, Window: 502,
				TransportOK: true, PayloadLen: 100},
			payload: bytesOf(100, 'b'), ipLen: 160,
		},
		{
			name: "IPv6 hop-by-hop body cut short: key without transport", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip6(cliV6, srvV6, 0), gopacket.Payload(cat(ipv6Ext(6, 1), tcpBytes(t))))[:44]
			},
			want:  Packet{Key: key(cliV6, srvV6, flowkey.ProtoTCP, 0, 0), TTL: 61, IPLen: 40 + 16 + 23, IPOptionsLen: 16},
			ipLen: 44,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestDecodeTransport(t *testing.T) {
	udpKey := key(cliV4, srvV4, flowkey.ProtoUDP, 5000, 6000)
	udpWith := func(length uint16, payload string) func(t testing.TB) []byte {
		return func(t testing.TB) []byte {
			return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolUDP), gopacket.Payload(cat(be16(5000), be16(6000), be16(length), be16(0), []byte(payload))))
		}
	}
	tests := []decodeCase{
		{
			name: "TCP header cut after the ports", link: event.LinkRaw,
			data: func(t testing.TB) []byte { return innerTCP(t)[:30] },
			want: Packet{Key: synKey, TTL: 64, IPID: 0x1234, IPLen: 43}, ipLen: 30,
		},
		{
			name: "TCP header cut before the ports", link: event.LinkRaw,
			data: func(t testing.TB) []byte { return innerTCP(t)[:22] },
			want: Packet{Key: key(cliV4, srvV4, flowkey.ProtoTCP, 0, 0), TTL: 64, IPID: 0x1234, IPLen: 43}, ipLen: 22,
		},
		{
			name: "TCP options cut short: flags known", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeIPv4), ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpSYN())[:14+20+24]
			},
			want: synPacket, options: synOptions[:4], ipLen: 44,
		},
		{
			name: "TCP data offset below 5", link: event.LinkRaw,
			data: func(t testing.TB) []byte { b := innerTCP(t); b[20+12] = 4 << 4; return b },
			want: Packet{Key: synKey, TTL: 64, IPID: 0x1234, IPLen: 43}, ipLen: 43,
		},
		{
			name: "TCP data offset past the IP length", link: event.LinkRaw,
			data: func(t testing.TB) []byte { b := innerTCP(t); b[20+12] = 6 << 4; return b }, // 24 > 23
			want: Packet{Key: synKey, TTL: 64, IPID: 0x1234, IPLen: 43}, ipLen: 43,
		},
		{
			name: "UDP length consistent", link: event.LinkRaw, data: udpWith(13, "hello"),
			want: Packet{Key: udpKey, TTL: 64, IPID: 0x1234, IPLen: 33, TransportOK: true, PayloadLen: 5}, payload: []byte("hello"), ipLen: 33,
		},
		{
			name: "UDP length below the IP payload cuts the payload", link: event.LinkRaw, data: udpWith(10, "hello"),
			want: Packet{Key: udpKey, TTL: 64, IPID: 0x1234, IPLen: 33, TransportOK: true, PayloadLen: 2}, payload: []byte("he"), ipLen: 33,
		},
		{
			name: "UDP length above the IP payload: IP length wins", link: event.LinkRaw, data: udpWith(500, "hello"),
			want: Packet{Key: udpKey, TTL: 64, IPID: 0x1234, IPLen: 33, TransportOK: true, PayloadLen: 5}, payload: []byte("hello"), ipLen: 33,
		},
		{
			name: "UDP length 0: IP length", link: event.LinkRaw, data: udpWith(0, "hello"),
			want: Packet{Key: udpKey, TTL: 64, IPID: 0x1234, IPLen: 33, TransportOK: true, PayloadLen: 5}, payload: []byte("hello"), ipLen: 33,
		},
		{
			name: "UDP length below 8: IP length", link: event.LinkRaw, data: udpWith(7, "hello"),
			want: Packet{Key: udpKey, TTL: 64, IPID: 0x1234, IPLen: 33, TransportOK: true, PayloadLen: 5}, payload: []byte("hello"), ipLen: 33,
		},
		{
			name: "UDP payload cut by the capture keeps the wire length", link: event.LinkRaw,
			data: func(t testing.TB) []byte { return udpWith(13, "hello")(t)[:30] },
			want: Packet{Key: udpKey, TTL: 64, IPID: 0x1234, IPLen: 33, TransportOK: true, PayloadLen: 5}, payload: []byte("he"), ipLen: 30,
		},
		{
			name: "ICMP echo request", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolICMPv4),
					&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 0x4242, Seq: 7}, gopacket.Payload("ping-data"))
			},
			want: Packet{Key: key(cliV4, srvV4, flowkey.ProtoICMP, 0, 0), TTL: 64, IPID: 0x1234, IPLen: 37,
				ICMPType: 8, ICMPID: 0x4242, TransportOK: true, PayloadLen: 9},
			payload: []byte("ping-data"), ipLen: 37,
		},
		{
			name: "ICMP port unreachable has no echo id", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip4(srvV4, cliV4, layers.IPProtocolICMPv4),
					&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3), Id: 0x1111}, gopacket.Payload(bytesOf(28, 0x45)))
			},
			want: Packet{Key: key(srvV4, cliV4, flowkey.ProtoICMP, 0, 0), TTL: 64, IPID: 0x1234, IPLen: 56,
				ICMPType: 3, ICMPCode: 3, TransportOK: true, PayloadLen: 28},
			payload: bytesOf(28, 0x45), ipLen: 56,
		},
		{
			name: "ICMP cut short", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})[:24]
			},
			want: Packet{Key: key(cliV4, srvV4, flowkey.ProtoICMP, 0, 0), TTL: 64, IPID: 0x1234, IPLen: 28}, ipLen: 24,
		},
		{
			name: "ICMPv6 echo request", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip6(cliV6, srvV6, layers.IPProtocolICMPv6), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)},
					&layers.ICMPv6Echo{Identifier: 0x77, SeqNumber: 1}, gopacket.Payload("x"))
			},
			want: Packet{Key: key(cliV6, srvV6, flowkey.ProtoICMPv6, 0, 0), TTL: 61, IPLen: 49,
				ICMPType: 128, ICMPID: 0x77, TransportOK: true, PayloadLen: 1},
			payload: []byte("x"), ipLen: 49,
		},
		{
			name: "SCTP", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolSCTP), &layers.SCTP{SrcPort: 2905, DstPort: 2906, VerificationTag: 1}, gopacket.Payload(bytesOf(16, 1)))
			},
			want:    Packet{Key: key(cliV4, srvV4, flowkey.ProtoSCTP, 2905, 2906), TTL: 64, IPID: 0x1234, IPLen: 48, TransportOK: true, PayloadLen: 16},
			payload: bytesOf(16, 1), ipLen: 48,
		},
		{
			name: "UDP-Lite: the length field is coverage", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolUDPLite), gopacket.Payload(cat(be16(1000), be16(2000), be16(8), be16(0), []byte("lite"))))
			},
			want:    Packet{Key: key(cliV4, srvV4, flowkey.ProtoUDPLite, 1000, 2000), TTL: 64, IPID: 0x1234, IPLen: 32, TransportOK: true, PayloadLen: 4},
			payload: []byte("lite"), ipLen: 32,
		},
		{
			name: "DCCP with extended sequence numbers", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				h := make([]byte, 16)
				copy(h, cat(be16(1111), be16(2222)))
				h[4] = 4          // data offset: 16 bytes
				h[8] = 1<<1 | 0x1 // type Request, X
				return serialize(t, ip4(cliV4, srvV4, 33), gopacket.Payload(cat(h, []byte("dccpdata"))))
			},
			want:    Packet{Key: key(cliV4, srvV4, flowkey.ProtoDCCP, 1111, 2222), TTL: 64, IPID: 0x1234, IPLen: 44, TransportOK: true, PayloadLen: 8},
			payload: []byte("dccpdata"), ipLen: 44,
		},
		{
			name: "ESP: the IP payload is the payload", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolESP), gopacket.Payload(cat(be32(0x1000), be32(1), bytesOf(20, 0xee))))
			},
			want:    Packet{Key: key(cliV4, srvV4, 50, 0, 0), TTL: 64, IPID: 0x1234, IPLen: 48, PayloadLen: 28},
			payload: cat(be32(0x1000), be32(1), bytesOf(20, 0xee)), ipLen: 48,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestDecodeTunnels(t *testing.T) {
	greKey := key(vtepA, vtepB, 47, 0, 0)
	vxlanKey := key(vtepA, vtepB, flowkey.ProtoUDP, 54321, 4789)
	vxlanFrame := func(inner []byte) func(t testing.TB) []byte {
		return func(t testing.TB) []byte {
			return cat(serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolUDP), udpLayer(54321, 4789),
				&layers.VXLAN{ValidIDFlag: true, VNI: 5001}, gopacket.Payload(inner)))
		}
	}
	udp6Inner := func(t testing.TB) []byte {
		return serialize(t, eth(layers.EthernetTypeIPv6), ip6(cliV6, srvV6, layers.IPProtocolUDP), udpLayer(5353, 53), gopacket.Payload("query"))
	}
	udp6Packet := Packet{Key: key(cliV6, srvV6, flowkey.ProtoUDP, 5353, 53), TTL: 61, IPLen: 53, TransportOK: true, PayloadLen: 5}
	// gopacket pads Ethernet frames to 60 bytes: the inner frame's length
	// is what it built.
	frameLen := uint32(len(innerTCPFrame(t)))
	vxUDPLen := 8 + 8 + frameLen // UDP header, VXLAN header, frame
	erspan3 := func(session uint16, subheader bool) []byte {
		h := make([]byte, 12)
		copy(h, cat(be16(2<<12|10), be16(session&0x3ff))) // version 2 (type III), VLAN 10
		if subheader {
			h[11] |= 1
			h = append(h, bytesOf(8, 0x55)...)
		}
		return h
	}

	tests := []decodeCase{
		{
			name: "GRE with key carrying IPv4", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolGRE),
					&layers.GRE{KeyPresent: true, Key: 77, Protocol: layers.EthernetTypeIPv4}, gopacket.Payload(innerTCP(t)))
			},
			want: withTunnel(dataPacket, TunnelGRE, 77, greKey), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "GRE with key, decapsulation off", link: event.LinkEthernet, noDecap: true,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolGRE),
					&layers.GRE{KeyPresent: true, Key: 77, Protocol: layers.EthernetTypeIPv4}, gopacket.Payload(innerTCP(t)))
			},
			want:    Packet{Key: greKey, TTL: 250, IPID: 9, IPLen: 20 + 8 + 43, PayloadLen: 51},
			payload: cat([]byte{0x20, 0, 0x08, 0}, be32(77), innerTCP(t)), ipLen: 71,
		},
		{
			name: "GRE with checksum and sequence carrying Ethernet", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolGRE),
					&layers.GRE{ChecksumPresent: true, SeqPresent: true, Seq: 3, Protocol: layers.EthernetTypeTransparentEthernetBridging}, gopacket.Payload(udp6Inner(t)))
			},
			want: withTunnel(udp6Packet, TunnelGRE, 0, greKey), payload: []byte("query"), ipLen: 53,
		},
		{
			name: "GRE version 1 (PPTP) is not entered", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, outerV4(layers.IPProtocolGRE), gopacket.Payload(cat([]byte{0x30, 0x01, 0x88, 0x0b}, be16(4), be16(1), be32(1), []byte{0xff, 0x03, 0, 0x21})))
			},
			want:    Packet{Key: greKey, TTL: 250, IPID: 9, IPLen: 20 + 16, PayloadLen: 16},
			payload: cat([]byte{0x30, 0x01, 0x88, 0x0b}, be16(4), be16(1), be32(1), []byte{0xff, 0x03, 0, 0x21}), ipLen: 36,
		},
		{
			name: "PPTP enhanced GRE carrying IPv4", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				in := innerTCP(t)
				// K, S and A set, version 1; payload length, call id 6, sequence, ack; PPP with address and control.
				return serialize(t, outerV4(layers.IPProtocolGRE), gopacket.Payload(cat([]byte{0x30, 0x81, 0x88, 0x0b}, be16(uint16(4+len(in))), be16(6), be32(1), be32(0),
					[]byte{0xff, 0x03, 0, 0x21}, in)))
			},
			want: withTunnel(dataPacket, TunnelGRE, 6, greKey), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "PPTP enhanced GRE carrying compressed PPP stays GRE", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, outerV4(layers.IPProtocolGRE), gopacket.Payload(cat([]byte{0x30, 0x01, 0x88, 0x0b}, be16(8), be16(6), be32(1), []byte{0xfd}, bytesOf(7, 0x99))))
			},
			want:    Packet{Key: greKey, TTL: 250, IPID: 9, IPLen: 20 + 12 + 8, PayloadLen: 20},
			payload: cat([]byte{0x30, 0x01, 0x88, 0x0b}, be16(8), be16(6), be32(1), []byte{0xfd}, bytesOf(7, 0x99)), ipLen: 40,
		},
		{
			name: "WCCPv2 redirect in GRE", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, outerV4(layers.IPProtocolGRE), gopacket.Payload(cat([]byte{0, 0, 0x88, 0x3e}, []byte{0x05, 0x59, 0, 0x48}, innerTCP(t))))
			},
			want: withTunnel(dataPacket, TunnelGRE, 0, greKey), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "WCCPv1 redirect in GRE", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, outerV4(layers.IPProtocolGRE), gopacket.Payload(cat([]byte{0, 0, 0x88, 0x3e}, innerTCP(t))))
			},
			want: withTunnel(dataPacket, TunnelGRE, 0, greKey), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "VXLAN-GPE carrying IPv4", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, outerV4(layers.IPProtocolUDP), udpLayer(1000, 4790), gopacket.Payload(cat([]byte{0x0c, 0, 0, 1}, be32(77<<8), innerTCP(t))))
			},
			want: withTunnel(dataPacket, TunnelVXLAN, 77, key(vtepA, vtepB, flowkey.ProtoUDP, 1000, 4790)), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "VXLAN-GPE without P flag carries Ethernet", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, outerV4(layers.IPProtocolUDP), udpLayer(1000, 4790), gopacket.Payload(cat([]byte{0x08, 0, 0, 0}, be32(78<<8), innerTCPFrame(t))))
			},
			want: withTunnel(dataPacket, TunnelVXLAN, 78, key(vtepA, vtepB, flowkey.ProtoUDP, 1000, 4790)), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "VXLAN-GPE carrying NSH", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, outerV4(layers.IPProtocolUDP), udpLayer(1000, 4790),
					gopacket.Payload(cat([]byte{0x0c, 0, 0, 4}, be32(79<<8), []byte{0x0f, 2, 0x02, 3}, be32(0x000101ff), innerTCPFrame(t))))
			},
			want: withTunnel(dataPacket, TunnelVXLAN, 79, key(vtepA, vtepB, flowkey.ProtoUDP, 1000, 4790)), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "ERSPAN type II", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolGRE),
					&layers.GRE{SeqPresent: true, Seq: 5, Protocol: layers.EthernetTypeERSPAN},
					&layers.ERSPANII{Version: 1, VLANIdentifier: 10, SessionID: 300, Index: 9}, gopacket.Payload(innerTCPFrame(t)))
			},
			want: withTunnel(dataPacket, TunnelERSPAN, 300, greKey), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "ERSPAN type I (no sequence, no header)", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolGRE),
					&layers.GRE{Protocol: layers.EthernetTypeERSPAN}, gopacket.Payload(innerTCPFrame(t)))
			},
			want: withTunnel(dataPacket, TunnelERSPAN, 0, greKey), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "ERSPAN type III with platform subheader", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolGRE),
					&layers.GRE{SeqPresent: true, Seq: 5, Protocol: 0x22eb}, gopacket.Payload(cat(erspan3(301, true), innerTCPFrame(t))))
			},
			want: withTunnel(dataPacket, TunnelERSPAN, 301, greKey), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "VXLAN", link: event.LinkEthernet, data: vxlanFrame(nil),
			want: Packet{}, // replaced below
		},
		{
			name: "Geneve carrying Ethernet", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolUDP), udpLayer(40000, 6081),
					&layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: 7000}, gopacket.Payload(udp6Inner(t)))
			},
			want: withTunnel(udp6Packet, TunnelGeneve, 7000, key(vtepA, vtepB, flowkey.ProtoUDP, 40000, 6081)), payload: []byte("query"), ipLen: 53,
		},
		{
			name: "Geneve with options carrying IPv4", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				gen := cat([]byte{2, 0}, be16(0x0800), be32(7001<<8), be16(0x0102), []byte{0x80, 1}, be32(0xcafe)) // one 8-byte option
				return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolUDP), udpLayer(40000, 6081), gopacket.Payload(cat(gen, innerTCP(t))))
			},
			want: withTunnel(dataPacket, TunnelGeneve, 7001, key(vtepA, vtepB, flowkey.ProtoUDP, 40000, 6081)), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "IPv4 in IPv4", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, outerV4(layers.IPProtocolIPv4), gopacket.Payload(innerTCP(t)))
			},
			want: withTunnel(dataPacket, TunnelIPIP, 0, key(vtepA, vtepB, 4, 0, 0)), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "IPv6 in IPv4 (6in4)", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, outerV4(layers.IPProtocolIPv6), ip6(cliV6, srvV6, layers.IPProtocolUDP), udpLayer(5353, 53), gopacket.Payload("query"))
			},
			want: withTunnel(udp6Packet, TunnelIPIP, 0, key(vtepA, vtepB, 41, 0, 0)), payload: []byte("query"), ipLen: 53,
		},
		{
			name: "IPv4 in IPv6", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, ip6(outerV6A, outerV6B, layers.IPProtocolIPv4), gopacket.Payload(innerTCP(t)))
			},
			want: withTunnel(dataPacket, TunnelIPIP, 0, key(outerV6A, outerV6B, 4, 0, 0)), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "VXLAN inside GRE records the outermost tunnel", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				return serialize(t, outerV4(layers.IPProtocolGRE), &layers.GRE{Protocol: layers.EthernetTypeIPv4},
					ip4("10.9.9.1", "10.9.9.2", layers.IPProtocolUDP), udpLayer(1, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 9},
					gopacket.Payload(innerTCPFrame(t)))
			},
			want: withTunnel(dataPacket, TunnelGRE, 0, greKey), payload: []byte("abc"), ipLen: 43,
		},
		{
			name: "VXLAN without the valid-VNI flag stays UDP", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolUDP), udpLayer(54321, 4789), gopacket.Payload(cat(bytesOf(8, 0), innerTCPFrame(t))))
			},
			want:    Packet{Key: vxlanKey, TTL: 250, IPID: 9, IPLen: 20 + vxUDPLen, TransportOK: true, PayloadLen: vxUDPLen - 8},
			payload: cat(bytesOf(8, 0), innerTCPFrame(t)), ipLen: int(20 + vxUDPLen),
		},
		{
			name: "VXLAN carrying ARP is not IP", link: event.LinkEthernet,
			data: vxlanFrame(serializeARP(t)),
			err:  ErrNotIP,
		},
		{
			name: "VXLAN with its inner frame cut short stays UDP", link: event.LinkEthernet,
			data: func(t testing.TB) []byte { return vxlanFrame(innerTCPFrame(t))(t)[:14+20+8+8+20] },
			want: Packet{Key: vxlanKey, TTL: 250, IPID: 9, IPLen: 20 + vxUDPLen, TransportOK: true, PayloadLen: vxUDPLen - 8},
			payload: func() []byte {
				return cat(serialize(t, &layers.VXLAN{ValidIDFlag: true, VNI: 5001}), innerTCPFrame(t)[:20])
			}(),
			ipLen: 56,
		},
		{
			name: "fragmented VXLAN is not entered", link: event.LinkRaw,
			data: func(t testing.TB) []byte {
				ip := outerV4(layers.IPProtocolUDP)
				ip.Flags = layers.IPv4MoreFragments
				return serialize(t, ip, udpLayer(54321, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 5001}, gopacket.Payload(innerTCPFrame(t)))
			},
			want: Packet{Key: vxlanKey, TTL: 250, IPID: 9, IPLen: 20 + vxUDPLen, Fragment: true, MoreFragments: true, TransportOK: true, PayloadLen: vxUDPLen - 8},
			payload: func() []byte {
				return cat(serialize(t, &layers.VXLAN{ValidIDFlag: true, VNI: 5001}), innerTCPFrame(t))
			}(),
			ipLen: int(20 + vxUDPLen),
		},
	}
	// The VXLAN cases built from the same frame.
	vx := vxlanFrame(innerTCPFrame(t))
	for i := range tests {
		if tests[i].name == "VXLAN" {
			tests[i].data = vx
			tests[i].want = withTunnel(dataPacket, TunnelVXLAN, 5001, vxlanKey)
			tests[i].payload, tests[i].ipLen = []byte("abc"), 43
		}
	}
	tests = append(tests,
		decodeCase{
			name: "VXLAN, decapsulation off", link: event.LinkEthernet, noDecap: true, data: vx,
			want:    Packet{Key: vxlanKey, TTL: 250, IPID: 9, IPLen: 20 + vxUDPLen, TransportOK: true, PayloadLen: vxUDPLen - 8},
			payload: cat(serialize(t, &layers.VXLAN{ValidIDFlag: true, VNI: 5001}), innerTCPFrame(t)), ipLen: int(20 + vxUDPLen),
		},
		decodeCase{
			name: "VXLAN under a VLAN: the observation VLAN is the flow's, inner tags are not", link: event.LinkEthernet,
			data: func(t testing.TB) []byte {
				inner := serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 300, Type: layers.EthernetTypeIPv4}, ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpData(), gopacket.Payload("abc"))
				return serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4},
					outerV4(layers.IPProtocolUDP), udpLayer(54321, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 5001}, gopacket.Payload(inner))
			},
			want: func() Packet {
				p := withTunnel(dataPacket, TunnelVXLAN, 5001, withVLAN(vxlanKey, 10))
				p.Key.VLAN = 10
				return p
			}(),
			payload: []byte("abc"), ipLen: 43,
		},
	)
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func serializeARP(t testing.TB) []byte {
	return serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: []byte{10, 0, 0, 1},
		DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2},
	})
}

// nestedIPIP builds n IPv4 headers, each carrying the next, the last a UDP
// datagram. Header i has addresses 10.0.i.1 > 10.0.i.2.
func nestedIPIP(t testing.TB, n int) []byte {
	var ls []gopacket.SerializableLayer
	for i := range n {
		proto := layers.IPProtocolIPv4
		if i == n-1 {
			proto = layers.IPProtocolUDP
		}
		ls = append(ls, ip4(fmt.Sprintf("10.0.%d.1", i), fmt.Sprintf("10.0.%d.2", i), proto))
	}
	ls = append(ls, udpLayer(1000, 2000), gopacket.Payload("deep"))
	return serialize(t, ls...)
}

func TestDecodeTunnelDepthBound(t *testing.T) {
	var d Decoder
	var p Packet
	// maxTunnelDepth tunnels are entered: the innermost UDP is the flow.
	if err := d.Decode(event.LinkRaw, nestedIPIP(t, maxTunnelDepth+1), &p); err != nil {
		t.Fatal(err)
	}
	want := key(fmt.Sprintf("10.0.%d.1", maxTunnelDepth), fmt.Sprintf("10.0.%d.2", maxTunnelDepth), flowkey.ProtoUDP, 1000, 2000)
	if p.Key != want || p.Tunnel != TunnelIPIP || p.TunnelKey != key("10.0.0.1", "10.0.0.2", 4, 0, 0) || string(p.Payload) != "deep" {
		t.Errorf("at the bound: got %s", describe(&p))
	}
	// One more: the packet at the bound is the flow, still IP-in-IP.
	if err := d.Decode(event.LinkRaw, nestedIPIP(t, maxTunnelDepth+2), &p); err != nil {
		t.Fatal(err)
	}
	want = key(fmt.Sprintf("10.0.%d.1", maxTunnelDepth), fmt.Sprintf("10.0.%d.2", maxTunnelDepth), 4, 0, 0)
	if p.Key != want || p.Tunnel != TunnelIPIP || p.TransportOK {
		t.Errorf("past the bound: got %s", describe(&p))
	}
}

func TestDecodeErrors(t *testing.T) {
	ipv4Bytes := func(t testing.TB) []byte { return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpSYN()) }
	tests := []struct {
		name string
		link event.LinkType
		data func(t testing.TB) []byte
		err  error
	}{
		{"unsupported link type", 127, ipv4Bytes, ErrUnsupportedLink},
		{"ARP", event.LinkEthernet, serializeARP, ErrNotIP},
		{"LLDP", event.LinkEthernet, func(t testing.TB) []byte { return cat(macB, macA, be16(0x88cc), bytesOf(30, 0)) }, ErrNotIP},
		{"802.3 STP", event.LinkEthernet, func(t testing.TB) []byte { return cat(macB, macA, be16(38), []byte{0x42, 0x42, 0x03}, bytesOf(35, 0)) }, ErrNotIP},
		{"802.3 SNAP cut short", event.LinkEthernet, func(t testing.TB) []byte { return cat(macB, macA, be16(38), []byte{0xaa, 0xaa, 0x03, 0}) }, ErrTruncated},
		{"PPPoE discovery", event.LinkEthernet, func(t testing.TB) []byte { return cat(macB, macA, be16(0x8863), []byte{0x11, 0x09, 0, 0, 0, 0}) }, ErrNotIP},
		{"PPPoE session with a discovery code", event.LinkEthernet, func(t testing.TB) []byte {
			return cat(macB, macA, be16(0x8864), []byte{0x11, 0x09, 0, 0, 0, 0}, be16(0x21), ipv4Bytes(t))
		}, ErrMalformed},
		{"PPP LCP", event.LinkPPP, func(t testing.TB) []byte { return cat([]byte{0xff, 0x03}, be16(0xc021), bytesOf(10, 1)) }, ErrNotIP},
		{"PPP empty", event.LinkPPP, func(t testing.TB) []byte { return []byte{0xff, 0x03} }, ErrTruncated},
		{"MPLS over a pseudowire control word", event.LinkEthernet, func(t testing.TB) []byte {
			return cat(macB, macA, be16(0x8847), serialize(t, &layers.MPLS{Label: 1, StackBottom: true}), be32(0), bytesOf(20, 0))
		}, ErrNotIP},
		{"MPLS stack without bottom", event.LinkEthernet, func(t testing.TB) []byte {
			return cat(macB, macA, be16(0x8847), bytes.Repeat(serialize(t, &layers.MPLS{Label: 1}), maxMPLSLabels+1), ipv4Bytes(t))
		}, ErrMalformed},
		{"MPLS stack cut short", event.LinkEthernet, func(t testing.TB) []byte {
			return cat(macB, macA, be16(0x8847), serialize(t, &layers.MPLS{Label: 1}))
		}, ErrTruncated},
		{"too many VLAN tags", event.LinkEthernet, func(t testing.TB) []byte {
			return cat(macB, macA, be16(0x8100), bytes.Repeat(cat(be16(5), be16(0x8100)), maxVLANTags), ipv4Bytes(t))
		}, ErrMalformed},
		{"VLAN tag cut short", event.LinkEthernet, func(t testing.TB) []byte { return cat(macB, macA, be16(0x8100), be16(5)) }, ErrTruncated},
		{"runt Ethernet", event.LinkEthernet, func(t testing.TB) []byte { return macB }, ErrTruncated},
		{"Linux SLL cut short", event.LinkLinuxSLL, func(t testing.TB) []byte { return bytesOf(15, 0) }, ErrTruncated},
		{"Linux SLL netlink", event.LinkLinuxSLL, func(t testing.TB) []byte {
			return cat(be16(0), be16(824), be16(0), bytesOf(8, 0), be16(0x0800), ipv4Bytes(t))
		}, ErrNotIP},
		{"Linux SLL 802.2 STP", event.LinkLinuxSLL, func(t testing.TB) []byte {
			return cat(be16(0), be16(1), be16(6), bytesOf(8, 0), be16(4), []byte{0x42, 0x42, 3, 0})
		}, ErrNotIP},
		{"Linux SLL2 cut short", event.LinkSLL2, func(t testing.TB) []byte { return bytesOf(19, 0) }, ErrTruncated},
		{"loopback OSI family", event.LinkNull, func(t testing.TB) []byte { return cat([]byte{7, 0, 0, 0}, ipv4Bytes(t)) }, ErrNotIP},
		{"loopback cut short", event.LinkNull, func(t testing.TB) []byte { return []byte{2, 0} }, ErrTruncated},
		{"raw IP empty", event.LinkRaw, func(t testing.TB) []byte { return nil }, ErrTruncated},
		{"raw IP version 5", event.LinkRaw, func(t testing.TB) []byte { b := ipv4Bytes(t); b[0] = 0x55; return b }, ErrMalformed},
		{"LINKTYPE_IPV4 with version 5", event.LinkIPv4, func(t testing.TB) []byte { b := ipv4Bytes(t); b[0] = 0x55; return b }, ErrMalformed},
		{"Ethernet IPv4 carrying IPv6", event.LinkEthernet, func(t testing.TB) []byte { return cat(macB, macA, be16(0x0800), serialize(t, ip6(cliV6, srvV6, 59))) }, ErrMalformed},
		{"Ethernet IPv6 carrying IPv4", event.LinkEthernet, func(t testing.TB) []byte { return cat(macB, macA, be16(0x86dd), ipv4Bytes(t), bytesOf(20, 0)) }, ErrMalformed},
		{"NSH with version 1", event.LinkEthernet, func(t testing.TB) []byte {
			return cat(macB, macA, be16(0x894f), []byte{0x40, 2, 1, 1}, be32(0x100), ipv4Bytes(t))
		}, ErrMalformed},
		{"NSH carrying NSH (not IP)", event.LinkEthernet, func(t testing.TB) []byte {
			return cat(macB, macA, be16(0x894f), []byte{0, 2, 1, 4}, be32(0x100), ipv4Bytes(t))
		}, ErrNotIP},
		{"NSH cut short", event.LinkEthernet, func(t testing.TB) []byte { return cat(macB, macA, be16(0x894f), []byte{0, 6, 1, 1}, be32(0x100)) }, ErrTruncated},
		{"PKTAP cut short", linkPKTAP, func(t testing.TB) []byte { return cat(le32(108), le32(1), bytesOf(50, 0)) }, ErrTruncated},
		{"PKTAP inside PKTAP", linkPKTAP, func(t testing.TB) []byte { return cat(le32(8), le32(258), le32(8), le32(1)) }, ErrMalformed},
		{"PKTAP of an unsupported link type", linkPKTAP, func(t testing.TB) []byte { return cat(le32(8), le32(127), ipv4Bytes(t)) }, ErrUnsupportedLink},
		{"NFLOG of another family", linkNFLOG, func(t testing.TB) []byte { return cat([]byte{7, 0, 0, 1}, le16(8), le16(9), ipv4Bytes(t)[:4]) }, ErrNotIP},
		{"NFLOG without a payload attribute", linkNFLOG, func(t testing.TB) []byte { return cat([]byte{2, 0, 0, 1}, le16(8), le16(1), be32(0)) }, ErrTruncated},
		{"IPv4 cut inside the fixed header", event.LinkRaw, func(t testing.TB) []byte { return ipv4Bytes(t)[:19] }, ErrTruncated},
		{"IPv4 header length below 20", event.LinkRaw, func(t testing.TB) []byte { b := ipv4Bytes(t); b[0] = 0x44; return b }, ErrMalformed},
		{"IPv4 total length below the header", event.LinkRaw, func(t testing.TB) []byte { b := ipv4Bytes(t); b[2], b[3] = 0, 19; return b }, ErrMalformed},
		{"IPv4 AH past the total length", event.LinkRaw, func(t testing.TB) []byte {
			return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolAH), gopacket.Payload(ah(6)[:16]))
		}, ErrMalformed},
		{"IPv4 AH cut short", event.LinkRaw, func(t testing.TB) []byte {
			return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolAH), gopacket.Payload(ah(6)))[:21]
		}, ErrTruncated},
		{"IPv6 cut inside the fixed header", event.LinkRaw, func(t testing.TB) []byte { return serialize(t, ip6(cliV6, srvV6, 59))[:39] }, ErrTruncated},
		{"IPv6 extension chain cut short", event.LinkRaw, func(t testing.TB) []byte {
			return serialize(t, ip6(cliV6, srvV6, 0), gopacket.Payload(cat(ipv6Ext(60, 0), ipv6Ext(6, 0))))[:49]
		}, ErrTruncated},
		{"IPv6 fragment header cut short", event.LinkRaw, func(t testing.TB) []byte {
			return serialize(t, ip6(cliV6, srvV6, 44), gopacket.Payload(ipv6Frag(6, 8, false, 1)))[:44]
		}, ErrTruncated},
		{"IPv6 extension header past the payload length", event.LinkRaw, func(t testing.TB) []byte {
			return serialize(t, ip6(cliV6, srvV6, 0), gopacket.Payload(ipv6Ext(6, 1)[:8]))
		}, ErrMalformed},
		{"too many IPv6 extension headers", event.LinkRaw, func(t testing.TB) []byte {
			return serialize(t, ip6(cliV6, srvV6, 60), gopacket.Payload(cat(bytes.Repeat(ipv6Ext(60, 0), maxExtHeaders+1), raw(t, tcpData()))))
		}, ErrMalformed},
		{"IPv6 jumbo length below 65536", event.LinkRaw, func(t testing.TB) []byte {
			b := serialize(t, ip6(cliV6, srvV6, 0), gopacket.Payload(cat([]byte{17, 0, 0xc2, 4}, be32(1000), bytesOf(8, 0))))
			b[4], b[5] = 0, 0
			return b
		}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			var p Packet
			err := d.Decode(tc.link, tc.data(t), &p)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			// Each error is of exactly one kind.
			kinds := 0
			for _, k := range []error{ErrUnsupportedLink, ErrNotIP, ErrTruncated, ErrMalformed} {
				if errors.Is(err, k) {
					kinds++
				}
			}
			if kinds != 1 {
				t.Errorf("%v matches %d kinds", err, kinds)
			}
		})
	}
}

// Decode resets everything a previous packet set.
func TestDecodeResets(t *testing.T) {
	var d Decoder
	var p Packet
	vx := serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4},
		outerV4(layers.IPProtocolUDP), udpLayer(54321, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 5001}, gopacket.Payload(innerTCPFrame(t)))
	if err := d.Decode(event.LinkEthernet, vx, &p); err != nil {
		t.Fatal(err)
	}
	frag := serialize(t, func() *layers.IPv4 {
		ip := ip4(cliV4, srvV4, layers.IPProtocolUDP)
		ip.FragOffset = 10
		return ip
	}(), gopacket.Payload("zz"))
	if err := d.Decode(event.LinkRaw, frag, &p); err != nil {
		t.Fatal(err)
	}
	want := Packet{Key: key(cliV4, srvV4, flowkey.ProtoUDP, 0, 0), TTL: 64, IPID: 0x1234, IPLen: 22, Fragment: true, FragOffset: 80}
	if len(p.IP) != 22 {
		t.Errorf("len(IP) = %d", len(p.IP))
	}
	p.IP = nil
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %s\nwant %s", describe(&p), describe(&want))
	}
}
