package socks

import (
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// FuzzSOCKS: any two streams, cut anywhere, give the tunnel the same
// bytes, never more than the streams hold.
func FuzzSOCKS(f *testing.F) {
	f.Add([]byte(socks4Req+clientHello), []byte(socks4Grant+serverHello), uint16(9))
	f.Add([]byte(socks4aReq+clientHello), []byte(socks4Grant+serverHello), uint16(20))
	f.Add([]byte(socks5Hello+socks5Auth+socks5Req+clientHello), []byte(socks5Pass+socks5AuthOK+socks5OK+serverHello), uint16(7))
	f.Fuzz(func(t *testing.T, out, in []byte, cut uint16) {
		run := func(co, ci int) (*recorder, bool) {
			r := &recorder{}
			p := New(r)
			p.Data(proto.Out, out[:co], 0)
			p.Data(proto.Out, out[co:], 0)
			p.Data(proto.In, in[:ci], 0)
			p.Data(proto.In, in[ci:], 0)
			done := p.Done()
			p.Report()
			return r, done
		}
		whole, wdone := run(len(out), len(in))
		if len(whole.got[0]) > len(out) || len(whole.got[1]) > len(in) || whole.opened > 1 {
			t.Fatalf("tunnel got %d/%d octets of %d/%d, opened %d times", len(whole.got[0]), len(whole.got[1]), len(out), len(in), whole.opened)
		}
		co, ci := int(cut)%(len(out)+1), int(cut)%(len(in)+1)
		split, sdone := run(co, ci)
		if split.got != whole.got || sdone != wdone {
			t.Fatalf("cutting at %d/%d changes the result: %q %v, whole %q %v", co, ci, split.got, sdone, whole.got, wdone)
		}
	})
}
