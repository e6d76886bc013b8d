package dhcp

import (
	"errors"
	"fmt"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// Domain names in options use the DNS wire format (RFC 1035 §3.1): DHCPv6
// without compression (RFC 8415 §10), DHCPv4's Domain Search (RFC 3397)
// with compression pointers that point into the option itself.

const (
	maxNameLen = 255
	// maxPointers bounds the pointers one name may follow; a name has at
	// most 127 labels, so a loop stops well before it costs anything.
	maxPointers = 127
)

var errNameLong = errors.New("name longer than 255 octets")

// readName decodes the name at b[off:] and returns it in presentation
// format (labels joined by '.', no trailing dot; '.' and '\' inside a label
// escaped with '\'), the offset after its in-place bytes, and whether it
// ended with the root label. Running out of data ends a name too: RFC 4704
// allows such partial names in the client FQDN option.
func readName(b []byte, off int, compress bool) (name string, next int, complete bool, err error) {
	var out []byte
	wireLen := 1
	pos := off
	next = -1
	for hops := 0; ; {
		if pos >= len(b) {
			if next < 0 {
				next = pos
			}
			return string(out), next, false, nil
		}
		c := int(b[pos])
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				if next < 0 {
					next = pos + 1
				}
				if len(out) == 0 {
					out = append(out, '.')
				}
				return string(out), next, true, nil
			}
			if pos+1+c > len(b) {
				return "", 0, false, fmt.Errorf("name at %d: label of %d octets runs past the end", off, c)
			}
			if wireLen += 1 + c; wireLen > maxNameLen {
				return "", 0, false, fmt.Errorf("name at %d: %w", off, errNameLong)
			}
			if len(out) > 0 {
				out = append(out, '.')
			}
			for _, ch := range b[pos+1 : pos+1+c] {
				if ch == '.' || ch == '\\' {
					out = append(out, '\\')
				}
				out = append(out, ch)
			}
			pos += 1 + c
		case 0xc0:
			if !compress {
				return "", 0, false, fmt.Errorf("name at %d: compression pointer where none is allowed", off)
			}
			if pos+1 >= len(b) {
				return "", 0, false, fmt.Errorf("name at %d: pointer cut short", off)
			}
			if hops++; hops > maxPointers {
				return "", 0, false, fmt.Errorf("name at %d: more than %d pointers (loop)", off, maxPointers)
			}
			if next < 0 {
				next = pos + 2
			}
			pos = int(b[pos]&0x3f)<<8 | int(b[pos+1])
		default:
			return "", 0, false, fmt.Errorf("name at %d: reserved label type 0x%02x", off, c&0xc0)
		}
	}
}

// readNames decodes a list of complete names filling the whole of b.
func readNames(b []byte, compress bool) ([]jsontext.WireString, error) {
	var names []jsontext.WireString
	for off := 0; off < len(b); {
		name, next, complete, err := readName(b, off, compress)
		if err != nil {
			return names, err
		}
		if !complete {
			return names, fmt.Errorf("name at %d: no root label", off)
		}
		names = append(names, jsontext.WireString(name))
		off = next
	}
	return names, nil
}
