package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowjoy/flowjoy/userspace/capture/pcaplive"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
	"github.com/flowjoy/flowjoy/userspace/pipeline"
	"github.com/flowjoy/flowjoy/userspace/sink"
)

// liveEngine is what runLive needs of a capture engine.
type liveEngine interface {
	// Run delivers events to h until ctx is done; it takes lock around
	// every call into h.
	Run(ctx context.Context, h eventHandler, lock *sync.Mutex) error
	InterfaceName(ifindex uint32) string
	// Describe says where and how the engine captures, for one line on
	// stderr once it does.
	Describe() string
	// Stats returns the engine's counters for the summary.
	Stats() map[string]uint64
	Close()
}

// payloadLimiter is an engine that can stop copying a flow's payload when
// the pipeline needs no more of it (the eBPF engine; libpcap cannot).
type payloadLimiter interface {
	PayloadDone(key flowkey.Key)
}

func runLive(c *config, stderr io.Writer) error {
	if c.cleanup {
		return cleanupLeftovers(stderr)
	}
	// The eBPF engine's interface watcher writes notes from its goroutine.
	stderr = &lockedWriter{w: stderr}
	eng, err := openLiveEngine(c, stderr)
	if err != nil {
		return err
	}
	defer eng.Close()
	attr := openAttribution(c, eng, stderr)
	if attr != nil {
		defer attr.Close()
	}
	fmt.Fprintf(stderr, "flowjoy: capturing on %s\n", eng.Describe())

	out, err := sink.Open(c.write)
	if err != nil {
		return err
	}
	pc := c.pipelineConfig()
	pc.InterfaceName = eng.InterfaceName
	pc.Attribution = attr // a nil attribution is a nil pipeline.Attribution
	if limiter, ok := eng.(payloadLimiter); ok {
		pc.PayloadDone = limiter.PayloadDone
	}
	p := pipeline.New(pc, out)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if c.duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	var lock sync.Mutex
	start := time.Now()
	summary := func() *liveStats {
		lock.Lock()
		defer lock.Unlock()
		ps := p.Stats()
		return newLiveStats(ps, eng.Stats(), newAttributionStats(ps, attr), time.Since(start))
	}
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				if s == syscall.SIGUSR1 {
					summary().print(stderr, c.statsJSON)
					continue
				}
				cancel()
				return
			case now := <-tick.C:
				// Quiet flows end on time even when no packet comes,
				// and what was written becomes visible.
				lock.Lock()
				p.Tick(now.UnixNano())
				p.Flush()
				lock.Unlock()
			}
		}
	}()

	runErr := eng.Run(ctx, &countingPipeline{Pipeline: p, limit: c.count, stop: cancel}, &lock)
	lock.Lock()
	werr := p.Finish()
	lock.Unlock()
	if cerr := out.Close(); werr == nil {
		werr = cerr
	}
	summary().print(stderr, c.statsJSON)
	if runErr != nil {
		return runErr
	}
	return werr
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// eventHandler takes an engine's events.
type eventHandler interface {
	Packet(*event.Packet)
	Counts(*event.Counts)
}

// countingPipeline is the pipeline that stops the capture after --count
// packets.
type countingPipeline struct {
	*pipeline.Pipeline
	limit uint64
	seen  uint64
	stop  func()
}

func (cp *countingPipeline) Packet(ev *event.Packet) {
	if cp.limit > 0 && cp.seen >= cp.limit {
		cp.stop()
		return
	}
	cp.seen += uint64(ev.SegmentCount())
	cp.Pipeline.Packet(ev)
}

// Counts are packets too: the eBPF engine delivers most of a flow's
// packets as counts.
func (cp *countingPipeline) Counts(c *event.Counts) {
	if cp.limit > 0 && cp.seen >= cp.limit {
		cp.stop()
		return
	}
	cp.seen += c.Packets
	cp.Pipeline.Counts(c)
}

// openLiveEngine picks the engine: eBPF when it can load, else libpcap
// (with a one-line reason under --engine auto).
func openLiveEngine(c *config, stderr io.Writer) (liveEngine, error) {
	if c.filter != "" {
		// A typo is no reason to try another engine.
		if _, err := newPacketFilter(c.filter); err != nil {
			return nil, err
		}
	}
	if c.engine != "pcap" {
		eng, err := openEBPF(c, stderr)
		if err == nil {
			return eng, nil
		}
		if c.engine == "ebpf" {
			return nil, err
		}
		fmt.Fprintf(stderr, "flowjoy: eBPF engine unavailable (%v); using libpcap\n", err)
	}
	e, err := pcaplive.Open(pcaplive.Config{Interfaces: c.interfaces, Filter: c.filter, Promiscuous: true})
	if err != nil {
		return nil, err
	}
	return &pcapEngine{e, c.interfaces}, nil
}

type pcapEngine struct {
	*pcaplive.Engine
	names []string
}

func (e *pcapEngine) Run(ctx context.Context, h eventHandler, lock *sync.Mutex) error {
	return e.Engine.Run(ctx, h, lock)
}

func (e *pcapEngine) Describe() string {
	return strings.Join(e.names, ", ") + " (libpcap)"
}

func (e *pcapEngine) Stats() map[string]uint64 {
	s := e.Engine.Stats()
	return map[string]uint64{"pcap_received": s.Received, "pcap_dropped_kernel": s.DroppedKernel, "pcap_dropped_interface": s.DroppedInterface}
}
