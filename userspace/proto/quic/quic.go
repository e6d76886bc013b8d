// Package quic decrypts the Initial packets of a QUIC connection and hands
// the TLS handshake they carry to a TLS parser, so that a QUIC flow gets the
// same "tls" object (ClientHello, ServerHello, JA4 with its "q" prefix) as a
// TLS-over-TCP flow, plus a "quic" object with what the long headers say.
//
// Initial packets are encrypted, but with keys anyone can derive from the
// client's first Destination Connection ID (RFC 9001 §5.2). The parser
// derives them for QUIC v1 (RFC 9000/9001), v2 (RFC 9369), the IETF drafts
// 22–34, Facebook mvfst and Google's TLS-based T050/T051, removes header
// protection, decrypts, and reassembles the CRYPTO frames of each direction
// in stream order, across coalesced packets and datagrams. Later packet
// number spaces (Handshake, 0-RTT, 1-RTT) use secrets from the TLS key
// exchange and are skipped.
//
// Work and memory per datagram are bounded: key derivations per flow are
// capped, a packet is decrypted at most once per key, and the CRYPTO stream
// of each direction is capped at MaxCryptoBytes.
package quic

import (
	"bytes"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// HandshakeSink consumes the CRYPTO stream of each direction: TLS
// handshake messages without a record layer, in stream order and without
// repeats. data is only valid during the call; ts is the time (ns since the
// epoch) of the datagram that completed it. The tls package's QUIC parser
// implements it.
type HandshakeSink interface {
	Handshake(dir proto.Dir, data []byte, ts int64)
}

// Limits on the work one flow may cause.
const (
	// maxKeyDerivations bounds the HKDF runs per flow: the client's
	// original DCID, a DCID after Retry, a second version after compatible
	// version negotiation, plus a few guesses when the first packets were
	// not captured.
	maxKeyDerivations = 6
	// maxDatagrams is how many datagrams the parser looks at before it
	// gives up on a handshake that does not complete: Initial packets are
	// exchanged in the first round trips only.
	maxDatagrams = 128
	// maxFailures is how many Initial packets may fail to decrypt before
	// the parser stops trying.
	maxFailures = 16
)

// Parser follows the Initial packets of one QUIC flow. Create it with New;
// it implements proto.Datagram.
type Parser struct {
	sink HandshakeSink

	keys        *initialKeys
	derivations int
	// derived caches the last key sets derived, so that packets switching
	// between versions or connection IDs do not re-run HKDF.
	derived [4]*initialKeys
	// candidate are keys from the DCID of an Initial that could not be
	// authenticated because the capture cut it short: a server Initial
	// that decrypts with them proves candidateDir is the client.
	candidate    *initialKeys
	candidateDir proto.Dir
	// clientDir is the direction of the client once an Initial packet
	// decrypted with client keys; until then roleKnown is false.
	clientDir proto.Dir
	roleKnown bool

	nextPN  [2]int64 // per direction: largest Initial packet number + 1
	streams [2]cryptoStream
	hello   [2]handshakeTracker
	buf     openBuffer
	frames  frameSink

	datagrams int
	failures  int
	gaveUp    bool // decryption is impossible: Done

	rec record
}

// record is what the long headers and Initial payloads told about the
// connection; Report turns it into the "quic" object.
type record struct {
	seen       bool
	first      [2]packetInfo // first long-header packet per direction
	retry      *Retry
	vnVersions []uint32
	close      *Close
	failures   int
	overflow   bool
}

type packetInfo struct {
	seen     bool
	version  uint32
	dcid     []byte
	scid     []byte
	tokenLen int
	initial  bool
}

var _ proto.Datagram = (*Parser)(nil)

// New returns a parser that passes each direction's Initial CRYPTO stream
// to sink. A nil sink is allowed: the parser then only fills the "quic"
// object.
func New(sink HandshakeSink) *Parser {
	return &Parser{sink: sink}
}

// Datagram implements proto.Datagram. A datagram may hold several
// coalesced long-header packets followed by one short-header packet
// (RFC 9000 §12.2); Initial packets are decrypted, the others skipped.
func (p *Parser) Datagram(dir proto.Dir, payload []byte, truncated bool, ts int64) {
	if p.Done() || dir > proto.In {
		return
	}
	p.datagrams++
	if p.datagrams > maxDatagrams {
		p.gaveUp = true
		return
	}
	b := payload
	for len(b) > 0 && !p.gaveUp {
		if b[0]&0x80 == 0 {
			// Short header (or padding after the last coalesced packet):
			// it runs to the end of the datagram and is not ours to read.
			return
		}
		h, err := parseLongHeader(b)
		if err != nil && h.size == 0 {
			return
		}
		p.noteHeader(dir, &h)
		switch {
		case !h.known:
			// A version we cannot decrypt; a client may still switch to
			// one we can after Version Negotiation.
			p.strike()
			return
		case h.typ == typeVersionNegotiation:
			p.noteVersionNegotiation(h.rest)
			return
		case h.typ == typeRetry:
			p.noteRetry(b, &h)
			return
		case err != nil:
			// Cut by the snap length, or lying about its length: nothing
			// more in this datagram can be read.
			switch {
			case !truncated:
				p.strike()
			case h.typ == typeInitial && !p.roleKnown && p.candidate == nil:
				// Its header is whole: the keys its DCID gives may
				// still open the server's Initial.
				p.candidate = p.derive(h.version, lookupVersion(h.version), h.dcid)
				p.candidateDir = dir
			}
			return
		case h.typ == typeInitial:
			p.initial(dir, b[:h.size], &h, ts)
		}
		b = b[h.size:]
	}
}

// Done implements proto.Datagram: the ClientHello and ServerHello (both
// of them after a HelloRetryRequest) were delivered whole, or decryption
// is impossible.
func (p *Parser) Done() bool {
	if p.gaveUp {
		return true
	}
	if !p.roleKnown {
		return false
	}
	want := 1
	if p.hello[1-p.clientDir].hrr {
		want = 2
	}
	return p.hello[p.clientDir].complete >= want && p.hello[1-p.clientDir].complete >= want
}

// clientRole is the direction taken to be the client's: the one whose
// Initial decrypted with client keys, else the flow's initiator.
func (p *Parser) clientRole() proto.Dir {
	if p.roleKnown {
		return p.clientDir
	}
	return proto.Out
}

// fail counts an Initial packet that did not decrypt.
func (p *Parser) fail() {
	p.rec.failures++
	p.strike()
}

// strike counts a packet the parser could do nothing with; too many in a
// row and it gives up.
func (p *Parser) strike() {
	p.failures++
	if p.failures >= maxFailures {
		p.gaveUp = true
	}
}

// noteHeader records the first long-header packet of each direction and
// the first Initial, whose connection IDs are the ones that identify the
// connection.
func (p *Parser) noteHeader(dir proto.Dir, h *longHeader) {
	p.rec.seen = true
	f := &p.rec.first[dir]
	isInitial := h.known && h.typ == typeInitial
	if f.seen && (f.initial || !isInitial) {
		return
	}
	if h.typ == typeVersionNegotiation || (h.known && h.typ == typeRetry) {
		// Their connection IDs echo the client's; they say nothing new.
		return
	}
	*f = packetInfo{
		seen:     true,
		version:  h.version,
		dcid:     bytes.Clone(h.dcid),
		scid:     bytes.Clone(h.scid),
		tokenLen: len(h.token),
		initial:  isInitial,
	}
}

func (p *Parser) noteVersionNegotiation(list []byte) {
	if p.rec.vnVersions != nil {
		return
	}
	const maxVersions = 32
	p.rec.vnVersions = make([]uint32, 0, min(len(list)/4, maxVersions))
	for len(list) >= 4 && len(p.rec.vnVersions) < maxVersions {
		p.rec.vnVersions = append(p.rec.vnVersions, uint32(list[0])<<24|uint32(list[1])<<16|uint32(list[2])<<8|uint32(list[3]))
		list = list[4:]
	}
}

// noteRetry records a Retry packet and checks its integrity tag against the
// DCID of the client's first Initial. The client's next Initial goes to the
// Retry's SCID and its keys derive from that; open finds them when it sees
// that DCID.
func (p *Parser) noteRetry(pkt []byte, h *longHeader) {
	if p.rec.retry != nil || len(h.rest) < tagLen {
		return
	}
	r := &Retry{SCID: hexString(h.scid), TokenLen: len(h.rest) - tagLen}
	// The tag covers the DCID of the client's first Initial.
	if vi := lookupVersion(h.version); vi.retryKey != nil {
		if odcid := p.rec.first[p.clientRole()]; odcid.initial {
			ok := retryIntegrityOK(vi, odcid.dcid, pkt[:h.size])
			r.IntegrityOK = &ok
		}
	}
	p.rec.retry = r
}

// initial decrypts one Initial packet and feeds its frames.
func (p *Parser) initial(dir proto.Dir, pkt []byte, h *longHeader, ts int64) {
	vi := lookupVersion(h.version)
	payload, ok := p.open(dir, pkt, h, vi)
	if !ok {
		p.fail()
		return
	}
	p.failures = 0
	// The visitor lives in the Parser so that passing it as an interface
	// does not allocate per packet.
	p.frames = frameSink{p: p, dir: dir, ts: ts}
	// An unexpected frame ends the packet; what came before it counts.
	_ = walkFrames(payload, vi.gquicFrames, &p.frames)
}

// open decrypts pkt with the keys its direction should use, deriving them
// when the version or connection ID calls for it.
func (p *Parser) open(dir proto.Dir, pkt []byte, h *longHeader, vi *versionInfo) ([]byte, bool) {
	if !p.roleKnown {
		if c := p.candidate; c != nil && dir != p.candidateDir && c.version == h.version {
			if payload, ok := p.tryOpen(&c.server, dir, pkt, h); ok {
				p.keys, p.roleKnown, p.clientDir = c, true, p.candidateDir
				return payload, true
			}
		}
		// The first Initial to decrypt with client keys from its own DCID
		// is the client's.
		k := p.derive(h.version, vi, h.dcid)
		if k == nil {
			return nil, false
		}
		payload, ok := p.tryOpen(&k.client, dir, pkt, h)
		if ok {
			p.keys, p.roleKnown, p.clientDir = k, true, dir
		}
		return payload, ok
	}
	if dir == p.clientDir {
		if p.keys.version == h.version {
			if payload, ok := p.tryOpen(&p.keys.client, dir, pkt, h); ok {
				return payload, true
			}
		}
		// After a Retry (or a lost first Initial) the client's keys derive
		// from the DCID it now uses; after compatible version negotiation
		// from the same DCID with the new version's salt.
		for i, cid := range [2][]byte{p.keys.cid, h.dcid} {
			if i == 0 && p.keys.version == h.version || i == 1 && bytes.Equal(cid, p.keys.cid) {
				continue // tried above, or just now
			}
			if k := p.derive(h.version, vi, cid); k != nil {
				if payload, ok := p.tryOpen(&k.client, dir, pkt, h); ok {
					p.keys = k
					return payload, true
				}
			}
		}
		return nil, false
	}
	// Server: keys derive from the client's DCID (RFC 9001 §5.2), with the
	// server's version, which compatible negotiation may have changed.
	k := p.keys
	if k.version != h.version {
		if k = p.derive(h.version, vi, k.cid); k == nil {
			return nil, false
		}
	}
	payload, ok := p.tryOpen(&k.server, dir, pkt, h)
	if ok && k != p.keys {
		p.keys = k
	}
	return payload, ok
}

// derive returns the Initial keys of version for cid, from the cache or,
// within the flow's budget, by running the key schedule.
func (p *Parser) derive(version uint32, vi *versionInfo, cid []byte) *initialKeys {
	for _, k := range p.derived {
		if k != nil && k.version == version && bytes.Equal(k.cid, cid) {
			return k
		}
	}
	if p.derivations >= maxKeyDerivations || len(cid) == 0 {
		return nil
	}
	k, err := deriveInitialKeys(version, vi, cid)
	if err != nil {
		return nil
	}
	p.derived[p.derivations%len(p.derived)] = k
	p.derivations++
	return k
}

func (p *Parser) tryOpen(k *packetKeys, dir proto.Dir, pkt []byte, h *longHeader) ([]byte, bool) {
	payload, pn, err := k.open(pkt, h.pnOffset, p.nextPN[dir], &p.buf)
	if err != nil {
		return nil, false
	}
	p.nextPN[dir] = max(p.nextPN[dir], pn+1)
	return payload, true
}

// frameSink feeds the frames of one decrypted packet into the parser.
type frameSink struct {
	p   *Parser
	dir proto.Dir
	ts  int64
}

func (v *frameSink) crypto(off uint64, data []byte) {
	p := v.p
	s := &p.streams[v.dir]
	ready, err := s.add(off, data)
	if err != nil {
		p.rec.overflow = true
		return
	}
	if len(ready) == 0 {
		return
	}
	p.hello[v.dir].update(s.buf, s.delivered)
	if p.sink != nil {
		p.sink.Handshake(v.dir, ready, v.ts)
	}
}

func (v *frameSink) connectionClose(code, frameType uint64, app bool, reason []byte) {
	if v.p.rec.close != nil {
		return
	}
	c := &Close{Dir: dirString(v.dir), ErrorCode: code, Application: app}
	if !app {
		c.FrameType = frameType
	}
	c.Reason = wireString(reason[:min(len(reason), maxCloseReason)])
	v.p.rec.close = c
}
