package ebpf

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowjoy/flowjoy/loader"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// TestUDPCountsExact sends a known number of datagrams each way and checks
// that samples plus counts add up to exactly what was sent, per direction,
// through every way of attaching.
func TestUDPCountsExact(t *testing.T) {
	const n, size, numPkts = 200, 100, 5
	for _, tc := range []struct {
		name  string
		cfg   Config
		v6    bool
		hooks [2]loader.Hook // want ingress, egress
	}{
		{name: "tcx/ipv4", hooks: [2]loader.Hook{loader.HookTCX, loader.HookTCX}},
		{name: "tcx/ipv6", v6: true, hooks: [2]loader.Hook{loader.HookTCX, loader.HookTCX}},
		{name: "clsact/ipv4", cfg: Config{TC: loader.TCClsact}, hooks: [2]loader.Hook{loader.HookClsact, loader.HookClsact}},
		{name: "xdp/ipv4", cfg: Config{XDP: true}, hooks: [2]loader.Hook{loader.HookXDPDriver, loader.HookTCX}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t)
			a := tb.a4
			if tc.v6 {
				a = tb.a6
			}
			const vlan = 0
			cfg := tc.cfg
			cfg.NumPkts, cfg.DistBytes = numPkts, -1
			r := tb.start(cfg)
			ifs := r.eng.Interfaces()
			if len(ifs) != 1 || ifs[0].Ingress != tc.hooks[0] || ifs[0].Egress != tc.hooks[1] {
				t.Fatalf("attached as %+v, want ingress %q egress %q", ifs, tc.hooks[0], tc.hooks[1])
			}
			began := time.Now().UnixNano()
			client, server := tb.udpPingPong(tb.hB, tb.hA, a, n, size)
			ended := time.Now().UnixNano()
			r.stop(t)

			for _, d := range []struct {
				name     string
				src, dst netip.AddrPort
			}{{"client to server", client, server}, {"server to client", server, client}} {
				k := key(d.src, d.dst, flowkey.ProtoUDP, vlan, tb.ifIndexA)
				got := r.col.get(k)
				if got.packets != n || got.bytes != n*size || got.lost != 0 {
					t.Errorf("%s: %d packets, %d bytes, %d lost; sent %d packets, %d bytes",
						d.name, got.packets, got.bytes, got.lost, n, n*size)
				}
				if got.sampledPayload != 0 {
					t.Errorf("%s: samples carried %d payload bytes with no payload budget", d.name, got.sampledPayload)
				}
				if got.vlan != vlan {
					t.Errorf("%s: samples tagged VLAN %d, want %d", d.name, got.vlan, vlan)
				}
			}
			// The flow's first numPkts packets are samples, the rest counts.
			k1 := key(client, server, flowkey.ProtoUDP, vlan, tb.ifIndexA)
			k2 := key(server, client, flowkey.ProtoUDP, vlan, tb.ifIndexA)
			s1, s2 := r.col.get(k1).samples, r.col.get(k2).samples
			if s1+s2 != numPkts || s1 != (numPkts+1)/2 {
				t.Errorf("samples: %d client to server + %d back, want %d + %d", s1, s2, (numPkts+1)/2, numPkts/2)
			}
			for _, d := range []dirTotals{r.col.get(k1), r.col.get(k2)} {
				if d.minTS < began || d.maxTS > ended {
					t.Errorf("sample times [%d, %d] outside the exchange [%d, %d]", d.minTS, d.maxTS, began, ended)
				}
			}
			// The final sweep ticks the handler's clock past every sample.
			if d := r.col.get(k1); r.col.ticks == 0 || r.col.lastTick < d.maxTS || r.col.lastTick > time.Now().UnixNano() {
				t.Errorf("%d ticks, the last at %d; last sample at %d", r.col.ticks, r.col.lastTick, d.maxTS)
			}
			st := r.eng.Stats()
			if st.SamplesLost != 0 || st.InsertFailures != 0 || st.BadSamples != 0 || st.SamplesDelivered != st.SamplesWritten {
				t.Errorf("stats: %+v", st)
			}
			if st.KernelPackets < 2*n {
				t.Errorf("kernel saw %d packets, fewer than the %d sent", st.KernelPackets, 2*n)
			}
			if err := r.eng.Close(); err != nil {
				t.Fatal(err)
			}
			tb.assertNoLeftovers(tb.ifA)
		})
	}
}

// TestTCPSegments checks that a TCP transfer counts exactly the segments
// each end put on the wire (tcpi_segs_out), with offloads off (one packet
// per segment) and on (TSO/GSO aggregates counted by gso_segs), and
// exactly the payload bytes sent.
func TestTCPSegments(t *testing.T) {
	const size = 4 << 20
	for _, tc := range []struct {
		name      string
		offloads  bool
		distBytes int
	}{
		{"offloads-off", false, 4096},
		{"offloads-on", true, 4096},
		// Samples of whole 64 KiB aggregates, copied in chunks.
		{"offloads-on/big-budget", true, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t)
			tb.setOffloads(tc.offloads)
			r := tb.start(Config{NumPkts: 20, DistBytes: tc.distBytes})
			res := tb.tcpTransfer(tb.hB, tb.hA, tb.a4, size)
			r.stop(t)
			if res.retransmits != 0 {
				t.Logf("%d retransmissions: payload bytes on the wire exceed those sent", res.retransmits)
			}
			up := r.col.get(key(res.client, res.server, flowkey.ProtoTCP, 0, tb.ifIndexA))
			down := r.col.get(key(res.server, res.client, flowkey.ProtoTCP, 0, tb.ifIndexA))
			if up.packets != uint64(res.clientSegs) || down.packets != uint64(res.srvSegs) {
				t.Errorf("packets: %d up, %d down; the ends sent %d and %d segments",
					up.packets, down.packets, res.clientSegs, res.srvSegs)
			}
			if res.retransmits == 0 && (up.bytes != size || down.bytes != 0) {
				t.Errorf("payload: %d up, %d down; sent %d up", up.bytes, down.bytes, size)
			}
			if got := up.sampledPayload + down.sampledPayload; got > tc.distBytes || (res.retransmits == 0 && got != tc.distBytes) {
				t.Errorf("samples carried %d payload bytes, budget %d", got, tc.distBytes)
			}
			if up.mixedPayload != 0 {
				t.Errorf("%d samples with payload bytes out of place", up.mixedPayload)
			}
			if up.samples+down.samples < 20 {
				t.Errorf("%d samples, want at least the first 20 packets", up.samples+down.samples)
			}
			if tc.offloads && up.aggregates == 0 {
				t.Errorf("offloads on but no sample stood for more than one segment")
			}
			if !tc.offloads && (up.aggregates != 0 || down.aggregates != 0) {
				t.Errorf("offloads off but %d samples were aggregates", up.aggregates+down.aggregates)
			}
			t.Logf("largest sample: %d payload bytes, %d samples", up.maxSampledPayload, up.samples)
			if tc.distBytes > 64<<10 && up.maxSampledPayload <= 16<<10 {
				t.Errorf("largest sample carried %d payload bytes; aggregates of up to 64 KiB should come whole", up.maxSampledPayload)
			}
		})
	}
}
