// Package tls parses TLS handshakes from the two byte streams of a TCP
// connection, or from the CRYPTO stream of a QUIC connection, into Joy's
// "tls" object: versions, hellos, extensions, certificates, key exchange,
// alerts, the lengths and times of the records (srlt), and the JA3, JA3S
// and JA4 fingerprints.
//
// The parser reads only what is in cleartext. After a direction's
// ChangeCipherSpec (TLS ≤ 1.2), or under TLS 1.3 record protection, it
// keeps reading record headers (for srlt) and nothing else.
//
// All state is bounded: a handshake message larger than 64 KiB is counted
// but not kept, and srlt, extensions, certificates and names have caps
// (see the constants). Malformed input ends parsing of the direction it
// came from and is reported in parse_errors; it never panics.
package tls

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
	"github.com/flowjoy/flowjoy/userspace/proto"
)

// Record content types.
const (
	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23
	typeHeartbeat        = 24
	// typeSSLv2Hello marks an SSLv2-format ClientHello (internal).
	typeSSLv2Hello = 0x80
)

// Handshake message types the parser reads.
const (
	hsClientHello       = 1
	hsServerHello       = 2
	hsCertificate       = 11
	hsServerKeyExchange = 12
	hsClientKeyExchange = 16
)

const (
	recordHeaderLen = 5
	// maxRecordLen is the largest TLSCiphertext fragment (2^14 + 2048).
	maxRecordLen = 1<<14 + 2048
	// maxHandshakeLen bounds the handshake message the parser buffers; a
	// longer one is skipped (its type and length still go into srlt).
	maxHandshakeLen = 1 << 16
	// maxRecordsPerDir is Joy's srlt bound (NUM_PKT_LEN_TLS) per
	// direction.
	maxRecordsPerDir = 50
	// maxHandshakesPerRecord is Joy's MAX_TLS_HANDSHAKES.
	maxHandshakesPerRecord = 5
	// firstRecords is the capacity of the srlt list when it is first
	// allocated.
	firstRecords = 4
	// maxClientKeyExchange is Joy's bound: a larger key is not reported.
	maxClientKeyExchange = 1024
	maxAlerts            = 16
	maxParseErrors       = 4
	// maxListed bounds cs and the extension lists (Joy's MAX_CS and
	// MAX_EXTENSIONS).
	maxListed = 256
)

// Parser parses one connection's TLS. The zero value is a parser for TLS
// over TCP, as New returns; NewQUIC makes one for QUIC.
type Parser struct {
	quic bool
	dirs [2]direction

	client    *clientHello
	clientDir proto.Dir
	server    *serverHello // the ServerHello, or a HelloRetryRequest if no ServerHello came
	retry     bool         // a HelloRetryRequest was seen
	// tls13 says the server chose TLS 1.3 (or sent a HelloRetryRequest):
	// a ChangeCipherSpec then no longer means what follows is encrypted.
	tls13 bool

	certs     [2][]Certificate // first Certificate message of each direction
	certsSeen [2]bool
	keyEx     []byte // ClientKeyExchange body
	keyExSeen bool
	skeGroup  uint16 // named curve of an ECDHE ServerKeyExchange
	hasSKE    bool

	records []recordEntry
	alerts  []Alert
	errs    []string

	// What Report fills: its Group's, or its own made at the first Report.
	rep *reporting
}

// reporting is what Report fills, kept so that reporting allocates
// nothing: the object, its srlt, and the backing of its lists.
type reporting struct {
	obj  Object
	srlt []Record
	ints []int
	strs []string
}

// A Group makes parsers that share what Report fills: parsers used by one
// goroutine that writes each report before taking the next (a pipeline's)
// need one of those between them, not one each (about 700 bytes, half of
// an open connection's parser). A Report's object then stays valid until
// the next Report of any parser of the group. The zero value is ready.
type Group struct {
	rep reporting
}

