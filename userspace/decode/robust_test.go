package decode

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// testdataCaptures reads the captures copied into testdata/captures.
func testdataCaptures(t testing.TB) map[string][]capturedPacket {
	paths, err := filepath.Glob(filepath.Join("testdata", "captures", "*.pcap"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata captures (%v)", err)
	}
	caps := map[string][]capturedPacket{}
	for _, p := range paths {
		pkts, ok := readCapture(p)
		if !ok || len(pkts) == 0 {
			t.Fatalf("%s does not read", p)
		}
		caps[filepath.Base(p)] = pkts
	}
	return caps
}

// The first packet of real tunnelled captures, against tshark 4.0's
// dissection of them (ip.src/ip.dst/ports of the innermost header, VNI,
// ERSPAN span id, PPTP call id, outer VLAN).
func TestDecodeTestdataCaptures(t *testing.T) {
	caps := testdataCaptures(t)
	tests := []struct {
		file      string
		key       flowkey.Key
		tunnel    Tunnel
		tunnelID  uint32
		outer     flowkey.Key // Src, Dst, Proto, ports of the outermost tunnel
		transport bool
	}{
		{"zeek_tunnels_gre-pptp.pcap", withVLAN(key("172.16.44.3", "8.8.8.8", flowkey.ProtoUDP, 40768, 53), 100),
			TunnelIPIP, 0, withVLAN(key("2402:f000:1:8e01::5555", "2607:fcd0:100:2300::b108:2a6b", 4, 0, 0), 100), true},
		{"zeek_tunnels_4in6.pcap", key("70.55.213.211", "192.88.99.1", flowkey.ProtoTCP, 31337, 80),
			TunnelIPIP, 0, key("2002:4637:d5d3::4637:d5d3", "2001:4860:0:2001::68", 4, 0, 0), true},
		{"zeek_tunnels_6in4.pcap", key("dead::beef", "cafe::babe", flowkey.ProtoUDP, 30000, 13000),
			TunnelIPIP, 0, key("1.2.3.4", "5.6.7.8", 41, 0, 0), true},
		{"zeek_tunnels_6in6in6.pcap", key("dead::beef", "cafe::babe", flowkey.ProtoUDP, 30000, 13000),
			TunnelIPIP, 0, key("feed::beef", "feed::cafe", 41, 0, 0), true},
		{"zeek_tunnels_geneve-ipv6.pcap", key("fd00::1", "fd00::2", flowkey.ProtoUDP, 40000, 40001),
			TunnelGeneve, 0x123456, key("10.0.0.1", "10.0.0.2", flowkey.ProtoUDP, 12345, 6081), true},
		{"zeek_tunnels_gre-erspan3-dot1q.pcap", key("172.31.10.31", "172.31.10.2", flowkey.ProtoICMP, 0, 0),
			TunnelERSPAN, 0, key("172.31.1.23", "172.31.1.135", 47, 0, 0), true},
		{"zeek_tunnels_vxlan-triple-v2.pcap", key("4.4.4.4", "4.4.4.9", flowkey.ProtoUDP, 53, 53),
			TunnelVXLAN, 1, key("1.1.1.1", "1.1.1.9", flowkey.ProtoUDP, 4789, 4789), true},
		{"tcpdump_erspan-type-i-1.pcap", key("10.52.128.233", "10.52.128.234", flowkey.ProtoICMP, 0, 0),
			TunnelERSPAN, 0, key("1.1.1.1", "192.168.255.5", 47, 0, 0), true},
		{"tcpdump_mpls-ldp-hello.pcap", key("10.1.1.3", "224.0.0.2", flowkey.ProtoUDP, 646, 646),
			TunnelNone, 0, flowkey.Key{}, true},
		{"mercury_pcaps_sll2_tls.pcap", key("172.31.84.252", "54.186.175.150", flowkey.ProtoTCP, 49818, 443),
			TunnelNone, 0, flowkey.Key{}, true},
		{"tcpdump_ipv4_tcp_http_xml.pcap", withVLAN(key("10.21.11.94", "10.114.101.120", flowkey.ProtoTCP, 80, 5767), 165),
			TunnelNone, 0, flowkey.Key{}, true},
		// The innermost header has a bad version: the 6in6 packet carrying
		// it is the flow (IPv4-in-IPv6 not entered).
		{"zeek_tunnels_mpls-6in6-6in6-4in6-invalid-version-4.pcap",
			key("ff00:0:6929::6904:ff:3bbf", "ffff:0:69:2900:0:69:400:ff3b", 4, 0, 0),
			TunnelIPIP, 0, key("b100:7265::6904:2aff", "3bbf:ff00:40:21:ffff:ffff:fffd:f7ff", 41, 0, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			pkts := caps[tc.file]
			if len(pkts) == 0 {
				t.Fatal("capture missing")
			}
			var d Decoder
			var p Packet
			if err := d.Decode(pkts[0].link, pkts[0].data, &p); err != nil {
				t.Fatal(err)
			}
			if p.Key != tc.key || p.Tunnel != tc.tunnel || p.TunnelID != tc.tunnelID || p.TunnelKey != tc.outer || p.TransportOK != tc.transport {
				t.Errorf("got  %s\nwant key %s tunnel %s id %#x outer %s", describe(&p),
					describe(&Packet{Key: tc.key}), tc.tunnel, tc.tunnelID, describe(&Packet{Key: tc.outer}))
			}
		})
	}
}

// sampleCapturePackets is a sample of real packets: the testdata captures
// and the first packets of every file of the shared collection.
func samplePackets(t *testing.T, perFile int) []capturedPacket {
	var sample []capturedPacket
	for _, pkts := range testdataCaptures(t) {
		sample = append(sample, pkts...)
	}
	if _, err := os.Stat(sharedCapturesDir()); err == nil {
		walkCaptures(t, func(path string, pkts []capturedPacket) {
			sample = append(sample, pkts[:min(len(pkts), perFile)]...)
		})
	}
	return sample
}

func sharedCapturesDir() string {
	if dir := os.Getenv("FLOWJOY_PCAPS"); dir != "" {
		return dir
	}
	return "/work/shared/pcaps"
}

// Every prefix of every sampled packet decodes without panicking, keeps
// the invariants, and fails only with one of the four kinds.
func TestDecodeEveryTruncation(t *testing.T) {
	sample := samplePackets(t, 10)
	decoders := []Decoder{{}, {NoDecap: true}}
	var p Packet
	prefixes := 0
	for i, cp := range sample {
		for n := 0; n <= len(cp.data); n++ {
			// Capacity n too, so that reslicing past the end panics
			// rather than reading the rest of the packet.
			data := cp.data[:n:n]
			for j := range decoders {
				err := decodeChecked(t, &decoders[j], "sample "+strconv.Itoa(i), cp.link, data, &p)
				if err != nil && !isKnownKind(err) {
					t.Fatalf("sample %d prefix %d: error of no known kind: %v", i, n, err)
				}
			}
			prefixes++
		}
	}
	t.Logf("%d packets, %d prefixes", len(sample), prefixes)
}

func isKnownKind(err error) bool {
	for _, k := range []error{ErrUnsupportedLink, ErrNotIP, ErrTruncated, ErrMalformed} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// FuzzDecode checks that no input panics, that successful decodes keep
// the invariants, that errors are of a known kind, and that decoding is
// deterministic (the decoder is stateless).
func FuzzDecode(f *testing.F) {
	for _, pkts := range testdataCaptures(f) {
		for _, cp := range pkts[:min(len(pkts), 8)] {
			f.Add(uint16(cp.link), false, cp.data)
		}
	}
	// The hand-built packets of the table tests, with and without
	// decapsulation.
	for _, tc := range seedCases(f) {
		f.Add(uint16(tc.link), tc.noDecap, tc.data(f))
	}
	f.Fuzz(func(t *testing.T, link uint16, noDecap bool, data []byte) {
		d := Decoder{NoDecap: noDecap}
		var p1, p2 Packet
		err := d.Decode(event.LinkType(link), data, &p1)
		err2 := d.Decode(event.LinkType(link), data, &p2)
		if err != err2 || !reflect.DeepEqual(p1, p2) {
			t.Fatalf("not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			if !isKnownKind(err) {
				t.Fatalf("error of no known kind: %v", err)
			}
			return
		}
		if msg := invariantViolation(data, &p1); msg != "" {
			t.Fatal(msg)
		}
	})
}

// seedCases returns a few hand-built packets covering each tunnel and
// link type, for fuzz seeds and the benchmark.
func seedCases(t testing.TB) []decodeCase {
	vx := func(t testing.TB) []byte {
		return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolUDP), udpLayer(54321, 4789),
			&layers.VXLAN{ValidIDFlag: true, VNI: 5001}, gopacket.Payload(innerTCPFrame(t)))
	}
	return []decodeCase{
		{link: event.LinkEthernet, data: vx},
		{link: event.LinkEthernet, noDecap: true, data: vx},
		{link: event.LinkEthernet, data: func(t testing.TB) []byte {
			return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolGRE),
				&layers.GRE{SeqPresent: true, Seq: 5, Protocol: layers.EthernetTypeERSPAN},
				&layers.ERSPANII{Version: 1, SessionID: 300}, gopacket.Payload(innerTCPFrame(t)))
		}},
		{link: event.LinkEthernet, data: func(t testing.TB) []byte {
			return serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolUDP), udpLayer(1, 6081),
				&layers.Geneve{Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: 7}, gopacket.Payload(innerTCPFrame(t)))
		}},
		{link: event.LinkRaw, data: func(t testing.TB) []byte {
			return serialize(t, ip6(cliV6, srvV6, 0), gopacket.Payload(cat(ipv6Ext(44, 0), ipv6Frag(17, 0, true, 9), be16(1), be16(2), be16(100), be16(0))))
		}},
		{link: event.LinkRaw, data: func(t testing.TB) []byte {
			return serialize(t, ip4(cliV4, srvV4, layers.IPProtocolAH), gopacket.Payload(cat(ah(6), raw(t, tcpData()))))
		}},
		{link: event.LinkEthernet, data: func(t testing.TB) []byte {
			return serialize(t, eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 2, Type: layers.EthernetTypeMPLSUnicast},
				&layers.MPLS{Label: 3, StackBottom: true}, ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpSYN())
		}},
		{link: event.LinkPPPoE, data: func(t testing.TB) []byte {
			return serialize(t, &layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession}, &layers.PPP{PPPType: layers.PPPTypeIPv4},
				ip4(cliV4, srvV4, layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1})
		}},
		{link: event.LinkSLL2, data: func(t testing.TB) []byte {
			return cat(be16(0x0800), be16(0), be32(1), be16(1), []byte{0, 6}, bytesOf(8, 1),
				serialize(t, outerV4(layers.IPProtocolIPv6), ip6(cliV6, srvV6, layers.IPProtocolUDP), udpLayer(1, 2)))
		}},
		{link: linkNFLOG, data: func(t testing.TB) []byte {
			ip := innerTCP(t)
			return cat([]byte{2, 0, 0, 1}, le16(8), le16(1), be32(0), le16(uint16(4+len(ip))), le16(9), ip)
		}},
		{link: linkPKTAP, data: func(t testing.TB) []byte {
			return cat(le32(108), le32(1), bytesOf(100, 0), innerTCPFrame(t))
		}},
		{link: event.LinkRaw, data: func(t testing.TB) []byte {
			return serialize(t, outerV4(layers.IPProtocolUDP), udpLayer(1000, 4790),
				gopacket.Payload(cat([]byte{0x0c, 0, 0, 4}, be32(79<<8), []byte{0x0f, 2, 0x02, 3}, be32(0x000101ff), innerTCPFrame(t))))
		}},
		{link: event.LinkRaw, data: func(t testing.TB) []byte {
			return serialize(t, outerV4(layers.IPProtocolGRE), gopacket.Payload(cat([]byte{0, 0, 0x88, 0x3e}, []byte{0x05, 0x59, 0, 0x48}, innerTCP(t))))
		}},
		{link: event.LinkNull, data: func(t testing.TB) []byte {
			return cat(binary.LittleEndian.AppendUint32(nil, 2), serialize(t, outerV4(layers.IPProtocolGRE),
				gopacket.Payload(cat([]byte{0x30, 0x81, 0x88, 0x0b}, be16(28), be16(6), be32(1), be32(0), []byte{0xff, 0x03, 0, 0x21}, innerTCP(t)))))
		}},
	}
}
