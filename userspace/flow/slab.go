package flow

import (
	"encoding/binary"

	"github.com/flowjoy/flowjoy/userspace/flowkey"
)

// The table keeps its flows in a slab and finds them through an
// open-addressing index of slab references, instead of a Go map of
// pointers to flows allocated one by one: at a million flows a map entry
// (44-byte key, pointer, control byte, load ≤ 7/8) and the allocation of
// each flow cost about 150 bytes per flow; the index costs 4 bytes per
// slot at a load of at most 1/2 (8 per flow at a million flows) and the
// slab nothing but the flows. The
// lists link flows by 4-byte references, not 8-byte pointers, and hold no
// pointers for the garbage collector to follow.

// A ref names a slab slot: its index plus one, so that 0 means none.

// chunkShift sets the slab's chunk size: 256 flows. Chunks never move, so
// *Flow stays valid; a small table (a test, a quiet shard) costs one chunk.
const (
	chunkShift = 8
	chunkLen   = 1 << chunkShift
	chunkMask  = chunkLen - 1
)

// slab holds the flows. Freed slots are zeroed (so that the garbage
// collector can free what their state pointed to) and reused first,
// through a free list linked by recency.next.
type slab[S any] struct {
	chunks []*[chunkLen]Flow[S]
	used   uint32 // slots ever handed out
	free   uint32 // ref of the first free slot
}

func (s *slab[S]) at(ref uint32) *Flow[S] {
	i := ref - 1
	return &s.chunks[i>>chunkShift][i&chunkMask]
}

// alloc returns a zeroed flow with its ref set.
func (s *slab[S]) alloc() *Flow[S] {
	if ref := s.free; ref != 0 {
		f := s.at(ref)
		s.free = f.recency.next
		f.recency.next = 0
		f.ref = ref
		return f
	}
	if s.used == uint32(len(s.chunks))*chunkLen {
		c := new([chunkLen]Flow[S])
		populate(c[:])
		s.chunks = append(s.chunks, c)
	}
	s.used++
	f := s.at(s.used)
	f.ref = s.used
	return f
}

func (s *slab[S]) release(f *Flow[S]) {
	ref := f.ref
	*f = Flow[S]{}
	f.recency.next = s.free
	s.free = ref
}

// index maps canonical keys to refs: linear probing, backward-shift
// deletion (no tombstones), power-of-two size, load at most 1/2. Every
// probe of another flow reads that flow's key in the slab (a cache miss),
// so the load is kept low: a new key probes 2.5 slots on average at 1/2,
// 8.5 at 3/4.
//
// While refs fit in 24 bits (tables of fewer than 16 M flows), a slot's
// top 8 bits hold 8 bits of its key's hash, so that most probes of other
// flows are rejected without reading their key.
type index struct {
	slots  []uint32 // refs (and tags), 0: empty
	n      int
	shift  uint8 // 64 - log2(len(slots)): the slot is the hash's top bits
	tagged bool  // slots carry tags: refs are below 1<<tagShift
}

const (
	tagShift = 24
	refMask  = 1<<tagShift - 1
)

// slotValue is what a slot holds for ref with hash h.
func (x *index) slotValue(ref uint32, h uint64) uint32 {
	if x.tagged {
		return ref | uint32(h&0xff)<<tagShift
	}
	return ref
}

// ref returns the ref a slot value holds.
func (x *index) ref(v uint32) uint32 {
	if x.tagged {
		return v & refMask
	}
	return v
}

const minIndexBits = 6

