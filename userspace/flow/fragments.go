package flow

import (
	"github.com/flowjoy/flowjoy/userspace/decode"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// Fragments remembers the ports of fragmented datagrams from their first
// fragment, so that the later fragments, which carry no transport header,
// are counted in the right flow. The table keeps one; a sharding reader
// keeps another to send the fragments of a datagram to its flow's shard.
// The zero value is ready.
type Fragments struct {
	ports map[fragKey][2]uint16
}

type fragKey struct {
	src, dst  [16]byte
	id        uint32
	proto     uint8
	ipVersion uint8
	vlan      uint16
	ifIndex   uint32
}

// maxFragments bounds the memory of datagrams whose last fragment never
// came; past it the map starts over (late fragments then go to a portless
// flow, counted in Stats.FragmentsNoKey).
const maxFragments = 1 << 16

// Resolve returns the flow key of a fragment.
func (fr *Fragments) Resolve(p *decode.Packet) flowkey.Key {
	k := p.Key
	if !flowkey.HasPorts(k.Proto) {
		return k
	}
	fk := fragKey{src: k.Src, dst: k.Dst, id: p.IPID, proto: k.Proto, ipVersion: k.IPVersion, vlan: k.VLAN, ifIndex: k.IfIndex}
	if p.FragOffset == 0 {
		if fr.ports == nil || len(fr.ports) >= maxFragments {
			fr.ports = make(map[fragKey][2]uint16)
		}
		fr.ports[fk] = [2]uint16{k.SrcPort, k.DstPort}
		return k
	}
	if ports, ok := fr.ports[fk]; ok {
		k.SrcPort, k.DstPort = ports[0], ports[1]
		if !p.MoreFragments {
			delete(fr.ports, fk)
		}
	}
	return k
}
