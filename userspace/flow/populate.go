package flow

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

var pageSize = uintptr(os.Getpagesize())

// populate has the kernel back the whole pages of s with private, written
// pages in one call, instead of a page fault at each page's first touch.
// The table grows by slab chunks and index arrays that it is about to
// fill, and its first touch of a page is often a read (a probe, a flag
// tested before it is set): that maps the shared zero page, and the write
// after it takes a second, copy-on-write fault that flushes the TLB of
// every CPU the process runs on. On a paravirtualised VM that pair cost
// ~15 µs per page; populating the chunks and the index made the file
// engine's basic run ~15 % faster (docs/PERFORMANCE.md, round 5). The
// pages are the Go heap's own; errors are ignored, so on a kernel without
// MADV_POPULATE_WRITE (before 5.14) the pages fault in as before.
func populate[T any](s []T) {
	if len(s) == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), uintptr(len(s))*unsafe.Sizeof(s[0]))
	skip := (pageSize - uintptr(unsafe.Pointer(&b[0]))%pageSize) % pageSize
	if uintptr(len(b)) < skip+pageSize {
		return
	}
	b = b[skip:]
	unix.Madvise(b[:uintptr(len(b))&^(pageSize-1)], unix.MADV_POPULATE_WRITE)
}
