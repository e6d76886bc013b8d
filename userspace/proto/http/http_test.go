package http

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

func hdrs(kv ...string) []Header {
	var h []Header
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, Header{kv[i], kv[i+1]})
	}
	return h
}

func req(method, uri, version string, h []Header) *Message {
	return &Message{request: true, Method: method, URI: uri, Version: version, Headers: h}
}

func resp(code, reason string, h []Header) *Message {
	return &Message{Version: "HTTP/1.1", Code: code, Reason: reason, Headers: h}
}

// withBody sets the body facts of a message: its first octets and length.
func withBody(m *Message, body string) *Message {
	m.Body = []byte(body[:min(len(body), BodyPrefixLen)])
	m.BodyLen = int64(len(body))
	return m
}

type exchangeCase struct {
	name     string
	out, in  string
	noRedact bool
	want     []Exchange
	// wantDone is whether the parser must be done after both streams
	// (without any gap): a protocol switch or a rejected stream.
	wantDone bool
}

var exchangeCases = []exchangeCase{
	{
		name: "keep-alive, two requests",
		out: "GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n" +
			"GET /missing HTTP/1.1\r\nHost: example.com\r\n\r\n",
		in: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n" +
			"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
		want: []Exchange{
			{Request: req("GET", "/", "HTTP/1.1", hdrs("Host", "example.com", "User-Agent", "curl/8.5.0", "Accept", "*/*")),
				Response: withBody(resp("200", "OK", hdrs("Content-Type", "text/plain", "Content-Length", "6")), "hello\n")},
			{Request: req("GET", "/missing", "HTTP/1.1", hdrs("Host", "example.com")),
				Response: withBody(resp("404", "Not Found", hdrs("Content-Length", "9")), "not found")},
		},
	},
	{
		name: "pipelining: three requests before any response",
		out:  "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n",
		in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na" +
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nbb" +
			"HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
		want: []Exchange{
			{Request: req("GET", "/1", "HTTP/1.1", hdrs("Host", "h")), Response: withBody(resp("200", "OK", hdrs("Content-Length", "1")), "a")},
			{Request: req("GET", "/2", "HTTP/1.1", hdrs("Host", "h")), Response: withBody(resp("200", "OK", hdrs("Content-Length", "2")), "bb")},
			{Request: req("GET", "/3", "HTTP/1.1", hdrs("Host", "h")), Response: resp("301", "Moved Permanently", hdrs("Location", "/x", "Content-Length", "0"))},
		},
	},
	{
		name: "chunked with extensions and trailers, then another response",
		out:  "GET /wiki HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n",
		in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"4;name=value\r\nWiki\r\n5 ; x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend",
		want: []Exchange{
			{Request: req("GET", "/wiki", "HTTP/1.1", hdrs("Host", "h")),
				Response: withBody(resp("200", "OK", hdrs("Transfer-Encoding", "chunked")), "Wikipedia in\r\n\r\nchunks.")},
			{Request: req("GET", "/next", "HTTP/1.1", hdrs("Host", "h")),
				Response: withBody(resp("200", "OK", hdrs("Content-Length", "3")), "end")},
		},
	},
	{
		name: "POST with a body, chunked request",
		out: "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\nname=flowjo" +
			"PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\n\x1f\x8b\x08\r\n0\r\n\r\n",
		in: "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		want: []Exchange{
			{Request: withBody(req("POST", "/form", "HTTP/1.1", hdrs("Host", "h", "Content-Type", "application/x-www-form-urlencoded", "Content-Length", "11")), "name=flowjo"),
				Response: resp("201", "Created", hdrs("Content-Length", "0"))},
			{Request: withBody(req("PUT", "/up", "HTTP/1.1", hdrs("Host", "h", "Transfer-Encoding", "gzip, chunked")), "\x1f\x8b\x08"),
				Response: resp("204", "No Content", nil)},
		},
	},
	{
		name: "100-continue, then the final response",
		out:  "POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nDATA",
		in:   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		want: []Exchange{{
			Request:  withBody(req("POST", "/upload", "HTTP/1.1", hdrs("Host", "h", "Expect", "100-continue", "Content-Length", "4")), "DATA"),
			Interim:  []*Message{resp("100", "Continue", nil)},
			Response: withBody(resp("200", "OK", hdrs("Content-Length", "2")), "ok"),
		}},
	},
	{
		name: "HEAD, 304 and 204 responses have no body whatever they announce",
		out:  "HEAD /big HTTP/1.1\r\nHost: h\r\n\r\nGET /cached HTTP/1.1\r\nHost: h\r\n\r\nGET /gone HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n",
		in: "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" +
			"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n" +
			"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
		want: []Exchange{
			{Request: req("HEAD", "/big", "HTTP/1.1", hdrs("Host", "h")), Response: resp("200", "OK", hdrs("Content-Length", "1000000"))},
			{Request: req("GET", "/cached", "HTTP/1.1", hdrs("Host", "h")), Response: resp("304", "Not Modified", hdrs("Content-Length", "50"))},
			{Request: req("GET", "/gone", "HTTP/1.1", hdrs("Host", "h")), Response: resp("204", "No Content", hdrs("Transfer-Encoding", "chunked"))},
			{Request: req("GET", "/x", "HTTP/1.1", hdrs("Host", "h")), Response: withBody(resp("200", "OK", hdrs("Content-Length", "2")), "hi")},
		},
	},
	{
		name: "body delimited by the end of the stream",
		out:  "GET /stream HTTP/1.0\r\n\r\n",
		in:   "HTTP/1.0 200 OK\r\nServer: old\r\n\r\n\x89PNG\r\n\x1a\n and more",
		want: []Exchange{{
			Request:  req("GET", "/stream", "HTTP/1.0", nil),
			Response: withBody(&Message{Version: "HTTP/1.0", Code: "200", Reason: "OK", Headers: hdrs("Server", "old")}, "\x89PNG\r\n\x1a\n and more"),
		}},
	},
	{
		name: "header names as sent: case, order, duplicates, obs-fold, no colon",
		out:  "GET / HTTP/1.1\r\nhost: h\r\nX-Custom-HEADER:  spaced value \t\r\nAccept: a\r\nAccept: b\r\nX-Folded: one\r\n  two\r\nnot a header\r\n\r\n",
		in:   "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
		want: []Exchange{{
			Request: req("GET", "/", "HTTP/1.1", hdrs("host", "h", "X-Custom-HEADER", "spaced value", "Accept", "a", "Accept", "b",
				"X-Folded", "one two", "", "not a header")),
			Response: resp("200", "", hdrs("Content-Length", "0")),
		}},
	},
	{
		name: "credentials redacted",
		out: "GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\nProxy-Authorization: s3cr3t-token\r\ncookie: session=abc\r\n\r\n" +
			"GET / HTTP/1.1\r\nAuthorization: bearer eyJhbGciOi\r\nAuthorization: Custom abc\r\n\r\n",
		in: "HTTP/1.1 200 OK\r\nSet-Cookie: id=1; HttpOnly\r\nSET-COOKIE: b=2\r\nContent-Length: 0\r\n\r\n",
		want: []Exchange{
			{Request: req("GET", "/", "HTTP/1.1", hdrs("Authorization", "Basic [redacted]", "Proxy-Authorization", "[redacted]", "cookie", "[redacted]")),
				Response: resp("200", "OK", hdrs("Set-Cookie", "[redacted]", "SET-COOKIE", "[redacted]", "Content-Length", "0"))},
			{Request: req("GET", "/", "HTTP/1.1", hdrs("Authorization", "bearer [redacted]", "Authorization", "[redacted]"))},
		},
	},
	{
		name:     "credentials kept with --no-redact",
		noRedact: true,
		out:      "GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\nCookie: session=abc\r\n\r\n",
		in:       "HTTP/1.1 200 OK\r\nSet-Cookie: id=1\r\nContent-Length: 0\r\n\r\n",
		want: []Exchange{{
			Request:  req("GET", "/", "HTTP/1.1", hdrs("Authorization", "Basic dXNlcjpwYXNz", "Cookie", "session=abc")),
			Response: resp("200", "OK", hdrs("Set-Cookie", "id=1", "Content-Length", "0")),
		}},
	},
	{
		name: "101 Switching Protocols ends the parse",
		out:  "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
		in:   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05Hello",
		want: []Exchange{{
			Request:  req("GET", "/chat", "HTTP/1.1", hdrs("Host", "h", "Upgrade", "websocket", "Connection", "Upgrade")),
			Response: resp("101", "Switching Protocols", hdrs("Upgrade", "websocket", "Connection", "Upgrade")),
		}},
		wantDone: true,
	},
	{
		name: "CONNECT tunnel ends the parse",
		out:  "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		in:   "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03\x00\x7a\x02",
		want: []Exchange{{
			Request:  req("CONNECT", "example.com:443", "HTTP/1.1", hdrs("Host", "example.com:443")),
			Response: resp("200", "Connection established", nil),
		}},
		wantDone: true,
	},
	{
		name: "CONNECT refused, then retried with credentials",
		out: "CONNECT example.com:443 HTTP/1.1\r\n\r\n" +
			"CONNECT example.com:443 HTTP/1.1\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n",
		in: "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
		want: []Exchange{
			{Request: req("CONNECT", "example.com:443", "HTTP/1.1", nil), Response: resp("407", "Proxy Authentication Required", hdrs("Content-Length", "0"))},
			{Request: req("CONNECT", "example.com:443", "HTTP/1.1", hdrs("Proxy-Authorization", "Basic [redacted]")), Response: resp("200", "OK", nil)},
		},
		wantDone: true,
	},
	{
		name: "HTTP/0.9",
		out:  "GET /index.html\r\n",
		in:   "<html>old</html>",
		want: []Exchange{{
			Request:  &Message{request: true, Method: "GET", URI: "/index.html", http09: true},
			Response: withBody(&Message{}, "<html>old</html>"),
		}},
	},
	{
		name: "not HTTP in response: an error, then nothing",
		out:  "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		in:   "SSH-2.0-OpenSSH_9.6\r\nmore\r\n",
		want: []Exchange{{
			Request:  req("GET", "/", "HTTP/1.1", hdrs("Host", "h")),
			Response: &Message{Err: `not an HTTP status line: "SSH-2.0-OpenSSH_9.6"`},
		}},
	},
	{
		// Its first startPrefix octets prove it is not HTTP: reported
		// with the error its whole line would get, though no line end
		// ever comes.
		name: "long non-HTTP response without a line end",
		out:  "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		in:   strings.Repeat("\x8c\x00binary", 30),
		want: []Exchange{{
			Request:  req("GET", "/", "HTTP/1.1", hdrs("Host", "h")),
			Response: &Message{Err: lineError("not an HTTP status line: ", strings.Repeat("\x8c\x00binary", 30))},
		}},
	},
	{
		name: "method longer than 32 octets, at the start of a long line",
		out:  strings.Repeat("X", 40) + " /" + strings.Repeat("a", 100) + " HTTP/1.1\r\n\r\n",
		want: []Exchange{{
			Request: &Message{request: true, Err: lineError("not an HTTP request line: ", strings.Repeat("X", 40)+" /"+strings.Repeat("a", 100)+" HTTP/1.1")},
		}},
	},
	{
		name: "long start lines that are HTTP are read whole",
		out:  "GET /" + strings.Repeat("a", 300) + " HTTP/1.1\r\n\r\n",
		in:   "HTTP/1.1 200 " + strings.Repeat("Fine ", 59) + "Fine\r\nContent-Length: 0\r\n\r\n",
		want: []Exchange{{
			Request:  req("GET", "/"+strings.Repeat("a", 300), "HTTP/1.1", nil),
			Response: resp("200", strings.Repeat("Fine ", 59)+"Fine", hdrs("Content-Length", "0")),
		}},
	},
	{
		name: "cruft after a request: an error that the 400 answers",
		out:  "GET / HTTP/1.1\r\nHost: h\r\n\r\n\x16\x03\x01 binary junk\r\nGET /again HTTP/1.1\r\n\r\n",
		in:   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		want: []Exchange{
			{Request: req("GET", "/", "HTTP/1.1", hdrs("Host", "h")), Response: resp("200", "OK", hdrs("Content-Length", "0"))},
			{Request: &Message{request: true, Err: `not an HTTP request line: "\x16\x03\x01 binary junk"`},
				Response: resp("400", "Bad Request", hdrs("Connection", "close", "Content-Length", "0"))},
		},
	},
	{
		name: "Content-Length in doubt: read as if without body, so the smuggled request shows",
		out:  "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
		in:   "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nbody\r\n",
		want: []Exchange{
			{Request: &Message{request: true, Method: "POST", URI: "/", Version: "HTTP/1.1", Headers: hdrs("Content-Length", "5", "Content-Length", "6"),
				Err: "conflicting Content-Length fields (5, 6); read as if without body"},
				Response: &Message{Version: "HTTP/1.1", Code: "200", Reason: "OK", Headers: hdrs("Content-Length", "-1"),
					Err: `invalid Content-Length "-1"; read as if without body`}},
			{Request: req("GET", "/smuggled", "HTTP/1.1", hdrs("Host", "h")),
				Response: &Message{Err: `not an HTTP status line: "body"`}},
		},
	},
	{
		name: "Transfer-Encoding and Content-Length together, chunked not last, no chunked",
		out: "POST /a HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
			"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n1\r\nx\r\n0\r\n\r\n" +
			"POST /c HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET /d HTTP/1.1\r\n\r\n",
		want: []Exchange{
			{Request: &Message{request: true, Method: "POST", URI: "/a", Version: "HTTP/1.1", Headers: hdrs("Content-Length", "4", "Transfer-Encoding", "chunked"),
				Err: "both Transfer-Encoding and Content-Length; chunked framing used"}},
			{Request: &Message{request: true, Method: "POST", URI: "/b", Version: "HTTP/1.1", Headers: hdrs("Transfer-Encoding", "chunked, identity"),
				Body: []byte("x"), BodyLen: 1, Err: "Transfer-Encoding has chunked before another coding; chunked framing used"}},
			{Request: &Message{request: true, Method: "POST", URI: "/c", Version: "HTTP/1.1", Headers: hdrs("Transfer-Encoding", "gzip"),
				Err: "request Transfer-Encoding without chunked; read as if without body"}},
			{Request: req("GET", "/d", "HTTP/1.1", nil)},
		},
	},
	{
		name: "request line without a target",
		out:  "GET HTTP/1.1\r\nHost: h\r\n\r\nGET  HTTP/1.0\r\n\r\n",
		want: []Exchange{
			{Request: req("GET", "", "HTTP/1.1", hdrs("Host", "h"))},
			{Request: req("GET", "", "HTTP/1.0", nil)},
		},
	},
	{
		name: "capture began mid-connection: the server's response comes first",
		out:  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 304 Not Modified\r\n\r\n",
		in:   "GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
		want: []Exchange{
			{Request: req("GET", "/next", "HTTP/1.1", hdrs("Host", "h")),
				Response: withBody(resp("200", "OK", hdrs("Content-Length", "2")), "ok"), requestsIn: true},
			{Response: resp("304", "Not Modified", nil), requestsIn: true},
		},
	},
	{
		name: "bad chunk size stops the direction",
		out:  "GET / HTTP/1.1\r\n\r\n",
		in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
		want: []Exchange{{
			Request:  req("GET", "/", "HTTP/1.1", nil),
			Response: &Message{Version: "HTTP/1.1", Code: "200", Reason: "OK", Headers: hdrs("Transfer-Encoding", "chunked"), Body: []byte("hello"), BodyLen: 5, Incomplete: true, Err: `invalid chunk size line "zz"`},
		}},
	},
	{
		name: "chunk size beyond 63 bits",
		out:  "GET / HTTP/1.1\r\n\r\n",
		in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
		want: []Exchange{{
			Request:  req("GET", "/", "HTTP/1.1", nil),
			Response: &Message{Version: "HTTP/1.1", Code: "200", Reason: "OK", Headers: hdrs("Transfer-Encoding", "chunked"), Incomplete: true, Err: `chunk size "10000000000000000" out of range`},
		}},
	},
}

