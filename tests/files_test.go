package tests

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// noTimeouts makes flows end only on close or end of input, as tshark's
// conversations do.
var noTimeouts = []string{"--idle-timeout", "0", "--active-timeout", "0", "--no-progress"}

// makeCapture records the test network's workload into a pcap once per
// test binary run.
func makeCapture(t *testing.T) string {
	t.Helper()
	needRoot(t)
	captureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flowjoy-capture")
		if err != nil {
			captureErr = err
			return
		}
		capturePath = filepath.Join(dir, "testnet.pcap")
		name := "fjt" + strings.ReplaceAll(filepath.Base(dir), "flowjoy-capture", "")
		name = name[:min(len(name), 10)]
		out, err := exec.Command("../scripts/testnet.sh", "capture", name, capturePath).CombinedOutput()
		if err != nil {
			captureErr = &captureError{err: err, out: string(out)}
		}
	})
	if captureErr != nil {
		t.Fatalf("making the test capture: %v", captureErr)
	}
	return capturePath
}

type captureError struct {
	err error
	out string
}

func (e *captureError) Error() string { return e.err.Error() + "\n" + e.out }

// Real HTTP, TLS, DNS and ICMP traffic between two namespaces: every
// conversation tshark sees is one record with tshark's counts and bytes.
func TestTruthOnRealTraffic(t *testing.T) {
	pcap := makeCapture(t)
	truth := tsharkFlows(t, pcap)
	if len(truth) < 10 {
		t.Fatalf("tshark found only %d conversations in the test capture", len(truth))
	}
	r := runFlowjoy(t, nil, append([]string{"-r", pcap}, noTimeouts...)...)
	if r.exit != 0 {
		t.Fatalf("exit %d: %s", r.exit, r.stderr)
	}
	compareWithTruth(t, "testnet", truth, r.records)
	var icmp int
	for _, rec := range r.records {
		if rec["pr"] == 1.0 || rec["pr"] == 58.0 {
			icmp++
			if rec["sp"] != nil || rec["icmp"] == nil {
				t.Errorf("ICMP record without null ports or icmp object: %v", rec)
			}
		}
	}
	if icmp < 2 {
		t.Errorf("%d ICMP records, want the IPv4 and IPv6 pings", icmp)
	}
}

// The shared captures that tshark dissected: TCP and UDP conversations
// agree with tshark's truth files.
func TestTruthOnSharedCaptures(t *testing.T) {
	root := sharedDir(t)
	files, _ := filepath.Glob(filepath.Join(root, "truth", "*", "*.json"))
	compared, captures := 0, 0
	for _, tf := range files {
		truth := loadTruthFile(t, tf)
		if len(truth) == 0 {
			continue
		}
		rel, _ := filepath.Rel(filepath.Join(root, "truth"), tf)
		pcap := filepath.Join(root, strings.TrimSuffix(rel, ".json"))
		if reason, skip := truthExceptions[filepath.ToSlash(strings.TrimSuffix(rel, ".json"))]; skip {
			t.Logf("%s: not compared: %s", rel, reason)
			continue
		}
		r := runFlowjoy(t, nil, append([]string{"-r", pcap}, noTimeouts...)...)
		records := r.records
		if hasTunnel(records) {
			// tshark lists the conversations of every layer: the inner
			// flows match the decapsulated run, the outer ones a
			// --no-decap run.
			outer := runFlowjoy(t, nil, append([]string{"-r", pcap, "--no-decap"}, noTimeouts...)...)
			records = append(records, outer.records...)
		}
		captures++
		compared += compareWithTruth(t, rel, truth, records)
	}
	t.Logf("compared %d conversations in %d captures", compared, captures)
	if compared < 500 {
		t.Errorf("only %d conversations compared", compared)
	}
}

func hasTunnel(records []map[string]any) bool {
	for _, r := range records {
		if r["tunnel"] != nil {
			return true
		}
	}
	return false
}

