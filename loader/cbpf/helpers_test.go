package cbpf

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// needRoot skips (or, in CI, fails) tests that load eBPF programs.
func needRoot(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root on Linux (it loads eBPF programs) and CI=true")
		}
		t.Skip("needs root on Linux to load eBPF programs; run with sudo")
	}
}

// sharedDir is the shared captures, beside the repository.
func sharedDir(t testing.TB) string {
	t.Helper()
	d, _ := filepath.Abs("../../../shared/pcaps")
	if _, err := os.Stat(d); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared captures missing at %s", d)
		}
		t.Skipf("shared captures not found at %s", d)
	}
	return d
}

// readExpressions reads testdata/expressions.txt.
func readExpressions(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("testdata/expressions.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var exprs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			exprs = append(exprs, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return exprs
}

// packet is one packet of a shared capture.
type packet struct {
	file string
	n    int // 1-based, as tcpdump and Wireshark number them
	data []byte
}

// readCapture reads up to max packets (0: all) of a capture and says
// which link type the filter is compiled for: Ethernet, raw IP, or none
// (ok false) for every other link type. A capture that breaks off
// gives the packets before the break.
func readCapture(path string, max int) (link layers.LinkType, pkts [][]byte, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, false
	}
	defer f.Close()
	var (
		next func() ([]byte, error)
		lt   layers.LinkType
	)
	if r, err := pcapgo.NewReader(f); err == nil {
		lt = r.LinkType()
		next = func() ([]byte, error) { d, _, err := r.ReadPacketData(); return d, err }
	} else {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, nil, false
		}
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return 0, nil, false
		}
		lt = r.LinkType()
		next = func() ([]byte, error) { d, _, err := r.ReadPacketData(); return d, err }
	}
	switch lt {
	case layers.LinkTypeEthernet:
		link = LinkEthernet
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		link = LinkRaw
	default:
		return 0, nil, false
	}
	for max == 0 || len(pkts) < max {
		d, err := next()
		if err != nil { // io.EOF, or a broken capture: keep what was read
			break
		}
		pkts = append(pkts, append([]byte(nil), d...))
	}
	return link, pkts, true
}

// sharedPackets reads the shared captures, up to perCapture packets of
// each Ethernet one (0: all) and every packet of the raw-IP ones (they
// are few), grouped by the link type filters are compiled for.
func sharedPackets(t testing.TB, perCapture int) map[layers.LinkType][]packet {
	t.Helper()
	root := sharedDir(t)
	out := map[layers.LinkType][]packet{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := filepath.Ext(path)
		if ext != ".pcap" && ext != ".pcapng" && ext != ".cap" {
			return nil
		}
		link, pkts, ok := readCapture(path, 0)
		if !ok {
			return nil
		}
		if link == LinkEthernet && perCapture > 0 {
			pkts = pkts[:min(len(pkts), perCapture)]
		}
		rel, _ := filepath.Rel(root, path)
		for i, p := range pkts {
			out[link] = append(out[link], packet{file: rel, n: i + 1, data: p})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// load translates a classic program and loads it as a program of its
// own, which returns the verdict.
func load(t testing.TB, insns []bpf.Instruction, target Target) *ebpf.Program {
	t.Helper()
	prog, err := loadProgram(insns, target)
	if err != nil {
		t.Fatalf("%v\n%s", err, listing(insns))
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

func loadProgram(insns []bpf.Instruction, target Target) (*ebpf.Program, error) {
	code, err := Translate(insns, Options{Target: target})
	if err != nil {
		return nil, err
	}
	typ := ebpf.SchedCLS
	if target == XDP {
		typ = ebpf.XDP
	}
	return ebpf.NewProgram(&ebpf.ProgramSpec{Type: typ, Instructions: code, License: "GPL"})
}

func listing(insns []bpf.Instruction) string {
	var b strings.Builder
	for i, ins := range insns {
		fmt.Fprintf(&b, "%3d: %v\n", i, ins)
	}
	return b.String()
}
