package decode

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowjoy/flowjoy/userspace/event"
)

// sharedCaptures is the public capture collection the differential tests
// walk; FLOWJOY_PCAPS overrides it. Tests that need it skip when absent.
func sharedCaptures(t testing.TB) string {
	dir := os.Getenv("FLOWJOY_PCAPS")
	if dir == "" {
		dir = "/work/shared/pcaps"
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no capture collection at %s (set FLOWJOY_PCAPS)", dir)
	}
	return dir
}

// capturedPacket is one record of a capture file.
type capturedPacket struct {
	link event.LinkType
	data []byte
	ci   gopacket.CaptureInfo
}

// readCapture reads every packet of a pcap or pcapng file. ok is false
// when the file is neither; a read error part-way ends the packet list
// (what came before is kept).
func readCapture(path string) (pkts []capturedPacket, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	if r, err := pcapgo.NewReader(f); err == nil {
		link := event.LinkType(r.LinkType())
		for {
			data, ci, err := r.ReadPacketData()
			if err != nil {
				return pkts, true
			}
			pkts = append(pkts, capturedPacket{link, data, ci})
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, false
	}
	r, err := pcapgo.NewNgReader(f, pcapgo.NgReaderOptions{SkipUnknownVersion: true})
	if err != nil {
		return nil, false
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			return pkts, true
		}
		link := event.LinkType(r.LinkType())
		if intf, err := r.Interface(ci.InterfaceIndex); err == nil {
			link = event.LinkType(intf.LinkType)
		}
		pkts = append(pkts, capturedPacket{link, data, ci})
	}
}

// walkCaptures calls fn for every capture file of the collection (not
// the truth/ dissections), and returns how many files did not open.
func walkCaptures(t *testing.T, fn func(path string, pkts []capturedPacket)) (files, unopened int) {
	root := sharedCaptures(t)
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if e.Name() == "truth" {
				return filepath.SkipDir
			}
			return nil
		}
		files++
		pkts, ok := readCapture(path)
		if !ok {
			unopened++
			return nil
		}
		fn(path, pkts)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, unopened
}

// decodeChecked decodes and checks the invariants every decoded packet
// must keep, reporting the packet on a panic.
func decodeChecked(t *testing.T, d *Decoder, where string, link event.LinkType, data []byte, p *Packet) error {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: panic decoding %x: %v", where, data, r)
		}
	}()
	err := d.Decode(link, data, p)
	if err == nil {
		if msg := invariantViolation(data, p); msg != "" {
			t.Errorf("%s: %s (packet %x)", where, msg, data)
		}
	}
	return err
}

// within says whether s lies inside data (or is empty).
func within(s, data []byte) bool {
	if len(s) == 0 {
		return true
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(data))
}

func invariantViolation(data []byte, p *Packet) string {
	switch {
	case p.Key.IPVersion != 4 && p.Key.IPVersion != 6:
		return "IP version not 4 or 6"
	case uint32(len(p.Payload)) > p.PayloadLen:
		return "captured payload longer than PayloadLen"
	case uint32(len(p.IP)) > p.IPLen:
		return "IP bytes longer than IPLen"
	case !within(p.IP, data) || !within(p.Payload, data) || !within(p.TCPOptions, data):
		return "slice outside the packet"
	case len(p.Payload) > 0 && !within(p.Payload, p.IP):
		return "payload outside the IP bytes"
	case !p.Fragment && (p.FragOffset != 0 || p.MoreFragments):
		return "fragment fields without Fragment"
	case p.FragOffset != 0 && (p.TransportOK || p.PayloadLen != 0 || p.Key.SrcPort != 0 || p.Key.DstPort != 0):
		return "non-first fragment with transport facts"
	case (p.Tunnel == TunnelNone) != (p.TunnelKey.IPVersion == 0):
		return "Tunnel and TunnelKey disagree"
	case p.Key.IPVersion == 4 && uint32(20+p.IPOptionsLen) > p.IPLen:
		return "IPv4 options longer than the packet"
	case p.Key.IPVersion == 6 && uint32(40+p.IPOptionsLen) > p.IPLen:
		return "IPv6 extension headers longer than the packet"
	}
	return ""
}

// gopacketView is gopacket's reading of the first IP header of a packet
// and of the transport header right after it.
type gopacketView struct {
	ip        gopacket.Layer
	src, dst  []byte
	ttl       uint8
	proto     uint8 // upper-layer protocol after extension headers / AH
	transport gopacket.Layer
	nIP       int // IP headers in the packet (> 1: tunnelled)
	lastIP    gopacket.Layer
}

