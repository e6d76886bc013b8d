package loader

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

// Why the eBPF engine cannot run here. Each error that Probe, Explain or
// Attach return wraps one of these, so the CLI can choose to fall back to
// libpcap (errors.Is) and still print the specific cause.
var (
	ErrPermission = errors.New("not permitted")
	ErrNoBTF      = errors.New("kernel has no BTF")
	ErrKernel     = errors.New("kernel too old")
)

// hint ends every error that means "this engine cannot run here".
const hint = "use --engine pcap to capture with libpcap instead"

// Capability numbers from linux/capability.h.
const (
	capNetAdmin = 12
	capSysAdmin = 21
	capBPF      = 39
)

// Probe checks that this process and kernel can run flowjoy's programs:
// privileges (root, or CAP_BPF and CAP_NET_ADMIN), kernel BTF (the
// verifier needs it to check the programs' global functions) and the
// kernel features the programs use (ring buffer with dynptrs, v3 ISA).
// Whether tcx exists is found out at attach time, where clsact is the
// fallback.
func Probe() error {
	if err := probePrivileges(); err != nil {
		return err
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return fmt.Errorf("%w (/sys/kernel/btf/vmlinux: %v; needs CONFIG_DEBUG_INFO_BTF): %s", ErrNoBTF, err, hint)
	}
	checks := []struct {
		what string
		err  func() error
	}{
		{"BPF ISA v3", features.HaveV3ISA},
		{"TC programs", func() error { return features.HaveProgramType(ebpf.SchedCLS) }},
		{"BPF ring buffers (Linux 5.8)", func() error { return features.HaveMapType(ebpf.RingBuf) }},
		{"ring buffer dynptrs (Linux 5.19)", func() error {
			return features.HaveProgramHelper(ebpf.SchedCLS, asm.FnRingbufReserveDynptr)
		}},
	}
	for _, c := range checks {
		if err := c.err(); err != nil {
			if errors.Is(err, ebpf.ErrNotSupported) {
				return fmt.Errorf("%w: no %s (kernel %s): %s", ErrKernel, c.what, kernelRelease(), hint)
			}
			return fmt.Errorf("probing for %s: %w", c.what, Explain(err))
		}
	}
	return nil
}

// Explain turns an error from loading or attaching programs into one that
// names the cause: a permission error becomes ErrPermission, a missing
// feature ErrKernel, each with the hint to use the pcap engine.
func Explain(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrPermission), errors.Is(err, ErrKernel), errors.Is(err, ErrNoBTF):
		return err
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: %v: the eBPF engine needs root (or CAP_BPF and CAP_NET_ADMIN); %s", ErrPermission, err, hint)
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("%w: %v (kernel %s): %s", ErrKernel, err, kernelRelease(), hint)
	}
	return err
}

func probePrivileges() error {
	eff, err := effectiveCaps()
	if err != nil {
		// Without /proc we cannot tell; loading will say.
		return nil
	}
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	bpf := has(capBPF) || has(capSysAdmin)
	if bpf && has(capNetAdmin) {
		return nil
	}
	return fmt.Errorf("%w: the eBPF engine needs root (or CAP_BPF and CAP_NET_ADMIN), running as uid %d without them: %s",
		ErrPermission, os.Geteuid(), hint)
}

// effectiveCaps reads CapEff from /proc/self/status.
func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("/proc/self/status: no CapEff line")
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
