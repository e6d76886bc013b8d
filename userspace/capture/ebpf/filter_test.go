package ebpf

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/flowjoy/flowjoy/loader"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// TestFilterInKernel runs the engine with a tcpdump filter that matches
// one of two UDP conversations: the other one must leave no trace, not in
// the samples, the counters or the kernel's packet total, through every
// way of attaching.
func TestFilterInKernel(t *testing.T) {
	const n, size = 50, 100
	for _, tc := range []struct {
		name string
		cfg  Config
		v6   bool
	}{
		{name: "tcx/ipv4"},
		{name: "clsact/ipv6", cfg: Config{TC: loader.TCClsact}, v6: true},
		{name: "xdp/ipv4", cfg: Config{XDP: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t)
			a := tb.a4
			if tc.v6 {
				a = tb.a6
			}
			kept := tb.newUDPPair(tb.hB, tb.hA, a)
			dropped := tb.newUDPPair(tb.hB, tb.hA, a)
			cfg := tc.cfg
			cfg.NumPkts, cfg.DistBytes = 5, -1
			cfg.Filter = fmt.Sprintf("udp and port %d", kept.server.Port())
			r := tb.start(cfg)
			if !r.eng.Filtered() {
				t.Fatal("engine says no filter runs")
			}
			dropped.exchange(n, size)
			kept.exchange(n, size)
			dropped.exchange(n, size)
			r.stop(t)

			for _, d := range []struct {
				pair *udpPair
				want uint64
			}{{kept, n}, {dropped, 0}} {
				for _, k := range []flowkey.Key{
					key(d.pair.client, d.pair.server, flowkey.ProtoUDP, 0, tb.ifIndexA),
					key(d.pair.server, d.pair.client, flowkey.ProtoUDP, 0, tb.ifIndexA),
				} {
					if got := r.col.get(k); got.packets != d.want || got.bytes != d.want*size {
						t.Errorf("%v: %d packets, %d bytes; want %d packets", k, got.packets, got.bytes, d.want)
					}
				}
			}
			// Neighbour discovery and ARP are filtered out too, so the
			// kernel saw exactly the kept conversation.
			if st := r.eng.Stats(); st.KernelPackets != 2*n || st.NotIP != 0 || st.SamplesLost != 0 || st.BadSamples != 0 {
				t.Errorf("stats %+v: want exactly %d kernel packets (the filtered conversation)", st, 2*n)
			}
			if err := r.eng.Close(); err != nil {
				t.Fatal(err)
			}
			tb.assertNoLeftovers(tb.ifA)
		})
	}
}

// TestFilterErrors: a filter libpcap refuses fails Open with libpcap's
// reason, and nothing stays attached.
func TestFilterErrors(t *testing.T) {
	tb := newTestbed(t)
	tb.in(tb.hA, func() error {
		_, err := Open(Config{Interfaces: []string{tb.ifA}, Filter: "udp and port 99999"})
		if err == nil || !strings.Contains(err.Error(), "99999") {
			return fmt.Errorf("Open with a bad filter: %v, want libpcap's error naming the port", err)
		}
		return nil
	})
	tb.assertNoLeftovers(tb.ifA)
}

