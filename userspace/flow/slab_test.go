package flow

import (
	"math/rand/v2"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// TestIndexAgreesWithMap inserts and removes random keys (from a small
// space, so that probe runs collide, wrap around the end and shift back
// on removal) and checks after every step that the index finds exactly
// the keys a Go map holds, at the ref the map says.
func TestIndexAgreesWithMap(t *testing.T) {
	for _, tagged := range []bool{false, true} {
		testIndexAgreesWithMap(t, tagged)
	}
}

func testIndexAgreesWithMap(t *testing.T, tagged bool) {
	rng := rand.New(rand.NewPCG(7, 8))
	var s slab[int]
	x := index{tagged: tagged}
	want := map[flowkey.Key]uint32{}
	key := func(i int) flowkey.Key {
		return flowkey.Key{Src: [16]byte{10, 0, byte(i >> 8), byte(i)}, SrcPort: uint16(i % 7), Proto: flowkey.ProtoUDP, IPVersion: 4}
	}
	const space = 3000
	for step := 0; step < 200_000; step++ {
		k := key(rng.IntN(space))
		ref, slot := find(&x, &s, &k)
		if ref != want[k] {
			t.Fatalf("step %d: find(%v) = %d, want %d", step, k.Src[:4], ref, want[k])
		}
		if ref == 0 {
			f := s.alloc()
			f.Key = k
			insert(&x, &s, &k, f.ref, slot)
			want[k] = f.ref
		} else if rng.IntN(2) == 0 {
			remove(&x, &s, slot)
			s.release(s.at(ref))
			delete(want, k)
		}
		if x.n != len(want) {
			t.Fatalf("step %d: %d entries, want %d", step, x.n, len(want))
		}
	}
	for k, ref := range want {
		if got, _ := find(&x, &s, &k); got != ref {
			t.Fatalf("find(%v) = %d, want %d", k.Src[:4], got, ref)
		}
	}
	if x.n*2 > len(x.slots) {
		t.Errorf("load %d/%d above 1/2", x.n, len(x.slots))
	}
}

// TestKeyEqual checks the word-wise comparison against == for keys that
// differ in each field alone.
func TestKeyEqual(t *testing.T) {
	base := flowkey.Key{Src: [16]byte{1, 2, 3}, Dst: [16]byte{4, 5, 6}, SrcPort: 7, DstPort: 8, Proto: 6, IPVersion: 4, VLAN: 9, IfIndex: 10}
	variants := []func(*flowkey.Key){
		func(k *flowkey.Key) {},
		func(k *flowkey.Key) { k.Src[15] ^= 1 }, func(k *flowkey.Key) { k.Src[0] ^= 1 },
		func(k *flowkey.Key) { k.Dst[15] ^= 1 }, func(k *flowkey.Key) { k.Dst[7] ^= 1 },
		func(k *flowkey.Key) { k.SrcPort++ }, func(k *flowkey.Key) { k.DstPort++ },
		func(k *flowkey.Key) { k.Proto++ }, func(k *flowkey.Key) { k.IPVersion++ },
		func(k *flowkey.Key) { k.VLAN++ }, func(k *flowkey.Key) { k.IfIndex++ },
	}
	for i, v := range variants {
		k := base
		v(&k)
		if got, want := keyEqual(&base, &k), base == k; got != want {
			t.Errorf("variant %d: keyEqual %v, == %v", i, got, want)
		}
	}
}

// TestSlabReusesFreedSlots checks that a freed flow's slot is handed out
// again, zeroed, so that the slab does not grow with churn.
func TestSlabReusesFreedSlots(t *testing.T) {
	var s slab[int]
	a := s.alloc()
	a.State, a.ID = 5, 9
	ref := a.ref
	s.release(a)
	b := s.alloc()
	if b.ref != ref || b.State != 0 || b.ID != 0 || b.recency != (link{}) {
		t.Fatalf("reused slot: ref %d (want %d), state %d, id %d, links %v", b.ref, ref, b.State, b.ID, b.recency)
	}
	if s.used != 1 {
		t.Errorf("%d slots used, want 1", s.used)
	}
}
