package pcaptest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

var base = time.Unix(1700000000, 0)

// frame is one packet to write: its layers, and how many bytes of its
// end the capture cuts off (snap length).
type frame struct {
	layers []gopacket.SerializableLayer
	cut    int
}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.TCP:
			for _, n := range ls {
				if ip, ok := n.(gopacket.NetworkLayer); ok {
					l.SetNetworkLayerForChecksum(ip)
				}
			}
		case *layers.UDP:
			for _, n := range ls {
				if ip, ok := n.(gopacket.NetworkLayer); ok {
					l.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writePcap writes frames as a pcap file; frame i (1-based) is stamped
// base + i ms.
func writePcap(t *testing.T, lt layers.LinkType, frames []frame) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		b := serialize(t, fr.layers...)
		ci := gopacket.CaptureInfo{Timestamp: frameTime(i + 1), CaptureLength: len(b) - fr.cut, Length: len(b)}
		if err := w.WritePacket(ci, b[:len(b)-fr.cut]); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func frameTime(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }

func eth(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: typ}
}

func ip4(src, dst string, p layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

// tcpFrame is an Ethernet/IPv4/TCP packet; flags holds "S" and/or "A".
func tcpFrame(src, dst string, sport, dport int, seq uint32, flags, payload string) frame {
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Window: 65535,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A")}
	return frame{layers: []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(src, dst, layers.IPProtocolTCP), tcp, gopacket.Payload(payload)}}
}

func ev(frameNo int, dir proto.Dir, data string) Event {
	return Event{Frame: frameNo, TS: frameTime(frameNo).UnixNano(), Dir: dir, Data: []byte(data)}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestTCPStreams checks reassembly: out-of-order segments wait for the
// hole before them, retransmitted and overlapping bytes are delivered
// once, each piece carries the frame and time of the segment it came in,
// and a hole never filled ends its direction with a Gap.
func TestTCPStreams(t *testing.T) {
	c, s := "10.0.0.1", "10.0.0.2"
	arp := frame{layers: []gopacket.SerializableLayer{eth(layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: 1, SourceHwAddress: []byte{2, 0, 0, 0, 0, 1}, SourceProtAddress: []byte{10, 0, 0, 1},
		DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}}}}
	path := writePcap(t, layers.LinkTypeEthernet, []frame{
		tcpFrame(s, c, 80, 40000, 5000, "SA", ""), // 1: the capture starts after the SYN
		arp, // 2: not IP: passed over, but counted
		tcpFrame(c, s, 40000, 80, 1001, "A", "hello "),   // 3
		tcpFrame(c, s, 40000, 80, 1013, "A", "world"),    // 4: ahead of a hole
		tcpFrame(c, s, 40000, 80, 1007, "A", "brave "),   // 5: fills it
		tcpFrame(c, s, 40000, 80, 1001, "A", "hello br"), // 6: retransmission
		tcpFrame(c, s, 40000, 80, 1015, "A", "rld!!"),    // 7: overlaps; "!!" is new
		tcpFrame(s, c, 80, 40000, 5001, "A", "HTTP"),     // 8
		tcpFrame(s, c, 80, 40000, 5010, "A", "lost"),     // 9: after a hole never filled
		// A connection first seen in a packet of its responder: the SYN
		// that follows names the initiator.
		tcpFrame("10.0.0.4", "10.0.0.3", 22, 5555, 7000, "A", ""), // 10
		tcpFrame("10.0.0.3", "10.0.0.4", 5555, 22, 100, "S", ""),  // 11
		tcpFrame("10.0.0.3", "10.0.0.4", 5555, 22, 101, "A", "x"), // 12
		// No handshake at all: the first sender initiates.
		tcpFrame("10.0.0.6", "10.0.0.5", 443, 6000, 9, "A", "mid"), // 13
	})
	flows := readFlows(t, path, 3)
	f := flows[0]
	checkEnds(t, f, "tcp 10.0.0.1:40000 -> 10.0.0.2:80") // the SYN-ACK's receiver initiates
	if f.Outer != [2]netip.AddrPort{f.Src, f.Dst} {
		t.Errorf("outer %v of an untunnelled flow, want its own endpoints", f.Outer)
	}
	want := []Event{
		ev(3, proto.Out, "hello "), ev(5, proto.Out, "brave "), ev(4, proto.Out, "world"), ev(7, proto.Out, "!!"),
		ev(8, proto.In, "HTTP"),
		{Dir: proto.In, Gap: true},
	}
	if !reflect.DeepEqual(f.Events, want) {
		t.Errorf("events\n got %+v\nwant %+v", f.Events, want)
	}
	if f := flows[1]; f.Src != ap("10.0.0.3:5555") || !reflect.DeepEqual(f.Events, []Event{ev(12, proto.Out, "x")}) {
		t.Errorf("flow 2 = %v -> %v %+v, want the SYN sender 10.0.0.3:5555 to initiate and send x", f.Src, f.Dst, f.Events)
	}
	if f := flows[2]; f.Src != ap("10.0.0.6:443") || !reflect.DeepEqual(f.Events, []Event{ev(13, proto.Out, "mid")}) {
		t.Errorf("flow 3 = %v -> %v %+v, want the first sender to initiate", f.Src, f.Dst, f.Events)
	}
}

// readFlows reads a capture and fails unless it holds n flows.
func readFlows(t *testing.T, path string, n int) []*Flow {
	t.Helper()
	flows := Read(t, path)
	if len(flows) != n {
		t.Fatalf("%d flows, want %d", len(flows), n)
	}
	return flows
}

// checkEnds compares a flow's protocol and endpoints with want,
// "PROTO SRC -> DST".
func checkEnds(t *testing.T, f *Flow, want string) {
	t.Helper()
	if got := fmt.Sprintf("%s %v -> %v", f.Proto, f.Src, f.Dst); got != want {
		t.Errorf("flow %s, want %s", got, want)
	}
}

// recorder is a proto.Stream that logs its calls.
type recorder struct{ calls []string }

func (r *recorder) Data(dir proto.Dir, data []byte, ts int64) {
	r.calls = append(r.calls, string(rune('0'+dir))+" "+string(data)+" "+time.Unix(0, ts).UTC().Format("05.000"))
}
func (r *recorder) Gap(dir proto.Dir)         { r.calls = append(r.calls, string(rune('0'+dir))+" gap") }
func (r *recorder) Done() bool                { return false }
func (r *recorder) Report() (string, any)     { return "", nil }
func (r *recorder) String() string            { return strings.Join(r.calls, "|") }
func (r *recorder) equal(want ...string) bool { return slices.Equal(r.calls, want) }

func TestReplay(t *testing.T) {
	f := &Flow{Proto: "tcp", Events: []Event{
		ev(1, proto.Out, "ab"), ev(2, proto.In, "c"), {Dir: proto.Out, Gap: true},
	}}
	var r recorder
	f.Replay(&r)
	if !r.equal("0 ab 20.001", "1 c 20.002", "0 gap") {
		t.Errorf("calls %s", &r)
	}
}

func udpFrame6(src, dst string, sport, dport int, payload string, cut int) frame {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	return frame{layers: []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ip, udp, gopacket.Payload(payload)}, cut: cut}
}

