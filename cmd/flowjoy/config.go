package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowjoy/flowjoy/userspace/capture/ebpf"
	"github.com/flowjoy/flowjoy/userspace/features"
	"github.com/flowjoy/flowjoy/userspace/flow"
)

// config holds every command-line setting. Each flag is declared once, in
// newFlagSet, with its help text.
type config struct {
	reads      []string
	write      string
	interfaces []string
	engine     string
	filter     string

	idleTimeout   duration
	activeTimeout duration
	maxFlows      int

	featureSet   string
	numPkts      int
	zeros        bool
	distBytes    distBytes
	idpBytes     int
	byteDist     bool
	payloadBytes int
	decap        bool
	redact       bool
	protocols    map[string]*bool

	progress  bool
	statsJSON bool
	count     uint64
	duration  time.Duration
	xdp       bool
	procmap   bool
	cgroup    string
	exeHash   bool
	cleanup   bool
	version   bool
}

// protocolNames are the parsers that can be switched on and off, in the
// order the help lists them.
var protocolNames = []string{"tls", "quic", "dns", "http", "ssh", "dhcp"}

func newFlagSet(c *config) *pflag.FlagSet {
	fs := pflag.NewFlagSet("flowjoy", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.StringArrayVarP(&c.reads, "read", "r", nil, "read packets from a pcap or pcapng `FILE` (also .gz; - for stdin); repeat for several files, read as one timeline")
	fs.StringVarP(&c.write, "write", "w", "-", "write JSON lines to `FILE` (gzip-compressed when it ends in .gz; - for stdout)")
	fs.StringArrayVarP(&c.interfaces, "interface", "i", nil, "capture live on `IFACE` (repeatable); any: every interface that is up, loopback included, and those that come up later (one record per flow and interface)")
	fs.StringVar(&c.engine, "engine", "auto", "live capture engine: `auto` (eBPF, else libpcap), ebpf or pcap")

	c.idleTimeout.d = flow.DefaultIdleTimeout
	c.activeTimeout.d = flow.DefaultActiveTimeout
	c.distBytes.n = -1 // files: every byte
	fs.Var(&c.idleTimeout, "idle-timeout", "end a flow after this long without packets (`DURATION`: 10s, 1m, or seconds; 0 = never)")
	fs.Var(&c.activeTimeout, "active-timeout", "write a record for a flow that has lasted this `DURATION` and go on in a new record with the same flow_id (0 = never)")
	fs.IntVar(&c.maxFlows, "max-flows", flow.DefaultMaxFlows, "most flows kept at once; when full, the least recently seen is written early (expire_type \"o\")")

	fs.StringVar(&c.featureSet, "features", "all", "`SET` of features: basic (counts, times, packets list) or all (also byte distribution and every protocol parser)")
	fs.IntVar(&c.numPkts, "num-pkts", features.DefaultNumPkts, fmt.Sprintf("how many packets the \"packets\" list keeps per flow (`N`, at most %d)", features.MaxNumPkts))
	fs.BoolVar(&c.zeros, "zeros", false, "list packets without payload too (TCP handshake, ACKs) in \"packets\"")
	fs.Var(&c.distBytes, "dist-bytes", "cap the payload bytes per flow that byte_dist and entropy cover (`N` or all; the eBPF engine uses 16384 unless given)")
	fs.IntVar(&c.idpBytes, "idp", 0, "report the first `N` bytes of the first data packet of each direction (idp_out, idp_in); 0 = off")
	fs.BoolVar(&c.byteDist, "byte-dist", true, "report byte_dist, its mean and std, and entropy")
	fs.IntVar(&c.payloadBytes, "payload-bytes", 0, "reassemble at most `N` bytes of each TCP direction for the protocol parsers (0 = default, enough for a TLS certificate chain)")
	fs.BoolVar(&c.decap, "decap", true, "key tunnelled traffic (GRE, VXLAN, Geneve, IP-in-IP) by the inner packet; the record names the tunnel")
	fs.BoolVar(&c.redact, "redact", true, "replace the values of Authorization, Proxy-Authorization, Cookie and Set-Cookie HTTP headers")
	c.protocols = make(map[string]*bool)
	for _, name := range protocolNames {
		c.protocols[name] = fs.Bool(name, true, "parse "+strings.ToUpper(name)+" (with --features all)")
	}

	fs.BoolVar(&c.progress, "progress", true, "show a progress bar on stderr when reading files on a terminal")
	fs.BoolVar(&c.statsJSON, "stats-json", false, "print the closing statistics as one JSON object on stderr instead of a line of text")
	fs.Uint64Var(&c.count, "count", 0, "stop live capture after `N` packets")
	fs.DurationVar(&c.duration, "duration", 0, "stop live capture after `DURATION`")
	fs.BoolVar(&c.xdp, "xdp", false, "eBPF engine: also attach an XDP program on ingress (native XDP on a veth turns off TSO on its peer)")
	fs.BoolVar(&c.procmap, "procmap", true, "name the process behind each local side of a live flow (exe, peer_exe): the eBPF engine attributes sockets in the kernel, libpcap from /proc snapshots")
	fs.StringVar(&c.cgroup, "cgroup", "", "eBPF engine: attribute only sockets of processes in the cgroup v2 directory `PATH` and below (default: the cgroup v2 root, every process)")
	fs.BoolVar(&c.exeHash, "exe-hash", false, "add the SHA-256 of each program file to exe (\"hash\"; read once per file)")
	fs.BoolVar(&c.cleanup, "cleanup", false, "remove TC filters a killed flowjoy left behind, and exit")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")

	// Every default-on switch gets its --no-X twin.
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Value.Type() == "bool" && f.DefValue == "true" {
			target := f
			fs.Var(&negation{target: target}, "no-"+f.Name, "do not "+strings.TrimPrefix(lowerFirst(f.Usage), "do not "))
			fs.Lookup("no-" + f.Name).NoOptDefVal = "true"
		}
	})
	return fs
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// negation is the value of a --no-X flag: setting it sets X to false.
type negation struct{ target *pflag.Flag }

