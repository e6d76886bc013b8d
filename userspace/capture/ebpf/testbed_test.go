package ebpf

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// requireRoot skips a test that loads programs and builds namespaces when
// not root, and fails it in CI, where a missing privilege is a setup bug.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but not root: this test loads eBPF programs and creates network namespaces")
	}
	t.Skip("needs root: loads eBPF programs and creates network namespaces (set CI=true to make this a failure)")
}

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is missing", name)
		}
		t.Skipf("needs %s", name)
	}
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// testbed is two network namespaces joined by a veth pair: A (where the
// engine runs, on ifA) and B (the traffic's other end). Names are unique
// and everything is removed when the test ends, even when it fails.
type testbed struct {
	t          *testing.T
	nsA, nsB   string
	hA, hB     netns.NsHandle
	ifA, ifB   string
	a4, b4     netip.Addr
	a6, b6     netip.Addr
	ifIndexA   int
	offloadsOn bool
}

func newTestbed(t *testing.T) *testbed {
	t.Helper()
	requireRoot(t)
	requireTool(t, "ip")
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(b[:])
	tb := &testbed{
		t:   t,
		nsA: "fjt" + id + "a", nsB: "fjt" + id + "b",
		ifA: "fj" + id + "a", ifB: "fj" + id + "b",
		a4: netip.MustParseAddr("10.77.0.1"), b4: netip.MustParseAddr("10.77.0.2"),
		a6: netip.MustParseAddr("fd77::1"), b6: netip.MustParseAddr("fd77::2"),
	}
	for _, ns := range []string{tb.nsA, tb.nsB} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	run(t, "ip", "link", "add", tb.ifA, "netns", tb.nsA, "type", "veth", "peer", "name", tb.ifB, "netns", tb.nsB)
	for _, side := range []struct {
		ns, dev string
		v4, v6  netip.Addr
	}{{tb.nsA, tb.ifA, tb.a4, tb.a6}, {tb.nsB, tb.ifB, tb.b4, tb.b6}} {
		run(t, "ip", "-n", side.ns, "addr", "add", side.v4.String()+"/24", "dev", side.dev)
		run(t, "ip", "-n", side.ns, "addr", "add", side.v6.String()+"/64", "dev", side.dev, "nodad")
		run(t, "ip", "-n", side.ns, "link", "set", side.dev, "up")
		run(t, "ip", "-n", side.ns, "link", "set", "lo", "up")
	}
	var err error
	if tb.hA, err = netns.GetFromName(tb.nsA); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.hA.Close() })
	if tb.hB, err = netns.GetFromName(tb.nsB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.hB.Close() })
	tb.in(tb.hA, func() error {
		l, err := netlink.LinkByName(tb.ifA)
		if err != nil {
			return err
		}
		tb.ifIndexA = l.Attrs().Index
		return nil
	})
	tb.setOffloads(false)
	return tb
}

// setOffloads turns TSO, GSO and GRO on or off on both ends.
func (tb *testbed) setOffloads(on bool) {
	tb.t.Helper()
	requireTool(tb.t, "ethtool")
	v := "off"
	if on {
		v = "on"
	}
	for _, side := range [][2]string{{tb.nsA, tb.ifA}, {tb.nsB, tb.ifB}} {
		run(tb.t, "ip", "netns", "exec", side[0], "ethtool", "-K", side[1], "tso", v, "gso", v, "gro", v)
	}
	tb.offloadsOn = on
}

// in runs fn on a fresh OS thread that has entered ns. The thread is
// never unlocked, so it ends with the goroutine instead of going back to
// the scheduler in the wrong namespace. Sockets made in fn stay in ns.
func (tb *testbed) in(ns netns.NsHandle, fn func() error) {
	tb.t.Helper()
	if err := inNS(ns, fn); err != nil {
		tb.t.Fatal(err)
	}
}

func inNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("entering netns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// running is an engine whose Run goroutine a test controls.
type running struct {
	eng    *Engine
	col    *collector
	cancel context.CancelFunc
	done   chan error
}

// start opens the engine inside namespace A and runs it.
func (tb *testbed) start(cfg Config) *running {
	tb.t.Helper()
	r := tb.open(cfg)
	r.run()
	return r
}

// open opens the engine inside namespace A without running it: the
// kernel samples and counts, and samples wait in the ring.
func (tb *testbed) open(cfg Config) *running {
	tb.t.Helper()
	if cfg.Interfaces == nil {
		cfg.Interfaces = []string{tb.ifA}
	}
	var eng *Engine
	tb.in(tb.hA, func() (err error) {
		eng, err = Open(cfg)
		return err
	})
	tb.t.Cleanup(func() { eng.Close() })
	r := &running{eng: eng, col: newCollector(), done: make(chan error, 1), cancel: func() {}}
	tb.t.Cleanup(func() { r.cancel() })
	return r
}

func (r *running) run() {
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	go func() { r.done <- r.eng.Run(ctx, r.col) }()
}

// stop ends Run, which detaches and delivers everything left.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of cancel")
	}
}

// leftovers lists what of ours is attached to an interface in the calling
// thread's namespace: tcx programs, clsact filters, XDP.
func leftovers(ifname string) ([]string, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, err
	}
	var found []string
	for _, at := range []cebpf.AttachType{cebpf.AttachTCXIngress, cebpf.AttachTCXEgress} {
		res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: at})
		if err != nil {
			return nil, fmt.Errorf("querying tcx: %w", err)
		}
		for _, p := range res.Programs {
			found = append(found, fmt.Sprintf("tcx %v program %d", at, p.ID))
		}
	}
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		fs, err := netlink.FilterList(l, parent)
		if err != nil {
			continue // no clsact
		}
		for _, f := range fs {
			if bf, ok := f.(*netlink.BpfFilter); ok {
				found = append(found, "clsact filter "+bf.Name)
			}
		}
	}
	if x := l.Attrs().Xdp; x != nil && x.Attached {
		found = append(found, fmt.Sprintf("xdp program %d", x.ProgId))
	}
	return found, nil
}

func (tb *testbed) assertNoLeftovers(ifname string) {
	tb.t.Helper()
	tb.in(tb.hA, func() error {
		// Links go when their last reference does; give the kernel a
		// moment after a process exits.
		var left []string
		for deadline := time.Now().Add(3 * time.Second); ; {
			var err error
			if left, err = leftovers(ifname); err != nil {
				return err
			}
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(left) > 0 {
			return fmt.Errorf("left attached to %s: %v", ifname, left)
		}
		return nil
	})
	if _, err := exec.LookPath("bpftool"); err == nil {
		out := run(tb.t, "ip", "netns", "exec", tb.nsA, "bpftool", "net", "show", "dev", ifname)
		if strings.Contains(out, "fj_") || strings.Contains(out, "flowjoy") {
			tb.t.Errorf("bpftool net show dev %s still lists our programs:\n%s", ifname, out)
		}
	}
}

// dirTotals is what the engine reported for one direction of a flow.
type dirTotals struct {
	packets, bytes, lost uint64
	samples              int    // Packet events
	sampledPayload       int    // payload bytes those carried
	aggregates           int    // samples standing for more than one segment
	vlan                 uint16 // VLAN id in the samples' data
	minTS, maxTS         int64  // sample times
	maxSampledPayload    int    // most payload bytes in one sample
	mixedPayload         int    // samples whose payload bytes are not all alike
}

// collector totals the engine's events per directional key, decoding
// samples independently of userspace/decode, with gopacket.
type collector struct {
	mu        sync.Mutex
	dirs      map[flowkey.Key]*dirTotals
	evicted   []flowkey.Key
	counts    map[flowkey.Key]event.Counts // Counts events added up, as delivered
	onPacket  func(*event.Packet)          // also called for every sample
	ticks     int                          // Tick calls
	lastTick  int64
	fragments int // samples of IP fragments
	other     int // samples that are not IPv4/IPv6 TCP/UDP/fragments
	minTS     int64
	maxTS     int64
}

func newCollector() *collector {
	return &collector{dirs: map[flowkey.Key]*dirTotals{}, counts: map[flowkey.Key]event.Counts{}}
}

func (c *collector) dir(k flowkey.Key) *dirTotals {
	d := c.dirs[k]
	if d == nil {
		d = &dirTotals{}
		c.dirs[k] = d
	}
	return d
}

func (c *collector) Packet(p *event.Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.onPacket != nil {
		c.onPacket(p)
	}
	k, payLen, payload, vlan, frag, ok := decodeForTest(p)
	switch {
	case frag:
		c.fragments++
		return
	case !ok:
		c.other++
		return
	}
	d := c.dir(k)
	d.packets += uint64(p.SegmentCount())
	d.bytes += uint64(payLen)
	d.samples++
	d.sampledPayload += len(payload)
	d.maxSampledPayload = max(d.maxSampledPayload, len(payload))
	if len(payload) > 0 && len(bytes.Trim(payload, string(payload[:1]))) != 0 {
		d.mixedPayload++ // the test traffic repeats one byte: a chunk landed in the wrong place
	}
	d.vlan = vlan
	if d.minTS == 0 || p.Timestamp < d.minTS {
		d.minTS = p.Timestamp
	}
	d.maxTS = max(d.maxTS, p.Timestamp)
	if p.SegmentCount() > 1 {
		d.aggregates++
	}
}

func (c *collector) Counts(x *event.Counts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := c.counts[x.Key]
	sum.Key = x.Key
	sum.Packets += x.Packets
	sum.Bytes += x.Bytes
	sum.Lost += x.Lost
	c.counts[x.Key] = sum
	d := c.dir(x.Key)
	d.packets += x.Packets
	d.bytes += x.Bytes
	d.lost += x.Lost
}

func (c *collector) Tick(now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ticks++
	c.lastTick = now
}

func (c *collector) Evicted(k flowkey.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evicted = append(c.evicted, k)
}

// sum adds up every direction of every flow.
func (c *collector) sum() (t dirTotals) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.dirs {
		t.packets += d.packets
		t.bytes += d.bytes
		t.lost += d.lost
		t.samples += d.samples
		t.sampledPayload += d.sampledPayload
	}
	return t
}

