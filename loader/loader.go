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
// With Options.Any a watcher (watch.go) follows that namespace's
// interfaces as they come and go, on a thread of its own in the namespace.
package loader

import (
	"errors"
	"fmt"
	"net"
	"sync"

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
	// Any attaches to every interface that is up in the calling thread's
	// network namespace, loopback included (as tcpdump -i any), and keeps
	// following them: interfaces that appear or come up later are
	// attached, removed ones detached. Interfaces of a link type with no
	// program are skipped with a note. Interfaces must then be empty.
	Any bool
	// Notify, if set, hears of interfaces attached, detached or skipped
	// after Attach returns (with Any), from the watcher's goroutine.
	Notify func(msg string)
	XDP    bool // XDP on ingress instead of TC (Ethernet devices only)
	TC     TCMode
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

// ErrUnsupportedLink is wrapped by errors for interfaces of a link type
// flowjoy has no program for (InfiniBand, CAN, ...).
var ErrUnsupportedLink = errors.New("unsupported link type")

// Attachment holds what Attach attached, until Close. Add, Remove and
// Interfaces may be called from any goroutine (Add from a thread in the
// attachment's network namespace).
type Attachment struct {
	// mu serializes changes: the netlink handle and the attach mode are
	// not for concurrent use.
	mu     sync.Mutex
	nl     *netlink.Handle
	progs  Programs
	xdp    bool
	mode   TCMode
	ifaces []*attached
	watch  *watcher

	// view is what readers see, under its own lock, so that naming an
	// interface never waits for an attach in progress.
	view  sync.RWMutex
	names map[int]string // index → name, kept after detaching until reused
	list  []Interface
}

// attached is one interface and what holds its programs there.
type attached struct {
	Interface
	links   []link.Link
	filters []*netlink.BpfFilter
	qdisc   *netlink.Clsact // a clsact qdisc this attachment created
}

// Attach attaches the programs to every interface in opt. On error
// nothing stays attached. It first removes clsact filters left behind by
// flowjoy processes that are gone.
func Attach(p Programs, opt Options) (*Attachment, error) {
	if opt.Any && len(opt.Interfaces) > 0 {
		return nil, errors.New("attach to any interface or to named ones, not both")
	}
	if len(opt.Interfaces) == 0 && !opt.Any {
		return nil, errors.New("no interface to attach to")
	}
	nl, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", Explain(err))
	}
	a := &Attachment{nl: nl, progs: p, xdp: opt.XDP, mode: opt.TC, names: map[int]string{}}
	if opt.TC != TCX {
		if _, err := cleanup(nl); err != nil {
			nl.Close()
			return nil, fmt.Errorf("removing leftover filters: %w", Explain(err))
		}
	}
	if opt.Any {
		if a.watch, err = startWatcher(a, opt.Notify); err != nil {
			a.Close()
			return nil, err
		}
		return a, nil
	}
	for _, name := range opt.Interfaces {
		if _, err := a.Add(name); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

// Add attaches the programs to one more interface, by name, in the
// calling thread's network namespace. An interface already attached is
// not attached twice (that would count every packet twice): Add returns
// it as it is. Errors for link types with no program wrap
// ErrUnsupportedLink. On error nothing of the interface stays attached.
func (a *Attachment) Add(name string) (Interface, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nl == nil {
		return Interface{}, errors.New("attachment closed")
	}
	l, err := a.nl.LinkByName(name)
	if err != nil {
		return Interface{}, fmt.Errorf("interface %q: %w", name, err)
	}
	return a.addLink(l)
}

func (a *Attachment) addLink(l netlink.Link) (Interface, error) {
	attrs := l.Attrs()
	for _, at := range a.ifaces {
		if at.Index == attrs.Index {
			return at.Interface, nil
		}
	}
	at, err := a.attachLink(l)
	if err != nil {
		if at != nil {
			a.detach(at)
		}
		return Interface{}, err
	}
	a.ifaces = append(a.ifaces, at)
	a.publish(func() { a.names[at.Index] = at.Name })
	return at.Interface, nil
}

func (a *Attachment) attachLink(l netlink.Link) (*attached, error) {
	attrs := l.Attrs()
	l3, err := isL3(attrs.EncapType)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", attrs.Name, err)
	}
	at := &attached{Interface: Interface{Name: attrs.Name, Index: attrs.Index, L3: l3}}
	p := a.progs
	in, out := p.Ingress, p.Egress
	if l3 {
		in, out = p.IngressL3, p.EgressL3
	}
	if in == nil || out == nil {
		if l3 && p.l3Err != nil {
			return nil, fmt.Errorf("interface %q: %w (%w)", attrs.Name, p.l3Err, ErrUnsupportedLink)
		}
		return nil, fmt.Errorf("interface %q: no program for its link type: %w", attrs.Name, ErrUnsupportedLink)
	}

	if at.Egress, err = a.attachTC(at, l, out, false); err != nil {
		return at, err
	}
	if attrs.EncapType == "loopback" || attrs.Flags&net.FlagLoopback != 0 {
		return at, nil
	}
	if a.xdp && !l3 {
		if p.XDP == nil {
			return at, errors.New("XDP requested without an XDP program")
		}
		at.Ingress, err = a.attachXDP(at, l, p.XDP)
	} else {
		at.Ingress, err = a.attachTC(at, l, in, true)
	}
	return at, err
}

// Remove detaches from the interface with this index, if attached. An
// interface that is gone took its tcx and XDP links and its filters with
// it: Remove then only lets go of them, without error.
func (a *Attachment) Remove(index int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, at := range a.ifaces {
		if at.Index == index {
			a.ifaces = append(a.ifaces[:i], a.ifaces[i+1:]...)
			a.publish(nil)
			return a.detach(at)
		}
	}
	return nil
}

// rename records an attached interface's new name (ip link set name).
func (a *Attachment) rename(index int, name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, at := range a.ifaces {
		if at.Index == index && at.Name != name {
			at.Name = name
			a.publish(func() { a.names[index] = name })
		}
	}
}

// publish updates the readers' view; call it with mu held.
func (a *Attachment) publish(change func()) {
	a.view.Lock()
	defer a.view.Unlock()
	if change != nil {
		change()
	}
	a.list = a.list[:0:0]
	for _, at := range a.ifaces {
		a.list = append(a.list, at.Interface)
	}
}

// detach lets go of one interface's links, filters and qdisc; call it
// with mu held.
func (a *Attachment) detach(at *attached) error {
	var errs []error
	for _, lk := range at.links {
		if err := lk.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing link on %q: %w", at.Name, err))
		}
	}
	for _, f := range at.filters {
		if err := a.nl.FilterDel(f); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("removing filter %s from %q: %w", f.Name, at.Name, err))
		}
	}
	if at.qdisc != nil {
		if err := removeQdiscIfEmpty(a.nl, at.qdisc); err != nil {
			errs = append(errs, err)
		}
	}
	at.links, at.filters, at.qdisc = nil, nil, nil
	return errors.Join(errs...)
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
func (a *Attachment) attachTC(at *attached, l netlink.Link, prog *ebpf.Program, ingress bool) (Hook, error) {
	name := l.Attrs().Name
	if a.mode != TCClsact {
		opts := link.TCXOptions{Interface: l.Attrs().Index, Program: prog, Attach: ebpf.AttachTCXEgress, Anchor: link.Tail()}
		if ingress {
			opts.Attach, opts.Anchor = ebpf.AttachTCXIngress, link.Head()
		}
		lk, err := link.AttachTCX(opts)
		if err == nil {
			at.links = append(at.links, lk)
			return HookTCX, nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) || a.mode == TCX {
			return HookNone, fmt.Errorf("attaching tcx %s program to %q: %w", direction(ingress), name, Explain(err))
		}
		a.mode = TCClsact
	}
	if err := a.attachClsact(at, l, prog, ingress); err != nil {
		return HookNone, fmt.Errorf("attaching clsact %s filter to %q: %w", direction(ingress), name, Explain(err))
	}
	return HookClsact, nil
}

