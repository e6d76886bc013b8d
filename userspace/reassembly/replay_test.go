package reassembly

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestReplayCaptures reassembles every TCP direction of real captures and
// compares the bytes with tshark's "Follow TCP Stream" of the same capture
// (testdata/pcap/*.follow, made by testdata/gen-follow.sh): up to tshark's
// first "bytes missing" marker they must be identical. How each direction
// ends is read off tshark's per-packet sequence numbers (noted per case).
func TestReplayCaptures(t *testing.T) {
	const (
		cveSrv = "192.168.235.136:8089"
		egCli  = "141.142.228.5:59856"
		egSrv  = "192.150.187.43:80"
		hrrCli = "10.192.48.168:63564"
		hrrSrv = "64.233.185.139:443"
		medCli = "192.168.122.230:60648"
		medSrv = "77.238.160.184:80"
		rfCli  = "10.0.88.85:50368"
		rfSrv  = "192.168.0.27:80"
		s4Cli  = "10.0.0.1:50606"
		s4Srv  = "10.0.0.2:9901"
		shCli  = "192.168.1.108:62561"
		shSrv  = "87.240.132.72:80"
	)
	type dir struct {
		end        End
		outOfOrder uint32
	}
	tests := []struct {
		pcap   string
		budget uint32
		dirs   map[string]dir // by "SRC DST"
	}{
		// Three connections; each side sends its data then a FIN, the
		// client retransmits data+FIN several times after the FIN. The
		// third client sends only a FIN.
		{pcap: "CVE-2018-6794", dirs: map[string]dir{
			cveSrv + " 192.168.235.1:53649": {end: EndComplete},
			"192.168.235.1:53649 " + cveSrv: {end: EndComplete},
			cveSrv + " 192.168.235.1:53656": {end: EndComplete},
			"192.168.235.1:53656 " + cveSrv: {end: EndComplete},
			cveSrv + " 192.168.235.1:53648": {end: EndComplete},
			"192.168.235.1:53648 " + cveSrv: {end: EndComplete},
		}},
		// The server's segment at relative seq 1449 was not captured:
		// 1448 bytes, then a hole that Close reports.
		{pcap: "entity_gap", dirs: map[string]dir{
			egCli + " " + egSrv: {end: EndComplete},
			egSrv + " " + egCli: {end: EndMissing, outOfOrder: 2},
		}},
		// The server's segment at seq 1468 arrives before the one at 100.
		{pcap: "hrr", dirs: map[string]dir{
			hrrCli + " " + hrrSrv: {end: EndComplete},
			hrrSrv + " " + hrrCli: {end: EndComplete, outOfOrder: 1},
		}},
		// None of the server's data was captured, only its FIN at 2903.
		{pcap: "miss_end_data", dirs: map[string]dir{
			medCli + " " + medSrv: {end: EndComplete},
			medSrv + " " + medCli: {end: EndMissing},
		}},
		// Snap length 54: every payload is cut to nothing.
		{pcap: "retransmit-fast009", dirs: map[string]dir{
			rfCli + " " + rfSrv: {end: EndMissing},
			rfSrv + " " + rfCli: {end: EndMissing},
		}},
		// The client's segments after its first 38 bytes were not
		// captured, but its ACKs carry seq 240; the server's segment at
		// 1369 arrives before the one at 9, and its stream has no FIN.
		{pcap: "socks4-https", dirs: map[string]dir{
			s4Cli + " " + s4Srv: {end: EndMissing},
			s4Srv + " " + s4Cli: {end: EndClosed, outOfOrder: 1},
		}},
		// The same with a budget the server's 6784 bytes exceed.
		{pcap: "socks4-https", budget: 4096, dirs: map[string]dir{
			s4Cli + " " + s4Srv: {end: EndMissing},
			s4Srv + " " + s4Cli: {end: EndBudget, outOfOrder: 1},
		}},
		// The server's FIN (seq 342) is captured before its data (seq 1).
		{pcap: "ssl-to-http-server", dirs: map[string]dir{
			shCli + " " + shSrv: {end: EndComplete},
			shSrv + " " + shCli: {end: EndComplete},
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/budget=%d", tt.pcap, tt.budget), func(t *testing.T) {
			follow, err := readFollow(filepath.Join("testdata", "pcap", tt.pcap+".follow"))
			if err != nil {
				t.Fatal(err)
			}
			lim := NewLimiter(0)
			got, err := replay(filepath.Join("testdata", "pcap", tt.pcap+".pcap"), tt.budget, lim)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.dirs) {
				t.Errorf("capture has %d directions, test lists %d", len(got), len(tt.dirs))
			}
			for key, want := range tt.dirs {
				g, ok := got[key]
				if !ok {
					t.Errorf("%s: no such direction in capture", key)
					continue
				}
				ref := follow[key]
				if tt.budget != 0 && len(ref) > int(tt.budget) {
					ref = ref[:tt.budget]
				}
				if !bytes.Equal(g.rec.data, ref) {
					t.Errorf("%s: delivered %d bytes, tshark %d; first difference at %d",
						key, len(g.rec.data), len(ref), firstDiff(g.rec.data, ref))
				}
				st := g.d.Stats()
				if st.End != want.end || st.OutOfOrder != want.outOfOrder {
					t.Errorf("%s: End %v, OutOfOrder %d; want %v, %d", key, st.End, st.OutOfOrder, want.end, want.outOfOrder)
				}
				g.rec.check(t, g.d)
			}
			if b := lim.Stats().Buffered; b != 0 {
				t.Errorf("%d bytes still buffered after Close", b)
			}
		})
	}
}

