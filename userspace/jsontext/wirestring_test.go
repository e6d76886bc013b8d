package jsontext

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestWireStringKeepsEveryByte(t *testing.T) {
	tests := []struct {
		in   string
		want string // the JSON text
	}{
		{"example.com", `"example.com"`},
		{"caf\u00e9", `"café"`},
		{"a\xffb", `"a\\xffb"`},
		{`back\slash`, `"back\\\\slash"`},
		{"quote\"nl\n\x01", `"quote\"nl\n\u0001"`},
		{"\xc3", `"\\xc3"`}, // a cut UTF-8 sequence
		{"\u2028", `"\u2028"`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(WireString(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("Marshal(%q) = %s, want %s", tt.in, got, tt.want)
		}
		var text string
		if err := json.Unmarshal(got, &text); err != nil {
			t.Fatalf("%s is not valid JSON: %v", got, err)
		}
		if back := Decode(text); !bytes.Equal(back, []byte(tt.in)) {
			t.Errorf("Decode(%q) = %q, want %q", text, back, tt.in)
		}
	}
}

func FuzzWireString(f *testing.F) {
	for _, s := range []string{"", "abc", "a\xffb", `\x41`, "\\\\", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := Append(nil, s)
		var text string
		if err := json.Unmarshal(b, &text); err != nil {
			t.Fatalf("%q gives invalid JSON %s: %v", s, b, err)
		}
		if back := Decode(text); !bytes.Equal(back, []byte(s)) {
			t.Fatalf("round trip of %q gave %q", s, back)
		}
	})
}
