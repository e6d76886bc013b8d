package features

import "math"

// ByteDist is a histogram of payload byte values.
//
// Joy kept 32-bit counts and then shifted them to fit a byte when printing
// (and cast to unsigned char, which wrapped): the raw counts are what
// analysts need, so we keep and print them as they are.
type ByteDist struct {
	Counts [256]uint32
	// Bytes is how many bytes the histogram covers.
	Bytes uint64
}

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
	c := &d.Counts
	for _, x := range b {
		c[x]++
	}
	d.Bytes += uint64(len(b))
}

// Mean is the mean byte value.
func (d *ByteDist) Mean() float64 {
	if d.Bytes == 0 {
		return 0
	}
	var sum float64
	for v, n := range d.Counts {
		sum += float64(v) * float64(n)
	}
	return sum / float64(d.Bytes)
}

// Std is the sample standard deviation of the byte values (n-1 in the
// denominator, as Joy), 0 for fewer than two bytes.
func (d *ByteDist) Std() float64 {
	if d.Bytes < 2 {
		return 0
	}
	m := d.Mean()
	var ss float64
	for v, n := range d.Counts {
		dv := float64(v) - m
		ss += dv * dv * float64(n)
	}
	return math.Sqrt(ss / float64(d.Bytes-1))
}

// Entropy is the Shannon entropy of the byte values in bits per byte.
func (d *ByteDist) Entropy() float64 {
	if d.Bytes == 0 {
		return 0
	}
	n := float64(d.Bytes)
	var h float64
	for _, c := range d.Counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
