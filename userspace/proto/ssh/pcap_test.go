package ssh

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// This file is the test-only way from a capture to what the pipeline
// would hand the parser: the payload of each TCP direction, in stream
// order, without repeats, in the order the packets completed it.

type endpoint struct {
	addr netip.Addr
	port uint16
}

func (e endpoint) String() string { return netip.AddrPortFrom(e.addr, e.port).String() }

// chunk is one Data call.
type chunk struct {
	dir  proto.Dir
	data []byte
}

// tcpFlow is one TCP connection of a capture.
type tcpFlow struct {
	initiator, responder endpoint
	chunks               []chunk
	gap                  [2]bool
	half                 [2]halfStream
}

// halfStream reassembles one direction.
type halfStream struct {
	started bool
	next    uint32            // next expected sequence number
	ahead   map[uint32][]byte // out-of-order segments by sequence number
}

// segment takes one segment and returns the bytes that became deliverable
// in order.
func (h *halfStream) segment(seq uint32, syn bool, payload []byte) []byte {
	if syn {
		h.started, h.next = true, seq+1
		return nil
	}
	if len(payload) == 0 {
		return nil
	}
	if !h.started {
		// The capture began mid-connection: the stream starts here.
		h.started, h.next = true, seq
	}
	var out []byte
	h.add(seq, payload)
	for {
		progressed := false
		for s, p := range h.ahead {
			d := int32(h.next - s)
			if d < 0 {
				continue // still ahead
			}
			delete(h.ahead, s)
			if int(d) < len(p) {
				out = append(out, p[d:]...)
				h.next += uint32(len(p) - int(d))
			}
			progressed = true
		}
		if !progressed {
			return out
		}
	}
}

func (h *halfStream) add(seq uint32, p []byte) {
	if h.ahead == nil {
		h.ahead = make(map[uint32][]byte)
	}
	if old, ok := h.ahead[seq]; !ok || len(old) < len(p) {
		h.ahead[seq] = append([]byte(nil), p...)
	}
}

// readTCPFlows returns the TCP connections of a capture in order of their
// first packet. The innermost IP/TCP headers count (tunnels are opened).
func readTCPFlows(t testing.TB, path string) []*tcpFlow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var dec gopacket.Decoder = r.LinkType()
	switch r.LinkType() {
	case layers.LinkTypeIPv4: // LINKTYPE_IPV4: gopacket has no decoder registered
		dec = layers.LayerTypeIPv4
	case layers.LinkTypeIPv6:
		dec = layers.LayerTypeIPv6
	}
	src := gopacket.NewPacketSource(r, dec)
	src.DecodeOptions = gopacket.DecodeOptions{Lazy: false, NoCopy: true}

	type key struct{ a, b endpoint }
	byKey := map[key]*tcpFlow{}
	var flows []*tcpFlow
	for pkt := range src.Packets() {
		var tcp *layers.TCP
		var srcIP, dstIP netip.Addr
		for _, l := range pkt.Layers() {
			switch l := l.(type) {
			case *layers.IPv4:
				srcIP, _ = netip.AddrFromSlice(l.SrcIP.To4())
				dstIP, _ = netip.AddrFromSlice(l.DstIP.To4())
			case *layers.IPv6:
				srcIP, _ = netip.AddrFromSlice(l.SrcIP)
				dstIP, _ = netip.AddrFromSlice(l.DstIP)
			case *layers.TCP:
				tcp = l
			}
		}
		if tcp == nil || !srcIP.IsValid() {
			continue
		}
		s := endpoint{srcIP, uint16(tcp.SrcPort)}
		d := endpoint{dstIP, uint16(tcp.DstPort)}
		fl := byKey[key{s, d}]
		if fl == nil {
			fl = byKey[key{d, s}]
		}
		if fl == nil {
			fl = &tcpFlow{initiator: s, responder: d}
			if tcp.SYN && tcp.ACK {
				fl.initiator, fl.responder = d, s
			}
			byKey[key{s, d}] = fl
			flows = append(flows, fl)
		}
		dir := proto.Out
		if s == fl.responder {
			dir = proto.In
		}
		if data := fl.half[dir].segment(tcp.Seq, tcp.SYN, tcp.Payload); len(data) > 0 {
			fl.chunks = append(fl.chunks, chunk{dir, data})
		}
	}
	for _, fl := range flows {
		for d := range fl.half {
			fl.gap[d] = len(fl.half[d].ahead) > 0
		}
	}
	return flows
}

