package reassembly

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// TCP flags for test segments.
const (
	fFIN = 0x01
	fSYN = 0x02
	fRST = 0x04
	fACK = 0x10
)

// recorder is a Deliverer that keeps what it got and notes any breach of
// the Deliverer contract.
type recorder struct {
	data   []byte
	calls  int
	gaps   int
	lastTS int64
	bad    []string

	// onData, if set, runs after each Data (to test re-entrant calls).
	onData func()
}

func (r *recorder) Data(p []byte, ts int64) {
	if len(p) == 0 {
		r.bad = append(r.bad, "empty Data")
	}
	if r.gaps > 0 {
		r.bad = append(r.bad, "Data after Gap")
	}
	r.data = append(r.data, p...)
	r.calls++
	r.lastTS = ts
	if r.onData != nil {
		r.onData()
	}
}

func (r *recorder) Gap() {
	if r.gaps > 0 {
		r.bad = append(r.bad, "second Gap")
	}
	r.gaps++
}

// check fails t if the recorder saw a contract breach or its Gap calls
// disagree with how d ended.
func (r *recorder) check(t testing.TB, d *Direction) {
	t.Helper()
	for _, b := range r.bad {
		t.Errorf("Deliverer contract: %s", b)
	}
	if want := 0; d.End().Gap() {
		want = 1
		if r.gaps != want {
			t.Errorf("Gap called %d times, End %v wants %d", r.gaps, d.End(), want)
		}
	} else if r.gaps != want {
		t.Errorf("Gap called %d times, End %v wants %d", r.gaps, d.End(), want)
	}
	if got := d.Stats().Delivered; got != uint64(len(r.data)) {
		t.Errorf("Stats.Delivered = %d, Deliverer got %d bytes", got, len(r.data))
	}
}

// seg is a test segment. off is the stream offset of its first payload
// byte relative to ISN+1; a SYN segment is always at ISN (its payload at
// offset 0), so off is ignored for it.
type seg struct {
	off   int64
	flags uint8
	data  string
	wire  int // payload length on the wire; 0 means len(data)
}

func (s seg) seq(isn uint32) uint32 {
	if s.flags&fSYN != 0 {
		return isn
	}
	return isn + 1 + uint32(s.off)
}

func (s seg) wireLen() uint32 {
	if s.wire == 0 {
		return uint32(len(s.data))
	}
	return uint32(s.wire)
}

func feed(d *Direction, r *recorder, isn uint32, segs []seg) {
	for i, s := range segs {
		d.Segment(s.seq(isn), s.flags, []byte(s.data), s.wireLen(), int64(i+1), r)
	}
}

var syn = seg{flags: fSYN}

