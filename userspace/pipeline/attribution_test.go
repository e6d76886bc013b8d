package pipeline

import (
	"bytes"
	"testing"

	"github.com/flowjoy/flowjoy/schema"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
	"github.com/flowjoy/flowjoy/userspace/record"
)

// fakeAttribution knows processes 100 (curl) and 200 (nginx); Lookup
// answers for the server's port, as the /proc fallback would.
type fakeAttribution struct {
	lookups int
	lookup  map[uint16]uint32 // sender port -> owner
}

func (f *fakeAttribution) Lookup(k flowkey.Key, at int64) (uint32, bool) {
	f.lookups++
	o, ok := f.lookup[k.SrcPort]
	return o, ok
}

func (f *fakeAttribution) Describe(owner uint32, at int64, e *record.Exe) bool {
	names := map[uint32]string{100: "curl", 200: "nginx"}
	name, ok := names[owner]
	if !ok {
		return false
	}
	*e = record.Exe{Name: name, Path: "/usr/bin/" + name, Uptime: 3, PID: owner, PPID: 1, Cmdline: name + " -x", UID: 0, User: "root", Cgroup: "/test"}
	return true
}

// runFlow feeds one TCP connection; owners[i] is the owner the engine
// carries on the i-th packet (the eBPF engine on egress).
func runFlow(t *testing.T, a Attribution, clientOwner, serverOwner uint32) ([]map[string]any, []byte, Stats) {
	t.Helper()
	out := &memSink{}
	cfg := basicConfig()
	if a != nil {
		cfg.Attribution = a
	}
	p := New(cfg, out)
	seq := []struct {
		client bool
		flags  string
	}{{true, "S"}, {false, "SA"}, {true, "A"}, {true, "FA"}, {false, "FA"}}
	for i, s := range seq {
		ev := event.Packet{Timestamp: int64(i) * 1_000_000, LinkType: event.LinkEthernet, Data: tcpPacket(t, 5555, 80, s.client, s.flags, nil)}
		if s.client && clientOwner != 0 {
			ev.Local, ev.Owner = true, clientOwner
		}
		if !s.client && serverOwner != 0 {
			ev.Local, ev.Owner = true, serverOwner
		}
		p.Packet(&ev)
	}
	if err := p.Finish(); err != nil {
		t.Fatal(err)
	}
	all := bytes.Join(out.lines, nil)
	recs, err := schema.ValidateLines(all)
	if err != nil {
		t.Fatal(err)
	}
	return recs, all, p.Stats()
}

func TestAttributionExeAndPeerExe(t *testing.T) {
	recs, _, st := runFlow(t, &fakeAttribution{}, 100, 200)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	exe, _ := recs[0]["exe"].(map[string]any)
	peer, _ := recs[0]["peer_exe"].(map[string]any)
	if exe["pid"] != 100.0 || exe["name"] != "curl" || peer["pid"] != 200.0 || peer["name"] != "nginx" {
		t.Errorf("exe %v peer_exe %v: want curl (sa, the client) and nginx (da)", exe, peer)
	}
	if st.LocalFlows != 1 || st.AttributedFlows != 1 {
		t.Errorf("stats: %d local, %d attributed; want 1, 1", st.LocalFlows, st.AttributedFlows)
	}

	// Only the server is local: it is the da side, so peer_exe alone.
	recs, _, _ = runFlow(t, &fakeAttribution{}, 0, 200)
	if recs[0]["exe"] != nil || recs[0]["peer_exe"].(map[string]any)["pid"] != 200.0 {
		t.Errorf("server only: exe %v peer_exe %v", recs[0]["exe"], recs[0]["peer_exe"])
	}

	// A local socket whose owner is unknown counts as local, not attributed.
	_, _, st = runFlow(t, &fakeAttribution{}, 999, 0)
	if st.LocalFlows != 1 || st.AttributedFlows != 0 {
		t.Errorf("unknown owner: %d local, %d attributed; want 1, 0", st.LocalFlows, st.AttributedFlows)
	}
}

// Engines without owners in their events (libpcap) ask Lookup once per
// side, not per packet.
func TestAttributionLookupOncePerSide(t *testing.T) {
	a := &fakeAttribution{lookup: map[uint16]uint32{80: 200}}
	recs, _, _ := runFlow(t, a, 0, 0)
	if a.lookups != 2 {
		t.Errorf("%d lookups for a flow's two sides, want 2", a.lookups)
	}
	if p, _ := recs[0]["peer_exe"].(map[string]any); p["pid"] != 200.0 {
		t.Errorf("peer_exe %v, want the server's", recs[0]["peer_exe"])
	}
}

// Without attribution the records are exactly those of before: owners in
// the events change nothing.
func TestNoAttributionSameRecords(t *testing.T) {
	_, with, _ := runFlow(t, nil, 100, 200)
	_, without, _ := runFlow(t, nil, 0, 0)
	if !bytes.Equal(with, without) {
		t.Errorf("owners in events changed the records without attribution:\n%s\n%s", with, without)
	}
	if bytes.Contains(with, []byte(`exe`)) {
		t.Errorf("exe without attribution: %s", with)
	}
}