// New returns a parser for TLS over TCP that reports into g.
func (g *Group) New() *Parser { return &Parser{rep: &g.rep} }

// recordEntry is an srlt entry before the ipt is known.
type recordEntry struct {
	dir     uint8
	typ     uint8
	length  uint16
	nhs     uint8
	ts      int64
	hsTypes [maxHandshakesPerRecord]uint8
	hsLens  [maxHandshakesPerRecord]uint32
}

// direction is the record-layer state of one direction.
type direction struct {
	hdr     [recordHeaderLen]byte
	hdrLen  int
	inBody  bool
	typ     uint8
	left    int // body bytes of the current record still to come
	entry   int // srlt index of the current record, -1 if not listed
	offset  int64
	records int // srlt entries of this direction
	length  int // of the current record
	alert   [2]byte
	alertN  int
	ccs     bool // sent ChangeCipherSpec
	stopped bool // gap or malformed input: nothing more is parsed
	hs      handshakeReader
	v2      []byte // SSLv2-format ClientHello after the record header

	// A handshake record after ChangeCipherSpec is encrypted (opaque)
	// unless it holds a cleartext ClientHello (see peekClientHello).
	opaque  bool
	peeking bool
	peek    [6]byte
	peekN   int
}

// New returns a parser for TLS over TCP.
func New() *Parser { return &Parser{} }

// NewQUIC returns a parser for the TLS handshake of a QUIC connection.
// Feed it with Handshake, not Data: QUIC carries handshake messages in
// CRYPTO frames without a record layer. Its Report is the same "tls"
// object (without srlt), and its JA4 starts with "q".
func NewQUIC() *Parser {
	return &Parser{quic: true}
}

var _ proto.Stream = (*Parser)(nil)

// Reset makes p a parser for a new connection, of the same kind (TCP or
// QUIC), keeping its buffers (but not large ones) so that the next
// connection does not allocate them again. What Report returned before is
// no longer valid: it shares those buffers.
func (p *Parser) Reset() {
	*p = Parser{
		quic: p.quic,
		dirs: [2]direction{
			{hs: handshakeReader{buf: keep(p.dirs[0].hs.buf)}},
			{hs: handshakeReader{buf: keep(p.dirs[1].hs.buf)}},
		},
		keyEx:   p.keyEx[:0],
		records: p.records[:0],
		alerts:  p.alerts[:0],
		errs:    p.errs[:0],
		rep:     p.rep,
	}
}

// maxKept bounds the capacity of a handshake buffer Reset keeps for the
// next connection: the usual handshake message fits, and a pool of
// parsers does not hold 64 KiB each.
const maxKept = 4 << 10

// keep returns b emptied, or nil when b is too large to keep.
func keep(b []byte) []byte {
	if cap(b) > maxKept {
		return nil
	}
	return b[:0]
}

// Data implements proto.Stream: it parses TLS records of dir.
func (p *Parser) Data(dir proto.Dir, data []byte, ts int64) {
	d := &p.dirs[dir&1]
	for len(data) > 0 && !d.stopped {
		if !d.inBody {
			n := copy(d.hdr[d.hdrLen:], data)
			d.hdrLen += n
			data = data[n:]
			d.offset += int64(n)
			if d.hdrLen < recordHeaderLen {
				return
			}
			d.hdrLen = 0
			if msg := p.startRecord(dir, d, ts); msg != "" {
				p.stopMsg(d, msg)
				return
			}
			if d.left > 0 {
				continue
			}
			p.endRecord(dir, d)
			continue
		}
		n := min(d.left, len(data))
		p.recordBody(dir, d, data[:n])
		data = data[n:]
		d.left -= n
		d.offset += int64(n)
		if d.left == 0 {
			p.endRecord(dir, d)
		}
	}
}