func TestDirection(t *testing.T) {
	tests := []struct {
		name   string
		isn    uint32
		budget uint32
		segs   []seg
		close  bool
		want   string
		end    End
		stats  Stats // counters only; Delivered and End are checked from want and end
	}{
		{name: "in order after SYN", segs: []seg{syn, {0, 0, "hello ", 0}, {6, 0, "world", 0}},
			want: "hello world", end: EndOpen},
		{name: "SYN carries data", segs: []seg{{flags: fSYN, data: "hel"}, {3, 0, "lo", 0}},
			want: "hello", end: EndOpen},
		{name: "mid-stream start", segs: []seg{{100, 0, "abc", 0}, {103, 0, "def", 0}},
			want: "abcdef", end: EndOpen, stats: Stats{MidStream: true}},
		{name: "mid-stream: pure ACK anchors nothing", segs: []seg{{50, fACK, "", 0}, {100, 0, "abc", 0}},
			want: "abc", end: EndOpen, stats: Stats{MidStream: true}},
		{name: "late SYN agreeing with mid-stream start", segs: []seg{{0, 0, "abc", 0}, syn},
			want: "abc", end: EndOpen},
		{name: "retransmitted SYN", segs: []seg{syn, {0, 0, "ab", 0}, syn, {2, 0, "c", 0}},
			want: "abc", end: EndOpen},

		{name: "out of order", segs: []seg{syn, {5, 0, "fghij", 0}, {0, 0, "abcde", 0}},
			want: "abcdefghij", end: EndOpen, stats: Stats{OutOfOrder: 1}},
		{name: "reversed", segs: []seg{syn, {9, 0, "j", 0}, {6, 0, "ghi", 0}, {3, 0, "def", 0}, {0, 0, "abc", 0}},
			want: "abcdefghij", end: EndOpen, stats: Stats{OutOfOrder: 3}},
		{name: "duplicate of delivered segment", segs: []seg{syn, {0, 0, "abc", 0}, {0, 0, "abc", 0}, {3, 0, "def", 0}},
			want: "abcdef", end: EndOpen, stats: Stats{Retransmitted: 3}},
		{name: "duplicate of buffered segment", segs: []seg{syn, {3, 0, "def", 0}, {3, 0, "def", 0}, {0, 0, "abc", 0}},
			want: "abcdef", end: EndOpen, stats: Stats{Retransmitted: 3, OutOfOrder: 2}},
		{name: "overlap with delivered bytes", segs: []seg{syn, {0, 0, "abcdef", 0}, {3, 0, "defghi", 0}},
			want: "abcdefghi", end: EndOpen, stats: Stats{Retransmitted: 3}},
		{name: "overlap at start of buffered run", segs: []seg{syn, {6, 0, "ghi", 0}, {4, 0, "efgh", 0}, {0, 0, "abcd", 0}},
			want: "abcdefghi", end: EndOpen, stats: Stats{Retransmitted: 2, OutOfOrder: 2}},
		{name: "overlap at end of buffered run", segs: []seg{syn, {4, 0, "efg", 0}, {5, 0, "fghij", 0}, {0, 0, "abcd", 0}},
			want: "abcdefghij", end: EndOpen, stats: Stats{Retransmitted: 2, OutOfOrder: 2}},
		{name: "in-order segment spanning buffered runs", segs: []seg{syn, {3, 0, "d", 0}, {5, 0, "f", 0}, {0, 0, "abcdefg", 0}},
			want: "abcdefg", end: EndOpen, stats: Stats{Retransmitted: 2, OutOfOrder: 2}},
		{name: "segment bridging runs and holes",
			segs: []seg{syn, {2, 0, "c", 0}, {4, 0, "e", 0}, {6, 0, "g", 0}, {1, 0, "bcdefgh", 0}, {0, 0, "a", 0}},
			want: "abcdefgh", end: EndOpen, stats: Stats{Retransmitted: 3, OutOfOrder: 4}},
		{name: "differing overlap: first copy wins", segs: []seg{syn, {3, 0, "XYZ", 0}, {0, 0, "abcdef", 0}},
			want: "abcXYZ", end: EndOpen, stats: Stats{Retransmitted: 3, OutOfOrder: 1, Inconsistent: 1}},
		{name: "differing partial overlap", segs: []seg{syn, {3, 0, "dXf", 0}, {2, 0, "cdefg", 0}, {0, 0, "ab", 0}},
			want: "abcdXfg", end: EndOpen, stats: Stats{Retransmitted: 3, OutOfOrder: 2, Inconsistent: 1}},
		{name: "changed retransmission of delivered bytes cannot be compared",
			segs: []seg{syn, {0, 0, "abc", 0}, {0, 0, "xyz", 0}},
			want: "abc", end: EndOpen, stats: Stats{Retransmitted: 3}},

		{name: "sequence wraparound in order", isn: 0xfffffff8,
			segs: []seg{syn, {0, 0, "0123456", 0}, {7, 0, "789", 0}, {10, 0, "abc", 0}},
			want: "0123456789abc", end: EndOpen},
		{name: "sequence wraparound out of order", isn: 0xfffffff8,
			segs: []seg{syn, {10, 0, "abc", 0}, {7, 0, "789", 0}, {0, 0, "0123456", 0}},
			want: "0123456789abc", end: EndOpen, stats: Stats{OutOfOrder: 2}},
		{name: "sequence wraparound mid-stream", isn: 0xfffffffc,
			segs: []seg{{0, 0, "ab", 0}, {4, 0, "ef", 0}, {2, 0, "cd", 0}},
			want: "abcdef", end: EndOpen, stats: Stats{OutOfOrder: 1, MidStream: true}},

		{name: "capture cut an in-order segment", segs: []seg{syn, {0, 0, "abc", 10}, {10, 0, "klm", 0}},
			want: "abc", end: EndMissing},
		{name: "headers-only capture", segs: []seg{syn, {0, 0, "", 474}},
			want: "", end: EndMissing},
		{name: "capture cut a segment ahead of a hole", segs: []seg{syn, {3, 0, "de", 4}, {0, 0, "abc", 0}},
			want: "abcde", end: EndMissing, stats: Stats{OutOfOrder: 1}},
		{name: "full copy replaces a cut one", segs: []seg{syn, {3, 0, "de", 4}, {3, 0, "defg", 0}, {0, 0, "abc", 0}, {7, 0, "hi", 0}},
			want: "abcdefghi", end: EndOpen, stats: Stats{Retransmitted: 2, OutOfOrder: 2}},

		{name: "budget cuts in-order data", budget: 8, segs: []seg{syn, {0, 0, "abcdef", 0}, {6, 0, "ghijkl", 0}},
			want: "abcdefgh", end: EndBudget},
		{name: "buffered data beyond budget", budget: 8, segs: []seg{syn, {8, 0, "ijkl", 0}, {0, 0, "abcdefgh", 0}},
			want: "abcdefgh", end: EndBudget},
		{name: "budget met exactly, then FIN", budget: 6, segs: []seg{syn, {0, 0, "abcdef", 0}, {6, fFIN, "", 0}},
			want: "abcdef", end: EndComplete},
		{name: "budget met exactly, then Close", budget: 6, segs: []seg{syn, {0, 0, "abcdef", 0}}, close: true,
			want: "abcdef", end: EndClosed},
		{name: "budget met, then more data", budget: 6, segs: []seg{syn, {0, 0, "abcdef", 0}, {6, 0, "g", 0}},
			want: "abcdef", end: EndBudget},
		{name: "budget met, then an ACK proves more", budget: 6, segs: []seg{syn, {0, 0, "abcdef", 0}, {9, fACK, "", 0}},
			want: "abcdef", end: EndBudget},

		{name: "FIN completes", segs: []seg{syn, {0, fFIN, "abc", 0}, {3, 0, "def", 0}},
			want: "abc", end: EndComplete},
		{name: "FIN ahead of data", segs: []seg{syn, {3, fFIN, "", 0}, {0, 0, "abc", 0}},
			want: "abc", end: EndComplete},
		{name: "repeated FIN", segs: []seg{syn, {3, fFIN, "", 0}, {3, fFIN, "", 0}, {0, 0, "abc", 0}},
			want: "abc", end: EndComplete},
		{name: "data past FIN", segs: []seg{syn, {3, fFIN, "", 0}, {0, 0, "abcdef", 0}},
			want: "abc", end: EndComplete, stats: Stats{Inconsistent: 1}},
		{name: "segment wholly past FIN", segs: []seg{syn, {3, fFIN, "", 0}, {10, 0, "zz", 0}, {0, 0, "abc", 0}},
			want: "abc", end: EndComplete, stats: Stats{Inconsistent: 1}},
		{name: "second FIN elsewhere", segs: []seg{syn, {5, fFIN, "", 0}, {3, fFIN, "", 0}, {0, 0, "abcde", 0}},
			want: "abcde", end: EndComplete, stats: Stats{Inconsistent: 1}},
		{name: "FIN before bytes already seen", segs: []seg{syn, {5, 0, "fg", 0}, {3, fFIN, "", 0}, {0, 0, "abcde", 0}},
			want: "abcdefg", end: EndOpen, stats: Stats{OutOfOrder: 1, Inconsistent: 1}},
		{name: "RST payload is not stream data", segs: []seg{syn, {0, fRST, "abc", 0}, {0, 0, "xyz", 0}},
			want: "xyz", end: EndOpen},

		{name: "far outside the window", segs: []seg{syn, {0, 0, "abc", 0}, {1 << 31, 0, "zzz", 0}, {3, 0, "def", 0}},
			want: "abcdef", end: EndOpen, stats: Stats{Ignored: 1}},
		{name: "behind the window", segs: []seg{syn, {0, 0, "abc", 0}, {-(1 << 30) - 10, 0, "zzz", 0}, {3, 0, "def", 0}},
			want: "abcdef", end: EndOpen, stats: Stats{Ignored: 1}},
		{name: "before the stream start", segs: []seg{{100, 0, "abc", 0}, {50, 0, "old", 0}},
			want: "abc", end: EndOpen, stats: Stats{Ignored: 1, MidStream: true}},

		{name: "Close with a hole", segs: []seg{syn, {0, 0, "abc", 0}, {6, 0, "ghi", 0}}, close: true,
			want: "abc", end: EndMissing, stats: Stats{OutOfOrder: 1}},
		{name: "Close after an ACK proves missing bytes", segs: []seg{syn, {0, 0, "abc", 0}, {10, fACK, "", 0}}, close: true,
			want: "abc", end: EndMissing},
		{name: "Close with a FIN not reached", segs: []seg{syn, {0, 0, "abc", 0}, {6, fFIN, "", 0}}, close: true,
			want: "abc", end: EndMissing},
		{name: "Close without holes", segs: []seg{syn, {0, 0, "abc", 0}}, close: true,
			want: "abc", end: EndClosed},
		{name: "Close of an idle direction", segs: []seg{syn, {0, fACK, "", 0}}, close: true,
			want: "", end: EndClosed},
		{name: "Close of an unused direction", close: true, want: "", end: EndClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := NewLimiter(0)
			d := &Direction{Budget: tt.budget, Limiter: lim}
			r := &recorder{}
			feed(d, r, tt.isn, tt.segs)
			if tt.close {
				d.Close(r)
			}
			if string(r.data) != tt.want {
				t.Errorf("delivered %q, want %q", r.data, tt.want)
			}
			want := tt.stats
			want.Delivered, want.End = uint64(len(tt.want)), tt.end
			if got := d.Stats(); got != want {
				t.Errorf("Stats = %+v\nwant    %+v", got, want)
			}
			r.check(t, d)
			if d.End() != EndOpen {
				if b := lim.Stats().Buffered; b != 0 {
					t.Errorf("ended direction still holds %d buffered bytes", b)
				}
			}
			d.Close(r)
			if b := lim.Stats().Buffered; b != 0 {
				t.Errorf("closed direction still holds %d buffered bytes", b)
			}
		})
	}
}

