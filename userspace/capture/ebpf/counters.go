package ebpf

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	cebpf "github.com/cilium/ebpf"

	"github.com/flowjoy/flowjoy/bpf"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// flowSeen is what the engine last reported of a kernel entry, to turn
// the kernel's cumulative counters into deltas.
type flowSeen struct {
	dir    [2]dirSeen
	readAt uint64 // monotonic ns of the read these values came from
}

type dirSeen struct {
	packets, bytes, lost, lastNs uint64
	flags                        uint32
}

// eventFlags are TCP flags that mark an event rather than a state: each
// is reported once, in the delta where it first appears, so that a RST
// counted long ago does not close a later connection on the same tuple.
// State flags (ACK, PSH, ...) are reported in every delta that has
// packets, as every such delta may start a new record.
const eventFlags = 0x01 | 0x02 | 0x04 // FIN, SYN, RST

// sweepBuf holds what a sweep reuses.
type sweepBuf struct {
	keys    []bpf.FlowjoyFjKey
	vals    []bpf.FlowjoyFjFlow
	ages    []entryAge
	pending []event.Counts
	evicted []flowkey.Key
	noBatch bool // the kernel has no batch lookups: iterate
}

type entryAge struct {
	key      bpf.FlowjoyFjKey
	lastSeen uint64
}

// batchSize is how many entries one batch lookup returns. A hash map
// batch must hold a whole bucket; 256 is far above any bucket's size.
const batchSize = 256

// sweep reads every kernel entry and reports the deltas since the last
// sweep, then deletes idle entries and, when the map is (nearly) full,
// the least recently seen ones, reporting their last deltas.
func (e *Engine) sweep(h Handler) error {
	// Samples still in the ring are older than the counters about to be
	// read: deliver them first, so a flow's first packets reach the flow
	// table before its counts do.
	if err := e.drain(h); err != nil {
		return err
	}
	e.clock.calibrate()
	now := monotonicNow()
	n, err := e.readEntries()
	if err != nil {
		return err
	}
	e.counted.inMap.Store(int64(n))

	e.pending, e.ages, e.evicted = e.pending[:0], e.ages[:0], e.evicted[:0]
	for i := range n {
		e.pending = e.report(e.pending, &e.keys[i], &e.vals[i], now)
		e.ages = append(e.ages, entryAge{e.keys[i], e.vals[i].LastSeenNs})
	}

	kept := e.ages[:0]
	for _, a := range e.ages {
		if now > a.lastSeen && now-a.lastSeen >= uint64(e.cfg.IdleTimeout) {
			e.remove(&a.key, now)
			e.counted.idle.Add(1)
		} else {
			kept = append(kept, a)
		}
	}
	e.evictUnderPressure(kept, now)

	for i := range e.pending {
		h.Counts(&e.pending[i])
	}
	if eh, ok := h.(EvictHandler); ok {
		for _, k := range e.evicted {
			eh.Evicted(k)
		}
	}
	if th, ok := h.(TickHandler); ok {
		th.Tick(e.clock.wall(monotonicNow()))
	}
	return nil
}

// evictUnderPressure deletes the least recently seen entries when the
// map is more than 90% full or inserts failed since the last sweep, down
// to 80%, so that new flows find room again.
func (e *Engine) evictUnderPressure(kept []entryAge, now uint64) {
	failed := e.kernelStats().InsertFail
	grew := failed > e.counted.lastInsertFail
	e.counted.lastInsertFail = failed
	high, low := e.cfg.MaxFlows*9/10, e.cfg.MaxFlows*8/10
	if len(kept) <= high && !grew {
		return
	}
	excess := len(kept) - low
	if excess <= 0 {
		excess = 1 // inserts failed below the mark: make some room anyway
	}
	excess = min(excess, len(kept))
	slices.SortFunc(kept, func(a, b entryAge) int { return cmp.Compare(a.lastSeen, b.lastSeen) })
	for _, a := range kept[:excess] {
		e.remove(&a.key, now)
		e.evicted = append(e.evicted, flowKey(&a.key, 0))
		e.counted.evicted.Add(1)
	}
}

// remove deletes an entry, queueing its last delta.
func (e *Engine) remove(k *bpf.FlowjoyFjKey, now uint64) {
	var v bpf.FlowjoyFjFlow
	if err := e.objs.Flows.LookupAndDelete(k, &v); err == nil {
		e.pending = e.report(e.pending, k, &v, now)
	}
	delete(e.seen, *k)
	_ = e.objs.BudgetOverrides.Delete(k) // usually absent
}

