package reassembly

import (
	"bytes"
	"testing"
)

const benchMSS = 1460

// BenchmarkInOrder measures the common case: each segment is the next one
// and is delivered straight from the payload. It must not allocate.
func BenchmarkInOrder(b *testing.B) {
	payload := bytes.Repeat([]byte("p"), benchMSS)
	var sink countingDeliverer
	d := &Direction{Budget: MaxBudget}
	d.Segment(0, fSYN, nil, 0, 0, &sink)
	seq := uint32(1)
	b.SetBytes(benchMSS)
	b.ReportAllocs()
	for b.Loop() {
		if d.End() != EndOpen { // budget reached: start a new stream
			*d = Direction{Budget: MaxBudget}
			d.Segment(0, fSYN, nil, 0, 0, &sink)
			seq = 1
		}
		d.Segment(seq, fACK, payload, benchMSS, 0, &sink)
		seq += benchMSS
	}
}

// BenchmarkReorder measures a DefaultBudget stream whose segments arrive
// in swapped pairs, so every other one is buffered and flushed, with
// pages and buffers coming from the pools.
func BenchmarkReorder(b *testing.B) {
	const n = DefaultBudget
	stream := bytes.Repeat([]byte("0123456789abcdef"), n/16)
	var segs []rawSeg
	for off := 0; off < n; off += benchMSS {
		segs = append(segs, rawSeg{off: off, end: min(n, off+benchMSS)})
	}
	for i := 0; i+1 < len(segs); i += 2 {
		segs[i], segs[i+1] = segs[i+1], segs[i]
	}
	lim := NewLimiter(0)
	var sink countingDeliverer
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		d := Direction{Limiter: lim}
		d.Segment(0, fSYN, nil, 0, 0, &sink)
		for _, s := range segs {
			d.Segment(1+uint32(s.off), fACK, stream[s.off:s.end], uint32(s.end-s.off), 0, &sink)
		}
		d.Close(&sink)
	}
	if sink.gaps != 0 || lim.Stats().Buffered != 0 {
		b.Fatalf("gaps %d, buffered %d", sink.gaps, lim.Stats().Buffered)
	}
}
