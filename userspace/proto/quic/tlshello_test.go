package quic

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// This file is a deliberately small TLS hello reader for tests only: the
// real one lives in the tls package, which this package must not import.
// It reads what the tests compare against tshark (SNI, ALPN, supported
// versions, cipher suite) and computes JA4/JA4S, which hash every cipher,
// extension and signature algorithm and so prove the reassembled hello is
// byte-exact.

type clientHello struct {
	ciphers           []uint16
	extensions        []uint16 // in wire order
	sni               *string
	alpn              []string
	supportedVersions []uint16
	sigAlgs           []uint16
}

type serverHello struct {
	cipher            uint16
	extensions        []uint16
	supportedVersions []uint16
	alpn              string
}

// helloCollector is a HandshakeSink that splits each direction's stream
// into handshake messages and parses the hellos.
type helloCollector struct {
	stream  [2][]byte
	clients []clientHello
	servers []serverHello
	errs    []error
}

func (c *helloCollector) Handshake(dir proto.Dir, data []byte, _ int64) {
	c.stream[dir] = append(c.stream[dir], data...)
	for {
		s := c.stream[dir]
		if len(s) < 4 {
			return
		}
		n := int(s[1])<<16 | int(s[2])<<8 | int(s[3])
		if len(s) < 4+n {
			return
		}
		body := s[4 : 4+n]
		switch s[0] {
		case 1:
			ch, err := parseClientHello(body)
			if err != nil {
				c.errs = append(c.errs, err)
			} else {
				c.clients = append(c.clients, ch)
			}
		case 2:
			sh, err := parseServerHello(body)
			if err != nil {
				c.errs = append(c.errs, err)
			} else {
				c.servers = append(c.servers, sh)
			}
		}
		c.stream[dir] = s[4+n:]
	}
}

// reader is a bounds-checked cursor over a byte slice.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n > len(r.b) {
		if r.err == nil {
			r.err = fmt.Errorf("need %d bytes, have %d", n, len(r.b))
		}
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int { b := r.take(1); return int(bget(b, 0)) }
func (r *reader) u16() int {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}
func (r *reader) vec8() []byte  { return r.take(r.u8()) }
func (r *reader) vec16() []byte { return r.take(r.u16()) }

func bget(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

func u16s(b []byte) []uint16 {
	var v []uint16
	for len(b) >= 2 {
		v = append(v, binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	return v
}

func parseClientHello(b []byte) (clientHello, error) {
	var ch clientHello
	r := reader{b: b}
	r.take(2 + 32) // legacy_version, random
	r.vec8()       // legacy_session_id
	ch.ciphers = u16s(r.vec16())
	r.vec8() // compression methods
	exts := reader{b: r.vec16()}
	for r.err == nil && exts.err == nil && len(exts.b) > 0 {
		typ := uint16(exts.u16())
		data := reader{b: exts.vec16()}
		ch.extensions = append(ch.extensions, typ)
		switch typ {
		case 0: // server_name
			list := reader{b: data.vec16()}
			for len(list.b) > 0 && list.err == nil {
				kind := list.u8()
				name := list.vec16()
				if kind == 0 && ch.sni == nil {
					s := string(name)
					ch.sni = &s
				}
			}
		case 16: // application_layer_protocol_negotiation
			list := reader{b: data.vec16()}
			for len(list.b) > 0 && list.err == nil {
				ch.alpn = append(ch.alpn, string(list.vec8()))
			}
		case 43: // supported_versions
			ch.supportedVersions = u16s(data.vec8())
		case 13: // signature_algorithms
			ch.sigAlgs = u16s(data.vec16())
		}
	}
	if r.err != nil {
		return ch, fmt.Errorf("ClientHello: %w", r.err)
	}
	return ch, exts.err
}

func parseServerHello(b []byte) (serverHello, error) {
	var sh serverHello
	r := reader{b: b}
	r.take(2 + 32)
	r.vec8()
	sh.cipher = uint16(r.u16())
	r.u8()
	exts := reader{b: r.vec16()}
	for r.err == nil && exts.err == nil && len(exts.b) > 0 {
		typ := uint16(exts.u16())
		data := reader{b: exts.vec16()}
		sh.extensions = append(sh.extensions, typ)
		switch typ {
		case 43:
			sh.supportedVersions = []uint16{uint16(data.u16())}
		case 16:
			list := reader{b: data.vec16()}
			sh.alpn = string(list.vec8())
		}
	}
	if r.err != nil {
		return sh, fmt.Errorf("ServerHello: %w", r.err)
	}
	return sh, exts.err
}

func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

func hex4(v uint16) string { return fmt.Sprintf("%04x", v) }

func versionsHex(vs []uint16) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, fmt.Sprintf("0x%04x", v))
	}
	return out
}

// ja4Version is JA4's two-character TLS version.
func ja4Version(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	}
	return "00"
}

func ja4Hash(s string) string {
	if s == "" {
		return "000000000000"
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:12]
}

func ja4ALPN(s string) string {
	if s == "" {
		return "00"
	}
	alnum := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		h := hex.EncodeToString([]byte(s))
		return h[:1] + h[len(h)-1:]
	}
	return s[:1] + s[len(s)-1:]
}

// ja4 computes the JA4 fingerprint of a ClientHello sent over QUIC.
func (ch *clientHello) ja4() string {
	var ciphers, exts []string
	for _, c := range ch.ciphers {
		if !isGREASE(c) {
			ciphers = append(ciphers, hex4(c))
		}
	}
	nExt := 0
	for _, e := range ch.extensions {
		if isGREASE(e) {
			continue
		}
		nExt++
		if e != 0 && e != 16 {
			exts = append(exts, hex4(e))
		}
	}
	version := uint16(0)
	for _, v := range ch.supportedVersions {
		if !isGREASE(v) {
			version = max(version, v)
		}
	}
	sni := "i"
	if ch.sni != nil {
		sni = "d"
	}
	alpn := ""
	if len(ch.alpn) > 0 {
		alpn = ch.alpn[0]
	}
	slices.Sort(ciphers)
	slices.Sort(exts)
	c := strings.Join(exts, ",")
	var algs []string
	for _, a := range ch.sigAlgs {
		if !isGREASE(a) {
			algs = append(algs, hex4(a))
		}
	}
	if len(algs) > 0 {
		c += "_" + strings.Join(algs, ",")
	}
	return fmt.Sprintf("q%s%s%02d%02d%s_%s_%s", ja4Version(version), sni,
		min(len(ciphers), 99), min(nExt, 99), ja4ALPN(alpn),
		ja4Hash(strings.Join(ciphers, ",")), ja4Hash(c))
}

// ja4s computes the JA4S fingerprint of a ServerHello sent over QUIC.
func (sh *serverHello) ja4s() string {
	var exts []string
	for _, e := range sh.extensions {
		exts = append(exts, hex4(e))
	}
	version := uint16(0)
	if len(sh.supportedVersions) > 0 {
		version = sh.supportedVersions[0]
	}
	return fmt.Sprintf("q%s%02d%s_%s_%s", ja4Version(version), min(len(exts), 99),
		ja4ALPN(sh.alpn), hex4(sh.cipher), ja4Hash(strings.Join(exts, ",")))
}