// report appends to out the deltas of one entry since its last report.
func (e *Engine) report(out []event.Counts, k *bpf.FlowjoyFjKey, v *bpf.FlowjoyFjFlow, now uint64) []event.Counts {
	s := e.seen[*k]
	for side := range 2 {
		cur, rare, prev := &v.Dir[side], &v.Rare[side], s.dir[side]
		if cur.Packets < prev.packets || rare.Lost < prev.lost {
			prev = dirSeen{} // the entry was deleted and made again
		}
		dp, dl := cur.Packets-prev.packets, rare.Lost-prev.lost
		if dp == 0 && dl == 0 {
			continue
		}
		// The kernel writes a direction's times just after its first
		// count: a read in between finds them still 0.
		last := cur.LastNs
		if last == 0 {
			last = now
		}
		// The kernel keeps the first time of all counted packets. Those
		// of a later delta came after the previous read, and after the
		// last packet it reported.
		first := rare.FirstNs
		switch {
		case prev.packets > 0:
			first = min(max(s.readAt, prev.lastNs+1), last)
		case first == 0:
			first = last
		}
		out = append(out, event.Counts{
			Key:      flowKey(k, side),
			Packets:  dp,
			Bytes:    cur.Bytes - prev.bytes,
			First:    e.clock.wall(first),
			Last:     e.clock.wall(last),
			TCPFlags: uint8(cur.TcpFlags &^ (prev.flags & eventFlags)),
			Lost:     dl,
		})
		s.dir[side] = dirSeen{cur.Packets, cur.Bytes, rare.Lost, last, cur.TcpFlags}
	}
	s.readAt = now
	e.seen[*k] = s
	return out
}

// readEntries reads the whole flow map into e.keys and e.vals.
func (e *Engine) readEntries() (int, error) {
	if !e.noBatch {
		n, err := e.readBatches()
		if !errors.Is(err, cebpf.ErrNotSupported) {
			return n, err
		}
		e.noBatch = true
	}
	n := 0
	var k bpf.FlowjoyFjKey
	var v bpf.FlowjoyFjFlow
	it := e.objs.Flows.Iterate()
	for it.Next(&k, &v) {
		e.grow(n + 1)
		e.keys[n], e.vals[n] = k, v
		n++
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("reading the flow map: %w", err)
	}
	return n, nil
}

func (e *Engine) readBatches() (int, error) {
	var cursor cebpf.MapBatchCursor
	n := 0
	for {
		e.grow(n + batchSize)
		got, err := e.objs.Flows.BatchLookup(&cursor, e.keys[n:n+batchSize], e.vals[n:n+batchSize], nil)
		n += got
		if errors.Is(err, cebpf.ErrKeyNotExist) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("reading the flow map: %w", err)
		}
		if n > e.cfg.MaxFlows+batchSize {
			return 0, fmt.Errorf("reading the flow map: more than %d entries", e.cfg.MaxFlows)
		}
	}
}

func (e *Engine) grow(n int) {
	if len(e.keys) < n {
		e.keys = slices.Grow(e.keys, n-len(e.keys))[:n]
		e.vals = slices.Grow(e.vals, n-len(e.vals))[:n]
	}
}

// Expire deletes a flow's kernel entry and passes its last counts to h
// before returning: call it when the flow table ends a flow by itself
// (e.g. a closed TCP connection), so that the next packets of the tuple
// start a new entry with fresh samples. It must be called from the
// goroutine running Run (from a Handler method) or while Run is not
// running.
func (e *Engine) Expire(key flowkey.Key, h Handler) error {
	k := kernelKey(key)
	var v bpf.FlowjoyFjFlow
	err := e.objs.Flows.LookupAndDelete(&k, &v)
	if errors.Is(err, cebpf.ErrKeyNotExist) {
		delete(e.seen, k)
		return nil
	}
	if err != nil {
		return fmt.Errorf("expiring flow %s:%d > %s:%d: %w", key.SrcAddr(), key.SrcPort, key.DstAddr(), key.DstPort, err)
	}
	var buf [2]event.Counts
	out := e.report(buf[:0], &k, &v, monotonicNow())
	delete(e.seen, k)
	_ = e.objs.BudgetOverrides.Delete(&k)
	for i := range out {
		h.Counts(&out[i])
	}
	return nil
}
