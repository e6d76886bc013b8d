package procmap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/flowjoy/flowjoy/bpf"
)

// Process event kinds (FJ_PROC_* in bpf/procmap.c).
const (
	procExec = 1
	procFork = 2
	procExit = 3
)

var (
	procHeaderSize = int(unsafe.Sizeof(bpf.ProcmapFjProcEvent{}))
	execEventSize  = int(unsafe.Sizeof(bpf.ProcmapFjExecEvent{}))
	errBadEvent    = errors.New("bad process event")
)

// procEvent is one decoded record of the procs ring buffer.
type procEvent struct {
	kind      uint8
	tgid, pid uint32
	ppid, uid uint32
	startNs   uint64 // start_boottime
	cgroupID  uint64
	comm      string
	filename  string // exec only
	args      []byte // exec only: NUL-terminated argv strings
}

// decodeProcEvent parses a record; the layout is struct fj_proc_event,
// then for exec struct fj_exec_event's filename and args.
func decodeProcEvent(raw []byte, ev *procEvent) error {
	if len(raw) < procHeaderSize {
		return fmt.Errorf("%w: %d bytes, shorter than its header", errBadEvent, len(raw))
	}
	ne := binary.NativeEndian
	*ev = procEvent{
		kind:     raw[0],
		tgid:     ne.Uint32(raw[4:]),
		pid:      ne.Uint32(raw[8:]),
		ppid:     ne.Uint32(raw[12:]),
		uid:      ne.Uint32(raw[16:]),
		startNs:  ne.Uint64(raw[24:]),
		cgroupID: ne.Uint64(raw[32:]),
		comm:     cString(raw[40:56]),
	}
	switch ev.kind {
	case procFork, procExit:
		return nil
	case procExec:
	default:
		return fmt.Errorf("%w: kind %d", errBadEvent, ev.kind)
	}
	if len(raw) < execEventSize {
		return fmt.Errorf("%w: exec record of %d bytes, want %d", errBadEvent, len(raw), execEventSize)
	}
	off := procHeaderSize
	nameLen, argsLen := ne.Uint32(raw[off:]), ne.Uint32(raw[off+4:])
	name := raw[off+8 : off+8+256]
	args := raw[off+8+256 : execEventSize]
	if int(nameLen) > len(name) || int(argsLen) > len(args) {
		return fmt.Errorf("%w: lengths %d/%d beyond the record", errBadEvent, nameLen, argsLen)
	}
	ev.filename = string(name[:nameLen])
	ev.args = args[:argsLen]
	return nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// apply updates the cache with one event. now is the wall time of the
// event's arrival (ns).
func (a *describer) apply(ev *procEvent, now int64) {
	start := a.clock.wall(ev.startNs)
	switch ev.kind {
	case procExec:
		p := &Process{PID: ev.tgid, PPID: ev.ppid, UID: ev.uid, Start: start, Comm: ev.comm,
			Cmdline: joinArgs(ev.args), Cgroup: a.cgroups.path(ev.cgroupID)}
		p.Path = ev.filename
		p.Container = ContainerID(p.Cgroup)
		if p.Container == "" {
			// Hybrid layouts keep containers in the v1 hierarchies.
			if cg, err := os.ReadFile(procRoot + "/" + strconv.FormatUint(uint64(ev.tgid), 10) + "/cgroup"); err == nil {
				p.Container = containerInCgroups(cg)
			}
		}
		// The process usually still runs: /proc/PID/exe is the full path
		// (exec may have been given a relative path or a symlink).
		if exe, err := os.Readlink(procRoot + "/" + strconv.FormatUint(uint64(ev.tgid), 10) + "/exe"); err == nil {
			p.Path = strings.TrimSuffix(exe, " (deleted)")
		}
		if p.Cmdline == "" {
			p.Cmdline = ev.filename
		}
		a.cache.put(p)
		a.hashLater(p.Path)
	case procFork:
		// The child runs its parent's program until it execs.
		p := &Process{PID: ev.tgid, PPID: ev.ppid, UID: ev.uid, Start: start, Comm: ev.comm,
			Cgroup: a.cgroups.path(ev.cgroupID)}
		if parent := a.cache.get(ev.ppid, now); parent != nil {
			p.Path, p.Cmdline, p.Container = parent.Path, parent.Cmdline, parent.Container
		}
		a.cache.put(p)
	case procExit:
		a.cache.exited(ev.tgid, start, now)
	}
}
