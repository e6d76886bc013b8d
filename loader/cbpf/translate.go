// Package cbpf runs tcpdump filter expressions in the kernel, in front of
// flowjoy's programs: libpcap compiles an expression to classic BPF (its
// own compiler, so the expression means what it means to tcpdump),
// Translate turns that into eBPF, and NewEntry wraps it into an entry
// program that tail-calls the flowjoy program for the packets it accepts.
//
// The translation keeps the semantics of libpcap's matcher: 32-bit A and
// X, 16 zeroed scratch words, unsigned compares, a load past the end of
// the packet or a division by zero ends the program with 0 (reject), a
// shift by X of 32 or more clears A. Packet loads go through
// bpf_skb_load_bytes / bpf_xdp_load_bytes, so they see non-linear skbs
// and multi-buffer XDP frames whole. Backward jumps, which the kernel's
// classic BPF refuses and libpcap emits for "protochain", are allowed up
// to MaxBackwardJumps times per packet.
package cbpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/asm"
	"golang.org/x/net/bpf"
)

// Target is the program type the translated code runs in: it picks the
// helpers that read the packet and its length.
type Target uint8

const (
	TC  Target = iota // SchedCLS: ctx is a __sk_buff
	XDP               // ctx is an xdp_md
)

func (t Target) String() string {
	if t == XDP {
		return "xdp"
	}
	return "tc"
}

// Options tune Translate.
type Options struct {
	Target Target
	// Done, when set, is the symbol of the instruction that the code
	// jumps to with the verdict in R0 (and the context still in R6),
	// instead of exiting with it. The caller places that instruction
	// right after the translated code.
	Done string
	// VLAN (TC on Ethernet only) puts back the outer VLAN tag that the
	// kernel may have moved out of the packet's data into the skb
	// (skb->vlan_tci, always so on ingress): loads and the length see
	// the packet as it was on the wire, so "vlan 100" matches as in a
	// capture, and "udp port 53" does not match tagged packets.
	VLAN bool

	// vlanFields are the __sk_buff offsets of vlan_present, vlan_tci
	// and vlan_proto; tests point them at cb words, which a test run
	// can set.
	vlanFields *[3]int16
}

// skbVLANFields are vlan_present, vlan_tci and vlan_proto in __sk_buff.
// vlan_proto reads as the network-order 16 bits.
var skbVLANFields = [3]int16{20, 24, 28}

// Registers and stack layout of the translated code.
const (
	regCtx = asm.R6 // the program's context, kept across helper calls
	regA   = asm.R7 // classic A, always zero-extended 32 bits
	regX   = asm.R8 // classic X, likewise
	// regLoops counts the backward jumps left.
	regLoops = asm.R9

	scratchOff = -64 // M[i] is the word at fp-64+4*i
	bufOff     = -72 // 8 bytes the load helpers copy into
	offSave    = -80 // a load's offset, across helper calls (VLAN)

	// vlanTagOff is where an 802.1Q/802.1ad tag sits in an Ethernet
	// frame, vlanTagLen its length.
	vlanTagOff, vlanTagLen = 12, 4

	// maxOffset is the largest packet offset the load helpers accept.
	maxOffset = 0x7fffffff
	// skfLLOff is the lowest of Linux's negative offsets (SKF_LL_OFF,
	// SKF_NET_OFF, SKF_AD_OFF), which mean something else than a packet
	// offset to the kernel's classic BPF.
	skfLLOff = 0xffe00000

	symReject = "cbpf_reject"

	// maxInsns keeps jump offsets within the 16 bits eBPF has for them.
	maxInsns = 32000
	// maxClassic is BPF_MAXINSNS, the kernel's limit for classic BPF.
	maxClassic = 4096
)

// MaxBackwardJumps bounds the loops of a classic program: a packet that
// would need more backward jumps is rejected. libpcap emits loops only
// for "protochain", one round per IPv6 extension header (or IPv4 AH).
const MaxBackwardJumps = 16