// startRecord checks a complete record header and lists the record. It
// returns why the header is not TLS, or "". (A stream that is not TLS
// fails here once per direction: the message is built in one allocation,
// not by fmt.)
func (p *Parser) startRecord(dir proto.Dir, d *direction, ts int64) string {
	typ, major, minor := d.hdr[0], d.hdr[1], d.hdr[2]
	length := int(d.hdr[3])<<8 | int(d.hdr[4])
	if d.offset == recordHeaderLen && typ&0x80 != 0 && minor == hsClientHello {
		// An SSLv2-format ClientHello (two-byte header with the high bit
		// set, then msg_type 1): old clients open SSL 3.0/TLS with it.
		// It is not a TLS record, so it gets no srlt entry.
		length = int(typ&0x7f)<<8 | int(major)
		if length < 9 {
			var buf [64]byte
			m := append(buf[:0], dirName(dir)...)
			m = append(m, ": SSLv2 ClientHello of length "...)
			m = strconv.AppendInt(m, int64(length), 10)
			return string(m)
		}
		d.typ, d.left, d.length, d.inBody, d.entry = typeSSLv2Hello, length-3, length, true, -1
		d.v2 = append(d.v2[:0], d.hdr[2:]...)
		return ""
	}
	if typ < typeChangeCipherSpec || typ > typeHeartbeat || major != 3 || minor > 4 || length > maxRecordLen {
		var buf [96]byte
		m := append(buf[:0], dirName(dir)...)
		m = append(m, " offset "...)
		m = strconv.AppendInt(m, d.offset-recordHeaderLen, 10)
		switch {
		case typ < typeChangeCipherSpec || typ > typeHeartbeat:
			m = append(m, ": content type "...)
			m = strconv.AppendUint(m, uint64(typ), 10)
			m = append(m, " is not TLS"...)
		case major != 3 || minor > 4:
			const hex = "0123456789abcdef"
			m = append(m, ": record version 0x"...)
			m = append(m, hex[major>>4], hex[major&15], hex[minor>>4], hex[minor&15])
			m = append(m, " is not TLS"...)
		default:
			m = append(m, ": record length "...)
			m = strconv.AppendInt(m, int64(length), 10)
			m = append(m, " exceeds "...)
			m = strconv.AppendInt(m, maxRecordLen, 10)
		}
		return string(m)
	}
	d.typ, d.left, d.length, d.inBody = typ, length, length, true
	d.entry, d.alertN = -1, 0
	d.opaque, d.peeking, d.peekN = false, false, 0
	if typ == typeHandshake && d.ccs && !p.tls13 && !d.hs.midMessage() {
		d.peeking = true
	}
	if d.records < maxRecordsPerDir {
		d.records++
		d.entry = len(p.records)
		if p.records == nil {
			// One allocation for the first few records of both
			// directions instead of growing from 1.
			p.records = make([]recordEntry, 0, firstRecords)
		}
		p.records = append(p.records, recordEntry{dir: uint8(dir & 1), typ: typ, length: uint16(length), ts: ts})
	}
	if typ == typeChangeCipherSpec {
		d.ccs = true
	}
	return ""
}

// recordBody handles body bytes of the current record.
func (p *Parser) recordBody(dir proto.Dir, d *direction, b []byte) {
	switch d.typ {
	case typeSSLv2Hello:
		d.v2 = append(d.v2, b...)
	case typeHandshake:
		if d.opaque {
			return
		}
		if d.peeking {
			want := min(len(d.peek), d.length)
			n := copy(d.peek[d.peekN:want], b)
			d.peekN += n
			b = b[n:]
			if d.peekN < want {
				return
			}
			d.peeking = false
			if !peekClientHello(d.peek[:d.peekN], d.length) {
				d.opaque = true
				return
			}
			p.feedHandshake(dir, d, d.peek[:d.peekN])
		}
		p.feedHandshake(dir, d, b)
	case typeAlert:
		// A cleartext alert is two bytes; an encrypted one is longer.
		if d.length == 2 {
			d.alertN += copy(d.alert[d.alertN:], b)
		}
	}
}

