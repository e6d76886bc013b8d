package ebpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// Handler receives the engine's events, on Run's goroutine. The Packet
// and its Data are only valid during the call.
type Handler interface {
	Packet(*event.Packet)
	Counts(*event.Counts)
}

// EvictHandler is implemented by handlers that want to know when the
// engine deleted a flow's kernel entry early because the map was nearly
// full (after that flow's last Counts), to end the flow too (expire_type
// "o"). key is the canonical tuple.
type EvictHandler interface {
	Evicted(key flowkey.Key)
}

// TickHandler is implemented by handlers that keep a clock (the flow
// table's idle and active timeouts): after each sweep the engine calls
// Tick with the wall-clock time in ns, so that flows end on time while no
// packet arrives.
type TickHandler interface {
	Tick(now int64)
}

// Run delivers samples and counter deltas to h until ctx is done. Then it
// detaches the programs, delivers what is left (every sample in the ring,
// every counter not yet reported) and returns nil. The caller then ends
// its flows and calls Close. Run may be called once.
func (e *Engine) Run(ctx context.Context, h Handler) error {
	if e.running.Swap(true) {
		return errors.New("ebpf engine: Run called twice")
	}
	// A wait may last a whole sweep interval: cancelling wakes it.
	stopWaking := context.AfterFunc(ctx, func() { e.reader.Flush() })
	defer stopWaking()
	var rec ringbuf.Record
	poll := e.cfg.PollInterval
	nextSweep := time.Now().Add(e.cfg.SweepInterval)
	for {
		if ctx.Err() != nil {
			return e.finish(h)
		}
		deadline := time.Now().Add(poll)
		if deadline.After(nextSweep) {
			deadline = nextSweep
		}
		e.reader.SetDeadline(deadline)
		err := e.reader.ReadInto(&rec)
		switch {
		case err == nil:
			e.deliver(h, rec.RawSample)
			poll = e.cfg.PollInterval
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Each wakeup costs the process tens of µs: while the
			// ring stays empty, wake less often.
			poll = min(2*poll, e.cfg.SweepInterval)
		case errors.Is(err, ringbuf.ErrFlushed):
		case errors.Is(err, ringbuf.ErrClosed):
			return fmt.Errorf("ebpf engine closed while running: %w", err)
		default:
			return fmt.Errorf("reading samples: %w", err)
		}
		if now := time.Now(); !now.Before(nextSweep) {
			if err := e.sweep(h); err != nil {
				return err
			}
			nextSweep = now.Add(e.cfg.SweepInterval)
		}
	}
}

// finish detaches, so the counters stop moving, then reports everything.
func (e *Engine) finish(h Handler) error {
	detachErr := e.attach.Close()
	if err := e.sweep(h); err != nil {
		return errors.Join(detachErr, err)
	}
	if detachErr != nil {
		return fmt.Errorf("detaching: %w", detachErr)
	}
	return nil
}

// drain delivers every sample now in the ring without waiting.
func (e *Engine) drain(h Handler) error {
	var rec ringbuf.Record
	e.reader.SetDeadline(time.Now())
	for {
		err := e.reader.ReadInto(&rec)
		switch {
		case err == nil:
			e.deliver(h, rec.RawSample)
		case errors.Is(err, ringbuf.ErrFlushed):
			// The wake from cancelling Run; keep reading.
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		default:
			return fmt.Errorf("reading samples: %w", err)
		}
	}
}

func (e *Engine) deliver(h Handler, raw []byte) {
	p, _, err := decodeSample(raw, e.clock.offset.Load(), &e.pkt)
	if err != nil {
		e.counted.bad.Add(1)
		return
	}
	e.counted.delivered.Add(1)
	h.Packet(p)
}
