package shard

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: without GOGC in the environment the target becomes
// GCPercent; with it, the environment's value stays.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	TuneGC()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("GOGC unset: target %d, want %d", got, GCPercent)
	}
	t.Setenv("GOGC", "100")
	TuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=100: target %d, want 100 kept", got)
	}
}