// endRecord finishes the current record.
func (p *Parser) endRecord(dir proto.Dir, d *direction) {
	d.inBody = false
	if d.typ == typeSSLv2Hello {
		ch, err := parseSSLv2ClientHello(d.v2)
		d.v2 = nil
		p.note(err)
		if p.client == nil {
			p.client, p.clientDir = ch, dir
		}
		return
	}
	if d.typ == typeAlert && d.alertN == 2 && len(p.alerts) < maxAlerts {
		p.alerts = append(p.alerts, Alert{Dir: dirString(uint8(dir & 1)), Level: int(d.alert[0]), Description: int(d.alert[1])})
	}
}

// peekClientHello decides whether a handshake record that follows the
// sender's ChangeCipherSpec is in cleartext, from its first bytes (up to
// six) and its length. After ChangeCipherSpec a TLS ≤ 1.2 handshake
// record (Finished, renegotiation) is encrypted; but a TLS 1.3 client in
// middlebox-compatibility mode sends ChangeCipherSpec before its second
// ClientHello (after a HelloRetryRequest the capture may not show). A
// ClientHello header whose length fills the record and whose body starts
// with a 3.x version is taken as cleartext: an encrypted record matches
// that by chance with probability about 2^-40.
func peekClientHello(first []byte, recordLen int) bool {
	if len(first) < 6 || first[0] != hsClientHello || first[4] != 3 {
		return false
	}
	length := int(first[1])<<16 | int(first[2])<<8 | int(first[3])
	return length+4 >= recordLen
}

// feedHandshake passes handshake bytes of the current record of dir to
// its reassembler.
func (p *Parser) feedHandshake(dir proto.Dir, d *direction, b []byte) {
	d.hs.feed(b, d.entry, func(entry int, typ uint8, length int, body []byte) {
		p.noteHandshake(entry, typ, length)
		if body != nil {
			p.handshake(dir, typ, body)
		}
	})
}

// noteHandshake lists a handshake message in the entry of the record it
// began in.
func (p *Parser) noteHandshake(entry int, typ uint8, length int) {
	if entry < 0 {
		return
	}
	e := &p.records[entry]
	if int(e.nhs) < maxHandshakesPerRecord {
		e.hsTypes[e.nhs], e.hsLens[e.nhs] = typ, uint32(length)
		e.nhs++
	}
}

// Gap implements proto.Stream: nothing more of dir is parsed.
func (p *Parser) Gap(dir proto.Dir) {
	d := &p.dirs[dir&1]
	d.stopped = true
	d.hs.stop()
}

// Done implements proto.Stream. A TCP parser is done when each direction
// has filled its srlt entries or stopped (gap or malformed input); a QUIC
// parser when it has both hellos or both directions stopped.
func (p *Parser) Done() bool {
	if p.quic {
		hellos := p.client != nil && p.server != nil && !p.server.retry
		return hellos || p.dirs[0].stopped && p.dirs[1].stopped
	}
	for i := range p.dirs {
		d := &p.dirs[i]
		if !d.stopped && d.records < maxRecordsPerDir {
			return false
		}
	}
	return true
}

// Handshake feeds the CRYPTO-stream bytes of dir: handshake messages
// without record headers, in stream-offset order and without repeats
// (QUIC's Initial and Handshake packet-number spaces are separate
// streams: feed one space per parser, normally the Initial one, which is
// all that can be decrypted without keys). ts, the time in ns since the
// epoch of the packet that carried the bytes, is taken for symmetry with
// Data: without records there is nothing to time.
func (p *Parser) Handshake(dir proto.Dir, data []byte, ts int64) {
	d := &p.dirs[dir&1]
	if d.stopped {
		return
	}
	d.hs.feed(data, -1, func(_ int, typ uint8, _ int, body []byte) {
		if body != nil {
			p.handshake(dir, typ, body)
		}
	})
}

