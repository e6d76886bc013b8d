package socks

import (
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// recorder is a TunnelOpener that takes anything starting with a TLS
// handshake record and records what the tunnel gets by direction.
type recorder struct {
	opened int
	got    [2]string
	gaps   [2]bool
	done   bool
}

func (r *recorder) OpenTunnel(first []byte) proto.Stream {
	if len(first) == 0 || first[0] != 0x16 {
		return nil
	}
	r.opened++
	return r
}
func (r *recorder) Data(dir proto.Dir, b []byte, _ int64) { r.got[dir] += string(b) }
func (r *recorder) Gap(dir proto.Dir)                     { r.gaps[dir] = true }
func (r *recorder) Done() bool                            { return r.done }
func (r *recorder) Report() (string, any)                 { return "tls", nil }

const (
	clientHello = "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"
	serverHello = "\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00"

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

type step2 struct {
	dir  proto.Dir
	data string
}

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
		{clientHello, false},
	} {
		if got := Detect([]byte(tc.first)); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.first, got, tc.want)
		}
	}
}

func TestTunnel(t *testing.T) {
	cases := []struct {
		name  string
		steps []step2
		want  [2]string
		done  bool // the parse ended without a tunnel
	}{
		{name: "SOCKS 4", steps: []step2{{proto.Out, socks4Req}, {proto.In, socks4Grant}, {proto.Out, clientHello}, {proto.In, serverHello}},
			want: [2]string{clientHello, serverHello}},
		{name: "SOCKS 4a", steps: []step2{{proto.Out, socks4aReq}, {proto.In, socks4Grant}, {proto.Out, clientHello}, {proto.In, serverHello}},
			want: [2]string{clientHello, serverHello}},
		{name: "SOCKS 4 refused", steps: []step2{{proto.Out, socks4Req}, {proto.In, socks4Refuse}}, done: true},
		{name: "SOCKS 5, no authentication, a name", steps: []step2{{proto.Out, socks5Hello}, {proto.In, socks5NoAuth}, {proto.Out, socks5Req},
			{proto.In, socks5OK}, {proto.Out, clientHello}, {proto.In, serverHello}},
			want: [2]string{clientHello, serverHello}},
		{name: "SOCKS 5, username and password, IPv6", steps: []step2{{proto.Out, socks5Hello}, {proto.In, socks5Pass}, {proto.Out, socks5Auth},
			{proto.In, socks5AuthOK}, {proto.Out, socks5ReqV6}, {proto.In, socks5OK}, {proto.Out, clientHello}, {proto.In, serverHello}},
			want: [2]string{clientHello, serverHello}},
		{name: "SOCKS 5, the client does not wait", steps: []step2{{proto.Out, socks5Hello + socks5Req + clientHello},
			{proto.In, socks5NoAuth + socks5OK + serverHello}},
			want: [2]string{clientHello, serverHello}},
		{name: "SOCKS 5 refused", steps: []step2{{proto.Out, socks5Hello}, {proto.In, socks5NoAuth}, {proto.Out, socks5Req}, {proto.In, socks5Fail}}, done: true},
		{name: "SOCKS 5, wrong password", steps: []step2{{proto.Out, socks5Hello}, {proto.In, socks5Pass}, {proto.Out, socks5Auth}, {proto.In, "\x01\x01"}}, done: true},
		{name: "SOCKS 5, no acceptable method", steps: []step2{{proto.Out, socks5Hello}, {proto.In, "\x05\xff"}}, done: true},
		{name: "SOCKS 5 UDP ASSOCIATE", steps: []step2{{proto.Out, socks5Hello}, {proto.In, socks5NoAuth}, {proto.Out, "\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00"}}, done: true},
		{name: "not TLS in the tunnel", steps: []step2{{proto.Out, socks4Req}, {proto.In, socks4Grant}, {proto.Out, "SSH-2.0-x\r\n"}, {proto.In, "SSH-2.0-y\r\n"}}, done: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, octets := range []bool{false, true} {
				r := &recorder{}
				p := New(r)
				for _, s := range tc.steps {
					if !octets {
						p.Data(s.dir, []byte(s.data), 0)
						continue
					}
					for i := range len(s.data) {
						p.Data(s.dir, []byte(s.data[i:i+1]), 0)
					}
				}
				if r.got != tc.want {
					t.Errorf("octets %v: tunnel got %q, want %q", octets, r.got, tc.want)
				}
				if tc.done != p.Done() {
					t.Errorf("octets %v: Done %v, want %v", octets, p.Done(), tc.done)
				}
			}
		})
	}
}

func TestGap(t *testing.T) {
	r := &recorder{}
	p := New(r)
	p.Data(proto.Out, []byte(socks4Req), 0)
	p.Data(proto.In, []byte(socks4Grant), 0)
	p.Data(proto.Out, []byte(clientHello), 0)
	p.Gap(proto.In)
	if !r.gaps[proto.In] {
		t.Error("a gap in the tunnel did not reach its parser")
	}
	p = New(r)
	p.Data(proto.Out, []byte(socks5Hello), 0)
	p.Gap(proto.In)
	if !p.Done() {
		t.Error("not done after a gap in the handshake")
	}
}
