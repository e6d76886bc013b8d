package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/net/bpf"

	"github.com/flowjoy/flowjoy/loader/cbpf"
)

// Filtered are the entry programs that run a tcpdump filter in front of
// flowjoy's programs, until Close.
type Filtered struct {
	entries []*cbpf.Entry
}

// Filter compiles the tcpdump expression with libpcap, for Ethernet (and
// loopback) devices and for devices whose packets start at the IP header,
// and wraps each program of p into an entry program that runs it first
// (see cbpf.NewEntry): attach the returned Programs instead of p. Packets
// the filter rejects never reach p's programs, so they are neither
// counted nor sampled.
//
// On TC, the filter sees a packet's outer VLAN tag where it was on the
// wire, even when the kernel has moved it out of the data into the skb
// (cbpf.Options.VLAN), so expressions mean what they mean in a capture.
//
// An expression that only means something with an Ethernet header
// ("ether host …") does not compile for IP devices: attaching to one
// then fails with libpcap's reason (wrapping ErrUnsupportedLink, so that
// -i any skips them with a note).
func Filter(p Programs, expr string) (Programs, *Filtered, error) {
	ether, err := cbpf.Compile(expr, cbpf.LinkEthernet)
	if err != nil {
		return Programs{}, nil, err
	}
	raw, rawErr := cbpf.Compile(expr, cbpf.LinkRaw)
	f := &Filtered{}
	out := Programs{}
	for _, w := range []struct {
		name   string
		filter []bpf.Instruction
		in     *ebpf.Program
		opt    cbpf.EntryOptions // attach types as cilium/ebpf loads bpf/flowjoy.c's sections
		out    **ebpf.Program
	}{
		{"fj_filt_tc_in", ether, p.Ingress, cbpf.EntryOptions{VLAN: true}, &out.Ingress},
		{"fj_filt_tc_eg", ether, p.Egress, cbpf.EntryOptions{VLAN: true}, &out.Egress},
		{"fj_filt_in_l3", raw, p.IngressL3, cbpf.EntryOptions{}, &out.IngressL3},
		{"fj_filt_eg_l3", raw, p.EgressL3, cbpf.EntryOptions{}, &out.EgressL3},
		{"fj_filt_xdp_in", ether, p.XDP, cbpf.EntryOptions{Attach: ebpf.AttachXDP}, &out.XDP},
	} {
		if w.in == nil || w.filter == nil {
			continue
		}
		e, err := cbpf.NewEntry(w.name, w.filter, w.in, w.opt)
		if err != nil {
			f.Close()
			return Programs{}, nil, fmt.Errorf("filter %q: %w", expr, Explain(err))
		}
		f.entries = append(f.entries, e)
		*w.out = e.Program
	}
	if rawErr != nil {
		out.l3Err = fmt.Errorf("the filter does not apply to IP devices: %w", rawErr)
	}
	return out, f, nil
}

// Close frees the entry programs. Detach them first.
func (f *Filtered) Close() error {
	if f == nil {
		return nil
	}
	var errs []error
	for _, e := range f.entries {
		errs = append(errs, e.Close())
	}
	f.entries = nil
	return errors.Join(errs...)
}
