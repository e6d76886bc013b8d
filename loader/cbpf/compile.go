package cbpf

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"golang.org/x/net/bpf"
)

// Link types to compile for: what the first byte the program sees is.
const (
	// LinkEthernet is DLT_EN10MB: Ethernet devices and loopback.
	LinkEthernet = layers.LinkTypeEthernet
	// LinkRaw is DLT_RAW: devices whose packets start at the IP header
	// (the version nibble tells IPv4 from IPv6).
	LinkRaw layers.LinkType = 12
)

// SnapLen is the snapshot length filters are compiled with: the largest
// packet libpcap considers, so that no length test is cut short.
const SnapLen = 262144

// Compile compiles a tcpdump filter expression for a link type with
// libpcap, as tcpdump would for a capture file of that type.
func Compile(expr string, link layers.LinkType) ([]bpf.Instruction, error) {
	raw, err := pcap.CompileBPFFilter(link, SnapLen, expr)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", expr, err)
	}
	insns := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		insns[i] = bpf.RawInstruction{Op: r.Code, Jt: r.Jt, Jf: r.Jf, K: r.K}.Disassemble()
	}
	return insns, nil
}