// TestTimestamps checks that bytes are delivered with the time of the
// segment that made them contiguous.
func TestTimestamps(t *testing.T) {
	var d Direction
	r := &recorder{}
	d.Segment(1000, fSYN, nil, 0, 10, r)
	d.Segment(1004, 0, []byte("def"), 3, 20, r) // buffered
	if r.calls != 0 {
		t.Fatalf("out-of-order bytes delivered early: %q", r.data)
	}
	d.Segment(1001, 0, []byte("abc"), 3, 30, r)
	if string(r.data) != "abcdef" || r.lastTS != 30 {
		t.Errorf("got %q at %d, want %q at 30", r.data, r.lastTS, "abcdef")
	}
}

// TestSpansOverflow feeds more separate out-of-order runs than a direction
// may hold.
func TestSpansOverflow(t *testing.T) {
	lim := NewLimiter(0)
	d := &Direction{Budget: 1 << 20, Limiter: lim}
	r := &recorder{}
	d.Segment(0, fSYN, nil, 0, 0, r)
	for k := 1; k <= maxSpans+1; k++ {
		if d.End() != EndOpen {
			t.Fatalf("ended after %d runs, want after %d", k-1, maxSpans)
		}
		d.Segment(1+uint32(2*k), 0, []byte{'x'}, 1, 0, r)
	}
	if d.End() != EndOverflow {
		t.Fatalf("End = %v after %d runs, want %v", d.End(), maxSpans+1, EndOverflow)
	}
	r.check(t, d)
	if b := lim.Stats().Buffered; b != 0 {
		t.Errorf("overflowed direction still holds %d bytes", b)
	}
}

