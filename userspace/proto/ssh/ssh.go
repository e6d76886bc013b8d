// Package ssh parses the cleartext start of an SSH connection (RFC 4253):
// each side's identification string, SSH_MSG_KEXINIT and the key exchange
// messages up to SSH_MSG_NEWKEYS, after which everything is encrypted.
//
// From them it reports Joy's "ssh" object (banners, the ten algorithm
// lists, host key, key exchange values) plus the HASSH fingerprints and the
// algorithms the connection negotiated.
//
// Memory is bounded: a direction keeps at most one incomplete binary
// packet (maxPacketLen) or one banner line (maxBannerLen), and gives up
// after maxPackets cleartext packets or a malformed one.
package ssh

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// Limits.
const (
	// maxBannerLen bounds the identification line. RFC 4253 §4.2 allows
	// 255 bytes with CR LF; some implementations send more, so we accept
	// a little more before calling it garbage.
	maxBannerLen = 1024
	// maxPreBannerLines and maxPreBannerBytes bound the lines a server may
	// send before its identification string (RFC 4253 §4.2). OpenSSH's
	// client gives up after 1024 lines too.
	maxPreBannerLines = 1024
	maxPreBannerBytes = 64 << 10
	// maxPacketLen bounds packet_length. RFC 4253 §6.1 requires 35000;
	// real handshakes stay under 8 KiB; this matches the reassembly budget
	// per direction, so nothing larger could arrive whole anyway.
	maxPacketLen = 64 << 10
	// maxPackets bounds the cleartext packets parsed per direction: a
	// handshake needs four or five.
	maxPackets = 64
	// maxKexMessages and maxKexBytes bound the key exchange messages kept
	// per direction: group exchange needs two, a wrong
	// first_kex_packet_follows guess adds one; the largest real ones
	// (post-quantum keys, host certificates) are a few KiB.
	maxKexMessages = 4
	maxKexBytes    = 64 << 10
)

// SSH message numbers (RFC 4250 §4.1.2) the parser acts on.
const (
	msgKexinit   = 20
	msgNewkeys   = 21
	msgKexMethod = 30 // first of 30–49: key exchange method specific
	msgKexLast   = 49
)

// Detect reports whether a stream's first bytes are an SSH identification
// string. (A server may send other lines first; the pipeline then finds
// "SSH-" at the start of the client's stream.)
func Detect(first []byte) bool {
	return bytes.HasPrefix(first, []byte("SSH-"))
}

// Parser implements proto.Stream for one SSH connection. Its zero value is
// ready to use.
type Parser struct {
	dirs [2]direction
}

// New returns a Parser.
func New() *Parser { return &Parser{} }

var _ proto.Stream = (*Parser)(nil)

type dirState uint8

const (
	stateBanner  dirState = iota // before the identification string
	statePackets                 // binary packets in the clear
	stateDone                    // NEWKEYS, SSH-1, a gap or an error
)

// direction is the state of one side's byte stream.
type direction struct {
	state dirState

	// Banner scanning: the current line (capped), whether it is a
	// pre-banner line being skipped, and the pre-banner totals.
	line     []byte
	skipping bool
	preLines int
	preBytes int
	banner   []byte // without the line end; nil until seen

	// pending holds an incomplete binary packet across Data calls.
	pending []byte

	kexinit  *kexInit
	kexMsgs  []kexMessage
	kexBytes int
	codes    []int
	packets  int
	newkeys  bool
	sawBytes bool
	err      error
}

// Data implements proto.Stream.
func (p *Parser) Data(dir proto.Dir, data []byte, _ int64) {
	if dir > proto.In {
		return
	}
	d := &p.dirs[dir]
	if len(data) > 0 {
		d.sawBytes = true
	}
	peer := &p.dirs[1-dir]
	for len(data) > 0 && d.state != stateDone {
		switch d.state {
		case stateBanner:
			data = d.scanBanner(data)
			if d.isSSH1() && peer.state == statePackets {
				// The peer announced 1.99 (both versions) and now speaks
				// SSH-1 with us: nothing more of it is SSH-2.
				peer.finish()
			}
		case statePackets:
			if peer.isSSH1() {
				d.finish()
				break
			}
			data = d.feedPackets(data)
		}
	}
}

// isSSH1 says the direction announced SSH-1 only: "SSH-1.99" is a server
// that also speaks 2.0 (RFC 4253 §5.1); other 1.x versions use the SSH-1
// packet format, which carries nothing we report.
func (d *direction) isSSH1() bool {
	return bytes.HasPrefix(d.banner, []byte("SSH-1.")) && !bytes.HasPrefix(d.banner, []byte("SSH-1.99-"))
}

// Gap implements proto.Stream: nothing more of dir can be parsed.
func (p *Parser) Gap(dir proto.Dir) {
	if dir > proto.In {
		return
	}
	p.dirs[dir].finish()
}

