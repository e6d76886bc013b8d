package loader

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// notes collects what the watcher says.
type notes struct {
	mu  sync.Mutex
	all []string
}

func (n *notes) add(s string) {
	n.mu.Lock()
	n.all = append(n.all, s)
	n.mu.Unlock()
}

func (n *notes) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.all, "; ")
}

// eventually waits for cond, which the watcher makes true when it has
// handled a link update; the deadline only keeps a broken watcher from
// hanging the test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: never happened", what)
		}
	}
}

func attachedNames(a *Attachment) []string {
	var names []string
	for _, i := range a.Interfaces() {
		names = append(names, i.Name)
	}
	slices.Sort(names)
	return names
}

func index(t *testing.T, name string) int {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Index
}

// TestAnyFollowsInterfaces: with Options.Any the attachment covers every
// interface that is up, attaches to interfaces as they come up or appear,
// follows renames, detaches from deleted ones without error, and names a
// reused ifindex after its new interface.
func TestAnyFollowsInterfaces(t *testing.T) {
	requireRoot(t)
	for _, mode := range []TCMode{TCX, TCClsact} {
		t.Run(fmt.Sprint("mode", mode), func(t *testing.T) { testAnyFollows(t, mode) })
	}
}

func testAnyFollows(t *testing.T, mode TCMode) {
	prog := passProgram(t)
	vethA := enterNewNS(t) // up; its peer is down
	vethB := strings.TrimSuffix(vethA, "a") + "b"
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	var said notes
	a, err := Attach(Programs{Ingress: prog, Egress: prog, IngressL3: prog, EgressL3: prog},
		Options{Any: true, TC: mode, Notify: said.add})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := attachedNames(a); !slices.Equal(got, []string{vethA, "lo"}) {
		t.Fatalf("attached to %v, want %s and lo (the peer is down)", got, vethA)
	}

	// An interface coming up is attached.
	if err := netlink.LinkSetUp(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: vethB}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, vethB+" attached when up", func() bool { return a.Name(index(t, vethB)) == vethB })
	if mode == TCX {
		if n := tcxPrograms(t, vethB); n != 2 {
			t.Errorf("%d tcx programs on %s, want 2", n, vethB)
		}
	} else if n := len(ourFilters(t, vethB)); n != 2 {
		t.Errorf("%d filters on %s, want 2", n, vethB)
	}

	// An interface that appears (a bridge) is attached once up; a rename
	// is followed.
	dummy := vethA[:len(vethA)-1] + "d"
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: dummy}}); err != nil {
		t.Fatal(err)
	}
	d, _ := netlink.LinkByName(dummy)
	if err := netlink.LinkSetUp(d); err != nil {
		t.Fatal(err)
	}
	dIndex := d.Attrs().Index
	eventually(t, dummy+" attached", func() bool { return a.Name(dIndex) == dummy })
	renamed := dummy[:len(dummy)-1] + "r"
	if err := netlink.LinkSetDown(d); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetName(d, renamed); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rename followed", func() bool { return a.Name(dIndex) == renamed })

	// Deleting the veth pair detaches both ends, quietly.
	idxA := index(t, vethA)
	if err := netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: vethA}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "veth pair detached", func() bool { return len(a.Interfaces()) == 2 })
	if got := attachedNames(a); !slices.Equal(got, []string{renamed, "lo"}) {
		t.Errorf("attached to %v after deleting the veth pair, want lo and %s", got, renamed)
	}
	if got := a.Name(idxA); got != vethA {
		t.Errorf("Name(%d) = %q after %s went, want its last name for flows still ending", idxA, got, vethA)
	}
	for _, s := range []string{vethA + " is gone", vethB + " is gone", "capturing on " + vethB + " too"} {
		if !strings.Contains(said.String(), s) {
			t.Errorf("notes %q lack %q", said.String(), s)
		}
	}
	if strings.Contains(said.String(), "detaching from") || strings.Contains(said.String(), "cannot") {
		t.Errorf("errors in notes: %s", said.String())
	}

	// A new interface that reuses the index is named after itself.
	reused := vethA[:len(vethA)-1] + "n"
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: reused, Index: idxA}}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: reused}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reused index attached", func() bool { return a.Name(idxA) == reused })

	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if mode == TCX {
		if n := tcxPrograms(t, reused); n != 0 {
			t.Errorf("%d tcx programs left after Close", n)
		}
	} else if n := len(ourFilters(t, reused)); n != 0 {
		t.Errorf("%d filters left after Close", n)
	}
	if len(a.Interfaces()) != 0 {
		t.Errorf("Interfaces after Close: %v", a.Interfaces())
	}
	if _, err := a.Add("lo"); err == nil {
		t.Error("Add after Close did not fail")
	}
}

// TestAddRemove: Add after Attach, twice is once, Remove of a deleted
// interface lets go of its links without error.
func TestAddRemove(t *testing.T) {
	requireRoot(t)
	prog := passProgram(t)
	vethA := enterNewNS(t)
	vethB := strings.TrimSuffix(vethA, "a") + "b"
	a, err := Attach(Programs{Ingress: prog, Egress: prog}, Options{Interfaces: []string{vethA}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	i1, err := a.Add(vethB)
	if err != nil {
		t.Fatal(err)
	}
	i2, err := a.Add(vethB)
	if err != nil || i1 != i2 || len(a.Interfaces()) != 2 {
		t.Fatalf("second Add: %+v, %v, %d interfaces; want the same and 2", i2, err, len(a.Interfaces()))
	}
	if n := tcxPrograms(t, vethB); n != 2 {
		t.Errorf("%d tcx programs on %s, want 2", n, vethB)
	}
	if _, err := a.Add("fj-no-such"); err == nil || !strings.Contains(err.Error(), "fj-no-such") {
		t.Errorf("Add of a missing interface: %v", err)
	}
	if err := netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: vethA}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(i1.Index); err != nil {
		t.Errorf("Remove of a deleted interface: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close after its interfaces went: %v", err)
	}
}

// TestAnySkipsUnsupported: an interface whose link type has no program
// (here a tun device when no L3 programs are given) is skipped with a
// note, at start and when it comes up later, and nothing fails.
func TestAnySkipsUnsupported(t *testing.T) {
	requireRoot(t)
	prog := passProgram(t)
	vethA := enterNewNS(t)
	tun := func(name string) {
		t.Helper()
		if err := netlink.LinkAdd(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}, Mode: netlink.TUNTAP_MODE_TUN}); err != nil {
			t.Skipf("cannot make a tun device: %v", err)
		}
		if err := netlink.LinkSetUp(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	before, later := vethA[:len(vethA)-1]+"t", vethA[:len(vethA)-1]+"u"
	tun(before)
	var said notes
	a, err := Attach(Programs{Ingress: prog, Egress: prog}, Options{Any: true, Notify: said.add})
	if err != nil {
		t.Fatalf("Attach with an unsupported interface up: %v", err)
	}
	defer a.Close()
	tun(later)
	eventually(t, "note about "+later, func() bool { return strings.Contains(said.String(), "not capturing on "+later) })
	if !strings.Contains(said.String(), "not capturing on "+before) || !strings.Contains(said.String(), "unsupported link type") {
		t.Errorf("notes %q lack %s and the reason", said.String(), before)
	}
	if got := attachedNames(a); !slices.Equal(got, []string{vethA}) {
		t.Errorf("attached to %v, want only %s", got, vethA)
	}
}