// TestUDPDatagrams checks directions (first sender initiates), that a
// datagram cut by the snap length is marked truncated with what was
// captured, and that TCP and UDP flows between the same ports differ.
func TestUDPDatagrams(t *testing.T) {
	c, s := "fd00::1", "fd00::2"
	path := writePcap(t, layers.LinkTypeEthernet, []frame{
		udpFrame6(c, s, 53000, 53, "query", 0),
		udpFrame6(s, c, 53, 53000, "answer", 0),
		udpFrame6(s, c, 53, 53000, "long answer", 4),
	})
	flows := readFlows(t, path, 1)
	f := flows[0]
	checkEnds(t, f, "udp [fd00::1]:53000 -> [fd00::2]:53")
	long := ev(3, proto.In, "long an")
	long.Truncated = true
	want := []Event{ev(1, proto.Out, "query"), ev(2, proto.In, "answer"), long}
	if !reflect.DeepEqual(f.Events, want) {
		t.Errorf("events\n got %+v\nwant %+v", f.Events, want)
	}
	if Find(flows, "udp", f.Dst, f.Src) != f || Find(flows, "udp", f.Src, f.Dst) != f || Find(flows, "tcp", f.Src, f.Dst) != nil {
		t.Error("Find does not find the flow by its endpoints in either order, or finds it as TCP")
	}
	if len(ReadTCP(t, path)) != 0 || len(ReadUDP(t, path)) != 1 {
		t.Error("ReadTCP and ReadUDP do not select by protocol")
	}
}

