package procmap

import (
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	psnet "github.com/shirou/gopsutil/v4/net"

	"github.com/flowjoy/flowjoy/userspace/flowkey"
	"github.com/flowjoy/flowjoy/userspace/record"
)

func key(t *testing.T, proto uint8, src, dst string) flowkey.Key {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	k := flowkey.Key{Proto: proto, SrcPort: s.Port(), DstPort: d.Port(), IPVersion: 4}
	if s.Addr().Is6() {
		k.IPVersion = 6
	}
	a, b := s.Addr().As16(), d.Addr().As16()
	if k.IPVersion == 4 {
		a4, b4 := s.Addr().As4(), d.Addr().As4()
		copy(k.Src[:], a4[:])
		copy(k.Dst[:], b4[:])
	} else {
		k.Src, k.Dst = a, b
	}
	return k
}

// The /proc fallback matches a packet's sender to a connected socket, else
// to a bound one (listening, or unconnected UDP), on its address or a
// wildcard one.
func TestProcAttributorLookup(t *testing.T) {
	self := int32(os.Getpid())
	snapshots := 0
	a := &ProcAttributor{describer: newDescriber(time.Minute, "", false), snapshot: func() ([]psnet.ConnectionStat, error) {
		snapshots++
		return []psnet.ConnectionStat{
			{Type: syscall.SOCK_STREAM, Laddr: psnet.Addr{IP: "10.0.0.1", Port: 40000}, Raddr: psnet.Addr{IP: "10.0.0.2", Port: 80}, Pid: self},
			{Type: syscall.SOCK_STREAM, Laddr: psnet.Addr{IP: "0.0.0.0", Port: 8080}, Pid: 7},
			{Type: syscall.SOCK_DGRAM, Laddr: psnet.Addr{IP: "::", Port: 5353}, Pid: 8},
			{Type: syscall.SOCK_DGRAM, Laddr: psnet.Addr{IP: "10.0.0.1", Port: 53}, Pid: 9},
			{Type: syscall.SOCK_STREAM, Laddr: psnet.Addr{IP: "10.0.0.1", Port: 1}, Pid: 0}, // no pid: not ours to see
		}, nil
	}}
	now := time.Now().UnixNano()
	for _, tc := range []struct {
		key  flowkey.Key
		want uint32
	}{
		{key(t, 6, "10.0.0.1:40000", "10.0.0.2:80"), uint32(self)},
		{key(t, 6, "10.9.9.9:8080", "10.0.0.5:1234"), 7},
		{key(t, 17, "[fd00::1]:5353", "[ff02::fb]:5353"), 8},
		{key(t, 17, "10.0.0.1:53", "10.0.0.7:999"), 9},
		{key(t, 17, "10.0.0.2:53", "10.0.0.7:999"), 0},
		{key(t, 6, "10.0.0.1:1", "10.0.0.7:2"), 0},
		{key(t, 1, "10.0.0.1:0", "10.0.0.2:0"), 0},
	} {
		if got, _ := a.Lookup(tc.key, now); got != tc.want {
			t.Errorf("Lookup(%v) = %d, want %d", tc.key, got, tc.want)
		}
	}
	if snapshots != 1 {
		t.Errorf("%d snapshots within %v, want 1", snapshots, RefreshEvery)
	}
	// The owner found is described, even once it is gone: it was read
	// from /proc when it was found.
	var e record.Exe
	if !a.Describe(uint32(self), now, &e) || e.PID != uint32(self) || e.Path == "" {
		t.Errorf("Describe(self) = %+v", e)
	}
}