// ErrExtension is returned for Linux's classic BPF extensions (SKF_AD_*
// loads such as vlan_tci or ifindex), which libpcap emits only for live
// sockets: a filter compiled offline never contains them.
var ErrExtension = errors.New("Linux BPF extension")

// Translate turns a classic BPF program into eBPF that computes the
// classic program's verdict into R0: 0 rejects, anything else accepts.
// The eBPF expects the program's context in R1. It returns an error for
// programs the kernel's classic BPF checker would refuse too (jumps out
// of the program, no return at the end, a constant division by zero or
// shift by 32 or more, scratch index out of range) and for Linux
// extensions other than the packet length.
func Translate(insns []bpf.Instruction, opt Options) (asm.Instructions, error) {
	if len(insns) == 0 {
		return nil, errors.New("empty classic BPF program")
	}
	if len(insns) > maxClassic {
		return nil, fmt.Errorf("classic BPF program of %d instructions: at most %d", len(insns), maxClassic)
	}
	targets, usesScratch, loops, err := check(insns)
	if err != nil {
		return nil, err
	}

	t := translator{opt: opt}
	t.emit(asm.Mov.Reg(regCtx, asm.R1))
	if usesScratch {
		t.emit(asm.Mov.Imm(asm.R0, 0))
		for off := int16(scratchOff); off < 0; off += 8 {
			t.emit(asm.StoreMem(asm.RFP, off, asm.R0, asm.DWord))
		}
	}
	t.emit(asm.Mov.Imm32(regA, 0), asm.Mov.Imm32(regX, 0))
	if loops {
		t.emit(asm.Mov.Imm32(regLoops, MaxBackwardJumps+1))
	}
	for i, ins := range insns {
		start := len(t.out)
		if err := t.insn(i, ins); err != nil {
			return nil, fmt.Errorf("classic BPF instruction %d (%v): %w", i, ins, err)
		}
		if targets[i] {
			t.out[start] = t.out[start].WithSymbol(label(i))
		}
	}
	t.emit(asm.Mov.Imm32(asm.R0, 0).WithSymbol(symReject))
	t.ret()
	t.out = reachable(t.out)
	if len(t.out) > maxInsns {
		return nil, fmt.Errorf("classic BPF program too large: %d eBPF instructions", len(t.out))
	}
	return t.out, nil
}

// check validates what Translate relies on and finds the jump targets.
func check(insns []bpf.Instruction) (targets []bool, usesScratch, loops bool, err error) {
	targets = make([]bool, len(insns))
	target := func(i int, skip uint32) error {
		to := i + 1 + int(skip)
		if to >= len(insns) {
			return fmt.Errorf("classic BPF instruction %d jumps past the end", i)
		}
		targets[to] = true
		return nil
	}
	for i, ins := range insns {
		switch ins := ins.(type) {
		case bpf.Jump:
			if back := backward(i, ins.Skip); back >= 0 {
				targets[back] = true
				loops = true
				break
			}
			err = target(i, ins.Skip)
		case bpf.JumpIf:
			err = errors.Join(target(i, uint32(ins.SkipTrue)), target(i, uint32(ins.SkipFalse)))
		case bpf.JumpIfX:
			err = errors.Join(target(i, uint32(ins.SkipTrue)), target(i, uint32(ins.SkipFalse)))
		case bpf.LoadScratch:
			usesScratch = true
			if ins.N < 0 || ins.N > 15 {
				err = fmt.Errorf("classic BPF instruction %d: scratch index %d out of range", i, ins.N)
			}
		case bpf.StoreScratch:
			usesScratch = true
			if ins.N < 0 || ins.N > 15 {
				err = fmt.Errorf("classic BPF instruction %d: scratch index %d out of range", i, ins.N)
			}
		}
		if err != nil {
			return nil, false, false, err
		}
	}
	switch insns[len(insns)-1].(type) {
	case bpf.RetA, bpf.RetConstant:
	default:
		return nil, false, false, errors.New("classic BPF program does not end with a return")
	}
	return targets, usesScratch, loops, nil
}