// handshake handles one complete handshake message.
func (p *Parser) handshake(dir proto.Dir, typ uint8, body []byte) {
	switch typ {
	case hsClientHello:
		if p.client != nil {
			return // a second ClientHello answers a HelloRetryRequest
		}
		ch, err := parseClientHello(body)
		p.note(err)
		p.client, p.clientDir = ch, dir
	case hsServerHello:
		sh, err := parseServerHello(body)
		p.note(err)
		if sh.retry {
			p.retry, p.tls13 = true, true
			if p.server != nil {
				return
			}
		} else if p.server != nil && !p.server.retry {
			return
		}
		p.server = sh
		if p.client == nil {
			p.clientDir = dir ^ 1
		}
		if joyVersion(sh.negotiatedVersion()) == Version1_3 {
			p.tls13 = true
		}
	case hsCertificate:
		// TLS 1.3 certificates are encrypted (and differently framed);
		// a cleartext one would be a protocol violation.
		if p.certsSeen[dir&1] || p.tls13 {
			return
		}
		p.certsSeen[dir&1] = true
		certs, err := parseCertificateList(body)
		p.note(err)
		p.certs[dir&1] = certs
	case hsClientKeyExchange:
		if !p.keyExSeen {
			p.keyExSeen = true
			if len(body) <= maxClientKeyExchange {
				p.keyEx = append(p.keyEx[:0], body...)
			}
		}
	case hsServerKeyExchange:
		// ECParameters with a named_curve (type 3), then the point:
		// only an ECDHE exchange has that shape with consistent lengths.
		if !p.hasSKE && len(body) >= 5 && body[0] == 3 && 4+int(body[3]) <= len(body) && body[3] > 0 {
			p.skeGroup, p.hasSKE = uint16(body[1])<<8|uint16(body[2]), true
		}
	}
}

// note records a parse error (the first few).
func (p *Parser) note(err error) {
	if err != nil {
		p.noteMsg(err.Error())
	}
}

func (p *Parser) noteMsg(msg string) {
	if len(p.errs) < maxParseErrors {
		if p.errs == nil {
			p.errs = make([]string, 0, maxParseErrors)
		}
		p.errs = append(p.errs, msg)
	}
}

func (p *Parser) stop(d *direction, err error) {
	d.stopped = true
	d.hs.stop()
	p.note(err)
}

func (p *Parser) stopMsg(d *direction, msg string) {
	d.stopped = true
	d.hs.stop()
	p.noteMsg(msg)
}

func dirName(dir proto.Dir) string {
	if dir&1 == proto.Out {
		return "out stream" // from the initiator, as the record's "out"
	}
	return "in stream"
}

// handshakeReader reassembles handshake messages that span records (or
// CRYPTO frames) and splits records holding several messages.
type handshakeReader struct {
	buf    []byte // the message being assembled, header included
	entry  int    // srlt entry of the record the message began in
	skip   int    // bytes of an oversize message still to drop
	typ    uint8  // type and length of the message being skipped
	length int
}

// stop drops the message being assembled and its buffer: a stopped
// direction may live long (a TLS flow's bulk data), and holding every
// such flow's buffer until its end raised the peak RSS of --features all
// by ~10 MB on the bench capture.
func (h *handshakeReader) stop() { *h = handshakeReader{} }

// midMessage says part of a message has been read.
func (h *handshakeReader) midMessage() bool { return len(h.buf) > 0 || h.skip > 0 }