func viewOf(pkt gopacket.Packet) (v gopacketView, ok bool) {
	ls := pkt.Layers()
	first := -1
	for i, l := range ls {
		switch l := l.(type) {
		case *layers.IPv4, *layers.IPv6:
			v.nIP++
			v.lastIP = l
			if first < 0 {
				first = i
			}
		}
	}
	if first < 0 {
		return v, false
	}
	v.ip = ls[first]
	switch ip := v.ip.(type) {
	case *layers.IPv4:
		v.src, v.dst, v.ttl, v.proto = ip.SrcIP.To4(), ip.DstIP.To4(), ip.TTL, uint8(ip.Protocol)
	case *layers.IPv6:
		v.src, v.dst, v.ttl, v.proto = ip.SrcIP.To16(), ip.DstIP.To16(), ip.HopLimit, uint8(ip.NextHeader)
	}
	for _, l := range ls[first+1:] {
		switch l := l.(type) {
		case *layers.IPv6HopByHop:
			v.proto = uint8(l.NextHeader)
			continue
		case *layers.IPv6Destination:
			v.proto = uint8(l.NextHeader)
			continue
		case *layers.IPv6Routing:
			v.proto = uint8(l.NextHeader)
			continue
		case *layers.IPv6Fragment:
			v.proto = uint8(l.NextHeader)
			continue
		case *layers.IPSecAH:
			v.proto = uint8(l.NextHeader)
			continue
		case *layers.TCP, *layers.UDP, *layers.SCTP, *layers.UDPLite, *layers.ICMPv4, *layers.ICMPv6:
			v.transport = l
		}
		break
	}
	return v, true
}

// diffStats counts the differential comparison.
type diffStats struct {
	files, unopened, packets    int
	ourOK, ourNotIP, ourTrunc   int
	ourMalformed, ourUnsupp     int
	clean, compared             int
	transportCompared           int
	payloadCompared             int
	excluded                    map[string]int
	mismatches                  map[string]int
	decapCompared, decapDiffers int
}

func TestDifferentialGopacket(t *testing.T) {
	st := diffStats{excluded: map[string]int{}, mismatches: map[string]int{}}
	reported := 0
	mismatch := func(where, what string, args ...any) {
		st.mismatches[what]++
		if reported < 40 {
			reported++
			t.Errorf("%s: %s: %v", where, what, args)
		}
	}
	outer := Decoder{NoDecap: true}
	var decap Decoder
	var p, pd Packet
	st.files, st.unopened = walkCaptures(t, func(path string, pkts []capturedPacket) {
		for i, cp := range pkts {
			st.packets++
			where := path + " #" + strconv.Itoa(i+1)
			err := decodeChecked(t, &outer, where, cp.link, cp.data, &p)
			derr := decodeChecked(t, &decap, where+" (decap)", cp.link, cp.data, &pd)
			switch {
			case err == nil:
				st.ourOK++
			case errors.Is(err, ErrNotIP):
				st.ourNotIP++
			case errors.Is(err, ErrTruncated):
				st.ourTrunc++
			case errors.Is(err, ErrMalformed):
				st.ourMalformed++
			case errors.Is(err, ErrUnsupportedLink):
				st.ourUnsupp++
			}

			pkt := gopacket.NewPacket(cp.data, gopacketDecoder(cp.link), gopacket.DecodeOptions{NoCopy: true})
			if cp.ci.CaptureLength != cp.ci.Length || pkt.Metadata().Truncated {
				continue // snap length or truncation: lengths not comparable
			}
			v, ok := viewOf(pkt)
			if pkt.ErrorLayer() != nil && v.transport == nil {
				continue // gopacket failed at or below the transport header
			}
			// An error above the transport (DNS, DHCP, ...) leaves what
			// we compare decoded.
			st.clean++
			if reason := excluded(cp, pkt, v, ok); reason != "" {
				st.excluded[reason]++
				continue
			}
			if err != nil {
				mismatch(where, "gopacket decodes IP, we fail", err)
				continue
			}
			st.compared++
			compare(&st, where, &p, v, mismatch)

			// With decapsulation on, a packet we decapsulated has the
			// addresses of gopacket's innermost IP header.
			if derr == nil && pd.Tunnel != TunnelNone && v.nIP > 1 {
				st.decapCompared++
				var src, dst []byte
				switch ip := v.lastIP.(type) {
				case *layers.IPv4:
					src, dst = ip.SrcIP.To4(), ip.DstIP.To4()
				case *layers.IPv6:
					src, dst = ip.SrcIP.To16(), ip.DstIP.To16()
				}
				n := len(src)
				if string(src) != string(pd.Key.Src[:n]) || string(dst) != string(pd.Key.Dst[:n]) {
					st.decapDiffers++
					mismatch(where, "inner addresses", src, dst, pd.Key.SrcAddr(), pd.Key.DstAddr())
				}
			}
		}
	})
	t.Logf("files %d (not pcap/pcapng: %d), packets %d", st.files, st.unopened, st.packets)
	t.Logf("ours: ok %d, not IP %d, truncated %d, malformed %d, unsupported link %d", st.ourOK, st.ourNotIP, st.ourTrunc, st.ourMalformed, st.ourUnsupp)
	t.Logf("gopacket decoded IP and transport cleanly, capture complete: %d; compared %d (transport %d, payload length %d); decapsulated compared %d", st.clean, st.compared, st.transportCompared, st.payloadCompared, st.decapCompared)
	t.Logf("excluded: %v", st.excluded)
	t.Logf("mismatches: %v", st.mismatches)
	if st.compared < 10000 {
		t.Errorf("only %d packets compared: the collection or the readers changed", st.compared)
	}
}