// backward is the target of a jump that goes back (libpcap's matcher
// takes the offset modulo 2^32; only "protochain" makes such loops), or
// -1.
func backward(i int, skip uint32) int {
	if to := i + 1 + int(int32(skip)); int32(skip) < 0 && to >= 0 {
		return to
	}
	return -1
}

func label(i int) string { return fmt.Sprintf("cbpf_%d", i) }

type translator struct {
	opt Options
	out asm.Instructions
	seq int // makes internal labels unique
}

// labels returns n fresh internal labels.
func (t *translator) labels(n int) []string {
	t.seq++
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf("cbpf_l%d_%d", t.seq, i)
	}
	return l
}

func (t *translator) emit(ins ...asm.Instruction) { t.out = append(t.out, ins...) }

// ret ends the program with the verdict in R0.
func (t *translator) ret() {
	if t.opt.Done != "" {
		t.emit(asm.Ja.Label(t.opt.Done))
	} else {
		t.emit(asm.Return())
	}
}

func (t *translator) insn(i int, ins bpf.Instruction) error {
	switch ins := ins.(type) {
	case bpf.LoadConstant:
		t.emit(asm.Mov.Imm32(reg(ins.Dst), int32(ins.Val)))
	case bpf.LoadScratch:
		t.emit(asm.LoadMem(reg(ins.Dst), asm.RFP, scratch(ins.N), asm.Word))
	case bpf.StoreScratch:
		t.emit(asm.StoreMem(asm.RFP, scratch(ins.N), reg(ins.Src), asm.Word))
	case bpf.LoadAbsolute:
		return t.load(regA, ins.Off, ins.Size, false)
	case bpf.LoadIndirect:
		return t.load(regA, ins.Off, ins.Size, true)
	case bpf.LoadMemShift:
		if err := t.load(regX, ins.Off, 1, false); err != nil {
			return err
		}
		t.emit(asm.And.Imm32(regX, 0xf), asm.LSh.Imm32(regX, 2))
	case bpf.LoadExtension:
		if ins.Num != bpf.ExtLen {
			return fmt.Errorf("%w %d (libpcap emits these only for live sockets)", ErrExtension, ins.Num)
		}
		t.length()
	case bpf.ALUOpConstant:
		return t.aluConst(ins.Op, ins.Val)
	case bpf.ALUOpX:
		return t.aluX(ins.Op)
	case bpf.NegateA:
		t.emit(asm.Neg.Imm32(regA, 0))
	case bpf.TAX:
		t.emit(asm.Mov.Reg32(regX, regA))
	case bpf.TXA:
		t.emit(asm.Mov.Reg32(regA, regX))
	case bpf.Jump:
		if back := backward(i, ins.Skip); back >= 0 {
			// The verifier needs the loop bounded: it walks every
			// round, so the bound is small.
			t.emit(
				asm.Sub.Imm32(regLoops, 1),
				asm.JEq.Imm32(regLoops, 0, symReject),
				asm.Ja.Label(label(back)),
			)
			return nil
		}
		// Even a jump to the next instruction is emitted: every classic
		// instruction needs an eBPF one to carry its label.
		t.emit(asm.Ja.Label(label(i + 1 + int(ins.Skip))))
	case bpf.JumpIf:
		return t.jump(i, ins.Cond, ins.SkipTrue, ins.SkipFalse, func(op asm.JumpOp, l string) asm.Instruction {
			return op.Imm32(regA, int32(ins.Val), l)
		})
	case bpf.JumpIfX:
		return t.jump(i, ins.Cond, ins.SkipTrue, ins.SkipFalse, func(op asm.JumpOp, l string) asm.Instruction {
			return op.Reg32(regA, regX, l)
		})
	case bpf.RetA:
		t.emit(asm.Mov.Reg32(asm.R0, regA))
		t.ret()
	case bpf.RetConstant:
		t.emit(asm.Mov.Imm32(asm.R0, int32(ins.Val)))
		t.ret()
	default:
		return fmt.Errorf("unsupported instruction %T", ins)
	}
	return nil
}