// deliver feeds out and in to p, each direction cut at the given points.
func deliver(p *Parser, out, in string, outCuts, inCuts []int) {
	for _, s := range pieces(out, outCuts) {
		p.Data(proto.Out, []byte(s), 0)
	}
	for _, s := range pieces(in, inCuts) {
		p.Data(proto.In, []byte(s), 0)
	}
}

func pieces(s string, cuts []int) []string {
	var ps []string
	prev := 0
	for _, c := range cuts {
		ps = append(ps, s[prev:c])
		prev = c
	}
	return append(ps, s[prev:])
}

func exchangesOf(t *testing.T, p *Parser) []Exchange {
	t.Helper()
	key, v := p.Report()
	if key != "http" {
		t.Fatalf("key %q, want http", key)
	}
	if v == nil {
		return nil
	}
	return []Exchange(v.(Exchanges))
}

func TestExchanges(t *testing.T) {
	for _, tt := range exchangeCases {
		t.Run(tt.name, func(t *testing.T) {
			p := New(!tt.noRedact)
			deliver(p, tt.out, tt.in, nil, nil)
			if p.Done() != tt.wantDone {
				t.Errorf("Done = %v, want %v", p.Done(), tt.wantDone)
			}
			got := exchangesOf(t, p)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", dump(got), dump(tt.want))
			}
		})
	}
}

