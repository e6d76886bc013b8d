package tests

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// truthFlow is tshark's view of one TCP or UDP conversation: the same
// shape as ../shared/pcaps/truth/*.json (which tshark 4.0 made), so shared
// captures and captures the tests make are compared the same way.
type truthFlow struct {
	Proto   string   `json:"proto"`
	Src     string   `json:"src"`
	Sport   int      `json:"sport"`
	Dst     string   `json:"dst"`
	Dport   int      `json:"dport"`
	FirstTS float64  `json:"first_ts"`
	Out     truthDir `json:"out"`
	In      truthDir `json:"in"`
}

type truthDir struct {
	Pkts         int   `json:"pkts"`
	PayloadBytes int   `json:"payload_bytes"`
	ByteDist     []int `json:"byte_dist"`
}

func (f *truthFlow) key() string {
	return fmt.Sprintf("%s %s:%d -> %s:%d", f.Proto, f.Src, f.Sport, f.Dst, f.Dport)
}

func loadTruthFile(t *testing.T, path string) []truthFlow {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Flows []truthFlow `json:"flows"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []truthFlow
	for _, f := range doc.Flows {
		if f.Proto == "tcp" || f.Proto == "udp" {
			out = append(out, f)
		}
	}
	return out
}

// tsharkFlows dissects a capture with tshark into conversations keyed by
// tshark's own stream numbers, with the initiator rule flowjoy documents
// (sender of the first SYN, else of the first packet).
func tsharkFlows(t *testing.T, pcap string) []truthFlow {
	t.Helper()
	fields := []string{"frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
		"tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "tcp.stream", "udp.stream",
		"tcp.len", "udp.length", "tcp.flags", "tcp.payload", "udp.payload"}
	args := []string{"-r", pcap, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=l"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark on %s: %v", pcap, err)
	}
	type pkt struct {
		src, dst     string
		sport, dport int
		payload      []byte
		plen         int
		flags        int64
		ts           float64
	}
	streams := map[string][]pkt{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) < len(fields) {
			continue
		}
		var p pkt
		p.ts, _ = strconv.ParseFloat(c[0], 64)
		p.src, p.dst = c[1], c[2]
		if c[3] != "" {
			p.src, p.dst = c[3], c[4]
		}
		var id string
		switch {
		case c[9] != "":
			id = "tcp " + c[9]
			p.sport, _ = strconv.Atoi(c[5])
			p.dport, _ = strconv.Atoi(c[6])
			p.plen, _ = strconv.Atoi(c[11])
			p.flags, _ = strconv.ParseInt(strings.TrimPrefix(c[13], "0x"), 16, 64)
			p.payload, _ = hex.DecodeString(strings.ReplaceAll(c[14], ":", ""))
		case c[10] != "":
			id = "udp " + c[10]
			p.sport, _ = strconv.Atoi(c[7])
			p.dport, _ = strconv.Atoi(c[8])
			n, _ := strconv.Atoi(c[12])
			p.plen = n - 8
			p.payload, _ = hex.DecodeString(strings.ReplaceAll(c[15], ":", ""))
		default:
			continue
		}
		if _, ok := streams[id]; !ok {
			order = append(order, id)
		}
		streams[id] = append(streams[id], p)
	}
	var flows []truthFlow
	for _, id := range order {
		pk := streams[id]
		init := pk[0]
		for _, p := range pk {
			if p.flags&0x12 == 0x02 { // SYN without ACK
				init = p
				break
			}
		}
		f := truthFlow{Proto: id[:3], Src: init.src, Sport: init.sport, Dst: init.dst, Dport: init.dport, FirstTS: pk[0].ts}
		f.Out.ByteDist, f.In.ByteDist = make([]int, 256), make([]int, 256)
		for _, p := range pk {
			d := &f.In
			if p.src == init.src && p.sport == init.sport {
				d = &f.Out
			}
			d.Pkts++
			d.PayloadBytes += p.plen
			for _, b := range p.payload {
				d.ByteDist[b]++
			}
		}
		flows = append(flows, f)
	}
	return flows
}

// recordKey is a record's key in truthFlow.key's format.
func recordKey(r map[string]any) string {
	pr := map[float64]string{6: "tcp", 17: "udp"}[r["pr"].(float64)]
	sp, _ := r["sp"].(float64)
	dp, _ := r["dp"].(float64)
	return fmt.Sprintf("%s %s:%d -> %s:%d", pr, r["sa"], int(sp), r["da"], int(dp))
}

// findRecord returns the record of f: same tuple, and a start time within
// 2 µs of tshark's (which rounds to microseconds where we truncate).
func findRecord(byKey map[string][]map[string]any, f *truthFlow) map[string]any {
	for _, r := range byKey[f.key()] {
		if math.Abs(r["time_start"].(float64)-f.FirstTS) <= 2e-6 {
			return r
		}
	}
	return nil
}

// compareWithTruth checks, for every tshark conversation, that flowjoy
// wrote one record with the same initiator, packet and payload-byte
// counts each way, and a byte distribution and entropy equal to what the
// payload bytes tshark shows give. It returns the number of flows compared.
func compareWithTruth(t *testing.T, name string, truth []truthFlow, records []map[string]any) int {
	t.Helper()
	byKey := map[string][]map[string]any{}
	for _, r := range records {
		if r["pr"] == 6.0 || r["pr"] == 17.0 {
			byKey[recordKey(r)] = append(byKey[recordKey(r)], r)
		}
	}
	for _, f := range truth {
		r := findRecord(byKey, &f)
		if r == nil {
			t.Errorf("%s: no record for %s at %.6f", name, f.key(), f.FirstTS)
			continue
		}
		got := [4]float64{r["num_pkts_out"].(float64), r["bytes_out"].(float64), r["num_pkts_in"].(float64), r["bytes_in"].(float64)}
		want := [4]float64{float64(f.Out.Pkts), float64(f.Out.PayloadBytes), float64(f.In.Pkts), float64(f.In.PayloadBytes)}
		if got != want {
			t.Errorf("%s: %s: pkts/bytes out, pkts/bytes in = %v, tshark %v", name, f.key(), got, want)
		}
		var dist [256]float64
		var total float64
		for i := 0; i < 256; i++ {
			if f.Out.ByteDist != nil {
				dist[i] += float64(f.Out.ByteDist[i])
			}
			if f.In.ByteDist != nil {
				dist[i] += float64(f.In.ByteDist[i])
			}
			total += dist[i]
		}
		if total == 0 {
			if _, ok := r["byte_dist"]; ok {
				t.Errorf("%s: %s: byte_dist without payload", name, f.key())
			}
			continue
		}
		bd, _ := r["byte_dist"].([]any)
		if len(bd) != 256 {
			t.Errorf("%s: %s: byte_dist missing", name, f.key())
			continue
		}
		for i := range dist {
			if bd[i].(float64) != dist[i] {
				t.Errorf("%s: %s: byte_dist[%d] = %v, tshark payload gives %v", name, f.key(), i, bd[i], dist[i])
				break
			}
		}
		var h float64
		for _, c := range dist {
			if c > 0 {
				h -= c / total * math.Log2(c/total)
			}
		}
		if e := r["entropy"].(float64); math.Abs(e-h) > 1e-6 {
			t.Errorf("%s: %s: entropy %v, independent computation %v", name, f.key(), e, h)
		}
		if r["byte_dist_bytes"].(float64) != total {
			t.Errorf("%s: %s: byte_dist_bytes %v, want %v", name, f.key(), r["byte_dist_bytes"], total)
		}
	}
	return len(truth)
}
