package tls

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Extension types the parser decodes.
const (
	extServerName          = 0
	extSupportedGroups     = 10
	extECPointFormats      = 11
	extSignatureAlgorithms = 13
	extALPN                = 16
	extSupportedVersions   = 43
	extKeyShare            = 51
	// extKeyShareDraft is key_share's number in TLS 1.3 drafts before 23.
	extKeyShareDraft = 40
)

// Bounds on what one hello may make us keep. The handshake message bound
// already limits memory; these keep the record readable.
const (
	maxNames = 16 // SNI host names and ALPN protocols kept
)

// clientHello is a parsed ClientHello. Byte slices alias one private copy
// of the message body.
type clientHello struct {
	version     uint16 // legacy_version
	random      []byte
	sessionID   []byte
	ciphers     []uint16
	compression []byte
	extensions  []Extension
	// complete says the message parsed to its end; only then do the
	// fingerprints describe it.
	complete bool
	// sslv2 marks an SSLv2-format hello, whose cipher specs are 24-bit.
	sslv2     bool
	v2Ciphers []uint32

	// Decoded extension contents.
	serverNames       [][]byte // host_name entries
	alpn              [][]byte
	supportedVersions []uint16
	groups            []uint16
	pointFormats      []byte
	keyShareGroups    []uint16
	sigAlgs           []uint16
}

// extensionErr describes an extension whose content does not parse; the
// hello itself stays usable.
type extensionErr struct {
	typ uint16
}

func (e extensionErr) Error() string {
	name := extensionName(e.typ)
	if name == "" {
		name = fmt.Sprintf("type %d", e.typ)
	}
	return "malformed " + name + " extension"
}

var errTrailing = errors.New("trailing bytes")

// Errors of fixed text, made once: the parsers meet them once per flow
// on the hot path of --features all (issue 8).
var (
	errClientHelloBadCipherSuites             = errors.New("client_hello: bad cipher_suites")
	errClientHelloTrailingAfterExtensions     = fmt.Errorf("client_hello: %w after extensions", errTrailing)
	errClientHelloTruncatedBeforeRandom       = errors.New("client_hello: truncated before random")
	errClientHelloTruncatedCompressionMethods = errors.New("client_hello: truncated compression_methods")
	errClientHelloTruncatedSessionID          = errors.New("client_hello: truncated session_id")
	errServerHelloTrailingAfterExtensions     = fmt.Errorf("server_hello: %w after extensions", errTrailing)
	errServerHelloTruncatedBeforeRandom       = errors.New("server_hello: truncated before random")
	errServerHelloTruncatedCipherSuite        = errors.New("server_hello: truncated cipher_suite")
	errServerHelloTruncatedCompressionMethod  = errors.New("server_hello: truncated compression_method")
	errServerHelloTruncatedSessionID          = errors.New("server_hello: truncated session_id")
	errSSLv2ClientHelloBadLengths             = errors.New("sslv2 client_hello: bad lengths")
	errSSLv2ClientHelloTrailing               = fmt.Errorf("sslv2 client_hello: %w", errTrailing)
	errSSLv2ClientHelloTruncatedHeader        = errors.New("sslv2 client_hello: truncated header")
	errTruncatedExtensions                    = errors.New("truncated extensions")
)

// parseClientHello parses a ClientHello body (after the 4-byte handshake
// header). On a structural error it returns what it read before the error
// together with the error; an extension whose content is malformed is
// kept as raw data and reported through the error too (the first one).
func parseClientHello(body []byte) (*clientHello, error) {
	body = bytes.Clone(body)
	ch := &clientHello{}
	s := cryptobyte.String(body)
	var random, sid, ciphers, comp cryptobyte.String
	if !s.ReadUint16(&ch.version) || !s.ReadBytes((*[]byte)(&random), 32) {
		return ch, errClientHelloTruncatedBeforeRandom
	}
	ch.random = random
	if !s.ReadUint8LengthPrefixed(&sid) {
		return ch, errClientHelloTruncatedSessionID
	}
	ch.sessionID = sid
	if !s.ReadUint16LengthPrefixed(&ciphers) || len(ciphers)%2 != 0 {
		return ch, errClientHelloBadCipherSuites
	}
	ch.ciphers = make([]uint16, 0, len(ciphers)/2)
	for !ciphers.Empty() {
		var c uint16
		ciphers.ReadUint16(&c)
		ch.ciphers = append(ch.ciphers, c)
	}
	if !s.ReadUint8LengthPrefixed(&comp) {
		return ch, errClientHelloTruncatedCompressionMethods
	}
	ch.compression = comp
	if s.Empty() {
		ch.complete = true
		return ch, nil // no extensions: allowed up to TLS 1.2
	}
	exts, err := readExtensions(&s)
	ch.extensions = exts
	if err != nil {
		return ch, fmt.Errorf("client_hello: %w", err)
	}
	if !s.Empty() {
		return ch, errClientHelloTrailingAfterExtensions
	}
	ch.complete = true
	var first error
	for _, e := range ch.extensions {
		if err := ch.decodeExtension(e); err != nil && first == nil {
			first = fmt.Errorf("client_hello: %w", err)
		}
	}
	return ch, first
}

