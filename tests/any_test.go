package tests

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// router is three namespaces in a line, made for one test: A
// (10.79.1.1) — R (10.79.1.2 | 10.79.2.1, forwarding) — C (10.79.2.2).
// The R–C pair is made by addRC, so that a test can make it after
// flowjoy started in R. Everything goes when the test ends.
type router struct {
	t                *testing.T
	a, r, c          string // namespace names
	ra, rc, ar, cr   string // interfaces: R's toward A, R's toward C, A's, C's
	cleanupInterface func()
}

func newRouter(t *testing.T) *router {
	t.Helper()
	needRoot(t)
	var b [3]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	n := &router{t: t, a: "fja" + id, r: "fjr" + id, c: "fjc" + id,
		ar: "fj" + id + "ar", ra: "fj" + id + "ra", rc: "fj" + id + "rc", cr: "fj" + id + "cr"}
	for _, ns := range []string{n.a, n.r, n.c} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "ip", "netns", "exec", n.r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	n.pair(n.a, n.ar, "10.79.1.1/24", n.r, n.ra, "10.79.1.2/24")
	sh(t, "ip", "-n", n.a, "route", "add", "10.79.2.0/24", "via", "10.79.1.2")
	return n
}

// addRC makes the R–C pair.
func (n *router) addRC() {
	n.pair(n.r, n.rc, "10.79.2.1/24", n.c, n.cr, "10.79.2.2/24")
	sh(n.t, "ip", "-n", n.c, "route", "add", "10.79.1.0/24", "via", "10.79.2.1")
}

// pair makes a veth pair between two namespaces, offloads off, so that a
// datagram is one packet on each interface.
func (n *router) pair(ns1, if1, addr1, ns2, if2, addr2 string) {
	sh(n.t, "ip", "link", "add", if1, "netns", ns1, "type", "veth", "peer", "name", if2, "netns", ns2)
	for _, s := range [][3]string{{ns1, if1, addr1}, {ns2, if2, addr2}} {
		sh(n.t, "ip", "-n", s[0], "addr", "add", s[2], "dev", s[1])
		sh(n.t, "ip", "netns", "exec", s[0], "ethtool", "-K", s[1], "tso", "off", "gso", "off", "gro", "off")
		sh(n.t, "ip", "-n", s[0], "link", "set", s[1], "up")
	}
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// inNS runs fn on a locked OS thread that has entered namespace ns; the
// thread is never unlocked, so it dies with the goroutine. Sockets made
// in fn stay in ns.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns)
		if err == nil {
			err = netns.Set(h)
			h.Close()
		}
		if err != nil {
			errc <- fmt.Errorf("entering %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// echoUDP sends n datagrams of size bytes from namespace from to an echo
// server at addr in namespace to, each after the previous echo came back,
// and returns the client's and the server's ports.
func echoUDP(t *testing.T, from, to, addr string, n, size int) (cport, sport int) {
	t.Helper()
	var srv, cl *net.UDPConn
	if err := inNS(to, func() (err error) {
		srv, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(addr)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			m, peer, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo(buf[:m], peer)
		}
	}()
	if err := inNS(from, func() (err error) {
		cl, err = net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	msg, buf := bytes.Repeat([]byte{'q'}, size), make([]byte, 2048)
	for i := range n {
		if _, err := cl.Write(msg); err != nil {
			t.Fatal(err)
		}
		cl.SetReadDeadline(time.Now().Add(5 * time.Second))
		if m, err := cl.Read(buf); err != nil || m != size {
			t.Fatalf("echo of datagram %d: %d bytes, %v", i, m, err)
		}
	}
	return cl.LocalAddr().(*net.UDPAddr).Port, srv.LocalAddr().(*net.UDPAddr).Port
}

// TestLiveAnyInterface runs flowjoy -i any in the router namespace R:
//   - the R–C pair is made after flowjoy started, and a flow from A to C
//     crosses both of R's interfaces: one record per interface, each
//     naming its interface, each with the datagrams counted once;
//   - deleting the R–C pair detaches without an error, flowjoy keeps
//     running, and R's other interface keeps being captured;
//   - flowjoy exits cleanly, its records match the schema.
//
// The libpcap engine's "any" is libpcap's own device; with DLT_LINUX_SLL2
// its packets name their interface too, and the same records come out.
func TestLiveAnyInterface(t *testing.T) {
	needRoot(t)
	for _, engine := range []string{"ebpf", "pcap"} {
		t.Run(engine, func(t *testing.T) { testLiveAny(t, engine) })
	}
}

func testLiveAny(t *testing.T, engine string) {
	n := newRouter(t)
	fj := startFlowjoy(t, n.r, "-i", "any", "--engine", engine, "--idle-timeout", "30s")
	if engine == "ebpf" && !strings.Contains(fj.Stderr(), n.ra+" (eBPF") {
		t.Errorf("%s not among the interfaces at start:\n%s", n.ra, fj.Stderr())
	}
	n.addRC()
	if engine == "ebpf" {
		waitStderr(t, fj, "capturing on "+n.rc+" too")
	}
	const count, size = 9, 111
	cport, sport := echoUDP(t, n.a, n.c, "10.79.2.2", count, size)

	sh(t, "ip", "-n", n.r, "link", "del", n.rc)
	if engine == "ebpf" {
		waitStderr(t, fj, n.rc+" is gone: detached")
	}
	// R's other interface is still captured.
	cport2, sport2 := echoUDP(t, n.a, n.r, "10.79.1.2", 3, 50)

	recs := fj.records(t, syscall.SIGINT)
	if s := fj.Stderr(); strings.Contains(s, "error") || strings.Contains(s, "cannot") || strings.Contains(s, "detaching from") {
		t.Errorf("stderr reports trouble:\n%s", s)
	}
	routed := map[string]map[string]any{}
	var local []map[string]any
	for _, r := range recs {
		sp, dp := int(num(r["sp"])), int(num(r["dp"]))
		switch {
		case r["sa"] == "10.79.1.1" && r["da"] == "10.79.2.2" && sp == cport && dp == sport:
			name, _ := r["interface"].(string)
			if routed[name] != nil {
				t.Errorf("two records of the routed flow on %q", name)
			}
			routed[name] = r
		case r["sa"] == "10.79.1.1" && r["da"] == "10.79.1.2" && sp == cport2 && dp == sport2:
			local = append(local, r)
		}
	}
	if len(routed) != 2 || routed[n.ra] == nil || routed[n.rc] == nil {
		t.Fatalf("routed flow's records on %v, want one on %s and one on %s\n%s", keys(routed), n.ra, n.rc, fj.Stderr())
	}
	for name, r := range routed {
		for k, want := range map[string]int{"num_pkts_out": count, "num_pkts_in": count, "bytes_out": count * size, "bytes_in": count * size} {
			if got := int(num(r[k])); got != want {
				t.Errorf("routed flow on %s: %s = %d, want %d (once per interface)\n%s", name, k, got, want, fj.Stderr())
			}
		}
	}
	if len(local) != 1 || local[0]["interface"] != n.ra || int(num(local[0]["num_pkts_out"])) != 3 {
		t.Errorf("flow to R after the R–C pair went: %v, want one record on %s with 3 packets out", local, n.ra)
	}
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func keys(m map[string]map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func waitStderr(t *testing.T, p *bg, s string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(p.Stderr(), s); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("flowjoy never said %q:\n%s", s, p.Stderr())
		}
	}
}