func reg(r bpf.Register) asm.Register {
	if r == bpf.RegX {
		return regX
	}
	return regA
}

func scratch(n int) int16 { return int16(scratchOff + 4*n) }

// load reads size bytes big-endian at off (plus X when indirect) into
// dst, or rejects the packet when they are not all there.
func (t *translator) load(dst asm.Register, off uint32, size int, indirect bool) error {
	var sz asm.Size
	switch size {
	case 1:
		sz = asm.Byte
	case 2:
		sz = asm.Half
	case 4:
		sz = asm.Word
	default:
		return fmt.Errorf("load of %d bytes", size)
	}
	if off >= skfLLOff {
		return fmt.Errorf("%w: negative offset %#x (libpcap emits these only for live sockets)", ErrExtension, off)
	}
	if !indirect && off > maxOffset {
		t.emit(asm.Ja.Label(symReject)) // no packet is that long
		return nil
	}
	// The offset is u32 + u32 computed in 64 bits, so it cannot wrap.
	t.emit(asm.Mov.Imm32(asm.R2, int32(off)))
	if indirect {
		t.emit(asm.Add.Reg(asm.R2, regX), asm.JGT.Imm(asm.R2, maxOffset, symReject))
	}
	if t.opt.VLAN && t.opt.Target == TC {
		t.vlanLoad(dst, size)
		return nil
	}
	t.loadAt(dst, sz)
	return nil
}

// loadAt loads sz bytes at the offset in R2 into dst, big-endian.
func (t *translator) loadAt(dst asm.Register, sz asm.Size) {
	fn := asm.FnSkbLoadBytes
	if t.opt.Target == XDP {
		fn = asm.FnXdpLoadBytes
	}
	t.emit(
		asm.Mov.Reg(asm.R1, regCtx),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, bufOff),
		asm.Mov.Imm(asm.R4, int32(sz.Sizeof())),
		fn.Call(),
		asm.JNE.Imm(asm.R0, 0, symReject),
		asm.LoadMem(dst, asm.RFP, bufOff, sz),
	)
	if sz != asm.Byte {
		t.emit(asm.HostTo(asm.BE, dst, sz))
	}
}

func (t *translator) vlanFields() [3]int16 {
	if t.opt.vlanFields != nil {
		return *t.opt.vlanFields
	}
	return skbVLANFields
}