func (n *negation) String() string { return "false" }
func (n *negation) Type() string   { return "bool" }
func (n *negation) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	return n.target.Value.Set(strconv.FormatBool(!b))
}

// duration accepts Go durations ("10s", "1m30s") and plain seconds ("10",
// "2.5"), as Joy's timeouts were seconds.
type duration struct {
	d   time.Duration
	set bool
}

func (d *duration) String() string { return d.d.String() }
func (d *duration) Type() string   { return "duration" }
func (d *duration) Set(s string) error {
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs < 0 {
			return fmt.Errorf("negative timeout %q", s)
		}
		d.d, d.set = time.Duration(secs*float64(time.Second)), true
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (try 10s, 1m or a number of seconds)", s)
	}
	if v < 0 {
		return fmt.Errorf("negative timeout %q", s)
	}
	d.d, d.set = v, true
	return nil
}

// distBytes is a byte count or "all" (-1); set says it was given.
type distBytes struct {
	n   int64
	set bool
}

func (d *distBytes) String() string {
	if d.n < 0 {
		return "all"
	}
	return strconv.FormatInt(d.n, 10)
}
func (d *distBytes) Type() string { return "bytes" }
func (d *distBytes) Set(s string) error {
	if s == "all" {
		d.n, d.set = -1, true
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a byte count or \"all\"", s)
	}
	d.n, d.set = n, true
	return nil
}

// validate checks combinations that flags alone cannot.
func (c *config) validate() error {
	if c.numPkts < 0 || c.numPkts > features.MaxNumPkts {
		return fmt.Errorf("--num-pkts %d: must be between 0 and %d", c.numPkts, features.MaxNumPkts)
	}
	if c.featureSet != "basic" && c.featureSet != "all" {
		return fmt.Errorf("--features %q: must be basic or all", c.featureSet)
	}
	if c.maxFlows <= 0 {
		return fmt.Errorf("--max-flows %d: must be positive", c.maxFlows)
	}
	if c.idpBytes < 0 {
		return fmt.Errorf("--idp %d: must not be negative", c.idpBytes)
	}
	if c.payloadBytes < 0 {
		return fmt.Errorf("--payload-bytes %d: must not be negative", c.payloadBytes)
	}
	if len(c.reads) > 0 && (c.cgroup != "" || c.exeHash) {
		return fmt.Errorf("--cgroup and --exe-hash are for live capture: capture files carry no processes")
	}
	if len(c.reads) > 0 && len(c.interfaces) > 0 {
		return fmt.Errorf("-r and -i cannot be combined: read files or capture live")
	}
	if len(c.reads) == 0 && len(c.interfaces) == 0 && !c.cleanup && !c.version {
		return fmt.Errorf("nothing to read: give -r FILE or -i IFACE")
	}
	if len(c.interfaces) > 1 && slices.Contains(c.interfaces, ebpf.AnyInterface) {
		return fmt.Errorf("-i any already means every interface: give it alone")
	}
	switch c.engine {
	case "auto", "ebpf", "pcap":
	default:
		return fmt.Errorf("--engine %q: must be auto, ebpf or pcap", c.engine)
	}
	stdin := 0
	for _, r := range c.reads {
		if r == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return fmt.Errorf("-r - (stdin) can be given only once")
	}
	return nil
}
