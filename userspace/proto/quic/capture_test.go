package quic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// datagram is one UDP payload of a capture flow.
type datagram struct {
	frame     int
	dir       proto.Dir
	payload   []byte
	truncated bool
	ts        int64
}

// udpFlow is the datagrams of one UDP 5-tuple, keyed like the truth files:
// by the outermost IP/UDP header (Geneve-encapsulated QUIC is keyed by its
// tunnel), initiator = first sender.
type udpFlow struct {
	src, dst  netip.AddrPort
	datagrams []datagram
}

// readUDPFlows reads a pcap or pcapng file with gopacket and returns its
// UDP flows in order of first appearance. The payload of each datagram is
// that of the innermost UDP header, so that tunnelled QUIC is seen.
func readUDPFlows(t testing.TB, path string) []*udpFlow {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var (
		next     func() ([]byte, gopacket.CaptureInfo, error)
		linkType layers.LinkType
	)
	if len(raw) >= 4 && binary4(raw) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		next, linkType = r.ReadPacketData, r.LinkType()
	} else {
		r, err := pcapgo.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		next, linkType = r.ReadPacketData, r.LinkType()
	}
	type key struct{ a, b netip.AddrPort }
	flows := map[key]*udpFlow{}
	var order []*udpFlow
	for frame := 1; ; frame++ {
		data, ci, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s frame %d: %v", path, frame, err)
		}
		pkt := gopacket.NewPacket(data, linkType, gopacket.DecodeOptions{NoCopy: true})
		var src, dst netip.AddrPort
		var inner *layers.UDP
		var ip netip.Addr
		var ipDst netip.Addr
		for _, l := range pkt.Layers() {
			switch l := l.(type) {
			case *layers.IPv4:
				ip, _ = netip.AddrFromSlice(l.SrcIP.To4())
				ipDst, _ = netip.AddrFromSlice(l.DstIP.To4())
			case *layers.IPv6:
				ip, _ = netip.AddrFromSlice(l.SrcIP)
				ipDst, _ = netip.AddrFromSlice(l.DstIP)
			case *layers.UDP:
				if !src.IsValid() && ip.IsValid() {
					src = netip.AddrPortFrom(ip, uint16(l.SrcPort))
					dst = netip.AddrPortFrom(ipDst, uint16(l.DstPort))
				}
				inner = l
			}
		}
		if inner == nil || !src.IsValid() {
			continue
		}
		k := key{src, dst}
		if src.Compare(dst) > 0 {
			k = key{dst, src}
		}
		f := flows[k]
		if f == nil {
			f = &udpFlow{src: src, dst: dst}
			flows[k] = f
			order = append(order, f)
		}
		dir := proto.Out
		if src != f.src {
			dir = proto.In
		}
		f.datagrams = append(f.datagrams, datagram{
			frame: frame, dir: dir,
			payload:   bytes.Clone(inner.Payload),
			truncated: int(inner.Length)-8 > len(inner.Payload),
			ts:        ci.Timestamp.UnixNano(),
		})
	}
	return order
}

