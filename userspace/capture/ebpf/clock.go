package ebpf

import (
	"math"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// clock turns the kernel's timestamps (bpf_ktime_get_ns: CLOCK_MONOTONIC)
// into wall-clock time. The offset between the two clocks changes only
// when the wall clock is stepped (NTP slews both alike), so it is measured
// at start and again at every sweep, which follows a step within one
// sweep interval.
type clock struct {
	offset atomic.Int64 // CLOCK_REALTIME - CLOCK_MONOTONIC, ns
}

// calibrate measures the offset: of a few monotonic/realtime/monotonic
// readings it keeps the one whose monotonic readings are closest
// together, pairing the realtime reading with their midpoint. The error
// is about half that gap, well under a microsecond.
func (c *clock) calibrate() {
	best, offset := int64(math.MaxInt64), int64(0)
	for range 5 {
		m1 := clockNow(unix.CLOCK_MONOTONIC)
		r := clockNow(unix.CLOCK_REALTIME)
		m2 := clockNow(unix.CLOCK_MONOTONIC)
		if gap := m2 - m1; gap < best {
			best, offset = gap, r-(m1+m2)/2
		}
	}
	c.offset.Store(offset)
}

// wall converts a kernel timestamp to ns since the Unix epoch.
func (c *clock) wall(mono uint64) int64 { return int64(mono) + c.offset.Load() }

func clockNow(id int32) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		return 0 // cannot fail for these clocks on Linux
	}
	return ts.Nano()
}

// monotonicNow is the kernel's clock as bpf_ktime_get_ns reads it.
func monotonicNow() uint64 { return uint64(clockNow(unix.CLOCK_MONOTONIC)) }