// TestTunnels checks that flows are keyed by their innermost headers and
// that Outer holds the tunnel's.
func TestTunnels(t *testing.T) {
	udp := func(sport, dport int) *layers.UDP {
		return &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	}
	path := writePcap(t, layers.LinkTypeEthernet, []frame{
		// IPv4 in IPv4.
		{layers: []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolIPv4),
			ip4("10.1.0.1", "10.1.0.2", layers.IPProtocolUDP), udp(1234, 4321), gopacket.Payload("ipip")}},
		// VXLAN: Ethernet in UDP.
		{layers: []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolUDP),
			udp(50000, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 7}, eth(layers.EthernetTypeIPv4),
			ip4("10.2.0.1", "10.2.0.2", layers.IPProtocolUDP), udp(1111, 2222), gopacket.Payload("vxlan")}},
		// The answer through the same tunnel.
		{layers: []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4("192.0.2.2", "192.0.2.1", layers.IPProtocolUDP),
			udp(50000, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 7}, eth(layers.EthernetTypeIPv4),
			ip4("10.2.0.2", "10.2.0.1", layers.IPProtocolUDP), udp(2222, 1111), gopacket.Payload("back")}},
	})
	flows := readFlows(t, path, 2)
	for i, want := range []struct {
		src, dst, outSrc, outDst string
		events                   []Event
	}{
		{"10.1.0.1:1234", "10.1.0.2:4321", "192.0.2.1:1234", "192.0.2.2:4321", []Event{ev(1, proto.Out, "ipip")}},
		{"10.2.0.1:1111", "10.2.0.2:2222", "192.0.2.1:50000", "192.0.2.2:4789", []Event{ev(2, proto.Out, "vxlan"), ev(3, proto.In, "back")}},
	} {
		f := flows[i]
		if f.Src != ap(want.src) || f.Dst != ap(want.dst) || f.Outer != [2]netip.AddrPort{ap(want.outSrc), ap(want.outDst)} {
			t.Errorf("flow %d = %v -> %v outer %v, want %s -> %s outer [%s %s]", i+1, f.Src, f.Dst, f.Outer, want.src, want.dst, want.outSrc, want.outDst)
		}
		if !reflect.DeepEqual(f.Events, want.events) {
			t.Errorf("flow %d events %+v, want %+v", i+1, f.Events, want.events)
		}
	}
}

// TestPcapngRawIP reads a pcapng file of link type LINKTYPE_IPV4, which
// gopacket has no decoder for.
func TestPcapngRawIP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{LinkType: layers.LinkTypeIPv4, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	b := serialize(t, ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("raw"))
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: frameTime(1), CaptureLength: len(b), Length: len(b)}, b); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	flows := Read(t, path)
	if len(flows) != 1 || flows[0].Src != ap("10.0.0.1:1") || !reflect.DeepEqual(flows[0].Events, []Event{ev(1, proto.Out, "raw")}) {
		t.Errorf("flows %+v", flows)
	}
}

// fatalTB records a Fatal instead of failing the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()                   {}
func (f *fatalTB) Fatal(args ...any)         { f.msg = fmt.Sprint(args...); runtime.Goexit() }
func (f *fatalTB) Fatalf(s string, a ...any) { f.msg = fmt.Sprintf(s, a...); runtime.Goexit() }

// fatal runs fn with a fatalTB and returns the message it failed with.
func fatal(fn func(tb testing.TB)) string {
	tb := &fatalTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(tb)
	}()
	<-done
	return tb.msg
}

