package ebpf

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// udpPair is a UDP client in one namespace and an echo server in another.
type udpPair struct {
	tb             *testbed
	srv, cl        *net.UDPConn
	client, server netip.AddrPort
	reply          atomic.Int64 // size of the server's answers; 0: the request's
}

// newUDPPair starts an echo server in namespace `to` at addr and a client
// in namespace `from`; both close when the test ends.
func (tb *testbed) newUDPPair(from, to netns.NsHandle, addr netip.Addr) *udpPair {
	tb.t.Helper()
	p := &udpPair{tb: tb}
	tb.in(to, func() (err error) {
		p.srv, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		return err
	})
	tb.t.Cleanup(func() { p.srv.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			m, peer, err := p.srv.ReadFrom(buf)
			if err != nil {
				return
			}
			out := buf[:m]
			if r := int(p.reply.Load()); r > 0 {
				out = bytes.Repeat([]byte{'x'}, r)
			}
			p.srv.WriteTo(out, peer)
		}
	}()
	p.server = addrPort(p.srv.LocalAddr())
	tb.in(from, func() (err error) {
		p.cl, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.server))
		return err
	})
	tb.t.Cleanup(func() { p.cl.Close() })
	p.client = addrPort(p.cl.LocalAddr())
	return p
}

// exchange sends n datagrams of size bytes and waits for each echo, so
// that none is dropped and the kernel sees them in a known order.
func (p *udpPair) exchange(n, size int) {
	p.tb.t.Helper()
	p.exchangeReply(n, size, size)
}

// exchangeReply sends n datagrams of size bytes and waits for each answer
// of reply bytes, in turn.
func (p *udpPair) exchangeReply(n, size, reply int) {
	p.tb.t.Helper()
	p.reply.Store(int64(reply))
	msg := bytes.Repeat([]byte{'x'}, size)
	buf := make([]byte, 65536)
	for i := range n {
		if _, err := p.cl.Write(msg); err != nil {
			p.tb.t.Fatalf("datagram %d: %v", i, err)
		}
		p.cl.SetReadDeadline(time.Now().Add(3 * time.Second))
		if m, err := p.cl.Read(buf); err != nil || m != reply {
			p.tb.t.Fatalf("answer to datagram %d: %d bytes, want %d; %v", i, m, reply, err)
		}
	}
}

// udpPingPong exchanges n datagrams on a new pair and returns its ends.
func (tb *testbed) udpPingPong(from, to netns.NsHandle, addr netip.Addr, n, size int) (client, server netip.AddrPort) {
	tb.t.Helper()
	p := tb.newUDPPair(from, to, addr)
	p.exchange(n, size)
	return p.client, p.server
}

// tcpResult is what the two ends of a TCP transfer know about it.
type tcpResult struct {
	client, server      netip.AddrPort
	clientSegs, srvSegs uint32 // segments each end sent (tcpi_segs_out), SYN to last ACK
	retransmits         uint32
	sent                int
}

// tcpTransfer sends size bytes from `from` to a server in `to` at addr and
// closes both directions; it reads each end's TCP_INFO once the exchange
// of FINs is over, before the sockets are closed.
func (tb *testbed) tcpTransfer(from, to netns.NsHandle, addr netip.Addr, size int) tcpResult {
	tb.t.Helper()
	var ln *net.TCPListener
	tb.in(to, func() (err error) {
		ln, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		return err
	})
	defer ln.Close()
	res := tcpResult{server: addrPort(ln.Addr()), sent: size}
	type accepted struct {
		c   *net.TCPConn
		n   int64
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			acc <- accepted{err: err}
			return
		}
		n, err := io.Copy(io.Discard, c)
		if err == nil {
			err = c.CloseWrite()
		}
		acc <- accepted{c, n, err}
	}()
	var cl *net.TCPConn
	tb.in(from, func() (err error) {
		cl, err = net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(res.server))
		return err
	})
	defer cl.Close()
	res.client = addrPort(cl.LocalAddr())
	chunk := bytes.Repeat([]byte{'y'}, 64<<10)
	for left := size; left > 0; {
		m := min(left, len(chunk))
		if _, err := cl.Write(chunk[:m]); err != nil {
			tb.t.Fatal(err)
		}
		left -= m
	}
	if err := cl.CloseWrite(); err != nil {
		tb.t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, cl); err != nil { // until the server's FIN
		tb.t.Fatal(err)
	}
	a := <-acc
	if a.err != nil {
		tb.t.Fatal(a.err)
	}
	defer a.c.Close()
	if a.n != int64(size) {
		tb.t.Fatalf("server read %d bytes, sent %d", a.n, size)
	}
	time.Sleep(200 * time.Millisecond) // the last ACK
	ci, si := tcpInfo(tb, cl), tcpInfo(tb, a.c)
	// The SYN-ACK goes out before the accepted socket exists, so its
	// tcpi_segs_out misses it.
	res.clientSegs, res.srvSegs = ci.Segs_out, si.Segs_out+1
	res.retransmits = ci.Total_retrans + si.Total_retrans
	return res
}

func tcpInfo(tb *testbed, c *net.TCPConn) *unix.TCPInfo {
	tb.t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		tb.t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	err = rc.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), syscall.IPPROTO_TCP, unix.TCP_INFO)
	})
	if err != nil || ierr != nil {
		tb.t.Fatal(fmt.Errorf("TCP_INFO: %v %v", err, ierr))
	}
	return info
}
