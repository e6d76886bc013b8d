package starttls

import (
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
	tt "github.com/flowjoy/flowjoy/userspace/proto/internal/tunneltest"
)

// FuzzStartTLS: any two streams, cut anywhere, give the tunnel the same
// bytes, and never more than the streams hold.
func FuzzStartTLS(f *testing.F) {
	f.Add([]byte("EHLO me\r\nSTARTTLS\r\n"+tt.ClientHello), []byte("220 mx\r\n250 STARTTLS\r\n220 go\r\n"+tt.ServerHello), uint16(9))
	f.Add([]byte("a1 STARTTLS\r\n"), []byte("* OK\r\na1 OK\r\n"), uint16(3))
	f.Fuzz(func(t *testing.T, out, in []byte, cut uint16) {
		run := func(co, ci int) *tt.Recorder {
			r := &tt.Recorder{}
			p := newOpened(r)
			tt.Cut(p, out, in, co, ci)
			p.Gap(proto.Out)
			p.Gap(proto.In)
			p.Done()
			p.Report()
			return r
		}
		whole := run(len(out), len(in))
		if len(whole.Got[0]) > len(out) || len(whole.Got[1]) > len(in) || whole.Opened > 1 {
			t.Fatalf("tunnel got %d/%d octets of %d/%d, opened %d times", len(whole.Got[0]), len(whole.Got[1]), len(out), len(in), whole.Opened)
		}
		// A cut inside the client's TLS changes nothing once the search
		// has its first three octets (a record found after a line end
		// in a joined segment needs them together); before the TLS, a
		// cut decides where segments start, which is the point.
		co := int(cut) % (len(out) + 1)
		if start := len(out) - len(whole.Got[0]); whole.Got[0] != "" && co >= start+3 {
			split := run(co, len(in))
			if split.Got[0] != whole.Got[0] {
				t.Fatalf("cutting the client's TLS at %d changes what the tunnel gets", co)
			}
		}
	})
}