// feed consumes handshake bytes that arrived in the record listed at
// srlt index entry (-1 when not listed). done is called for each complete
// message with the entry of the record the message began in; body is nil
// for a message longer than maxHandshakeLen, whose bytes are dropped.
func (h *handshakeReader) feed(b []byte, entry int, done func(entry int, typ uint8, length int, body []byte)) {
	for len(b) > 0 {
		if h.skip > 0 {
			n := min(h.skip, len(b))
			h.skip -= n
			b = b[n:]
			if h.skip == 0 {
				done(h.entry, h.typ, h.length, nil)
			}
			continue
		}
		if len(h.buf) == 0 {
			h.entry = entry
			// Fast path: a whole message in b.
			if len(b) >= 4 {
				typ, length := b[0], int(b[1])<<16|int(b[2])<<8|int(b[3])
				if 4+length <= len(b) {
					done(entry, typ, length, b[4:4+length])
					b = b[4+length:]
					continue
				}
			}
		}
		if len(h.buf) < 4 {
			n := min(4-len(h.buf), len(b))
			h.buf = append(h.buf, b[:n]...)
			b = b[n:]
			if len(h.buf) < 4 {
				return
			}
			if length := int(h.buf[1])<<16 | int(h.buf[2])<<8 | int(h.buf[3]); length > maxHandshakeLen {
				h.typ, h.length, h.skip = h.buf[0], length, length
				h.buf = h.buf[:0]
				continue
			}
		}
		length := int(h.buf[1])<<16 | int(h.buf[2])<<8 | int(h.buf[3])
		n := min(4+length-len(h.buf), len(b))
		h.buf = append(h.buf, b[:n]...)
		b = b[n:]
		if len(h.buf) == 4+length {
			done(h.entry, h.buf[0], length, h.buf[4:])
			h.buf = h.buf[:0]
		}
	}
}

// Report implements proto.Reporter. It returns ("tls", *Object), or a nil
// value when no TLS record or handshake message was seen. The object
// belongs to the parser, or to its Group: feeding the parser afterwards
// does not change it, but the next Report of the parser, or of any parser
// of its Group, does.
func (p *Parser) Report() (string, any) {
	if len(p.records) == 0 && p.client == nil && p.server == nil {
		return "tls", nil
	}
	if p.rep == nil {
		p.rep = new(reporting)
	}
	o := &p.rep.obj
	*o = Object{}
	p.rep.strs = p.rep.strs[:0]
	if ch := p.client; ch != nil {
		p.reportClient(o, ch)
	}
	if sh := p.server; sh != nil {
		p.reportServer(o, sh)
	}
	o.HelloRetryRequest = p.retry
	if p.hasSKE && o.SKeyExchangeGroup == "" {
		o.SKeyExchangeGroup = hex4(p.skeGroup)
	}
	if len(p.keyEx) > 0 {
		o.CKeyLength = 8 * len(p.keyEx)
		o.CKeyExchange = p.keyEx
	}
	clientDir := p.clientDir & 1
	o.CCert = p.certs[clientDir]
	o.SCert = p.certs[clientDir^1]
	o.SRLT = p.reportSRLT()
	o.Alerts = p.alerts
	o.ParseErrors = p.errs
	return "tls", o
}

func (p *Parser) reportClient(o *Object, ch *clientHello) {
	if ch.random == nil {
		return // not even the fixed part was there
	}
	o.CHelloVersion = hex4(ch.version)
	o.CVersion = joyVersion(ch.version)
	if ch.hasExtension(extSupportedVersions) {
		best := VersionUnknown
		for _, v := range ch.supportedVersions {
			if !isGREASE(v) {
				best = max(best, joyVersion(v))
			}
		}
		if best != VersionUnknown {
			o.CVersion = best
		}
	}
	o.CRandom = ch.random
	o.CSID = ch.sessionID
	o.CS = p.hex4List(ch.ciphers, maxListed)
	if ch.sslv2 {
		// SSL 3.0/TLS suites keep Joy's four digits; SSLv2 ciphers are
		// written with their six.
		for _, spec := range ch.v2Ciphers[:min(len(ch.v2Ciphers), maxListed)] {
			if spec>>16 == 0 {
				o.CS = append(o.CS, hex4(uint16(spec)))
			} else {
				o.CS = append(o.CS, fmt.Sprintf("%06x", spec))
			}
		}
	}
	if len(ch.extensions) > 0 {
		o.CExtensions = ch.extensions[:min(len(ch.extensions), maxListed)]
	}
	o.SNI = wireStrings(ch.serverNames)
	o.CALPN = wireStrings(ch.alpn)
	o.CSupportedVersions = p.hex4List(ch.supportedVersions, maxListed)
	o.CSupportedGroups = p.hex4List(ch.groups, maxListed)
	o.CKeyShareGroups = p.hex4List(ch.keyShareGroups, maxListed)
	o.CSignatureAlgorithms = p.hex4List(ch.sigAlgs, maxListed)
	// Fingerprints only describe a ClientHello read to its end.
	if ch.complete {
		o.JA3 = md5Hex(ja3String(ch))
		o.JA4 = ja4(ch, p.quic)
	}
}