// keyHash mixes the key's words. The shards pick a flow's shard from
// another hash (shard.Hash), so this one must not correlate with it: it
// uses other constants and the top bits of the product.
func keyHash(k *flowkey.Key) uint64 {
	const m = 0x9e3779b97f4a7c15
	le := binary.LittleEndian
	h := uint64(0x243f6a8885a308d3)
	h = (h ^ le.Uint64(k.Src[0:8])) * m
	h = (h ^ le.Uint64(k.Src[8:16])) * m
	h = (h ^ le.Uint64(k.Dst[0:8])) * m
	h = (h ^ le.Uint64(k.Dst[8:16])) * m
	h = (h ^ (uint64(k.SrcPort) | uint64(k.DstPort)<<16 | uint64(k.Proto)<<32 | uint64(k.IPVersion)<<40 | uint64(k.VLAN)<<48)) * m
	h = (h ^ uint64(k.IfIndex)) * m
	return h ^ h>>29
}

// keyEqual compares keys by 8-byte words (== on the struct calls memequal
// for its 44 bytes), the ports first: they differ first between flows.
func keyEqual(a, b *flowkey.Key) bool {
	le := binary.LittleEndian
	return a.SrcPort == b.SrcPort && a.DstPort == b.DstPort &&
		le.Uint64(a.Src[0:8]) == le.Uint64(b.Src[0:8]) && le.Uint64(a.Dst[0:8]) == le.Uint64(b.Dst[0:8]) &&
		le.Uint64(a.Src[8:16]) == le.Uint64(b.Src[8:16]) && le.Uint64(a.Dst[8:16]) == le.Uint64(b.Dst[8:16]) &&
		a.Proto == b.Proto && a.IPVersion == b.IPVersion && a.VLAN == b.VLAN && a.IfIndex == b.IfIndex
}

func (x *index) home(h uint64) uint32 { return uint32(h >> x.shift) }

// find returns the ref of key's flow (0: none) and the slot it is in or
// would go to.
func find[S any](x *index, s *slab[S], k *flowkey.Key) (ref, slot uint32) {
	if x.slots == nil {
		return 0, 0
	}
	mask := uint32(len(x.slots) - 1)
	h := keyHash(k)
	want := x.slotValue(0, h)
	for i := x.home(h); ; i = (i + 1) & mask {
		v := x.slots[i]
		if v == 0 {
			return 0, i
		}
		if x.tagged && v&^refMask != want {
			continue // another hash's tag
		}
		if r := x.ref(v); keyEqual(&s.at(r).Key, k) {
			return r, i
		}
	}
}

// insert puts ref at slot (from find), growing the index first if needed.
func insert[S any](x *index, s *slab[S], k *flowkey.Key, ref, slot uint32) {
	if x.slots == nil || (x.n+1)*2 > len(x.slots) {
		grow(x, s)
		_, slot = find(x, s, k)
	}
	if x.tagged && ref > refMask {
		// The table holds at most MaxFlows flows, and tags are on only
		// when MaxFlows is below refMask.
		panic("flow: slab ref beyond the tagged index's range")
	}
	x.slots[slot] = x.slotValue(ref, keyHash(k))
	x.n++
}

func grow[S any](x *index, s *slab[S]) {
	bits := uint8(minIndexBits)
	if x.slots != nil {
		bits = 64 - x.shift + 1
	}
	old := x.slots
	x.slots = make([]uint32, 1<<bits)
	populate(x.slots)
	x.shift = 64 - bits
	mask := uint32(len(x.slots) - 1)
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := x.home(keyHash(&s.at(x.ref(v)).Key))
		for x.slots[i] != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = v
	}
}

// remove empties slot and moves later entries of its probe run back, so
// that every entry stays reachable from its home slot.
func remove[S any](x *index, s *slab[S], slot uint32) {
	mask := uint32(len(x.slots) - 1)
	i := slot
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		v := x.slots[j]
		if v == 0 {
			break
		}
		h := x.home(keyHash(&s.at(x.ref(v)).Key))
		// The entry at j may move to i unless its home lies cyclically
		// in (i, j].
		if (j-h)&mask >= (j-i)&mask {
			x.slots[i] = v
			i = j
		}
	}
	x.slots[i] = 0
	x.n--
}
