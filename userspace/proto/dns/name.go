package dns

import (
	"errors"
	"fmt"
)

// Limits on a name (RFC 1035 §3.1, §4.1.4).
const (
	maxNameWireLen = 255 // octets of the uncompressed wire form
	maxLabelLen    = 63
	// maxPointers bounds how many compression pointers one name may
	// follow. A name of at most 255 octets has at most 127 labels, so a
	// legitimate encoder never needs more hops than that; a loop hits the
	// bound after a handful of microseconds instead of never.
	maxPointers = 127
)

var (
	errNameTooLong   = errors.New("name longer than 255 octets")
	errPointerLoop   = fmt.Errorf("more than %d compression pointers (loop)", maxPointers)
	errReservedLabel = errors.New("reserved label type (0x40/0x80)")
)

// readName decodes the domain name at msg[off:], following compression
// pointers anywhere in msg. It returns the name in presentation format and
// the offset just past the name's in-place bytes (a pointer ends the name
// there, whatever it points to).
//
// Presentation format: labels joined by '.', without the trailing dot;
// the root is ".". A '.' or '\' inside a label is escaped with a
// backslash (RFC 1035 §5.1) so that label boundaries stay unambiguous.
// Every other byte is kept as it is: the JSON layer (jsontext.WireString)
// makes control characters and invalid UTF-8 visible without losing them.
func readName(msg []byte, off int) (string, int, error) {
	var buf [maxNameWireLen * 2]byte // worst case: every byte escaped
	out := buf[:0]
	wireLen := 1 // the terminating root label
	pos := off
	next := -1 // offset after the in-place part, set at the first pointer
	for hops := 0; ; {
		if pos >= len(msg) {
			return "", 0, fmt.Errorf("name at offset %d: runs past end of message", off)
		}
		c := int(msg[pos])
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				if next < 0 {
					next = pos + 1
				}
				if len(out) == 0 {
					return ".", next, nil
				}
				return string(out), next, nil
			}
			if pos+1+c > len(msg) {
				return "", 0, fmt.Errorf("name at offset %d: label of %d octets runs past end of message", off, c)
			}
			wireLen += 1 + c
			if wireLen > maxNameWireLen {
				return "", 0, fmt.Errorf("name at offset %d: %w", off, errNameTooLong)
			}
			if len(out) > 0 {
				out = append(out, '.')
			}
			for _, b := range msg[pos+1 : pos+1+c] {
				if b == '.' || b == '\\' {
					out = append(out, '\\')
				}
				out = append(out, b)
			}
			pos += 1 + c
		case 0xc0:
			if pos+1 >= len(msg) {
				return "", 0, fmt.Errorf("name at offset %d: pointer cut short", off)
			}
			if hops++; hops > maxPointers {
				return "", 0, fmt.Errorf("name at offset %d: %w", off, errPointerLoop)
			}
			if next < 0 {
				next = pos + 2
			}
			target := (c&0x3f)<<8 | int(msg[pos+1])
			if target >= len(msg) {
				return "", 0, fmt.Errorf("name at offset %d: pointer to %d beyond message of %d octets", off, target, len(msg))
			}
			pos = target
		default:
			return "", 0, fmt.Errorf("name at offset %d: %w", off, errReservedLabel)
		}
	}
}
