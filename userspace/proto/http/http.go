// Package http parses the requests and responses of an HTTP/1.x
// connection into the record's "http" list, in Joy's shape: one object
// per exchange, {"out": [...request...], "in": [...response...]}, where
// each message is a list of one-key objects so that header names keep
// their case, their order and their duplicates. See Exchanges.MarshalJSON
// for the keys.
//
// The parser works on the reassembled byte streams, one direction at a
// time, and never buffers more than one line: bodies are skipped by
// Content-Length, by chunk sizes (read across Data calls), or until the
// stream ends, keeping only their first octets. Requests are matched to
// responses in order (pipelining); 1xx interim responses, HEAD, 204 and
// 304 follow RFC 9112 §6.3; CONNECT and 101 Switching Protocols end the
// parse, since what follows is not HTTP/1, except that the bytes of a
// CONNECT tunnel go to the parser a proto.TunnelOpener chooses for them
// (TLS through a proxy).
//
// net/http's ReadRequest and ReadResponse are not used: they canonicalize
// header names and store them in a map, losing the case, order and
// duplicates that Joy's format keeps and that fingerprint a client; they
// need the whole header block in a bufio.Reader rather than taking bytes as
// the pipeline delivers them; and they reject the malformed messages a
// security tool most needs to see.
package http

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// state is where a direction's parser is in the current message.
type state uint8

const (
	stateStart     state = iota // before a request or status line
	stateHeaders                // reading header fields
	stateFixed                  // body with a known length
	stateChunkSize              // chunk-size line
	stateChunkData              // chunk data
	stateChunkEnd               // the CRLF after chunk data
	stateTrailers               // trailer fields after the last chunk
	stateUntilEnd               // body delimited by the end of the stream
	stateTunnel                 // a CONNECT tunnel's bytes, for p.inner
	stateClosed                 // nothing more is parsed in this direction
)

// half is the parse state of one direction.
type half struct {
	state state
	line  []byte // the current line, at most lineCap octets of it
	over  bool   // the current line was longer than lineCap
	msg   *Message
	kept  int // header octets stored for msg

	// Framing facts from msg's headers.
	contentLength  int64 // -1 when absent
	chunked        bool
	chunkedNotLast bool // Transfer-Encoding lists chunked, but not last
	teOther        bool // Transfer-Encoding without chunked
	framingErr     string
	upgrade        bool // request asked for a protocol upgrade

	remaining uint64 // octets left of a fixed body or a chunk
	count     int    // messages filed in this direction (interim ones aside)
	tunnel    bool   // after CONNECT/Upgrade: non-HTTP bytes end the parse quietly
}

// close stops parsing the direction and lets its line buffer go: the
// flow may live long after (as the TLS parser's stopped directions do).
func (h *half) close() {
	h.state = stateClosed
	h.msg = nil
	h.line = nil
}

// maxKeptLine bounds the capacity of a line buffer kept while it is not
// in use: the usual line fits, and a pool of parsers does not hold
// lineCap octets each.
const maxKeptLine = 1 << 10

func keepLine(b []byte) []byte {
	if cap(b) > maxKeptLine {
		return nil
	}
	return b[:0]
}

// Parser collects the exchanges of one HTTP/1.x connection. The zero
// value is ready to use and redacts, like New(true): leaking a credential
// must take a decision, not an omission.
type Parser struct {
	noRedact  bool
	exchanges []Exchange
	dirs      [2]half // by wire direction
	kept      int     // header octets stored for the whole flow

	// Which direction carries the requests: normally Out, but a capture
	// that starts mid-connection can make the server the flow's
	// initiator. The first line parsed decides (see decideRoles).
	rolesKnown bool
	reqDir     proto.Dir

	// A CONNECT tunnel's parser, chosen by opener from the client's
	// first bytes in it; nil until then, or when it has none.
	opener proto.TunnelOpener
	inner  proto.Stream
}

var _ proto.Stream = (*Parser)(nil)

// OpenTunnels makes p hand the bytes of a CONNECT tunnel to the parser o
// chooses. Without it (and after Reset) a tunnel ends the parse.
func (p *Parser) OpenTunnels(o proto.TunnelOpener) { p.opener = o }

