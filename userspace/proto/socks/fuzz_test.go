package socks

import (
	"testing"

	tt "github.com/flowjoy/flowjoy/userspace/proto/internal/tunneltest"
)

// FuzzSOCKS: any two streams, cut anywhere, give the tunnel the same
// bytes, never more than the streams hold.
func FuzzSOCKS(f *testing.F) {
	f.Add([]byte(socks4Req+tt.ClientHello), []byte(socks4Grant+tt.ServerHello), uint16(9))
	f.Add([]byte(socks4aReq+tt.ClientHello), []byte(socks4Grant+tt.ServerHello), uint16(20))
	f.Add([]byte(socks5Hello+socks5Auth+socks5Req+tt.ClientHello), []byte(socks5Pass+socks5AuthOK+socks5OK+tt.ServerHello), uint16(7))
	f.Fuzz(func(t *testing.T, out, in []byte, cut uint16) {
		run := func(co, ci int) (*tt.Recorder, bool) {
			r := &tt.Recorder{}
			p := newOpened(r)
			tt.Cut(p, out, in, co, ci)
			done := p.Done()
			p.Report()
			return r, done
		}
		whole, wdone := run(len(out), len(in))
		if len(whole.Got[0]) > len(out) || len(whole.Got[1]) > len(in) || whole.Opened > 1 {
			t.Fatalf("tunnel got %d/%d octets of %d/%d, opened %d times", len(whole.Got[0]), len(whole.Got[1]), len(out), len(in), whole.Opened)
		}
		co, ci := int(cut)%(len(out)+1), int(cut)%(len(in)+1)
		split, sdone := run(co, ci)
		if split.Got != whole.Got || sdone != wdone {
			t.Fatalf("cutting at %d/%d changes the result: %q %v, whole %q %v", co, ci, split.Got, sdone, whole.Got, wdone)
		}
	})
}
