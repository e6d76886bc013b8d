package reassembly

import (
	"bytes"
	"slices"
	"sync"
)

// pageSize is the unit in which out-of-order bytes are stored and charged to
// the Limiter. Pages are aligned to stream offsets (page i holds offsets
// [i*pageSize, (i+1)*pageSize)), so a byte's place never depends on which
// segment brought it, and a small segment far ahead costs one page, not
// the distance to it.
const pageSize = 4096

// maxSpans bounds the separate runs of buffered bytes one direction may
// hold, which bounds its bookkeeping: a stream cut into more than this many
// pieces ahead of its first hole is not one a real stack sends (64 KiB of
// full-sized segments has at most 23 holes), so it stops with a Gap.
const maxSpans = 256

// span is a run [start, end) of buffered stream offsets.
type span struct{ start, end uint32 }

// page is one page of buffered bytes and its index (stream offset /
// pageSize).
type page struct {
	index uint32
	bytes *[pageSize]byte
}

// reorder holds the bytes that arrived ahead of a hole. spans are sorted,
// disjoint and never adjacent (adjacent runs are merged), and all start
// after the next byte to deliver. Every buffered byte lies in one of pages,
// which are sorted by index; a page may also hold bytes already delivered
// until all of it has been.
type reorder struct {
	spans []span
	pages []page
}

var (
	pagePool    = sync.Pool{New: func() any { return new([pageSize]byte) }}
	reorderPool = sync.Pool{New: func() any { return new(reorder) }}
)

func newReorder() *reorder { return reorderPool.Get().(*reorder) }

// free returns every page to the pool and the charge to l, and the reorder
// itself to its pool; b must not be used after.
func (b *reorder) free(l *Limiter) {
	b.dropPages(len(b.pages), l)
	b.spans = b.spans[:0]
	reorderPool.Put(b)
}

// dropPages frees the first n pages.
func (b *reorder) dropPages(n int, l *Limiter) {
	if n == 0 {
		return
	}
	for i := range n {
		pagePool.Put(b.pages[i].bytes)
		b.pages[i] = page{}
	}
	l.release(int64(n) * pageSize)
	b.pages = slices.Delete(b.pages, 0, n)
}

// dropBefore frees the pages all of whose offsets are below off.
func (b *reorder) dropBefore(off uint32, l *Limiter) {
	n := 0
	for n < len(b.pages) && (uint64(b.pages[n].index)+1)*pageSize <= uint64(off) {
		n++
	}
	b.dropPages(n, l)
}

// find returns the position of the page with the given index, and whether
// it is there.
func (b *reorder) find(index uint32) (int, bool) {
	return slices.BinarySearchFunc(b.pages, index, func(p page, i uint32) int {
		switch {
		case p.index < i:
			return -1
		case p.index > i:
			return 1
		}
		return 0
	})
}

// ensurePages makes sure every page touching [lo, hi) exists, charging l
// for new ones. It reports false if l refused; pages added before the
// refusal stay (empty) and are freed with the rest.
func (b *reorder) ensurePages(lo, hi uint32, l *Limiter) bool {
	for index := lo / pageSize; index <= (hi-1)/pageSize; index++ {
		at, ok := b.find(index)
		if ok {
			continue
		}
		if !l.reserve(pageSize) {
			return false
		}
		b.pages = slices.Insert(b.pages, at, page{index: index, bytes: pagePool.Get().(*[pageSize]byte)})
	}
	return true
}

// chunk returns the buffered bytes from off up to end or the end of off's
// page, whichever comes first. The page must exist.
func (b *reorder) chunk(off, end uint32) []byte {
	at, _ := b.find(off / pageSize)
	pageStart := off - off%pageSize
	return b.pages[at].bytes[off-pageStart : min(end-pageStart, pageSize)]
}

// write copies p to offsets starting at off; the pages must exist.
func (b *reorder) write(off uint32, p []byte) {
	for len(p) > 0 {
		n := copy(b.chunk(off, off+uint32(len(p))), p)
		off += uint32(n)
		p = p[n:]
	}
}

// equal reports whether the buffered bytes at off are p.
func (b *reorder) equal(off uint32, p []byte) bool {
	for len(p) > 0 {
		c := b.chunk(off, off+uint32(len(p)))
		if !bytes.Equal(c, p[:len(c)]) {
			return false
		}
		off += uint32(len(c))
		p = p[len(c):]
	}
	return true
}
