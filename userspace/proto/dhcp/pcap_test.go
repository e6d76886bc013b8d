package dhcp

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// This file is the test-only way from a capture to what the pipeline
// would hand a datagram parser: each UDP flow's payloads in order, with
// their directions and frame numbers.

type endpoint struct {
	addr netip.Addr
	port uint16
}

type datagram struct {
	frame     int // 1-based, as tshark counts
	dir       proto.Dir
	payload   []byte
	truncated bool
}

type udpFlow struct {
	initiator, responder endpoint
	datagrams            []datagram
}

func readUDPFlows(t testing.TB, path string) []*udpFlow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	src := gopacket.NewPacketSource(r, r.LinkType())
	type key struct{ a, b endpoint }
	byKey := map[key]*udpFlow{}
	var flows []*udpFlow
	frame := 0
	for pkt := range src.Packets() {
		frame++
		var udp *layers.UDP
		var s, d netip.Addr
		for _, l := range pkt.Layers() {
			switch l := l.(type) {
			case *layers.IPv4:
				s, _ = netip.AddrFromSlice(l.SrcIP.To4())
				d, _ = netip.AddrFromSlice(l.DstIP.To4())
			case *layers.IPv6:
				s, _ = netip.AddrFromSlice(l.SrcIP)
				d, _ = netip.AddrFromSlice(l.DstIP)
			case *layers.UDP:
				udp = l
			}
		}
		if udp == nil || !s.IsValid() {
			continue
		}
		a, b := endpoint{s, uint16(udp.SrcPort)}, endpoint{d, uint16(udp.DstPort)}
		fl := byKey[key{a, b}]
		if fl == nil {
			fl = byKey[key{b, a}]
		}
		if fl == nil {
			fl = &udpFlow{initiator: a, responder: b}
			byKey[key{a, b}] = fl
			flows = append(flows, fl)
		}
		dir := proto.Out
		if a == fl.responder {
			dir = proto.In
		}
		// The UDP length says how long the datagram was on the wire.
		payload := udp.Payload
		truncated := int(udp.Length) > 8 && len(payload) < int(udp.Length)-8
		fl.datagrams = append(fl.datagrams, datagram{frame, dir, append([]byte(nil), payload...), truncated})
	}
	return flows
}

// tsharkRow is one frame of a testdata/tshark TSV.
type tsharkRow map[string]string

func readTshark(t testing.TB, path string) map[int]tsharkRow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	header := strings.Split(lines[0], "\t")
	rows := map[int]tsharkRow{}
	for i, line := range lines[1:] {
		vals := strings.Split(line, "\t")
		if len(vals) != len(header) {
			t.Fatalf("%s:%d: %d fields, header has %d", path, i+2, len(vals), len(header))
		}
		row := tsharkRow{}
		for j, h := range header {
			row[h] = vals[j]
		}
		var frame int
		fmt.Sscan(row["frame.number"], &frame)
		rows[frame] = row
	}
	return rows
}

// list splits an aggregated field; empty for an absent field.
func (r tsharkRow) list(field string) []string {
	if r[field] == "" {
		return nil
	}
	return strings.Split(r[field], "|")
}

// first returns the first value of an aggregated field.
func (r tsharkRow) first(field string) string {
	v, _, _ := strings.Cut(r[field], "|")
	return v
}
