package cbpf

import (
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"golang.org/x/sys/unix"
)

var long = flag.Bool("long", false, "agreement test on every packet of every shared capture (default: the first packets of each)")

func longTest() bool { return *long || os.Getenv("FLOWJOY_LONG") == "1" }

// perCapture is how many packets of each shared capture the agreement
// test uses without -long (or FLOWJOY_LONG=1): the first packets of every
// capture are more varied than all packets of a few.
const perCapture = 40

// minTestRun is the smallest packet BPF_PROG_TEST_RUN takes (an Ethernet
// header), maxTestRun about the largest (one page less skb overhead).
const minTestRun, maxTestRun = 14, 3000

// TestAgreesWithLibpcap is the translator's main test: every expression
// of testdata/expressions.txt, compiled by libpcap for each link type and
// translated, must give libpcap's own verdict (pcap_offline_filter) on
// every packet of the shared captures, in the kernel (BPF_PROG_TEST_RUN):
// as a TC program on Ethernet and raw-IP packets, and as an XDP program
// on Ethernet packets.
func TestAgreesWithLibpcap(t *testing.T) {
	needRoot(t)
	exprs := readExpressions(t)
	n := perCapture
	if longTest() {
		n = 0
	}
	pkts := sharedPackets(t, n)
	if len(pkts[LinkEthernet]) < 1000 || len(pkts[LinkRaw]) < 50 {
		t.Fatalf("too few shared packets: %d Ethernet, %d raw IP", len(pkts[LinkEthernet]), len(pkts[LinkRaw]))
	}
	start := time.Now()
	var runs, accepted, skipped, refused, compiled int
	for _, c := range []struct {
		link   layers.LinkType
		target Target
	}{{LinkEthernet, TC}, {LinkRaw, TC}, {LinkEthernet, XDP}} {
		for _, expr := range exprs {
			insns, err := Compile(expr, c.link)
			if err != nil {
				continue // "ether host" on raw IP, "vlan" … : libpcap refuses them too
			}
			compiled++
			matcher, err := pcap.NewBPF(c.link, SnapLen, expr)
			if err != nil {
				t.Fatalf("%q: libpcap compiles it once but not twice: %v", expr, err)
			}
			prog := load(t, insns, c.target)
			mismatches := 0
			for _, p := range pkts[c.link] {
				if len(p.data) < minTestRun || len(p.data) > maxTestRun {
					skipped++
					continue
				}
				ci := gopacket.CaptureInfo{CaptureLength: len(p.data), Length: len(p.data)}
				want := matcher.Matches(ci, p.data)
				ret, err := prog.Run(&ebpf.RunOptions{Data: p.data})
				if errors.Is(err, unix.EINVAL) {
					// The test run's own checks (an IPv4 header cut
					// short) refuse a few broken packets.
					refused++
					continue
				}
				if err != nil {
					t.Fatalf("%q on %s packet %d: test run: %v", expr, p.file, p.n, err)
				}
				runs++
				if want {
					accepted++
				}
				if got := ret != 0; got != want && mismatches < 3 {
					mismatches++
					t.Errorf("%s %s %q on %s packet %d: kernel says %v, libpcap %v\n%s",
						c.target, linkName(c.link), expr, p.file, p.n, got, want, hex.Dump(p.data[:min(len(p.data), 96)]))
				}
			}
			prog.Close()
		}
	}
	if refused > runs/100 {
		t.Errorf("the kernel refused to test-run %d of %d packets", refused, runs+refused)
	}
	if accepted == 0 || accepted == runs {
		t.Errorf("expressions accept %d of %d packets: the test cannot tell verdicts apart", accepted, runs)
	}
	t.Logf("%d expressions, %d (expression, link) programs, %d test runs (%d accepted), %d packets outside the test-run size range skipped, %d refused by test run, %v",
		len(exprs), compiled, runs, accepted, skipped, refused, time.Since(start).Round(time.Millisecond))
}

func linkName(l layers.LinkType) string {
	if l == LinkRaw {
		return "raw-ip"
	}
	return "ethernet"
}