// vlanLoad loads size bytes at the wire offset in R2 into dst: without a
// tag outside the data the wire offset is the data's; with one, bytes
// before the tag are at the same offset, the tag's bytes come from the
// skb, and bytes after it are 4 bytes earlier in the data. A load that
// touches the tag is put together byte by byte.
func (t *translator) vlanLoad(dst asm.Register, size int) {
	f := t.vlanFields()
	sz := map[int]asm.Size{1: asm.Byte, 2: asm.Half, 4: asm.Word}[size]
	l := t.labels(3)
	plain, after, done := l[0], l[1], l[2]
	t.emit(
		asm.LoadMem(asm.R0, regCtx, f[0], asm.Word),
		asm.JEq.Imm(asm.R0, 0, plain),
		asm.JGE.Imm(asm.R2, vlanTagOff+vlanTagLen, after),
		asm.JLE.Imm(asm.R2, int32(vlanTagOff-size), plain),
		asm.StoreMem(asm.RFP, offSave, asm.R2, asm.DWord),
		asm.Mov.Imm32(dst, 0),
	)
	for i := range size {
		b := t.labels(3)
		before, inTag, next := b[0], b[1], b[2]
		t.emit(
			asm.LoadMem(asm.R2, asm.RFP, offSave, asm.DWord),
			asm.Add.Imm(asm.R2, int32(i)),
			asm.LSh.Imm32(dst, 8),
			asm.JLT.Imm(asm.R2, vlanTagOff, before),
			asm.JLT.Imm(asm.R2, vlanTagOff+vlanTagLen, inTag),
			asm.Add.Imm(asm.R2, -vlanTagLen),
			// the byte at R2 in the data
			asm.Mov.Reg(asm.R1, regCtx).WithSymbol(before),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, bufOff),
			asm.Mov.Imm(asm.R4, 1),
			asm.FnSkbLoadBytes.Call(),
			asm.JNE.Imm(asm.R0, 0, symReject),
			asm.LoadMem(asm.R1, asm.RFP, bufOff, asm.Byte),
			asm.Or.Reg32(dst, asm.R1),
			asm.Ja.Label(next),
			// byte R2-12 of the tag, TPID then TCI, big-endian
			asm.LoadMem(asm.R1, regCtx, f[2], asm.Word).WithSymbol(inTag),
			asm.HostTo(asm.BE, asm.R1, asm.Half),
			asm.LSh.Imm(asm.R1, 16),
			asm.LoadMem(asm.R3, regCtx, f[1], asm.Word),
			asm.And.Imm(asm.R3, 0xffff),
			asm.Or.Reg(asm.R1, asm.R3),
			asm.Mov.Imm(asm.R3, vlanTagOff+vlanTagLen-1),
			asm.Sub.Reg(asm.R3, asm.R2),
			asm.LSh.Imm(asm.R3, 3),
			asm.RSh.Reg(asm.R1, asm.R3),
			asm.And.Imm(asm.R1, 0xff),
			asm.Or.Reg32(dst, asm.R1),
			asm.Mov.Reg32(dst, dst).WithSymbol(next),
		)
	}
	t.emit(
		asm.Ja.Label(done),
		asm.Add.Imm(asm.R2, -vlanTagLen).WithSymbol(after),
	)
	start := len(t.out)
	t.loadAt(dst, sz)
	t.out[start] = t.out[start].WithSymbol(plain)
	t.emit(asm.Mov.Reg32(dst, dst).WithSymbol(done))
}

// length loads the packet's length into A: the whole skb (all of it,
// paged or not) or the whole XDP frame with its fragments.
func (t *translator) length() {
	if t.opt.Target == XDP {
		t.emit(asm.Mov.Reg(asm.R1, regCtx), asm.FnXdpGetBuffLen.Call(), asm.Mov.Reg32(regA, asm.R0))
		return
	}
	t.emit(asm.LoadMem(regA, regCtx, 0, asm.Word)) // __sk_buff.len
	if t.opt.VLAN {
		skip := t.labels(1)[0]
		t.emit(
			asm.LoadMem(asm.R0, regCtx, t.vlanFields()[0], asm.Word),
			asm.JEq.Imm(asm.R0, 0, skip),
			asm.Add.Imm32(regA, vlanTagLen),
			asm.Mov.Reg32(regA, regA).WithSymbol(skip),
		)
	}
}

var aluOps = map[bpf.ALUOp]asm.ALUOp{
	bpf.ALUOpAdd: asm.Add, bpf.ALUOpSub: asm.Sub, bpf.ALUOpMul: asm.Mul,
	bpf.ALUOpDiv: asm.Div, bpf.ALUOpMod: asm.Mod, bpf.ALUOpOr: asm.Or,
	bpf.ALUOpAnd: asm.And, bpf.ALUOpXor: asm.Xor,
	bpf.ALUOpShiftLeft: asm.LSh, bpf.ALUOpShiftRight: asm.RSh,
}

func (t *translator) aluConst(op bpf.ALUOp, val uint32) error {
	eop, ok := aluOps[op]
	if !ok {
		return fmt.Errorf("unknown ALU operation %#x", uint16(op))
	}
	switch {
	case (op == bpf.ALUOpDiv || op == bpf.ALUOpMod) && val == 0:
		return errors.New("division by constant zero")
	case (op == bpf.ALUOpShiftLeft || op == bpf.ALUOpShiftRight) && val >= 32:
		// As the kernel's classic checker and libpcap's compiler; the
		// matchers disagree on it (libpcap's masks the count, x/net's
		// shifts everything out).
		return fmt.Errorf("shift by constant %d", val)
	}
	t.emit(eop.Imm32(regA, int32(val)))
	return nil
}

