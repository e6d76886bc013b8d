package loader

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func TestStatStartTime(t *testing.T) {
	// Field 22 counted from the start; the command may hold ") (".
	rest := "S 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %s 1000 10"
	for _, tc := range []struct {
		name, stat string
		want       uint64
		err        bool
	}{
		{"plain", "42 (flowjoy) " + fmt.Sprintf(rest, "123456"), 123456, false},
		{"parentheses and spaces in the name", "42 (a) (b c) " + fmt.Sprintf(rest, "99"), 99, false},
		{"no name", "42 flowjoy S 1", 0, true},
		{"cut short", "42 (x) S 1 1", 0, true},
		{"not a number", "42 (x) " + fmt.Sprintf(rest, "zz"), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := statStartTime(tc.stat)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestOwnerRunning(t *testing.T) {
	self, err := processTag(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A process that has been reaped.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	gone := fmt.Sprintf("%d/1", cmd.Process.Pid)
	pid, start, _ := strings.Cut(self, "/")
	for _, tc := range []struct {
		name string
		want bool
	}{
		{filterPrefix + self + "/ingress", true},
		{filterPrefix + pid + "/" + start + "1/egress", false}, // same pid, another start: reused
		{filterPrefix + gone + "/ingress", false},
		{filterPrefix + "garbage", false},
		{filterPrefix + "-1/2/ingress", false},
	} {
		if got := ownerRunning(tc.name); got != tc.want {
			t.Errorf("ownerRunning(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIsL3(t *testing.T) {
	for encap, want := range map[string]bool{"ether": false, "loopback": false, "none": true, "ipip": true, "ppp": true, "gre": true} {
		got, err := isL3(encap)
		if err != nil || got != want {
			t.Errorf("isL3(%q) = %v, %v; want %v", encap, got, err, want)
		}
	}
	if _, err := isL3("infiniband"); err == nil {
		t.Error("isL3(infiniband): no error for a link layer the programs cannot parse")
	}
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		in   error
		want error
	}{
		{fmt.Errorf("load: %w", os.ErrPermission), ErrPermission},
		{fmt.Errorf("map: %w", ebpf.ErrNotSupported), ErrKernel},
		{fmt.Errorf("%w: %s", ErrNoBTF, hint), ErrNoBTF}, // already explained: kept
	} {
		got := Explain(tc.in)
		if !errors.Is(got, tc.want) || !strings.Contains(got.Error(), "--engine pcap") {
			t.Errorf("Explain(%v) = %v, want %v and the hint", tc.in, got, tc.want)
		}
	}
	plain := errors.New("interface down")
	if Explain(plain) != plain {
		t.Error("Explain changed an error that is not about the kernel or privileges")
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but not root: this test attaches programs in a network namespace")
	}
	t.Skip("needs root: attaches programs in a network namespace (set CI=true to make this a failure)")
}

// enterNewNS moves the test's goroutine, locked to its thread, into a new
// network namespace holding an up veth pair, and returns one end's name.
// The test's end puts the thread back (or lets it die with the
// goroutine), and the namespace and veth go away with it.
func enterNewNS(t *testing.T) string {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := netns.New()
	if err != nil {
		orig.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ns.Close()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		orig.Close()
	})
	var b [3]byte
	rand.Read(b[:])
	name := "fjl" + hex.EncodeToString(b[:])
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name + "a"}, PeerName: name + "b"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		t.Fatal(err)
	}
	return name + "a"
}

// passProgram is a TC program that does nothing.
func passProgram(t *testing.T) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.SchedCLS,
		License: "MIT",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, -1), // TC_ACT_UNSPEC / TCX_NEXT
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(Explain(err))
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func ourFilters(t *testing.T, ifname string) []string {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		fs, _ := netlink.FilterList(l, parent)
		for _, f := range fs {
			if bf, ok := f.(*netlink.BpfFilter); ok {
				names = append(names, bf.Name)
			}
		}
	}
	return names
}

// TestClsactAttachCleanup covers the fallback path: filters named after
// this process, removed by Close with the qdisc we made, and leftovers of
// dead owners removed by Cleanup while live owners' filters stay.
func TestClsactAttachCleanup(t *testing.T) {
	requireRoot(t)
	prog := passProgram(t)
	ifname := enterNewNS(t)
	{
		a, err := Attach(Programs{Ingress: prog, Egress: prog, IngressL3: prog, EgressL3: prog},
			Options{Interfaces: []string{ifname, ifname}, TC: TCClsact})
		if err != nil {
			t.Fatal(err)
		}
		ifs := a.Interfaces()
		if len(ifs) != 1 || ifs[0].Ingress != HookClsact || ifs[0].Egress != HookClsact {
			t.Errorf("attached as %+v, want one interface with clsact both ways", ifs)
		}
		self, _ := processTag(os.Getpid())
		names := ourFilters(t, ifname)
		if len(names) != 2 || names[0] != filterPrefix+self+"/ingress" || names[1] != filterPrefix+self+"/egress" {
			t.Errorf("filters %v, want ours on ingress and egress", names)
		}

		// A dead owner's leftover next to ours: Cleanup takes only it.
		l, _ := netlink.LinkByName(ifname)
		dead := &netlink.BpfFilter{
			FilterAttrs: netlink.FilterAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_MIN_INGRESS,
				Priority: filterPriority, Protocol: unix.ETH_P_ALL},
			Fd: prog.FD(), Name: filterPrefix + "999999999/1/ingress", DirectAction: true,
		}
		if err := netlink.FilterAdd(dead); err != nil {
			t.Fatal(err)
		}
		removed, err := Cleanup()
		if err != nil || len(removed) != 1 || !strings.Contains(removed[0], dead.Name) {
			t.Errorf("Cleanup removed %v (%v), want only %s", removed, err, dead.Name)
		}
		if n := len(ourFilters(t, ifname)); n != 2 {
			t.Errorf("%d filters after Cleanup, want our 2", n)
		}

		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if left := ourFilters(t, ifname); len(left) != 0 {
			t.Errorf("filters left after Close: %v", left)
		}
		qs, _ := netlink.QdiscList(l)
		for _, q := range qs {
			if q.Type() == "clsact" {
				t.Error("the clsact qdisc Attach made is still there")
			}
		}
		if err := a.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
}

func TestAttachErrors(t *testing.T) {
	requireRoot(t)
	prog := passProgram(t)
	ifname := enterNewNS(t)
	{
		if _, err := Attach(Programs{Ingress: prog, Egress: prog}, Options{}); err == nil {
			t.Error("no error without interfaces")
		}
		_, err := Attach(Programs{Ingress: prog, Egress: prog}, Options{Interfaces: []string{ifname, "fj-no-such"}})
		if err == nil || !strings.Contains(err.Error(), "fj-no-such") {
			t.Errorf("err = %v, want one naming the missing interface", err)
		}
		// The first interface was attached, then undone.
		if n := tcxPrograms(t, ifname); n != 0 {
			t.Errorf("%d tcx programs left after a failed Attach", n)
		}
		if _, err := Attach(Programs{Ingress: prog, Egress: prog}, Options{Interfaces: []string{ifname}, XDP: true}); err == nil {
			t.Error("no error asking for XDP without an XDP program")
		}
		if n := tcxPrograms(t, ifname); n != 0 {
			t.Errorf("%d tcx programs left after a failed Attach", n)
		}
	}
}

func tcxPrograms(t *testing.T, ifname string) int {
	t.Helper()
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
		res, err := link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: at})
		if err != nil {
			t.Fatal(err)
		}
		n += len(res.Programs)
	}
	return n
}

func TestProbe(t *testing.T) {
	requireRoot(t)
	if err := Probe(); err != nil {
		t.Fatalf("Probe as root on this kernel: %v", err)
	}
}