// TestLimiter shares a two-page limiter between directions.
func TestLimiter(t *testing.T) {
	lim := NewLimiter(2 * pageSize)
	a := &Direction{Limiter: lim}
	b := &Direction{Limiter: lim}
	ra, rb := &recorder{}, &recorder{}
	a.Segment(0, fSYN, nil, 0, 0, ra)
	b.Segment(0, fSYN, nil, 0, 0, rb)

	a.Segment(1+10, 0, []byte("k"), 1, 0, ra) // one page
	if got := lim.Stats().Buffered; got != pageSize {
		t.Fatalf("Buffered = %d after one page, want %d", got, pageSize)
	}
	b.Segment(1+5, 0, []byte("fgh"), 3, 0, rb) // second page
	// Needs the pages of offsets pageSize-1 and pageSize: one more than
	// the limit allows.
	b.Segment(1+pageSize-1, 0, []byte("yz"), 2, 0, rb)
	if b.End() != EndLimit {
		t.Fatalf("b.End = %v, want %v", b.End(), EndLimit)
	}
	rb.check(t, b)
	st := lim.Stats()
	want := LimiterStats{Limit: 2 * pageSize, Buffered: pageSize, Peak: 2 * pageSize, Cut: 1}
	if st != want {
		t.Errorf("limiter = %+v, want %+v", st, want)
	}

	// a is unaffected and finishes normally.
	a.Segment(1, 0, []byte("abcdefghij"), 10, 0, ra)
	if string(ra.data) != "abcdefghijk" {
		t.Errorf("a delivered %q", ra.data)
	}
	ra.check(t, a)
	if got := lim.Stats().Buffered; got != 0 {
		t.Errorf("Buffered = %d after all delivered, want 0", got)
	}
}

