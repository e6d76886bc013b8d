package loader

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// TestFilter: every program gets its own entry program of its type; a
// missing one stays missing; an expression libpcap refuses fails; one that
// needs an Ethernet header leaves the L3 slots empty with libpcap's reason
// for attaching there.
func TestFilter(t *testing.T) {
	requireRoot(t)
	tc := passProgram(t)
	xdp, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.XDP, AttachType: ebpf.AttachXDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer xdp.Close()
	in := Programs{Ingress: tc, Egress: tc, IngressL3: tc, EgressL3: tc, XDP: xdp}

	out, f, err := Filter(in, "udp port 53")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[*ebpf.Program]bool{}
	for _, p := range []*ebpf.Program{out.Ingress, out.Egress, out.IngressL3, out.EgressL3, out.XDP} {
		if p == nil || p == tc || p == xdp || seen[p] {
			t.Fatalf("entry programs %+v: want five new ones", out)
		}
		seen[p] = true
	}
	if info, err := out.XDP.Info(); err != nil || info.Type != ebpf.XDP {
		t.Errorf("XDP entry: %v %v", info, err)
	}
	if out.l3Err != nil {
		t.Errorf("L3 error for an IP expression: %v", out.l3Err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	out, f, err = Filter(Programs{Ingress: tc, Egress: tc}, "ether host 02:00:00:00:00:01")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if out.Ingress == nil || out.Egress == nil || out.IngressL3 != nil || out.EgressL3 != nil || out.XDP != nil {
		t.Errorf("entry programs %+v: want Ethernet ones only", out)
	}
	if out.l3Err == nil || !strings.Contains(out.l3Err.Error(), "IP devices") {
		t.Errorf("L3 error %v: want one naming IP devices", out.l3Err)
	}

	if _, _, err := Filter(in, "udp port banana"); err == nil || !strings.Contains(err.Error(), "banana") || errors.Is(err, ErrUnsupportedLink) {
		t.Errorf("bad expression: %v, want libpcap's error (not a link type problem)", err)
	}
}