// Cutting either stream anywhere, or into single octets, must give what
// the whole streams give.
func TestExchangesSplitAnywhere(t *testing.T) {
	for _, tt := range exchangeCases {
		t.Run(tt.name, func(t *testing.T) {
			whole := New(!tt.noRedact)
			deliver(whole, tt.out, tt.in, nil, nil)
			want := exchangesOf(t, whole)
			for cut := 0; cut <= len(tt.out); cut++ {
				p := New(!tt.noRedact)
				deliver(p, tt.out, tt.in, []int{cut}, nil)
				if got := exchangesOf(t, p); !reflect.DeepEqual(got, want) {
					t.Fatalf("out cut at %d:\n%s\nwant\n%s", cut, dump(got), dump(want))
				}
			}
			for cut := 0; cut <= len(tt.in); cut++ {
				p := New(!tt.noRedact)
				deliver(p, tt.out, tt.in, nil, []int{cut})
				if got := exchangesOf(t, p); !reflect.DeepEqual(got, want) {
					t.Fatalf("in cut at %d:\n%s\nwant\n%s", cut, dump(got), dump(want))
				}
			}
			p := New(!tt.noRedact)
			deliver(p, tt.out, tt.in, every(len(tt.out)), every(len(tt.in)))
			if got := exchangesOf(t, p); !reflect.DeepEqual(got, want) {
				t.Fatalf("octet by octet:\n%s\nwant\n%s", dump(got), dump(want))
			}
		})
	}
}

