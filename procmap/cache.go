package procmap

import (
	"sync"
	"time"
)

// Process is what procmap knows of one process.
type Process struct {
	PID, PPID uint32
	UID       uint32
	Start     int64  // start time, ns since the epoch (0: unknown)
	Comm      string // the kernel's task name
	Path      string // full path of the program ("" if unknown)
	Cmdline   string // arguments joined by spaces
	Cgroup    string // cgroup v2 path
	Container string // container id, from Cgroup or the v1 hierarchies
	Exited    int64  // exit time, ns since the epoch; 0 while it runs
}

// cache holds processes by pid. A pid can be reused: each pid keeps the
// processes that had it, oldest first, and a lookup picks the one that
// had started by the time asked about. Exited processes stay for the
// grace period, so that records written after a short-lived process is
// gone still name it.
type cache struct {
	mu     sync.Mutex
	procs  map[uint32][]*Process
	grace  time.Duration
	lastGC int64
}

func newCache(grace time.Duration) *cache {
	return &cache{procs: make(map[uint32][]*Process), grace: grace}
}

// startSlack absorbs the difference between the boot-time-based start
// times the kernel reports and the wall clock of packet timestamps.
const startSlack = int64(time.Second)

// sameStart reports whether two start times are of one process: /proc
// gives them in clock ticks (10 ms), the kernel events in ns; 0 is
// unknown and matches anything.
func sameStart(a, b int64) bool {
	if a == 0 || b == 0 {
		return true
	}
	d := a - b
	return -startTick <= d && d <= startTick
}

const startTick = int64(20 * time.Millisecond)

// put adds p, or updates the entry of the same process (same pid and
// start time: an exec replaces the program, not the process).
func (c *cache) put(p *Process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.procs[p.PID]
	for i, q := range list {
		if sameStart(q.Start, p.Start) {
			if p.Start == 0 {
				p.Start = q.Start
			}
			list[i] = p
			return
		}
	}
	c.procs[p.PID] = append(list, p)
}

// get returns the process pid was at time at (ns since the epoch): the
// latest one started by then; nil if none is known.
func (c *cache) get(pid uint32, at int64) *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.procs[pid]
	for i := len(list) - 1; i >= 0; i-- {
		if p := list[i]; p.Start <= at+startSlack {
			return p
		}
	}
	return nil
}

// latest returns the newest process with pid, exited or not.
func (c *cache) latest(pid uint32) *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	if list := c.procs[pid]; len(list) > 0 {
		return list[len(list)-1]
	}
	return nil
}

// exited marks the newest process with pid as gone at time now, and
// drops processes whose grace period has passed (at most once a second).
func (c *cache) exited(pid uint32, start, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.procs[pid]
	for i := len(list) - 1; i >= 0; i-- {
		if sameStart(list[i].Start, start) {
			if list[i].Exited == 0 {
				list[i].Exited = now
			}
			break
		}
	}
	if now-c.lastGC >= int64(time.Second) {
		c.lastGC = now
		c.gcLocked(now)
	}
}

func (c *cache) gcLocked(now int64) {
	for pid, list := range c.procs {
		keep := list[:0]
		for _, p := range list {
			if p.Exited == 0 || now-p.Exited < int64(c.grace) {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			delete(c.procs, pid)
		} else {
			clear(list[len(keep):])
			c.procs[pid] = keep
		}
	}
}

// len returns how many processes are kept.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.procs {
		n += len(l)
	}
	return n
}
