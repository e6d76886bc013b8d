package features

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestByteDistWidths: whatever widths the counters go through (8, 16, 32
// bits) and however the payload is cut into Adds, the counts are the
// plain counts of every byte, up to the limit.
func TestByteDistWidths(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct {
		total int
		limit int64
	}{{0, -1}, {1, -1}, {255, -1}, {256, -1}, {65535, -1}, {65536, -1}, {200_000, -1}, {200_000, 70_000}, {1000, 300}, {1000, 0}} {
		var d ByteDist
		var want [256]uint32
		counted := 0
		for left := c.total; left > 0; {
			n := min(left, 1+rng.IntN(3000))
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.IntN(7)) // few values: counts reach the width limits
			}
			d.Add(b, c.limit)
			for _, x := range b {
				if c.limit < 0 || int64(counted) < c.limit {
					want[x]++
					counted++
				}
			}
			left -= n
		}
		if got := d.Counts(); got != want {
			t.Errorf("total %d limit %d: counts differ", c.total, c.limit)
		}
		if d.Bytes != uint64(counted) {
			t.Errorf("total %d limit %d: Bytes %d, want %d", c.total, c.limit, d.Bytes, counted)
		}
		// The memoized entropy is bit-identical to the plain formula.
		counts := d.Counts()
		var plain float64
		for _, k := range counts {
			if k > 0 {
				p := float64(k) / float64(d.Bytes)
				plain -= p * math.Log2(p)
			}
		}
		if e := d.Entropy(); e != plain {
			t.Errorf("total %d: entropy %v, plain formula %v", c.total, e, plain)
		}
		var s Summary
		d.Summarize(&s)
		if s.Mean != d.Mean() || s.Std != d.Std() || s.Ent != d.Entropy() {
			t.Errorf("total %d: Summarize %+v differs from Mean/Std/Entropy", c.total, s)
		}
	}
}
