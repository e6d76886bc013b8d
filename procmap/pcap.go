package procmap

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	psnet "github.com/shirou/gopsutil/v4/net"

	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// ProcAttributor attributes flows of engines that see only packets (the
// libpcap live engine): it matches a flow's local endpoint to the sockets
// in /proc (gopsutil), in a snapshot refreshed at most every
// RefreshEvery. It is best effort: a socket that lives and dies between
// two snapshots (a short connection) is missed, which is why the eBPF
// engine attributes in the kernel instead.
type ProcAttributor struct {
	*describer

	mu       sync.Mutex
	taken    time.Time
	exact    map[connKey]uint32 // connected sockets
	bound    map[connKey]uint32 // listening or unconnected: remote zero
	local    map[netip.Addr]bool
	snapshot func() ([]psnet.ConnectionStat, error)
}

// RefreshEvery bounds how often the socket snapshot is taken.
const RefreshEvery = 200 * time.Millisecond

type connKey struct {
	proto        uint8
	laddr, raddr netip.Addr
	lport, rport uint16
}

// NewProcAttributor seeds the process cache from /proc.
func NewProcAttributor(exeHash bool) *ProcAttributor {
	root, _ := Cgroup2Root()
	a := &ProcAttributor{describer: newDescriber(DefaultGrace, root, exeHash),
		snapshot: func() ([]psnet.ConnectionStat, error) { return psnet.Connections("inet") }}
	procs, _ := seedFromProc(a.cache, a.clock)
	a.seeded.Store(uint64(len(procs)))
	return a
}

// Lookup finds the process whose socket sent a packet with key.
func (a *ProcAttributor) Lookup(key flowkey.Key, at int64) (uint32, bool) {
	if key.Proto != flowkey.ProtoTCP && key.Proto != flowkey.ProtoUDP {
		return 0, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	src, dst := key.SrcAddr().Unmap(), key.DstAddr().Unmap()
	k := connKey{proto: key.Proto, laddr: src, lport: key.SrcPort, raddr: dst, rport: key.DstPort}
	pid, ok := a.find(k)
	if !ok && time.Since(a.taken) >= RefreshEvery {
		a.refresh()
		pid, ok = a.find(k)
	}
	if ok {
		// Read the process now, while it runs: the record is written
		// later, maybe after it exited.
		if a.cache.get(pid, at) == nil {
			if p, err := readProc(pid, a.clock); err == nil {
				a.cache.put(p)
			}
		}
		return pid, true
	}
	return 0, a.local[src]
}

func (a *ProcAttributor) find(k connKey) (uint32, bool) {
	if pid, ok := a.exact[k]; ok {
		return pid, true
	}
	k.raddr, k.rport = netip.Addr{}, 0
	if pid, ok := a.bound[k]; ok {
		return pid, true
	}
	for _, any := range []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()} {
		k.laddr = any
		if pid, ok := a.bound[k]; ok {
			return pid, true
		}
	}
	return 0, false
}

func (a *ProcAttributor) refresh() {
	a.taken = time.Now()
	a.exact = make(map[connKey]uint32, len(a.exact))
	a.bound = make(map[connKey]uint32, len(a.bound))
	a.local = make(map[netip.Addr]bool)
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, ad := range addrs {
			if p, err := netip.ParsePrefix(ad.String()); err == nil {
				a.local[p.Addr().Unmap()] = true
			}
		}
	}
	conns, err := a.snapshot()
	if err != nil {
		return
	}
	for _, c := range conns {
		if c.Pid <= 0 {
			continue
		}
		var proto uint8
		switch c.Type {
		case syscall.SOCK_STREAM:
			proto = flowkey.ProtoTCP
		case syscall.SOCK_DGRAM:
			proto = flowkey.ProtoUDP
		default:
			continue
		}
		l, err := netip.ParseAddr(c.Laddr.IP)
		if err != nil {
			continue
		}
		k := connKey{proto: proto, laddr: l.Unmap(), lport: uint16(c.Laddr.Port)}
		if r, err := netip.ParseAddr(c.Raddr.IP); err == nil && c.Raddr.Port != 0 {
			k.raddr, k.rport = r.Unmap(), uint16(c.Raddr.Port)
			a.exact[k] = uint32(c.Pid)
		} else {
			a.bound[k] = uint32(c.Pid)
		}
	}
}

// Stats returns the running totals.
func (a *ProcAttributor) Stats() Stats { return a.stats() }

// Close stops background hashing; there is no kernel state.
func (a *ProcAttributor) Close() error {
	a.describer.close()
	return nil
}
