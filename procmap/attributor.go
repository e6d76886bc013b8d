package procmap

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/flowjoy/flowjoy/userspace/flowkey"
	"github.com/flowjoy/flowjoy/userspace/record"
)

// DefaultGrace is how long an exited process stays known.
const DefaultGrace = 60 * time.Second

// Config configures an Attributor.
type Config struct {
	// Owners is the eBPF engine's socket-owner map (ebpf.Engine.OwnersMap).
	Owners *cebpf.Map
	// Cgroup is the cgroup v2 directory whose sockets are attributed
	// (with everything below it); "" is the root of the cgroup v2 mount,
	// which sees every process.
	Cgroup string
	// Grace is how long an exited process stays known; 0 is DefaultGrace.
	Grace time.Duration
	// ExeHash adds the SHA-256 of each program file ("hash").
	ExeHash bool
	// RingBytes sizes the process event ring buffer; 0 is 1 MiB.
	RingBytes int
	// Warn reports what does not work on this kernel; nil discards.
	Warn func(string)
}

// Stats count what attribution did.
type Stats struct {
	Events    uint64 // process events read
	BadEvents uint64 // records that could not be decoded
	Seeded    uint64 // processes read from /proc at start-up
	Sockets   uint64 // sockets open at start-up that got their owner then
	ProcReads uint64 // processes read from /proc later (not in the cache)
	Unknown   uint64 // owners nothing was known about
	Processes int    // processes kept now
}

// describer turns an owner into the record's exe object; the eBPF and the
// /proc attributors share it.
type describer struct {
	cache   *cache
	clock   clock
	cgroups *cgroupNames
	exeHash bool

	usersMu sync.Mutex
	users   map[uint32]string

	hashMu sync.Mutex
	hashes map[fileID]string
	// toHash takes the programs of exec events, hashed in the background
	// so that records rarely wait for a hash.
	toHash chan string

	events, badEvents, seeded, seededSockets, procReads, unknown atomic.Uint64
}

type fileID struct {
	path     string
	dev, ino uint64
}

func newDescriber(grace time.Duration, cgroupRoot string, exeHash bool) *describer {
	if grace <= 0 {
		grace = DefaultGrace
	}
	d := &describer{
		cache:   newCache(grace),
		clock:   newClock(),
		cgroups: newCgroupNames(cgroupRoot),
		exeHash: exeHash,
		users:   make(map[uint32]string),
		hashes:  make(map[fileID]string),
	}
	if exeHash {
		d.toHash = make(chan string, 256)
		go func() {
			for path := range d.toHash {
				d.hash(path)
			}
		}()
	}
	return d
}

// hashLater queues path for hashing; a full queue drops it (the record
// then hashes it itself).
func (d *describer) hashLater(path string) {
	if d.toHash == nil || path == "" {
		return
	}
	select {
	case d.toHash <- path:
	default:
	}
}

// close stops the hashing goroutine.
func (d *describer) close() {
	if d.toHash != nil {
		close(d.toHash)
	}
}

// Describe fills e with the process owner was at time at; a process the
// cache does not know is read from /proc while it still runs.
func (d *describer) Describe(owner uint32, at int64, e *record.Exe) bool {
	p := d.cache.get(owner, at)
	if p == nil {
		np, err := readProc(owner, d.clock)
		if err != nil {
			d.unknown.Add(1)
			return false
		}
		d.procReads.Add(1)
		d.cache.put(np)
		if p = d.cache.get(owner, at); p == nil {
			d.unknown.Add(1)
			return false // the pid is another, newer process now
		}
	}
	*e = record.Exe{
		Name:      p.Comm,
		Path:      p.Path,
		Uptime:    -1,
		PID:       p.PID,
		PPID:      p.PPID,
		Cmdline:   p.Cmdline,
		UID:       p.UID,
		User:      d.userName(p.UID),
		Cgroup:    p.Cgroup,
		Container: p.Container,
	}
	if e.Container == "" {
		e.Container = ContainerID(p.Cgroup)
	}
	if p.Path != "" {
		e.Name = filepath.Base(p.Path)
	}
	if p.Start > 0 {
		e.Uptime = max(0, (at-p.Start)/int64(time.Second))
	}
	if d.exeHash && p.Path != "" {
		e.Hash = d.hash(p.Path)
	}
	return true
}

