// Package pcaplive is the libpcap live engine: it captures on interfaces
// with gopacket/pcap and delivers packets as events. It serves where the
// eBPF engine cannot load (no BTF, old kernel, no privilege for BPF) and
// costs a copy of every packet to userspace, which the eBPF engine avoids.
package pcaplive

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gopacket/gopacket/pcap"

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

// Engine captures on one or more interfaces.
type Engine struct {
	handles []*pcap.Handle
	names   []string
	index   []uint32
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
	// Immediate mode delivers packets as they come (no buffering delay);
	// the timeout lets Run notice cancellation on a quiet interface.
	in.SetImmediateMode(true)
	in.SetTimeout(100 * time.Millisecond)
	in.SetBufferSize(8 << 20)
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
			var ev event.Packet
			for ctx.Err() == nil {
				data, ci, err := hd.ZeroCopyReadPacketData()
				if errors.Is(err, pcap.NextErrorTimeoutExpired) {
					continue
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

// InterfaceName returns the name of a captured interface index.
func (e *Engine) InterfaceName(ifindex uint32) string {
	for i, x := range e.index {
		if x == ifindex {
			return e.names[i]
		}
	}
	return ""
}

// Close releases the handles.
func (e *Engine) Close() {
	for _, h := range e.handles {
		h.Close()
	}
	e.handles = nil
}
