package dhcp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto/internal/pcaptest"
)

// tsharkRow is one frame of a testdata/tshark TSV.
type tsharkRow map[string]string

// readCapture reads testdata/pcap/NAME.pcap as the pipeline would hand
// it to a datagram parser (its UDP flows), and tshark's dissection of it
// (testdata/tshark, made by gen.sh) by version and frame number:
// NAME.v4.tsv holds the DHCPv4 frames, NAME.v6.tsv the DHCPv6 ones; a
// capture may lack either.
func readCapture(t testing.TB, name string) ([]*pcaptest.Flow, map[Version]map[int]tsharkRow) {
	t.Helper()
	flows := pcaptest.ReadUDP(t, filepath.Join("testdata", "pcap", name+".pcap"))
	out := map[Version]map[int]tsharkRow{}
	for v, suffix := range map[Version]string{V4: "v4", V6: "v6"} {
		p := filepath.Join("testdata", "tshark", name+"."+suffix+".tsv")
		if _, err := os.Stat(p); err != nil {
			continue
		}
		rows := map[int]tsharkRow{}
		for _, row := range pcaptest.ReadTSV(t, p) {
			var frame int
			fmt.Sscan(row["frame.number"], &frame)
			rows[frame] = row
		}
		out[v] = rows
	}
	return flows, out
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