func (p *Parser) reportServer(o *Object, sh *serverHello) {
	if sh.random == nil {
		return
	}
	o.SHelloVersion = hex4(sh.version)
	o.SVersion = joyVersion(sh.negotiatedVersion())
	if !sh.retry {
		o.SRandom = sh.random
	}
	o.SSID = sh.sessionID
	if !sh.cipherRead {
		return
	}
	o.SCS = hex4(sh.cipher)
	if len(sh.extensions) > 0 {
		o.SExtensions = sh.extensions[:min(len(sh.extensions), maxListed)]
	}
	if sh.supportedVersion != 0 {
		o.SSupportedVersion = hex4(sh.supportedVersion)
	}
	if sh.hasALPN {
		o.SALPN = jsontext.WireString(sh.alpn)
	}
	if sh.hasKeyShare {
		o.SKeyExchangeGroup = hex4(sh.keyShareGroup)
	}
	if sh.complete {
		o.JA3S = md5Hex(ja3sString(sh))
	}
}

// hex4List lists the first limit values as hex4 strings, in the report's
// strs.
func (p *Parser) hex4List(vs []uint16, limit int) []string {
	if len(vs) == 0 {
		return nil
	}
	vs = vs[:min(len(vs), limit)]
	r := p.rep
	start := len(r.strs)
	for _, v := range vs {
		r.strs = append(r.strs, hex4(v))
	}
	return r.strs[start:len(r.strs):len(r.strs)]
}

// reportSRLT computes the ipt of each entry: milliseconds since the
// previous entry (0 for the first; never negative). The handshake lists
// are cut from the report's ints.
func (p *Parser) reportSRLT() []Record {
	if len(p.records) == 0 {
		return nil
	}
	n := 0
	for i := range p.records {
		n += 2 * int(p.records[i].nhs)
	}
	// One backing for every list, grown before any is cut from it.
	rep := p.rep
	rep.ints = slices.Grow(rep.ints[:0], n)
	out := rep.srlt[:0]
	prev := p.records[0].ts
	for i := range p.records {
		e := &p.records[i]
		ipt := (e.ts - prev) / 1e6
		if e.ts > prev {
			prev = e.ts
		}
		r := Record{B: int(e.length), Dir: dirString(e.dir), IPT: max(ipt, 0), TP: int(e.typ)}
		if e.nhs > 0 {
			r.HSTypes = cutInts(&rep.ints, e.hsTypes[:e.nhs])
			r.HSLens = cutInts(&rep.ints, e.hsLens[:e.nhs])
		}
		out = append(out, r)
	}
	rep.srlt = out
	return out
}

// cutInts appends vs to *ints, which has room for them, and returns
// them.
func cutInts[T uint8 | uint32](ints *[]int, vs []T) []int {
	start := len(*ints)
	for _, v := range vs {
		*ints = append(*ints, int(v))
	}
	return (*ints)[start:len(*ints):len(*ints)]
}

func wireStrings(bs [][]byte) []jsontext.WireString {
	if len(bs) == 0 {
		return nil
	}
	out := make([]jsontext.WireString, len(bs))
	for i, b := range bs {
		out[i] = jsontext.WireString(b)
	}
	return out
}