func every(n int) []int {
	cuts := make([]int, 0, n)
	for i := 1; i < n; i++ {
		cuts = append(cuts, i)
	}
	return cuts
}

func dump(xs []Exchange) string {
	var b strings.Builder
	for i, x := range xs {
		fmt.Fprintf(&b, "  [%d] out=%+v\n", i, x.Request)
		for _, m := range x.Interim {
			fmt.Fprintf(&b, "      interim=%+v\n", m)
		}
		fmt.Fprintf(&b, "      in=%+v\n", x.Response)
	}
	return b.String()
}

func TestGapAndIncomplete(t *testing.T) {
	p := New(true)
	p.Data(proto.Out, []byte("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHo"), 0)
	p.Data(proto.In, []byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"), 0)
	p.Gap(proto.In)
	if p.Done() {
		t.Fatal("Done with Out still open")
	}
	p.Data(proto.In, []byte("67890"), 0) // after the gap: ignored
	got := exchangesOf(t, p)
	if len(got) != 2 {
		t.Fatalf("%d exchanges, want 2:\n%s", len(got), dump(got))
	}
	if r := got[0].Response; r == nil || !r.Incomplete || r.BodyLen != 5 {
		t.Errorf("response cut by the gap: %+v, want incomplete with 5 body octets", r)
	}
	if q := got[1].Request; q == nil || !q.Incomplete || q.URI != "/b" {
		t.Errorf("request still in its headers at Report: %+v, want incomplete /b", q)
	}
	if got[0].Request.Incomplete {
		t.Error("the finished first request is marked incomplete")
	}
	p.Gap(proto.Out)
	if !p.Done() {
		t.Error("not Done after gaps in both directions")
	}
}

func TestBounds(t *testing.T) {
	var out, in strings.Builder
	for i := range MaxExchanges + 8 {
		fmt.Fprintf(&out, "GET /%d HTTP/1.1\r\n\r\n", i)
		in.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	}
	p := New(true)
	deliver(p, out.String(), in.String(), nil, nil)
	got := exchangesOf(t, p)
	if len(got) != MaxExchanges || !p.Done() {
		t.Fatalf("%d exchanges, Done %v; want %d and done", len(got), p.Done(), MaxExchanges)
	}
	if last := got[MaxExchanges-1]; last.Request.URI != fmt.Sprintf("/%d", MaxExchanges-1) || last.Response.Code != "200" {
		t.Errorf("last exchange %+v / %+v", last.Request, last.Response)
	}

	// Headers past MaxHeaderBytes are not kept, but framing headers after
	// them still count.
	big := strings.Repeat("x", 1000)
	var h strings.Builder
	h.WriteString("HTTP/1.1 200 OK\r\n")
	for i := range 20 {
		fmt.Fprintf(&h, "X-Big-%d: %s\r\n", i, big)
	}
	h.WriteString("Content-Length: 3\r\n\r\nabcHTTP/1.1 204 No Content\r\n\r\n")
	p = New(true)
	deliver(p, "GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", h.String(), nil, nil)
	got = exchangesOf(t, p)
	r := got[0].Response
	kept := len("HTTP/1.1 200 OK")
	for _, f := range r.Headers {
		kept += len(f.Name) + len(f.Value) + 4
	}
	if !r.HeadersTruncated || kept > MaxHeaderBytes || len(r.Headers) >= 20 || string(r.Body) != "abc" {
		t.Errorf("big response: truncated %v, %d octets kept in %d headers, body %q; want truncated, <= %d, < 20, abc",
			r.HeadersTruncated, kept, len(r.Headers), r.Body, MaxHeaderBytes)
	}
	if len(got) != 2 || got[1].Response == nil || got[1].Response.Code != "204" {
		t.Errorf("the response after the big one was not framed right:\n%s", dump(got))
	}

	// One line longer than the whole budget.
	p = New(true)
	deliver(p, "GET /"+strings.Repeat("a", 2*MaxHeaderBytes)+" HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\n\r\n", "", nil, nil)
	got = exchangesOf(t, p)
	if len(got) != 2 || got[1].Request.URI != "/next" {
		t.Fatalf("long request line: want it and the next request:\n%s", dump(got))
	}
	q := got[0].Request
	var wantHeaders []Header // the line used the whole budget
	if !q.HeadersTruncated || len(q.URI) != MaxHeaderBytes-len("GET ") || !strings.HasPrefix(q.URI, "/aaa") || !reflect.DeepEqual(q.Headers, wantHeaders) {
		t.Errorf("long request line: truncated %v, URI of %d octets, headers %v; want truncated, %d, %v",
			q.HeadersTruncated, len(q.URI), q.Headers, MaxHeaderBytes-len("GET "), wantHeaders)
	}
}

func TestFlowBudget(t *testing.T) {
	var out, in strings.Builder
	for i := range MaxExchanges {
		fmt.Fprintf(&out, "GET /%d HTTP/1.1\r\nX-Pad: %s\r\n\r\n", i, strings.Repeat("p", 8000))
		fmt.Fprintf(&in, "HTTP/1.1 200 %s\r\nContent-Length: 0\r\n\r\n", strings.Repeat("r", 8000))
	}
	p := New(true)
	deliver(p, out.String(), in.String(), nil, nil)
	got := exchangesOf(t, p)
	if len(got) != MaxExchanges {
		t.Fatalf("%d exchanges, want %d", len(got), MaxExchanges)
	}
	total := 0
	for _, x := range got {
		for _, m := range []*Message{x.Request, x.Response} {
			total += len(m.Method) + len(m.URI) + len(m.Version) + len(m.Code) + len(m.Reason)
			for _, h := range m.Headers {
				total += len(h.Name) + len(h.Value) + 4
			}
		}
	}
	// Method, version and code are kept whatever the budget: a few octets
	// per message on top of it.
	if bound := MaxFlowHeaderBytes + 2*MaxExchanges*(32+16); total > bound {
		t.Errorf("%d header octets kept for the flow, bound %d", total, bound)
	}
	if last := got[MaxExchanges-1]; !last.Request.HeadersTruncated || last.Request.Method != "GET" || last.Response.Code != "200" {
		t.Errorf("last exchange: %+v / %+v; want its request truncated but its method and the 200 kept",
			last.Request, last.Response)
	}

	// 1xx responses kept before one final response are bounded too.
	p = New(true)
	deliver(p, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", maxInterim+3)+"HTTP/1.1 200 OK\r\n\r\n", nil, nil)
	got = exchangesOf(t, p)
	if len(got) != 1 || len(got[0].Interim) != maxInterim {
		t.Errorf("%d exchanges, %d interim; want 1, %d", len(got), len(got[0].Interim), maxInterim)
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"GET / HTTP/1.1\r\n", true},
		{"POST /x", true}, // known method, line not complete yet
		{"PROPFIND /dav HTTP/1.1\r\n", true},
		{"BREW /pot HTTP/1.1\r\n", true}, // unknown method, HTTP/1.x line
		{"BREW /pot", false},             // unknown method, no line end yet
		{"EHLO mail.example.com\r\n", false},
		{"USER anonymous\r\n", false},
		{"SSH-2.0-OpenSSH_9.6 Ubuntu\r\n", false},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
		{"get / HTTP/1.1\r\n", false},
		{" GET / HTTP/1.1\r\n", false},
		{"\x16\x03\x01\x02\x00", false},
		{"HTTP/1.1 200 OK\r\n", true}, // mid-connection capture: the server first
		{"HTTP/1.0 404", true},
		{"HTTP/1.1 2xx OK\r\n", false},
		{"HTTP/2 200\r\n", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := Detect([]byte(tt.in)); got != tt.want {
			t.Errorf("Detect(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestReset: a parser that parsed another connection and was Reset
// reports what a new parser reports, since the pipeline reuses parsers
// from flow to flow.
func TestReset(t *testing.T) {
	report := func(p *Parser, tt exchangeCase) string {
		deliver(p, tt.out, tt.in, nil, nil)
		_, v := p.Report()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, a := range exchangeCases {
		for _, b := range exchangeCases {
			p := New(!a.noRedact)
			report(p, a)
			p.Reset(!b.noRedact)
			if got, want := report(p, b), report(New(!b.noRedact), b); got != want {
				t.Errorf("%s after %s and Reset:\n%s\nnew parser:\n%s", b.name, a.name, got, want)
			}
		}
	}
}
