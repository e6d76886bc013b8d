package ebpf

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/flowjoy/flowjoy/bpf"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// TestReportDeltas feeds one entry's cumulative counters, read after
// read, and checks the deltas reported.
func TestReportDeltas(t *testing.T) {
	k := kernelKey(key(netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:443"), flowkey.ProtoTCP, 0, 3))
	up := flowKey(&k, 0)
	down := up.Reverse()
	type dirs struct {
		d bpf.FlowjoyFjDir
		r bpf.FlowjoyFjDirRare
	}
	dir := func(packets, bytes, first, last, lost uint64, flags uint32) dirs {
		return dirs{bpf.FlowjoyFjDir{Packets: packets, Bytes: bytes, LastNs: last, TcpFlags: flags}, bpf.FlowjoyFjDirRare{FirstNs: first, Lost: lost}}
	}
	steps := []struct {
		name string
		up   dirs
		down dirs
		now  uint64
		want []event.Counts
	}{
		{"first read", dir(3, 30, 100, 300, 0, 0x12), dir(0, 0, 0, 0, 0, 0), 1000,
			[]event.Counts{{Key: up, Packets: 3, Bytes: 30, First: 100, Last: 300, TCPFlags: 0x12}}},
		// Later packets came after the previous read (1000); SYN was
		// reported already, ACK is reported again, FIN is new.
		{"more, both ways", dir(5, 50, 100, 1500, 0, 0x13), dir(2, 0, 1200, 1300, 0, 0x10), 2000,
			[]event.Counts{
				{Key: up, Packets: 2, Bytes: 20, First: 1000, Last: 1500, TCPFlags: 0x11},
				{Key: down, Packets: 2, First: 1200, Last: 1300, TCPFlags: 0x10},
			}},
		{"nothing new", dir(5, 50, 100, 1500, 0, 0x13), dir(2, 0, 1200, 1300, 0, 0x10), 3000, nil},
		// The first time of a later delta is never before the previous
		// delta's last packet.
		{"read raced the last packet", dir(6, 60, 100, 3500, 0, 0x13), dir(2, 0, 1200, 1300, 0, 0x10), 4000,
			[]event.Counts{{Key: up, Packets: 1, Bytes: 10, First: 3000, Last: 3500, TCPFlags: 0x10}}},
		{"ring full", dir(6, 60, 100, 3500, 0, 0x13), dir(4, 0, 1200, 4500, 2, 0x10), 5000,
			[]event.Counts{{Key: down, Packets: 2, First: 4000, Last: 4500, TCPFlags: 0x10, Lost: 2}}},
		// Deleted and made again under the same key: counting restarts.
		{"entry made again", dir(1, 5, 6000, 6000, 0, 0x02), dir(0, 0, 0, 0, 0, 0), 7000,
			[]event.Counts{{Key: up, Packets: 1, Bytes: 5, First: 6000, Last: 6000, TCPFlags: 0x02}}},
		// A direction's first count, read before the kernel wrote its
		// times: the packet is reported at the read, never at time 0.
		{"times not written yet", dir(1, 5, 6000, 6000, 0, 0x02), dir(1, 7, 0, 0, 0, 0x10), 8000,
			[]event.Counts{{Key: down, Packets: 1, Bytes: 7, First: 8000, Last: 8000, TCPFlags: 0x10}}},
	}
	e := &Engine{seen: map[bpf.FlowjoyFjKey]flowSeen{}}
	for _, s := range steps {
		v := bpf.FlowjoyFjFlow{Dir: [2]bpf.FlowjoyFjDir{s.up.d, s.down.d}, Rare: [2]bpf.FlowjoyFjDirRare{s.up.r, s.down.r}}
		got := e.report(nil, &k, &v, s.now)
		if len(got) != len(s.want) {
			t.Fatalf("%s: got %+v, want %+v", s.name, got, s.want)
		}
		for i := range got {
			if got[i] != s.want[i] {
				t.Errorf("%s: delta %d\n got %+v\nwant %+v", s.name, i, got[i], s.want[i])
			}
		}
	}
}

// TestKernelKeyCanonical checks the Go side of the key agreement: both
// directions of a conversation give the same kernel key, with the lower
// endpoint first, and flowKey gives each direction back.
func TestKernelKeyCanonical(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst netip.AddrPort
		proto    uint8
		lower    netip.AddrPort // the endpoint the kernel puts first
	}{
		{"ipv4 lower first", netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("10.0.0.2:80"), flowkey.ProtoTCP,
			netip.MustParseAddrPort("10.0.0.1:5000")},
		{"ipv4 higher first", netip.MustParseAddrPort("192.168.1.9:53"), netip.MustParseAddrPort("10.0.0.2:41000"), flowkey.ProtoUDP,
			netip.MustParseAddrPort("10.0.0.2:41000")},
		{"same address, ports decide", netip.MustParseAddrPort("127.0.0.1:9000"), netip.MustParseAddrPort("127.0.0.1:80"), flowkey.ProtoUDP,
			netip.MustParseAddrPort("127.0.0.1:80")},
		{"ipv6", netip.MustParseAddrPort("[fd77::2]:1"), netip.MustParseAddrPort("[fd77::1]:2"), flowkey.ProtoTCP,
			netip.MustParseAddrPort("[fd77::1]:2")},
		{"icmp without ports", netip.MustParseAddrPort("10.0.0.9:0"), netip.MustParseAddrPort("10.0.0.1:0"), flowkey.ProtoICMP,
			netip.MustParseAddrPort("10.0.0.1:0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fwd := key(tc.src, tc.dst, tc.proto, 7, 4)
			kf, kr := kernelKey(fwd), kernelKey(fwd.Reverse())
			if kf != kr {
				t.Fatalf("directions differ: %+v vs %+v", kf, kr)
			}
			side0 := flowKey(&kf, 0)
			if side0.SrcAddr() != tc.lower.Addr() || side0.SrcPort != tc.lower.Port() {
				t.Errorf("side 0 is sent by %v:%d, want %v", side0.SrcAddr(), side0.SrcPort, tc.lower)
			}
			if flowKey(&kf, 1) != side0.Reverse() {
				t.Errorf("side 1 is not side 0 reversed")
			}
			if side0 != fwd && side0 != fwd.Reverse() {
				t.Errorf("side 0 key %+v is neither direction of %+v", side0, fwd)
			}
			if kf.Vlan != 7 || kf.Ifindex != 4 || kf.Proto != tc.proto || kf.Ipver != fwd.IPVersion {
				t.Errorf("kernel key %+v lost fields", kf)
			}
		})
	}
}

// TestClockCalibration converts the monotonic clock read just before
// the realtime clock: the two must agree to within a few microseconds
// (5 ms allows for a descheduled test).
func TestClockCalibration(t *testing.T) {
	var c clock
	c.calibrate()
	wall := c.wall(monotonicNow())
	now := clockNow(unix.CLOCK_REALTIME)
	if d := now - wall; d < -1000 || d > 5e6 {
		t.Errorf("wall(monotonic now) is %d ns from the realtime clock", d)
	}
}
