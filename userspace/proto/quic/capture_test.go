package quic

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto/internal/pcaptest"
	"github.com/flowjoy/flowjoy/userspace/proto/tls"
)

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
	var caps []expectedCapture
	pcaptest.ReadJSON(t, "testdata/expected.json", &caps)
	return caps
}

// flowResult is what the parser produced for one capture flow, with the
// tls package's reading of the handshake it delivered (a test-only use:
// the quic package itself must not import tls).
type flowResult struct {
	tls    *tls.Object // nil: no handshake message delivered
	report *Report
	done   bool
}

func runFlow(f *pcaptest.Flow) *flowResult {
	var res flowResult
	hs := tls.NewQUIC()
	p := New(hs)
	for _, d := range f.Events {
		if p.Done() {
			break
		}
		p.Datagram(d.Dir, d.Data, d.Truncated, d.TS)
	}
	res.done = p.Done()
	_, v := p.Report()
	res.report, _ = v.(*Report)
	_, o := hs.Report()
	res.tls, _ = o.(*tls.Object)
	return &res
}

// clientHello summarises the delivered ClientHello as chSummary does
// tshark's; "" if there was none.
func (r *flowResult) clientHello() string {
	o := r.tls
	if o == nil || len(o.CRandom) == 0 {
		return ""
	}
	var sni *string
	if len(o.SNI) > 0 {
		s := string(o.SNI[0])
		sni = &s
	}
	var alpn []string
	for _, a := range o.CALPN {
		alpn = append(alpn, string(a))
	}
	versions := []string{}
	for _, v := range o.CSupportedVersions {
		versions = append(versions, "0x"+v)
	}
	return chSummary(sni, alpn, versions)
}

// serverHello summarises the delivered ServerHello as tshark's are
// ("[supported_versions] ciphersuite"); "" if there was none.
func (r *flowResult) serverHello() string {
	o := r.tls
	if o == nil || o.SCS == "" {
		return ""
	}
	versions := []string{}
	if o.SSupportedVersion != "" {
		versions = append(versions, "0x"+o.SSupportedVersion)
	}
	return fmt.Sprintf("%v 0x%s", versions, o.SCS)
}

// ja4s computes FoxIO's JA4S of the delivered ServerHello (the tls
// package computes no JA4S): q, the selected version, the number of
// extensions, the first and last character of the ALPN, the cipher suite
// and a hash of the extension types in wire order.
func (r *flowResult) ja4s() string {
	o := r.tls
	if o == nil || o.SCS == "" {
		return ""
	}
	var exts []string
	for _, e := range o.SExtensions {
		exts = append(exts, fmt.Sprintf("%04x", e.Type))
	}
	version := map[string]string{"0304": "13", "0303": "12", "0302": "11", "0301": "10", "0300": "s3"}[o.SSupportedVersion]
	if version == "" {
		version = "00"
	}
	alpn := "00"
	if a := string(o.SALPN); a != "" {
		alnum := func(c byte) bool {
			return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		}
		alpn = a[:1] + a[len(a)-1:]
		if !alnum(a[0]) || !alnum(a[len(a)-1]) {
			h := hex.EncodeToString([]byte(a))
			alpn = h[:1] + h[len(h)-1:]
		}
	}
	hash := "000000000000"
	if len(exts) > 0 {
		sum := sha256.Sum256([]byte(strings.Join(exts, ",")))
		hash = hex.EncodeToString(sum[:])[:12]
	}
	return fmt.Sprintf("q%s%02d%s_%s_%s", version, min(len(exts), 99), alpn, o.SCS, hash)
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
			flows := pcaptest.ReadUDP(t, filepath.Join("testdata/captures", ec.File))
			byKey := map[[2]netip.AddrPort]*pcaptest.Flow{}
			for _, f := range flows {
				byKey[f.Outer] = f
			}
			listed := map[*pcaptest.Flow]bool{}
			helloOfDCID := map[string]string{}
			for _, ef := range ec.Flows {
				src, dst := addrPort(t, ef.Src, ef.Sport), addrPort(t, ef.Dst, ef.Dport)
				f := byKey[[2]netip.AddrPort{src, dst}]
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
				got := res.clientHello()
				if got == "" {
					continue
				}
				if want, ok := helloOfDCID[deref(res.report.DCID)]; !ok || got != want {
					t.Errorf("%s->%s: ClientHello %s (dcid %s) that tshark has on no flow",
						f.Outer[0], f.Outer[1], got, deref(res.report.DCID))
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
func checkFlow(t *testing.T, f *pcaptest.Flow, ef *expectedFlow, missed string) {
	t.Helper()
	name := f.Outer[0].String() + "->" + f.Outer[1].String()
	res := runFlow(f)
	if res.tls != nil {
		for _, err := range res.tls.ParseErrors {
			t.Errorf("%s: delivered handshake does not parse: %v", name, err)
		}
	}
	// tshark lists a hello once per packet that carries it (a
	// retransmitted ClientHello twice); the parser delivers the stream
	// once, and the tls parser reports its first ClientHello and
	// ServerHello.
	var gotCH []string
	if s := res.clientHello(); s != "" {
		gotCH = append(gotCH, s)
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
	if s := res.serverHello(); s != "" {
		gotSH = append(gotSH, s)
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
	// JA4 and JA4S hash every cipher, extension and signature algorithm,
	// and so prove the reassembled hellos byte-exact.
	if ef.JA4 != "" {
		if res.tls == nil || res.tls.JA4 != ef.JA4 {
			got := ""
			if res.tls != nil {
				got = res.tls.JA4
			}
			t.Errorf("%s: JA4 = %q, want %s", name, got, ef.JA4)
		}
	}
	if ef.JA4S != "" {
		if got := res.ja4s(); got != ef.JA4S {
			t.Errorf("%s: JA4S = %q, want %s", name, got, ef.JA4S)
		}
	}
}

func chSummary(sni *string, alpn, versions []string) string {
	s := "<no sni>"
	if sni != nil {
		s = *sni
	}
	return fmt.Sprintf("%s %q %v", s, alpn, versions)
}
