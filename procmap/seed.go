package procmap

import (
	"errors"
	"os"
	"strconv"
	"strings"

	cebpf "github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/flowjoy/flowjoy/bpf"
)

// seedSockets attributes the sockets that exist before the hooks: for
// every process's socket fds it writes the process as the owner, unless a
// hook already wrote one. Userspace writes SK_STORAGE with a socket fd of
// its own as the key, so each socket is borrowed with pidfd_getfd(2) (a
// duplicate; the owner's socket is untouched) and closed again.
//
// iter/task_file would do this in the kernel, but this kernel's verifier
// refuses bpf_sk_storage_get on the socket it reaches
// (bpf_sock_from_file(file)->sk is an untrusted pointer).
//
// procs are the processes seedFromProc read (clk its clock); within
// limits seeding to those whose cgroup v2 path is within that path (""
// or "/": all), as the hooks see only that subtree.
func seedSockets(owners *cebpf.Map, procs []*Process, clk clock, within string) (seeded int) {
	done := make(map[string]bool) // socket inodes written: a socket shared by processes goes to the first
	for _, p := range procs {
		if int(p.PID) == os.Getpid() {
			continue
		}
		if within != "" && within != "/" && !inCgroup(p.Cgroup, within) {
			continue
		}
		seeded += seedProcess(owners, p, clk, done)
	}
	return seeded
}

// inCgroup reports whether cgroup v2 path p is cg or below it.
func inCgroup(p, cg string) bool {
	return p == cg || strings.HasPrefix(p, strings.TrimSuffix(cg, "/")+"/")
}

func seedProcess(owners *cebpf.Map, p *Process, clk clock, done map[string]bool) int {
	pid := p.PID
	dir := procRoot + "/" + strconv.FormatUint(uint64(pid), 10)
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return 0
	}
	var sockets []int
	for _, fd := range fds {
		link, err := os.Readlink(dir + "/fd/" + fd.Name())
		if err != nil || !strings.HasPrefix(link, "socket:[") || done[link] {
			continue
		}
		n, err := strconv.Atoi(fd.Name())
		if err != nil {
			continue
		}
		done[link] = true
		sockets = append(sockets, n)
	}
	if len(sockets) == 0 {
		return 0
	}
	// The kernel's unit: ns since boot.
	o := bpf.ProcmapFjOwner{Tgid: pid, Pid: pid, Uid: p.UID, StartNs: clk.boot(p.Start)}
	for i := 0; i < len(o.Comm)-1 && i < len(p.Comm); i++ {
		o.Comm[i] = int8(p.Comm[i])
	}
	pidfd, err := unix.PidfdOpen(int(pid), 0)
	if err != nil {
		return 0
	}
	defer unix.Close(pidfd)
	n := 0
	for _, fd := range sockets {
		dup, err := unix.PidfdGetfd(pidfd, fd, 0)
		if err != nil {
			continue
		}
		err = owners.Update(int32(dup), &o, cebpf.UpdateNoExist)
		unix.Close(dup)
		if err == nil {
			n++
		} else if !errors.Is(err, cebpf.ErrKeyExist) {
			continue // not a socket SK_STORAGE takes (a netlink or unix one may not be)
		}
	}
	return n
}