// parseSSLv2ClientHello parses an SSLv2-format CLIENT-HELLO (RFC 6101
// appendix E.2; draft-hickman SSL 2.0) from the bytes after its two-byte
// record header, whose first three (msg_type, version) the record reader
// has already checked. Cipher specs are three bytes; those of the form
// 0x00XXXX are SSL 3.0/TLS cipher suites and are kept as such, the others
// (SSLv2 ciphers) are kept whole in v2Ciphers. The challenge stands in for
// the random. Such a hello has no extensions and no fingerprints.
func parseSSLv2ClientHello(b []byte) (*clientHello, error) {
	b = bytes.Clone(b)
	ch := &clientHello{sslv2: true}
	s := cryptobyte.String(b)
	var typ uint8
	var specLen, sidLen, challengeLen uint16
	if !s.ReadUint8(&typ) || !s.ReadUint16(&ch.version) || !s.ReadUint16(&specLen) ||
		!s.ReadUint16(&sidLen) || !s.ReadUint16(&challengeLen) {
		return ch, errSSLv2ClientHelloTruncatedHeader
	}
	var specs, sid, challenge []byte
	if specLen%3 != 0 || !s.ReadBytes(&specs, int(specLen)) || !s.ReadBytes(&sid, int(sidLen)) ||
		!s.ReadBytes(&challenge, int(challengeLen)) {
		return ch, errSSLv2ClientHelloBadLengths
	}
	for i := 0; i < len(specs); i += 3 {
		spec := uint32(specs[i])<<16 | uint32(specs[i+1])<<8 | uint32(specs[i+2])
		ch.v2Ciphers = append(ch.v2Ciphers, spec)
	}
	ch.sessionID, ch.random = sid, challenge
	if !s.Empty() {
		return ch, errSSLv2ClientHelloTrailing
	}
	return ch, nil
}

// readExtensions reads an extensions block (uint16 length, then type,
// length, data triples).
func readExtensions(s *cryptobyte.String) ([]Extension, error) {
	var block cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&block) {
		return nil, errTruncatedExtensions
	}
	exts := make([]Extension, 0, len(block)/8)
	for !block.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !block.ReadUint16(&typ) || !block.ReadUint16LengthPrefixed(&data) {
			return exts, fmt.Errorf("truncated extension after %d extensions", len(exts))
		}
		exts = append(exts, Extension{Type: typ, Data: data})
	}
	return exts, nil
}

func (ch *clientHello) decodeExtension(e Extension) error {
	d := cryptobyte.String(e.Data)
	ok := true
	switch e.Type {
	case extServerName:
		var list cryptobyte.String
		ok = d.ReadUint16LengthPrefixed(&list) && d.Empty()
		for ok && !list.Empty() {
			var typ uint8
			var name cryptobyte.String
			if !list.ReadUint8(&typ) || !list.ReadUint16LengthPrefixed(&name) {
				ok = false
				break
			}
			if typ == 0 && len(ch.serverNames) < maxNames {
				ch.serverNames = append(ch.serverNames, name)
			}
		}
	case extALPN:
		ch.alpn, ok = readALPN(d)
	case extSupportedVersions:
		var list cryptobyte.String
		ok = d.ReadUint8LengthPrefixed(&list) && d.Empty()
		ch.supportedVersions, ok = readUint16s(list, ok)
	case extSupportedGroups:
		var list cryptobyte.String
		ok = d.ReadUint16LengthPrefixed(&list) && d.Empty()
		ch.groups, ok = readUint16s(list, ok)
	case extSignatureAlgorithms:
		var list cryptobyte.String
		ok = d.ReadUint16LengthPrefixed(&list) && d.Empty()
		ch.sigAlgs, ok = readUint16s(list, ok)
	case extECPointFormats:
		var list cryptobyte.String
		ok = d.ReadUint8LengthPrefixed(&list) && d.Empty()
		ch.pointFormats = list
	case extKeyShare, extKeyShareDraft:
		var list cryptobyte.String
		ok = d.ReadUint16LengthPrefixed(&list) && d.Empty()
		for ok && !list.Empty() {
			var group uint16
			var key cryptobyte.String
			if !list.ReadUint16(&group) || !list.ReadUint16LengthPrefixed(&key) {
				ok = false
				break
			}
			ch.keyShareGroups = append(ch.keyShareGroups, group)
		}
	}
	if !ok {
		return extensionErr{e.Type}
	}
	return nil
}