type replayed struct {
	d   *Direction
	rec *recorder
}

// replay feeds every TCP segment of a capture to a Direction per
// "SRC DST" and closes them all at the end.
func replay(path string, budget uint32, lim *Limiter) (map[string]*replayed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		decoded []gopacket.LayerType
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &tcp)
	parser.IgnoreUnsupported = true
	dirs := map[string]*replayed{}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := parser.DecodeLayers(data, &decoded); err != nil {
			continue
		}
		var src, dst netip.Addr
		var wire int
		hasTCP := false
		for _, l := range decoded {
			switch l {
			case layers.LayerTypeIPv4:
				src, _ = netip.AddrFromSlice(ip4.SrcIP)
				dst, _ = netip.AddrFromSlice(ip4.DstIP)
				wire = int(ip4.Length) - int(ip4.IHL)*4
			case layers.LayerTypeIPv6:
				src, _ = netip.AddrFromSlice(ip6.SrcIP)
				dst, _ = netip.AddrFromSlice(ip6.DstIP)
				wire = int(ip6.Length)
			case layers.LayerTypeTCP:
				hasTCP = true
			}
		}
		if !hasTCP {
			continue
		}
		wire -= int(tcp.DataOffset) * 4
		key := netip.AddrPortFrom(src, uint16(tcp.SrcPort)).String() + " " + netip.AddrPortFrom(dst, uint16(tcp.DstPort)).String()
		g := dirs[key]
		if g == nil {
			g = &replayed{d: &Direction{Budget: budget, Limiter: lim}, rec: &recorder{}}
			dirs[key] = g
		}
		var flags uint8
		if tcp.FIN {
			flags |= fFIN
		}
		if tcp.SYN {
			flags |= fSYN
		}
		if tcp.RST {
			flags |= fRST
		}
		if tcp.ACK {
			flags |= fACK
		}
		g.d.Segment(tcp.Seq, flags, tcp.Payload, uint32(max(wire, len(tcp.Payload))), ci.Timestamp.UnixNano(), g.rec)
	}
	for _, g := range dirs {
		g.d.Close(g.rec)
	}
	return dirs, nil
}

// readFollow reads a .follow file into the bytes of each "SRC DST" up to
// tshark's first missing-bytes marker.
func readFollow(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	streams := map[string][]byte{}
	gap := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: want SRC DST HEX", path, n)
		}
		key := fields[0] + " " + fields[1]
		if fields[2] == "GAP" {
			gap[key] = true
			continue
		}
		chunk, err := hex.DecodeString(fields[2])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if !gap[key] {
			streams[key] = append(streams[key], chunk...)
		}
	}
	return streams, sc.Err()
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
