package tls

// Test-only capture reader: turns a pcap/pcapng file into the TCP byte
// streams the pipeline would hand the parser (each direction in sequence
// order, retransmitted bytes dropped, a gap where bytes are missing).

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

// streamEvent is one Data or Gap call.
type streamEvent struct {
	Frame int // 1-based, as tshark counts
	TS    int64
	Dir   proto.Dir
	Data  []byte
	Gap   bool
}

// tcpFlow is one TCP connection of a capture.
type tcpFlow struct {
	Src, Dst netip.AddrPort // initiator (first SYN sender, else first sender), responder
	Events   []streamEvent

	seqKnown [2]bool
	next     [2]uint32
	pending  [2]map[uint32]pendingSegment
}

type pendingSegment struct {
	frame int
	ts    int64
	data  []byte
}

// feed replays the flow into p.
func (f *tcpFlow) feed(p *Parser) {
	for _, e := range f.Events {
		if e.Gap {
			p.Gap(e.Dir)
		} else {
			p.Data(e.Dir, e.Data, e.TS)
		}
	}
}

// readTCPFlows returns the TCP connections of a capture in order of first
// appearance. Tunnels are looked through: the innermost IP and TCP
// headers define the connection.
func readTCPFlows(t testing.TB, path string) []*tcpFlow {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	next, linkType, err := packetSource(raw)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	type key struct{ lo, hi netip.AddrPort }
	flows := map[key]*tcpFlow{}
	var order []*tcpFlow
	for frame := 1; ; frame++ {
		data, ci, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s frame %d: %v", path, frame, err)
		}
		pkt := gopacket.NewPacket(data, linkType, gopacket.DecodeOptions{NoCopy: true})
		if eth, ok := pkt.LinkLayer().(*layers.Ethernet); ok && eth.EthernetType == 0x8909 && len(eth.Payload) > 8 {
			// Cisco MetaData (SGT), which gopacket does not decode: an
			// 8-byte header ending with the next EtherType.
			next := layers.EthernetType(uint16(eth.Payload[6])<<8 | uint16(eth.Payload[7]))
			pkt = gopacket.NewPacket(eth.Payload[8:], next, gopacket.DecodeOptions{NoCopy: true})
		}
		var src, dst netip.Addr
		var tcp *layers.TCP
		for _, l := range pkt.Layers() {
			switch l := l.(type) {
			case *layers.IPv4:
				src, _ = netip.AddrFromSlice(l.SrcIP.To4())
				dst, _ = netip.AddrFromSlice(l.DstIP.To4())
				tcp = nil
			case *layers.IPv6:
				src, _ = netip.AddrFromSlice(l.SrcIP)
				dst, _ = netip.AddrFromSlice(l.DstIP)
				tcp = nil
			case *layers.TCP:
				tcp = l
			}
		}
		if tcp == nil || !src.IsValid() {
			continue
		}
		s := netip.AddrPortFrom(src, uint16(tcp.SrcPort))
		d := netip.AddrPortFrom(dst, uint16(tcp.DstPort))
		k := key{s, d}
		if s.Compare(d) > 0 {
			k = key{d, s}
		}
		f := flows[k]
		if f == nil {
			f = &tcpFlow{Src: s, Dst: d}
			flows[k] = f
			order = append(order, f)
		} else if tcp.SYN && !tcp.ACK && f.Src != s && len(f.Events) == 0 {
			f.Src, f.Dst = s, d
		}
		dir := proto.Out
		if f.Src != s {
			dir = proto.In
		}
		f.segment(frame, ci.Timestamp.UnixNano(), dir, tcp)
	}
	for _, f := range order {
		for d := range 2 {
			if len(f.pending[d]) > 0 {
				f.Events = append(f.Events, streamEvent{Dir: proto.Dir(d), Gap: true})
			}
		}
	}
	return order
}

// segment delivers the new in-order bytes of one segment and anything
// buffered that they make contiguous.
func (f *tcpFlow) segment(frame int, ts int64, dir proto.Dir, l *layers.TCP) {
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
		f.seqKnown[d] = true
		f.next[d] = seq
	}
	if f.pending[d] == nil {
		f.pending[d] = map[uint32]pendingSegment{}
	}
	if old, ok := f.pending[d][seq]; !ok || len(old.data) < len(l.Payload) {
		f.pending[d][seq] = pendingSegment{frame, ts, bytes.Clone(l.Payload)}
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
				f.Events = append(f.Events, streamEvent{Frame: p.frame, TS: p.ts, Dir: dir, Data: p.data[off:]})
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
	case 228, 229:
		return layers.LinkTypeRaw
	}
	return lt
}
