package features

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestByteDistWidths: whether counts wrap their low 8 bits for no value,
// a few values (sparse high parts) or many (dense), however the payload
// is cut into Adds, and after a Reset, the counts are the plain counts of
// every byte, up to the limit.
func TestByteDistWidths(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var reused ByteDist
	for _, c := range []struct {
		total  int
		limit  int64
		values int
	}{{0, -1, 7}, {1, -1, 7}, {255, -1, 7}, {256, -1, 1}, {65535, -1, 7}, {65536, -1, 7}, {200_000, -1, 7},
		{200_000, 70_000, 7}, {1000, 300, 7}, {1000, 0, 7}, {5000, -1, 20}, {200_000, -1, 256}, {1 << 20, -1, 256}} {
		var fresh ByteDist
		reused.Reset()
		for _, d := range []*ByteDist{&fresh, &reused} {
			checkByteDist(t, d, rng, c.total, c.limit, c.values)
		}
	}
}

func checkByteDist(t *testing.T, d *ByteDist, rng *rand.Rand, total int, limit int64, values int) {
	c := struct {
		total int
		limit int64
	}{total, limit}
	{
		var want [256]uint32
		counted := 0
		for left := c.total; left > 0; {
			n := min(left, 1+rng.IntN(3000))
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.IntN(values)) // few values: counts wrap
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