// TestFilterVLAN: on TC ingress the kernel moves the outer VLAN tag out of
// the packet into the skb; the filter must still see it where it was on
// the wire, so "vlan 100" keeps VLAN 100 and drops VLAN 101, on both
// hooks (TC ingress: tag outside the data; TC egress of a packet
// socket's frame: tag in the data).
func TestFilterVLAN(t *testing.T) {
	const n, size = 20, 50
	tb := newTestbed(t)
	r := tb.start(Config{NumPkts: 5, DistBytes: -1, Filter: "vlan 100 and udp"})
	macA, macB := tb.mac(tb.hA, tb.ifA), tb.mac(tb.hB, tb.ifB)
	a, b := netip.MustParseAddr("10.78.0.1"), netip.MustParseAddr("10.78.0.2")
	payload := bytes.Repeat([]byte{'v'}, size)
	type flow struct {
		vlan     uint16
		src, dst netip.AddrPort
		ingress  bool
		want     uint64
	}
	flows := []flow{
		{100, netip.AddrPortFrom(b, 1111), netip.AddrPortFrom(a, 2222), true, n},
		{101, netip.AddrPortFrom(b, 1112), netip.AddrPortFrom(a, 2222), true, 0},
		{100, netip.AddrPortFrom(a, 3333), netip.AddrPortFrom(b, 4444), false, n},
		{101, netip.AddrPortFrom(a, 3334), netip.AddrPortFrom(b, 4444), false, 0},
	}
	for _, f := range flows {
		if f.ingress {
			tb.inject(tb.hB, tb.ifB, n, taggedFrame(t, macB, macA, []uint16{f.vlan}, f.src, f.dst, payload))
		} else {
			tb.inject(tb.hA, tb.ifA, n, taggedFrame(t, macA, macB, []uint16{f.vlan}, f.src, f.dst, payload))
		}
	}
	waitFor(t, "the frames to be seen", 5e9, func() bool { return r.eng.Stats().KernelPackets >= 2*n })
	r.stop(t)
	for _, f := range flows {
		got := r.col.get(key(f.src, f.dst, flowkey.ProtoUDP, f.vlan, tb.ifIndexA))
		if got.packets != f.want {
			t.Errorf("VLAN %d %v→%v (ingress %v): %d packets, want %d", f.vlan, f.src, f.dst, f.ingress, got.packets, f.want)
		}
	}
	if st := r.eng.Stats(); st.KernelPackets != 2*n {
		t.Errorf("kernel saw %d packets, want the %d of VLAN 100", st.KernelPackets, 2*n)
	}
}

// TestFilterL3: on a device without a link header (a tun device here)
// the filter is compiled for raw IP and runs in front of the L3
// programs, on ingress (packets written into the tun) and egress
// (datagrams routed out of it).
func TestFilterL3(t *testing.T) {
	const n, size = 20, 60
	tb := newTestbed(t)
	name := "fjt" + tb.ifA[2:] // unique like the testbed's names
	var tun *os.File
	tb.in(tb.hA, func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF: %w", err)
		}
		tun = os.NewFile(uintptr(fd), name)
		return nil
	})
	t.Cleanup(func() { tun.Close() })
	run(t, "ip", "-n", tb.nsA, "addr", "add", "10.79.0.1/24", "dev", name)
	run(t, "ip", "-n", tb.nsA, "link", "set", name, "up")
	var ifindex int
	tb.in(tb.hA, func() error {
		l, err := netlink.LinkByName(name)
		if err == nil {
			ifindex = l.Attrs().Index
		}
		return err
	})
	go io.Copy(io.Discard, tun) // what is routed out of the tun

	local, peer := netip.MustParseAddr("10.79.0.1"), netip.MustParseAddr("10.79.0.2")
	r := tb.start(Config{Interfaces: []string{name}, NumPkts: 5, DistBytes: -1, Filter: "udp port 1111"})
	if ifs := r.eng.Interfaces(); len(ifs) != 1 || !ifs[0].L3 {
		t.Fatalf("attached as %+v, want one L3 interface", ifs)
	}
	payload := bytes.Repeat([]byte{'t'}, size)
	type flow struct {
		src, dst netip.AddrPort
		want     uint64
	}
	var flows []flow
	// Ingress: raw IP packets written into the tun.
	for _, port := range []uint16{1111, 1112} {
		f := flow{netip.AddrPortFrom(peer, port), netip.AddrPortFrom(local, 5555), 0}
		if port == 1111 {
			f.want = n
		}
		flows = append(flows, f)
		mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
		pkt := taggedFrame(t, mac, mac, nil, f.src, f.dst, payload)[14:] // without its link header
		for range n {
			if _, err := tun.Write(pkt); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Egress: datagrams from a socket, routed out of the tun.
	for _, port := range []uint16{1111, 1113} {
		var c *net.UDPConn
		tb.in(tb.hA, func() (err error) {
			c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(peer, port)))
			return err
		})
		for range n {
			if _, err := c.Write(payload); err != nil {
				t.Fatal(err)
			}
		}
		f := flow{addrPort(c.LocalAddr()), netip.AddrPortFrom(peer, port), 0}
		if port == 1111 {
			f.want = n
		}
		flows = append(flows, f)
		c.Close()
	}
	waitFor(t, "the packets to be seen", 5e9, func() bool { return r.eng.Stats().KernelPackets >= 2*n })
	r.stop(t)
	for _, f := range flows {
		if got := r.col.get(key(f.src, f.dst, flowkey.ProtoUDP, 0, ifindex)); got.packets != f.want || got.bytes != f.want*size {
			t.Errorf("%v→%v: %d packets, %d bytes; want %d packets", f.src, f.dst, got.packets, got.bytes, f.want)
		}
	}
	if st := r.eng.Stats(); st.KernelPackets != 2*n {
		t.Errorf("kernel saw %d packets, want the %d to or from port 1111", st.KernelPackets, 2*n)
	}
	// An expression that needs an Ethernet header cannot run here.
	tb.in(tb.hA, func() error {
		_, err := Open(Config{Interfaces: []string{name}, Filter: "ether host 02:00:00:00:00:01"})
		if err == nil || !strings.Contains(err.Error(), "does not apply to IP devices") {
			return fmt.Errorf("Open with an Ethernet filter on a tun: %v", err)
		}
		return nil
	})
	if err := r.eng.Close(); err != nil {
		t.Fatal(err)
	}
	tb.assertNoLeftovers(name)
}

