package procmap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/flowjoy/flowjoy/bpf"
	"github.com/flowjoy/flowjoy/userspace/record"
)

func encodeEvent(t testing.TB, ev any) []byte {
	var b bytes.Buffer
	if err := binary.Write(&b, binary.NativeEndian, ev); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func setC(dst []int8, s string) {
	for i := 0; i < len(dst)-1 && i < len(s); i++ {
		dst[i] = int8(s[i])
	}
}

func execEvent(t testing.TB, tgid uint32, filename string, args ...string) []byte {
	ev := bpf.ProcmapFjExecEvent{Hdr: bpf.ProcmapFjProcEvent{Kind: procExec, Tgid: tgid, Pid: tgid, Ppid: 1, Uid: 1000,
		StartNs: uint64(5 * time.Second), CgroupId: 0}}
	setC(ev.Hdr.Comm[:], "curl")
	setC(ev.Filename[:], filename)
	ev.FilenameLen = uint32(len(filename))
	var a []byte
	for _, s := range args {
		a = append(a, s...)
		a = append(a, 0)
	}
	for i, c := range a {
		ev.Args[i] = int8(c)
	}
	ev.ArgsLen = uint32(len(a))
	return encodeEvent(t, ev)
}

func TestDecodeProcEvent(t *testing.T) {
	var ev procEvent
	if err := decodeProcEvent(execEvent(t, 42, "/usr/bin/curl", "curl", "-s", "http://x/"), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.kind != procExec || ev.tgid != 42 || ev.ppid != 1 || ev.uid != 1000 || ev.comm != "curl" ||
		ev.filename != "/usr/bin/curl" || joinArgs(ev.args) != "curl -s http://x/" || ev.startNs != uint64(5*time.Second) {
		t.Errorf("decoded %+v", ev)
	}

	fork := encodeEvent(t, bpf.ProcmapFjProcEvent{Kind: procFork, Tgid: 7, Ppid: 42})
	if err := decodeProcEvent(fork, &ev); err != nil || ev.kind != procFork || ev.tgid != 7 || ev.ppid != 42 {
		t.Errorf("fork: %+v %v", ev, err)
	}

	for name, raw := range map[string][]byte{
		"short":          make([]byte, procHeaderSize-1),
		"unknown kind":   encodeEvent(t, bpf.ProcmapFjProcEvent{Kind: 9}),
		"exec cut short": execEvent(t, 1, "/bin/x")[:procHeaderSize+10],
		"lengths beyond": func() []byte {
			b := execEvent(t, 1, "/bin/x")
			binary.NativeEndian.PutUint32(b[procHeaderSize:], 5000)
			return b
		}(),
	} {
		if err := decodeProcEvent(raw, &ev); !errors.Is(err, errBadEvent) {
			t.Errorf("%s: err = %v, want errBadEvent", name, err)
		}
	}
}

// Exec, fork and exit events keep processes known after they are gone,
// for the grace period, and a reused pid is told apart by start time.
func TestEventsKeepExitedProcesses(t *testing.T) {
	d := newDescriber(time.Minute, "", false)
	d.clock = clock{bootWall: 1_000 * int64(time.Second)}
	var ev procEvent
	apply := func(raw []byte, now int64) {
		t.Helper()
		if err := decodeProcEvent(raw, &ev); err != nil {
			t.Fatal(err)
		}
		d.apply(&ev, now)
	}
	// A pid no process on this machine has, so /proc is not consulted.
	const pid = 1<<22 + 12345
	startWall := d.clock.wall(uint64(5 * time.Second))
	apply(execEvent(t, pid, "/usr/bin/curl", "curl", "http://x/"), startWall+1e6)

	// A forked child runs its parent's program.
	apply(encodeEvent(t, bpf.ProcmapFjProcEvent{Kind: procFork, Tgid: pid + 1, Ppid: pid, StartNs: uint64(6 * time.Second)}), startWall+2e9)
	apply(encodeEvent(t, bpf.ProcmapFjProcEvent{Kind: procExit, Tgid: pid, StartNs: uint64(5 * time.Second)}), startWall+3e9)

	var e struct{ record.Exe }
	if !d.Describe(pid, startWall+2e9, &e.Exe) {
		t.Fatal("an exited process within its grace period is unknown")
	}
	if e.Name != "curl" || e.Path != "/usr/bin/curl" || e.Cmdline != "curl http://x/" || e.PID != pid || e.PPID != 1 || e.UID != 1000 || e.Uptime != 2 {
		t.Errorf("exe %+v", e.Exe)
	}
	if !d.Describe(pid+1, startWall+2e9, &e.Exe) || e.Path != "/usr/bin/curl" || e.PPID != pid {
		t.Errorf("forked child: %+v", e.Exe)
	}

	// The pid is reused by a new process: flows before its start still
	// name the old one, later flows the new one.
	if err := decodeProcEvent(execEvent(t, pid, "/usr/bin/wget", "wget"), &ev); err != nil {
		t.Fatal(err)
	}
	ev.startNs = uint64(15 * time.Second)
	d.apply(&ev, startWall+10e9)
	if !d.Describe(pid, startWall+2e9, &e.Exe) || e.Name != "curl" {
		t.Errorf("before the reuse: %+v", e.Exe)
	}
	if !d.Describe(pid, startWall+11e9, &e.Exe) || e.Name != "wget" {
		t.Errorf("after the reuse: %+v", e.Exe)
	}

	// Past the grace period the exited process is dropped.
	apply(encodeEvent(t, bpf.ProcmapFjProcEvent{Kind: procExit, Tgid: pid + 1, StartNs: uint64(6 * time.Second)}), startWall+3e9+int64(2*time.Minute))
	if d.cache.get(pid, startWall+2e9) != nil {
		t.Error("an exited process outlived its grace period")
	}
	if d.cache.get(pid, startWall+11e9) == nil {
		t.Error("a running process was dropped")
	}
}

func FuzzDecodeProcEvent(f *testing.F) {
	f.Add(execEvent(f, 42, "/usr/bin/curl", "curl", "-s"))
	f.Add(encodeEvent(f, bpf.ProcmapFjProcEvent{Kind: procFork, Tgid: 7, Ppid: 42}))
	f.Add(encodeEvent(f, bpf.ProcmapFjProcEvent{Kind: procExit, Tgid: 7}))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ev procEvent
		if err := decodeProcEvent(raw, &ev); err != nil {
			if !errors.Is(err, errBadEvent) {
				t.Fatalf("error %v is not errBadEvent", err)
			}
			return
		}
		if len(ev.filename) > 256 || len(ev.args) > 1024 {
			t.Fatalf("decoded beyond the record: %d/%d", len(ev.filename), len(ev.args))
		}
	})
}
