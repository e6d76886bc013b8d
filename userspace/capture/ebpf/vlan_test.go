package ebpf

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// TestVLANTagged checks VLAN keying on the paths where the tag is found
// in different places: TC ingress (the stack moves the outer tag out of
// the packet into skb->vlan_tci, and the engine must put it back into the
// sample), TC egress of a packet socket's frame (tag in the packet) and
// XDP (tag in the packet). Frames are injected with packet sockets: this
// kernel has no VLAN devices.
func TestVLANTagged(t *testing.T) {
	const n, size = 30, 50
	for _, tc := range []struct {
		name string
		xdp  bool
		tags []uint16 // outer first
	}{
		{"tcx/802.1Q", false, []uint16{100}},
		{"tcx/QinQ", false, []uint16{200, 100}},
		{"xdp/802.1Q", true, []uint16{100}},
		{"xdp/QinQ", true, []uint16{200, 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t)
			r := tb.start(Config{XDP: tc.xdp, NumPkts: 5, DistBytes: -1})
			macA, macB := tb.mac(tb.hA, tb.ifA), tb.mac(tb.hB, tb.ifB)
			a, b := netip.MustParseAddr("10.78.0.1"), netip.MustParseAddr("10.78.0.2")
			in := [2]netip.AddrPort{netip.AddrPortFrom(b, 1111), netip.AddrPortFrom(a, 2222)}
			out := [2]netip.AddrPort{netip.AddrPortFrom(a, 3333), netip.AddrPortFrom(b, 4444)}
			payload := bytes.Repeat([]byte{'v'}, size)
			tb.inject(tb.hB, tb.ifB, n, taggedFrame(t, macB, macA, tc.tags, in[0], in[1], payload))
			tb.inject(tb.hA, tb.ifA, n, taggedFrame(t, macA, macB, tc.tags, out[0], out[1], payload))
			waitFor(t, "the frames to be seen", 5e9, func() bool { return r.eng.Stats().KernelPackets >= 2*n })
			r.stop(t)
			for _, d := range []struct {
				name string
				src  netip.AddrPort
				dst  netip.AddrPort
			}{{"ingress", in[0], in[1]}, {"egress", out[0], out[1]}} {
				got := r.col.get(key(d.src, d.dst, flowkey.ProtoUDP, tc.tags[0], tb.ifIndexA))
				if got.packets != n || got.bytes != n*size || got.samples != 5 {
					t.Errorf("%s: %d packets, %d bytes, %d samples; sent %d packets of %d bytes, want 5 samples",
						d.name, got.packets, got.bytes, got.samples, n, size)
				}
				if got.vlan != tc.tags[0] {
					t.Errorf("%s: samples decode to VLAN %d, want %d", d.name, got.vlan, tc.tags[0])
				}
			}
		})
	}
}

func (tb *testbed) mac(ns netns.NsHandle, ifname string) net.HardwareAddr {
	var mac net.HardwareAddr
	tb.in(ns, func() error {
		l, err := netlink.LinkByName(ifname)
		if err == nil {
			mac = l.Attrs().HardwareAddr
		}
		return err
	})
	return mac
}

// taggedFrame builds an Ethernet frame with VLAN tags (none, one or
// more) around a UDP datagram.
func taggedFrame(t testing.TB, src, dst net.HardwareAddr, tags []uint16, from, to netip.AddrPort, payload []byte) []byte {
	t.Helper()
	ls := []gopacket.SerializableLayer{}
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	switch {
	case len(tags) > 1:
		eth.EthernetType = layers.EthernetTypeQinQ
	case len(tags) == 1:
		eth.EthernetType = layers.EthernetTypeDot1Q
	}
	ls = append(ls, eth)
	for i, id := range tags {
		next := layers.EthernetTypeDot1Q
		if i == len(tags)-1 {
			next = layers.EthernetTypeIPv4
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: id, Type: next})
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: from.Addr().AsSlice(), DstIP: to.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(from.Port()), DstPort: layers.UDPPort(to.Port())}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ls = append(ls, ip, udp, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// inject sends a frame n times out of an interface with a packet socket.
func (tb *testbed) inject(ns netns.NsHandle, ifname string, n int, frame []byte) {
	tb.in(ns, func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		to := &unix.SockaddrLinklayer{Ifindex: l.Attrs().Index}
		for range n {
			if err := unix.Sendto(fd, frame, 0, to); err != nil {
				return err
			}
		}
		return nil
	})
}
