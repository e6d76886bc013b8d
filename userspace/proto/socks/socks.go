// Package socks follows the handshake of a SOCKS 4, 4a or 5 proxy
// connection (RFC 1928 and 1929; SOCKS 4 and 4a by their de facto specs)
// and, once the proxy grants a CONNECT, hands the bytes the tunnel
// carries to the parser a proto.TunnelOpener chooses (TLS through the
// proxy). It reports nothing itself: the record gets the tls object of
// the tunnelled connection.
//
// Each handshake message is read whole, across segments, so a client
// that sends its request, or its ClientHello, without waiting for the
// proxy's answer is followed as well. A handshake this package does not
// follow (GSSAPI authentication, UDP ASSOCIATE, BIND, a refusal) ends
// the parse.
package socks

import (
	"github.com/flowjoy/flowjoy/userspace/proto"
)

// Detect says whether a connection's first client bytes are a SOCKS 4
// or 4a CONNECT request or a SOCKS 5 greeting.
func Detect(first []byte) bool {
	b := first
	switch {
	case len(b) >= 9 && b[0] == 4 && b[1] == 1:
		// VN CD DSTPORT DSTIP USERID NUL: the user id is short.
		for _, c := range b[8:min(len(b), 8+256)] {
			if c == 0 {
				return true
			}
		}
	case len(b) >= 3 && b[0] == 5 && b[1] >= 1 && b[1] <= 16 && len(b) >= 2+int(b[1]):
		// VER NMETHODS METHODS: known methods are below 10, private
		// ones from 0x80.
		for _, m := range b[2 : 2+int(b[1])] {
			if m > 9 && m < 0x80 || m == 0xff {
				return false
			}
		}
		return true
	}
	return false
}

// step is what a direction reads next.
type step uint8

const (
	// client
	c4Request  step = iota // SOCKS 4 request
	c5Greeting             // SOCKS 5 version and methods
	c5Auth                 // RFC 1929 username and password
	c5Request              // SOCKS 5 request
	// server
	s4Reply  // SOCKS 4 reply
	s5Method // SOCKS 5 chosen method
	s5Auth   // RFC 1929 status
	s5Reply  // SOCKS 5 reply
	// both
	tunnel // the tunnel's bytes
	done   // nothing more
)

// maxMessage bounds a handshake message: a SOCKS 4a request with its user
// id and domain name, RFC 1929's 255-octet name and password.
const maxMessage = 520

// Parser implements proto.Stream. The client is the flow's initiator
// (proto.Out).
type Parser struct {
	opener proto.TunnelOpener
	inner  proto.Stream
	dirs   [2]struct {
		step step
		buf  []byte // the message read so far
	}
	started  bool // the client's first octet has been seen
	userPass bool // the server chose RFC 1929 username/password
}

var _ proto.Stream = (*Parser)(nil)

// New returns a parser; without OpenTunnels a granted tunnel ends the
// parse.
func New() *Parser {
	p := &Parser{}
	p.dirs[proto.Out].step, p.dirs[proto.In].step = c4Request, s4Reply // SOCKS 5's once its first octet says so
	return p
}

// OpenTunnels makes p hand the tunnel's bytes to the parser o chooses.
func (p *Parser) OpenTunnels(o proto.TunnelOpener) { p.opener = o }

// Data implements proto.Stream.
func (p *Parser) Data(dir proto.Dir, data []byte, ts int64) {
	d := &p.dirs[dir&1]
	if !p.started && dir&1 == proto.Out && len(data) > 0 {
		// The client's first octet is the version: 4 (or anything the
		// SOCKS 4 request then rejects) or 5.
		p.started = true
		if data[0] == 5 {
			d.step, p.dirs[proto.In].step = c5Greeting, s5Method
		}
	}
	for len(data) > 0 {
		switch d.step {
		case done:
			return
		case tunnel:
			p.tunnelData(dir&1, data, ts)
			return
		}
		// Read until the message is whole (its length is known from
		// what has been read), then act on it.
		need := p.need(d.step, d.buf)
		if need < 0 || need > maxMessage {
			p.stop()
			return
		}
		if len(d.buf) < need {
			n := min(need-len(d.buf), len(data))
			d.buf = append(d.buf, data[:n]...)
			data = data[n:]
			if len(d.buf) < need {
				continue
			}
			if p.need(d.step, d.buf) > len(d.buf) {
				continue // a length field just arrived
			}
		}
		msg := d.buf
		d.buf = d.buf[:0]
		p.message(dir&1, d.step, msg)
	}
}

