package http

import (
	"reflect"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// tunnelRecorder is a TunnelOpener whose parser records the bytes of each
// direction and is done once it has the given number of bytes in both.
type tunnelRecorder struct {
	accept bool
	opened int
	first  string
	got    [2]string
	gaps   [2]bool
	want   int
}

func (r *tunnelRecorder) OpenTunnel(first []byte) proto.Stream {
	r.opened++
	r.first = string(first)
	if !r.accept {
		return nil
	}
	return r
}

func (r *tunnelRecorder) Data(dir proto.Dir, b []byte, _ int64) { r.got[dir] += string(b) }
func (r *tunnelRecorder) Gap(dir proto.Dir)                     { r.gaps[dir] = true }
func (r *tunnelRecorder) Done() bool {
	return r.want > 0 && len(r.got[0]) >= r.want && len(r.got[1]) >= r.want
}
func (r *tunnelRecorder) Report() (string, any) { return "inner", nil }

const (
	connectReq  = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
	connectResp = "HTTP/1.1 200 Connection established\r\n\r\n"
	clientHello = "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00" // not a request line: its first octet is no token
	serverHello = "\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00"
)

type step struct {
	dir  proto.Dir
	data string
}

func TestTunnel(t *testing.T) {
	wantHTTP := []Exchange{{
		Request:  req("CONNECT", "example.com:443", "HTTP/1.1", hdrs("Host", "example.com:443")),
		Response: resp("200", "Connection established", nil),
	}}
	cases := []struct {
		name      string
		steps     []step
		noOpener  bool
		accept    bool
		wantInner [2]string // by tunnel direction
		wantDone  bool
	}{
		{
			name:      "client waits for the proxy's answer",
			steps:     []step{{proto.Out, connectReq}, {proto.In, connectResp}, {proto.Out, clientHello}, {proto.In, serverHello}},
			accept:    true,
			wantInner: [2]string{clientHello, serverHello},
			wantDone:  true,
		},
		{
			name:      "client sends its hello with the CONNECT",
			steps:     []step{{proto.Out, connectReq + clientHello}, {proto.In, connectResp + serverHello}},
			accept:    true,
			wantInner: [2]string{clientHello, serverHello},
			wantDone:  true,
		},
		{
			name:      "capture starts with the server as initiator: directions follow the tunnel's client",
			steps:     []step{{proto.In, connectReq}, {proto.Out, connectResp}, {proto.In, clientHello}, {proto.Out, serverHello}},
			accept:    true,
			wantInner: [2]string{clientHello, serverHello},
			wantDone:  true,
		},
		{
			name:     "the opener has no parser for the tunnel: the parse ends as without one",
			steps:    []step{{proto.Out, connectReq}, {proto.In, connectResp}, {proto.Out, clientHello}, {proto.In, serverHello}},
			wantDone: true,
		},
		{
			name:     "no opener: the answer ends the parse",
			steps:    []step{{proto.Out, connectReq}, {proto.In, connectResp}},
			noOpener: true,
			wantDone: true,
		},
		{
			name:     "the server speaks first (SMTP through the proxy): not opened, the parse ends",
			steps:    []step{{proto.Out, connectReq}, {proto.In, connectResp + "220 mail ESMTP\r\n"}, {proto.Out, "EHLO me\r\n"}},
			accept:   true,
			wantDone: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The same bytes cut into single octets must give the same.
			for _, octets := range []bool{false, true} {
				r := &tunnelRecorder{accept: tc.accept, want: len(clientHello)}
				p := New(true)
				if !tc.noOpener {
					p.OpenTunnels(r)
				}
				for _, s := range tc.steps {
					if !octets {
						p.Data(s.dir, []byte(s.data), 0)
						continue
					}
					for i := range len(s.data) {
						p.Data(s.dir, []byte(s.data[i:i+1]), 0)
					}
				}
				want := wantHTTP
				if tc.steps[0].dir == proto.In {
					want = []Exchange{wantHTTP[0]}
					want[0].requestsIn = true
				}
				if got := exchangesOf(t, p); !reflect.DeepEqual(got, want) {
					t.Errorf("octets %v: http\n%s\nwant\n%s", octets, dump(got), dump(want))
				}
				if r.got != tc.wantInner {
					t.Errorf("octets %v: tunnel got %q, want %q", octets, r.got, tc.wantInner)
				}
				if tc.accept && tc.wantInner[0] != "" && (r.opened != 1 || r.first[0] != clientHello[0]) {
					t.Errorf("octets %v: opened %d times, first %q", octets, r.opened, r.first)
				}
				if p.Done() != tc.wantDone {
					t.Errorf("octets %v: Done %v, want %v", octets, p.Done(), tc.wantDone)
				}
			}
		})
	}
}

// The parser is done only once the tunnel's parser is; a gap in the
// tunnel reaches it with the tunnel's direction.
func TestTunnelDoneAndGap(t *testing.T) {
	r := &tunnelRecorder{accept: true, want: 100}
	p := New(true)
	p.OpenTunnels(r)
	p.Data(proto.Out, []byte(connectReq+clientHello), 0)
	p.Data(proto.In, []byte(connectResp+serverHello), 0)
	if p.Done() {
		t.Fatal("done while the tunnel's parser wants more")
	}
	p.Gap(proto.In)
	if !r.gaps[proto.In] || r.gaps[proto.Out] {
		t.Errorf("gaps %v, want the server's only", r.gaps)
	}
	r.want = 1
	if !p.Done() {
		t.Error("not done once the tunnel's parser is")
	}
	p.Reset(true)
	p.Data(proto.Out, []byte(connectReq+clientHello), 0)
	if r.got[0] != clientHello {
		t.Error("Reset kept the opener")
	}
}
