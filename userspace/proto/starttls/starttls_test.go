package starttls

import (
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
	tt "github.com/flowjoy/flowjoy/userspace/proto/internal/tunneltest"
)

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
		steps []tt.Step
		want  [2]string // what the tunnel gets
	}{
		{
			name: "SMTP",
			steps: []tt.Step{tt.In("220 mx ESMTP\r\n"), tt.Out("EHLO me\r\n"), tt.In("250-mx\r\n250 STARTTLS\r\n"),
				tt.Out("STARTTLS\r\n"), tt.In("220 2.0.0 Ready to start TLS\r\n"), tt.Out(tt.ClientHello), tt.In(tt.ServerHello)},
			want: [2]string{tt.ClientHello, tt.ServerHello},
		},
		{
			// The go-ahead's segment came late and reassembly delivers it
			// with the ServerHello that followed it.
			name: "IMAP, command split across segments, go-ahead and ServerHello joined",
			steps: []tt.Step{tt.In("* OK ready\r\n"), tt.Out("a001 START"), tt.Out("TLS\r\n"),
				tt.Out(tt.ClientHello), tt.In("a001 OK Begin TLS negotiation now\r\n" + tt.ServerHello)},
			want: [2]string{tt.ClientHello, tt.ServerHello},
		},
		{
			name:  "POP3 lowercase",
			steps: []tt.Step{tt.In("+OK\r\n"), tt.Out("stls\r\n"), tt.In("+OK begin\r\n"), tt.Out(tt.ClientHello), tt.In(tt.ServerHello)},
			want:  [2]string{tt.ClientHello, tt.ServerHello},
		},
		{
			name:  "FTP",
			steps: []tt.Step{tt.In("220 ftp\r\n"), tt.Out("AUTH TLS\r\n"), tt.In("234 go\r\n"), tt.Out(tt.ClientHello), tt.In(tt.ServerHello)},
			want:  [2]string{tt.ClientHello, tt.ServerHello},
		},
		{
			name: "XMPP, no line ends",
			steps: []tt.Step{tt.Out("<?xml version='1.0'?><stream:stream to='x'>"), tt.In("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"),
				tt.Out("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), tt.In("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), tt.Out(tt.ClientHello), tt.In(tt.ServerHello)},
			want: [2]string{tt.ClientHello, tt.ServerHello},
		},
		{
			name: "refused, then plaintext that looks like TLS is not taken; a later upgrade is",
			steps: []tt.Step{tt.In("220 mx\r\n"), tt.Out("STARTTLS\r\n"), tt.In("454 TLS not available\r\n"),
				tt.Out("MAIL FROM:<a@b>\r\n"), tt.Out(tt.ClientHello + "\r\n"), tt.In("250 ok\r\n" + tt.ServerHello),
				tt.Out("STARTTLS\r\n"), tt.In("220 go\r\n"), tt.Out(tt.ClientHello), tt.In(tt.ServerHello)},
			want: [2]string{tt.ClientHello, tt.ServerHello},
		},
		{
			name:  "the server's capability list is not the client's command",
			steps: []tt.Step{tt.In("220 mx\r\n"), tt.Out("EHLO me\r\n"), tt.In("250 STARTTLS\r\n" + tt.ServerHello), tt.Out(tt.ClientHello)},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Whole steps, and every step cut into single octets.
			for _, octets := range []bool{false, true} {
				r := &tt.Recorder{}
				p := newOpened(r)
				tt.Play(p, tc.steps, octets)
				if r.Got != tc.want {
					t.Errorf("octets %v: tunnel got %q, want %q", octets, r.Got, tc.want)
				}
				if wantOpen := tc.want[0] != ""; (r.Opened == 1) != wantOpen || r.Opened > 1 {
					t.Errorf("octets %v: opened %d times", octets, r.Opened)
				}
			}
		})
	}
}

func TestDoneGapAndBound(t *testing.T) {
	r := &tt.Recorder{}
	p := newOpened(r)
	p.Data(proto.In, []byte("220 mx\r\n"), 0)
	p.Data(proto.Out, []byte("STARTTLS\r\n"), 0)
	p.Data(proto.Out, []byte(tt.ClientHello), 0)
	if p.Done() {
		t.Fatal("done before the tunnel's parser")
	}
	p.Gap(proto.In)
	if !r.Gaps[proto.In] {
		t.Error("a gap in the TLS did not reach the tunnel's parser")
	}
	r.Finished = true
	if !p.Done() {
		t.Error("not done with the tunnel's parser")
	}

	// No upgrade in the first maxPlaintext octets: done.
	p = newOpened(&tt.Recorder{})
	line := []byte(strings.Repeat("x", 1000) + "\r\n")
	for i := 0; i <= maxPlaintext/len(line); i++ {
		p.Data(proto.Out, line, 0)
	}
	if !p.Done() {
		t.Error("not done after maxPlaintext octets without an upgrade")
	}
	// A gap in the plaintext ends the search too.
	p = newOpened(&tt.Recorder{})
	p.Gap(proto.Out)
	if !p.Done() {
		t.Error("not done after a gap before the upgrade")
	}
}

// newOpened is a parser that hands its tunnel to o.
func newOpened(o proto.TunnelOpener) *Parser {
	p := New()
	p.OpenTunnels(o)
	return p
}
