package main

import (
	"fmt"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"

	"github.com/flowjoy/flowjoy/userspace/event"
)

// packetFilter applies a tcpdump expression with libpcap's own compiler
// and matcher, so that it means exactly what it means to tcpdump. A
// capture can mix link types (pcapng), so the expression is compiled once
// per link type as they appear.
type packetFilter struct {
	expr     string
	compiled map[event.LinkType]*pcap.BPF
}

// snapLen for compiling: the largest packet libpcap considers.
const filterSnapLen = 262144

func newPacketFilter(expr string) (*packetFilter, error) {
	f := &packetFilter{expr: expr, compiled: make(map[event.LinkType]*pcap.BPF)}
	// Compile for Ethernet now so that a typo fails before any work.
	if _, err := f.forLink(event.LinkEthernet); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *packetFilter) forLink(lt event.LinkType) (*pcap.BPF, error) {
	if b, ok := f.compiled[lt]; ok {
		return b, nil
	}
	b, err := pcap.NewBPF(layers.LinkType(lt), filterSnapLen, f.expr)
	if err != nil {
		return nil, fmt.Errorf("filter %q (link type %d): %v", f.expr, lt, err)
	}
	f.compiled[lt] = b
	return b, nil
}

func (f *packetFilter) match(ev *event.Packet) (bool, error) {
	b, err := f.forLink(ev.LinkType)
	if err != nil {
		return false, err
	}
	ci := gopacket.CaptureInfo{
		Timestamp:     time.Unix(0, ev.Timestamp),
		CaptureLength: len(ev.Data),
		Length:        int(ev.WireLen),
	}
	return b.Matches(ci, ev.Data), nil
}