// feed runs a parser over a flow as the pipeline would.
func feed(p *Parser, fl *tcpFlow) {
	for _, c := range fl.chunks {
		p.Data(c.dir, c.data, 0)
	}
	for d, g := range fl.gap {
		if g {
			p.Gap(proto.Dir(d))
		}
	}
}

// tsharkRow is one line of a testdata/tshark TSV: one frame as tshark
// dissected it.
type tsharkRow map[string]string

func readTshark(t testing.TB, path string) []tsharkRow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	header := strings.Split(lines[0], "\t")
	var rows []tsharkRow
	for i, line := range lines[1:] {
		vals := strings.Split(line, "\t")
		if len(vals) != len(header) {
			t.Fatalf("%s:%d: %d fields, header has %d", path, i+2, len(vals), len(header))
		}
		row := tsharkRow{}
		for j, h := range header {
			row[h] = vals[j]
		}
		rows = append(rows, row)
	}
	return rows
}

func (r tsharkRow) src() endpoint { return r.endpoint("src", "tcp.srcport") }
func (r tsharkRow) dst() endpoint { return r.endpoint("dst", "tcp.dstport") }

func (r tsharkRow) endpoint(which, portField string) endpoint {
	s := r["ip."+which]
	if s == "" {
		s = r["ipv6."+which]
	}
	// A tunnel gives one address per header; the innermost is last.
	s = s[strings.LastIndexByte(s, '|')+1:]
	ports := r[portField]
	ports = ports[strings.LastIndexByte(ports, '|')+1:]
	var port uint16
	fmt.Sscan(ports, &port)
	return endpoint{netip.MustParseAddr(s), port}
}

// tsharkSide is what tshark saw of one direction of an SSH connection.
type tsharkSide struct {
	protocol string
	codes    []int
	kexinit  tsharkRow // the frame with the first KEXINIT
	fields   map[string]string
}

// first returns the first non-empty value of a field in the direction.
func (s *tsharkSide) first(field string) string { return s.fields[field] }

// tsharkFlows groups rows by connection and direction. collapseRepeats
// drops a frame identical to the previous one of its direction: tshark
// dissects retransmissions again, the parser sees the bytes once.
func tsharkFlows(rows []tsharkRow, collapseRepeats bool) map[[2]endpoint]*[2]tsharkSide {
	out := map[[2]endpoint]*[2]tsharkSide{}
	last := map[[2]endpoint]string{}
	for _, r := range rows {
		s, d := r.src(), r.dst()
		k := [2]endpoint{s, d}
		sides := out[k]
		if sides == nil {
			sides = out[[2]endpoint{d, s}]
			if sides != nil {
				k = [2]endpoint{d, s}
			}
		}
		if sides == nil {
			sides = &[2]tsharkSide{}
			out[k] = sides
		}
		// Index 0 is the first sender seen by tshark; the test maps it to
		// the parser's directions by address.
		i := 0
		if s != k[0] {
			i = 1
		}
		side := &sides[i]
		if side.fields == nil {
			side.fields = map[string]string{}
		}
		sig := fmt.Sprint(r)
		if collapseRepeats && last[[2]endpoint{s, d}] == sig {
			continue
		}
		last[[2]endpoint{s, d}] = sig
		for f, v := range r {
			if v != "" && side.fields[f] == "" {
				side.fields[f] = v
			}
		}
		if side.protocol == "" {
			side.protocol = r["ssh.protocol"]
		}
		if c := r["ssh.message_code"]; c != "" {
			for _, code := range strings.Split(c, "|") {
				if slices.Contains(side.codes, msgNewkeys) {
					// Encrypted from here (RFC 4253 §7.3). tshark 4.0 still
					// reads codes out of AES-GCM packets, whose length
					// field stays in the clear.
					break
				}
				var n int
				fmt.Sscan(code, &n)
				side.codes = append(side.codes, n)
				if n == msgKexinit && side.kexinit == nil {
					side.kexinit = r
				}
			}
		}
	}
	return out
}

// sortedKeys is for stable test names.
func sortedKeys(m map[[2]endpoint]*[2]tsharkSide) [][2]endpoint {
	var keys [][2]endpoint
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0].String()+keys[i][1].String() < keys[j][0].String()+keys[j][1].String()
	})
	return keys
}