// gopacketDecoder is gopacket's decoder for a link type. gopacket has no
// decoder registered for LINKTYPE_IPV4/IPV6 (228/229): their packets are
// plain IPv4/IPv6, decoded as such.
func gopacketDecoder(link event.LinkType) gopacket.Decoder {
	switch link {
	case event.LinkIPv4:
		return layers.LayerTypeIPv4
	case event.LinkIPv6:
		return layers.LayerTypeIPv6
	}
	return layers.LinkType(link)
}

// excluded says why a packet gopacket decoded cleanly is not compared, or
// "" to compare it. Each reason is a known difference of scope or a
// gopacket defect, checked precisely.
func excluded(cp capturedPacket, pkt gopacket.Packet, v gopacketView, ok bool) string {
	if !ok {
		return "gopacket found no IP"
	}
	// gopacket reads an IP header whatever its version field says; we
	// call that malformed.
	switch ip := v.ip.(type) {
	case *layers.IPv4:
		if ip.Version != 4 {
			return "gopacket: IPv4 with another version"
		}
	case *layers.IPv6:
		if ip.Version != 6 {
			return "gopacket: IPv6 with another version"
		}
	}
	return ""
}

func compare(st *diffStats, where string, p *Packet, v gopacketView, mismatch func(where, what string, args ...any)) {
	n := len(v.src)
	if string(v.src) != string(p.Key.Src[:n]) || string(v.dst) != string(p.Key.Dst[:n]) {
		mismatch(where, "addresses", v.src, v.dst, p.Key.SrcAddr(), p.Key.DstAddr())
		return
	}
	if v.ttl != p.TTL {
		mismatch(where, "TTL", v.ttl, p.TTL)
	}
	if v.proto != p.Key.Proto {
		mismatch(where, "protocol", v.proto, p.Key.Proto)
		return
	}
	if v.transport == nil {
		return
	}
	st.transportCompared++
	var sport, dport uint16
	var payload int
	hasPayload := false
	switch l := v.transport.(type) {
	case *layers.TCP:
		sport, dport, payload, hasPayload = uint16(l.SrcPort), uint16(l.DstPort), len(l.Payload), true
		if flags := tcpFlags(l); flags != p.TCPFlags || !p.TransportOK {
			mismatch(where, "TCP flags", flags, p.TCPFlags, p.TransportOK)
		}
		if l.Seq != p.Seq || l.Ack != p.Ack || l.Window != p.Window {
			mismatch(where, "TCP seq/ack/window", l.Seq, l.Ack, l.Window, p.Seq, p.Ack, p.Window)
		}
	case *layers.UDP:
		sport, dport, payload, hasPayload = uint16(l.SrcPort), uint16(l.DstPort), len(l.Payload), true
	case *layers.UDPLite:
		sport, dport = uint16(l.SrcPort), uint16(l.DstPort)
	case *layers.SCTP:
		sport, dport = uint16(l.SrcPort), uint16(l.DstPort)
	case *layers.ICMPv4:
		if l.TypeCode.Type() != p.ICMPType || l.TypeCode.Code() != p.ICMPCode {
			mismatch(where, "ICMP type/code", l.TypeCode, p.ICMPType, p.ICMPCode)
		}
	case *layers.ICMPv6:
		if l.TypeCode.Type() != p.ICMPType || l.TypeCode.Code() != p.ICMPCode {
			mismatch(where, "ICMPv6 type/code", l.TypeCode, p.ICMPType, p.ICMPCode)
		}
	}
	if sport != p.Key.SrcPort || dport != p.Key.DstPort {
		mismatch(where, "ports", sport, dport, p.Key.SrcPort, p.Key.DstPort)
	}
	if hasPayload {
		st.payloadCompared++
		if uint32(payload) != p.PayloadLen || len(p.Payload) != payload {
			mismatch(where, "payload length", payload, p.PayloadLen, len(p.Payload))
		}
	}
}

func tcpFlags(l *layers.TCP) uint8 {
	var f uint8
	for _, b := range []struct {
		set  bool
		flag uint8
	}{{l.FIN, TCPFin}, {l.SYN, TCPSyn}, {l.RST, TCPRst}, {l.PSH, TCPPsh}, {l.ACK, TCPAck}, {l.URG, TCPUrg}, {l.ECE, TCPEce}, {l.CWR, TCPCwr}} {
		if b.set {
			f |= b.flag
		}
	}
	return f
}
