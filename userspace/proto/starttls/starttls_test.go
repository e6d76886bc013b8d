package starttls

import (
	"strings"
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
)

type step struct {
	dir  proto.Dir
	data string
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		dir   proto.Dir
		first string
		want  bool
	}{
		{proto.In, "220 mx.example.com ESMTP\r\n", true},
		{proto.In, "220-mx.example.com ESMTP\r\n", true},
		{proto.In, "+OK POP3 ready\r\n", true},
		{proto.In, "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n", true},
		{proto.In, "* PREAUTH ready\r\n", true},
		{proto.Out, "<?xml version='1.0'?><stream:stream to='example.com'>", true},
		{proto.Out, "<stream:stream to='example.com'>", true},
		{proto.Out, "220 not from the server\r\n", false},
		{proto.In, "SSH-2.0-OpenSSH_9.6\r\n", false},
		{proto.In, "HTTP/1.1 200 OK\r\n", false},
		{proto.In, "22", false},
	} {
		if got := Detect(tc.dir, []byte(tc.first)); got != tc.want {
			t.Errorf("Detect(%d, %q) = %v, want %v", tc.dir, tc.first, got, tc.want)
		}
	}
}

func TestUpgrade(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
		want  [2]string // what the tunnel gets
	}{
		{
			name: "SMTP",
			steps: []step{{proto.In, "220 mx ESMTP\r\n"}, {proto.Out, "EHLO me\r\n"}, {proto.In, "250-mx\r\n250 STARTTLS\r\n"},
				{proto.Out, "STARTTLS\r\n"}, {proto.In, "220 2.0.0 Ready to start TLS\r\n"}, {proto.Out, clientHello}, {proto.In, serverHello}},
			want: [2]string{clientHello, serverHello},
		},
		{
			// The go-ahead's segment came late and reassembly delivers it
			// with the ServerHello that followed it.
			name: "IMAP, command split across segments, go-ahead and ServerHello joined",
			steps: []step{{proto.In, "* OK ready\r\n"}, {proto.Out, "a001 START"}, {proto.Out, "TLS\r\n"},
				{proto.Out, clientHello}, {proto.In, "a001 OK Begin TLS negotiation now\r\n" + serverHello}},
			want: [2]string{clientHello, serverHello},
		},
		{
			name:  "POP3 lowercase",
			steps: []step{{proto.In, "+OK\r\n"}, {proto.Out, "stls\r\n"}, {proto.In, "+OK begin\r\n"}, {proto.Out, clientHello}, {proto.In, serverHello}},
			want:  [2]string{clientHello, serverHello},
		},
		{
			name:  "FTP",
			steps: []step{{proto.In, "220 ftp\r\n"}, {proto.Out, "AUTH TLS\r\n"}, {proto.In, "234 go\r\n"}, {proto.Out, clientHello}, {proto.In, serverHello}},
			want:  [2]string{clientHello, serverHello},
		},
		{
			name: "XMPP, no line ends",
			steps: []step{{proto.Out, "<?xml version='1.0'?><stream:stream to='x'>"}, {proto.In, "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"},
				{proto.Out, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"}, {proto.In, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"}, {proto.Out, clientHello}, {proto.In, serverHello}},
			want: [2]string{clientHello, serverHello},
		},
		{
			name: "refused, then plaintext that looks like TLS is not taken; a later upgrade is",
			steps: []step{{proto.In, "220 mx\r\n"}, {proto.Out, "STARTTLS\r\n"}, {proto.In, "454 TLS not available\r\n"},
				{proto.Out, "MAIL FROM:<a@b>\r\n"}, {proto.Out, clientHello + "\r\n"}, {proto.In, "250 ok\r\n" + serverHello},
				{proto.Out, "STARTTLS\r\n"}, {proto.In, "220 go\r\n"}, {proto.Out, clientHello}, {proto.In, serverHello}},
			want: [2]string{clientHello, serverHello},
		},
		{
			name:  "the server's capability list is not the client's command",
			steps: []step{{proto.In, "220 mx\r\n"}, {proto.Out, "EHLO me\r\n"}, {proto.In, "250 STARTTLS\r\n" + serverHello}, {proto.Out, clientHello}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Whole steps, and every step cut into single octets.
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
				if wantOpen := tc.want[0] != ""; (r.opened == 1) != wantOpen || r.opened > 1 {
					t.Errorf("octets %v: opened %d times", octets, r.opened)
				}
			}
		})
	}
}

func TestDoneGapAndBound(t *testing.T) {
	r := &recorder{}
	p := New(r)
	p.Data(proto.In, []byte("220 mx\r\n"), 0)
	p.Data(proto.Out, []byte("STARTTLS\r\n"), 0)
	p.Data(proto.Out, []byte(clientHello), 0)
	if p.Done() {
		t.Fatal("done before the tunnel's parser")
	}
	p.Gap(proto.In)
	if !r.gaps[proto.In] {
		t.Error("a gap in the TLS did not reach the tunnel's parser")
	}
	r.done = true
	if !p.Done() {
		t.Error("not done with the tunnel's parser")
	}

	// No upgrade in the first maxPlaintext octets: done.
	p = New(&recorder{})
	line := []byte(strings.Repeat("x", 1000) + "\r\n")
	for i := 0; i <= maxPlaintext/len(line); i++ {
		p.Data(proto.Out, line, 0)
	}
	if !p.Done() {
		t.Error("not done after maxPlaintext octets without an upgrade")
	}
	// A gap in the plaintext ends the search too.
	p = New(&recorder{})
	p.Gap(proto.Out)
	if !p.Done() {
		t.Error("not done after a gap before the upgrade")
	}
}
