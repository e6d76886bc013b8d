package jsontext

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzAppendString: AppendString writes what encoding/json writes for the
// same Go string without HTML escaping, AppendStringHTML what json.Marshal
// writes.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\x00\x01\b\f\n\r\t\x1f\x7f", "<&>", "\xff\xfe", "caf\xc3\xa9", "\u2028\u2029", "\xe2\x80", "x\xed\xa0\x80y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := AppendString([]byte("x"), s); got[0] != 'x' || !bytes.Equal(got[1:], want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got[1:], want)
		}
		wantHTML, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendStringHTML([]byte("x"), s); got[0] != 'x' || !bytes.Equal(got[1:], wantHTML) {
			t.Fatalf("AppendStringHTML(%q) = %s, json.Marshal %s", s, got[1:], wantHTML)
		}
	})
}
