package cbpf

import (
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"runtime"
	"sync"
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
// on every other Ethernet packet (XDP differs only in its two helpers).
// Each test run is a syscall of a few µs, so expressions are spread over
// the cores.
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
	var everyOther []packet
	for i, p := range pkts[LinkEthernet] {
		if i%2 == 0 || longTest() {
			everyOther = append(everyOther, p)
		}
	}
	type job struct {
		expr   string
		link   layers.LinkType
		target Target
		pkts   []packet
	}
	jobs := make(chan job)
	go func() {
		defer close(jobs)
		for _, c := range []job{{"", LinkEthernet, TC, pkts[LinkEthernet]}, {"", LinkRaw, TC, pkts[LinkRaw]}, {"", LinkEthernet, XDP, everyOther}} {
			for _, expr := range exprs {
				c.expr = expr
				jobs <- c
			}
		}
	}()
	start := time.Now()
	var (
		mu    sync.Mutex
		total agreement
		wg    sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				a := agree(t, j.expr, j.link, j.target, j.pkts)
				mu.Lock()
				total.add(a)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if total.refused > total.runs/100 {
		t.Errorf("the kernel refused to test-run %d of %d packets", total.refused, total.runs+total.refused)
	}
	if total.accepted == 0 || total.accepted == total.runs {
		t.Errorf("expressions accept %d of %d packets: the test cannot tell verdicts apart", total.accepted, total.runs)
	}
	t.Logf("%d expressions, %d Ethernet and %d raw-IP packets; %d (expression, link, hook) programs, %d test runs (%d accepted), "+
		"%d runs skipped for the test-run size range, %d refused by test run; %v",
		len(exprs), len(pkts[LinkEthernet]), len(pkts[LinkRaw]), total.programs, total.runs, total.accepted,
		total.skipped, total.refused, time.Since(start).Round(time.Millisecond))
}

// agreement counts what agree did.
type agreement struct {
	programs, runs, accepted, skipped, refused int
}

func (a *agreement) add(b agreement) {
	a.programs += b.programs
	a.runs += b.runs
	a.accepted += b.accepted
	a.skipped += b.skipped
	a.refused += b.refused
}

// agree checks one expression on pkts for one link type and hook. It may
// run on any goroutine, so it reports with t.Errorf only.
func agree(t *testing.T, expr string, link layers.LinkType, target Target, pkts []packet) (a agreement) {
	insns, err := Compile(expr, link)
	if err != nil {
		return a // "ether host" on raw IP, "vlan" … : libpcap refuses them too
	}
	matcher, err := pcap.NewBPF(link, SnapLen, expr)
	if err != nil {
		t.Errorf("%q: libpcap compiles it once but not twice: %v", expr, err)
		return a
	}
	prog, err := loadProgram(insns, target)
	if err != nil {
		t.Errorf("%s %s %q: %v\n%s", target, linkName(link), expr, err, listing(insns))
		return a
	}
	defer prog.Close()
	a.programs++
	mismatches := 0
	for _, p := range pkts {
		if len(p.data) < minTestRun || len(p.data) > maxTestRun {
			a.skipped++
			continue
		}
		ci := gopacket.CaptureInfo{CaptureLength: len(p.data), Length: len(p.data)}
		want := matcher.Matches(ci, p.data)
		ret, err := prog.Run(&ebpf.RunOptions{Data: p.data})
		if errors.Is(err, unix.EINVAL) {
			// The test run's own checks (an IPv4 header cut short)
			// refuse a few broken packets.
			a.refused++
			continue
		}
		if err != nil {
			t.Errorf("%q on %s packet %d: test run: %v", expr, p.file, p.n, err)
			return a
		}
		a.runs++
		if want {
			a.accepted++
		}
		if got := ret != 0; got != want {
			t.Errorf("%s %s %q on %s packet %d: kernel says %v, libpcap %v\n%s",
				target, linkName(link), expr, p.file, p.n, got, want, hex.Dump(p.data[:min(len(p.data), 96)]))
			if mismatches++; mismatches == 3 {
				return a
			}
		}
	}
	return a
}

func linkName(l layers.LinkType) string {
	if l == LinkRaw {
		return "raw-ip"
	}
	return "ethernet"
}
