// Package pcaplive is the libpcap live engine: it captures on interfaces
// with gopacket/pcap and delivers packets as events. It serves where the
// eBPF engine cannot load (no BTF, old kernel, no privilege for BPF) and
// costs a copy of every packet to userspace, which the eBPF engine avoids.
//
// The interface "any" is libpcap's own: one socket for every interface of
// the network namespace, present and future, in Linux cooked capture
// framing. The engine asks for its v2 (DLT_LINUX_SLL2), whose header
// carries the interface index, so that records name each packet's
// interface; where libpcap cannot give v2, packets of "any" are named
// "any". As with tcpdump -i any, a packet that crosses two interfaces of
// the namespace (a veth pair, a bridge port and the bridge) is captured
// on each, and makes one flow per interface.
package pcaplive

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/flowjoy/flowjoy/userspace/event"
)

// Config selects what to capture.
type Config struct {
	Interfaces []string
	// Filter is a tcpdump expression compiled by libpcap and run in the
	// kernel's socket filter.
	Filter string
	// SnapLen is the most bytes kept per packet (default 262144).
	SnapLen int
	// Promiscuous puts the interfaces in promiscuous mode.
	Promiscuous bool
}

// Handler receives packets; calls are serialized across interfaces.
type Handler interface {
	Packet(*event.Packet)
}

// Any is libpcap's device for every interface.
const Any = "any"

// Engine captures on one or more interfaces.
type Engine struct {
	handles []*pcap.Handle
	names   []string
	index   []uint32

	// With "any": the namespace's interface names by index, followed
	// through netlink as interfaces come, go and are renamed. A name stays
	// after its interface went (its flows end later) until the index is
	// reused.
	anyMu    sync.Mutex
	anyNames map[uint32]string
	stopAny  chan struct{}
}

// Stats are libpcap's counters summed over the interfaces.
type Stats struct {
	Received, DroppedKernel, DroppedInterface uint64
}

// Open activates capture on every interface. Errors name the interface.
func Open(cfg Config) (*Engine, error) {
	if cfg.SnapLen <= 0 {
		cfg.SnapLen = 262144
	}
	e := &Engine{}
	for _, name := range cfg.Interfaces {
		if name == Any {
			if len(cfg.Interfaces) > 1 {
				e.Close()
				return nil, errors.New(`interface "any" already means every interface: give it alone`)
			}
			h, err := activate(name, cfg)
			if err != nil {
				return nil, err
			}
			// Ask for the framing that names the interface; libpcap
			// before 1.10 has only v1.
			_ = h.SetLinkType(layers.LinkTypeLinuxSLL2)
			e.handles, e.names, e.index = []*pcap.Handle{h}, []string{name}, []uint32{0}
			if err := e.followNames(); err != nil {
				e.Close()
				return nil, err
			}
			return e, nil
		}
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("interface %s: %w", name, err)
		}
		h, err := activate(name, cfg)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.handles = append(e.handles, h)
		e.names = append(e.names, name)
		e.index = append(e.index, uint32(ifi.Index))
	}
	return e, nil
}

func activate(name string, cfg Config) (*pcap.Handle, error) {
	in, err := pcap.NewInactiveHandle(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	defer in.CleanUp()
	in.SetSnapLen(cfg.SnapLen)
	in.SetPromisc(cfg.Promiscuous)
	// Not immediate mode: libpcap then uses TPACKET_V3, whose blocks
	// hold packets of any size back to back. Immediate mode falls back to
	// TPACKET_V2, whose ring has fixed frames of the snap length: 8 MiB
	// of 256 KiB frames is 32 packets, and a burst drops packets. A block
	// waits at most the timeout, which also lets Run notice cancellation
	// on a quiet interface.
	in.SetImmediateMode(false)
	in.SetTimeout(50 * time.Millisecond)
	in.SetBufferSize(32 << 20)
	h, err := in.Activate()
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w (capturing needs root or CAP_NET_RAW)", name, err)
	}
	if cfg.Filter != "" {
		if err := h.SetBPFFilter(cfg.Filter); err != nil {
			h.Close()
			return nil, fmt.Errorf("filter %q on %s: %w", cfg.Filter, name, err)
		}
	}
	return h, nil
}

