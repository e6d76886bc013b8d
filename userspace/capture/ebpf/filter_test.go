package ebpf

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/loader"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// TestFilterInKernel runs the engine with a tcpdump filter that matches
// one of two UDP conversations: the other one must leave no trace, not in
// the samples, the counters or the kernel's packet total, through every
// way of attaching.
func TestFilterInKernel(t *testing.T) {
	const n, size = 50, 100
	for _, tc := range []struct {
		name string
		cfg  Config
		v6   bool
	}{
		{name: "tcx/ipv4"},
		{name: "clsact/ipv6", cfg: Config{TC: loader.TCClsact}, v6: true},
		{name: "xdp/ipv4", cfg: Config{XDP: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t)
			a := tb.a4
			if tc.v6 {
				a = tb.a6
			}
			kept := tb.newUDPPair(tb.hB, tb.hA, a)
			dropped := tb.newUDPPair(tb.hB, tb.hA, a)
			cfg := tc.cfg
			cfg.NumPkts, cfg.DistBytes = 5, -1
			cfg.Filter = fmt.Sprintf("udp and port %d", kept.server.Port())
			r := tb.start(cfg)
			if !r.eng.Filtered() {
				t.Fatal("engine says no filter runs")
			}
			dropped.exchange(n, size)
			kept.exchange(n, size)
			dropped.exchange(n, size)
			r.stop(t)

			for _, d := range []struct {
				pair *udpPair
				want uint64
			}{{kept, n}, {dropped, 0}} {
				for _, k := range []flowkey.Key{
					key(d.pair.client, d.pair.server, flowkey.ProtoUDP, 0, tb.ifIndexA),
					key(d.pair.server, d.pair.client, flowkey.ProtoUDP, 0, tb.ifIndexA),
				} {
					if got := r.col.get(k); got.packets != d.want || got.bytes != d.want*size {
						t.Errorf("%v: %d packets, %d bytes; want %d packets", k, got.packets, got.bytes, d.want)
					}
				}
			}
			// Neighbour discovery and ARP are filtered out too, so the
			// kernel saw exactly the kept conversation.
			if st := r.eng.Stats(); st.KernelPackets != 2*n || st.NotIP != 0 || st.SamplesLost != 0 || st.BadSamples != 0 {
				t.Errorf("stats %+v: want exactly %d kernel packets (the filtered conversation)", st, 2*n)
			}
			if err := r.eng.Close(); err != nil {
				t.Fatal(err)
			}
			tb.assertNoLeftovers(tb.ifA)
		})
	}
}

// TestFilterErrors: a filter libpcap refuses fails Open with libpcap's
// reason, and nothing stays attached.
func TestFilterErrors(t *testing.T) {
	tb := newTestbed(t)
	tb.in(tb.hA, func() error {
		_, err := Open(Config{Interfaces: []string{tb.ifA}, Filter: "udp and port 99999"})
		if err == nil || !strings.Contains(err.Error(), "99999") {
			return fmt.Errorf("Open with a bad filter: %v, want libpcap's error naming the port", err)
		}
		return nil
	})
	tb.assertNoLeftovers(tb.ifA)
}