// TestFilterAny: with -i any the filter runs on the interfaces there at
// the start and on those that come later (the loader's watcher attaches
// the entry programs, not flowjoy's).
func TestFilterAny(t *testing.T) {
	const n, size = 20, 80
	tb := newTestbed(t)
	kept := tb.newUDPPair(tb.hB, tb.hA, tb.a4)
	dropped := tb.newUDPPair(tb.hB, tb.hA, tb.a4)
	r := tb.start(Config{Interfaces: []string{AnyInterface}, NumPkts: 5, DistBytes: -1,
		Filter: fmt.Sprintf("udp port %d", kept.server.Port())})
	dropped.exchange(n, size)
	kept.exchange(n, size)

	later := tb.ifA[:len(tb.ifA)-1] + "x"
	run(t, "ip", "-n", tb.nsA, "link", "add", later, "type", "veth", "peer", "name", tb.ifA[:len(tb.ifA)-1]+"y")
	run(t, "ip", "-n", tb.nsA, "link", "set", later, "up")
	waitFor(t, later+" attached", 10*time.Second, func() bool {
		for _, i := range r.eng.Interfaces() {
			if i.Name == later {
				return true
			}
		}
		return false
	})
	var names []string
	tb.in(tb.hA, func() error {
		l, err := netlink.LinkByName(later)
		if err != nil {
			return err
		}
		for _, at := range []cebpf.AttachType{cebpf.AttachTCXIngress, cebpf.AttachTCXEgress} {
			res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: at})
			if err != nil {
				return err
			}
			for _, p := range res.Programs {
				if prog, err := cebpf.NewProgramFromID(p.ID); err == nil {
					if info, err := prog.Info(); err == nil {
						names = append(names, info.Name)
					}
					prog.Close()
				}
			}
		}
		return nil
	})
	if !slices.Equal(names, []string{"fj_filt_tc_in", "fj_filt_tc_eg"}) {
		t.Errorf("%s, attached after the start, runs %v, want the filter's entry programs", later, names)
	}
	r.stop(t)
	for _, d := range []struct {
		pair *udpPair
		want uint64
	}{{kept, n}, {dropped, 0}} {
		k := key(d.pair.client, d.pair.server, flowkey.ProtoUDP, 0, tb.ifIndexA)
		if got := r.col.get(k); got.packets != d.want {
			t.Errorf("%v: %d packets, want %d", k, got.packets, d.want)
		}
	}
	if st := r.eng.Stats(); st.KernelPackets != 2*n {
		t.Errorf("kernel saw %d packets, want the %d of the kept conversation", st.KernelPackets, 2*n)
	}
}
