package cbpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/net/bpf"
)

// Verdicts an entry program returns for the packets its filter rejects
// (and when the tail call fails): let the packet go on untouched.
const (
	tcActUnspec = -1 // TC_ACT_UNSPEC (TCX_NEXT): the next program decides
	xdpPass     = 2  // XDP_PASS
)

// Entry is a program of the same type as the one it guards: it runs the
// filter and tail-calls the guarded program for the packets the filter
// accepts, through a program array of one slot, so the guarded program
// (and its maps and counters) never sees the others.
type Entry struct {
	Program *ebpf.Program
	jump    *ebpf.Map
}

// EntryOptions describe the guarded program.
type EntryOptions struct {
	// Attach must be the attach type the guarded program was loaded
	// with: the kernel only tail-calls between programs that agree on it
	// (cilium/ebpf loads SEC("xdp") with ebpf.AttachXDP, SEC("tc") with
	// none).
	Attach ebpf.AttachType
	// VLAN: a TC program on Ethernet devices, where the filter must see
	// the outer VLAN tag the kernel took out of the data (Options.VLAN).
	VLAN bool
}

// NewEntry builds and loads the entry program named name (at most 15
// characters) for next, of next's type (SchedCLS or XDP).
func NewEntry(name string, filter []bpf.Instruction, next *ebpf.Program, opt EntryOptions) (*Entry, error) {
	info, err := next.Info()
	if err != nil {
		return nil, fmt.Errorf("entry %s: reading the guarded program's type: %w", name, err)
	}
	var target Target
	var pass int32
	switch info.Type {
	case ebpf.SchedCLS:
		target, pass = TC, tcActUnspec
	case ebpf.XDP:
		target, pass = XDP, xdpPass
	default:
		return nil, fmt.Errorf("entry %s: cannot filter a %s program", name, info.Type)
	}
	code, err := Translate(filter, Options{Target: target, Done: "verdict", VLAN: opt.VLAN && target == TC})
	if err != nil {
		return nil, err
	}
	jump, err := ebpf.NewMap(&ebpf.MapSpec{Name: "fj_filter_jump", Type: ebpf.ProgramArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("entry %s: creating its program array: %w", name, err)
	}
	code = append(code,
		asm.JEq.Imm32(asm.R0, 0, "pass").WithSymbol("verdict"),
		asm.Mov.Reg(asm.R1, regCtx),
		asm.LoadMapPtr(asm.R2, jump.FD()),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnTailCall.Call(),
		// Only a failed tail call comes back.
		asm.Mov.Imm(asm.R0, pass).WithSymbol("pass"),
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name,
		Type:         info.Type,
		AttachType:   opt.Attach,
		Instructions: code,
		License:      "Dual MIT/GPL",
	})
	if err != nil {
		jump.Close()
		return nil, fmt.Errorf("loading filter entry program %s: %w", name, err)
	}
	if err := jump.Put(uint32(0), next); err != nil {
		prog.Close()
		jump.Close()
		return nil, fmt.Errorf("entry %s: adding the guarded program to its program array: %w", name, err)
	}
	return &Entry{Program: prog, jump: jump}, nil
}

// Close frees the entry program and its program array. Detach first.
func (e *Entry) Close() error {
	if e == nil {
		return nil
	}
	return errors.Join(e.Program.Close(), e.jump.Close())
}