// Done implements proto.Stream: both sides are encrypted, gone or broken.
func (p *Parser) Done() bool {
	return p.dirs[0].state == stateDone && p.dirs[1].state == stateDone
}

func (d *direction) finish() {
	d.state = stateDone
	d.pending = nil
	d.line = nil
}

func (d *direction) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.finish()
}

// scanBanner consumes data up to and including the identification line
// and returns the rest.
func (d *direction) scanBanner(data []byte) []byte {
	nl := bytes.IndexByte(data, '\n')
	seg := data
	if nl >= 0 {
		seg = data[:nl]
	}
	if !d.skipping {
		room := maxBannerLen - len(d.line)
		if len(seg) <= room {
			d.line = append(d.line, seg...)
		} else {
			d.line = append(d.line, seg[:room]...)
		}
		// Decide as soon as the line can no longer become "SSH-".
		n := min(len(d.line), 4)
		if !bytes.Equal(d.line[:n], []byte("SSH-")[:n]) {
			d.skipping = true
			d.line = d.line[:0]
		} else if len(seg) > room {
			d.banner = bytes.Clone(d.line)
			d.fail(fmt.Errorf("identification string longer than %d bytes", maxBannerLen))
			return nil
		}
	}
	d.preBytes += len(seg)
	if nl < 0 {
		if d.skipping && d.preBytes > maxPreBannerBytes {
			d.fail(fmt.Errorf("no identification string in the first %d bytes", maxPreBannerBytes))
		}
		return nil
	}
	d.preBytes++ // the '\n'
	rest := data[nl+1:]
	if d.skipping || len(d.line) < 4 {
		// A line before the identification string (RFC 4253 §4.2).
		d.skipping = false
		d.line = d.line[:0]
		d.preLines++
		if d.preLines > maxPreBannerLines || d.preBytes > maxPreBannerBytes {
			d.fail(fmt.Errorf("no identification string in the first %d lines", d.preLines))
			return nil
		}
		return rest
	}
	d.banner = bytes.TrimSuffix(d.line, []byte("\r"))
	d.line = nil
	if d.isSSH1() {
		d.finish()
		return nil
	}
	d.state = statePackets
	return rest
}

// feedPackets parses the binary packets in data, keeping an incomplete one
// for the next call, and returns what it did not consume (nothing, unless
// the direction finished).
func (d *direction) feedPackets(data []byte) []byte {
	if len(d.pending) > 0 {
		// Complete the pending packet with just the bytes it needs, so a
		// large Data call is never copied whole.
		need := d.needed(d.pending)
		if need < 0 {
			return nil // failed
		}
		take := min(need, len(data))
		d.pending = append(d.pending, data[:take]...)
		data = data[take:]
		if take < need {
			return nil
		}
		if need = d.needed(d.pending); need != 0 {
			// The length header just completed: more bytes are needed.
			return data
		}
		pkt := d.pending
		d.pending = d.pending[:0]
		d.packet(pkt)
		return data
	}
	for len(data) > 0 && d.state == statePackets {
		need := d.needed(data)
		if need < 0 {
			return nil
		}
		if need > 0 {
			d.pending = append(d.pending[:0], data...)
			return nil
		}
		n := 4 + int(binary.BigEndian.Uint32(data))
		d.packet(data[:n])
		data = data[n:]
	}
	return data
}

// needed returns how many more bytes the packet starting at b needs (0
// when b holds it whole), or -1 after failing the direction on a bad
// length.
func (d *direction) needed(b []byte) int {
	if len(b) < 5 {
		return 5 - len(b)
	}
	plen := binary.BigEndian.Uint32(b)
	padLen := uint32(b[4])
	if plen > maxPacketLen {
		d.fail(fmt.Errorf("packet_length %d exceeds %d", plen, maxPacketLen))
		return -1
	}
	if plen < padLen+2 {
		// padding_length byte, at least the message code, the padding.
		d.fail(fmt.Errorf("packet_length %d too short for padding_length %d", plen, padLen))
		return -1
	}
	return max(0, 4+int(plen)-len(b))
}

// packet handles one whole binary packet (RFC 4253 §6) in the clear: no
// MAC follows until NEWKEYS.
func (d *direction) packet(pkt []byte) {
	plen := binary.BigEndian.Uint32(pkt)
	padLen := uint32(pkt[4])
	payload := pkt[5 : 4+plen-padLen]
	code := payload[0]
	d.packets++
	d.codes = append(d.codes, int(code))
	switch {
	case code == msgKexinit:
		if d.kexinit == nil {
			k, err := parseKexInit(payload[1:])
			if err != nil {
				d.fail(err)
				return
			}
			d.kexinit = k
		}
	case code == msgNewkeys:
		d.newkeys = true
		d.finish()
		return
	case code >= msgKexMethod && code <= msgKexLast:
		if len(d.kexMsgs) < maxKexMessages && d.kexBytes+len(payload) <= maxKexBytes {
			d.kexMsgs = append(d.kexMsgs, kexMessage{code: code, body: bytes.Clone(payload[1:])})
			d.kexBytes += len(payload)
		}
	}
	if d.packets >= maxPackets {
		d.fail(fmt.Errorf("no NEWKEYS in %d cleartext packets", maxPackets))
	}
}

