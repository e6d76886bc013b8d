package features

import "math"

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
// Shannon entropy in bits per byte. One pass over the counts gives the
// mean, one the standard deviation and the entropy together; every float
// has the bits of the textbook float loops (TestByteDistWidths):
//   - the mean's sum of value·count is an integer below 2^40 (counts are
//     below 2^32), so summing in integers loses nothing that a float sum
//     of the same terms would keep;
//   - zero counts are skipped: their std term is +0, which leaves the
//     non-negative sum as it was, and the entropy has no term for them;
//   - the float sums add their terms in value order, as the loops do;
//   - small counts repeat within a histogram (a flow's few hundred bytes
//     spread over 256 values): each entropy term p·log2(p) of a count
//     below len(memo) is computed once.
func (d *ByteDist) Summarize(s *Summary) {
	s.Counts = d.Counts()
	s.Mean, s.Std, s.Ent = 0, 0, 0
	if d.Bytes == 0 {
		return
	}
	var sum uint64
	for v, k := range s.Counts {
		sum += uint64(v) * uint64(k)
	}
	n := float64(d.Bytes)
	m := float64(sum) / n
	s.Mean = m
	var ss, h float64
	var memo [64]float64
	var known uint64
	for v, k := range s.Counts {
		if k == 0 {
			continue
		}
		dv := float64(v) - m
		ss += dv * dv * float64(k)
		if k < uint32(len(memo)) {
			if known&(1<<k) == 0 {
				p := float64(k) / n
				memo[k] = p * math.Log2(p)
				known |= 1 << k
			}
			h -= memo[k]
			continue
		}
		p := float64(k) / n
		h -= p * math.Log2(p)
	}
	if d.Bytes >= 2 {
		s.Std = math.Sqrt(ss / float64(d.Bytes-1))
	}
	s.Ent = h
}