// Run captures until ctx is done, calling h for every packet. The calls
// hold a lock, so h may be a single-threaded pipeline; lock is that lock,
// for other users of the pipeline (timers).
func (e *Engine) Run(ctx context.Context, h Handler, lock *sync.Mutex) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(e.handles))
	for i, hd := range e.handles {
		wg.Add(1)
		go func(hd *pcap.Handle, ifindex uint32, name string) {
			defer wg.Done()
			link := event.LinkType(hd.LinkType())
			sll2 := link == event.LinkSLL2
			var ev event.Packet
			// After cancellation, what the kernel captured before it is
			// still delivered: reading stops at the first timeout (the
			// ring is empty) or the first packet from after it.
			var stopAt time.Time
			for {
				if stopAt.IsZero() && ctx.Err() != nil {
					stopAt = time.Now()
				}
				data, ci, err := hd.ZeroCopyReadPacketData()
				if errors.Is(err, pcap.NextErrorTimeoutExpired) {
					if !stopAt.IsZero() {
						return
					}
					continue
				}
				if err == nil && !stopAt.IsZero() && ci.Timestamp.After(stopAt) {
					return
				}
				if err != nil {
					errs <- fmt.Errorf("capturing on %s: %w", name, err)
					return
				}
				ev = event.Packet{
					Timestamp: ci.Timestamp.UnixNano(),
					IfIndex:   ifindex,
					LinkType:  link,
					WireLen:   uint32(ci.Length),
					Data:      data,
				}
				if sll2 && len(data) >= 8 {
					ev.IfIndex = binary.BigEndian.Uint32(data[4:]) // the header's interface index
				}
				lock.Lock()
				h.Packet(&ev)
				lock.Unlock()
			}
		}(hd, e.index[i], e.names[i])
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// Stats sums libpcap's counters.
func (e *Engine) Stats() Stats {
	var s Stats
	for _, h := range e.handles {
		if st, err := h.Stats(); err == nil {
			s.Received += uint64(st.PacketsReceived)
			s.DroppedKernel += uint64(st.PacketsDropped)
			s.DroppedInterface += uint64(st.PacketsIfDropped)
		}
	}
	return s
}

// InterfaceName returns the name of a captured interface index; with
// "any", of the interface with that index ("any" for 0, packets without
// an index). Safe to call from any goroutine.
func (e *Engine) InterfaceName(ifindex uint32) string {
	for i, x := range e.index {
		if x == ifindex {
			return e.names[i]
		}
	}
	if e.anyNames == nil {
		return ""
	}
	e.anyMu.Lock()
	defer e.anyMu.Unlock()
	return e.anyNames[ifindex]
}

// followNames learns the names of the calling thread's network
// namespace's interfaces, now and as they change, until Close.
func (e *Engine) followNames() error {
	e.anyNames = map[uint32]string{}
	e.stopAny = make(chan struct{})
	updates := make(chan netlink.LinkUpdate, 64)
	err := netlink.LinkSubscribeWithOptions(updates, e.stopAny, netlink.LinkSubscribeOptions{ErrorCallback: func(error) {}})
	if err != nil {
		return fmt.Errorf("following interface names: %w", err)
	}
	// Listed after subscribing, so no interface is missed in between.
	links, err := netlink.LinkList()
	if err != nil {
		close(e.stopAny)
		for range updates {
		}
		return fmt.Errorf("listing interfaces: %w", err)
	}
	for _, l := range links {
		e.anyNames[uint32(l.Attrs().Index)] = l.Attrs().Name
	}
	go func() {
		for u := range updates {
			if u.Header.Type == unix.RTM_NEWLINK {
				e.anyMu.Lock()
				e.anyNames[uint32(u.Index)] = u.Attrs().Name
				e.anyMu.Unlock()
			}
		}
	}()
	return nil
}

// Close releases the handles.
func (e *Engine) Close() {
	if e.stopAny != nil {
		close(e.stopAny)
		e.stopAny = nil
	}
	for _, h := range e.handles {
		h.Close()
	}
	e.handles = nil
}
