package tests

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the current output")

// Golden files: the records of each capture in testdata/captures, sorted
// (output order follows flow ends, which is not part of the contract).
// A change of output shows up here as a diff to review; after checking
// it, `go test ./tests -run Golden -update` records the new output.
func TestGolden(t *testing.T) {
	captures, _ := filepath.Glob("testdata/captures/*.pcap*")
	if len(captures) < 10 {
		t.Fatalf("only %d golden captures", len(captures))
	}
	for _, c := range captures {
		name := filepath.Base(c)
		r := runFlowjoy(t, nil, append([]string{"-r", c, "--idp", "32"}, noTimeouts...)...)
		if r.exit != 0 || len(r.records) == 0 {
			t.Errorf("%s: exit %d, %d records: %s", name, r.exit, len(r.records), r.stderr)
			continue
		}
		got := strings.Join(sortedLines(r.stdout), "\n") + "\n"
		golden := filepath.Join("testdata", "golden", name+".jsonl")
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Errorf("%s: %v (run with -update to create it)", name, err)
			continue
		}
		if got != string(want) {
			gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
			for i := 0; i < min(len(gl), len(wl)); i++ {
				if gl[i] != wl[i] {
					t.Errorf("%s: line %d differs:\n got  %s\n want %s", name, i+1, gl[i], wl[i])
					break
				}
			}
			if len(gl) != len(wl) {
				t.Errorf("%s: %d lines, golden %d", name, len(gl), len(wl))
			}
		}
	}
}
