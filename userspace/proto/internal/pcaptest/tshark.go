package pcaptest

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ReadTSV reads a tshark field export with a header line (tshark -T fields
// -E header=y): one map per line, from field name to value. A line with
// more or fewer fields than the header fails the test.
func ReadTSV(tb testing.TB, path string) []map[string]string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	header := strings.Split(lines[0], "\t")
	var rows []map[string]string
	for i, line := range lines[1:] {
		vals := strings.Split(line, "\t")
		if len(vals) != len(header) {
			tb.Fatalf("%s:%d: %d fields, header has %d", path, i+2, len(vals), len(header))
		}
		row := make(map[string]string, len(header))
		for j, h := range header {
			row[h] = vals[j]
		}
		rows = append(rows, row)
	}
	return rows
}

// TruthNames lists the dissections dir holds, one or two folders deep
// (dir/SOURCE/NAME.json, dir/SOURCE/SUB/NAME.json): for each the path
// below dir without ".json", which is also the capture's path below the
// captures folder. The order is that of the listing, shallow ones first.
func TruthNames(tb testing.TB, dir string) []string {
	tb.Helper()
	var names []string
	for _, pattern := range []string{"*/*.json", "*/*/*.json"} {
		files, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			tb.Fatal(err)
		}
		for _, f := range files {
			rel, err := filepath.Rel(dir, f)
			if err != nil {
				tb.Fatal(err)
			}
			names = append(names, strings.TrimSuffix(filepath.ToSlash(rel), ".json"))
		}
	}
	return slices.Clip(names)
}

// EachTruth runs check in a subtest for every capture with a dissection
// under truthDir (see TruthNames): name is the capture's path below
// captureDir, truth the dissection decoded into a new T, flows the
// capture's (Read). It fails the test when truthDir holds none.
func EachTruth[T any](t *testing.T, truthDir, captureDir string, check func(t *testing.T, name string, truth *T, flows []*Flow)) {
	t.Helper()
	names := TruthNames(t, truthDir)
	if len(names) == 0 {
		t.Fatalf("no truth files under %s", truthDir)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			truth := new(T)
			ReadJSON(t, filepath.Join(truthDir, name+".json"), truth)
			check(t, name, truth, Read(t, filepath.Join(captureDir, name)))
		})
	}
}

// ReadJSON decodes the JSON file at path into v or fails the test.
func ReadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// TruthFlow is the 5-tuple of one flow of a truth file, a tshark
// dissection in the JSON of /work/shared/pcaps/truth (the packages'
// testdata/truth hold trimmed copies). Src is the side tshark saw first.
// A test embeds it in its flow type, beside the protocol's own list.
type TruthFlow struct {
	Proto string // "tcp", "udp", or another IP protocol
	Src   string
	Sport uint16
	Dst   string
	Dport uint16
}

// Endpoints returns the flow's source and destination.
func (f TruthFlow) Endpoints() (src, dst netip.AddrPort) {
	return netip.AddrPortFrom(netip.MustParseAddr(f.Src), f.Sport), netip.AddrPortFrom(netip.MustParseAddr(f.Dst), f.Dport)
}
