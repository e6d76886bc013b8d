package cbpf

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcap"
	"golang.org/x/net/bpf"
)

// testPacket is 60 bytes: 0x00, 0x01, … 0x3b.
func testPacket() []byte {
	p := make([]byte, 60)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}

// TestInstructions runs tricky classic instructions one by one, in both
// program types, and checks the exact value each program returns (RetA
// exposes A) against classic BPF's semantics, worked out by hand; the
// cases themselves are checked against libpcap's matcher (accept or
// reject) and golang.org/x/net/bpf's VM (the value, where it implements
// the instruction).
func TestInstructions(t *testing.T) {
	needRoot(t)
	type I = []bpf.Instruction
	pkt := testPacket()
	for _, tc := range []struct {
		name  string
		prog  I
		want  uint32
		notVM bool // the VM lacks the instruction (NegateA, backward jumps)
		// deviates: libpcap, whose loops have no bound, decides otherwise
		// (the one documented difference).
		deviates bool
	}{
		// Not checked with libpcap, whose matcher would never return.
		{"endless loop rejects", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 1}, bpf.Jump{Skip: 0xffffffff}, bpf.RetA{}}, 0, true, true},
		{"load byte", I{bpf.LoadAbsolute{Off: 14, Size: 1}, bpf.RetA{}}, 0x0e, false, false},
		{"load half big-endian", I{bpf.LoadAbsolute{Off: 14, Size: 2}, bpf.RetA{}}, 0x0e0f, false, false},
		{"load word big-endian", I{bpf.LoadAbsolute{Off: 14, Size: 4}, bpf.RetA{}}, 0x0e0f1011, false, false},
		{"load word ending at the last byte", I{bpf.LoadAbsolute{Off: 56, Size: 4}, bpf.RetA{}}, 0x38393a3b, false, false},
		{"load word one byte past the end rejects", I{bpf.LoadAbsolute{Off: 57, Size: 4}, bpf.RetConstant{Val: 1}}, 0, false, false},
		{"load far past the end rejects", I{bpf.LoadAbsolute{Off: 0x7fffffff, Size: 1}, bpf.RetConstant{Val: 1}}, 0, false, false},
		{"load beyond 2^31 rejects", I{bpf.LoadAbsolute{Off: 0x80000000, Size: 1}, bpf.RetConstant{Val: 1}}, 0, false, false},
		{"indirect load", I{bpf.LoadConstant{Dst: bpf.RegX, Val: 4}, bpf.LoadIndirect{Off: 10, Size: 2}, bpf.RetA{}}, 0x0e0f, false, false},
		{"indirect load past the end rejects", I{bpf.LoadConstant{Dst: bpf.RegX, Val: 50}, bpf.LoadIndirect{Off: 8, Size: 4}, bpf.RetConstant{Val: 1}}, 0, false, false},
		{"indirect offset does not wrap at 2^32", I{bpf.LoadConstant{Dst: bpf.RegX, Val: 0xffffffff}, bpf.LoadIndirect{Off: 15, Size: 1}, bpf.RetConstant{Val: 1}}, 0, false, false},
		{"indirect huge offset rejects", I{bpf.LoadConstant{Dst: bpf.RegX, Val: 0}, bpf.LoadIndirect{Off: 0x90000000, Size: 1}, bpf.RetConstant{Val: 1}}, 0, false, false},
		{"msh", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0}, bpf.LoadMemShift{Off: 23}, bpf.TXA{}, bpf.RetA{}}, 4 * (23 & 0xf), false, false},
		{"msh past the end rejects", I{bpf.LoadMemShift{Off: 60}, bpf.RetConstant{Val: 1}}, 0, false, false},
		{"len", I{bpf.LoadExtension{Num: bpf.ExtLen}, bpf.RetA{}}, 60, false, false},
		{"scratch starts zeroed", I{bpf.LoadScratch{Dst: bpf.RegA, N: 5}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 7}, bpf.RetA{}}, 7, false, false},
		{"scratch store and load", I{
			bpf.LoadConstant{Dst: bpf.RegA, Val: 0xdeadbeef}, bpf.StoreScratch{Src: bpf.RegA, N: 15},
			bpf.LoadConstant{Dst: bpf.RegX, Val: 0x1234}, bpf.StoreScratch{Src: bpf.RegX, N: 0},
			bpf.LoadConstant{Dst: bpf.RegA, Val: 0}, bpf.LoadScratch{Dst: bpf.RegA, N: 15},
			bpf.LoadScratch{Dst: bpf.RegX, N: 0}, bpf.ALUOpX{Op: bpf.ALUOpXor}, bpf.RetA{}}, 0xdeadbeef ^ 0x1234, false, false},
		{"div by X zero rejects", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 5}, bpf.ALUOpX{Op: bpf.ALUOpDiv}, bpf.RetConstant{Val: 1}}, 0, false, false},
		{"mod by X zero rejects", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 5}, bpf.ALUOpX{Op: bpf.ALUOpMod}, bpf.RetConstant{Val: 1}}, 0, false, false},
		{"div by X", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 100}, bpf.LoadConstant{Dst: bpf.RegX, Val: 7}, bpf.ALUOpX{Op: bpf.ALUOpDiv}, bpf.RetA{}}, 14, false, false},
		{"mod by X", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 100}, bpf.LoadConstant{Dst: bpf.RegX, Val: 7}, bpf.ALUOpX{Op: bpf.ALUOpMod}, bpf.RetA{}}, 2, false, false},
		{"div is unsigned", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0xffffffff}, bpf.ALUOpConstant{Op: bpf.ALUOpDiv, Val: 2}, bpf.RetA{}}, 0x7fffffff, false, false},
		{"mod by constant", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0xfffffffe}, bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: 0x10}, bpf.RetA{}}, 0xe, false, false},
		{"sub wraps at 32 bits", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpSub, Val: 2}, bpf.RetA{}}, 0xffffffff, false, false},
		{"add wraps at 32 bits", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0xffffffff}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 3}, bpf.RetA{}}, 2, false, false},
		{"mul wraps at 32 bits", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0x10000}, bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 0x10003}, bpf.RetA{}}, 0x30000, false, false},
		{"neg", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 1}, bpf.NegateA{}, bpf.RetA{}}, 0xffffffff, true, false},
		{"and or xor", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0xf0f0}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xff00},
			bpf.ALUOpConstant{Op: bpf.ALUOpOr, Val: 0x3}, bpf.ALUOpConstant{Op: bpf.ALUOpXor, Val: 0x1}, bpf.RetA{}}, 0xf002, false, false},
		{"lsh by X", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 1}, bpf.LoadConstant{Dst: bpf.RegX, Val: 31}, bpf.ALUOpX{Op: bpf.ALUOpShiftLeft}, bpf.RetA{}}, 0x80000000, false, false},
		{"lsh by X of 32 clears A", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 1}, bpf.LoadConstant{Dst: bpf.RegX, Val: 32},
			bpf.ALUOpX{Op: bpf.ALUOpShiftLeft}, bpf.RetA{}}, 0, false, false},
		{"rsh by X of 32 clears A", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0x80000000}, bpf.LoadConstant{Dst: bpf.RegX, Val: 32},
			bpf.ALUOpX{Op: bpf.ALUOpShiftRight}, bpf.RetA{}}, 0, false, false},
		{"lsh by X of 32 shifts everything out", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 1}, bpf.LoadConstant{Dst: bpf.RegX, Val: 32},
			bpf.ALUOpX{Op: bpf.ALUOpShiftLeft}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 5}, bpf.RetA{}}, 5, false, false},
		{"rsh by X of 33 shifts everything out", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0xffffffff}, bpf.LoadConstant{Dst: bpf.RegX, Val: 33},
			bpf.ALUOpX{Op: bpf.ALUOpShiftRight}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 5}, bpf.RetA{}}, 5, false, false},
		{"rsh is logical", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0x80000000}, bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 31}, bpf.RetA{}}, 1, false, false},
		{"tax txa", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 42}, bpf.TAX{}, bpf.LoadConstant{Dst: bpf.RegA, Val: 0}, bpf.TXA{}, bpf.RetA{}}, 42, false, false},
		{"jgt is unsigned", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0xffffffff},
			bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 1, SkipTrue: 1}, bpf.RetConstant{Val: 2}, bpf.RetConstant{Val: 3}}, 3, false, false},
		{"jgt constant above 2^31", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 5},
			bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 0x80000000, SkipTrue: 1}, bpf.RetConstant{Val: 2}, bpf.RetConstant{Val: 3}}, 2, false, false},
		{"jeq", I{bpf.LoadAbsolute{Off: 12, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0c0d, SkipFalse: 1}, bpf.RetConstant{Val: 2}, bpf.RetConstant{Val: 3}}, 2, false, false},
		{"jne", I{bpf.LoadAbsolute{Off: 12, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x0c0d, SkipFalse: 1}, bpf.RetConstant{Val: 2}, bpf.RetConstant{Val: 3}}, 3, false, false},
		{"jlt jle jge", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 7},
			bpf.JumpIf{Cond: bpf.JumpLessThan, Val: 7, SkipTrue: 3},
			bpf.JumpIf{Cond: bpf.JumpLessOrEqual, Val: 7, SkipFalse: 2},
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: 8, SkipTrue: 1},
			bpf.RetConstant{Val: 4}, bpf.RetConstant{Val: 5}}, 4, false, false},
		{"jset", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0x10},
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x30, SkipTrue: 1}, bpf.RetConstant{Val: 2}, bpf.RetConstant{Val: 3}}, 3, false, false},
		{"jset not", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 0x10},
			bpf.JumpIf{Cond: bpf.JumpBitsNotSet, Val: 0x20, SkipTrue: 1}, bpf.RetConstant{Val: 2}, bpf.RetConstant{Val: 3}}, 3, false, false},
		{"jump on X", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 9}, bpf.LoadConstant{Dst: bpf.RegX, Val: 9},
			bpf.JumpIfX{Cond: bpf.JumpEqual, SkipTrue: 1}, bpf.RetConstant{Val: 2}, bpf.RetConstant{Val: 3}}, 3, false, false},
		{"jump with both targets equal", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 9},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: 1, SkipFalse: 1}, bpf.RetConstant{Val: 2}, bpf.RetConstant{Val: 3}}, 3, false, false},
		{"ja", I{bpf.Jump{Skip: 1}, bpf.RetConstant{Val: 2}, bpf.RetConstant{Val: 3}}, 3, false, false},
		{"ja to the next instruction", I{bpf.Jump{Skip: 0}, bpf.RetConstant{Val: 3}}, 3, false, false},
		{"ret constant above 2^31", I{bpf.RetConstant{Val: 0x80000000}}, 0x80000000, false, false},
		{"loop within the bound", countdown(MaxBackwardJumps), 7, true, false},
		{"loop past the bound rejects", countdown(MaxBackwardJumps + 1), 0, true, true},
		{"A and X start at zero", I{bpf.TXA{}, bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1}, bpf.RetA{}}, 1, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// libpcap would loop forever on the endless loop.
			if tc.name != "endless loop rejects" && libpcapAccepts(t, tc.prog, pkt) != (tc.want != 0 != tc.deviates) {
				t.Fatalf("libpcap's matcher disagrees (want accept %v, deviation %v): the case is wrong", tc.want != 0, tc.deviates)
			}
			if !tc.notVM {
				vm, err := bpf.NewVM(tc.prog)
				if err != nil {
					t.Fatalf("VM: %v", err)
				}
				if got, err := vm.Run(pkt); err != nil || uint32(got) != tc.want {
					t.Fatalf("x/net/bpf VM returns %#x (%v), want %#x: the case is wrong", got, err, tc.want)
				}
			}
			for _, target := range []Target{TC, XDP} {
				prog := load(t, tc.prog, target)
				got, err := prog.Run(&ebpf.RunOptions{Data: pkt})
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("%s: returns %#x, want %#x\n%s", target, got, tc.want, listing(tc.prog))
				}
			}
		})
	}
}