func TestLimiterZeroValue(t *testing.T) {
	var lim Limiter
	if got := lim.Stats().Limit; got != DefaultLimit {
		t.Errorf("zero Limiter limit = %d, want %d", got, DefaultLimit)
	}
	var nilLim *Limiter
	if got := nilLim.Stats(); got != (LimiterStats{}) {
		t.Errorf("nil Limiter stats = %+v", got)
	}
}

// TestStop checks that Stop frees buffered bytes and that nothing is
// delivered after it, also when called from inside Data.
func TestStop(t *testing.T) {
	t.Run("between segments", func(t *testing.T) {
		lim := NewLimiter(0)
		d := &Direction{Limiter: lim}
		r := &recorder{}
		d.Segment(0, fSYN, nil, 0, 0, r)
		d.Segment(1+3, 0, []byte("def"), 3, 0, r)
		d.Stop()
		if lim.Stats().Buffered != 0 {
			t.Errorf("Stop left %d bytes buffered", lim.Stats().Buffered)
		}
		d.Segment(1, 0, []byte("abc"), 3, 0, r)
		d.Close(r)
		if len(r.data) != 0 || d.End() != EndStopped {
			t.Errorf("after Stop: delivered %q, End %v", r.data, d.End())
		}
		r.check(t, d)
	})
	t.Run("from inside Data", func(t *testing.T) {
		lim := NewLimiter(0)
		d := &Direction{Limiter: lim}
		r := &recorder{}
		r.onData = d.Stop
		d.Segment(0, fSYN, nil, 0, 0, r)
		// Buffer two pages' worth, then fill the hole: the direct part is
		// delivered, Stop runs inside that Data, and the buffered pages
		// must neither be delivered nor leak.
		big := bytes.Repeat([]byte("x"), pageSize+10)
		d.Segment(1+3, 0, big, uint32(len(big)), 0, r)
		d.Segment(1, 0, []byte("abc"), 3, 0, r)
		if string(r.data) != "abc" || r.calls != 1 {
			t.Errorf("delivered %q in %d calls, want %q in 1", r.data, r.calls, "abc")
		}
		if d.End() != EndStopped || lim.Stats().Buffered != 0 {
			t.Errorf("End %v, Buffered %d", d.End(), lim.Stats().Buffered)
		}
		r.check(t, d)
	})
	t.Run("from inside Data while flushing pages", func(t *testing.T) {
		lim := NewLimiter(0)
		d := &Direction{Limiter: lim}
		r := &recorder{}
		r.onData = d.Stop
		d.Segment(0, fSYN, nil, 0, 0, r)
		big := bytes.Repeat([]byte("y"), 2*pageSize)
		d.Segment(1, 0, big[:pageSize], pageSize, 0, r) // delivered; Stop
		if d.End() != EndStopped {
			t.Fatalf("End %v", d.End())
		}
		r.check(t, d)
	})
}