// New returns a parser. With redact, the values of Authorization,
// Proxy-Authorization, Cookie and Set-Cookie are replaced by Redacted
// (Authorization keeps a registered scheme name: "Basic [redacted]")
// before they are stored.
func New(redact bool) *Parser {
	return &Parser{noRedact: !redact}
}

// Reset makes p a parser for a new connection, as New(redact) returns,
// keeping its buffers (but not large ones) so that the next connection
// does not allocate them again. What Report returned before is no longer
// valid: it shares those buffers.
func (p *Parser) Reset(redact bool) {
	clear(p.exchanges) // the messages of the last connection can go
	*p = Parser{
		noRedact:  !redact,
		exchanges: p.exchanges[:0],
		dirs:      [2]half{{line: keepLine(p.dirs[0].line)}, {line: keepLine(p.dirs[1].line)}},
	}
}

// lineCap bounds one buffered line: no line can be stored past the
// header budget anyway.
const lineCap = MaxHeaderBytes

// firstLineCap is the capacity of a direction's line buffer when it is
// first allocated.
const firstLineCap = 256

// Data implements proto.Stream: requests in the Out direction, responses
// in the In direction (the other way round when the first line says the
// capture began mid-connection with the server as initiator).
func (p *Parser) Data(dir proto.Dir, data []byte, ts int64) {
	h := &p.dirs[dir&1]
	for len(data) > 0 && h.state != stateClosed {
		switch h.state {
		case stateTunnel:
			if p.inner == nil {
				// The server spoke first in a tunnel the client has not
				// used yet: not a protocol the opener knows.
				h.close()
				return
			}
			p.inner.Data(p.tunnelDir(dir), data, ts)
			return
		case stateFixed, stateChunkData:
			n := uint64(len(data))
			if n > h.remaining {
				n = h.remaining
			}
			h.body(data[:n])
			data = data[n:]
			h.remaining -= n
			if h.remaining > 0 {
				continue
			}
			if h.state == stateFixed {
				p.finish(dir)
			} else {
				h.state = stateChunkEnd
			}
		case stateUntilEnd:
			h.body(data)
			data = nil
		default:
			if h.state == stateStart && h.tunnel && len(h.line) == 0 && !isTokenChar(data[0]) && p.openTunnel(h, data) {
				continue // the client's first bytes in the tunnel
			}
			if h.state == stateStart && p.rolesKnown && dir != p.reqDir && p.answersHTTP09() {
				// An HTTP/0.9 response has no status line: it is all body,
				// up to the end of the stream.
				if p.startMessage(dir, &Message{}) {
					h.state = stateUntilEnd
				}
				continue
			}
			i := bytes.IndexByte(data, '\n')
			chunk := data
			if i >= 0 {
				chunk = data[:i]
			}
			if room := lineCap - len(h.line); len(chunk) > room {
				chunk = chunk[:room]
				h.over = true
			}
			if h.line == nil {
				// One allocation for the usual line lengths instead of
				// growing from a few bytes (the buffer is reused).
				h.line = make([]byte, 0, firstLineCap)
			}
			if h.state == stateStart && len(h.line) <= startPrefix && len(h.line)+len(chunk) > startPrefix {
				// A stream that is not HTTP (a body overrunning its
				// length, a tunnel, a binary protocol) is told by its
				// first octets: stop there instead of buffering and
				// copying a line that may be lineCap long.
				n := startPrefix + 1 - len(h.line)
				h.line = append(h.line, chunk[:n]...)
				chunk = chunk[n:]
				if !mayStartMessage(h.line[:startPrefix]) {
					p.line(dir, h.line[:startPrefix], false)
					continue
				}
			}
			h.line = append(h.line, chunk...)
			if i < 0 {
				return
			}
			data = data[i+1:]
			line := bytes.TrimSuffix(h.line, []byte{'\r'})
			over := h.over
			h.line, h.over = h.line[:0], false
			p.line(dir, line, over)
		}
	}
}

// maxMethod bounds a request method's length: longer tokens are not
// taken for one (no registered method comes close).
const maxMethod = 32

// startPrefix is how many octets of a start line tell whether it can be
// a request or status line at all: more than a method and its space, and
// more than an error message quotes (maxErrLine), so that a prefix that
// cannot start a message is rejected with the error text its whole line
// would get.
const startPrefix = max(maxErrLine, maxMethod) + 1

