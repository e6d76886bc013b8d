package http

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
	"github.com/flowjoy/flowjoy/userspace/proto"
	"github.com/flowjoy/flowjoy/userspace/proto/internal/tunneltest"
)

// The seed corpus in testdata/fuzz/FuzzHTTP holds the two directions of
// the TCP flows in testdata/captures and of the exchangeCases (see
// testdata/SOURCES).

// FuzzHTTP: any two streams give bounded, valid JSON with no credential
// left, and cutting them differently changes nothing.
func FuzzHTTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, out, in []byte, cut uint16) {
		whole := New(true)
		whole.Data(proto.Out, out, 0)
		whole.Data(proto.In, in, 0)

		split := New(true)
		co := int(cut) % (len(out) + 1)
		ci := int(cut) % (len(in) + 1)
		split.Data(proto.Out, out[:co], 0)
		split.Data(proto.Out, out[co:], 0)
		split.Data(proto.In, in[:ci], 0)
		split.Data(proto.In, in[ci:], 0)
		if !reflect.DeepEqual(whole.exchanges, split.exchanges) {
			t.Fatalf("cutting at %d/%d changes the result", co, ci)
		}
		// With a tunnel opener too: the exchanges and what the tunnel's
		// parser gets do not depend on the cuts.
		tw, tc := &tunneltest.Recorder{}, &tunneltest.Recorder{}
		tunWhole, tunSplit := New(true), New(true)
		tunWhole.OpenTunnels(tw)
		tunSplit.OpenTunnels(tc)
		tunneltest.Cut(tunWhole, out, in, len(out), len(in))
		tunneltest.Cut(tunSplit, out, in, co, ci)
		if !reflect.DeepEqual(tunWhole.exchanges, tunSplit.exchanges) || tw.Got != tc.Got || tw.Opened != tc.Opened {
			t.Fatalf("with a tunnel opener, cutting at %d/%d changes the result", co, ci)
		}
		if len(out)+len(in) <= 1024 {
			bytewise := New(true)
			for i := range out {
				bytewise.Data(proto.Out, out[i:i+1], 0)
			}
			for i := range in {
				bytewise.Data(proto.In, in[i:i+1], 0)
			}
			if !reflect.DeepEqual(whole.exchanges, bytewise.exchanges) {
				t.Fatal("octet-by-octet delivery changes the result")
			}
		}

		if len(whole.exchanges) > MaxExchanges {
			t.Fatalf("%d exchanges, bound %d", len(whole.exchanges), MaxExchanges)
		}
		for _, x := range whole.exchanges {
			for _, m := range append([]*Message{x.Request, x.Response}, x.Interim...) {
				checkMessage(t, m)
			}
		}
		// reused parses the streams the other way round first: after
		// Reset it must report what a new parser does.
		reused := New(false)
		reused.Data(proto.Out, in, 0)
		reused.Data(proto.In, out, 0)
		reused.Report()
		reused.Reset(true)
		reused.Data(proto.Out, out, 0)
		reused.Data(proto.In, in, 0)

		_, v := whole.Report()
		_, r := reused.Report()
		raw, err := json.Marshal(v)
		if v != nil && (err != nil || !json.Valid(raw)) {
			t.Fatalf("invalid JSON (%v): %s", err, raw)
		}
		if rawReused, _ := json.Marshal(r); string(raw) != string(rawReused) {
			t.Fatalf("a reused parser differs:\nnew    %s\nreused %s", raw, rawReused)
		}
		if err := jsontext.AppenderMatches(v); err != nil {
			t.Fatal(err)
		}
		whole.Gap(proto.Out)
		whole.Gap(proto.In)
		if !whole.Done() {
			t.Fatal("not done after gaps in both directions")
		}
	})
}

func checkMessage(t *testing.T, m *Message) {
	t.Helper()
	if m == nil {
		return
	}
	kept := len(m.Method) + len(m.URI) + len(m.Version) + len(m.Code) + len(m.Reason)
	for _, h := range m.Headers {
		kept += len(h.Name) + len(h.Value) + 4
		if credentialHeader(trimOWS(h.Name)) && h.Value != Redacted && !strings.HasSuffix(h.Value, " "+Redacted) {
			t.Fatalf("credential header %q kept its value %q", h.Name, h.Value)
		}
	}
	if kept > MaxHeaderBytes+8 { // +8: the spaces of the start line are not stored
		t.Fatalf("%d header octets kept, bound %d", kept, MaxHeaderBytes)
	}
	if len(m.Body) > BodyPrefixLen || int64(len(m.Body)) > m.BodyLen {
		t.Fatalf("body prefix of %d octets for a body of %d", len(m.Body), m.BodyLen)
	}
}

// A browser-like request and a typical response.
const (
	benchRequest = "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n" +
		"Connection: keep-alive\r\nCookie: session=0123456789abcdef\r\nUpgrade-Insecure-Requests: 1\r\n\r\n"
	benchResponseHead = "HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nServer: nginx/1.24.0\r\n" +
		"Content-Type: text/html; charset=utf-8\r\nContent-Length: 1024\r\nConnection: keep-alive\r\n" +
		"Cache-Control: max-age=600\r\nETag: \"65920000-400\"\r\n\r\n"
)

// BenchmarkRequestResponse parses one exchange with a 1 KiB body.
func BenchmarkRequestResponse(b *testing.B) {
	req := []byte(benchRequest)
	resp := []byte(benchResponseHead + strings.Repeat("x", 1024))
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		p := New(true)
		p.Data(proto.Out, req, 0)
		p.Data(proto.In, resp, 0)
	}
}

// BenchmarkMarshalExchange writes the JSON of that exchange.
func BenchmarkMarshalExchange(b *testing.B) {
	p := New(true)
	p.Data(proto.Out, []byte(benchRequest), 0)
	p.Data(proto.In, []byte(benchResponseHead+strings.Repeat("x", 1024)), 0)
	xs := Exchanges(p.exchanges)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := xs.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
