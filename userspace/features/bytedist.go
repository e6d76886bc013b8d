package features

import "math"

// ByteDist is a histogram of payload byte values.
//
// Joy kept 32-bit counts and then shifted them to fit a byte when printing
// (and cast to unsigned char, which wrapped): the raw counts are what
// analysts need, so we keep and print them as they are.
//
// Every flow with payload has one, so its counters are as wide as they
// need to be: no count can exceed Bytes, so while Bytes < 256 they are
// bytes (256 B), while Bytes < 65536 16 bits, then 32 bits. The width is
// chosen once per Add from the new total, never per byte.
type ByteDist struct {
	// Bytes is how many bytes the histogram covers.
	Bytes uint64
	c8    *[256]uint8
	c16   *[256]uint16
	c32   *[256]uint32
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
	total := d.Bytes + uint64(len(b))
	switch {
	case total <= math.MaxUint8:
		if d.c8 == nil {
			d.c8 = new([256]uint8)
		}
		c := d.c8
		for _, x := range b {
			c[x]++
		}
	case total <= math.MaxUint16:
		if d.c16 == nil {
			d.c16 = new([256]uint16)
			if d.c8 != nil {
				for i, n := range d.c8 {
					d.c16[i] = uint16(n)
				}
				d.c8 = nil
			}
		}
		c := d.c16
		for _, x := range b {
			c[x]++
		}
	default:
		if d.c32 == nil {
			d.c32 = new([256]uint32)
			if d.c8 != nil {
				for i, n := range d.c8 {
					d.c32[i] = uint32(n)
				}
				d.c8 = nil
			}
			if d.c16 != nil {
				for i, n := range d.c16 {
					d.c32[i] = uint32(n)
				}
				d.c16 = nil
			}
		}
		c := d.c32
		for _, x := range b {
			c[x]++
		}
	}
	d.Bytes = total
}

// Counts returns the count of every byte value.
func (d *ByteDist) Counts() (c [256]uint32) {
	switch {
	case d.c32 != nil:
		c = *d.c32
	case d.c16 != nil:
		for i, n := range d.c16 {
			c[i] = uint32(n)
		}
	case d.c8 != nil:
		for i, n := range d.c8 {
			c[i] = uint32(n)
		}
	}
	return c
}

// Mean is the mean byte value.
func (d *ByteDist) Mean() float64 {
	c := d.Counts()
	return mean(&c, d.Bytes)
}

func mean(c *[256]uint32, bytes uint64) float64 {
	if bytes == 0 {
		return 0
	}
	var sum float64
	for v, n := range c {
		sum += float64(v) * float64(n)
	}
	return sum / float64(bytes)
}

// Std is the sample standard deviation of the byte values (n-1 in the
// denominator, as Joy), 0 for fewer than two bytes.
func (d *ByteDist) Std() float64 {
	c := d.Counts()
	return std(&c, d.Bytes)
}

func std(c *[256]uint32, bytes uint64) float64 {
	if bytes < 2 {
		return 0
	}
	m := mean(c, bytes)
	var ss float64
	for v, n := range c {
		dv := float64(v) - m
		ss += dv * dv * float64(n)
	}
	return math.Sqrt(ss / float64(bytes-1))
}

// Entropy is the Shannon entropy of the byte values in bits per byte.
func (d *ByteDist) Entropy() float64 {
	c := d.Counts()
	return entropy(&c, d.Bytes)
}

func entropy(c *[256]uint32, bytes uint64) float64 {
	if bytes == 0 {
		return 0
	}
	n := float64(bytes)
	var h float64
	// Small counts repeat within a histogram (a flow's few hundred bytes
	// spread over 256 values): each term p·log2(p) of a count below
	// len(memo) is computed once per call. The same operations in the
	// same order give the same bits, so the entropy is unchanged.
	var memo [64]float64
	var known uint64
	for _, k := range c {
		if k == 0 {
			continue
		}
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
	return h
}

// Summary is everything the record says about a byte distribution,
// computed from one copy of the counts.
type Summary struct {
	Counts         [256]uint32
	Mean, Std, Ent float64
}

// Summarize fills s.
func (d *ByteDist) Summarize(s *Summary) {
	s.Counts = d.Counts()
	s.Mean = mean(&s.Counts, d.Bytes)
	s.Std = std(&s.Counts, d.Bytes)
	s.Ent = entropy(&s.Counts, d.Bytes)
}
