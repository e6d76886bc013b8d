package cbpf

import (
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// frame builds an Ethernet/IPv4 frame carrying UDP or TCP to port 53.
func frame(t *testing.T, udp bool) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
	var l4 gopacket.SerializableLayer
	if udp {
		ip.Protocol = layers.IPProtocolUDP
		u := &layers.UDP{SrcPort: 40000, DstPort: 53}
		u.SetNetworkLayerForChecksum(ip)
		l4 = u
	} else {
		ip.Protocol = layers.IPProtocolTCP
		tc := &layers.TCP{SrcPort: 40000, DstPort: 53, SYN: true, Window: 1000}
		tc.SetNetworkLayerForChecksum(ip)
		l4 = tc
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, l4, gopacket.Payload("0123456789")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEntry: the entry program tail-calls the guarded program for the
// packets its filter accepts, returns the pass verdict for the others,
// and for all when the tail call fails.
func TestEntry(t *testing.T) {
	needRoot(t)
	filter, err := Compile("udp port 53", LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ    ebpf.ProgramType
		attach ebpf.AttachType
		pass   uint32 // what the entry returns for rejected packets
		guard  int32  // what the guarded program returns
	}{
		{ebpf.SchedCLS, ebpf.AttachNone, 0xffffffff, 2}, // TC_ACT_UNSPEC; TC_ACT_SHOT
		{ebpf.XDP, ebpf.AttachXDP, 2, 3},                // XDP_PASS; XDP_TX
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			guarded, err := ebpf.NewProgram(&ebpf.ProgramSpec{
				Type: tc.typ, AttachType: tc.attach, License: "GPL",
				Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, tc.guard), asm.Return()},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer guarded.Close()
			e, err := NewEntry("fj_filt_test", filter, guarded, EntryOptions{Attach: tc.attach, VLAN: tc.typ == ebpf.SchedCLS})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			verdict := func(pkt []byte) uint32 {
				t.Helper()
				ret, err := e.Program.Run(&ebpf.RunOptions{Data: pkt})
				if err != nil {
					t.Fatal(err)
				}
				return ret
			}
			udp, tcp := frame(t, true), frame(t, false)
			if got := verdict(udp); got != uint32(tc.guard) {
				t.Errorf("accepted packet: %#x, want the guarded program's %#x", got, tc.guard)
			}
			if got := verdict(tcp); got != tc.pass {
				t.Errorf("rejected packet: %#x, want %#x", got, tc.pass)
			}
			if err := e.jump.Delete(uint32(0)); err != nil {
				t.Fatal(err)
			}
			if got := verdict(udp); got != tc.pass {
				t.Errorf("accepted packet, failed tail call: %#x, want %#x", got, tc.pass)
			}
		})
	}
}
