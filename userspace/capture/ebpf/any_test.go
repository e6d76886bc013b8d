package ebpf

import (
	"strings"
	"testing"
	"time"
)

func TestAnyInterfaceAlone(t *testing.T) {
	for _, tc := range []struct {
		ifaces []string
		ok     bool
	}{
		{[]string{AnyInterface}, true},
		{[]string{"eth0", "eth1"}, true},
		{[]string{"eth0", AnyInterface}, false},
		{nil, false},
	} {
		c := Config{Interfaces: tc.ifaces}
		err := c.setDefaults()
		if (err == nil) != tc.ok {
			t.Errorf("%v: %v, want ok %v", tc.ifaces, err, tc.ok)
		}
		if err != nil && len(tc.ifaces) > 0 && !strings.Contains(err.Error(), "any") {
			t.Errorf("%v: %v does not say why", tc.ifaces, err)
		}
		e := &Engine{cfg: c}
		if opt := e.attachOptions(); tc.ok && opt.Any != (len(tc.ifaces) == 1) {
			t.Errorf("%v: loader options %+v", tc.ifaces, opt)
		}
	}
}

// TestAnyFollowsInterfaces: the engine on "any" in namespace A captures
// on an interface made after it started, names it, and keeps running
// when the interface goes, still capturing on the others.
func TestAnyFollowsInterfaces(t *testing.T) {
	tb := newTestbed(t)
	r := tb.start(Config{Interfaces: []string{AnyInterface}})
	if r.eng.InterfaceName(uint32(tb.ifIndexA)) != tb.ifA {
		t.Fatalf("ifindex %d named %q, want %s", tb.ifIndexA, r.eng.InterfaceName(uint32(tb.ifIndexA)), tb.ifA)
	}
	// A second veth pair, both ends in A: ifindex known once attached.
	newA, newB := tb.ifA[:len(tb.ifA)-1]+"x", tb.ifA[:len(tb.ifA)-1]+"y"
	run(t, "ip", "-n", tb.nsA, "link", "add", newA, "type", "veth", "peer", "name", newB)
	run(t, "ip", "-n", tb.nsA, "link", "set", newA, "up")
	var idx int
	waitFor(t, newA+" attached", 10*time.Second, func() bool {
		for _, i := range r.eng.Interfaces() {
			if i.Name == newA {
				idx = i.Index
				return true
			}
		}
		return false
	})
	run(t, "ip", "-n", tb.nsA, "link", "del", newA)
	waitFor(t, newA+" detached", 10*time.Second, func() bool {
		for _, i := range r.eng.Interfaces() {
			if i.Name == newA {
				return false
			}
		}
		return true
	})
	if got := r.eng.InterfaceName(uint32(idx)); got != newA {
		t.Errorf("removed interface's index named %q, want %s (its flows may still end)", got, newA)
	}
	// The first interface still counts.
	p := tb.newUDPPair(tb.hA, tb.hB, tb.b4)
	p.exchange(4, 100)
	k := key(p.client, p.server, 17, 0, tb.ifIndexA)
	waitFor(t, "packets on "+tb.ifA, 10*time.Second, func() bool { return r.col.get(k).packets == 4 })
	r.stop(t)
}
