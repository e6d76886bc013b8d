// Command flowjoy turns packets into one JSON object per flow: counts,
// times, the lengths and times of the first packets, the byte
// distribution of the payload, and protocol metadata (TLS, QUIC, DNS,
// HTTP, SSH, DHCP), with Joy's key names.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowjoy/flowjoy/userspace/capture/pcapfile"
	"github.com/flowjoy/flowjoy/userspace/dissect"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/features"
	"github.com/flowjoy/flowjoy/userspace/flow"
	"github.com/flowjoy/flowjoy/userspace/pipeline"
	"github.com/flowjoy/flowjoy/userspace/shard"
	"github.com/flowjoy/flowjoy/userspace/sink"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is main without the exit, for tests: it returns the exit status.
func run(args []string, stderr io.Writer) int {
	var c config
	fs := newFlagSet(&c)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // --help prints below; errors print a hint

	args, joyFilter, err := translateJoyArgs(args)
	if err == nil {
		err = fs.Parse(args)
	}
	if errors.Is(err, pflag.ErrHelp) {
		printUsage(os.Stdout, fs)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "flowjoy: %v\nRun 'flowjoy --help' for usage.\n", err)
		return 2
	}
	if c.version {
		fmt.Println("flowjoy", version)
		return 0
	}
	c.filter = strings.TrimSpace(strings.Join(append(fs.Args(), joyFilter), " "))
	if err := c.validate(); err != nil {
		fmt.Fprintf(stderr, "flowjoy: %v\nRun 'flowjoy --help' for usage.\n", err)
		return 2
	}
	if len(c.interfaces) > 0 || c.cleanup {
		if err := runLive(&c, stderr); err != nil {
			fmt.Fprintf(stderr, "flowjoy: %v\n", err)
			return 1
		}
		return 0
	}
	if err := runFiles(&c, stderr); err != nil {
		fmt.Fprintf(stderr, "flowjoy: %v\n", err)
		return 1
	}
	return 0
}

// pipelineConfig turns the flags into the stages' configuration.
func (c *config) pipelineConfig() pipeline.Config {
	all := c.featureSet == "all"
	pc := pipeline.Config{
		Flow: flow.Config{
			IdleTimeout:   c.idleTimeout.d,
			ActiveTimeout: c.activeTimeout.d,
			CloseTimeout:  flow.DefaultCloseTimeout,
			MaxFlows:      c.maxFlows,
		},
		Features: features.Config{
			NumPkts:   c.numPkts,
			Zeros:     c.zeros,
			DistBytes: c.distBytes.n,
			IDPBytes:  c.idpBytes,
			ByteDist:  all && c.byteDist,
		},
		Dissect: dissect.Config{
			PayloadBytes: c.payloadBytes,
			Redact:       c.redact,
		},
		NoDecap: !c.decap,
	}
	if all {
		for name, on := range c.protocols {
			if *on {
				pc.Dissect.Enable(name)
			}
		}
	}
	return pc
}

func runFiles(c *config, stderr io.Writer) error {
	var files []*pcapfile.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, name := range c.reads {
		f, err := pcapfile.Open(name)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	out, err := sink.Open(c.write)
	if err != nil {
		return err
	}
	var filter *packetFilter
	if c.filter != "" {
		if filter, err = newPacketFilter(c.filter); err != nil {
			out.Close()
			return err
		}
	}

	st := newRunStats(files)
	var interrupted atomic.Bool
	timeline := pcapfile.NewTimeline(files, func(f *pcapfile.File, err error) {
		if interrupted.Load() {
			return // the input was closed by the interrupt, not cut short
		}
		st.noteCorrupt(f, err)
		fmt.Fprintf(stderr, "flowjoy: warning: %v; flows seen so far are kept\n", err)
	})
	// One pipeline per core, each fed the flows of a shard of the key
	// space (userspace/shard); GOMAXPROCS=1 gives a single pipeline.
	shard.TuneGC()
	p := shard.New(c.pipelineConfig(), out, runtime.GOMAXPROCS(0))

	// SIGINT/SIGTERM end the input: closing the files also wakes a read
	// blocked on a pipe (-r -), and the flows seen so far are written.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
			interrupted.Store(true)
			for _, f := range files {
				f.Close()
			}
		case <-done:
		}
	}()

	var bar *progressBar
	if c.progress && isTerminal(os.Stderr) {
		bar = startProgress(stderr, files)
	}

	var ev event.Packet
	start := time.Now()
	for timeline.Next(&ev) == nil {
		if filter != nil {
			ok, err := filter.match(&ev)
			if err != nil {
				bar.stop()
				p.Finish()
				out.Close()
				return err
			}
			if !ok {
				st.filtered++
				continue
			}
		}
		p.Packet(&ev)
	}
	bar.stop()
	werr := p.Finish()
	if cerr := out.Close(); werr == nil {
		werr = cerr
	}
	st.finish(p.Stats(), time.Since(start), interrupted.Load())
	st.print(stderr, c.statsJSON)
	return werr
}

func printUsage(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprint(w, `flowjoy turns packets into one JSON object per flow (Joy's format).

Usage:
  flowjoy -r FILE [-r FILE ...] [options] [FILTER]
  flowjoy -i IFACE [-i IFACE ...] [options] [FILTER]

FILTER is a tcpdump expression (pcap-filter(7)), e.g. 'tcp port 443'.
Live, the eBPF engine runs it in the kernel, in front of its counters:
filtered-out packets cost tens of nanoseconds and are neither counted nor
sampled. It means what it means to tcpdump on a capture file, VLAN tags
included (on TC the filter sees the tag the kernel took out of the packet).
Without a link header (tun, WireGuard) it is compiled for raw IP.
Joy's key=value arguments are accepted too (bidir=1 num_pkts=50 ...).

Examples:
  flowjoy -r capture.pcap                       # every flow, all features, to stdout
  flowjoy -r day1.pcap.gz -r day2.pcap -w flows.json.gz
  flowjoy -r capture.pcapng --features basic --idle-timeout 0 --active-timeout 0
  flowjoy -r capture.pcap tcp port 443 | jq -c '{sa, da, sni: .tls.sni}'
  tcpdump -w - -i eth0 | flowjoy -r -
  sudo flowjoy -i eth0 --duration 1m
  sudo flowjoy -i eth0 'tcp port 443 or udp port 53'   # filtered in the kernel

Options:
`)
	fmt.Fprint(w, fs.FlagUsages())
}
