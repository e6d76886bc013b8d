package http

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// The JSON shape, compared with hand-written expectations after decoding
// both (so only key order inside objects is free, and lists must match).
func TestMarshalJSON(t *testing.T) {
	tests := []struct {
		name, out, in string
		want          string
	}{
		{
			name: "Joy's example exchange",
			out:  "GET /success.txt HTTP/1.1\r\nHost: detectportal.firefox.com\r\nAccept: */*\r\nCookie: a=b\r\n\r\n",
			in:   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nsuccess\n",
			want: `[{"out":[{"method":"GET"},{"uri":"/success.txt"},{"version":"HTTP/1.1"},
				{"Host":"detectportal.firefox.com"},{"Accept":"*/*"},{"Cookie":"[redacted]"},{"body":""}],
			   "in":[{"version":"HTTP/1.1"},{"code":"200"},{"reason":"OK"},
				{"Content-Type":"text/plain"},{"Content-Length":"8"},{"body":"737563636573730a"},{"body_len":8}]}]`,
		},
		{
			name: "interim, binary header, body prefix, incomplete",
			out:  "POST /u HTTP/1.1\r\nX-Bin: \xff\x01\"\\\r\nContent-Length: 20\r\n\r\n0123456789",
			in:   "HTTP/1.1 100 Continue\r\n\r\n",
			want: `[{"out":[{"method":"POST"},{"uri":"/u"},{"version":"HTTP/1.1"},{"X-Bin":"\\xff\u0001\"\\\\"},
				{"Content-Length":"20"},{"body":"3031323334353637"},{"body_len":10},{"incomplete":true}],
			   "interim":[[{"version":"HTTP/1.1"},{"code":"100"},{"reason":"Continue"},{"body":""}]]}]`,
		},
		{
			name: "HTTP/0.9 and a rejected response",
			out:  "GET /old\r\n",
			in:   "hi",
			want: `[{"out":[{"method":"GET"},{"uri":"/old"},{"body":""}],"in":[{"body":"6869"},{"body_len":2}]}]`,
		},
		{
			name: "error only",
			out:  "GET / HTTP/1.1\r\n\r\n",
			in:   "\x00\x01garbage\r\n",
			want: `[{"out":[{"method":"GET"},{"uri":"/"},{"version":"HTTP/1.1"},{"body":""}],
			   "in":[{"error":"not an HTTP status line: \"\\x00\\x01garbage\""}]}]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(true)
			p.Data(proto.Out, []byte(tt.out), 0)
			p.Data(proto.In, []byte(tt.in), 0)
			_, v := p.Report()
			raw, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("invalid JSON: %v\n%s", err, raw)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatalf("bad expectation: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %s\nwant %s", raw, tt.want)
			}
		})
	}
	if key, v := New(true).Report(); key != "http" || v != nil {
		t.Errorf("empty parser reports (%q, %v), want (http, nil)", key, v)
	}
}

// TestLineError checks the first-line error text, built without fmt,
// against the fmt format it replaced, for short, long and non-UTF-8
// lines.
func TestLineError(t *testing.T) {
	for _, line := range []string{"", "GARBAGE", "\x00\xff\"quoted\"\t", strings.Repeat("é", 40), "x" + strings.Repeat("é", 40), strings.Repeat("y", 63) + "\xff\xfe", strings.Repeat("x", 200)} {
		want := fmt.Sprintf("not an HTTP status line: %q", quoteLine([]byte(line)))
		if got := lineError("not an HTTP status line: ", line); got != want {
			t.Errorf("lineError(%q) = %q, want %q", line, got, want)
		}
	}
}
