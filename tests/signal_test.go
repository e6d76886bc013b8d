package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowjoy/flowjoy/schema"
)

// SIGINT while the input is a pipe that has stopped delivering (a stalled
// `tcpdump -w - | flowjoy -r -`): flowjoy does not hang; every flow seen
// so far is written, the output stays valid JSON lines, and the summary
// says it was interrupted.
func TestInterruptFlushesFlows(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(sharedDir(t), "joy", "firefox58.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(flowjoyBin, "-r", "-", "--stats-json")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdin.Write(raw[:len(raw)/2]) // then the pipe stays open and silent
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v %s", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("flowjoy hung after SIGINT on a stalled pipe")
	}
	recs, err := schema.ValidateLines(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), `"interrupted":true`) || strings.Contains(errb.String(), "warning") {
		t.Errorf("summary: %s", errb.String())
	}
	if len(recs) == 0 {
		t.Errorf("no records written after the interrupt")
	}
	for _, r := range recs {
		if r["expire_type"] == "e" {
			return
		}
	}
	t.Errorf("no flow was flushed with expire_type e")
}
