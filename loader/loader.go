// Package loader attaches flowjoy's kernel programs to network interfaces
// and detaches them.
//
// TC programs go on ingress and egress through tcx links; where the kernel
// has no tcx (before Linux 6.6) they go into a clsact qdisc as
// direct-action cls_bpf filters. XDP replaces TC on ingress only when asked
// for: native XDP on a veth turns off TSO on its peer. On loopback only
// egress is attached, since ingress sees the same packets again.
//
// tcx and XDP links are file descriptors that are never pinned, so they
// die with the process, even on SIGKILL. clsact filters outlive it: they
// are named after their owner (process id and start time), and Attach and
// Cleanup remove the filters of owners that are gone.
//
// Everything here works in the network namespace of the calling thread:
// callers that entered another namespace must have locked the OS thread.
package loader

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Programs are the loaded programs to attach. L3 programs are for devices
// whose packets start at the IP header (tun, WireGuard, IP tunnels).
type Programs struct {
	Ingress, Egress     *ebpf.Program
	IngressL3, EgressL3 *ebpf.Program
	XDP                 *ebpf.Program // needed with Options.XDP

	l3Err error // why the L3 programs are missing (Filter)
}

// TCMode chooses how TC programs are attached.
type TCMode uint8

const (
	TCAuto   TCMode = iota // tcx, or clsact where the kernel has no tcx
	TCX                    // tcx only
	TCClsact               // clsact filters only (tests use it to cover the fallback)
)

// Options say where to attach.
type Options struct {
	Interfaces []string // names, in the calling thread's network namespace
	XDP        bool     // XDP on ingress instead of TC (Ethernet devices only)
	TC         TCMode
}

// Hook names how one direction of an interface is attached.
type Hook string

const (
	HookNone       Hook = "" // not attached (ingress on loopback)
	HookTCX        Hook = "tcx"
	HookClsact     Hook = "clsact"
	HookXDPDriver  Hook = "xdp-driver"
	HookXDPGeneric Hook = "xdp-generic"
)

// Interface is one interface as attached.
type Interface struct {
	Name    string
	Index   int
	L3      bool // packets start at the IP header
	Ingress Hook
	Egress  Hook
}

// Attachment holds what Attach attached, until Close.
type Attachment struct {
	nl      *netlink.Handle
	ifaces  []Interface
	links   []link.Link
	filters []*netlink.BpfFilter
	qdiscs  []*netlink.Clsact // clsact qdiscs this attachment created
}

// Attach attaches the programs to every interface in opt. On error
// nothing stays attached. It first removes clsact filters left behind by
// flowjoy processes that are gone.
func Attach(p Programs, opt Options) (*Attachment, error) {
	if len(opt.Interfaces) == 0 {
		return nil, errors.New("no interface to attach to")
	}
	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", Explain(err))
	}
	a := &Attachment{nl: nl}
	if opt.TC != TCX {
		if _, err := cleanup(nl); err != nil {
			nl.Close()
			return nil, fmt.Errorf("removing leftover filters: %w", Explain(err))
		}
	}
	mode := opt.TC
	seen := map[int]bool{}
	for _, name := range opt.Interfaces {
		if err := a.attachInterface(p, opt.XDP, &mode, name, seen); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

func (a *Attachment) attachInterface(p Programs, xdp bool, mode *TCMode, name string, seen map[int]bool) error {
	l, err := a.nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("interface %q: %w", name, err)
	}
	attrs := l.Attrs()
	if seen[attrs.Index] {
		return nil // attaching twice would count every packet twice
	}
	seen[attrs.Index] = true
	l3, err := isL3(attrs.EncapType)
	if err != nil {
		return fmt.Errorf("interface %q: %w", name, err)
	}
	iface := Interface{Name: attrs.Name, Index: attrs.Index, L3: l3}
	in, out := p.Ingress, p.Egress
	if l3 {
		in, out = p.IngressL3, p.EgressL3
	}
	if in == nil || out == nil {
		if l3 && p.l3Err != nil {
			return fmt.Errorf("interface %q: %w", name, p.l3Err)
		}
		return fmt.Errorf("interface %q: no program for its link type", name)
	}

	if iface.Egress, err = a.attachTC(l, out, false, mode); err != nil {
		return err
	}
	if attrs.EncapType == "loopback" || attrs.Flags&net.FlagLoopback != 0 {
		a.ifaces = append(a.ifaces, iface)
		return nil
	}
	if xdp && !l3 {
		if p.XDP == nil {
			return errors.New("XDP requested without an XDP program")
		}
		iface.Ingress, err = a.attachXDP(l, p.XDP)
	} else {
		iface.Ingress, err = a.attachTC(l, in, true, mode)
	}
	if err != nil {
		return err
	}
	a.ifaces = append(a.ifaces, iface)
	return nil
}

