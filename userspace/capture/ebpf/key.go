package ebpf

import (
	"github.com/flowjoy/flowjoy/bpf"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// kernelKey is the kernel's form of a key: the canonical tuple.
func kernelKey(k flowkey.Key) bpf.FlowjoyFjKey {
	c, _ := k.Canonical()
	return bpf.FlowjoyFjKey{
		Src: c.Src, Dst: c.Dst,
		Sport: c.SrcPort, Dport: c.DstPort,
		Proto: c.Proto, Ipver: c.IPVersion,
		Vlan: c.VLAN, Ifindex: c.IfIndex,
	}
}

// flowKey returns the key of the packets one side of a kernel entry sent:
// side 0 is the entry's src, side 1 its dst.
func flowKey(k *bpf.FlowjoyFjKey, side int) flowkey.Key {
	fk := flowkey.Key{
		Src: k.Src, Dst: k.Dst,
		SrcPort: k.Sport, DstPort: k.Dport,
		Proto: k.Proto, IPVersion: k.Ipver,
		VLAN: k.Vlan, IfIndex: k.Ifindex,
	}
	if side == 1 {
		return fk.Reverse()
	}
	return fk
}