// truthExceptions lists shared captures whose tshark conversations cannot
// equal flow records, with the reason. Each reason was checked on the
// capture; none is a decoding error (the decoder's own tests compare it
// with gopacket and tshark packet by packet).
var truthExceptions = map[string]string{
	"tcpdump/babel_update_oobr.pcap":                 udpLong + "; and its TCP packets carry SYN+ACK with other flags: " + allFlags,
	"tcpdump/wb-oobr.pcap":                           udpLong,
	"tcpdump/tftp-heapoverflow.pcap":                 udpLong,
	"tcpdump/olsr-oobr-2.pcap":                       udpLong,
	"tcpdump/l2tp-avp-overflow.pcap":                 udpLong,
	"tcpdump/cve-2014-8767-OLSR.pcap":                udpLong,
	"tcpdump/hncp_dhcpv6data-oobr.pcap":              udpLong,
	"tcpdump/hoobr_aodv_extension.pcap":              udpLong,
	"tcpdump/hoobr_bfd_print.pcap":                   udpLong,
	"tcpdump/hoobr_nfs_xid_map_enter.pcap":           udpLong,
	"tcpdump/hoobr_zephyr_parse_field.pcap":          udpLong,
	"tcpdump/isakmp-3948-oobr-2.pcap":                udpLong,
	"tcpdump/isakmp-delete-segfault.pcap":            udpLong,
	"tcpdump/isakmp-rfc3948-oobr.pcap":               udpLong,
	"tcpdump/kh-timed-001-oobr.pcap":                 udpLong,
	"tcpdump/kh-timed-002-oobr.pcap":                 udpLong,
	"tcpdump/kh-timed-004-oobr.pcap":                 udpLong,
	"tcpdump/ldp_tlv_print-oobr.pcap":                udpLong,
	"tcpdump/nfs-attr-oobr.pcap":                     udpLong,
	"tcpdump/rx_ubik-oobr.pcap":                      udpLong,
	"tcpdump/snmp-heapoverflow-1.pcap":               udpLong,
	"tcpdump/snmp-heapoverflow-2.pcap":               udpLong,
	"tcpdump/lisp_invalid_length.pcap":               udpShort,
	"tcpdump/ripv2-invalid-length.pcap":              udpShort,
	"tcpdump/sflow_print-segv.pcap":                  udpShort,
	"tcpdump/bgp-bgp_capabilities_print-oobr-1.pcap": cutShort,
	"tcpdump/bgp-bgp_capabilities_print-oobr-2.pcap": cutShort,
	"tcpdump/bgp_pmsi_tunnel-oobr.pcap":              cutShort,
	"tcpdump/rpki-rtr-oobr.pcap":                     cutShort,
	"tcpdump/quic_32_bit_pointer_overflow.pcap":      jumbo,
	"tcpdump/tcp_rst_data.pcap":                      rstPayload,
	"tcpdump/tcp_rst_data-trunc.pcap":                rstPayload,
	"tcpdump/tcp_rst_diag_payload.pcap":              rstPayload,
	"tcpdump/tcp_rst_diag_payload-trunc.pcap":        rstPayload,
	"tcpdump/geneve.pcap":                            tunnelTruth,
	"tcpdump/geneve-gcp.pcap":                        tunnelTruth,
	"tcpdump/gso-ipv4-geneve-ipv4.pcap":              tunnelTruth,
	"tcpdump/gso-ipv4-geneve-ipv6.pcap":              tunnelTruth,
	"tcpdump/gso-ipv4-vxlan-ipv4.pcap":               tunnelTruth,
	"tcpdump/gso-ipv4-vxlan-ipv6.pcap":               tunnelTruth,
	"tcpdump/gso-ipv6-geneve-ipv6.pcap":              tunnelTruth,
	"tcpdump/gso-ipv6-vxlan-ipv6.pcap":               tunnelTruth,
	"tcpdump/erspan-type-ii-2.pcap":                  tunnelTruth,
	"tcpdump/wccp_redirect_gre.pcap":                 tunnelTruth,
	"ja4/gre-erspan-vxlan.pcap":                      tunnelTruth,
	"ja4/gre-sample.pcap":                            tunnelTruth,
	"ja4/tcpdump-geneve.pcap":                        tunnelTruth,
	"tcpdump/arcnet-rfc1051-arp-icmp-http.pcap":      link,
	"tcpdump/arcnet-rfc1201-arp-icmp-http.pcap":      link,
	"tcpdump/LINKTYPE_USER2_PKTAP.pcap":              link,
	"tcpdump/tcp_eight_lowest_weight_flags_set.pcap": allFlags,
}

