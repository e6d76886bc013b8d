package cbpf

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// BenchmarkFilter measures what a filter costs the kernel per packet:
// the entry program alone (the guarded program returns at once), run by
// the kernel in a loop (BPF_PROG_TEST_RUN repeat), on a TCP SYN, as TC
// with the VLAN view and as XDP.
func BenchmarkFilter(b *testing.B) {
	needRoot(b)
	tcp := frame(&testing.T{}, false)
	for _, expr := range []string{
		"udp port 53",
		"tcp[tcpflags] & tcp-syn != 0",
		"vlan 100 and tcp",
		"not (port 22 or port 443 or port 80) and (net 10.0.0.0/8 or net 192.168.0.0/16)",
	} {
		filter, err := Compile(expr, LinkEthernet)
		if err != nil {
			b.Fatal(err)
		}
		for _, tc := range []struct {
			typ    ebpf.ProgramType
			attach ebpf.AttachType
		}{{ebpf.SchedCLS, ebpf.AttachNone}, {ebpf.XDP, ebpf.AttachXDP}} {
			b.Run(tc.typ.String()+"/"+expr, func(b *testing.B) {
				guarded, err := ebpf.NewProgram(&ebpf.ProgramSpec{
					Type: tc.typ, AttachType: tc.attach, License: "GPL",
					Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
				})
				if err != nil {
					b.Fatal(err)
				}
				defer guarded.Close()
				e, err := NewEntry("fj_filt_bench", filter, guarded, EntryOptions{Attach: tc.attach, VLAN: tc.typ == ebpf.SchedCLS})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				b.ResetTimer()
				_, per, err := e.Program.Benchmark(tcp, b.N, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(per.Nanoseconds()), "ns/packet")
			})
		}
	}
}
