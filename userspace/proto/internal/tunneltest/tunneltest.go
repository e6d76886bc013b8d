// Package tunneltest is what the tests of the tunnelling parsers (an
// HTTP CONNECT, STARTTLS, SOCKS) share: an opener whose parser records
// what the tunnel carries, the start of a TLS handshake each way, and a
// player of alternating segments.
package tunneltest

import "github.com/flowjoy/flowjoy/userspace/proto"

// The first octets of a TLS handshake: a record header and a handshake
// header (the tunnels are told by those).
const (
	ClientHello = "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"
	ServerHello = "\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00"
)

// Recorder is a proto.TunnelOpener whose parser is itself: it opens a
// tunnel whose first octet starts a TLS handshake record (unless
// Decline), and records the octets and gaps of each tunnel direction.
type Recorder struct {
	Decline bool
	Opened  int    // tunnels opened
	First   string // the first octets it was offered
	Got     [2]string
	Gaps    [2]bool
	// Done: Finished, or DoneAfter octets (when > 0) each way.
	Finished  bool
	DoneAfter int
}

// OpenTunnel implements proto.TunnelOpener.
func (r *Recorder) OpenTunnel(first []byte) proto.Stream {
	r.First = string(first)
	if r.Decline || len(first) == 0 || first[0] != 0x16 {
		return nil
	}
	r.Opened++
	return r
}

func (r *Recorder) Data(dir proto.Dir, b []byte, _ int64) { r.Got[dir] += string(b) }
func (r *Recorder) Gap(dir proto.Dir)                     { r.Gaps[dir] = true }
func (r *Recorder) Report() (string, any)                 { return "tls", nil }

func (r *Recorder) Done() bool {
	return r.Finished || r.DoneAfter > 0 && len(r.Got[0]) >= r.DoneAfter && len(r.Got[1]) >= r.DoneAfter
}

// Step is one segment of a connection.
type Step struct {
	Dir  proto.Dir
	Data string
}

// Play gives p the steps in order, each whole or, with octets, one octet
// at a time.
func Play(p proto.Stream, steps []Step, octets bool) {
	for _, s := range steps {
		if !octets {
			p.Data(s.Dir, []byte(s.Data), 0)
			continue
		}
		for i := range len(s.Data) {
			p.Data(s.Dir, []byte(s.Data[i:i+1]), 0)
		}
	}
}

// Cut gives p the client's octets cut at co and then the server's cut at
// ci, as two segments each.
func Cut(p proto.Stream, out, in []byte, co, ci int) {
	p.Data(proto.Out, out[:co], 0)
	p.Data(proto.Out, out[co:], 0)
	p.Data(proto.In, in[:ci], 0)
	p.Data(proto.In, in[ci:], 0)
}

// Out is a segment from the client (the flow's initiator).
func Out(data string) Step { return Step{proto.Out, data} }

// In is a segment from the server.
func In(data string) Step { return Step{proto.In, data} }
