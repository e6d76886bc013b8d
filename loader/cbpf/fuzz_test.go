package cbpf

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// fuzzOps are the valid classic opcodes: fuzz input picks one of them
// (a raw opcode would be invalid nearly always), plus one invalid one.
var fuzzOps = []uint16{
	0x20, 0x28, 0x30, 0x40, 0x48, 0x50, // ld abs, ind: w, h, b
	0x00, 0x60, 0x80, 0x01, 0x61, 0x81, 0xb1, // ld imm, mem, len; ldx imm, mem, len; msh
	0x02, 0x03, // st, stx
	0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c,
	0x64, 0x6c, 0x74, 0x7c, 0x84, 0x94, 0x9c, 0xa4, 0xac, // alu
	0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, // jumps
	0x06, 0x16, 0x07, 0x87, // ret k, ret a, tax, txa
	0xff,
}

// fuzzProgram splits fuzz input into a classic program and a packet (at
// least 14 bytes, which test runs need). The first byte says how many
// instructions follow, 8 bytes each: an index into fuzzOps, jt, jf, a
// flag byte and k. Unless the flag byte's low bit is set, k is cut down
// to the ranges that make sense (offsets in the packet, scratch indices,
// shift counts) and jumps stay inside the program; a program that does
// not end with a return gets a RetA. So most programs are valid.
func fuzzProgram(data []byte) ([]bpf.Instruction, []byte) {
	if len(data) == 0 {
		return nil, nil
	}
	n := min(int(data[0]%64)+1, (len(data)-1)/8)
	data = data[1:]
	insns := make([]bpf.Instruction, 0, n+1)
	for i := range n {
		op := fuzzOps[int(data[0])%len(fuzzOps)]
		jt, jf, whole := data[1], data[2], data[3]&1 != 0
		k := binary.LittleEndian.Uint32(data[4:])
		data = data[8:]
		if !whole {
			left := uint32(n - i) // instructions after this one, with a final RetA
			jt, jf = uint8(uint32(jt)%left), uint8(uint32(jf)%left)
			switch class, mode := op&0x07, op&0xe0; {
			case op == 0x05: // ja
				k %= left
			case class <= 0x01 && mode == 0x60, class == 0x02, class == 0x03: // scratch
				k %= 16
			case class <= 0x01: // loads
				k %= 96
			case class == 0x04 && (op&0xf0 == 0x60 || op&0xf0 == 0x70): // shifts
				k %= 33 // 32 now and then: refused
			}
		}
		insns = append(insns, bpf.RawInstruction{Op: op, Jt: jt, Jf: jf, K: k}.Disassemble())
	}
	switch last := len(insns) - 1; {
	case last < 0:
		insns = append(insns, bpf.RetA{})
	default:
		switch insns[last].(type) {
		case bpf.RetA, bpf.RetConstant:
		default:
			insns = append(insns, bpf.RetA{})
		}
	}
	pkt := append([]byte(nil), data...)
	for len(pkt) < minTestRun {
		pkt = append(pkt, 0)
	}
	return insns, pkt
}

// FuzzTranslate feeds random classic programs to the translator, which
// must never panic. When x/net/bpf's VM takes a program and the
// translator does too, the verifier must load the translation, and its
// verdict (accept or reject) must be the VM's (where the VM implements
// every instruction) and libpcap's matcher's, on the packet and on
// shorter cuts of it. Needs root for the kernel half.
func FuzzTranslate(f *testing.F) {
	for _, expr := range []string{"udp port 53", "tcp[tcpflags] & tcp-syn != 0", "ip[2:2] % 7 = 3", "len > 100"} {
		insns, err := Compile(expr, LinkEthernet)
		if err != nil {
			f.Fatal(err)
		}
		raw, err := bpf.Assemble(insns)
		if err != nil {
			f.Fatal(err)
		}
		seed := []byte{byte(len(raw) - 1)}
		for _, r := range raw {
			op := slices.Index(fuzzOps, r.Op)
			if op < 0 {
				f.Fatalf("%q: opcode %#x missing from fuzzOps", expr, r.Op)
			}
			seed = append(seed, byte(op), r.Jt, r.Jf, 1)
			seed = binary.LittleEndian.AppendUint32(seed, r.K)
		}
		f.Add(append(seed, testPacket()...))
	}
	kernel := runtime.GOOS == "linux" && os.Geteuid() == 0
	f.Fuzz(func(t *testing.T, data []byte) {
		insns, pkt := fuzzProgram(data)
		for _, target := range []Target{TC, XDP} {
			if _, err := Translate(insns, Options{Target: target}); err != nil {
				return
			}
		}
		vm, err := bpf.NewVM(insns)
		if err != nil || !kernel {
			return
		}
		// libpcap leaves scratch memory uninitialized (the kernel's
		// checker refuses reading it before a store; libpcap's compiler
		// never does): only the VM judges programs that read it.
		libpcap := func([]byte) (bool, bool) { return false, false }
		if !slices.ContainsFunc(insns, func(i bpf.Instruction) bool { _, ok := i.(bpf.LoadScratch); return ok }) {
			m := libpcapMatcher(t, insns)
			libpcap = func(p []byte) (bool, bool) { return m(p), true }
		}
		for _, target := range []Target{TC, XDP} {
			prog, err := loadProgram(insns, target)
			if err != nil {
				t.Fatalf("%s: the verifier refuses a translation: %v\n%s", target, err, listing(insns))
			}
			for cut := len(pkt); cut >= minTestRun; cut -= 1 + cut/4 {
				got, err := prog.Run(&ebpf.RunOptions{Data: pkt[:cut]})
				if errors.Is(err, unix.EINVAL) {
					continue // the test run's own checks refuse the packet (an IPv4 header cut short)
				}
				if err != nil {
					prog.Close()
					t.Fatalf("%s: test run: %v", target, err)
				}
				if want, ok := libpcap(pkt[:cut]); ok && (got != 0) != want {
					prog.Close()
					t.Fatalf("%s on %d bytes: kernel %#x, libpcap accepts %v\n%s", target, cut, got, want, listing(insns))
				}
				// An error: an instruction the VM lacks (NegateA).
				if want, err := vm.Run(pkt[:cut]); err == nil && (got != 0) != (want != 0) {
					prog.Close()
					t.Fatalf("%s on %d bytes: kernel %#x, VM %#x\n%s", target, cut, got, want, listing(insns))
				}
			}
			prog.Close()
		}
	})
}