// mayStartMessage reports whether a start line beginning with prefix
// (startPrefix octets, all of them the line's own: its CR, if any, comes
// later) can still parse as a request line (parseRequestLine: a token
// method of at most maxMethod octets and a space) or a status line
// (parseStatusLine: "HTTP/" first).
func mayStartMessage(prefix []byte) bool {
	if bytes.HasPrefix(prefix, []byte("HTTP/")) {
		return true
	}
	sp := bytes.IndexByte(prefix, ' ')
	return sp >= 0 && sp <= maxMethod && isToken(string(prefix[:sp]))
}

// openTunnel takes the client's first bytes after a CONNECT (or an
// upgrade) that are not HTTP: it starts the tunnel's parser when the
// opener has one, and otherwise ends the direction if the proxy has
// opened the tunnel. The client may send them before the proxy's answer;
// then, without a parser, they are left to the HTTP parse (which stops
// quietly at them). It reports whether it took the bytes.
func (p *Parser) openTunnel(h *half, first []byte) bool {
	if p.opener == nil || p.inner != nil {
		return false
	}
	if p.inner = p.opener.OpenTunnel(first); p.inner == nil {
		if p.dirs[p.respDir()&1].state != stateTunnel {
			return false
		}
		h.close()
		return true
	}
	h.state, h.msg = stateTunnel, nil
	return true
}

// tunnelDir turns a flow direction into one relative to the tunnel's
// client, who sends the requests.
func (p *Parser) tunnelDir(dir proto.Dir) proto.Dir { return (dir ^ p.reqDir) & 1 }

// body takes octets of the current message's body.
func (h *half) body(b []byte) {
	if h.msg == nil {
		return
	}
	if n := BodyPrefixLen - len(h.msg.Body); n > 0 {
		h.msg.Body = append(h.msg.Body, b[:min(n, len(b))]...)
	}
	h.msg.BodyLen += int64(len(b))
}

// line handles one complete line (without its CRLF) of dir.
func (p *Parser) line(dir proto.Dir, line []byte, over bool) {
	h := &p.dirs[dir&1]
	switch h.state {
	case stateStart:
		if len(line) == 0 {
			return // RFC 9112 §2.2: ignore empty lines before a message
		}
		// One string for the role decision and the message's fields.
		s := string(line)
		if !p.rolesKnown {
			p.decideRoles(dir, s)
		}
		if dir == p.reqDir {
			p.requestLine(dir, s, over)
		} else {
			p.statusLine(dir, s, over)
		}
	case stateHeaders:
		if len(line) == 0 {
			p.endHeaders(dir)
			return
		}
		p.header(h, line, over)
	case stateChunkSize:
		size, err := chunkSize(line)
		if err != nil {
			p.fail(dir, err.Error())
			return
		}
		if size == 0 {
			h.state = stateTrailers
			return
		}
		h.remaining = size
		h.state = stateChunkData
	case stateChunkEnd:
		if len(line) != 0 {
			p.fail(dir, fmt.Sprintf("chunk data followed by %q instead of CRLF", quoteLine(line)))
			return
		}
		h.state = stateChunkSize
	case stateTrailers:
		// Trailer fields are read but not kept: Joy's format has no
		// place for them, and they rarely carry anything but checksums.
		if len(line) == 0 {
			p.finish(dir)
		}
	}
}

// decideRoles settles which direction carries requests from the first
// line seen: the initiator's requests, unless the initiator's first line
// is a status line and not a request line, or the responder's first line
// is a request line and not a status line.
func (p *Parser) decideRoles(dir proto.Dir, line string) {
	p.rolesKnown = true
	p.reqDir = proto.Out
	var m Message
	isReq := parseRequestLine(&m, line, false)
	isStatus := parseStatusLine(&m, line)
	if dir == proto.Out && isStatus && !isReq || dir == proto.In && isReq && !isStatus {
		p.reqDir = proto.In
	}
}

