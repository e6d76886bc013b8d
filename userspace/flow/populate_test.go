package flow

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestPopulate checks that populate makes every whole page of a slice
// resident without changing it: on fresh anonymous memory (no page
// resident), then on memory already written.
func TestPopulate(t *testing.T) {
	const pages = 16
	mem, err := unix.Mmap(-1, 0, pages*int(pageSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	resident := func() int {
		vec := make([]byte, pages)
		_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0])))
		if e != 0 {
			t.Fatal(e)
		}
		n := 0
		for _, v := range vec {
			n += int(v & 1)
		}
		return n
	}
	if n := resident(); n != 0 {
		t.Fatalf("%d pages resident before populate", n)
	}
	// A slice that starts 8 bytes into the first page: its first and
	// last pages are partial and stay untouched.
	populate(mem[8 : len(mem)-8])
	if n := resident(); n != pages-2 {
		t.Fatalf("%d pages resident after populate, want %d", n, pages-2)
	}
	populate(mem)
	if n := resident(); n != pages {
		t.Fatalf("%d pages resident after populating all, want %d", n, pages)
	}
	mem[5000] = 7
	populate(mem)
	if mem[5000] != 7 {
		t.Fatal("populate changed the memory")
	}
	populate([]uint32(nil)) // no panic on empty
}
