package dns

// Test-only capture reader: turns a pcap/pcapng file into per-flow payload
// events the way the pipeline would deliver them to a parser (UDP: one
// event per datagram; TCP: each direction's bytes in sequence order without
// retransmissions, and a gap where bytes are missing). The same helper
// lives in userspace/proto/http; both are small on purpose.

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

type capEvent struct {
	Frame     int // 1-based frame number in the file, as tshark counts
	Dir       proto.Dir
	Data      []byte
	Truncated bool // UDP payload shorter than the UDP length says
	Gap       bool // TCP: bytes of Dir are missing from here on
}

type capFlow struct {
	Proto    string         // "tcp" or "udp"
	Src, Dst netip.AddrPort // initiator, responder
	Events   []capEvent

	sawSyn bool

	// TCP reassembly state per direction.
	seqKnown [2]bool
	next     [2]uint32
	pending  [2]map[uint32][]byte
	pendFrm  [2]map[uint32]int
}

type capKey struct {
	proto  string
	lo, hi netip.AddrPort
}

// readCapture returns the TCP and UDP flows of a capture in order of first
// appearance.
func readCapture(t testing.TB, path string) []*capFlow {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	next, linkType, err := packetSource(raw)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	flows := map[capKey]*capFlow{}
	var order []*capFlow
	for frame := 1; ; frame++ {
		data, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s frame %d: %v", path, frame, err)
		}
		pkt := gopacket.NewPacket(data, linkType, gopacket.DecodeOptions{NoCopy: true})
		var src, dst netip.Addr
		for _, l := range pkt.Layers() {
			switch l := l.(type) {
			case *layers.IPv4:
				src, _ = netip.AddrFromSlice(l.SrcIP.To4())
				dst, _ = netip.AddrFromSlice(l.DstIP.To4())
			case *layers.IPv6:
				src, _ = netip.AddrFromSlice(l.SrcIP)
				dst, _ = netip.AddrFromSlice(l.DstIP)
			case *layers.UDP:
				if !src.IsValid() {
					continue
				}
				s := netip.AddrPortFrom(src, uint16(l.SrcPort))
				d := netip.AddrPortFrom(dst, uint16(l.DstPort))
				f, dir := lookup(flows, &order, "udp", s, d, false, false)
				payload := l.Payload
				wire := int(l.Length) - 8
				f.Events = append(f.Events, capEvent{
					Frame: frame, Dir: dir,
					Data:      bytes.Clone(payload),
					Truncated: wire > len(payload),
				})
			case *layers.TCP:
				if !src.IsValid() {
					continue
				}
				s := netip.AddrPortFrom(src, uint16(l.SrcPort))
				d := netip.AddrPortFrom(dst, uint16(l.DstPort))
				f, dir := lookup(flows, &order, "tcp", s, d, l.SYN && !l.ACK, l.SYN && l.ACK)
				f.tcpSegment(frame, dir, l)
			}
		}
	}
	for _, f := range order {
		if f.Proto == "tcp" {
			for d := range 2 {
				if len(f.pending[d]) > 0 {
					f.Events = append(f.Events, capEvent{Dir: proto.Dir(d), Gap: true})
				}
			}
		}
	}
	return order
}

// lookup finds or creates the flow of a packet and returns the packet's
// direction. The initiator is the first SYN sender; a flow first seen in a
// SYN-ACK was initiated by its receiver; otherwise it is the first sender.
func lookup(flows map[capKey]*capFlow, order *[]*capFlow, p string, s, d netip.AddrPort, syn, synAck bool) (*capFlow, proto.Dir) {
	k := capKey{p, s, d}
	if s.Compare(d) > 0 {
		k = capKey{p, d, s}
	}
	f := flows[k]
	switch {
	case f == nil:
		f = &capFlow{Proto: p, Src: s, Dst: d}
		if synAck {
			f.Src, f.Dst = d, s
		}
		flows[k] = f
		*order = append(*order, f)
	case syn && f.Src != s && len(f.Events) == 0 && !f.sawSyn:
		// The first packets were not a SYN: the SYN sender initiates.
		f.Src, f.Dst = s, d
		f.seqKnown[0], f.seqKnown[1] = f.seqKnown[1], f.seqKnown[0]
		f.next[0], f.next[1] = f.next[1], f.next[0]
		f.pending[0], f.pending[1] = f.pending[1], f.pending[0]
		f.pendFrm[0], f.pendFrm[1] = f.pendFrm[1], f.pendFrm[0]
	}
	if syn {
		f.sawSyn = true
	}
	if f.Src == s {
		return f, proto.Out
	}
	return f, proto.In
}

// tcpSegment delivers the new in-order bytes of one segment and anything
// buffered that they make contiguous.
func (f *capFlow) tcpSegment(frame int, dir proto.Dir, l *layers.TCP) {
	d := int(dir)
	seq := l.Seq
	if l.SYN {
		f.seqKnown[d] = true
		f.next[d] = seq + 1
		seq++
	}
	payload := l.Payload
	if len(payload) == 0 {
		return
	}
	if !f.seqKnown[d] {
		f.seqKnown[d] = true
		f.next[d] = seq
	}
	if f.pending[d] == nil {
		f.pending[d] = map[uint32][]byte{}
		f.pendFrm[d] = map[uint32]int{}
	}
	if old, ok := f.pending[d][seq]; !ok || len(old) < len(payload) {
		f.pending[d][seq] = bytes.Clone(payload)
		f.pendFrm[d][seq] = frame
	}
	for progressed := true; progressed; {
		progressed = false
		for s, p := range f.pending[d] {
			off := int32(f.next[d] - s) // octets of p already delivered
			if off < 0 {
				continue
			}
			delete(f.pending[d], s)
			if int(off) < len(p) {
				f.Events = append(f.Events, capEvent{Frame: f.pendFrm[d][s], Dir: dir, Data: p[off:]})
				f.next[d] += uint32(len(p) - int(off))
			}
			progressed = true
		}
	}
}

func packetSource(raw []byte) (func() ([]byte, error), gopacket.Decoder, error) {
	if ng, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions); err == nil {
		return func() ([]byte, error) {
			data, _, err := ng.ReadPacketData()
			return data, err
		}, decoderFor(ng.LinkType()), nil
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, err
	}
	return func() ([]byte, error) {
		data, _, err := r.ReadPacketData()
		return data, err
	}, decoderFor(r.LinkType()), nil
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