// requestLine starts a request: method SP request-target SP version.
func (p *Parser) requestLine(dir proto.Dir, line string, over bool) {
	h := &p.dirs[dir&1]
	var parsed Message
	if !parseRequestLine(&parsed, line, over) {
		if h.tunnel {
			h.close() // the tunnel's bytes, not a request
			return
		}
		p.reject(dir, &Message{request: true,
			Err: lineError("not an HTTP request line: ", line)})
		return
	}
	m := new(Message)
	*m = parsed
	if !p.startMessage(dir, m) {
		return
	}
	p.keepStartLine(h, m, len(line), over)
	if m.http09 {
		p.finish(dir)
		return
	}
	h.state = stateHeaders
}

// parseRequestLine splits a request line into m, or reports false when
// it is not one. The request-target is what lies between the first and the last
// space, so a target with spaces in it (invalid, but sent) stays whole.
// A line cut at the header budget (cut) keeps its method and the start of
// its target; its version is unknown, and its headers are still read.
func parseRequestLine(m *Message, s string, cut bool) bool {
	method, rest, ok := strings.Cut(s, " ")
	if !ok || len(method) > maxMethod || !isToken(method) {
		return false
	}
	*m = Message{request: true, Method: method}
	if cut {
		m.URI = strings.TrimLeft(rest, " ")
		return true
	}
	rest = strings.TrimRight(rest, " \t")
	if i := strings.LastIndexByte(rest, ' '); i >= 0 && strings.HasPrefix(rest[i+1:], "HTTP/") {
		// "GET  HTTP/1.1" has an empty target, not a target "HTTP/1.1".
		m.URI, m.Version = trimOWS(rest[:i]), rest[i+1:]
		return true
	}
	rest = strings.TrimLeft(rest, " \t")
	if strings.HasPrefix(rest, "HTTP/") && !strings.ContainsAny(rest, " \t") {
		m.Version = rest // "GET HTTP/1.1": the target is missing
		return true
	}
	if method == "GET" && rest != "" && !strings.ContainsAny(rest, " \t") {
		m.URI = rest // HTTP/0.9: GET and a path; no version, headers or body
		m.http09 = true
		return true
	}
	return false
}

// statusLine starts a response.
func (p *Parser) statusLine(dir proto.Dir, line string, over bool) {
	h := &p.dirs[dir&1]
	m := new(Message)
	if !parseStatusLine(m, line) {
		m.Err = lineError("not an HTTP status line: ", line)
		p.reject(dir, m)
		return
	}
	if !p.startMessage(dir, m) {
		return
	}
	p.keepStartLine(h, m, len(line), over)
	h.state = stateHeaders
}

// keepStartLine charges a start line of n octets to the budgets. The line
// is kept whole while the flow's budget lasts; past it, the open-ended
// part (target, reason) is cut to what is left.
func (p *Parser) keepStartLine(h *half, m *Message, n int, cut bool) {
	m.HeadersTruncated = cut
	if left := MaxFlowHeaderBytes - p.kept; n > left {
		excess := n - max(left, 0)
		if m.request {
			m.URI = m.URI[:max(len(m.URI)-excess, 0)]
		} else {
			m.Reason = m.Reason[:max(len(m.Reason)-excess, 0)]
		}
		m.HeadersTruncated = true
		n = max(left, 0)
	}
	h.kept = n
	p.kept += n
}

// parseStatusLine splits "HTTP/x.y SP 3DIGIT [SP reason]" into m, or
// reports false when the line is not a status line.
func parseStatusLine(m *Message, s string) bool {
	version, rest, _ := strings.Cut(s, " ")
	code, reason, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	if !strings.HasPrefix(version, "HTTP/") || len(code) != 3 || !isDigits(code) {
		return false
	}
	*m = Message{Version: version, Code: code, Reason: reason}
	return true
}

// reject files a message that is only an error (its first line was not
// HTTP) and stops the direction: what follows cannot be framed.
func (p *Parser) reject(dir proto.Dir, m *Message) {
	if p.startMessage(dir, m) {
		p.dirs[dir&1].count++
	}
	p.dirs[dir&1].close()
}

// answersHTTP09 says the next response answers an HTTP/0.9 request.
func (p *Parser) answersHTTP09() bool {
	req := p.pendingRequest()
	return req != nil && req.http09
}