// isL3 says whether a device's packets start at the IP header, from its
// ARPHRD type as netlink names it.
func isL3(encap string) (bool, error) {
	switch encap {
	case "ether", "loopback":
		return false, nil
	case "none", "ipip", "tunnel6", "sit", "gre", "ppp":
		return true, nil
	}
	return false, fmt.Errorf("unsupported link type %q", encap)
}

func direction(ingress bool) string {
	if ingress {
		return "ingress"
	}
	return "egress"
}

// attachTC attaches with tcx, falling back to clsact (for good) when the
// kernel has no tcx. Ingress goes first in the chain, to see packets
// before other programs drop them, and egress last, to see what leaves.
func (a *Attachment) attachTC(l netlink.Link, prog *ebpf.Program, ingress bool, mode *TCMode) (Hook, error) {
	name := l.Attrs().Name
	if *mode != TCClsact {
		opts := link.TCXOptions{Interface: l.Attrs().Index, Program: prog, Attach: ebpf.AttachTCXEgress, Anchor: link.Tail()}
		if ingress {
			opts.Attach, opts.Anchor = ebpf.AttachTCXIngress, link.Head()
		}
		lk, err := link.AttachTCX(opts)
		if err == nil {
			a.links = append(a.links, lk)
			return HookTCX, nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) || *mode == TCX {
			return HookNone, fmt.Errorf("attaching tcx %s program to %q: %w", direction(ingress), name, Explain(err))
		}
		*mode = TCClsact
	}
	if err := a.attachClsact(l, prog, ingress); err != nil {
		return HookNone, fmt.Errorf("attaching clsact %s filter to %q: %w", direction(ingress), name, Explain(err))
	}
	return HookClsact, nil
}

// attachXDP prefers the driver's XDP and falls back to generic XDP.
func (a *Attachment) attachXDP(l netlink.Link, prog *ebpf.Program) (Hook, error) {
	var errs []error
	for _, m := range []struct {
		flags link.XDPAttachFlags
		hook  Hook
	}{{link.XDPDriverMode, HookXDPDriver}, {link.XDPGenericMode, HookXDPGeneric}} {
		lk, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: l.Attrs().Index, Flags: m.flags})
		if err == nil {
			a.links = append(a.links, lk)
			return m.hook, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.hook, err))
	}
	return HookNone, fmt.Errorf("attaching XDP to %q: %w", l.Attrs().Name, Explain(errors.Join(errs...)))
}

// Interfaces reports how each interface was attached.
func (a *Attachment) Interfaces() []Interface { return append([]Interface(nil), a.ifaces...) }

// Close detaches everything. It is safe to call more than once.
func (a *Attachment) Close() error {
	if a == nil || a.nl == nil {
		return nil
	}
	var errs []error
	for _, lk := range a.links {
		if err := lk.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing link: %w", err))
		}
	}
	for _, f := range a.filters {
		if err := a.nl.FilterDel(f); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("removing filter %s: %w", f.Name, err))
		}
	}
	for _, q := range a.qdiscs {
		if err := removeQdiscIfEmpty(a.nl, q); err != nil {
			errs = append(errs, err)
		}
	}
	a.links, a.filters, a.qdiscs = nil, nil, nil
	a.nl.Close()
	a.nl = nil
	return errors.Join(errs...)
}
