package socks

import (
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
	tt "github.com/flowjoy/flowjoy/userspace/proto/internal/tunneltest"
)

const (
	socks4Req    = "\x04\x01\x01\xbb\x5d\xb8\xd8\x77\x00"                        // ja4/socks-https-example.pcap
	socks4aReq   = "\x04\x01\x01\xbb\x00\x00\x00\x01user\x00www.example.com\x00" // 4a: the proxy resolves the name
	socks4Grant  = "\x00\x5a\x99\xb4\x0a\xb4\x9c\xf9"
	socks4Refuse = "\x00\x5b\x00\x00\x00\x00\x00\x00"
	socks5Hello  = "\x05\x02\x00\x02"
	socks5NoAuth = "\x05\x00"
	socks5Pass   = "\x05\x02"
	socks5Auth   = "\x01\x04user\x06secret"
	socks5AuthOK = "\x01\x00"
	socks5Req    = "\x05\x01\x00\x03\x0fwww.example.com\x01\xbb"
	socks5ReqV6  = "\x05\x01\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\xbb" // 2001:db8::1 port 443
	socks5OK     = "\x05\x00\x00\x01\x0a\x00\x00\x01\x04\x38"
	socks5Fail   = "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		first string
		want  bool
	}{
		{socks4Req, true},
		{socks4aReq, true},
		{socks5Hello, true},
		{"\x05\x01\x00", true},
		{"\x05\x01\x00" + socks5Req, true}, // greeting and request together
		{"\x05\x00", false},
		{"\x05\x03\x00\x02", false},                     // fewer methods than it says
		{"\x05\x01\x42", false},                         // an unassigned method
		{"\x04\x02\x01\xbb\x01\x02\x03\x04\x00", false}, // BIND
		{"GET / HTTP/1.1\r\n", false},
		{tt.ClientHello, false},
	} {
		if got := Detect([]byte(tc.first)); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.first, got, tc.want)
		}
	}
}

func TestTunnel(t *testing.T) {
	cases := []struct {
		name  string
		steps []tt.Step
		want  [2]string
		done  bool // the parse ended without a tunnel
	}{
		{name: "SOCKS 4", steps: []tt.Step{tt.Out(socks4Req), tt.In(socks4Grant), tt.Out(tt.ClientHello), tt.In(tt.ServerHello)},
			want: [2]string{tt.ClientHello, tt.ServerHello}},
		{name: "SOCKS 4a", steps: []tt.Step{tt.Out(socks4aReq), tt.In(socks4Grant), tt.Out(tt.ClientHello), tt.In(tt.ServerHello)},
			want: [2]string{tt.ClientHello, tt.ServerHello}},
		{name: "SOCKS 4 refused", steps: []tt.Step{tt.Out(socks4Req), tt.In(socks4Refuse)}, done: true},
		{name: "SOCKS 5, no authentication, a name", steps: []tt.Step{tt.Out(socks5Hello), tt.In(socks5NoAuth), tt.Out(socks5Req),
			tt.In(socks5OK), tt.Out(tt.ClientHello), tt.In(tt.ServerHello)},
			want: [2]string{tt.ClientHello, tt.ServerHello}},
		{name: "SOCKS 5, username and password, IPv6", steps: []tt.Step{tt.Out(socks5Hello), tt.In(socks5Pass), tt.Out(socks5Auth),
			tt.In(socks5AuthOK), tt.Out(socks5ReqV6), tt.In(socks5OK), tt.Out(tt.ClientHello), tt.In(tt.ServerHello)},
			want: [2]string{tt.ClientHello, tt.ServerHello}},
		{name: "SOCKS 5, the client does not wait", steps: []tt.Step{tt.Out(socks5Hello + socks5Req + tt.ClientHello),
			tt.In(socks5NoAuth + socks5OK + tt.ServerHello)},
			want: [2]string{tt.ClientHello, tt.ServerHello}},
		{name: "SOCKS 5 refused", steps: []tt.Step{tt.Out(socks5Hello), tt.In(socks5NoAuth), tt.Out(socks5Req), tt.In(socks5Fail)}, done: true},
		{name: "SOCKS 5, wrong password", steps: []tt.Step{tt.Out(socks5Hello), tt.In(socks5Pass), tt.Out(socks5Auth), tt.In("\x01\x01")}, done: true},
		{name: "SOCKS 5, no acceptable method", steps: []tt.Step{tt.Out(socks5Hello), tt.In("\x05\xff")}, done: true},
		{name: "SOCKS 5 UDP ASSOCIATE", steps: []tt.Step{tt.Out(socks5Hello), tt.In(socks5NoAuth), tt.Out("\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")}, done: true},
		{name: "not TLS in the tunnel", steps: []tt.Step{tt.Out(socks4Req), tt.In(socks4Grant), tt.Out("SSH-2.0-x\r\n"), tt.In("SSH-2.0-y\r\n")}, done: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, octets := range []bool{false, true} {
				r := &tt.Recorder{}
				p := newOpened(r)
				tt.Play(p, tc.steps, octets)
				if r.Got != tc.want {
					t.Errorf("octets %v: tunnel got %q, want %q", octets, r.Got, tc.want)
				}
				if tc.done != p.Done() {
					t.Errorf("octets %v: Done %v, want %v", octets, p.Done(), tc.done)
				}
			}
		})
	}
}

func TestGap(t *testing.T) {
	r := &tt.Recorder{}
	p := newOpened(r)
	p.Data(proto.Out, []byte(socks4Req), 0)
	p.Data(proto.In, []byte(socks4Grant), 0)
	p.Data(proto.Out, []byte(tt.ClientHello), 0)
	p.Gap(proto.In)
	if !r.Gaps[proto.In] {
		t.Error("a gap in the tunnel did not reach its parser")
	}
	p = newOpened(r)
	p.Data(proto.Out, []byte(socks5Hello), 0)
	p.Gap(proto.In)
	if !p.Done() {
		t.Error("not done after a gap in the handshake")
	}
}

// newOpened is a parser that hands its tunnel to o.
func newOpened(o proto.TunnelOpener) *Parser {
	p := New()
	p.OpenTunnels(o)
	return p
}
