package reassembly

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// rawSeg is a segment of a generated stream: payload is stream[off:end].
type rawSeg struct {
	off, end int
	fin      bool
}

// cut splits [0, n) into pieces of 1..maxPiece bytes.
func cut(rng *rand.Rand, n, maxPiece int) []rawSeg {
	var segs []rawSeg
	for off := 0; off < n; {
		end := min(n, off+1+rng.IntN(maxPiece))
		segs = append(segs, rawSeg{off: off, end: end})
		off = end
	}
	return segs
}

// shuffle reorders segs: fully when there are few, else each moves at most
// a few places, as real reordering does (a full shuffle of hundreds of tiny
// segments would exceed maxSpans, which TestSpansOverflow covers).
func shuffle(rng *rand.Rand, segs []rawSeg) {
	if len(segs) <= 64 {
		rng.Shuffle(len(segs), func(i, j int) { segs[i], segs[j] = segs[j], segs[i] })
		return
	}
	for i := range segs {
		j := min(len(segs)-1, i+rng.IntN(8))
		segs[i], segs[j] = segs[j], segs[i]
	}
}

// TestRandomSegmentation checks, over many random streams, that whatever
// the segmentation, reordering, duplication and overlap, the delivered
// bytes are exactly the stream's first budget bytes (from the first
// segment's offset for a mid-stream start), and the direction ends the way
// the stream's length, FIN and budget say.
func TestRandomSegmentation(t *testing.T) {
	rng := rand.New(rand.NewPCG(0x5eed, 1))
	for iter := range 3000 {
		n := rng.IntN(20000) + 1
		stream := make([]byte, n)
		for i := range stream {
			stream[i] = byte(rng.Uint32())
		}
		var budget uint32
		switch rng.IntN(3) {
		case 0: // DefaultBudget
		case 1:
			budget = uint32(rng.IntN(n+50)) + 1
		case 2:
			budget = MaxBudget
		}
		withSYN := rng.IntN(4) != 0
		withFIN := rng.IntN(2) == 0
		maxPiece := []int{20, 600, 3000}[rng.IntN(3)]
		segs := cut(rng, n, maxPiece)
		// Duplicates and overlapping re-cuts of the same bytes.
		for range rng.IntN(len(segs)/2 + 2) {
			if rng.IntN(2) == 0 {
				segs = append(segs, segs[rng.IntN(len(segs))])
			} else {
				off := rng.IntN(n)
				segs = append(segs, rawSeg{off: off, end: min(n, off+1+rng.IntN(maxPiece))})
			}
		}
		shuffle(rng, segs)
		for i := range segs {
			segs[i].fin = withFIN && segs[i].end == n
		}

		isn := rng.Uint32()
		d := &Direction{Budget: budget}
		r := &recorder{}
		if withSYN {
			d.Segment(isn, fSYN, nil, 0, 0, r)
		}
		for _, s := range segs {
			flags := uint8(fACK)
			if s.fin {
				flags |= fFIN
			}
			d.Segment(isn+1+uint32(s.off), flags, stream[s.off:s.end], uint32(s.end-s.off), 0, r)
		}
		d.Close(r)

		base := 0
		if !withSYN {
			base = segs[0].off
		}
		want := stream[base:]
		wantEnd := EndClosed
		if withFIN {
			wantEnd = EndComplete
		}
		if b := int(d.budget()); len(want) > b {
			want, wantEnd = want[:b], EndBudget
		}
		if !bytes.Equal(r.data, want) {
			t.Fatalf("iter %d (n %d budget %d syn %v): delivered %d bytes, want %d; first difference at %d",
				iter, n, budget, withSYN, len(r.data), len(want), firstDiff(r.data, want))
		}
		st := d.Stats()
		if st.End != wantEnd || st.Inconsistent != 0 || st.MidStream == withSYN {
			t.Fatalf("iter %d: Stats %+v, want End %v, no inconsistency, MidStream %v", iter, st, wantEnd, !withSYN)
		}
		r.check(t, d)
	}
}

// TestRandomLoss drops one piece of a randomly reordered stream: the
// delivered bytes must stop exactly at the hole, with a Gap.
func TestRandomLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(0x1055, 2))
	for iter := range 2000 {
		n := rng.IntN(20000) + 2
		stream := make([]byte, n)
		for i := range stream {
			stream[i] = byte(rng.Uint32())
		}
		segs := cut(rng, n, []int{20, 600, 3000}[rng.IntN(3)])
		if len(segs) < 2 {
			continue
		}
		lost := segs[rng.IntN(len(segs))]
		kept := segs[:0:0]
		for _, s := range segs {
			if s != lost {
				kept = append(kept, s, s) // and a duplicate
			}
		}
		shuffle(rng, kept)

		isn := rng.Uint32()
		lim := NewLimiter(0)
		d := &Direction{Budget: MaxBudget, Limiter: lim}
		r := &recorder{}
		d.Segment(isn, fSYN, nil, 0, 0, r)
		for _, s := range kept {
			d.Segment(isn+1+uint32(s.off), fACK, stream[s.off:s.end], uint32(s.end-s.off), 0, r)
		}
		// The FIN proves the stream's length even if the lost piece was
		// its end.
		d.Segment(isn+1+uint32(n), fACK|fFIN, nil, 0, 0, r)
		d.Close(r)

		if want := stream[:lost.off]; !bytes.Equal(r.data, want) {
			t.Fatalf("iter %d: delivered %d bytes, want the %d before the hole", iter, len(r.data), len(want))
		}
		if d.End() != EndMissing {
			t.Fatalf("iter %d: End %v, want %v", iter, d.End(), EndMissing)
		}
		r.check(t, d)
		if b := lim.Stats().Buffered; b != 0 {
			t.Fatalf("iter %d: %d bytes still buffered", iter, b)
		}
	}
}