// readALPN reads a ProtocolNameList.
func readALPN(d cryptobyte.String) ([][]byte, bool) {
	var list cryptobyte.String
	if !d.ReadUint16LengthPrefixed(&list) || !d.Empty() {
		return nil, false
	}
	var protos [][]byte
	for !list.Empty() {
		var p cryptobyte.String
		if !list.ReadUint8LengthPrefixed(&p) {
			return protos, false
		}
		if len(protos) < maxNames {
			protos = append(protos, p)
		}
	}
	return protos, true
}

// readUint16s reads a list of 16-bit code points; ok carries the result
// of reading the list's length.
func readUint16s(list cryptobyte.String, ok bool) ([]uint16, bool) {
	if !ok || len(list)%2 != 0 {
		return nil, false
	}
	out := make([]uint16, 0, len(list)/2)
	for !list.Empty() {
		var v uint16
		list.ReadUint16(&v)
		out = append(out, v)
	}
	return out, true
}

// helloRetryRandom is the ServerHello random that marks a
// HelloRetryRequest (RFC 8446, 4.1.3).
var helloRetryRandom = []byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// serverHello is a parsed ServerHello or HelloRetryRequest.
type serverHello struct {
	version     uint16 // legacy_version (a draft number before draft 23)
	random      []byte
	sessionID   []byte
	cipher      uint16
	compression uint8
	extensions  []Extension

	cipherRead       bool   // parsed up to the cipher suite
	complete         bool   // parsed to the end
	retry            bool   // HelloRetryRequest
	supportedVersion uint16 // selected_version, 0 if absent
	keyShareGroup    uint16 // 0 if absent
	hasKeyShare      bool
	alpn             []byte
	hasALPN          bool
}

// parseServerHello parses a ServerHello body. Like parseClientHello it
// returns what it read before an error.
func parseServerHello(body []byte) (*serverHello, error) {
	body = bytes.Clone(body)
	sh := &serverHello{}
	s := cryptobyte.String(body)
	var random cryptobyte.String
	if !s.ReadUint16(&sh.version) || !s.ReadBytes((*[]byte)(&random), 32) {
		return sh, errServerHelloTruncatedBeforeRandom
	}
	sh.random = random
	sh.retry = bytes.Equal(random, helloRetryRandom)
	// TLS 1.3 drafts before 23 put the draft number in the version and
	// dropped session_id and compression_method.
	draft := sh.version>>8 == 0x7f
	if !draft {
		var sid cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&sid) {
			return sh, errServerHelloTruncatedSessionID
		}
		sh.sessionID = sid
	}
	if !s.ReadUint16(&sh.cipher) {
		return sh, errServerHelloTruncatedCipherSuite
	}
	sh.cipherRead = true
	if !draft && !s.ReadUint8(&sh.compression) {
		return sh, errServerHelloTruncatedCompressionMethod
	}
	if s.Empty() {
		sh.complete = true
		return sh, nil
	}
	exts, err := readExtensions(&s)
	sh.extensions = exts
	if err != nil {
		return sh, fmt.Errorf("server_hello: %w", err)
	}
	if !s.Empty() {
		return sh, errServerHelloTrailingAfterExtensions
	}
	sh.complete = true
	var first error
	for _, e := range sh.extensions {
		if err := sh.decodeExtension(e); err != nil && first == nil {
			first = fmt.Errorf("server_hello: %w", err)
		}
	}
	return sh, first
}

func (sh *serverHello) decodeExtension(e Extension) error {
	d := cryptobyte.String(e.Data)
	ok := true
	switch e.Type {
	case extSupportedVersions:
		ok = d.ReadUint16(&sh.supportedVersion) && d.Empty()
	case extKeyShare, extKeyShareDraft:
		// ServerHello: KeyShareEntry; HelloRetryRequest: the group alone.
		ok = d.ReadUint16(&sh.keyShareGroup)
		sh.hasKeyShare = ok
	case extALPN:
		var protos [][]byte
		protos, ok = readALPN(d)
		if ok && len(protos) == 1 {
			sh.alpn, sh.hasALPN = protos[0], true
		} else {
			ok = false
		}
	}
	if !ok {
		return extensionErr{e.Type}
	}
	return nil
}

// negotiatedVersion is the version the server chose.
func (sh *serverHello) negotiatedVersion() uint16 {
	if sh.supportedVersion != 0 {
		return sh.supportedVersion
	}
	return sh.version
}
