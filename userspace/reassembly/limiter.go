package reassembly

import "sync/atomic"

// DefaultLimit is the bound on out-of-order bytes buffered across all
// directions used by a zero Limiter or NewLimiter(0). Buffering is charged in
// pages of 4 KiB, so it lets 16384 directions wait on a hole at once, far
// more than a busy link has in flight, while staying small next to the flow
// table itself.
const DefaultLimit = 64 << 20

// Limiter bounds the memory that all directions sharing it may hold for
// out-of-order bytes, and counts what happened for the statistics. It is
// safe for concurrent use. The zero value is ready and bounds at
// DefaultLimit; a nil *Limiter bounds nothing beyond each direction's
// budget.
type Limiter struct {
	max      int64
	buffered atomic.Int64
	peak     atomic.Int64
	cut      atomic.Uint64
}

// NewLimiter returns a Limiter that lets at most maxBytes be buffered at
// once (DefaultLimit if maxBytes <= 0).
func NewLimiter(maxBytes int64) *Limiter {
	return &Limiter{max: maxBytes}
}

// LimiterStats is a snapshot of a Limiter's counters.
type LimiterStats struct {
	// Limit is the bound in bytes.
	Limit int64
	// Buffered is the bytes held now, and Peak the most ever held.
	Buffered, Peak int64
	// Cut is the number of directions stopped because the bound was
	// reached.
	Cut uint64
}

// Stats returns the current counters. A nil Limiter reports zeros.
func (l *Limiter) Stats() LimiterStats {
	if l == nil {
		return LimiterStats{}
	}
	return LimiterStats{
		Limit:    l.limit(),
		Buffered: l.buffered.Load(),
		Peak:     l.peak.Load(),
		Cut:      l.cut.Load(),
	}
}

func (l *Limiter) limit() int64 {
	if l.max <= 0 {
		return DefaultLimit
	}
	return l.max
}

// reserve charges n bytes, or reports false and charges nothing if that
// would exceed the bound.
func (l *Limiter) reserve(n int64) bool {
	if l == nil {
		return true
	}
	limit := l.limit()
	for {
		cur := l.buffered.Load()
		if cur+n > limit {
			return false
		}
		if l.buffered.CompareAndSwap(cur, cur+n) {
			for {
				p := l.peak.Load()
				if cur+n <= p || l.peak.CompareAndSwap(p, cur+n) {
					return true
				}
			}
		}
	}
}

// release returns n bytes charged by reserve.
func (l *Limiter) release(n int64) {
	if l != nil && n != 0 {
		l.buffered.Add(-n)
	}
}

// noteCut counts a direction stopped by the bound.
func (l *Limiter) noteCut() {
	if l != nil {
		l.cut.Add(1)
	}
}