// startMessage files a new message of dir in its exchange and makes it
// the current one. It reports false, and stops the direction, once
// MaxExchanges messages have been filed.
func (p *Parser) startMessage(dir proto.Dir, m *Message) bool {
	h := &p.dirs[dir&1]
	interim := dir != p.reqDir && len(m.Code) == 3 && m.Code[0] == '1' && m.Code != "101"
	if h.count >= MaxExchanges {
		h.close()
		return false
	}
	for len(p.exchanges) <= h.count {
		p.exchanges = append(p.exchanges, Exchange{requestsIn: p.reqDir == proto.In})
	}
	x := &p.exchanges[h.count]
	switch {
	case dir == p.reqDir:
		x.Request = m
	case interim:
		if len(x.Interim) >= maxInterim {
			h.close()
			return false
		}
		x.Interim = append(x.Interim, m)
	default:
		x.Response = m
	}
	h.msg = m
	h.kept = 0
	h.contentLength = -1
	h.chunked, h.chunkedNotLast, h.teOther, h.framingErr, h.upgrade = false, false, false, "", false
	return true
}

// respDir is the direction that carries the responses.
func (p *Parser) respDir() proto.Dir { return (p.reqDir ^ 1) & 1 }

// pendingRequest is the request the next response answers, if seen.
func (p *Parser) pendingRequest() *Message {
	if n := p.dirs[p.respDir()].count; n < len(p.exchanges) {
		return p.exchanges[n].Request
	}
	return nil
}

// header handles one header field line.
func (p *Parser) header(h *half, line []byte, over bool) {
	m := h.msg
	if c := line[0]; c == ' ' || c == '\t' {
		// obs-fold (RFC 9112 §5.2): a continuation of the previous value.
		add := trimOWS(string(line))
		if n := len(m.Headers); n > 0 && !over && p.room(h, len(add)+1) {
			m.Headers[n-1].Value += " " + add
			p.use(h, len(add)+1)
			return
		}
		p.store(h, Header{Value: add}, over)
		return
	}
	name, value, found := strings.Cut(string(line), ":")
	if !found {
		// Not a field: kept under an empty name so it stays visible.
		p.store(h, Header{Value: string(line)}, over)
		return
	}
	value = trimOWS(value)
	switch key := trimOWS(name); {
	case strings.EqualFold(key, "Content-Length"):
		h.contentLengthField(value)
	case strings.EqualFold(key, "Transfer-Encoding"):
		// RFC 9112 §6.3: chunked must be the last coding. When it is
		// elsewhere the length is in doubt; chunked framing is what a
		// lenient peer applies, and it exposes what is smuggled after.
		h.chunked, h.chunkedNotLast, h.teOther = false, false, false
		codings := strings.Split(value, ",")
		for i, c := range codings {
			if strings.EqualFold(trimOWS(c), "chunked") {
				h.chunked = true
				h.chunkedNotLast = i < len(codings)-1
			}
		}
		h.teOther = !h.chunked
	case strings.EqualFold(key, "Upgrade"):
		h.upgrade = true
	case !p.noRedact && credentialHeader(key):
		value = redact(key, value)
	}
	p.store(h, Header{Name: name, Value: value}, over)
}

// store keeps a header field if the budgets allow.
func (p *Parser) store(h *half, f Header, over bool) {
	cost := len(f.Name) + len(f.Value) + 4
	if over || !p.room(h, cost) {
		h.msg.HeadersTruncated = true
		return
	}
	p.use(h, cost)
	if h.msg.Headers == nil {
		// Messages have a few headers: one allocation, not one per
		// doubling from 1.
		h.msg.Headers = make([]Header, 0, firstHeaders)
	}
	h.msg.Headers = append(h.msg.Headers, f)
}

// room says whether n more header octets fit the message's and the
// flow's budgets.
func (p *Parser) room(h *half, n int) bool {
	return h.kept+n <= MaxHeaderBytes && p.kept+n <= MaxFlowHeaderBytes
}

func (p *Parser) use(h *half, n int) {
	h.kept += n
	p.kept += n
}

