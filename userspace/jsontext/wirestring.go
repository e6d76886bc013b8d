// Package jsontext renders bytes taken from the wire as JSON strings
// without losing any of them.
//
// encoding/json turns invalid UTF-8 into U+FFFD, which destroys exactly the
// bytes an analyst may be looking for (a malformed SNI, a binary header).
// A WireString instead keeps valid UTF-8 as it is and writes every byte of an
// invalid sequence as the four characters \xNN (two lowercase hex digits). A
// backslash from the wire is written as \\ so the escape cannot be forged and
// the original bytes can always be recovered: in the decoded JSON string,
// "\\" stands for one backslash and "\xNN" for the byte NN.
package jsontext

import (
	"encoding/hex"
	"unicode/utf8"
)

// WireString is a string of bytes from the wire. Marshal it with
// encoding/json or append it with Append.
type WireString string

// MarshalJSON implements json.Marshaler.
func (s WireString) MarshalJSON() ([]byte, error) {
	return Append(make([]byte, 0, len(s)+2), string(s)), nil
}

const hexDigits = "0123456789abcdef"

// Append appends s to dst as a quoted JSON string with the escape above.
func Append(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				// One wire backslash is the text \\, which JSON writes as \\\\.
				dst = append(dst, `\\\\`...)
			case c == '"':
				dst = append(dst, `\"`...)
			case c < 0x20 || c == 0x7f:
				dst = appendControl(dst, c)
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// The text \xNN: JSON needs the backslash escaped.
			dst = append(dst, '\\', '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			i++
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but they break JavaScript consumers; escape as
			// encoding/json does.
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func appendControl(dst []byte, c byte) []byte {
	switch c {
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// Decode reverses the escape on a string that encoding/json has already
// unquoted: it returns the original wire bytes. It is what tools reading
// our output use to get the bytes back; tests use it to prove the escape is
// lossless.
func Decode(text string) []byte {
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '\\' && i+1 < len(text) {
			if text[i+1] == '\\' {
				out = append(out, '\\')
				i++
				continue
			}
			if text[i+1] == 'x' && i+3 < len(text) {
				if hi, lo := unhex(text[i+2]), unhex(text[i+3]); hi >= 0 && lo >= 0 {
					out = append(out, byte(hi<<4|lo))
					i += 3
					continue
				}
			}
		}
		out = append(out, c)
	}
	return out
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	}
	return -1
}

// HexBytes is binary data from the wire written as a lowercase hex string,
// Joy's encoding for keys, cookies, hardware addresses and option values.
type HexBytes []byte

// MarshalJSON implements json.Marshaler.
func (h HexBytes) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 2*len(h)+2)
	out = append(out, '"')
	out = hex.AppendEncode(out, h)
	return append(out, '"'), nil
}
