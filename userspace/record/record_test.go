package record

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/schema"
	"github.com/flowjoy/flowjoy/userspace/features"
	"github.com/flowjoy/flowjoy/userspace/flow"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
	"github.com/flowjoy/flowjoy/userspace/proto"
)

func TestAppendTime(t *testing.T) {
	tests := []struct {
		ns   int64
		want string
	}{
		{1502118721115234000, "1502118721.115234"},
		{1502118721115234999, "1502118721.115234"}, // truncated like Joy's timeval
		{0, "0.000000"},
		{5_000, "0.000005"},
		{-1_000, "-1.999999"},
	}
	for _, tt := range tests {
		if got := string(AppendTime(nil, tt.ns)); got != tt.want {
			t.Errorf("AppendTime(%d) = %s, want %s", tt.ns, got, tt.want)
		}
	}
}

func sampleRecord(out flow.Side) *Record {
	k := flowkey.Key{Src: [16]byte{10, 0, 0, 1}, Dst: [16]byte{10, 0, 0, 2}, SrcPort: 40000, DstPort: 443, Proto: 6, IPVersion: 4}
	f := &features.Flow{}
	cfg := &features.Config{NumPkts: 50, ByteDist: true, DistBytes: -1}
	for _, p := range []features.Packet{
		{Len: 517, Side: uint8(out), TS: 1_000_000_000},
		{Len: 1400, Side: uint8(out.Other()), TS: 1_002_900_000}, // 2.9 ms later
		{Len: 80, Side: uint8(out), TS: 1_001_000_000},           // out of order in time: ipt 0, not negative
	} {
		f.AppendPacket(p)
	}
	f.Dist = &features.ByteDist{}
	f.Dist.Add([]byte("hello, world"), cfg.DistBytes)
	f.IP[out] = features.IPInfo{Seen: true, TTL: 64}
	f.AppendIPID(uint8(out), 1)
	f.AppendIPID(uint8(out), 2)
	f.IP[out.Other()] = features.IPInfo{Seen: true, TTL: 57}
	f.TCP = features.TCPInfo{FirstSeq: 99, FirstSeqSet: true}
	f.TCP.Dir[out] = features.TCPDir{Seen: true, FirstFlags: 0x02, FirstWindow: 64240}
	f.SetTCPOptions(uint8(out), []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7})
	var dir [2]flow.Counters
	dir[out] = flow.Counters{Packets: 3, Bytes: 597}
	dir[out.Other()] = flow.Counters{Packets: 2, Bytes: 1400}
	return &Record{
		Key: k, Out: out, ID: 0xabcdef, Community: []byte("1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
		Start: 1_000_000_000, End: 1_003_000_000, Dir: dir, TCPFlags: [2]uint8{0x1b, 0x12},
		Expire: flow.ExpireClosed, Features: f,
		Protocols: []proto.Object{{Key: "tls", Value: map[string]any{"sni": []string{"x"}}}, {Key: "dns", Value: nil}},
	}
}