// contentLengthField reads a Content-Length value. RFC 9110 §8.6 allows
// a list of identical values ("5, 5"); anything else that is not digits,
// or a second field with a different length, makes the framing unknown.
func (h *half) contentLengthField(v string) {
	var n int64 = -1
	for part := range strings.SplitSeq(v, ",") {
		part = trimOWS(part)
		if part == "" || !isDigits(part) {
			h.framingErr = fmt.Sprintf("invalid Content-Length %q", quoteLine([]byte(v)))
			return
		}
		x, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			h.framingErr = fmt.Sprintf("Content-Length %q out of range", quoteLine([]byte(part)))
			return
		}
		if n >= 0 && x != n {
			h.framingErr = fmt.Sprintf("conflicting Content-Length %q", quoteLine([]byte(v)))
			return
		}
		n = x
	}
	if h.contentLength >= 0 && h.contentLength != n {
		h.framingErr = fmt.Sprintf("conflicting Content-Length fields (%d, %d)", h.contentLength, n)
		return
	}
	h.contentLength = n
}

// endHeaders decides how the body of the current message is delimited
// (RFC 9112 §6.3) and moves on.
func (p *Parser) endHeaders(dir proto.Dir) {
	h := &p.dirs[dir&1]
	m := h.msg
	switch {
	case h.chunked && (h.contentLength >= 0 || h.framingErr != ""):
		// RFC 9112 §6.3: chunked wins, but a sender must not send both;
		// this is how requests are smuggled past a proxy.
		m.Err = "both Transfer-Encoding and Content-Length; chunked framing used"
	case h.chunkedNotLast:
		m.Err = "Transfer-Encoding has chunked before another coding; chunked framing used"
	}
	if dir == p.reqDir {
		h.tunnel = h.tunnel || m.Method == "CONNECT" || h.upgrade
		switch {
		case h.chunked:
			h.state = stateChunkSize
		case h.teOther:
			// The length is unknowable (RFC 9112 §6.3: a server answers
			// 400). Read on as if there were no body, which is what a
			// lenient server does and shows what it would see next.
			m.Err = "request Transfer-Encoding without chunked; read as if without body"
			p.finish(dir)
		case h.framingErr != "":
			m.Err = h.framingErr + "; read as if without body"
			p.finish(dir)
		case h.contentLength > 0:
			h.remaining = uint64(h.contentLength)
			h.state = stateFixed
		default:
			p.finish(dir)
		}
		return
	}

	req := p.pendingRequest()
	code, _ := strconv.Atoi(m.Code)
	switch {
	case req != nil && req.Method == "CONNECT" && code/100 == 2 && p.opener != nil:
		// The tunnel is open: the server's next bytes are the tunnel's,
		// and so are the client's (they may have come already).
		p.finish(dir)
		h.state = stateTunnel
		if c := &p.dirs[p.reqDir&1]; c.state != stateTunnel && !(c.state == stateStart && c.tunnel) {
			c.close()
		}
	case code == 101 || req != nil && req.Method == "CONNECT" && code/100 == 2:
		// The connection now carries another protocol (or a tunnel).
		p.finish(dir)
		p.dirs[p.reqDir&1].close()
		h.close()
	case code/100 == 1:
		p.finish(dir) // interim: the final response follows
	case req != nil && req.Method == "HEAD", code == 204, code == 304:
		p.finish(dir)
	case h.chunked:
		h.state = stateChunkSize
	case h.teOther:
		h.state = stateUntilEnd
	case h.framingErr != "":
		m.Err = h.framingErr + "; read as if without body"
		p.finish(dir)
	case h.contentLength == 0:
		p.finish(dir)
	case h.contentLength > 0:
		h.remaining = uint64(h.contentLength)
		h.state = stateFixed
	default:
		h.state = stateUntilEnd
	}
}

// finish completes the current message of dir.
func (p *Parser) finish(dir proto.Dir) {
	h := &p.dirs[dir&1]
	if m := h.msg; m != nil {
		final := m.request || !(len(m.Code) == 3 && m.Code[0] == '1' && m.Code != "101")
		if final {
			h.count++
		}
	}
	h.msg = nil
	h.state = stateStart
}

// fail stops parsing dir after a framing error, recorded on the current
// message (or already on it, when err is empty).
func (p *Parser) fail(dir proto.Dir, err string) {
	h := &p.dirs[dir&1]
	if m := h.msg; m != nil {
		if err != "" {
			m.Err = err
		}
		m.Incomplete = true
		h.count++
	}
	h.close()
}

