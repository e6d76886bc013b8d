package ebpf

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowjoy/flowjoy/bpf"
	"github.com/flowjoy/flowjoy/loader"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// TestPayloadBudget checks how many samples a flow costs and how much
// payload they carry in each direction, for the starting budget and for
// budgets set while the flow runs. Each direction has its own budget;
// header sample slots are shared. Datagrams go one at a time, each
// echoed, so the kernel sees the flow's packets in a known order.
func TestPayloadBudget(t *testing.T) {
	const size = 300
	type want struct{ samples, payload int }
	for _, tc := range []struct {
		name      string
		numPkts   int
		distBytes int
		first     int   // datagrams exchanged before the budget is set
		set       int64 // budget set after them; -1: none set
		then      int   // datagrams exchanged after
		up, down  want  // samples and their payload bytes, each direction
	}{
		// Each way: slot+300 (slots: the first up and down), 300,
		// 300, 100 (that direction's budget spent), then counts.
		{"starting budget", 2, 1000, 10, -1, 0, want{4, 1000}, want{4, 1000}},
		// Slots: up, down, up.
		{"no budget", 3, -1, 10, -1, 0, want{2, 0}, want{1, 0}},
		{"budget bigger than the flow", 1, 1 << 20, 10, -1, 0, want{10, 10 * size}, want{10, 10 * size}},
		// 1 header sample; then 300 + 200 of the new budget each way.
		{"raised from nothing", 1, -1, 1, 500, 5, want{1 + 2, 500}, want{2, 500}},
		// slot+300 and 300 back; then nothing more either way.
		{"lowered to zero", 1, 10000, 1, 0, 5, want{1, 300}, want{1, 300}},
		// slot+300 and 300 back; then 300 + 100 more of the lowered
		// budget each way.
		{"lowered", 1, 10000, 1, 400, 5, want{1 + 2, 300 + 400}, want{1 + 2, 300 + 400}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t)
			r := tb.start(Config{NumPkts: tc.numPkts, DistBytes: tc.distBytes})
			p := tb.newUDPPair(tb.hB, tb.hA, tb.a4)
			p.exchange(tc.first, size)
			if tc.set >= 0 {
				k := key(p.server, p.client, flowkey.ProtoUDP, 0, tb.ifIndexA) // either direction's key
				if err := r.eng.SetPayloadBudget(k, uint32(tc.set)); err != nil {
					t.Fatal(err)
				}
			}
			p.exchange(tc.then, size)
			r.stop(t)

			up := r.col.get(key(p.client, p.server, flowkey.ProtoUDP, 0, tb.ifIndexA))
			down := r.col.get(key(p.server, p.client, flowkey.ProtoUDP, 0, tb.ifIndexA))
			n := uint64(tc.first + tc.then)
			if up.packets != n || down.packets != n || up.bytes != n*size || down.bytes != n*size {
				t.Errorf("totals: up %d packets %d bytes, down %d packets %d bytes; sent %d of %d bytes each way",
					up.packets, up.bytes, down.packets, down.bytes, n, size)
			}
			for _, d := range []struct {
				name string
				got  dirTotals
				want want
			}{{"up", up, tc.up}, {"down", down, tc.down}} {
				if d.got.samples != d.want.samples || d.got.sampledPayload != d.want.payload {
					t.Errorf("%s: %d samples carrying %d payload bytes, want %d carrying %d",
						d.name, d.got.samples, d.got.sampledPayload, d.want.samples, d.want.payload)
				}
			}
		})
	}
}