func TestReadFailures(t *testing.T) {
	dir := t.TempDir()
	notCapture := filepath.Join(dir, "x.pcap")
	if err := os.WriteFile(notCapture, []byte("this is not a capture file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := fatal(func(tb testing.TB) { Read(tb, notCapture) }); !strings.Contains(msg, "open "+notCapture) {
		t.Errorf("not a capture: failed with %q", msg)
	}
	if msg := fatal(func(tb testing.TB) { Read(tb, filepath.Join(dir, "missing.pcap")) }); !strings.Contains(msg, "read ") {
		t.Errorf("missing file: failed with %q", msg)
	}
	// A file cut in the middle of a packet is an error, not an end.
	good := writePcap(t, layers.LinkTypeEthernet, []frame{tcpFrame("10.0.0.1", "10.0.0.2", 1, 2, 0, "A", "data")})
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(cut, b[:len(b)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := fatal(func(tb testing.TB) { Read(tb, cut) }); !strings.Contains(msg, "frame 1") {
		t.Errorf("cut file: failed with %q", msg)
	}
}

func TestReadTSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.tsv")
	if err := os.WriteFile(path, []byte("frame.number\tdns.qry.name\n1\texample.com\n2\t\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rows := ReadTSV(t, path)
	want := []map[string]string{{"frame.number": "1", "dns.qry.name": "example.com"}, {"frame.number": "2", "dns.qry.name": ""}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	if err := os.WriteFile(path, []byte("a\tb\n1\t2\t3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := fatal(func(tb testing.TB) { ReadTSV(tb, path) }); !strings.Contains(msg, ":2: 3 fields, header has 2") {
		t.Errorf("bad line: failed with %q", msg)
	}
}

func TestTruthNames(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"zeek/a.pcap.json", "zeek/dns/b.pcapng.json", "joy/c.pcap.json", "top.json", "zeek/README"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		body := `{"n": 1}`
		if !strings.HasSuffix(p, ".json") {
			body = "not JSON"
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	names := TruthNames(t, dir)
	if want := []string{"joy/c.pcap", "zeek/a.pcap", "zeek/dns/b.pcapng"}; !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	var v struct{ N int }
	ReadJSON(t, filepath.Join(dir, names[0]+".json"), &v)
	if v.N != 1 {
		t.Errorf("ReadJSON: %+v", v)
	}
	if msg := fatal(func(tb testing.TB) { ReadJSON(tb, filepath.Join(dir, "zeek/README"), &v) }); msg == "" {
		t.Error("ReadJSON of a file that is not JSON did not fail")
	}
}

func TestEachTruth(t *testing.T) {
	truthDir, captureDir := t.TempDir(), t.TempDir()
	capture := writePcap(t, layers.LinkTypeEthernet, []frame{udpFrame6("fd00::1", "fd00::2", 1, 2, "x", 0)})
	if err := os.MkdirAll(filepath.Join(captureDir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(truthDir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(captureDir, "src", "c.pcap"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	truth := `{"flows": [{"proto": "udp", "src": "fd00::1", "sport": 1, "dst": "fd00::2", "dport": 2}]}`
	if err := os.WriteFile(filepath.Join(truthDir, "src", "c.pcap.json"), []byte(truth), 0o644); err != nil {
		t.Fatal(err)
	}
	type file struct{ Flows []TruthFlow }
	var calls []string
	EachTruth(t, truthDir, captureDir, func(t *testing.T, name string, truth *file, flows []*Flow) {
		if len(truth.Flows) != 1 {
			t.Fatalf("truth %+v", truth)
		}
		src, dst := truth.Flows[0].Endpoints()
		f := Find(flows, truth.Flows[0].Proto, src, dst)
		calls = append(calls, fmt.Sprintf("%s %s %v %v %v", t.Name(), name, src, dst, f != nil && f == flows[0]))
	})
	if want := []string{"TestEachTruth/src/c.pcap src/c.pcap [fd00::1]:1 [fd00::2]:2 true"}; !slices.Equal(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
}
