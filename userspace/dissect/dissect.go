// Package dissect runs the protocol parsers of one flow: it picks them by
// the flow's first payload (and ports where a protocol has no signature),
// reassembles TCP for the stream parsers, hands UDP datagrams to the
// datagram parsers, and collects their objects for the record.
package dissect

import (
	"sync/atomic"

	"github.com/flowjoy/flowjoy/userspace/decode"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
	"github.com/flowjoy/flowjoy/userspace/proto"
	"github.com/flowjoy/flowjoy/userspace/proto/http"
	"github.com/flowjoy/flowjoy/userspace/proto/tls"
	"github.com/flowjoy/flowjoy/userspace/reassembly"
)

// Directions, relative to the flow's initiator.
const (
	Out = proto.Out
	In  = proto.In
)

// Config selects the parsers and bounds their input.
type Config struct {
	// PayloadBytes is the reassembly budget per TCP direction; 0 means
	// reassembly.DefaultBudget (enough for a TLS certificate chain).
	PayloadBytes int
	// Redact hides credential headers in HTTP.
	Redact bool
	// Limiter bounds the reassembly memory of all flows together; nil
	// means a default limiter shared by the process.
	Limiter *reassembly.Limiter
	enabled map[string]bool
}

// Enable turns on the parser of that name (tls, quic, dns, http, ssh,
// dhcp).
func (c *Config) Enable(name string) {
	if c.enabled == nil {
		c.enabled = make(map[string]bool)
	}
	c.enabled[name] = true
}

func (c *Config) on(name string) bool { return c.enabled[name] }

// Any reports whether any parser is enabled.
func (c *Config) Any() bool { return len(c.enabled) > 0 }

// Stats are process-wide counters of the dissection stage.
type Stats struct {
	Streams   uint64 `json:"tcp_streams_parsed"`
	Datagrams uint64 `json:"udp_flows_parsed"`
}

var stats struct{ streams, datagrams atomic.Uint64 }

// StatsSnapshot returns the counters.
func StatsSnapshot() Stats {
	return Stats{Streams: stats.streams.Load(), Datagrams: stats.datagrams.Load()}
}

// Flow is the dissection state of one flow; its zero value is a flow
// whose protocol is not decided yet. It is kept for every flow in the
// table, so it is small: the parser and reassembly state is allocated
// only when a parser is chosen.
type Flow struct {
	decided bool
	synSeen [2]bool
	isn     [2]uint32 // SYN sequence numbers seen before a parser existed
	*parsed           // nil unless a parser was chosen
}

// parsed is the state of a flow that has a parser.
type parsed struct {
	stream   proto.Stream
	datagram proto.Datagram
	// extra reporters that ride along (QUIC's TLS object).
	extra []proto.Reporter
	// tunnel is the TLS parser of a tunnel (HTTP CONNECT, SOCKS,
	// STARTTLS), from pool (OpenTunnel), reported after stream's object;
	// pool is set for the stream parsers that can open one.
	tunnel   *tls.Parser
	pool     *Pool
	reasm    [2]reassembly.Direction
	deliver  [2]deliverer
	reported bool
}

// Packet feeds one packet of the flow; new parser state comes from pool.
func (f *Flow) Packet(cfg *Config, pool *Pool, dir proto.Dir, ts int64, p *decode.Packet) {
	if !cfg.Any() || !p.TransportOK {
		return
	}
	switch p.Key.Proto {
	case flowkey.ProtoTCP:
		f.tcp(cfg, pool, dir, ts, p)
	case flowkey.ProtoUDP:
		f.udp(cfg, pool, dir, ts, p)
	}
}

func (f *Flow) tcp(cfg *Config, pool *Pool, dir proto.Dir, ts int64, p *decode.Packet) {
	if !f.decided {
		if p.TCPFlags&decode.TCPSyn != 0 {
			f.isn[dir], f.synSeen[dir] = p.Seq, true
		}
		if p.PayloadLen == 0 {
			return
		}
		f.decided = true
		stream := chooseStream(cfg, pool, dir, p)
		if stream == nil {
			return
		}
		f.parsed = pool.parsed()
		f.stream = stream
		if t, ok := stream.(tunneler); ok && cfg.on("tls") {
			f.pool = pool
			t.OpenTunnels(f.parsed)
		}
		stats.streams.Add(1)
		limiter := cfg.Limiter
		if limiter == nil {
			limiter = defaultLimiter
		}
		for d := range f.reasm {
			f.deliver[d] = deliverer{stream: f.stream, dir: proto.Dir(d)}
			f.reasm[d].Budget = uint32(min(cfg.PayloadBytes, reassembly.MaxBudget))
			f.reasm[d].Limiter = limiter
			if f.synSeen[d] {
				f.reasm[d].Segment(f.isn[d], decode.TCPSyn, nil, 0, ts, &f.deliver[d])
			}
		}
	}
	if f.parsed == nil {
		return
	}
	f.reasm[dir].Segment(p.Seq, p.TCPFlags, p.Payload, p.PayloadLen, ts, &f.deliver[dir])
	if f.stream.Done() {
		f.reasm[0].Stop()
		f.reasm[1].Stop()
	}
}

func (f *Flow) udp(cfg *Config, pool *Pool, dir proto.Dir, ts int64, p *decode.Packet) {
	if !f.decided {
		if p.PayloadLen == 0 {
			return
		}
		f.decided = true
		datagram, extra := chooseDatagram(cfg, dir, p)
		if datagram != nil {
			f.parsed = pool.parsed()
			f.datagram, f.extra = datagram, extra
			stats.datagrams.Add(1)
		}
	}
	if f.parsed == nil || f.datagram == nil || f.datagram.Done() {
		return
	}
	f.datagram.Datagram(dir, p.Payload, uint32(len(p.Payload)) < p.PayloadLen, ts)
}