func TestRecordEncodesJoyKeys(t *testing.T) {
	for _, out := range []flow.Side{0, 1} {
		line, err := NewEncoder().Append(nil, sampleRecord(out))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.ValidateRecord(line); err != nil {
			t.Fatalf("schema: %v\n%s", err, line)
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		wantSA := "10.0.0.1"
		if out == 1 {
			wantSA = "10.0.0.2"
		}
		if m["sa"] != wantSA || m["bytes_out"] != 597.0 || m["num_pkts_in"] != 2.0 {
			t.Errorf("out=%d: sa %v bytes_out %v num_pkts_in %v", out, m["sa"], m["bytes_out"], m["num_pkts_in"])
		}
		pk := m["packets"].([]any)
		dirs, ipts := "", []float64{}
		for _, p := range pk {
			p := p.(map[string]any)
			dirs += p["dir"].(string)
			ipts = append(ipts, p["ipt"].(float64))
		}
		if dirs != "><>" || ipts[0] != 0 || ipts[1] != 2 || ipts[2] != 0 {
			t.Errorf("packets dirs %q ipts %v, want \"><>\" [0 2 0]", dirs, ipts)
		}
		if !strings.Contains(string(line), `"time_start":1.000000,"time_end":1.003000`) {
			t.Errorf("times not in Joy's format: %s", line)
		}
		tcp := m["tcp"].(map[string]any)["out"].(map[string]any)
		if tcp["flags"] != "S" || tcp["opt_len"] != 20.0 {
			t.Errorf("tcp out %v", tcp)
		}
		opts, _ := json.Marshal(tcp["opts"])
		if string(opts) != `[{"mss":1460},{"sackp":null},{"ts":{"ecr":0,"val":1}},{"noop":null},{"ws":7}]` {
			t.Errorf("opts %s", opts)
		}
		if _, ok := m["dns"]; ok {
			t.Errorf("a nil protocol object was written")
		}
		if m["tls"] == nil || m["flow_id"] != "0000000000abcdef" || m["expire_type"] != "f" {
			t.Errorf("tls %v flow_id %v expire %v", m["tls"], m["flow_id"], m["expire_type"])
		}
	}
}

func TestRecordWithoutPorts(t *testing.T) {
	r := &Record{Key: flowkey.Key{Src: [16]byte{15: 1}, Dst: [16]byte{15: 2}, Proto: 58, IPVersion: 6}, Expire: flow.ExpireIdle,
		Features: &features.Flow{ICMP: features.ICMPInfo{Seen: true, Type: 128, ID: 7}}}
	line, err := NewEncoder().Append(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.ValidateRecord(line); err != nil {
		t.Fatalf("schema: %v\n%s", err, line)
	}
	if !strings.Contains(string(line), `"sa":"::1","da":"::2","sp":null,"dp":null,"pr":58`) ||
		!strings.Contains(string(line), `"icmp":{"type":128,"code":0,"id":7}`) {
		t.Errorf("unexpected %s", line)
	}
}

func TestMalformedTCPOptionsStayValid(t *testing.T) {
	for _, opts := range [][]byte{{2, 4, 5}, {8, 1}, {30, 0, 1}, {1, 1, 0, 9, 9}, {5, 10, 1, 2, 3, 4, 5, 6, 7, 8}} {
		f := &features.Flow{}
		f.TCP.Dir[0] = features.TCPDir{Seen: true}
		f.SetTCPOptions(0, opts)
		r := &Record{Key: flowkey.Key{Proto: 6, IPVersion: 4}, Expire: 'e', Features: f}
		line, err := NewEncoder().Append(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.ValidateRecord(line); err != nil {
			t.Errorf("options %x: %v\n%s", opts, err, line)
		}
	}
}

func TestByteDistStatistics(t *testing.T) {
	data := []byte("The quick brown fox jumps over the lazy dog \x00\xff\xff")
	var d features.ByteDist
	d.Add(data[:10], -1)
	d.Add(data[10:], -1)
	var sum, sq float64
	counts := map[byte]float64{}
	for _, b := range data {
		sum += float64(b)
		counts[b]++
	}
	mean := sum / float64(len(data))
	for _, b := range data {
		sq += (float64(b) - mean) * (float64(b) - mean)
	}
	var h float64
	for _, c := range counts {
		p := c / float64(len(data))
		h -= p * math.Log2(p)
	}
	var s features.Summary
	d.Summarize(&s)
	if d.Bytes != uint64(len(data)) || math.Abs(s.Mean-mean) > 1e-9 ||
		math.Abs(s.Std-math.Sqrt(sq/float64(len(data)-1))) > 1e-9 || math.Abs(s.Ent-h) > 1e-9 {
		t.Errorf("bytes %d mean %v std %v entropy %v; want %d %v %v %v", d.Bytes, s.Mean, s.Std, s.Ent,
			len(data), mean, math.Sqrt(sq/float64(len(data)-1)), h)
	}
	var capped features.ByteDist
	capped.Add(data, 5)
	capped.Add(data, 5)
	if capped.Bytes != 5 {
		t.Errorf("cap 5 covered %d bytes", capped.Bytes)
	}
}

// TestPutCountIsDecimal compares the byte_dist count writer with
// strconv (and its comma) over the values where its table and its
// fallback meet.
func TestPutCountIsDecimal(t *testing.T) {
	for _, c := range []uint32{0, 1, 9, 10, 11, 42, 99, 100, 101, 509, 990, 999, 1000, 1001, 65535, 1 << 31, math.MaxUint32} {
		var b [11]byte
		if got, want := string(b[:putCount(b[:], c)]), strconv.FormatUint(uint64(c), 10)+","; got != want {
			t.Errorf("putCount(%d) = %q, want %q", c, got, want)
		}
	}
	for c := uint32(0); c < 5000; c++ {
		var b [11]byte
		if got, want := string(b[:putCount(b[:], c)]), strconv.FormatUint(uint64(c), 10)+","; got != want {
			t.Fatalf("putCount(%d) = %q, want %q", c, got, want)
		}
	}
}
