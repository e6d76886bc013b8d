// Package shard runs several pipelines, one per core, over one stream of
// packet events. The reader's goroutine (the caller of Packet) decodes each
// packet only to find its flow, hashes the flow's canonical key and copies
// the packet into a reusable batch buffer of that flow's shard; every
// shard is a goroutine with its own pipeline.Pipeline (flow table,
// features, parsers, encoder) that writes whole records to the shared sink
// under a lock.
//
// Records are the same as one pipeline writes, because:
//   - all packets of a flow go to the same shard, in input order
//     (fragments are resolved to their datagram's ports first, as the
//     flow table does);
//   - each packet carries the reader's clock (the latest timestamp of the
//     packets decoded so far, of every shard), and the shard advances its
//     table to it before the packet, so idle, close and active timeouts
//     happen exactly as with one table; at the end every shard advances
//     to the last clock before flushing.
//
// What differs: the order of records across flows (records of one flow
// stay in order; the interleaving of shards is not deterministic), and
// --max-flows bounds each shard's table at its share (MaxFlows/n, rounded
// up), so which flow is evicted when the table is full can differ.
package shard

import (
	"sync"

	"github.com/flowjoy/flowjoy/userspace/decode"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flow"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
	"github.com/flowjoy/flowjoy/userspace/pipeline"
	"github.com/flowjoy/flowjoy/userspace/sink"
)

// Batch bounds: a batch is handed to its shard when it holds batchPackets
// packets or batchBytes bytes of packet data.
const (
	batchPackets = 256
	batchBytes   = 128 << 10
	// batchesPerShard is how many batches a shard owns: one filling, the
	// rest queued or being processed.
	batchesPerShard = 4
)

// item is one packet in a batch: the event with Data as a span of the
// batch buffer, and the reader's clock when it was read.
type item struct {
	ev       event.Packet
	off, len int
	clock    int64
}

type batch struct {
	items []item
	data  []byte
	clock int64 // reader's clock at hand-off (for the end-of-input tick)
}

// shard is one pipeline and its goroutine.
type shard struct {
	p     *pipeline.Pipeline
	work  chan *batch
	free  chan *batch
	cur   *batch
	out   *lockedSink
	done  chan struct{}
	final int64 // the reader's last clock, set before work is closed
	err   error // the pipeline's Finish, read after done
}

// Sharder fans packets out to n pipelines. Packet, Finish and Stats are
// called from one goroutine (the reader's).
type Sharder struct {
	shards  []*shard
	single  *pipeline.Pipeline // n == 1: no goroutines, no copies
	decoder decode.Decoder
	pkt     decode.Packet
	frags   flow.Fragments
	clock   int64
	out     sink.Sink
	mu      sync.Mutex
}

// New returns a Sharder over n pipelines (n < 1 means 1) writing records
// to out. With n == 1 it is one pipeline called directly.
func New(cfg pipeline.Config, out sink.Sink, n int) *Sharder {
	s := &Sharder{out: out}
	s.decoder.NoDecap = cfg.NoDecap
	if n <= 1 {
		s.single = pipeline.New(cfg, out)
		return s
	}
	if cfg.Flow.MaxFlows <= 0 {
		cfg.Flow.MaxFlows = flow.DefaultMaxFlows
	}
	cfg.Flow.MaxFlows = (cfg.Flow.MaxFlows + n - 1) / n
	for i := 0; i < n; i++ {
		sh := &shard{
			work: make(chan *batch, batchesPerShard),
			free: make(chan *batch, batchesPerShard),
			out:  &lockedSink{out: out, mu: &s.mu},
			done: make(chan struct{}),
		}
		for j := 0; j < batchesPerShard; j++ {
			sh.free <- &batch{items: make([]item, 0, batchPackets), data: make([]byte, 0, batchBytes+64<<10)}
		}
		sh.p = pipeline.New(cfg, sh.out)
		s.shards = append(s.shards, sh)
		go sh.run()
	}
	return s
}

// Packet hands one packet event to its flow's shard. ev.Data is copied;
// the caller may reuse it when Packet returns.
func (s *Sharder) Packet(ev *event.Packet) {
	if s.single != nil {
		s.single.Packet(ev)
		return
	}
	i := 0
	if s.decoder.Decode(ev.LinkType, ev.Data, &s.pkt) == nil {
		// Only packets the pipeline keys advance its clock.
		if ev.Timestamp > s.clock {
			s.clock = ev.Timestamp
		}
		key := s.pkt.Key
		key.IfIndex = ev.IfIndex
		if s.pkt.Fragment {
			s.pkt.Key.IfIndex = ev.IfIndex
			key = s.frags.Resolve(&s.pkt)
		}
		ck, _ := key.Canonical()
		i = int(Hash(&ck) % uint64(len(s.shards)))
	}
	// Undecodable packets go to shard 0, which counts them.
	sh := s.shards[i]
	b := sh.cur
	if b == nil {
		b = <-sh.free
		b.items, b.data = b.items[:0], b.data[:0]
		sh.cur = b
	}
	off := len(b.data)
	b.data = append(b.data, ev.Data...)
	b.items = append(b.items, item{ev: *ev, off: off, len: len(ev.Data), clock: s.clock})
	if len(b.items) >= batchPackets || len(b.data) >= batchBytes {
		s.send(sh)
	}
}