func (t *translator) aluX(op bpf.ALUOp) error {
	eop, ok := aluOps[op]
	if !ok {
		return fmt.Errorf("unknown ALU operation %#x", uint16(op))
	}
	switch op {
	case bpf.ALUOpDiv, bpf.ALUOpMod:
		// Classic BPF ends the program with 0; eBPF would go on with 0
		// (div) or A (mod).
		t.emit(asm.JEq.Imm32(regX, 0, symReject))
	case bpf.ALUOpShiftLeft, bpf.ALUOpShiftRight:
		// eBPF masks the shift count to 5 bits; libpcap's matcher shifts
		// everything out. A uniquely named skip keeps the two paths apart.
		skip := fmt.Sprintf("cbpf_shift_%d", len(t.out))
		t.emit(
			asm.JLT.Imm32(regX, 32, skip),
			asm.Mov.Imm32(regA, 0),
			asm.Ja.Label(skip+"_done"),
			eop.Reg32(regA, regX).WithSymbol(skip),
			asm.Mov.Reg32(regA, regA).WithSymbol(skip+"_done"),
		)
		return nil
	}
	t.emit(eop.Reg32(regA, regX))
	return nil
}

// jump emits a conditional jump: the true target first, then the false
// one (or a fall-through when it is the next instruction).
func (t *translator) jump(i int, cond bpf.JumpTest, skipTrue, skipFalse uint8, mk func(asm.JumpOp, string) asm.Instruction) error {
	op, negate, ok := jumpOp(cond)
	if !ok {
		return fmt.Errorf("unknown jump test %d", cond)
	}
	yes, no := label(i+1+int(skipTrue)), label(i+1+int(skipFalse))
	if negate {
		yes, no = no, yes
	}
	if skipTrue == skipFalse {
		t.emit(asm.Ja.Label(yes))
		return nil
	}
	t.emit(mk(op, yes))
	if no != label(i+1) {
		t.emit(asm.Ja.Label(no))
	}
	return nil
}

// jumpOp maps a classic jump test to the eBPF jump that is taken when
// the test holds, or (negate) when it does not.
func jumpOp(cond bpf.JumpTest) (op asm.JumpOp, negate, ok bool) {
	switch cond {
	case bpf.JumpEqual:
		return asm.JEq, false, true
	case bpf.JumpNotEqual:
		return asm.JNE, false, true
	case bpf.JumpGreaterThan:
		return asm.JGT, false, true
	case bpf.JumpLessThan:
		return asm.JLT, false, true
	case bpf.JumpGreaterOrEqual:
		return asm.JGE, false, true
	case bpf.JumpLessOrEqual:
		return asm.JLE, false, true
	case bpf.JumpBitsSet:
		return asm.JSet, false, true
	case bpf.JumpBitsNotSet:
		return asm.JSet, true, true
	}
	return 0, false, false
}

// reachable drops the instructions no path reaches (a reject path when
// no load can fail, classic code jumped over), which the verifier
// refuses.
func reachable(insns asm.Instructions) asm.Instructions {
	at := make(map[string]int)
	for i, ins := range insns {
		if sym := ins.Symbol(); sym != "" {
			at[sym] = i
		}
	}
	seen := make([]bool, len(insns))
	todo := []int{0}
	for len(todo) > 0 {
		i := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if i >= len(insns) || seen[i] {
			continue
		}
		seen[i] = true
		ins := insns[i]
		if !ins.OpCode.Class().IsJump() {
			todo = append(todo, i+1)
			continue
		}
		to, inside := at[ins.Reference()] // outside: Options.Done
		switch ins.OpCode.JumpOp() {
		case asm.Exit:
		case asm.Call:
			todo = append(todo, i+1)
		case asm.Ja:
			if inside {
				todo = append(todo, to)
			}
		default:
			todo = append(todo, i+1)
			if inside {
				todo = append(todo, to)
			}
		}
	}
	out := insns[:0]
	for i, ins := range insns {
		if seen[i] {
			out = append(out, ins)
		}
	}
	return out
}
