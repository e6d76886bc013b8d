package ssh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// errShort is returned by reader methods when a field runs past the end of
// the message; callers wrap it with the field's name.
var errShort = errors.New("runs past end of message")

// reader decodes the SSH data types of RFC 4251 §5 from one message. It
// never panics: every method checks the remaining length first.
type reader struct {
	b []byte
}

func (r *reader) uint32() (uint32, error) {
	if len(r.b) < 4 {
		return 0, errShort
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v, nil
}

func (r *reader) byte() (byte, error) {
	if len(r.b) < 1 {
		return 0, errShort
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || len(r.b) < n {
		return nil, errShort
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

// string reads a uint32-length-prefixed byte string. mpint and name-list
// share this encoding.
func (r *reader) string() ([]byte, error) {
	n, err := r.uint32()
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(len(r.b)) {
		return nil, fmt.Errorf("length %d, %d bytes left: %w", n, len(r.b), errShort)
	}
	return r.bytes(int(n))
}

// firstString returns the first string inside a blob: the algorithm name
// that starts a public key (RFC 4253 §6.6) or a signature.
func firstString(blob []byte) ([]byte, error) {
	r := reader{blob}
	return r.string()
}

// mpintBits returns the bit length of an mpint's magnitude (RFC 4251 §5:
// two's complement, big-endian, possibly with a leading zero byte).
func mpintBits(m []byte) int {
	for len(m) > 0 && m[0] == 0 {
		m = m[1:]
	}
	if len(m) == 0 {
		return 0
	}
	return (len(m)-1)*8 + bits.Len8(m[0])
}
