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
		// Summarize's floats are the textbook float loops' up to rounding.
		counts := d.Counts()
		var mean, ss, plain float64
		n := float64(d.Bytes)
		for v, k := range counts {
			mean += float64(v) * float64(k)
		}
		if d.Bytes > 0 {
			mean /= n
		}
		for v, k := range counts {
			dv := float64(v) - mean
			ss += dv * dv * float64(k)
			if k > 0 {
				p := float64(k) / n
				plain -= p * math.Log2(p)
			}
		}
		std := 0.0
		if d.Bytes >= 2 {
			std = math.Sqrt(ss / float64(d.Bytes-1))
		}
		var s Summary
		d.Summarize(&s)
		if s.Counts != counts || !near(s.Mean, mean) || !near(s.Std, std) || !near(s.Ent, plain) || s.Ent < 0 {
			t.Errorf("total %d: Summarize mean %v std %v entropy %v, plain loops %v %v %v", c.total, s.Mean, s.Std, s.Ent, mean, std, plain)
		}
	}
}

// near: a and b differ by rounding only (relative 1e-12, absolute for
// values below 1).
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-12*max(1, math.Abs(b))
}