// Report implements proto.Reporter.
func (p *Parser) Report() (string, any) {
	out, in := &p.dirs[proto.Out], &p.dirs[proto.In]
	if out.banner == nil && in.banner == nil {
		return "ssh", nil
	}
	cli, srv := out, in
	reverse := false
	if isReverse(out, in) {
		cli, srv, reverse = in, out, true
	}
	r := &Report{Reverse: reverse}
	r.Cli, r.Srv = cli.side(), srv.side()

	var kexName []byte
	if cli.kexinit != nil && srv.kexinit != nil {
		r.Chosen = negotiate(cli.kexinit, srv.kexinit)
		kexName = []byte(r.Chosen.Kex)
		if kexName != nil {
			r.Cli.KexAlgo, r.Srv.KexAlgo = r.Chosen.Kex, r.Chosen.Kex
		}
	} else if k := cli.kexinit; k != nil {
		// Only the client's KEXINIT was seen: its first choice is what its
		// key exchange messages follow.
		kexName = firstName(k.lists[listKex])
	} else if k := srv.kexinit; k != nil {
		kexName = firstName(k.lists[listKex])
	}
	class := classOf(kexName)
	wrong := cli.kexinit != nil && srv.kexinit != nil && guessWrong(cli.kexinit, srv.kexinit)
	decodeClient(r.Cli, class, cli.effectiveKexMsgs(wrong))
	decodeServer(r.Srv, class, srv.effectiveKexMsgs(wrong))

	if cli.kexinit != nil {
		h, algs := hassh(cli.kexinit, false)
		r.HASSH, r.HASSHAlgorithms = h, wire(algs)
	}
	if srv.kexinit != nil {
		h, algs := hassh(srv.kexinit, true)
		r.HASSHServer, r.HASSHServerAlgorithms = h, wire(algs)
	}
	if !cli.sawBytes {
		r.Cli = nil
	}
	if !srv.sawBytes {
		r.Srv = nil
	}
	return "ssh", r
}

// side builds Joy's per-peer object from what the direction saw.
func (d *direction) side() *Side {
	s := &Side{
		Protocol:     wire(d.banner),
		Newkeys:      d.newkeys,
		Unencrypted:  d.packets,
		MessageCodes: d.codes,
	}
	if k := d.kexinit; k != nil {
		s.Cookie = k.cookie[:]
		s.Lists = listsOf(k)
		s.FirstKexPacketFollows = k.firstKexPacketFollows
	}
	switch {
	case d.err != nil:
		s.Error = d.err.Error()
	case d.banner == nil:
		s.Error = "no identification string"
	}
	return s
}

// effectiveKexMsgs drops the message sent on a wrong first_kex_packet_follows
// guess, which the peer ignores (RFC 4253 §7).
func (d *direction) effectiveKexMsgs(wrongGuess bool) []kexMessage {
	if wrongGuess && d.kexinit != nil && d.kexinit.firstKexPacketFollows && len(d.kexMsgs) > 0 {
		return d.kexMsgs[1:]
	}
	return d.kexMsgs
}

// isReverse reports whether the key exchange shows the TCP responder to be
// the SSH client: its first key exchange message is one only a client
// opens with, or the initiator's is one only a server opens with.
func isReverse(out, in *direction) bool {
	// Roles change which list is the client's, and so the method; but the
	// method decides which messages open the exchange. Take the method
	// as if the initiator were the client: both sides nearly always agree
	// on it, and where they do not the messages still decide.
	var kex []byte
	if out.kexinit != nil && in.kexinit != nil {
		kex = agree(out.kexinit.lists[listKex], in.kexinit.lists[listKex])
	}
	clientOpen, serverOpen := classOf(kex).starts()
	wrong := out.kexinit != nil && in.kexinit != nil && guessWrong(out.kexinit, in.kexinit)
	first := func(d *direction) (uint8, bool) {
		msgs := d.effectiveKexMsgs(wrong)
		if len(msgs) == 0 {
			return 0, false
		}
		return msgs[0].code, true
	}
	outCode, outOK := first(out)
	inCode, inOK := first(in)
	has := func(set []uint8, c uint8) bool { return bytes.IndexByte(set, c) >= 0 }
	switch {
	case inOK && has(clientOpen, inCode):
		return !outOK || !has(clientOpen, outCode)
	case outOK && has(serverOpen, outCode):
		return !inOK || !has(serverOpen, inCode)
	}
	return false
}
