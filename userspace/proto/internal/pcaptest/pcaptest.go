// Package pcaptest turns capture files into what the flow pipeline hands
// the protocol parsers, for the parsers' tests: each TCP connection as the
// two byte streams of its directions (sequence order, retransmitted and
// overlapping bytes dropped, a gap where bytes are missing) and each UDP
// flow as its datagrams with their directions. It also reads the tshark
// dissections the tests compare with.
//
// It is test support only: import it from _test.go files. It is
// deliberately simpler than the pipeline (no timeouts, no reassembly
// budget, no port reuse), so that a test compares a parser with tshark and
// not with the pipeline's own reassembly.
package pcaptest

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// Event is one call the pipeline would make: a Data call of a TCP stream
// (the bytes a segment made contiguous), a Gap, or a Datagram call.
type Event struct {
	// Frame is the 1-based number of the packet in the file, as tshark
	// counts; 0 for a Gap.
	Frame int
	// TS is the packet's capture time in ns since the epoch; 0 for a Gap.
	TS  int64
	Dir proto.Dir
	// Data is the payload (a copy that the caller may keep).
	Data []byte
	// Truncated says a UDP payload is shorter than the UDP length says
	// (snap length).
	Truncated bool
	// Gap says bytes of Dir are missing from here on (TCP only). Gaps
	// come after all the data: bytes after a hole are never delivered.
	Gap bool
}

// Flow is one TCP connection or UDP flow of a capture, keyed by its
// innermost IP and TCP/UDP headers (tunnels are looked through).
type Flow struct {
	Proto string // "tcp" or "udp"
	// Src is the initiator, Dst the responder. For TCP the initiator is
	// the sender of the first SYN (the receiver of a SYN-ACK seen first);
	// otherwise, and for UDP, the first sender.
	Src, Dst netip.AddrPort
	// Outer is {source, destination} of the flow's first packet from Src
	// by its outermost headers: the first IP header's addresses with the
	// first TCP/UDP header's ports. It equals {Src, Dst} unless the flow
	// is tunnelled (the outer addresses and ports of a Geneve or VXLAN
	// tunnel, the outer addresses and inner ports of IP-in-IP or GRE).
	Outer  [2]netip.AddrPort
	Events []Event

	sawSyn   bool
	outerSet bool
	seqKnown [2]bool
	next     [2]uint32
	pending  [2]map[uint32]segment
}

// segment is TCP payload not yet delivered.
type segment struct {
	frame int
	ts    int64
	data  []byte
}

// Replay feeds a TCP flow's events to p as the pipeline would: Data with
// each event's bytes and time, then the Gaps.
func (f *Flow) Replay(p proto.Stream) {
	for _, e := range f.Events {
		if e.Gap {
			p.Gap(e.Dir)
		} else {
			p.Data(e.Dir, e.Data, e.TS)
		}
	}
}

// ReadTCP returns the TCP connections of a capture, as Read.
func ReadTCP(tb testing.TB, path string) []*Flow {
	tb.Helper()
	return only("tcp", Read(tb, path))
}

// ReadUDP returns the UDP flows of a capture, as Read.
func ReadUDP(tb testing.TB, path string) []*Flow {
	tb.Helper()
	return only("udp", Read(tb, path))
}

func only(p string, flows []*Flow) []*Flow {
	var out []*Flow
	for _, f := range flows {
		if f.Proto == p {
			out = append(out, f)
		}
	}
	return out
}

// Find returns the flow of protocol p ("tcp" or "udp") between a and b,
// in either direction, or nil.
func Find(flows []*Flow, p string, a, b netip.AddrPort) *Flow {
	for _, f := range flows {
		if f.Proto == p && (f.Src == a && f.Dst == b || f.Src == b && f.Dst == a) {
			return f
		}
	}
	return nil
}

// Read returns the TCP and UDP flows of a pcap or pcapng file in the order
// of their first packets. Packets without an IP header and a TCP or UDP
// header after it are passed over. It fails the test if the file cannot be
// read to its end.
func Read(tb testing.TB, path string) []*Flow {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	next, dec, err := packetSource(raw)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	r := reader{flows: map[key]*Flow{}}
	for frame := 1; ; frame++ {
		data, ci, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("%s frame %d: %v", path, frame, err)
		}
		r.packet(frame, ci.Timestamp.UnixNano(), gopacket.NewPacket(data, dec, gopacket.DecodeOptions{NoCopy: true}))
	}
	for _, f := range r.order {
		for d := range 2 {
			if len(f.pending[d]) > 0 {
				f.Events = append(f.Events, Event{Dir: proto.Dir(d), Gap: true})
			}
		}
	}
	return r.order
}

type key struct {
	proto  string
	lo, hi netip.AddrPort
}

type reader struct {
	flows map[key]*Flow
	order []*Flow
}