func binary4(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

type expectedCapture struct {
	File   string         `json:"file"`
	Source string         `json:"source"`
	Flows  []expectedFlow `json:"flows"`
}

type expectedFlow struct {
	Src          string `json:"src"`
	Sport        uint16 `json:"sport"`
	Dst          string `json:"dst"`
	Dport        uint16 `json:"dport"`
	ClientHellos []struct {
		SNI               *string  `json:"sni"`
		ALPN              []string `json:"alpn"`
		SupportedVersions []string `json:"supported_versions"`
	} `json:"client_hellos"`
	ServerHellos []struct {
		SupportedVersions []string `json:"supported_versions"`
		Ciphersuite       string   `json:"ciphersuite"`
	} `json:"server_hellos"`
	Version string `json:"version"`
	DCID    string `json:"dcid"`
	SCID    string `json:"scid"`
	JA4     string `json:"ja4"`
	JA4S    string `json:"ja4s"`
}

func loadExpected(t testing.TB) []expectedCapture {
	t.Helper()
	raw, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var caps []expectedCapture
	if err := json.Unmarshal(raw, &caps); err != nil {
		t.Fatalf("testdata/expected.json: %v", err)
	}
	return caps
}

// flowResult is what the parser produced for one capture flow.
type flowResult struct {
	hellos helloCollector
	report *Report
	done   bool
}

func runFlow(f *udpFlow) *flowResult {
	var res flowResult
	p := New(&res.hellos)
	for _, d := range f.datagrams {
		if p.Done() {
			break
		}
		p.Datagram(d.dir, d.payload, d.truncated, d.ts)
	}
	res.done = p.Done()
	_, v := p.Report()
	res.report, _ = v.(*Report)
	return &res
}

// tsharkMissed lists ClientHellos that tshark 4.0 fails to decrypt but the
// parser must find, by capture file and client address, with the reason.
var tsharkMissed = map[string]struct{ hello, why string }{
	"tcpdump_quic_vn.pcap [::1]:57406": {
		hello: `localhost ["h3"] [0xfafa 0x0304]`,
		why: "the client first sends a GREASE version (0x1a2a3a4a), then after Version " +
			"Negotiation a v1 Initial to the same DCID; tshark keeps the keys of the " +
			"first version and reports 'checktag failed' on frame 3",
	},
}

// TestCaptures decrypts the Initial packets of every QUIC capture of the
// reference set and compares the hellos with tshark 4.0's dissection, the
// header fields with tshark's, and the fingerprints with FoxIO's JA4
// results (see testdata/SOURCES).
func TestCaptures(t *testing.T) {
	for _, ec := range loadExpected(t) {
		t.Run(ec.File, func(t *testing.T) {
			flows := readUDPFlows(t, filepath.Join("testdata/captures", ec.File))
			byKey := map[string]*udpFlow{}
			for _, f := range flows {
				byKey[f.src.String()+" "+f.dst.String()] = f
			}
			listed := map[*udpFlow]bool{}
			helloOfDCID := map[string]string{}
			for _, ef := range ec.Flows {
				src, dst := addrPort(t, ef.Src, ef.Sport), addrPort(t, ef.Dst, ef.Dport)
				f := byKey[src.String()+" "+dst.String()]
				if f == nil {
					t.Errorf("flow %s -> %s not in capture", src, dst)
					continue
				}
				listed[f] = true
				checkFlow(t, f, &ef, tsharkMissed[ec.File+" "+src.String()].hello)
				if len(ef.ClientHellos) > 0 {
					ch := ef.ClientHellos[0]
					helloOfDCID[ef.DCID] = chSummary(ch.SNI, ch.ALPN, ch.SupportedVersions)
				}
			}
			// tshark follows a connection by its IDs across address
			// changes (here: the same client seen before and after a NAT)
			// and lists its ClientHello under the first 5-tuple only. The
			// parser works per flow and finds it in each; such a hello
			// must be the one tshark gave the same DCID.
			for _, f := range flows {
				if listed[f] {
					continue
				}
				res := runFlow(f)
				if len(res.hellos.clients) == 0 {
					continue
				}
				ch := res.hellos.clients[0]
				got := chSummary(ch.sni, ch.alpn, versionsHex(ch.supportedVersions))
				if want, ok := helloOfDCID[deref(res.report.DCID)]; !ok || got != want {
					t.Errorf("%s->%s: ClientHello %s (dcid %s) that tshark has on no flow",
						f.src, f.dst, got, deref(res.report.DCID))
				}
			}
		})
	}
}

func addrPort(t testing.TB, a string, p uint16) netip.AddrPort {
	addr, err := netip.ParseAddr(a)
	if err != nil {
		t.Fatalf("expected.json address %q: %v", a, err)
	}
	return netip.AddrPortFrom(addr, p)
}

// checkFlow compares one flow with its expectations; missed is a
// ClientHello tshark did not find but the parser must.
func checkFlow(t *testing.T, f *udpFlow, ef *expectedFlow, missed string) {
	t.Helper()
	name := f.src.String() + "->" + f.dst.String()
	res := runFlow(f)
	for _, err := range res.hellos.errs {
		t.Errorf("%s: delivered handshake does not parse: %v", name, err)
	}
	// tshark lists a hello once per packet that carries it (a
	// retransmitted ClientHello twice); the parser delivers the stream once.
	var gotCH []string
	for _, ch := range res.hellos.clients {
		s := chSummary(ch.sni, ch.alpn, versionsHex(ch.supportedVersions))
		if !slices.Contains(gotCH, s) {
			gotCH = append(gotCH, s)
		}
	}
	var wantCH []string
	for _, ch := range ef.ClientHellos {
		wantCH = append(wantCH, chSummary(ch.SNI, ch.ALPN, ch.SupportedVersions))
	}
	if missed != "" {
		wantCH = append(wantCH, missed)
	}
	if !slices.Equal(gotCH, wantCH) {
		t.Errorf("%s: client hellos\n got  %q\n want %q", name, gotCH, wantCH)
	}
	var gotSH, wantSH []string
	for _, sh := range res.hellos.servers {
		s := fmt.Sprintf("%v %s", versionsHex(sh.supportedVersions), fmt.Sprintf("0x%04x", sh.cipher))
		if !slices.Contains(gotSH, s) {
			gotSH = append(gotSH, s)
		}
	}
	for _, sh := range ef.ServerHellos {
		wantSH = append(wantSH, fmt.Sprintf("%v %s", sh.SupportedVersions, sh.Ciphersuite))
	}
	if !slices.Equal(gotSH, wantSH) {
		t.Errorf("%s: server hellos\n got  %q\n want %q", name, gotSH, wantSH)
	}
	if len(wantCH) > 0 && len(wantSH) > 0 && !res.done {
		t.Errorf("%s: both hellos delivered but parser not Done", name)
	}
	if ef.Version != "" {
		r := res.report
		if r == nil {
			t.Fatalf("%s: no quic report", name)
		}
		if r.Version != ef.Version || deref(r.DCID) != ef.DCID || deref(r.SCID) != ef.SCID {
			t.Errorf("%s: quic version/dcid/scid = %s %s %s, want %s %s %s", name,
				r.Version, deref(r.DCID), deref(r.SCID), ef.Version, ef.DCID, ef.SCID)
		}
	}
	if ef.JA4 != "" {
		if len(res.hellos.clients) == 0 || res.hellos.clients[0].ja4() != ef.JA4 {
			t.Errorf("%s: JA4 = %v, want %s", name, ja4s(res.hellos.clients), ef.JA4)
		}
	}
	if ef.JA4S != "" {
		if len(res.hellos.servers) == 0 || res.hellos.servers[0].ja4s() != ef.JA4S {
			var got []string
			for _, sh := range res.hellos.servers {
				got = append(got, sh.ja4s())
			}
			t.Errorf("%s: JA4S = %v, want %s", name, got, ef.JA4S)
		}
	}
}

func ja4s(chs []clientHello) []string {
	var out []string
	for _, ch := range chs {
		out = append(out, ch.ja4())
	}
	return out
}

func chSummary(sni *string, alpn, versions []string) string {
	s := "<no sni>"
	if sni != nil {
		s = *sni
	}
	return fmt.Sprintf("%s %q %v", s, alpn, versions)
}
