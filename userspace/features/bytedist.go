package features

import (
	"math"
	"math/bits"
)

// ByteDist is a histogram of payload byte values.
//
// Joy kept 32-bit counts and then shifted them to fit a byte when printing
// (and cast to unsigned char, which wrapped): the raw counts are what
// analysts need, so we keep and print them as they are.
//
// Every flow with payload has one, so it is one 288-byte allocation: the
// low 8 bits of each count, and the higher bits (the number of times a
// count wrapped) only for the values that wrapped. Random payload of a
// few kilobytes wraps no count; a payload of mostly zeros wraps one or
// two. Counting stays one increment per byte, with a branch taken once
// every 256 occurrences of a value.
type ByteDist struct {
	// Bytes is how many bytes the histogram covers.
	Bytes uint64
	low   [256]uint8
	// high lists (value, wraps) of the values whose count wrapped, in the
	// order they first wrapped; once more than maxSparseHigh values
	// wrapped it is indexed by value (len 256).
	high []highCount
}

type highCount struct {
	value uint8
	n     uint32 // count = n<<8 | low[value]
}

const maxSparseHigh = 16

// maxDistBytes keeps every count within uint32 whatever --dist-bytes says.
const maxDistBytes = math.MaxUint32

// Add counts b, stopping at limit bytes in total (negative: no limit but
// the uint32 bound).
func (d *ByteDist) Add(b []byte, limit int64) {
	room := uint64(maxDistBytes)
	if limit >= 0 && uint64(limit) < room {
		room = uint64(limit)
	}
	if d.Bytes >= room {
		return
	}
	if left := room - d.Bytes; uint64(len(b)) > left {
		b = b[:left]
	}
	d.Bytes += uint64(len(b))
	c := &d.low
	for _, x := range b {
		n := c[x] + 1
		c[x] = n
		if n == 0 {
			d.wrapped(x)
		}
	}
}

// wrapped notes that the low 8 bits of value's count wrapped to 0.
func (d *ByteDist) wrapped(value uint8) {
	if len(d.high) == 256 {
		d.high[value].n++
		return
	}
	for i := range d.high {
		if d.high[i].value == value {
			d.high[i].n++
			return
		}
	}
	if len(d.high) < maxSparseHigh {
		d.high = append(d.high, highCount{value: value, n: 1})
		return
	}
	dense := make([]highCount, 256)
	for _, h := range d.high {
		dense[h.value].n = h.n
	}
	dense[value].n++
	d.high = dense
}

// Reset empties the histogram, keeping its memory.
func (d *ByteDist) Reset() {
	high := d.high
	*d = ByteDist{}
	if len(high) == 256 {
		clear(high)
		d.high = high
	} else {
		d.high = high[:0]
	}
}

// Counts returns the count of every byte value.
func (d *ByteDist) Counts() (c [256]uint32) {
	for i, n := range d.low {
		c[i] = uint32(n)
	}
	if len(d.high) == 256 {
		for i, h := range d.high {
			c[i] |= h.n << 8
		}
	} else {
		for _, h := range d.high {
			c[h.value] |= h.n << 8
		}
	}
	return c
}

// Summary is everything the record says about a byte distribution,
// computed from one copy of the counts.
type Summary struct {
	Counts         [256]uint32
	Mean, Std, Ent float64
}

// Summarize fills s: the mean byte value, the sample standard deviation
// (n-1 in the denominator, as Joy; 0 for fewer than two bytes) and the
// Shannon entropy in bits per byte.
//
// Every record with payload pays for this, so it is one pass of integer
// sums and table lookups instead of Joy's textbook loops of float
// divisions and logarithms (a third of the record's cost):
//   - Σk·v and Σk·v² are exact integers (below 2^40 and 2^48 as counts sum
//     to at most 2^32), and the variance's numerator n·Σk·v² − (Σk·v)² is
//     computed from them exactly in 128 bits and only then made a float:
//     no cancellation, unlike a float sum of squared deviations;
//   - the entropy −Σ(k/n)·log2(k/n) is log2(n) − Σk·log2(k)/n, with
//     k·log2(k) from a table for the counts that never wrapped (k < 256,
//     nearly all of them) and one logarithm per count above.
//
// The results differ from the textbook loops by rounding only (within
// 1e-12, TestByteDistWidths), far below the six decimals records print.
func (d *ByteDist) Summarize(s *Summary) {
	s.Counts = d.Counts()
	s.Mean, s.Std, s.Ent = 0, 0, 0
	if d.Bytes == 0 {
		return
	}
	var sum, squares uint64
	// Four partial sums, so that the float additions do not wait on each
	// other.
	var h [4]float64
	for v := 0; v < 256; v += 4 {
		for j, k := range s.Counts[v : v+4 : v+4] {
			x := uint64(v + j)
			sum += x * uint64(k)
			squares += x * x * uint64(k)
			if k < 256 {
				h[j] += kLog2k[k]
			} else {
				h[j] += float64(k) * math.Log2(float64(k))
			}
		}
	}
	n := float64(d.Bytes)
	s.Mean = float64(sum) / n
	if d.Bytes >= 2 {
		// n·Σk·v² − (Σk·v)² ≥ 0 by Cauchy–Schwarz.
		hi1, lo1 := bits.Mul64(d.Bytes, squares)
		hi2, lo2 := bits.Mul64(sum, sum)
		lo, borrow := bits.Sub64(lo1, lo2, 0)
		hi, _ := bits.Sub64(hi1, hi2, borrow)
		num := float64(hi)*(1<<64) + float64(lo)
		s.Std = math.Sqrt(num / n / float64(d.Bytes-1))
	}
	// A payload of one value has entropy 0; rounding must not make it a
	// tiny negative number (printed as -0.000000).
	s.Ent = max(0, math.Log2(n)-(h[0]+h[1]+h[2]+h[3])/n)
}

// kLog2k is k·log2(k) for k < 256 (0 for k = 0).
var kLog2k = func() (t [256]float64) {
	for k := 1; k < len(t); k++ {
		t[k] = float64(k) * math.Log2(float64(k))
	}
	return t
}()
