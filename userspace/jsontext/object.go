package jsontext

import (
	"encoding/hex"
	"strconv"
)

// ObjectWriter appends the members of one JSON object to B, managing the
// commas; the caller writes the braces. Keys are the caller's constants
// and are not escaped.
type ObjectWriter struct {
	B []byte
	n int
}

// Key starts a member: its comma, if not the first, and its key.
func (w *ObjectWriter) Key(k string) {
	if w.n > 0 {
		w.B = append(w.B, ',')
	}
	w.n++
	w.B = append(w.B, '"')
	w.B = append(w.B, k...)
	w.B = append(w.B, '"', ':')
}

// Str writes a string this program made, as encoding/json does.
func (w *ObjectWriter) Str(k, v string) {
	w.Key(k)
	w.B = AppendString(w.B, v)
}

// Wire writes a string that came from the wire, keeping every byte
// (Append).
func (w *ObjectWriter) Wire(k, v string) {
	w.Key(k)
	w.B = Append(w.B, v)
}

// Uint writes an unsigned number.
func (w *ObjectWriter) Uint(k string, v uint64) {
	w.Key(k)
	w.B = strconv.AppendUint(w.B, v, 10)
}

// Int writes a signed number.
func (w *ObjectWriter) Int(k string, v int64) {
	w.Key(k)
	w.B = strconv.AppendInt(w.B, v, 10)
}

// Bool writes true or false.
func (w *ObjectWriter) Bool(k string, v bool) {
	w.Key(k)
	w.B = strconv.AppendBool(w.B, v)
}

// Hex writes v as a lowercase hex string.
func (w *ObjectWriter) Hex(k string, v []byte) {
	w.Key(k)
	w.B = append(w.B, '"')
	w.B = hex.AppendEncode(w.B, v)
	w.B = append(w.B, '"')
}