// Gap implements proto.Stream: nothing more of dir will come, so a
// message in progress stays incomplete and the direction stops.
func (p *Parser) Gap(dir proto.Dir) {
	h := &p.dirs[dir&1]
	if h.state == stateTunnel && p.inner != nil {
		p.inner.Gap(p.tunnelDir(dir))
	}
	if h.msg != nil {
		h.msg.Incomplete = true
	}
	h.close()
}

// Done implements proto.Stream: true once neither direction is parsed
// any more (gaps, MaxExchanges, a protocol switch, or non-HTTP bytes), or
// what is left is a tunnel whose parser is done.
func (p *Parser) Done() bool {
	for i := range p.dirs {
		switch p.dirs[i].state {
		case stateClosed:
		case stateTunnel:
			if p.inner != nil && !p.inner.Done() {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Report implements proto.Reporter: the key "http" and an Exchanges
// value, or a nil value when no message was seen. A message still in its
// headers, or short of its announced length, is marked incomplete; one
// delimited by the end of the stream is complete.
func (p *Parser) Report() (string, any) {
	if len(p.exchanges) == 0 {
		return "http", nil
	}
	for i := range p.dirs {
		h := &p.dirs[i]
		if h.msg != nil && h.state != stateUntilEnd && h.state != stateStart {
			h.msg.Incomplete = true
		}
	}
	return "http", Exchanges(p.exchanges)
}

// Exchanges is the "http" value of a record.
type Exchanges []Exchange

// chunkSize parses a chunk-size line: hex digits, then optional
// whitespace and chunk extensions (";name=value"), which are ignored.
func chunkSize(line []byte) (uint64, error) {
	s := strings.TrimLeft(string(line), " \t")
	end := 0
	for end < len(s) && isHex(s[end]) {
		end++
	}
	if end == 0 {
		return 0, fmt.Errorf("invalid chunk size line %q", quoteLine(line))
	}
	if rest := strings.TrimLeft(s[end:], " \t"); rest != "" && rest[0] != ';' {
		return 0, fmt.Errorf("invalid chunk size line %q", quoteLine(line))
	}
	n, err := strconv.ParseUint(s[:end], 16, 63)
	if err != nil {
		return 0, fmt.Errorf("chunk size %q out of range", quoteLine([]byte(s[:end])))
	}
	return n, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// knownMethods are the methods Detect accepts on sight (RFC 9110, RFC
// 5789 PATCH, WebDAV, the QUERY draft).
var knownMethods = []string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT",
	"SEARCH", "MKCALENDAR", "QUERY",
}

// Detect reports whether the first bytes the flow's initiator sent look
// like HTTP/1.x: a method token and a space. A known method is enough;
// another upper-case token also needs the first line to end in "HTTP/1.x",
// so that line protocols with the same look (SMTP "EHLO host", FTP "USER
// x") are not taken for HTTP. A status line ("HTTP/1.1 200") also counts:
// when a capture starts mid-connection the server can be the initiator,
// and the parser then reads the requests from the other direction.
func Detect(firstOutBytes []byte) bool {
	if s := firstOutBytes; len(s) >= 12 && bytes.HasPrefix(s, []byte("HTTP/1.")) && isDigits(string(s[7:8])) &&
		s[8] == ' ' && isDigits(string(s[9:12])) {
		return true
	}
	sp := bytes.IndexByte(firstOutBytes, ' ')
	if sp <= 0 || sp > maxMethod {
		return false
	}
	method := string(firstOutBytes[:sp])
	for _, k := range knownMethods {
		if method == k {
			return true
		}
	}
	for i := 0; i < len(method); i++ {
		if c := method[i]; !('A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	eol := bytes.IndexByte(firstOutBytes, '\n')
	if eol < 0 {
		return false
	}
	line := bytes.TrimRight(firstOutBytes[:eol], "\r")
	v := line[bytes.LastIndexByte(line, ' ')+1:]
	return len(v) == 8 && bytes.HasPrefix(v, []byte("HTTP/1.")) && '0' <= v[7] && v[7] <= '9'
}
