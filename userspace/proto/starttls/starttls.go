// Package starttls follows the plaintext start of a connection that
// upgrades to TLS in place: SMTP and submission (STARTTLS, RFC 3207),
// POP3 (STLS, RFC 2595), IMAP (STARTTLS, RFC 3501), FTP (AUTH TLS,
// RFC 4217) and XMPP (<starttls/>, RFC 6120). It hands the TLS that
// follows the upgrade to the parser a proto.TunnelOpener chooses, and
// reports nothing itself: the record gets the tls object of the upgraded
// connection, as for TLS from the first byte.
//
// The plaintext protocols are not parsed. The parser looks for the
// upgrade command among the client's lines (or the XMPP element in its
// stream), and after it for a TLS record at the start of a client segment:
// the client sends its ClientHello only after the server's go-ahead, so
// a refused upgrade is followed by more plaintext and waits for the next
// command. The server's TLS starts at the first of its segments (or
// lines, when reassembly joined segments) that begins with a TLS
// handshake record once the client's has started.
package starttls

import (
	"bytes"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// maxPlaintext bounds the client's plaintext looked at for an upgrade
// command: an upgrade comes within the first few commands.
const maxPlaintext = 64 << 10

// Detect says whether a connection's first payload, sent in dir, is the
// greeting of a protocol this package follows: a server's (SMTP or FTP
// "220", POP3 "+OK", IMAP "* OK" or "* PREAUTH") or an XMPP client's
// stream header.
func Detect(dir proto.Dir, first []byte) bool {
	if dir == proto.In {
		for _, g := range []string{"220 ", "220-", "+OK", "* OK", "* PREAUTH"} {
			if bytes.HasPrefix(first, []byte(g)) {
				return true
			}
		}
		return false
	}
	return bytes.HasPrefix(first, []byte("<?xml")) || bytes.HasPrefix(first, []byte("<stream:stream"))
}

// Parser implements proto.Stream. The client is the flow's initiator
// (proto.Out).
type Parser struct {
	opener proto.TunnelOpener
	inner  proto.Stream

	line     [32]byte // the client's current line, lowercased, cut at 32 octets
	lineLen  int
	lineXMPP bool                    // the current line has XMPP's <starttls
	window   [len(xmppStartTLS)]byte // the client's last octets, lowercased, oldest first
	plain    int                     // client plaintext octets looked at
	asked    bool                    // the last line was an upgrade command (or has XMPP's)
	gaveUp   bool                    // no upgrade within maxPlaintext, or a gap before TLS
	tunnel   [2]bool                 // the direction's bytes go to inner
	stopped  [2]bool                 // a gap in the direction, once TLS has started
}

var _ proto.Stream = (*Parser)(nil)

// New returns a parser; without OpenTunnels it finds the TLS but hands
// it to no parser.
func New() *Parser { return &Parser{} }

const xmppStartTLS = "<starttls"

// Data implements proto.Stream.
func (p *Parser) Data(dir proto.Dir, data []byte, ts int64) {
	d := dir & 1
	switch {
	case p.gaveUp || p.stopped[d]:
	case p.tunnel[d]:
		p.inner.Data(d, data, ts)
	case d == proto.Out:
		if i := tlsStart(data); i >= 0 && p.opener != nil {
			// TLS right after an upgrade command: what precedes it in
			// the segment (when reassembly joined segments) ends with one.
			p.plaintext(data[:i])
			if p.asked {
				if p.inner = p.opener.OpenTunnel(data[i:]); p.inner != nil {
					p.tunnel[d] = true
					p.inner.Data(d, data[i:], ts)
					return
				}
			}
			data = data[i:]
		}
		p.plaintext(data)
	case p.tunnel[proto.Out]:
		if i := tlsStart(data); i >= 0 {
			p.tunnel[d] = true
			p.inner.Data(d, data[i:], ts)
		}
	}
}

// tlsStart is where a TLS handshake record starts in b: at its start or
// at the start of a line; -1 when it does not.
func tlsStart(b []byte) int {
	if len(b) > 0 && b[0] == 0x16 {
		return 0
	}
	if i := bytes.Index(b, []byte("\n\x16\x03")); i >= 0 {
		return i + 1
	}
	return -1
}

// plaintext looks at the client's plaintext for an upgrade command: the
// line just ended is one (or holds XMPP's <starttls, which may have no
// line end at all). Another line after it means it was refused.
func (p *Parser) plaintext(b []byte) {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		copy(p.window[:], p.window[1:])
		p.window[len(p.window)-1] = c
		if string(p.window[:]) == xmppStartTLS {
			p.lineXMPP, p.asked = true, true
		}
		switch {
		case c == '\n':
			p.asked = p.lineXMPP || isUpgrade(p.line[:p.lineLen])
			p.lineLen, p.lineXMPP = 0, false
		case c != '\r' && p.lineLen < len(p.line):
			p.line[p.lineLen] = c
			p.lineLen++
		}
	}
	if p.plain += len(b); p.plain > maxPlaintext && !p.asked {
		p.gaveUp = true
	}
}

// isUpgrade says whether a lowercased client line asks for TLS: SMTP's
// and IMAP's (after its tag) STARTTLS, POP3's STLS, FTP's AUTH TLS or
// AUTH SSL.
func isUpgrade(line []byte) bool {
	line = bytes.TrimSpace(line)
	switch {
	case string(line) == "starttls", string(line) == "stls",
		bytes.HasPrefix(line, []byte("auth tls")), bytes.HasPrefix(line, []byte("auth ssl")):
		return true
	}
	_, cmd, ok := bytes.Cut(line, []byte(" "))
	return ok && string(bytes.TrimSpace(cmd)) == "starttls"
}

// Gap implements proto.Stream: once the client's TLS has started, the
// tunnel's parser learns of the gap (in the server's TLS, or before it);
// before, a gap in the client's plaintext ends the search.
func (p *Parser) Gap(dir proto.Dir) {
	d := dir & 1
	switch {
	case p.inner != nil:
		if !p.stopped[d] {
			p.inner.Gap(d)
			p.stopped[d] = true
		}
	case d == proto.Out:
		p.gaveUp = true
	}
}

// Done implements proto.Stream: the upgraded connection's parser is done,
// or no upgrade will be found.
func (p *Parser) Done() bool {
	return p.gaveUp || p.inner != nil && p.inner.Done()
}

// Report implements proto.Reporter: nothing of its own (the tunnel's
// parser reports the TLS).
func (p *Parser) Report() (string, any) { return "starttls", nil }

// OpenTunnels makes p hand the TLS after an upgrade to the parser o
// chooses.
func (p *Parser) OpenTunnels(o proto.TunnelOpener) { p.opener = o }