// tunneler is a stream parser that hands a tunnel's bytes (an HTTP
// CONNECT, a STARTTLS upgrade, a SOCKS proxy) to the parser an opener
// chooses.
type tunneler interface {
	OpenTunnels(proto.TunnelOpener)
}

// OpenTunnel implements proto.TunnelOpener: TLS through an HTTP or SOCKS
// proxy, or after a STARTTLS command.
func (pd *parsed) OpenTunnel(first []byte) proto.Stream {
	if !tls.Detect(first) {
		return nil
	}
	pd.tunnel = pd.pool.tlsParser()
	return pd.tunnel
}

// Done reports that the flow's parsers want no more payload: no parser is
// enabled, or the protocol is decided and it has no parser or its parser
// is done.
func (f *Flow) Done(cfg *Config) bool {
	switch {
	case !cfg.Any():
		return true
	case !f.decided:
		return false
	case f.parsed == nil:
		return true
	case f.stream != nil:
		return f.stream.Done()
	case f.datagram != nil:
		return f.datagram.Done()
	}
	return true
}

// Close ends the flow's input: reassembly flushes what it holds and tells
// the parser about missing bytes.
func (f *Flow) Close() {
	if f.parsed != nil && f.stream != nil {
		f.reasm[0].Close(&f.deliver[0])
		f.reasm[1].Close(&f.deliver[1])
	}
}

// Report appends the parsers' objects to dst. Each parser is reported
// once: in the first record written after it is done, or in the flow's
// last record (final), so records split by the active timeout do not
// repeat it.
func (f *Flow) Report(dst []proto.Object, final bool) []proto.Object {
	if f.parsed == nil || f.reported {
		return dst
	}
	var main proto.Reporter
	done := false
	switch {
	case f.stream != nil:
		main, done = f.stream, f.stream.Done()
	case f.datagram != nil:
		main, done = f.datagram, f.datagram.Done()
	default:
		return dst
	}
	if !final && !done {
		return dst
	}
	f.reported = true
	dst = appendReport(dst, main)
	if f.tunnel != nil {
		dst = appendReport(dst, f.tunnel)
	}
	for _, r := range f.extra {
		dst = appendReport(dst, r)
	}
	return dst
}

func appendReport(dst []proto.Object, r proto.Reporter) []proto.Object {
	if k, v := r.Report(); v != nil {
		dst = append(dst, proto.Object{Key: k, Value: v})
	}
	return dst
}

// Pool keeps the parser state of ended flows for the flows that start
// later: with --features all nearly every TCP flow gets a parser, and
// reusing it (with its buffers) spares most of the allocations a flow's
// dissection makes. A pipeline has one (it is not safe for concurrent
// use); the zero value is ready. Like features.Pool it holds at most
// maxPooled of each kind, so a past peak of flows is not kept alive.
type Pool struct {
	parseds []*parsed
	tls     []*tls.Parser
	http    []*http.Parser
	// tlsReports: a pipeline writes each flow's record before the next
	// flow's Report, so its TLS parsers share what Report fills.
	tlsReports tls.Group
}

const maxPooled = 1 << 12

func (pool *Pool) parsed() *parsed {
	if n := len(pool.parseds); n > 0 {
		pd := pool.parseds[n-1]
		pool.parseds = pool.parseds[:n-1]
		return pd
	}
	return new(parsed)
}

func (pool *Pool) tlsParser() *tls.Parser {
	if n := len(pool.tls); n > 0 {
		t := pool.tls[n-1]
		pool.tls = pool.tls[:n-1]
		t.Reset()
		return t
	}
	return pool.tlsReports.New()
}

func (pool *Pool) httpParser(redact bool) *http.Parser {
	if n := len(pool.http); n > 0 {
		h := pool.http[n-1]
		pool.http = pool.http[:n-1]
		h.Reset(redact)
		return h
	}
	return http.New(redact)
}

// Release hands the flow's parser state to pool and clears the flow:
// call it when the flow's last record is written, since the objects of
// that record belong to the parsers.
func (f *Flow) Release(pool *Pool) {
	if pd := f.parsed; pd != nil {
		switch s := pd.stream.(type) {
		case *tls.Parser:
			if len(pool.tls) < maxPooled {
				pool.tls = append(pool.tls, s)
			}
		case *http.Parser:
			if len(pool.http) < maxPooled {
				pool.http = append(pool.http, s)
			}
		}
		if pd.tunnel != nil && len(pool.tls) < maxPooled {
			pool.tls = append(pool.tls, pd.tunnel)
		}
		if len(pool.parseds) < maxPooled {
			*pd = parsed{}
			pool.parseds = append(pool.parseds, pd)
		}
	}
	*f = Flow{}
}

// deliverer adapts a stream parser to one reassembly direction.
type deliverer struct {
	stream proto.Stream
	dir    proto.Dir
}

func (d *deliverer) Data(b []byte, ts int64) { d.stream.Data(d.dir, b, ts) }
func (d *deliverer) Gap()                    { d.stream.Gap(d.dir) }

// defaultLimiter bounds the out-of-order bytes of every flow of the
// process when the Config names no Limiter.
var defaultLimiter = reassembly.NewLimiter(0)