// libpcapAccepts runs a classic program with libpcap's matcher
// (pcap_offline_filter).
func libpcapAccepts(t *testing.T, prog []bpf.Instruction, pkt []byte) bool {
	t.Helper()
	return libpcapMatcher(t, prog)(pkt)
}

// libpcapMatcher is libpcap's matcher for a classic program.
func libpcapMatcher(t *testing.T, prog []bpf.Instruction) func([]byte) bool {
	t.Helper()
	raw, err := bpf.Assemble(prog)
	if err != nil {
		t.Fatal(err)
	}
	insns := make([]pcap.BPFInstruction, len(raw))
	for i, r := range raw {
		insns[i] = pcap.BPFInstruction{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	// The method uses no handle.
	m, err := (*pcap.Handle)(nil).NewBPFInstructionFilter(insns)
	if err != nil {
		t.Fatal(err)
	}
	return func(pkt []byte) bool {
		return m.Matches(gopacket.CaptureInfo{CaptureLength: len(pkt), Length: len(pkt)}, pkt)
	}
}

// countdown is a classic program that jumps back n times (as libpcap's
// protochain loops do), then returns 7.
func countdown(n uint32) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadConstant{Dst: bpf.RegX, Val: n + 1},
		bpf.TXA{},
		bpf.ALUOpConstant{Op: bpf.ALUOpSub, Val: 1},
		bpf.TAX{},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
		bpf.Jump{Skip: 0xfffffffb}, // -5: back to TXA
		bpf.RetConstant{Val: 7},
	}
}