func (c *collector) get(k flowkey.Key) dirTotals {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.dirs[k]; d != nil {
		return *d
	}
	return dirTotals{}
}

// decodeForTest keys a sample and reads its payload length from the
// length fields, as the flow table will.
func decodeForTest(p *event.Packet) (k flowkey.Key, payLen int, payload []byte, vlan uint16, frag, ok bool) {
	first := layers.LayerTypeEthernet
	if p.LinkType == event.LinkRaw {
		first = layers.LayerTypeIPv4
		if len(p.Data) > 0 && p.Data[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
	}
	pkt := gopacket.NewPacket(p.Data, first, gopacket.DecodeOptions{NoCopy: true})
	if l, _ := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); l != nil {
		vlan = l.VLANIdentifier
	}
	k.IfIndex, k.VLAN = p.IfIndex, vlan
	var ipPay int
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			return k, 0, nil, vlan, true, false
		}
		k.IPVersion = 4
		copy(k.Src[:], ip.SrcIP.To4())
		copy(k.Dst[:], ip.DstIP.To4())
		k.Proto = uint8(ip.Protocol)
		ipPay = int(ip.Length) - int(ip.IHL)*4
	case *layers.IPv6:
		k.IPVersion = 6
		copy(k.Src[:], ip.SrcIP.To16())
		copy(k.Dst[:], ip.DstIP.To16())
		k.Proto = uint8(ip.NextHeader)
		ipPay = int(ip.Length)
	default:
		return k, 0, nil, vlan, false, false
	}
	switch l := pkt.TransportLayer().(type) {
	case *layers.TCP:
		k.SrcPort, k.DstPort = uint16(l.SrcPort), uint16(l.DstPort)
		return k, ipPay - int(l.DataOffset)*4, l.Payload, vlan, false, true
	case *layers.UDP:
		k.SrcPort, k.DstPort = uint16(l.SrcPort), uint16(l.DstPort)
		return k, int(l.Length) - 8, l.Payload, vlan, false, true
	}
	return k, 0, nil, vlan, false, false
}

// key returns the flow key of packets from src to dst as seen on ifindex.
func key(src, dst netip.AddrPort, proto uint8, vlan uint16, ifindex int) flowkey.Key {
	k := flowkey.Key{SrcPort: src.Port(), DstPort: dst.Port(), Proto: proto, VLAN: vlan, IfIndex: uint32(ifindex)}
	if src.Addr().Is4() {
		k.IPVersion = 4
		a, b := src.Addr().As4(), dst.Addr().As4()
		copy(k.Src[:], a[:])
		copy(k.Dst[:], b[:])
	} else {
		k.IPVersion = 6
		k.Src, k.Dst = src.Addr().As16(), dst.Addr().As16()
	}
	return k
}

func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch v := a.(type) {
	case *net.UDPAddr:
		ap = v.AddrPort()
	case *net.TCPAddr:
		ap = v.AddrPort()
	default:
		panic(fmt.Sprintf("unexpected address %T", a))
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
