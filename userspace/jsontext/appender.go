package jsontext

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Appender is a value that writes its own JSON: AppendJSON appends to dst
// exactly what encoding/json (without HTML escaping) would write for it,
// one compact, valid JSON value. The record encoder calls it directly for
// the protocol objects that have it, which skips encoding/json's
// reflection, its validation and compaction of MarshalJSON output and the
// buffer MarshalJSON returns: on the hot path of --features all, once per
// record.
type Appender interface {
	AppendJSON(dst []byte) []byte
}

// AppenderMatches checks the Appender contract for v (tests and fuzzers
// call it): nil if v is not an Appender or AppendJSON writes what
// encoding/json writes, without HTML escaping, as the record encoder
// would; else an error showing both.
func AppenderMatches(v any) error {
	a, ok := v.(Appender)
	if !ok {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encoding/json: %w", err)
	}
	want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if got := a.AppendJSON([]byte("x")); !bytes.Equal(got[1:], want) || got[0] != 'x' {
		return fmt.Errorf("AppendJSON wrote\n%s\nencoding/json\n%s", got, want)
	}
	return nil
}