// need is how long the message of this step is, as far as buf tells
// (more once a length field is in); -1 when buf is not that message.
func (p *Parser) need(s step, buf []byte) int {
	switch s {
	case c4Request:
		// VN CD DSTPORT(2) DSTIP(4) USERID NUL [DOMAIN NUL when DSTIP
		// is 0.0.0.x, x != 0 (4a)]
		if len(buf) < 9 {
			return 9
		}
		if buf[0] != 4 || buf[1] != 1 {
			return -1
		}
		nul := indexNul(buf[8:])
		if nul < 0 {
			return len(buf) + 1
		}
		end := 8 + nul + 1
		if !(buf[4] == 0 && buf[5] == 0 && buf[6] == 0 && buf[7] != 0) {
			return end
		}
		if len(buf) <= end {
			return end + 1
		}
		if nul2 := indexNul(buf[end:]); nul2 >= 0 {
			return end + nul2 + 1
		}
		return len(buf) + 1
	case c5Greeting:
		if len(buf) < 2 {
			return 2
		}
		if buf[0] != 5 || buf[1] == 0 {
			return -1
		}
		return 2 + int(buf[1])
	case c5Auth:
		// VER ULEN UNAME PLEN PASSWD
		if len(buf) < 2 {
			return 2
		}
		if buf[0] != 1 {
			return -1
		}
		if n := 2 + int(buf[1]); len(buf) <= n {
			return n + 1
		}
		return 2 + int(buf[1]) + 1 + int(buf[2+int(buf[1])])
	case c5Request, s5Reply:
		// VER CMD|REP RSV ATYP ADDR PORT(2)
		if len(buf) < 5 {
			return 5
		}
		if buf[0] != 5 {
			return -1
		}
		switch buf[3] {
		case 1:
			return 4 + 4 + 2
		case 3:
			return 4 + 1 + int(buf[4]) + 2
		case 4:
			return 4 + 16 + 2
		}
		return -1
	case s4Reply:
		return 8 // VN CD DSTPORT DSTIP
	case s5Method, s5Auth:
		return 2
	}
	return -1
}

func indexNul(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// message acts on one whole handshake message.
func (p *Parser) message(dir proto.Dir, s step, m []byte) {
	d := &p.dirs[dir]
	switch s {
	case c4Request, c5Request:
		if s == c5Request && m[1] != 1 { // only CONNECT opens a tunnel
			p.stop()
			return
		}
		d.step = tunnel // what follows is the tunnel's (the proxy may refuse)
	case c5Greeting:
		d.step = c5Request // or c5Auth, when the server asks for it
		if p.userPass {
			d.step = c5Auth
		}
	case c5Auth:
		d.step = c5Request
	case s5Method:
		switch m[1] {
		case 0: // no authentication
			d.step = s5Reply
		case 2: // username/password
			p.userPass, d.step = true, s5Auth
			if c := &p.dirs[proto.Out]; c.step == c5Request {
				c.step = c5Auth // the greeting is read: credentials come next
			}
		default:
			p.stop()
		}
	case s5Auth:
		if m[1] != 0 {
			p.stop()
			return
		}
		d.step = s5Reply
	case s4Reply:
		if m[1] != 0x5a { // request granted
			p.stop()
			return
		}
		d.step = tunnel
	case s5Reply:
		if m[1] != 0 { // succeeded
			p.stop()
			return
		}
		d.step = tunnel
	}
}

// tunnelData hands the tunnel's bytes on: the client's first ones choose
// the parser; the server's go to it once there is one.
func (p *Parser) tunnelData(dir proto.Dir, data []byte, ts int64) {
	if p.inner == nil {
		if dir != proto.Out || p.opener == nil {
			p.dirs[dir].step = done
			return
		}
		if p.inner = p.opener.OpenTunnel(data); p.inner == nil {
			p.stop()
			return
		}
	}
	p.inner.Data(dir, data, ts)
}

// stop ends the parse of both directions.
func (p *Parser) stop() {
	p.dirs[0].step, p.dirs[1].step = done, done
}

// Gap implements proto.Stream: the tunnel's parser learns of a gap in
// the tunnel; a gap in the handshake ends the parse.
func (p *Parser) Gap(dir proto.Dir) {
	d := &p.dirs[dir&1]
	switch {
	case d.step != tunnel:
		p.stop()
		return
	case p.inner != nil:
		p.inner.Gap(dir & 1)
	}
	d.step = done
}

// Done implements proto.Stream: the handshake ended without a tunnel, or
// the tunnel's parser is done.
func (p *Parser) Done() bool {
	if p.inner != nil {
		return p.inner.Done()
	}
	return p.dirs[0].step == done && p.dirs[1].step == done
}

// Report implements proto.Reporter: nothing of its own.
func (p *Parser) Report() (string, any) { return "socks", nil }
