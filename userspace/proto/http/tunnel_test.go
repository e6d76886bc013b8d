package http

import (
	"reflect"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
	tt "github.com/flowjoy/flowjoy/userspace/proto/internal/tunneltest"
)

const (
	connectReq  = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
	connectResp = "HTTP/1.1 200 Connection established\r\n\r\n"
	// tt.ClientHello is not a request line: its first octet is no token.
)

func TestTunnel(t *testing.T) {
	wantHTTP := []Exchange{{
		Request:  req("CONNECT", "example.com:443", "HTTP/1.1", hdrs("Host", "example.com:443")),
		Response: resp("200", "Connection established", nil),
	}}
	cases := []struct {
		name      string
		steps     []tt.Step
		noOpener  bool
		decline   bool
		wantInner [2]string // by tunnel direction
		wantDone  bool
	}{
		{
			name:      "client waits for the proxy's answer",
			steps:     []tt.Step{tt.Out(connectReq), tt.In(connectResp), tt.Out(tt.ClientHello), tt.In(tt.ServerHello)},
			wantInner: [2]string{tt.ClientHello, tt.ServerHello},
			wantDone:  true,
		},
		{
			name:      "client sends its hello with the CONNECT",
			steps:     []tt.Step{tt.Out(connectReq + tt.ClientHello), tt.In(connectResp + tt.ServerHello)},
			wantInner: [2]string{tt.ClientHello, tt.ServerHello},
			wantDone:  true,
		},
		{
			name:      "capture starts with the server as initiator: directions follow the tunnel's client",
			steps:     []tt.Step{tt.In(connectReq), tt.Out(connectResp), tt.In(tt.ClientHello), tt.Out(tt.ServerHello)},
			wantInner: [2]string{tt.ClientHello, tt.ServerHello},
			wantDone:  true,
		},
		{
			name:     "the opener has no parser for the tunnel: the parse ends as without one",
			steps:    []tt.Step{tt.Out(connectReq), tt.In(connectResp), tt.Out(tt.ClientHello), tt.In(tt.ServerHello)},
			decline:  true,
			wantDone: true,
		},
		{
			name:     "no opener: the answer ends the parse",
			steps:    []tt.Step{tt.Out(connectReq), tt.In(connectResp)},
			noOpener: true,
			wantDone: true,
		},
		{
			name:     "the server speaks first (SMTP through the proxy): not opened, the parse ends",
			steps:    []tt.Step{tt.Out(connectReq), tt.In(connectResp + "220 mail ESMTP\r\n"), tt.Out("EHLO me\r\n")},
			wantDone: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The same bytes cut into single octets must give the same.
			for _, octets := range []bool{false, true} {
				r := &tt.Recorder{Decline: tc.decline, DoneAfter: len(tt.ClientHello)}
				p := New(true)
				if !tc.noOpener {
					p.OpenTunnels(r)
				}
				tt.Play(p, tc.steps, octets)
				want := wantHTTP
				if tc.steps[0].Dir == proto.In {
					want = []Exchange{wantHTTP[0]}
					want[0].requestsIn = true
				}
				if got := exchangesOf(t, p); !reflect.DeepEqual(got, want) {
					t.Errorf("octets %v: http\n%s\nwant\n%s", octets, dump(got), dump(want))
				}
				if r.Got != tc.wantInner {
					t.Errorf("octets %v: tunnel got %q, want %q", octets, r.Got, tc.wantInner)
				}
				if tc.wantInner[0] != "" && (r.Opened != 1 || r.First[0] != tt.ClientHello[0]) {
					t.Errorf("octets %v: opened %d times, first %q", octets, r.Opened, r.First)
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
	r := &tt.Recorder{}
	p := New(true)
	p.OpenTunnels(r)
	p.Data(proto.Out, []byte(connectReq+tt.ClientHello), 0)
	p.Data(proto.In, []byte(connectResp+tt.ServerHello), 0)
	if p.Done() {
		t.Fatal("done while the tunnel's parser wants more")
	}
	p.Gap(proto.In)
	if !r.Gaps[proto.In] || r.Gaps[proto.Out] {
		t.Errorf("gaps %v, want the server's only", r.Gaps)
	}
	r.Finished = true
	if !p.Done() {
		t.Error("not done once the tunnel's parser is")
	}
	p.Reset(true)
	p.Data(proto.Out, []byte(connectReq+tt.ClientHello), 0)
	if r.Got[0] != tt.ClientHello {
		t.Error("Reset kept the opener")
	}
}
