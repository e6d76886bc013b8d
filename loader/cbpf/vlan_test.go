package cbpf

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcap"
	"golang.org/x/sys/unix"
)

// skbCtx is __sk_buff up to its cb words: all a test run lets us set.
type skbCtx struct {
	_  [12]uint32 // len … tc_index: must be zero
	Cb [5]uint32
}

// cbVLANFields make the translation read vlan_present, vlan_tci and
// vlan_proto from cb[0], cb[1] and cb[2].
var cbVLANFields = [3]int16{48, 52, 56}

// TestVLANOutsideData checks Options.VLAN, which TC programs on Ethernet
// use: every 802.1Q/802.1ad-tagged packet of the shared captures is run
// the way the kernel hands it to TC, with the outer tag taken out of the
// data into the skb, and must get libpcap's verdict on the packet as
// captured; untagged packets must get it too. A test run cannot set
// skb->vlan_tci, so the test points the translation at cb words instead.
func TestVLANOutsideData(t *testing.T) {
	needRoot(t)
	exprs := readExpressions(t)
	var tagged, untagged []packet
	perFile := map[string]int{}
	for _, p := range sharedPackets(t, 0)[LinkEthernet] {
		if len(p.data) < minTestRun+vlanTagLen || len(p.data) > maxTestRun {
			continue
		}
		switch binary.BigEndian.Uint16(p.data[12:]) {
		case 0x8100, 0x88a8: // what the kernel takes out (skb_vlan_untag)
			if perFile[p.file] < 5*perCapture || longTest() {
				perFile[p.file]++
				tagged = append(tagged, p)
			}
		default:
			if len(untagged) < 300 && p.n <= 2 {
				untagged = append(untagged, p)
			}
		}
	}
	if len(tagged) < 100 {
		t.Fatalf("only %d tagged packets in the shared captures", len(tagged))
	}
	runs, accepted := 0, 0
	for _, expr := range exprs {
		insns, err := Compile(expr, LinkEthernet)
		if err != nil {
			continue
		}
		matcher, err := pcap.NewBPF(LinkEthernet, SnapLen, expr)
		if err != nil {
			t.Fatal(err)
		}
		code, err := Translate(insns, Options{Target: TC, VLAN: true, vlanFields: &cbVLANFields})
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, Instructions: code, License: "GPL"})
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		mismatches := 0
		for _, set := range []struct {
			pkts []packet
			tag  bool
		}{{tagged, true}, {untagged, false}} {
			for _, p := range set.pkts {
				data, ctx := p.data, skbCtx{}
				if set.tag {
					tpid, tci := binary.BigEndian.Uint16(p.data[12:]), binary.BigEndian.Uint16(p.data[14:])
					data = append(append([]byte(nil), p.data[:12]...), p.data[16:]...)
					// vlan_proto holds the TPID in network order.
					ctx.Cb = [5]uint32{1, uint32(tci), uint32(bits.ReverseBytes16(tpid))}
				}
				ci := gopacket.CaptureInfo{CaptureLength: len(p.data), Length: len(p.data)}
				want := matcher.Matches(ci, p.data)
				ret, err := prog.Run(&ebpf.RunOptions{Data: data, Context: ctx})
				if errors.Is(err, unix.EINVAL) {
					continue // a broken packet the test run refuses (see TestAgreesWithLibpcap)
				}
				if err != nil {
					t.Fatalf("%q on %s packet %d: %v", expr, p.file, p.n, err)
				}
				runs++
				if want {
					accepted++
				}
				if got := ret != 0; got != want && mismatches < 3 {
					mismatches++
					t.Errorf("%q on %s packet %d (tag outside the data: %v): kernel %v, libpcap %v", expr, p.file, p.n, set.tag, got, want)
				}
			}
		}
		prog.Close()
	}
	if accepted == 0 || accepted == runs {
		t.Errorf("%d of %d runs accepted: the test cannot tell verdicts apart", accepted, runs)
	}
	t.Logf("%d tagged and %d untagged packets, %d test runs, %d accepted", len(tagged), len(untagged), runs, accepted)
}
