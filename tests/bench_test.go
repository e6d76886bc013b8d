package tests

import (
	"errors"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/capture/pcapfile"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/features"
	"github.com/flowjoy/flowjoy/userspace/flow"
	"github.com/flowjoy/flowjoy/userspace/pipeline"
	"github.com/flowjoy/flowjoy/userspace/shard"
)

// The benchmarks run over the capture named by FLOWJOY_BENCH_CAPTURE
// (scripts/bench.sh makes a deterministic one); each reports packets/s,
// MB/s and allocations per packet, so the script can print ratios to the
// read-only pass of the same run.

func benchCapture(b *testing.B) string {
	p := os.Getenv("FLOWJOY_BENCH_CAPTURE")
	if p == "" {
		b.Skip("set FLOWJOY_BENCH_CAPTURE to a capture (make bench does)")
	}
	return p
}

// discard is a sink that drops records.
type discard struct{}

func (discard) Write([]byte) error { return nil }
func (discard) Flush() error       { return nil }
func (discard) Close() error       { return nil }

func benchFile(b *testing.B, process func(*event.Packet), finish func()) {
	path := benchCapture(b)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	var packets uint64
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := pcapfile.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		var ev event.Packet
		for {
			if err := f.Next(&ev); err != nil {
				if !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				break
			}
			packets++
			if process != nil {
				process(&ev)
			}
		}
		if i == 0 {
			writeHeapProfile(b)
		}
		if finish != nil {
			finish()
		}
		f.Close()
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(packets), "allocs/pkt")
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(packets)/sec, "pkts/s")
	b.ReportMetric(float64(st.Size())*float64(b.N)/sec/1e6, "MB/s")
	b.ReportMetric(0, "ns/op")
}

// writeHeapProfile writes the live heap, every flow of the capture still
// open or closing (the end of input has not flushed them), to the file
// named by FLOWJOY_BENCH_HEAPPROFILE, if set: that is where the pipelines
// hold the most (docs/profiles/round7/after-all-inuse.txt).
func writeHeapProfile(b *testing.B) {
	path := os.Getenv("FLOWJOY_BENCH_HEAPPROFILE")
	if path == "" {
		return
	}
	b.StopTimer()
	defer b.StartTimer()
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkReadOnly(b *testing.B) { benchFile(b, nil, nil) }

// BenchmarkReadHistogram reads the file and counts every captured byte
// into one histogram, on the reader's core: issue 8 puts the goal for
// "all" at about the time this takes.
func BenchmarkReadHistogram(b *testing.B) {
	var counts [256]uint64
	benchFile(b, func(ev *event.Packet) {
		for _, x := range ev.Data {
			counts[x]++
		}
	}, nil)
	if counts == [256]uint64{} {
		b.Fatal("no bytes counted")
	}
}

func benchPipeline(b *testing.B, all bool, shards int) {
	cfg := pipeline.Config{
		Flow:     flow.DefaultConfig(),
		Features: features.Config{NumPkts: features.DefaultNumPkts, DistBytes: -1, ByteDist: all},
	}
	if all {
		for _, p := range []string{"tls", "quic", "dns", "http", "ssh", "dhcp"} {
			cfg.Dissect.Enable(p)
		}
	}
	// The command's garbage collector target (shard.TuneGC).
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	shard.TuneGC()
	var p *shard.Sharder
	benchFile(b, func(ev *event.Packet) {
		if p == nil {
			p = shard.New(cfg, discard{}, shards)
		}
		p.Packet(ev)
	}, func() {
		p.Finish()
		p = nil
	})
}

// The benchmarks run as the command does: one pipeline per core
// (GOMAXPROCS; -cpu 1 measures one pipeline).
func BenchmarkBasic(b *testing.B) { benchPipeline(b, false, runtime.GOMAXPROCS(0)) }
func BenchmarkAll(b *testing.B)   { benchPipeline(b, true, runtime.GOMAXPROCS(0)) }