// TestInOrderAllocs checks that in-order delivery allocates nothing, and
// that a direction that never carries payload allocates nothing either.
func TestInOrderAllocs(t *testing.T) {
	payload := bytes.Repeat([]byte("p"), 1460)
	d := &Direction{Budget: MaxBudget}
	var sink countingDeliverer
	seq := uint32(1)
	d.Segment(0, fSYN, nil, 0, 0, &sink)
	if n := testing.AllocsPerRun(1000, func() {
		d.Segment(seq, fACK, payload, uint32(len(payload)), 0, &sink)
		seq += uint32(len(payload))
	}); n != 0 {
		t.Errorf("in-order Segment: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		var idle Direction
		idle.Segment(7, fSYN, nil, 0, 0, &sink)
		idle.Segment(8, fACK, nil, 0, 0, &sink)
		idle.Segment(8, fACK|fFIN, nil, 0, 0, &sink)
		idle.Close(&sink)
	}); n != 0 {
		t.Errorf("idle direction: %v allocations, want 0", n)
	}
}

// TestDirectionSize keeps the per-direction cost honest: two of these sit
// in every TCP flow entry.
func TestDirectionSize(t *testing.T) {
	if s := unsafe.Sizeof(Direction{}); s > 80 {
		t.Errorf("Direction is %d bytes, want at most 80", s)
	}
}

// TestNilDeliverer checks that a direction without a consumer still keeps
// its statistics and ends the same way.
func TestNilDeliverer(t *testing.T) {
	lim := NewLimiter(0)
	d := &Direction{Budget: 8, Limiter: lim}
	d.Segment(0, fSYN, nil, 0, 0, nil)
	d.Segment(1+4, 0, []byte("efgh"), 4, 0, nil)
	d.Segment(1+4, 0, []byte("eXgh"), 4, 0, nil)
	d.Segment(1, 0, []byte("abcdefghij"), 10, 0, nil)
	want := Stats{Delivered: 8, Retransmitted: 8, Inconsistent: 1, OutOfOrder: 2, End: EndBudget}
	if got := d.Stats(); got != want {
		t.Errorf("Stats = %+v\nwant    %+v", got, want)
	}
	d.Close(nil)
	if b := lim.Stats().Buffered; b != 0 {
		t.Errorf("%d bytes still buffered", b)
	}
}

func TestBudget(t *testing.T) {
	for _, tt := range []struct{ set, want uint32 }{
		{0, DefaultBudget},
		{5, 5},
		{MaxBudget, MaxBudget},
		{MaxBudget + 1, MaxBudget},
		{1<<32 - 1, MaxBudget},
	} {
		d := Direction{Budget: tt.set}
		if got := d.budget(); got != tt.want {
			t.Errorf("Budget %d: effective budget %d, want %d", tt.set, got, tt.want)
		}
	}
}

func TestEndString(t *testing.T) {
	seen := map[string]bool{}
	for e := EndOpen; e <= EndOverflow; e++ {
		s := e.String()
		if s == "" || s == "unknown" || seen[s] || strings.ToLower(s) != s {
			t.Errorf("End(%d).String() = %q", e, s)
		}
		seen[s] = true
	}
	if got := End(200).String(); got != "unknown" {
		t.Errorf("End(200).String() = %q", got)
	}
	for e, want := range map[End]bool{EndOpen: false, EndComplete: false, EndClosed: false, EndStopped: false,
		EndMissing: true, EndBudget: true, EndLimit: true, EndOverflow: true} {
		if e.Gap() != want {
			t.Errorf("%v.Gap() = %v, want %v", e, e.Gap(), want)
		}
	}
}

// countingDeliverer counts without keeping bytes, for benchmarks and
// allocation tests.
type countingDeliverer struct {
	bytes, gaps int
}

func (c *countingDeliverer) Data(p []byte, _ int64) { c.bytes += len(p) }
func (c *countingDeliverer) Gap()                   { c.gaps++ }

// TestLimiterConcurrent shares one Limiter between directions driven from
// several goroutines (the flow table may be sharded): the charge must
// return to zero and never exceed the bound.
func TestLimiterConcurrent(t *testing.T) {
	lim := NewLimiter(8 * pageSize)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				d := &Direction{Limiter: lim}
				d.Segment(0, fSYN, nil, 0, 0, nil)
				d.Segment(1+uint32(pageSize*(1+(g+i)%3)), 0, []byte("later"), 5, 0, nil)
				d.Segment(1, 0, []byte("first"), 5, 0, nil)
				d.Close(nil)
			}
		})
	}
	wg.Wait()
	st := lim.Stats()
	if st.Buffered != 0 || st.Peak > st.Limit {
		t.Errorf("limiter after concurrent use: %+v", st)
	}
}
