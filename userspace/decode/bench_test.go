package decode

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/flowjoy/flowjoy/userspace/event"
)

// benchMix is a realistic mix: Ethernet/IPv4/TCP with options,
// 802.1Q/IPv6/UDP, and VXLAN carrying TCP.
func benchMix(t testing.TB) [][]byte {
	tcpTS := &layers.TCP{
		SrcPort: 40000, DstPort: 443, Seq: 1001, Ack: 5001, ACK: true, PSH: true, Window: 502,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
		},
	}
	return [][]byte{
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(cliV4, srvV4, layers.IPProtocolTCP), tcpTS, gopacket.Payload(bytesOf(1200, 'a'))),
		serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv6},
			ip6(cliV6, srvV6, layers.IPProtocolUDP), udpLayer(5353, 53), gopacket.Payload(bytesOf(60, 'q'))),
		serialize(t, eth(layers.EthernetTypeIPv4), outerV4(layers.IPProtocolUDP), udpLayer(54321, 4789),
			&layers.VXLAN{ValidIDFlag: true, VNI: 5001}, gopacket.Payload(innerTCPFrame(t))),
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	mix := benchMix(t)
	var d Decoder
	var p Packet
	for i, data := range mix {
		if err := d.Decode(event.LinkEthernet, data, &p); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if n := testing.AllocsPerRun(200, func() { _ = d.Decode(event.LinkEthernet, data, &p) }); n != 0 {
			t.Errorf("packet %d: %v allocations per decode", i, n)
		}
	}
	// Failing costs nothing either.
	arp := serializeARP(t)
	if n := testing.AllocsPerRun(200, func() { _ = d.Decode(event.LinkEthernet, arp, &p) }); n != 0 {
		t.Errorf("ARP: %v allocations per decode", n)
	}
	short := mix[0][:30]
	if n := testing.AllocsPerRun(200, func() { _ = d.Decode(event.LinkEthernet, short, &p) }); n != 0 {
		t.Errorf("truncated: %v allocations per decode", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	mix := benchMix(b)
	var d Decoder
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(mix[0])+len(mix[1])+len(mix[2])) / 3)
	i := 0
	for b.Loop() {
		if err := d.Decode(event.LinkEthernet, mix[i], &p); err != nil {
			b.Fatal(err)
		}
		i++
		if i == len(mix) {
			i = 0
		}
	}
}