// attachXDP prefers the driver's XDP and falls back to generic XDP.
func (a *Attachment) attachXDP(at *attached, l netlink.Link, prog *ebpf.Program) (Hook, error) {
	var errs []error
	for _, m := range []struct {
		flags link.XDPAttachFlags
		hook  Hook
	}{{link.XDPDriverMode, HookXDPDriver}, {link.XDPGenericMode, HookXDPGeneric}} {
		lk, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: l.Attrs().Index, Flags: m.flags})
		if err == nil {
			at.links = append(at.links, lk)
			return m.hook, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.hook, err))
	}
	return HookNone, fmt.Errorf("attaching XDP to %q: %w", l.Attrs().Name, Explain(errors.Join(errs...)))
}

// Interfaces reports how each interface is attached now.
func (a *Attachment) Interfaces() []Interface {
	a.view.RLock()
	defer a.view.RUnlock()
	return append([]Interface(nil), a.list...)
}

// Name names an interface index: the interface attached there now, or
// the last one that was (its flows may still be ending), "" if none.
func (a *Attachment) Name(index int) string {
	a.view.RLock()
	defer a.view.RUnlock()
	return a.names[index]
}

// Close stops following interfaces (Options.Any) and detaches
// everything. It is safe to call more than once.
func (a *Attachment) Close() error {
	if a == nil {
		return nil
	}
	if a.watch != nil {
		a.watch.stop() // before taking mu: the watcher may be attaching
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nl == nil {
		return nil
	}
	var errs []error
	for _, at := range a.ifaces {
		errs = append(errs, a.detach(at))
	}
	a.ifaces = nil
	a.publish(nil)
	a.nl.Close()
	a.nl = nil
	return errors.Join(errs...)
}