// TestRefused: programs the kernel's classic BPF checker refuses, and
// the Linux extensions, give errors, not code.
func TestRefused(t *testing.T) {
	type I = []bpf.Instruction
	for _, tc := range []struct {
		name string
		prog I
		ext  bool
	}{
		{"empty", I{}, false},
		{"no return at the end", I{bpf.LoadConstant{Dst: bpf.RegA, Val: 1}}, false},
		{"jump past the end", I{bpf.Jump{Skip: 1}, bpf.RetA{}}, false},
		{"conditional jump past the end", I{bpf.JumpIf{Cond: bpf.JumpEqual, SkipTrue: 2}, bpf.RetA{}}, false},
		{"div by constant zero", I{bpf.ALUOpConstant{Op: bpf.ALUOpDiv, Val: 0}, bpf.RetA{}}, false},
		{"mod by constant zero", I{bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: 0}, bpf.RetA{}}, false},
		{"shift by constant 32", I{bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 32}, bpf.RetA{}}, false},
		{"scratch index 16", I{bpf.StoreScratch{Src: bpf.RegA, N: 16}, bpf.RetA{}}, false},
		{"unknown instruction", I{bpf.RawInstruction{Op: 0xff}, bpf.RetA{}}, false},
		{"vlan tag extension", I{bpf.LoadExtension{Num: bpf.ExtVLANTag}, bpf.RetA{}}, true},
		{"protocol extension", I{bpf.RawInstruction{Op: 0x28, K: 0xfffff000}.Disassemble(), bpf.RetA{}}, true},
		{"network-header offset", I{bpf.LoadAbsolute{Off: 0xfff00000 + 9, Size: 1}, bpf.RetA{}}, true},
		{"link-layer offset", I{bpf.LoadIndirect{Off: 0xffe00000, Size: 1}, bpf.RetA{}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := Translate(tc.prog, Options{})
			if err == nil {
				t.Fatalf("translated:\n%v", code)
			}
			if errors.Is(err, ErrExtension) != tc.ext {
				t.Errorf("error %q: ErrExtension %v, want %v", err, !tc.ext, tc.ext)
			}
		})
	}
}
