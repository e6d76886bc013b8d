package jsontext

import "unicode/utf8"

// AppendString appends s as encoding/json writes a Go string without
// HTML escaping: invalid UTF-8 becomes U+FFFD (\ufffd), control
// characters, '"' and '\\' are escaped, U+2028 and U+2029 too. It is for
// text this program made (names, hex, error messages); bytes from the
// wire go through Append, which keeps them.
func AppendString(dst []byte, s string) []byte { return appendString(dst, s, false) }

// AppendStringHTML appends s as json.Marshal writes a Go string: as
// AppendString, and '<', '>' and '&' escaped too.
func AppendStringHTML(dst []byte, s string) []byte { return appendString(dst, s, true) }

func appendString(dst []byte, s string, html bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && !(html && (c == '<' || c == '>' || c == '&')) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = appendControl(dst, c)
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