func (d *describer) userName(uid uint32) string {
	d.usersMu.Lock()
	defer d.usersMu.Unlock()
	if n, ok := d.users[uid]; ok {
		return n
	}
	n := ""
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		n = u.Username
	}
	d.users[uid] = n
	return n
}

// hash returns the hex SHA-256 of the file at path, computed once per
// file (path, device and inode: a replaced binary is hashed again); ""
// when it cannot be read.
func (d *describer) hash(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return ""
	}
	id := fileID{path: path}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), st.Ino
	}
	d.hashMu.Lock()
	h, ok := d.hashes[id]
	d.hashMu.Unlock()
	if ok {
		return h
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return ""
	}
	h = hex.EncodeToString(sum.Sum(nil))
	d.hashMu.Lock()
	d.hashes[id] = h
	d.hashMu.Unlock()
	return h
}

func (d *describer) stats() Stats {
	return Stats{
		Events: d.events.Load(), BadEvents: d.badEvents.Load(), Seeded: d.seeded.Load(), Sockets: d.seededSockets.Load(),
		ProcReads: d.procReads.Load(), Unknown: d.unknown.Load(), Processes: d.cache.len(),
	}
}

// Attributor attributes the eBPF engine's flows: it owns procmap's kernel
// hooks and the process cache. It implements pipeline.Attribution.
type Attributor struct {
	*describer
	k    *kernel
	done chan struct{}
}

// Open loads and attaches the hooks on cfg.Cgroup (or the cgroup v2
// root), seeds the process cache from /proc and starts reading process
// events. Close undoes it.
func Open(cfg Config) (*Attributor, error) {
	if cfg.Owners == nil {
		return nil, errors.New("procmap: no socket-owner map (the eBPF engine's)")
	}
	warn := cfg.Warn
	if warn == nil {
		warn = func(string) {}
	}
	root, rootErr := Cgroup2Root()
	cg := cfg.Cgroup
	var err error
	if cg == "" {
		if rootErr != nil {
			return nil, fmt.Errorf("%w; with `ip netns exec`, /sys has no cgroup mount: use nsenter --net", rootErr)
		}
		cg = root
	} else if cg, err = CgroupDir(cg); err != nil {
		return nil, err
	}
	if cfg.RingBytes == 0 {
		cfg.RingBytes = 1 << 20
	}
	a := &Attributor{describer: newDescriber(cfg.Grace, root, cfg.ExeHash), done: make(chan struct{})}
	if a.k, err = loadKernel(cfg.Owners, cg, cfg.RingBytes, warn); err != nil {
		return nil, err
	}
	procs, _ := seedFromProc(a.cache, a.clock)
	a.seeded.Store(uint64(len(procs)))
	// Sockets made before the hooks were attached.
	within := ""
	if cfg.Cgroup != "" && root != "" {
		within = "/" + strings.Trim(strings.TrimPrefix(filepath.Clean(cg), filepath.Clean(root)), "/")
	}
	a.seededSockets.Store(uint64(seedSockets(cfg.Owners, procs, a.clock, within)))
	if a.k.reader != nil {
		go a.read()
	} else {
		close(a.done)
	}
	return a, nil
}

// read applies process events until Close.
func (a *Attributor) read() {
	defer close(a.done)
	var rec ringbuf.Record
	var ev procEvent
	for {
		if err := a.k.reader.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrClosed) || errors.Is(err, ringbuf.ErrClosed) {
				return
			}
			continue
		}
		a.events.Add(1)
		if err := decodeProcEvent(rec.RawSample, &ev); err != nil {
			a.badEvents.Add(1)
			continue
		}
		a.apply(&ev, time.Now().UnixNano())
	}
}

// Lookup is pipeline.Attribution's: the eBPF engine carries owners in
// its events, so there is nothing to look up.
func (a *Attributor) Lookup(flowkey.Key, int64) (uint32, bool) { return 0, false }

// Stats returns the running totals.
func (a *Attributor) Stats() Stats { return a.stats() }

// Close detaches the hooks and stops reading events.
func (a *Attributor) Close() error {
	a.k.close()
	<-a.done
	a.describer.close()
	return nil
}
