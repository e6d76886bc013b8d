package http

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto/internal/pcaptest"
)

// truthFile is the part of a /work/shared/pcaps/truth JSON this test reads
// (testdata/truth holds copies trimmed to it; see testdata/SOURCES).
type truthFile struct {
	Flows []struct {
		pcaptest.TruthFlow
		HTTP []truthHTTP
	}
}

// truthHTTP is tshark 4.0's dissection of the HTTP messages that one frame
// completed; a frame may complete several (pipelining), hence the lists.
type truthHTTP struct {
	Frame       int
	Dir         string
	Method      []string `json:"request.method"`
	URI         []string `json:"request.uri"`
	ReqVersion  []string `json:"request.version"`
	Host        []string
	UserAgent   []string `json:"user_agent"`
	RespVersion []string `json:"response.version"`
	Code        []string `json:"response.code"`
	Phrase      []string `json:"response.phrase"`
}

// One message as both sides describe it.
type httpFacts struct {
	Request              bool
	Method, URI, Version string
	Host, UserAgent      *string // nil when absent
	Code, Phrase         string
	// tshark's lists cover all the messages a frame completed; host,
	// user-agent and phrase can be attributed only when there was one.
	HeadersKnown, PhraseKnown bool
}

// Known, explained differences between tshark and this parser, by
// capture and initiator port. Each says what differs and why we are
// right, or not wrong, there, and checks what we report instead.
var truthExceptions = map[string]struct {
	why   string
	check func(t *testing.T, ours []Exchange)
}{
	"mercury/pcaps/http_auth.pcap:54321": {
		"the capture ends 3 octets short of the 200's 43-octet body: tshark, waiting for the rest, never " +
			"reports the response; we report it, marked incomplete",
		func(t *testing.T, x []Exchange) {
			want(t, len(x) == 2 && x[0].Response.Code == "401" && x[1].Response.Code == "200" &&
				x[1].Response.Incomplete && x[1].Response.BodyLen == 40, "401, then 200 incomplete with 40 body octets")
		},
	},
	"zeek/http/content-range-gap.pcap:42459": {
		"the 206's body has a hole; tshark reports no response, we report its status and headers, incomplete",
		func(t *testing.T, x []Exchange) {
			want(t, len(x) == 1 && x[0].Response.Code == "206" && x[0].Response.Incomplete, "206 incomplete")
		},
	},
	"zeek/http/entity_gap.pcap:59856": {
		"the 200's body has a hole; tshark reports no response, we report its status and headers, incomplete",
		func(t *testing.T, x []Exchange) {
			want(t, len(x) == 1 && x[0].Response.Code == "200" && x[0].Response.Incomplete && x[0].Response.BodyLen < 4705,
				"200 incomplete, short of its 4705 octets")
		},
	},
	"zeek/http/entity_gap2.pcap:59856": {
		"as entity_gap.pcap, with the hole elsewhere",
		func(t *testing.T, x []Exchange) {
			want(t, len(x) == 1 && x[0].Response.Code == "200" && x[0].Response.Incomplete && x[0].Response.BodyLen < 4705,
				"200 incomplete, short of its 4705 octets")
		},
	},
	"zeek/http/zero-length-bodies-with-drops.pcap:51534": {
		"packets of the request stream were dropped; tshark resynchronises on the next request line, but the " +
			"pipeline's contract is that nothing of a direction follows a gap, so we stop there",
		func(t *testing.T, x []Exchange) {
			ok := len(x) == 3
			for i, e := range x {
				ok = ok && e.Request.Method == "GET" && !e.Request.Incomplete && e.Response != nil &&
					e.Response.Code == []string{"302", "200", "302"}[i]
			}
			want(t, ok, "tshark's first three exchanges (302, 200, 302), complete, before the gaps")
		},
	},
	"zeek/http/connect-with-smtp.pcap:3378": {
		`"CONNECT mailin03.sul.t-online.de:25 / HTTP/1.0" has a space in its target; tshark splits at the ` +
			`second space and reports the version "/ HTTP/1.0", we take the last word as the version`,
		func(t *testing.T, x []Exchange) {
			r := x[0].Request
			want(t, r.Method == "CONNECT" && r.URI == "mailin03.sul.t-online.de:25 /" && r.Version == "HTTP/1.0",
				"target \"mailin03.sul.t-online.de:25 /\", version HTTP/1.0")
			want(t, x[0].Response.Code == "200", "the tunnel's 200")
		},
	},
	"zeek/http/no-uri.pcap:59856": {
		`"GET HTTP/1.1" has no target; tshark reports the target "HTTP/1.1" and no version, we an empty target ` +
			`and version HTTP/1.1 (headers and response agree)`,
		func(t *testing.T, x []Exchange) {
			r := x[0].Request
			want(t, len(x) == 1 && r.Method == "GET" && r.URI == "" && r.Version == "HTTP/1.1" &&
				*header(r, "Host") == "bro.org" && x[0].Response.Code == "200" && !x[0].Response.Incomplete,
				"GET, empty target, HTTP/1.1, Host bro.org, complete 200")
		},
	},
	"zeek/http/query-method.pcap:54321": {
		"tshark 4.0 does not know the QUERY method (draft-ietf-httpbis-safe-method-w-body) and dissects nothing",
		checkQuery,
	},
	"zeek/http/query-method-non-standard-port.pcap:54321": {
		"as query-method.pcap",
		checkQuery,
	},
}

func checkQuery(t *testing.T, x []Exchange) {
	want(t, len(x) == 1 && x[0].Request.Method == "QUERY" && x[0].Request.URI == "/users" &&
		x[0].Request.BodyLen == 57 && x[0].Response.Code == "200" && x[0].Response.BodyLen == 58,
		"QUERY /users with its 57-octet body, 200 with 58")
}

