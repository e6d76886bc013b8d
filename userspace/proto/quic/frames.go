package quic

import (
	"encoding/binary"
	"fmt"
)

// IETF QUIC frame types that may appear in Initial packets (RFC 9000
// §12.4, Table 3).
const (
	framePadding   = 0x00
	framePing      = 0x01
	frameAck       = 0x02
	frameAckECN    = 0x03
	frameCrypto    = 0x06
	frameClose     = 0x1c
	frameCloseApp  = 0x1d
	maxAckRanges   = 256 // more ACK ranges than this in an Initial is garbage
	maxCloseReason = 256 // bytes of a CONNECTION_CLOSE reason kept
)

// Google QUIC frame types used by T050/T051 Initial packets, which carry
// TLS in IETF long headers but keep gQUIC's frame encodings.
const (
	gquicPadding = 0x00
	gquicClose   = 0x02
	gquicPing    = 0x07
	gquicCrypto  = 0x08
)

// frameVisitor receives the frames of one decrypted Initial payload.
type frameVisitor interface {
	crypto(off uint64, data []byte)
	connectionClose(code, frameType uint64, app bool, reason []byte)
}

// walkFrames calls v for the CRYPTO and CONNECTION_CLOSE frames of an
// Initial payload. It stops at the first frame type an Initial may not
// carry, or that it cannot skip, and returns an error saying so; frames
// before it were already visited.
func walkFrames(p []byte, gquic bool, v frameVisitor) error {
	if gquic {
		return walkGQUICFrames(p, v)
	}
	for len(p) > 0 {
		t, n := readVarint(p)
		if n == 0 {
			return fmt.Errorf("quic: frame type: %w", errTruncated)
		}
		p = p[n:]
		var err error
		switch t {
		case framePadding:
			for len(p) > 0 && p[0] == 0 {
				p = p[1:]
			}
		case framePing:
		case frameAck, frameAckECN:
			p, err = skipAck(p, t == frameAckECN)
		case frameCrypto:
			var off, l uint64
			if off, p, err = varintField(p, "CRYPTO offset"); err != nil {
				break
			}
			if l, p, err = varintField(p, "CRYPTO length"); err != nil {
				break
			}
			if l > uint64(len(p)) {
				return fmt.Errorf("quic: CRYPTO frame of %d bytes in %d: %w", l, len(p), errTruncated)
			}
			v.crypto(off, p[:l])
			p = p[l:]
		case frameClose, frameCloseApp:
			var code, ft, l uint64
			if code, p, err = varintField(p, "CONNECTION_CLOSE error code"); err != nil {
				break
			}
			if t == frameClose {
				if ft, p, err = varintField(p, "CONNECTION_CLOSE frame type"); err != nil {
					break
				}
			}
			if l, p, err = varintField(p, "CONNECTION_CLOSE reason length"); err != nil {
				break
			}
			if l > uint64(len(p)) {
				return fmt.Errorf("quic: CONNECTION_CLOSE reason of %d bytes in %d: %w", l, len(p), errTruncated)
			}
			v.connectionClose(code, ft, t == frameCloseApp, p[:l])
			p = p[l:]
		default:
			return fmt.Errorf("quic: frame type %#x not expected in an Initial packet", t)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func varintField(p []byte, what string) (uint64, []byte, error) {
	v, n := readVarint(p)
	if n == 0 {
		return 0, p, fmt.Errorf("quic: %s: %w", what, errTruncated)
	}
	return v, p[n:], nil
}

// skipAck skips the body of an ACK frame (RFC 9000 §19.3).
func skipAck(p []byte, ecn bool) ([]byte, error) {
	var ranges uint64
	var err error
	// Largest Acknowledged, ACK Delay, ACK Range Count, First ACK Range.
	for i := range 4 {
		var v uint64
		if v, p, err = varintField(p, "ACK field"); err != nil {
			return p, err
		}
		if i == 2 {
			ranges = v
		}
	}
	if ranges > maxAckRanges {
		return p, fmt.Errorf("quic: ACK frame with %d ranges", ranges)
	}
	fields := 2 * int(ranges) // Gap and ACK Range Length per range
	if ecn {
		fields += 3 // ECT0, ECT1, ECN-CE counts
	}
	for range fields {
		if _, p, err = varintField(p, "ACK range"); err != nil {
			return p, err
		}
	}
	return p, nil
}

// walkGQUICFrames is walkFrames for Google QUIC T05x payloads: their CRYPTO
// frame has IETF varint offset and length, CONNECTION_CLOSE a 32-bit error
// code and a 16-bit reason length.
func walkGQUICFrames(p []byte, v frameVisitor) error {
	for len(p) > 0 {
		t := p[0]
		p = p[1:]
		switch t {
		case gquicPadding:
			// gQUIC padding runs to the end of the packet.
			return nil
		case gquicPing:
		case gquicCrypto:
			off, rest, err := varintField(p, "CRYPTO offset")
			if err != nil {
				return err
			}
			l, rest, err := varintField(rest, "CRYPTO length")
			if err != nil {
				return err
			}
			if l > uint64(len(rest)) {
				return fmt.Errorf("quic: CRYPTO frame of %d bytes in %d: %w", l, len(rest), errTruncated)
			}
			v.crypto(off, rest[:l])
			p = rest[l:]
		case gquicClose:
			if len(p) < 6 {
				return fmt.Errorf("quic: gQUIC CONNECTION_CLOSE: %w", errTruncated)
			}
			code := binary.BigEndian.Uint32(p)
			l := int(binary.BigEndian.Uint16(p[4:]))
			p = p[6:]
			if l > len(p) {
				return fmt.Errorf("quic: gQUIC CONNECTION_CLOSE reason: %w", errTruncated)
			}
			v.connectionClose(uint64(code), 0, false, p[:l])
			p = p[l:]
		default:
			return fmt.Errorf("quic: gQUIC frame type %#x not expected in an Initial packet", t)
		}
	}
	return nil
}
