// Package tests holds flowjoy's end-to-end tests: they build the command,
// run it on captures (shared public ones, and real traffic the tests make
// in network namespaces), validate every record against the schema, and
// compare what can be compared with tshark's dissection of the same
// packets.
package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/flowjoy/flowjoy/schema"
)

var flowjoyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flowjoy-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	flowjoyBin = filepath.Join(dir, "flowjoy")
	build := exec.Command("go", "build", "-o", flowjoyBin, "../cmd/flowjoy")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building flowjoy:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if capturePath != "" {
		os.RemoveAll(filepath.Dir(capturePath))
	}
	os.Exit(code)
}

// result is one run of the command.
type result struct {
	records []map[string]any
	stdout  []byte
	stderr  string
	exit    int
}

// runFlowjoy runs the command and validates every line of its output
// against the record schema.
func runFlowjoy(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(flowjoyBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{stdout: out.Bytes(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running flowjoy %v: %v", args, err)
	}
	recs, verr := schema.ValidateLines(out.Bytes())
	if verr != nil {
		t.Fatalf("flowjoy %v: output does not match the schema: %v", args, verr)
	}
	r.records = recs
	return r
}

// sharedDir is ../shared/pcaps next to the repository.
func sharedDir(t *testing.T) string {
	t.Helper()
	d, _ := filepath.Abs("../../shared/pcaps")
	if _, err := os.Stat(d); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared captures missing at %s", d)
		}
		t.Skipf("shared captures not found at %s", d)
	}
	return d
}

// needRoot skips (or, in CI, fails) tests that make network namespaces.
func needRoot(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs root on Linux (network namespaces) and CI=true")
		}
		t.Skip("needs root on Linux to create network namespaces; run with sudo")
	}
}

var (
	captureOnce sync.Once
	capturePath string
	captureErr  error
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