// TestPayloadBudgetPerDirection proves that the directions' budgets are
// independent: the client sends 300-byte datagrams and the server answers
// each with 10 bytes until the client's direction has used up its budget;
// then the server answers with 300 bytes, and its direction still has
// most of its budget for them. A budget set by SetPayloadBudget applies to
// both directions, whatever each had left; 0 stops both.
func TestPayloadBudgetPerDirection(t *testing.T) {
	const (
		budget     = 1000
		size       = 300 // the client's datagrams, and the server's later answers
		small      = 10  // the server's first answers
		first      = 10  // exchanges with small answers: the client's budget runs out
		then       = 5   // exchanges with answers of size bytes
		upPayload  = budget
		upSamples  = 4 // 300, 300, 300, 100
		downFirst  = first * small
		downBudget = budget - downFirst // what the server's direction has left
	)
	type want struct{ samples, payload int }
	for _, tc := range []struct {
		name     string
		set      int64 // budget set after the first exchanges; -1: none set
		up, down want
	}{
		// The server's direction: 10 answers of 10 bytes, then 300,
		// 300, 300 of its remaining 900 bytes, then counts.
		{"untouched", -1, want{upSamples, upPayload}, want{first + downBudget/size, downFirst + downBudget}},
		// 0 stops the server's direction too, though it had 900 left.
		{"set to zero", 0, want{upSamples, upPayload}, want{first, downFirst}},
		// 200 more for each direction: the client's exhausted one too.
		{"set to 200", 200, want{upSamples + 1, upPayload + 200}, want{first + 1, downFirst + 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t)
			r := tb.start(Config{NumPkts: -1, DistBytes: budget})
			p := tb.newUDPPair(tb.hB, tb.hA, tb.a4)
			p.exchangeReply(first, size, small)
			if tc.set >= 0 {
				k := key(p.client, p.server, flowkey.ProtoUDP, 0, tb.ifIndexA)
				if err := r.eng.SetPayloadBudget(k, uint32(tc.set)); err != nil {
					t.Fatal(err)
				}
			}
			p.exchangeReply(then, size, size)
			r.stop(t)

			up := r.col.get(key(p.client, p.server, flowkey.ProtoUDP, 0, tb.ifIndexA))
			down := r.col.get(key(p.server, p.client, flowkey.ProtoUDP, 0, tb.ifIndexA))
			if n := uint64(first + then); up.packets != n || down.packets != n ||
				up.bytes != n*size || down.bytes != first*small+then*size {
				t.Errorf("totals: up %d packets %d bytes, down %d packets %d bytes; sent %d each way, %d bytes up, %d down",
					up.packets, up.bytes, down.packets, down.bytes, n, n*size, first*small+then*size)
			}
			for _, d := range []struct {
				name string
				got  dirTotals
				want want
			}{{"up", up, tc.up}, {"down", down, tc.down}} {
				if d.got.samples != d.want.samples || d.got.sampledPayload != d.want.payload {
					t.Errorf("%s: %d samples carrying %d payload bytes, want %d carrying %d",
						d.name, d.got.samples, d.got.sampledPayload, d.want.samples, d.want.payload)
				}
			}
			if tc.set < 0 && down.sampledPayload <= downFirst {
				t.Errorf("the server's direction stopped when the client's budget ran out")
			}
		})
	}
}

// TestRingBufferLoss fills a one-page ring before anything reads it:
// samples that do not fit are counted in their flow's entry and marked
// lost there, and in the statistics; no packet goes missing.
func TestRingBufferLoss(t *testing.T) {
	const n, size = 100, 1000
	tb := newTestbed(t)
	r := tb.open(Config{RingBytes: 4096, NumPkts: 1000, DistBytes: 1 << 20})
	p := tb.newUDPPair(tb.hB, tb.hA, tb.a4)
	p.exchange(n, size)
	r.run()
	r.stop(t)

	st := r.eng.Stats()
	if st.SamplesLost == 0 {
		t.Fatalf("no sample lost with a 4 KiB ring and %d samples of %d bytes: %+v", 2*n, size, st)
	}
	all := r.col.sum()
	if all.lost != st.SamplesLost {
		t.Errorf("flows report %d lost packets, statistics %d", all.lost, st.SamplesLost)
	}
	if st.SamplesDelivered != st.SamplesWritten || st.SamplesDelivered == 0 {
		t.Errorf("delivered %d, written %d", st.SamplesDelivered, st.SamplesWritten)
	}
	up := r.col.get(key(p.client, p.server, flowkey.ProtoUDP, 0, tb.ifIndexA))
	down := r.col.get(key(p.server, p.client, flowkey.ProtoUDP, 0, tb.ifIndexA))
	if up.packets != n || down.packets != n || up.bytes != n*size || down.bytes != n*size {
		t.Errorf("totals: up %d/%d, down %d/%d packets/bytes; sent %d of %d bytes each way",
			up.packets, up.bytes, down.packets, down.bytes, n, size)
	}
	if up.lost+down.lost == 0 || up.lost+uint64(up.samples) != n {
		t.Errorf("up: %d samples + %d lost, want %d", up.samples, up.lost, n)
	}
}

// TestInsertFailures runs more flows than the kernel map holds: the
// packets that find it full still arrive (as header samples), the
// failures are counted, and sweeps evict the least recently seen entries.
func TestInsertFailures(t *testing.T) {
	const flows, n, size = 20, 5, 64
	tb := newTestbed(t)
	r := tb.start(Config{MaxFlows: 4, NumPkts: 1, DistBytes: -1, SweepInterval: 50 * time.Millisecond})
	var pairs []*udpPair
	for range flows {
		p := tb.newUDPPair(tb.hB, tb.hA, tb.a4)
		p.exchange(n, size)
		pairs = append(pairs, p)
	}
	waitFor(t, "an eviction", 5*time.Second, func() bool { return r.eng.Stats().FlowsEvicted > 0 })
	r.stop(t)

	st := r.eng.Stats()
	if st.InsertFailures == 0 {
		t.Errorf("no insert failure with %d flows in a map of 4: %+v", flows, st)
	}
	for i, p := range pairs {
		up := r.col.get(key(p.client, p.server, flowkey.ProtoUDP, 0, tb.ifIndexA))
		down := r.col.get(key(p.server, p.client, flowkey.ProtoUDP, 0, tb.ifIndexA))
		if up.packets != n || down.packets != n || up.bytes != n*size || down.bytes != n*size {
			t.Errorf("flow %d: up %d/%d, down %d/%d packets/bytes; sent %d of %d bytes each way",
				i, up.packets, up.bytes, down.packets, down.bytes, n, size)
		}
	}
	if len(r.col.evicted) == 0 || uint64(len(r.col.evicted)) != st.FlowsEvicted {
		t.Errorf("handler told of %d evictions, statistics say %d", len(r.col.evicted), st.FlowsEvicted)
	}
}

