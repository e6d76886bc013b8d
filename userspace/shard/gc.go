package shard

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector target (GOGC) the file engine runs
// with. Its heap is mostly flow state that lives as long as the flow (the
// byte distribution, the packet lists, the parsers' state), and most of
// what it allocates besides dies within one packet or one record. With
// Go's default of 100 the heap grows to twice the live flow state before
// each collection, and peak RSS follows: on tests/mkcapture's capture
// with --features all, 62 MB live gave 137–142 MB RSS. At 50 the heap
// grows to 1.5 times: 106–110 MB RSS, for about 5 % more CPU
// (docs/PERFORMANCE.md).
const GCPercent = 50

// TuneGC sets the garbage collector's target to GCPercent unless the
// GOGC environment variable chose one. The command calls it before
// reading files; it is process-wide, so the package does not call it
// itself.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