const (
	udpLong     = "a UDP length field larger than the IP payload (fuzzed packets): flowjoy counts the payload the IP header allows, tshark the length the UDP header claims"
	udpShort    = "a UDP length field smaller than the IP payload: flowjoy's payload (and byte_dist) ends where the UDP length says, tshark's udp.payload runs to the end of the IP packet"
	cutShort    = "the capture cuts the TCP segment short: flowjoy counts the payload the IP length announces, tshark counts 0"
	jumbo       = "a crafted IPv6 jumbogram whose jumbo payload length flowjoy counts and tshark does not"
	rstPayload  = "payload on a RST segment: tshark shows it as a reset cause, not as tcp.payload, so its byte_dist has no bytes where flowjoy counts them"
	tunnelTruth = "the truth file pairs the outermost IP addresses with the innermost ports of tunnelled packets (tshark's multi-valued ip.src), a flow that exists in no layer; the decoder's tests check these tunnels against tshark layer by layer"
	link        = "a link type flowjoy does not decode (ARCNET, PKTAP stored as LINKTYPE_USER2): counted as unknown link type"
	allFlags    = "one packet with every TCP flag set: flowjoy reads its SYN+ACK as the responder's SYN-ACK, so its receiver is the initiator; the truth takes the sender"
)

// Every shared capture, good or broken, gives valid records or a clear
// error, never a crash or a hang.
func TestEverySharedCaptureRuns(t *testing.T) {
	root := sharedDir(t)
	var paths []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.Contains(p, "/truth/") && !strings.HasSuffix(p, ".json") && !strings.HasSuffix(p, ".tsv") && !strings.HasSuffix(p, ".txt") {
			paths = append(paths, p)
		}
		return nil
	})
	sort.Strings(paths)
	var ok, refused int
	for _, p := range paths {
		r := runFlowjoy(t, nil, "-r", p, "--no-progress")
		switch r.exit {
		case 0:
			ok++
		case 1:
			refused++
			if !strings.Contains(r.stderr, filepath.Base(p)) {
				t.Errorf("%s: refused without naming the file: %s", p, r.stderr)
			}
		default:
			t.Errorf("%s: exit %d: %s", p, r.exit, r.stderr)
		}
	}
	t.Logf("%d captures read, %d refused as not captures", ok, refused)
	if ok < len(paths)*9/10 {
		t.Errorf("only %d of %d captures read", ok, len(paths))
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notPcap := filepath.Join(dir, "notes.pcap")
	os.WriteFile(notPcap, []byte("hello, this is text\n"), 0o644)
	r := runFlowjoy(t, nil, "-r", notPcap)
	if r.exit != 1 || !strings.Contains(r.stderr, "notes.pcap") || len(r.records) != 0 {
		t.Errorf("bad magic: exit %d stderr %q", r.exit, r.stderr)
	}

	good := filepath.Join(sharedDir(t), "joy", "sample.pcap")
	raw, _ := os.ReadFile(good)
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, raw[:len(raw)*2/3], 0o644)
	whole := runFlowjoy(t, nil, "-r", good, "--no-progress")
	part := runFlowjoy(t, nil, "-r", cut, "--no-progress")
	if part.exit != 0 || !strings.Contains(part.stderr, "cut.pcap") || !strings.Contains(part.stderr, "warning") {
		t.Errorf("truncated file: exit %d stderr %q", part.exit, part.stderr)
	}
	if len(part.records) == 0 || len(part.records) > len(whole.records) {
		t.Errorf("truncated file gave %d records, whole file %d", len(part.records), len(whole.records))
	}

	if r := runFlowjoy(t, nil, "-r", good, "--num-pkts", "5000"); r.exit != 2 || !strings.Contains(r.stderr, "num-pkts") {
		t.Errorf("bad flag value: exit %d stderr %q", r.exit, r.stderr)
	}
	if r := runFlowjoy(t, nil, "-r", good, "anon=x.txt"); r.exit != 2 || !strings.Contains(r.stderr, "anon") {
		t.Errorf("unsupported Joy option: exit %d stderr %q", r.exit, r.stderr)
	}
	if r := runFlowjoy(t, nil, "-r", good, "tcp", "port", "banana"); r.exit != 1 || !strings.Contains(r.stderr, "filter") {
		t.Errorf("bad filter: exit %d stderr %q", r.exit, r.stderr)
	}
}