// TestLoopback attaches to lo, where only egress is hooked: every packet
// is seen once.
func TestLoopback(t *testing.T) {
	const n, size = 50, 200
	tb := newTestbed(t)
	r := tb.start(Config{Interfaces: []string{"lo"}, NumPkts: 4, DistBytes: -1})
	ifs := r.eng.Interfaces()
	if len(ifs) != 1 || ifs[0].Ingress != loader.HookNone || ifs[0].Egress == loader.HookNone {
		t.Fatalf("attached as %+v, want egress only", ifs)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	client, server := tb.udpPingPong(tb.hA, tb.hA, lo, n, size)
	r.stop(t)
	for _, d := range [][2]netip.AddrPort{{client, server}, {server, client}} {
		got := r.col.get(key(d[0], d[1], flowkey.ProtoUDP, 0, ifs[0].Index))
		if got.packets != n || got.bytes != n*size {
			t.Errorf("%v > %v: %d packets, %d bytes; sent %d of %d bytes", d[0], d[1], got.packets, got.bytes, n, size)
		}
	}
}

// TestFragmentsGoWhole checks that IP fragments are not keyed in the
// kernel (non-first ones have no ports) but sent whole for userspace.
func TestFragmentsGoWhole(t *testing.T) {
	const n, size = 5, 3000 // 3 fragments each at MTU 1500
	tb := newTestbed(t)
	r := tb.start(Config{NumPkts: 1, DistBytes: -1})
	client, server := tb.udpPingPong(tb.hB, tb.hA, tb.a4, n, size)
	r.stop(t)
	if r.col.fragments != 2*n*3 {
		t.Errorf("%d fragment samples, want %d", r.col.fragments, 2*n*3)
	}
	if st := r.eng.Stats(); st.UnkeyedSamples != 2*n*3 {
		t.Errorf("%d unkeyed samples, want %d", st.UnkeyedSamples, 2*n*3)
	}
	if got := r.col.get(key(client, server, flowkey.ProtoUDP, 0, tb.ifIndexA)); got.packets != 0 {
		t.Errorf("the kernel keyed %d fragmented packets by ports", got.packets)
	}
}

// TestExpire deletes flows' kernel entries by their userspace key (in
// either direction) and gets their counts: this proves that the kernel
// orders keys as flowkey.Key.Canonical does, by addresses and, on
// loopback, by ports.
func TestExpire(t *testing.T) {
	const n, size, numPkts = 10, 100, 4
	for _, tc := range []struct {
		name string
		lo   bool
	}{{"veth", false}, {"loopback", true}} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t)
			cfg := Config{NumPkts: numPkts, DistBytes: -1}
			from, to, addr := tb.hB, tb.hA, tb.a4
			if tc.lo {
				cfg.Interfaces = []string{"lo"}
				from, addr = tb.hA, netip.MustParseAddr("127.0.0.1")
			}
			r := tb.open(cfg)
			ifindex := r.eng.Interfaces()[0].Index
			client, server := tb.udpPingPong(from, to, addr, n, size)
			// The server's direction: the kernel's entry is keyed from
			// whichever end sorts first.
			if err := r.eng.Expire(key(server, client, flowkey.ProtoUDP, 0, ifindex), r.col); err != nil {
				t.Fatal(err)
			}
			all := r.col.sum()
			if all.packets != 2*n-numPkts || all.bytes != (2*n-numPkts)*size {
				t.Errorf("Expire reported %d packets, %d bytes; want the %d counted ones, %d bytes",
					all.packets, all.bytes, 2*n-numPkts, (2*n-numPkts)*size)
			}
			var v bpf.FlowjoyFjFlow
			kk := kernelKey(key(client, server, flowkey.ProtoUDP, 0, ifindex))
			if err := r.eng.objs.Flows.Lookup(&kk, &v); err == nil {
				t.Errorf("the entry is still in the map after Expire")
			}
		})
	}
}
