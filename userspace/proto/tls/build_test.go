package tls

// Test-only builders of TLS records and handshake messages, written from
// RFC 8446/5246 independently of the parser.

import (
	"golang.org/x/crypto/cryptobyte"
)

// record frames body as one TLS record.
func record(typ uint8, version uint16, body []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(typ)
	b.AddUint16(version)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(body) })
	return b.BytesOrPanic()
}

// message frames body as one handshake message.
func message(typ uint8, body []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(typ)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(body) })
	return b.BytesOrPanic()
}

// helloSpec describes a ClientHello or ServerHello to build.
type helloSpec struct {
	version    uint16
	random     []byte // 32 bytes; zeros if nil
	sessionID  []byte
	ciphers    []uint16 // ClientHello; the first is the ServerHello's
	extensions []Extension
	noExts     bool // leave out the extensions block
}

func (h helloSpec) random32() []byte {
	if h.random != nil {
		return h.random
	}
	return make([]byte, 32)
}

func addExtensions(b *cryptobyte.Builder, exts []Extension) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddUint16(e.Type)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Data) })
		}
	})
}

// clientHelloBody builds a ClientHello body (no handshake header).
func clientHelloBody(h helloSpec) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint16(h.version)
	b.AddBytes(h.random32())
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.sessionID) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, c := range h.ciphers {
			b.AddUint16(c)
		}
	})
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
	if !h.noExts {
		addExtensions(b, h.extensions)
	}
	return b.BytesOrPanic()
}

// serverHelloBody builds a ServerHello body.
func serverHelloBody(h helloSpec) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint16(h.version)
	b.AddBytes(h.random32())
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.sessionID) })
	b.AddUint16(h.ciphers[0])
	b.AddUint8(0)
	if !h.noExts {
		addExtensions(b, h.extensions)
	}
	return b.BytesOrPanic()
}

// Extension payload builders.

func sniExt(names ...string) Extension {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, n := range names {
			b.AddUint8(0)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(n)) })
		}
	})
	return Extension{extServerName, b.BytesOrPanic()}
}

func alpnExt(protos ...string) Extension {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, p := range protos {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p)) })
		}
	})
	return Extension{extALPN, b.BytesOrPanic()}
}

func uint16ListExt(typ uint16, vs ...uint16) Extension {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, v := range vs {
			b.AddUint16(v)
		}
	})
	return Extension{typ, b.BytesOrPanic()}
}

func versionsExt(vs ...uint16) Extension {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, v := range vs {
			b.AddUint16(v)
		}
	})
	return Extension{extSupportedVersions, b.BytesOrPanic()}
}

func pointFormatsExt(fs ...uint8) Extension {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(fs) })
	return Extension{extECPointFormats, b.BytesOrPanic()}
}

func keyShareExt(groups ...uint16) Extension {
	b := cryptobyte.NewBuilder(nil)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, g := range groups {
			b.AddUint16(g)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
		}
	})
	return Extension{extKeyShare, b.BytesOrPanic()}
}

func rawExt(typ uint16, data ...byte) Extension { return Extension{typ, data} }
