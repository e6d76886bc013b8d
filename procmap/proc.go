package procmap

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// procRoot is where /proc is; tests do not change it.
const procRoot = "/proc"

// clock turns the kernel's boot-time-based times into wall-clock ones.
type clock struct{ bootWall int64 } // wall time of boot, ns

func newClock() clock {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return clock{}
	}
	return clock{bootWall: time.Now().UnixNano() - ts.Nano()}
}

func (c clock) wall(bootNs uint64) int64 {
	if bootNs == 0 {
		return 0
	}
	return c.bootWall + int64(bootNs)
}

// boot is wall's inverse.
func (c clock) boot(wallNs int64) uint64 {
	if wallNs == 0 {
		return 0
	}
	return uint64(wallNs - c.bootWall)
}

// userHZ is the unit of /proc/PID/stat's times (USER_HZ, 100 on every
// Linux architecture flowjoy runs on).
const userHZ = 100

// readProc describes a running process from /proc. It returns an error
// when the process is gone.
func readProc(pid uint32, clk clock) (*Process, error) {
	dir := procRoot + "/" + strconv.FormatUint(uint64(pid), 10)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil, err
	}
	p := &Process{PID: pid}
	if err := parseStat(stat, p, clk); err != nil {
		return nil, fmt.Errorf("%s/stat: %w", dir, err)
	}
	if status, err := os.ReadFile(dir + "/status"); err == nil {
		p.UID = statusUID(status)
	}
	if exe, err := os.Readlink(dir + "/exe"); err == nil {
		p.Path = strings.TrimSuffix(exe, " (deleted)")
	}
	if cmd, err := os.ReadFile(dir + "/cmdline"); err == nil {
		p.Cmdline = joinArgs(cmd)
	}
	if cg, err := os.ReadFile(dir + "/cgroup"); err == nil {
		p.Cgroup = cgroupV2Path(cg)
		p.Container = containerInCgroups(cg)
	}
	return p, nil
}

// parseStat reads comm, ppid and the start time from /proc/PID/stat:
// "pid (comm) state ppid … starttime(22nd) …". comm may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStat(b []byte, p *Process, clk clock) error {
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || close < open {
		return fmt.Errorf("no (comm)")
	}
	p.Comm = string(b[open+1 : close])
	f := strings.Fields(string(b[close+1:]))
	// f[0] is field 3 (state): field N is f[N-3].
	if len(f) < 20 {
		return fmt.Errorf("%d fields", len(f)+2)
	}
	ppid, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return fmt.Errorf("ppid %q", f[1])
	}
	p.PPID = uint32(ppid)
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return fmt.Errorf("starttime %q", f[19])
	}
	p.Start = clk.wall(ticks * uint64(time.Second/userHZ))
	return nil
}

// statusUID returns the real uid from /proc/PID/status ("Uid: r e s f").
func statusUID(b []byte) uint32 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				if v, err := strconv.ParseUint(f[0], 10, 32); err == nil {
					return uint32(v)
				}
			}
		}
	}
	return 0
}

// joinArgs turns NUL-separated arguments into one line.
func joinArgs(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// cgroupV2Path returns the cgroup v2 path from /proc/PID/cgroup: the
// "0::PATH" line (on hybrid layouts the other lines are v1 hierarchies).
func cgroupV2Path(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest
		}
	}
	return ""
}

// containerInCgroups returns the container id in any hierarchy of a
// /proc/PID/cgroup file: on a hybrid layout, runtimes put containers in
// the v1 hierarchies ("4:pids:/docker/<id>") and the v2 path is "/".
func containerInCgroups(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-id:controllers:path; the path may contain ':'.
		if _, rest, ok := strings.Cut(line, ":"); ok {
			if _, path, ok := strings.Cut(rest, ":"); ok {
				if id := ContainerID(path); id != "" {
					return id
				}
			}
		}
	}
	return ""
}

// seedFromProc adds every running process to c and returns them.
func seedFromProc(c *cache, clk clock) ([]*Process, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	var procs []*Process
	for _, e := range entries {
		pid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil || pid == 0 {
			continue
		}
		if p, err := readProc(uint32(pid), clk); err == nil {
			c.put(p)
			procs = append(procs, p)
		}
	}
	return procs, nil
}