func (r *reader) packet(frame int, ts int64, pkt gopacket.Packet) {
	if eth, ok := pkt.LinkLayer().(*layers.Ethernet); ok && eth.EthernetType == 0x8909 && len(eth.Payload) > 8 {
		// Cisco MetaData (SGT), which gopacket does not decode: an 8-byte
		// header ending with the next EtherType.
		next := layers.EthernetType(uint16(eth.Payload[6])<<8 | uint16(eth.Payload[7]))
		pkt = gopacket.NewPacket(eth.Payload[8:], next, gopacket.DecodeOptions{NoCopy: true})
	}
	var src, dst netip.Addr
	var outerAddr [2]netip.Addr // of the first IP header
	var outerPort [2]uint16     // of the first TCP/UDP header
	var tcp *layers.TCP
	var udp *layers.UDP
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			src, _ = netip.AddrFromSlice(l.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(l.DstIP.To4())
			tcp, udp = nil, nil
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
			tcp, udp = nil, nil
		case *layers.TCP:
			tcp, udp = l, nil
			if src.IsValid() && outerPort == [2]uint16{} {
				outerPort = [2]uint16{uint16(l.SrcPort), uint16(l.DstPort)}
			}
		case *layers.UDP:
			tcp, udp = nil, l
			if src.IsValid() && outerPort == [2]uint16{} {
				outerPort = [2]uint16{uint16(l.SrcPort), uint16(l.DstPort)}
			}
		}
		if !outerAddr[0].IsValid() {
			outerAddr = [2]netip.Addr{src, dst}
		}
	}
	outer := [2]netip.AddrPort{netip.AddrPortFrom(outerAddr[0], outerPort[0]), netip.AddrPortFrom(outerAddr[1], outerPort[1])}
	if !src.IsValid() {
		return
	}
	switch {
	case tcp != nil:
		s, d := netip.AddrPortFrom(src, uint16(tcp.SrcPort)), netip.AddrPortFrom(dst, uint16(tcp.DstPort))
		f, dir := r.lookup("tcp", s, d, outer, tcp.SYN && !tcp.ACK, tcp.SYN && tcp.ACK)
		f.tcpSegment(frame, ts, dir, tcp)
	case udp != nil:
		s, d := netip.AddrPortFrom(src, uint16(udp.SrcPort)), netip.AddrPortFrom(dst, uint16(udp.DstPort))
		f, dir := r.lookup("udp", s, d, outer, false, false)
		f.Events = append(f.Events, Event{
			Frame: frame, TS: ts, Dir: dir,
			Data:      bytes.Clone(udp.Payload),
			Truncated: int(udp.Length)-8 > len(udp.Payload),
		})
	}
}

// lookup finds or creates the flow of a packet and returns the packet's
// direction.
func (r *reader) lookup(p string, s, d netip.AddrPort, outer [2]netip.AddrPort, syn, synAck bool) (*Flow, proto.Dir) {
	k := key{p, s, d}
	if s.Compare(d) > 0 {
		k = key{p, d, s}
	}
	f := r.flows[k]
	switch {
	case f == nil:
		f = &Flow{Proto: p, Src: s, Dst: d}
		if synAck {
			f.Src, f.Dst = d, s
		}
		r.flows[k] = f
		r.order = append(r.order, f)
	case syn && f.Src != s && len(f.Events) == 0 && !f.sawSyn:
		// The first packets were not a SYN: the SYN sender initiates.
		f.Src, f.Dst = s, d
		f.seqKnown[0], f.seqKnown[1] = f.seqKnown[1], f.seqKnown[0]
		f.next[0], f.next[1] = f.next[1], f.next[0]
		f.pending[0], f.pending[1] = f.pending[1], f.pending[0]
		f.outerSet = false
	}
	if syn {
		f.sawSyn = true
	}
	if f.Src != s {
		return f, proto.In
	}
	if !f.outerSet {
		f.Outer, f.outerSet = outer, true
	}
	return f, proto.Out
}

// tcpSegment delivers the new in-order bytes of one segment and anything
// buffered that they make contiguous, each piece with the frame and time of
// the segment it came in.
func (f *Flow) tcpSegment(frame int, ts int64, dir proto.Dir, l *layers.TCP) {
	d := int(dir)
	seq := l.Seq
	if l.SYN {
		f.seqKnown[d] = true
		f.next[d] = seq + 1
		seq++
	}
	if len(l.Payload) == 0 {
		return
	}
	if !f.seqKnown[d] {
		// The capture began mid-connection: the stream starts here.
		f.seqKnown[d] = true
		f.next[d] = seq
	}
	if f.pending[d] == nil {
		f.pending[d] = map[uint32]segment{}
	}
	if old, ok := f.pending[d][seq]; !ok || len(old.data) < len(l.Payload) {
		f.pending[d][seq] = segment{frame, ts, bytes.Clone(l.Payload)}
	}
	for progressed := true; progressed; {
		progressed = false
		for s, p := range f.pending[d] {
			off := int32(f.next[d] - s) // bytes of p already delivered
			if off < 0 {
				continue
			}
			delete(f.pending[d], s)
			if int(off) < len(p.data) {
				f.Events = append(f.Events, Event{Frame: p.frame, TS: p.ts, Dir: dir, Data: p.data[off:]})
				f.next[d] += uint32(len(p.data) - int(off))
			}
			progressed = true
		}
	}
}

func packetSource(raw []byte) (func() ([]byte, gopacket.CaptureInfo, error), gopacket.Decoder, error) {
	if ng, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions); err == nil {
		return ng.ReadPacketData, decoderFor(ng.LinkType()), nil
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, err
	}
	return r.ReadPacketData, decoderFor(r.LinkType()), nil
}

// decoderFor maps link types gopacket does not register (LINKTYPE_IPV4,
// LINKTYPE_IPV6) to its raw-IP decoder.
func decoderFor(lt layers.LinkType) gopacket.Decoder {
	switch lt {
	case layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return layers.LinkTypeRaw
	}
	return lt
}
