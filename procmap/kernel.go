package procmap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/flowjoy/flowjoy/bpf"
)

// cgroupHooks are the socket hooks and where each attaches.
type cgroupHooks struct {
	SockCreate *cebpf.Program `ebpf:"fj_sock_create"`
	PostBind4  *cebpf.Program `ebpf:"fj_post_bind4"`
	PostBind6  *cebpf.Program `ebpf:"fj_post_bind6"`
	Connect4   *cebpf.Program `ebpf:"fj_connect4"`
	Connect6   *cebpf.Program `ebpf:"fj_connect6"`
	Sendmsg4   *cebpf.Program `ebpf:"fj_sendmsg4"`
	Sendmsg6   *cebpf.Program `ebpf:"fj_sendmsg6"`
}

type procEvents struct {
	Exec *cebpf.Program `ebpf:"fj_exec"`
	Fork *cebpf.Program `ebpf:"fj_fork"`
	Exit *cebpf.Program `ebpf:"fj_exit"`
}

// kernel holds procmap's kernel objects and links.
type kernel struct {
	procs  *cebpf.Map
	reader *ringbuf.Reader
	progs  []*cebpf.Program
	links  []link.Link
}

func (k *kernel) close() {
	for i := len(k.links) - 1; i >= 0; i-- {
		k.links[i].Close()
	}
	if k.reader != nil {
		k.reader.Close()
	}
	for _, p := range k.progs {
		p.Close()
	}
	if k.procs != nil {
		k.procs.Close()
	}
}

// loadKernel loads the hooks with owners as their fj_owners map and
// attaches the socket hooks on cgroupPath and the process events. The
// process events are optional: without them (a kernel refusing tp_btf)
// processes are read from /proc when a record needs them, and warn says
// why.
func loadKernel(owners *cebpf.Map, cgroupPath string, ringBytes int, warn func(string)) (*kernel, error) {
	spec, err := bpf.LoadProcmap()
	if err != nil {
		return nil, fmt.Errorf("reading the embedded procmap eBPF object: %w", err)
	}
	k := &kernel{}
	ok := false
	defer func() {
		if !ok {
			k.close()
		}
	}()
	spec.Maps[bpf.ProcmapMapProcs].MaxEntries = uint32(ringBytes)
	if k.procs, err = cebpf.NewMap(spec.Maps[bpf.ProcmapMapProcs]); err != nil {
		return nil, fmt.Errorf("creating the process event ring buffer: %w", err)
	}
	opts := &cebpf.CollectionOptions{MapReplacements: map[string]*cebpf.Map{
		bpf.ProcmapMapFjOwners: owners,
		bpf.ProcmapMapProcs:    k.procs,
	}}

	// Process events first, so no exec falls between the /proc seed and
	// the hooks.
	var pe procEvents
	if err := spec.LoadAndAssign(&pe, opts); err != nil {
		warn(fmt.Sprintf("process events unavailable (%v); processes are read from /proc when needed", err))
	} else {
		k.progs = append(k.progs, pe.Exec, pe.Fork, pe.Exit)
		for _, p := range []*cebpf.Program{pe.Exec, pe.Fork, pe.Exit} {
			l, err := link.AttachTracing(link.TracingOptions{Program: p})
			if err != nil {
				return nil, fmt.Errorf("attaching %s: %w", p, err)
			}
			k.links = append(k.links, l)
		}
		if k.reader, err = ringbuf.NewReader(k.procs); err != nil {
			return nil, fmt.Errorf("opening the process event ring buffer: %w", err)
		}
	}

	var hooks cgroupHooks
	if err := spec.LoadAndAssign(&hooks, opts); err != nil {
		return nil, fmt.Errorf("loading the cgroup socket hooks: %w", err)
	}
	k.progs = append(k.progs, hooks.SockCreate, hooks.PostBind4, hooks.PostBind6,
		hooks.Connect4, hooks.Connect6, hooks.Sendmsg4, hooks.Sendmsg6)
	for _, h := range []struct {
		p *cebpf.Program
		t cebpf.AttachType
	}{
		{hooks.SockCreate, cebpf.AttachCGroupInetSockCreate},
		{hooks.PostBind4, cebpf.AttachCGroupInet4PostBind},
		{hooks.PostBind6, cebpf.AttachCGroupInet6PostBind},
		{hooks.Connect4, cebpf.AttachCGroupInet4Connect},
		{hooks.Connect6, cebpf.AttachCGroupInet6Connect},
		{hooks.Sendmsg4, cebpf.AttachCGroupUDP4Sendmsg},
		{hooks.Sendmsg6, cebpf.AttachCGroupUDP6Sendmsg},
	} {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroupPath, Attach: h.t, Program: h.p})
		if err != nil {
			return nil, fmt.Errorf("attaching %s to cgroup %s: %w", h.p, cgroupPath, err)
		}
		k.links = append(k.links, l)
	}

	ok = true
	return k, nil
}

// ErrNoCgroup2 means no cgroup v2 hierarchy is mounted.
var ErrNoCgroup2 = errors.New("no cgroup v2 mount in /proc/mounts (give --cgroup PATH)")

// Cgroup2Root returns where the cgroup v2 hierarchy is mounted: its
// socket hooks see every process. On a hybrid layout it is
// /sys/fs/cgroup/unified, on a unified one /sys/fs/cgroup. (`ip netns
// exec` runs its command with a fresh /sys that has no cgroup mount:
// enter a network namespace with `nsenter --net=/run/netns/NAME`.)
func Cgroup2Root() (string, error) {
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return cgroup2Mount(f)
}

// CgroupDir checks that path is a cgroup v2 directory.
func CgroupDir(path string) (string, error) {
	if _, err := os.Stat(path + "/cgroup.procs"); err != nil {
		return "", fmt.Errorf("--cgroup %s: not a cgroup v2 directory (with `ip netns exec`, /sys has no cgroup mount: use nsenter --net)", path)
	}
	return path, nil
}

func cgroup2Mount(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 3 && fields[2] == "cgroup2" {
			return unescapeMount(fields[1]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", ErrNoCgroup2
}

// unescapeMount undoes /proc/mounts' octal escapes (\040 is a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			if v, ok := octal3(s[i+1 : min(i+4, len(s))]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal3(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	v := 0
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return 0, false
		}
		v = v*8 + int(s[i]-'0')
	}
	if v > 255 {
		return 0, false
	}
	return byte(v), true
}
