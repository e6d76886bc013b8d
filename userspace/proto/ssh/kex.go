package ssh

import (
	"bytes"
	"fmt"
)

// Message numbers of the key exchange methods (RFC 4253 §8, RFC 4419,
// RFC 4432, RFC 5656). Numbers 30–49 are reused by each method with its own
// meaning, so a message is only understood once the method is known.
const (
	msgKexdhInit  = 30 // DH, ECDH and hybrids: client's ephemeral key
	msgKexdhReply = 31 // server's host key, ephemeral key, signature

	msgGexRequestOld = 30
	msgGexGroup      = 31
	msgGexInit       = 32
	msgGexReply      = 33
	msgGexRequest    = 34

	msgKexrsaPubkey = 30
	msgKexrsaSecret = 31
	msgKexrsaDone   = 32
)

// kexClass is the shape of a key exchange method's messages.
type kexClass uint8

const (
	// classEphemeral covers every method where the client sends one value
	// (30) and the server answers with host key, value and signature (31):
	// diffie-hellman-group*, ecdh-sha2-*, curve25519, curve448 and the
	// post-quantum hybrids (sntrup761x25519, mlkem768x25519, …). Unknown
	// methods are tried with this shape, the most common one; a mismatch
	// only leaves fields out.
	classEphemeral kexClass = iota
	classGex                // diffie-hellman-group-exchange-* (RFC 4419)
	classRSA                // rsa1024-sha1, rsa2048-sha256 (RFC 4432)
	classGSS                // gss-* (RFC 4462): not decoded
)

func classOf(kex []byte) kexClass {
	switch {
	case bytes.HasPrefix(kex, []byte("diffie-hellman-group-exchange-")):
		return classGex
	case bytes.HasPrefix(kex, []byte("rsa")) && bytes.Contains(kex, []byte("-sha")):
		return classRSA
	case bytes.HasPrefix(kex, []byte("gss-")):
		return classGSS
	}
	return classEphemeral
}

// kexMessage is one key exchange method message, kept until both KEXINITs
// say how to read it.
type kexMessage struct {
	code uint8
	body []byte // after the message code; owned copy
}

// starts reports which message numbers open the exchange for the client
// and for the server: the side that sends the client's opening message is
// the SSH client, whoever opened the TCP connection.
func (c kexClass) starts() (client, server []uint8) {
	if c == classRSA {
		return []uint8{msgKexrsaSecret}, []uint8{msgKexrsaPubkey}
	}
	// GSS opens with 30 from the client too; its server side varies.
	return []uint8{msgKexdhInit, msgGexRequest}, []uint8{msgKexdhReply}
}

// decodeClient fills the client side's key exchange fields. Only the first
// message of each number counts, as for Joy.
func decodeClient(s *Side, class kexClass, msgs []kexMessage) {
	var seen [msgKexLast + 1]bool
	for _, m := range msgs {
		if seen[m.code] {
			continue
		}
		seen[m.code] = true
		var err error
		switch {
		case class == classEphemeral && m.code == msgKexdhInit,
			class == classGex && m.code == msgGexInit,
			class == classRSA && m.code == msgKexrsaSecret:
			s.CKex, err = readOne(m.body)
		case class == classGex && m.code == msgGexRequest:
			err = s.readGexRequest(m.body)
		case class == classGex && m.code == msgGexRequestOld:
			r := reader{m.body}
			var n uint32
			if n, err = r.uint32(); err == nil {
				s.CGexN = n
			}
		default:
			continue
		}
		if err != nil {
			s.addError(fmt.Errorf("message %d: %w", m.code, err))
		}
	}
}

// decodeServer fills the server side's key exchange fields, from the first
// message of each number.
func decodeServer(s *Side, class kexClass, msgs []kexMessage) {
	var seen [msgKexLast + 1]bool
	for _, m := range msgs {
		if seen[m.code] {
			continue
		}
		seen[m.code] = true
		var err error
		switch {
		case class == classEphemeral && m.code == msgKexdhReply,
			class == classGex && m.code == msgGexReply:
			err = s.readReply(m.body)
		case class == classGex && m.code == msgGexGroup:
			r := reader{m.body}
			var p, g []byte
			if p, err = r.string(); err == nil {
				g, err = r.string()
			}
			if err == nil {
				s.SGexP, s.SGexG = p, g
				s.SGexPBits = mpintBits(p)
			}
		case class == classRSA && m.code == msgKexrsaPubkey:
			r := reader{m.body}
			var hostKey, transient []byte
			if hostKey, err = r.string(); err == nil {
				transient, err = r.string()
			}
			if err == nil {
				s.setHostKey(hostKey)
				s.SKex = transient
			}
		case class == classRSA && m.code == msgKexrsaDone:
			var sig []byte
			if sig, err = readOne(m.body); err == nil {
				s.setSignature(sig)
			}
		default:
			continue
		}
		if err != nil {
			s.addError(fmt.Errorf("message %d: %w", m.code, err))
		}
	}
}

// readOne reads a message that is a single string or mpint.
func readOne(body []byte) ([]byte, error) {
	r := reader{body}
	return r.string()
}

// readGexRequest decodes SSH_MSG_KEX_DH_GEX_REQUEST: min, n, max bits.
func (s *Side) readGexRequest(body []byte) error {
	r := reader{body}
	var v [3]uint32
	for i := range v {
		var err error
		if v[i], err = r.uint32(); err != nil {
			return err
		}
	}
	s.CGexMin, s.CGexN, s.CGexMax = v[0], v[1], v[2]
	return nil
}

// readReply decodes the server's reply of DH, ECDH and GEX: host key K_S,
// the server's value (f or Q_S), and the signature of the exchange hash.
func (s *Side) readReply(body []byte) error {
	r := reader{body}
	hostKey, err := r.string()
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	s.setHostKey(hostKey)
	if s.SKex, err = r.string(); err != nil {
		return fmt.Errorf("server value: %w", err)
	}
	sig, err := r.string()
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	s.setSignature(sig)
	return nil
}

func (s *Side) setHostKey(blob []byte) {
	s.SHostkey = blob
	typ, err := firstString(blob)
	if err != nil {
		s.addError(fmt.Errorf("host key type: %w", err))
		return
	}
	s.SHostkeyType = wire(typ)
	s.SHostkeyBits = hostKeyBits(typ, blob)
}

func (s *Side) setSignature(blob []byte) {
	s.SSignature = blob
	typ, err := firstString(blob)
	if err != nil {
		s.addError(fmt.Errorf("signature type: %w", err))
		return
	}
	s.SSignatureType = wire(typ)
}

// hostKeyBits returns the modulus size of an RSA or DSA host key (RFC 4253
// §6.6), the one number their type names leave open; 0 for other types,
// whose names fix their size.
func hostKeyBits(typ, blob []byte) int {
	r := reader{blob}
	if _, err := r.string(); err != nil {
		return 0
	}
	switch string(typ) {
	case "ssh-rsa":
		// string "ssh-rsa", mpint e, mpint n
		if _, err := r.string(); err != nil {
			return 0
		}
	case "ssh-dss":
		// string "ssh-dss", mpint p, q, g, y
	default:
		return 0
	}
	m, err := r.string()
	if err != nil {
		return 0
	}
	return mpintBits(m)
}