func want(t *testing.T, ok bool, what string) {
	t.Helper()
	if !ok {
		t.Errorf("want %s", what)
	}
}

func TestAgainstTshark(t *testing.T) {
	compared := 0
	unused := map[string]bool{}
	for k := range truthExceptions {
		unused[k] = true
	}
	pcaptest.EachTruth(t, "testdata/truth", "testdata/captures", func(t *testing.T, rel string, truth *truthFile, flows []*pcaptest.Flow) {
		for _, tflow := range truth.Flows {
			if tflow.Proto != "tcp" {
				continue // HTTP over UDP is SSDP and friends: not this parser's
			}
			src, dst := tflow.Endpoints()
			ctx := fmt.Sprintf("%s:%d", rel, tflow.Sport)
			f := pcaptest.Find(flows, "tcp", src, dst)
			if f == nil {
				t.Errorf("%s: flow %v -> %v not in capture", ctx, src, dst)
				continue
			}
			if e, ok := truthExceptions[ctx]; ok {
				t.Logf("%s: not compared with tshark: %s", ctx, e.why)
				e.check(t, runFlow(f))
				delete(unused, ctx)
				continue
			}
			compared += compareFlow(t, ctx, tflow.HTTP, runFlow(f))
		}
	})
	for k := range unused {
		t.Errorf("exception %s matched no flow", k)
	}
	t.Logf("%d HTTP messages compared with tshark", compared)
	if compared < 300 {
		t.Errorf("only %d messages compared; the truth set should give several hundred", compared)
	}
}

// runFlow feeds a flow to a parser as the pipeline would.
func runFlow(f *pcaptest.Flow) []Exchange {
	p := New(false)
	f.Replay(p)
	_, v := p.Report()
	if v == nil {
		return nil
	}
	return v.(Exchanges)
}

// compareFlow compares requests with requests and responses with
// responses, each side in wire order, and returns how many were compared.
func compareFlow(t *testing.T, ctx string, truth []truthHTTP, ours []Exchange) int {
	t.Helper()
	var tReq, tResp, oReq, oResp []httpFacts
	for _, e := range truth {
		one := len(e.Method) == 1 || len(e.Code) == 1 // lists attributable
		for i := range e.Method {
			f := httpFacts{Request: true, Method: e.Method[i], URI: at(e.URI, i), Version: at(e.ReqVersion, i), HeadersKnown: one}
			if one {
				f.Host, f.UserAgent = first(e.Host), first(e.UserAgent)
			}
			tReq = append(tReq, f)
		}
		for i := range e.Code {
			f := httpFacts{Version: at(e.RespVersion, i), Code: e.Code[i]}
			if one {
				f.Phrase, f.PhraseKnown = at(e.Phrase, i), true
			}
			tResp = append(tResp, f)
		}
	}
	for _, x := range ours {
		// A request that is only an error (its line was not HTTP) is
		// nothing tshark would call a request.
		if m := x.Request; m != nil && (m.Err == "" || m.Method != "") {
			oReq = append(oReq, httpFacts{Request: true, Method: m.Method, URI: m.URI, Version: m.Version,
				Host: header(m, "Host"), UserAgent: header(m, "User-Agent")})
		}
		for _, m := range append(x.Interim, x.Response) {
			if m != nil && m.Code != "" {
				oResp = append(oResp, httpFacts{Version: m.Version, Code: m.Code, Phrase: m.Reason})
			}
		}
	}
	n := 0
	for i, w := range tReq {
		if i >= len(oReq) {
			t.Errorf("%s: tshark request %d %s %s: we have %d requests", ctx, i+1, w.Method, w.URI, len(oReq))
			break
		}
		g := oReq[i]
		if !w.HeadersKnown {
			g.Host, g.UserAgent = nil, nil
		}
		if !reflect.DeepEqual(show(g), show(w)) {
			t.Errorf("%s: request %d:\n got %s\nwant %s", ctx, i+1, show(g), show(w))
		}
		n++
	}
	for i, w := range tResp {
		if i >= len(oResp) {
			t.Errorf("%s: tshark response %d (%s): we have %d responses", ctx, i+1, w.Code, len(oResp))
			break
		}
		g := oResp[i]
		if !w.PhraseKnown {
			g.Phrase = ""
		}
		if !reflect.DeepEqual(show(g), show(w)) {
			t.Errorf("%s: response %d:\n got %s\nwant %s", ctx, i+1, show(g), show(w))
		}
		n++
	}
	if len(oReq) > len(tReq) {
		t.Errorf("%s: we have %d requests, tshark %d; first extra: %s", ctx, len(oReq), len(tReq), show(oReq[len(tReq)]))
	}
	if len(oResp) > len(tResp) {
		t.Errorf("%s: we have %d responses, tshark %d; first extra: %s", ctx, len(oResp), len(tResp), show(oResp[len(tResp)]))
	}
	return n
}

func show(f httpFacts) string {
	s := func(p *string) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%q", *p)
	}
	if f.Request {
		return fmt.Sprintf("%q %q %q host=%s ua=%s", f.Method, f.URI, f.Version, s(f.Host), s(f.UserAgent))
	}
	return fmt.Sprintf("%q %q %q", f.Version, f.Code, f.Phrase)
}

func header(m *Message, name string) *string {
	for _, h := range m.Headers {
		if strings.EqualFold(strings.TrimSpace(h.Name), name) {
			return &h.Value
		}
	}
	return nil
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

func first(s []string) *string {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}