// Gzip input, stdin, gzip output and several files as one timeline give
// the same records as the plain file.
func TestInputsAndOutputs(t *testing.T) {
	pcap := filepath.Join(sharedDir(t), "joy", "sample.pcap")
	raw, _ := os.ReadFile(pcap)
	base := runFlowjoy(t, nil, "-r", pcap, "--no-progress")
	want := sortedLines(base.stdout)
	if len(want) == 0 {
		t.Fatal("no records from sample.pcap")
	}

	dir := t.TempDir()
	gz := filepath.Join(dir, "sample.pcap.gz")
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(raw)
	zw.Close()
	os.WriteFile(gz, zb.Bytes(), 0o644)
	if got := sortedLines(runFlowjoy(t, nil, "-r", gz).stdout); !equalLines(got, want) {
		t.Errorf("gzip input differs")
	}
	if got := sortedLines(runFlowjoy(t, raw, "-r", "-").stdout); !equalLines(got, want) {
		t.Errorf("stdin input differs")
	}
	// The same capture cut into pieces and given as several files, in the
	// wrong order: one timeline, the same flows.
	if out, err := exec.Command("editcap", "-c", "40", pcap, filepath.Join(dir, "part.pcap")).CombinedOutput(); err != nil {
		t.Fatalf("editcap: %v %s", err, out)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "part_*.pcap"))
	if len(parts) < 2 {
		t.Fatalf("editcap made %d parts", len(parts))
	}
	sort.Sort(sort.Reverse(sort.StringSlice(parts)))
	var args []string
	for _, p := range parts {
		args = append(args, "-r", p)
	}
	if got := sortedLines(runFlowjoy(t, nil, args...).stdout); !equalLines(got, want) {
		t.Errorf("%d files as one timeline differ from the whole capture", len(parts))
	}

	out := filepath.Join(dir, "flows.json.gz")
	runFlowjoy(t, nil, "-r", pcap, "-w", out)
	zr, err := gzip.NewReader(bytes.NewReader(must(os.ReadFile(out))))
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	plain.ReadFrom(zr)
	if got := sortedLines(plain.Bytes()); !equalLines(got, want) {
		t.Errorf("gzip output differs")
	}
}

// Joy's key=value arguments mean what the README's table says.
func TestJoyArguments(t *testing.T) {
	pcap := filepath.Join(sharedDir(t), "joy", "sample.pcap")
	joy := runFlowjoy(t, nil, "-r", pcap, "bidir=1", "num_pkts=3", "zeros=1", "dist=0")
	flags := runFlowjoy(t, nil, "-r", pcap, "--num-pkts", "3", "--zeros", "--no-byte-dist")
	if !equalLines(sortedLines(joy.stdout), sortedLines(flags.stdout)) {
		t.Errorf("Joy arguments differ from the flags")
	}
	for _, r := range joy.records {
		if pk, _ := r["packets"].([]any); len(pk) > 3 {
			t.Fatalf("num_pkts=3 gave %d packets", len(pk))
		}
		if _, ok := r["byte_dist"]; ok {
			t.Fatalf("dist=0 still wrote byte_dist")
		}
	}
}

func TestStatsJSON(t *testing.T) {
	pcap := filepath.Join(sharedDir(t), "joy", "sample.pcap")
	r := runFlowjoy(t, nil, "-r", pcap, "--stats-json")
	var st map[string]any
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if err := jsonUnmarshal(lines[len(lines)-1], &st); err != nil {
		t.Fatalf("stats are not JSON: %q", r.stderr)
	}
	if st["records"].(float64) != float64(len(r.records)) || st["packets"].(float64) == 0 {
		t.Errorf("stats %v vs %d records", st, len(r.records))
	}
}

func sortedLines(b []byte) []string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	sort.Strings(lines)
	return lines
}

func equalLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