func (s *Sharder) send(sh *shard) {
	if sh.cur == nil {
		return
	}
	sh.cur.clock = s.clock
	sh.work <- sh.cur
	sh.cur = nil
}

func (sh *shard) run() {
	defer close(sh.done)
	for b := range sh.work {
		for i := range b.items {
			it := &b.items[i]
			it.ev.Data = b.data[it.off : it.off+it.len : it.off+it.len]
			sh.p.Tick(it.clock)
			sh.p.Packet(&it.ev)
			it.ev.Data = nil
		}
		sh.free <- b
	}
	// End of input: the clock of the whole input, as one table would have;
	// then every flow ends here, so the shards write their last records
	// in parallel.
	sh.p.Tick(sh.final)
	sh.err = sh.p.Finish()
}

// Finish hands over what is batched, waits for the shards, ends every
// flow and flushes the sink. It returns the first error writing records.
func (s *Sharder) Finish() error {
	if s.single != nil {
		return s.single.Finish()
	}
	for _, sh := range s.shards {
		s.send(sh)
		sh.final = s.clock
		close(sh.work)
	}
	var err error
	for _, sh := range s.shards {
		<-sh.done
		if sh.err != nil && err == nil {
			err = sh.err
		}
	}
	return err
}

// Stats returns the pipelines' totals; call it after Finish.
func (s *Sharder) Stats() pipeline.Stats {
	if s.single != nil {
		return s.single.Stats()
	}
	var t pipeline.Stats
	for i, sh := range s.shards {
		st := sh.p.Stats()
		t.Packets += st.Packets
		t.NotIP += st.NotIP
		t.Malformed += st.Malformed
		t.Truncated += st.Truncated
		t.Unknown += st.Unknown
		t.Flow.Flows += st.Flow.Flows
		t.Flow.Records += st.Flow.Records
		t.Flow.Evicted += st.Flow.Evicted
		t.Flow.Active += st.Flow.Active
		t.Flow.FragmentsNoKey += st.Flow.FragmentsNoKey
		if i == 0 {
			t.Dissect = st.Dissect // process-wide counters
		}
	}
	return t
}

// Shards returns the number of pipelines.
func (s *Sharder) Shards() int {
	if s.single != nil {
		return 1
	}
	return len(s.shards)
}

// Hash is the shard hash of a canonical key: any function of the key
// works, this one mixes its words (FNV-1a over 8-byte words, then a
// finalizer so that the low bits depend on every input bit).
func Hash(k *flowkey.Key) uint64 {
	h := uint64(14695981039346656037)
	word := func(b []byte) uint64 {
		return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	}
	for _, w := range [...]uint64{
		word(k.Src[0:8]), word(k.Src[8:16]), word(k.Dst[0:8]), word(k.Dst[8:16]),
		uint64(k.SrcPort) | uint64(k.DstPort)<<16 | uint64(k.Proto)<<32 | uint64(k.IPVersion)<<40 | uint64(k.VLAN)<<48,
		uint64(k.IfIndex),
	} {
		h = (h ^ w) * 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// lockedSink is a shard's view of the shared sink: it gathers the shard's
// records and writes them, whole lines only, under the shared lock.
type lockedSink struct {
	out sink.Sink
	mu  *sync.Mutex
	buf []byte
	err error
}

const lockedSinkFlush = 64 << 10

func (l *lockedSink) Write(line []byte) error {
	if l.err != nil {
		return l.err
	}
	l.buf = append(l.buf, line...)
	if len(l.buf) >= lockedSinkFlush {
		l.write(false)
	}
	return l.err
}

func (l *lockedSink) write(flush bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 && l.err == nil {
		l.err = l.out.Write(l.buf)
	}
	l.buf = l.buf[:0]
	if flush && l.err == nil {
		l.err = l.out.Flush()
	}
}

func (l *lockedSink) Flush() error {
	l.write(true)
	return l.err
}

// Close flushes; the shared sink is closed by its owner.
func (l *lockedSink) Close() error { return l.Flush() }
