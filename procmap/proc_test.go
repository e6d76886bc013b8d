package procmap

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/flowjoy/flowjoy/userspace/record"
)

func TestParseStat(t *testing.T) {
	clk := clock{bootWall: 1_700_000_000 * int64(time.Second)}
	var p Process
	// comm with spaces and a parenthesis, as the kernel writes it.
	stat := "4242 (my (odd) prog) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	if err := parseStat([]byte(stat), &p, clk); err != nil {
		t.Fatal(err)
	}
	if p.Comm != "my (odd) prog" || p.PPID != 17 || p.Start != clk.bootWall+12345*int64(10*time.Millisecond) {
		t.Errorf("parsed %+v", p)
	}
	for _, bad := range []string{"", "42 prog S 1", "42 (prog) S x 1", "42 (prog) S 1 2 3", ")( S 1"} {
		if err := parseStat([]byte(bad), &p, clk); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func TestReadProcSelf(t *testing.T) {
	p, err := readProc(uint32(os.Getpid()), newClock())
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if p.Path != exe || p.PPID != uint32(os.Getppid()) || p.UID != uint32(os.Getuid()) ||
		!strings.Contains(p.Cmdline, os.Args[0]) {
		t.Errorf("readProc(self) = %+v, want path %s ppid %d", p, exe, os.Getppid())
	}
	// Our own start time is in the recent past.
	if age := time.Since(time.Unix(0, p.Start)); age < 0 || age > 10*time.Minute {
		t.Errorf("start time %v ago", age)
	}
}

func TestCgroupFiles(t *testing.T) {
	hybrid := "12:pids:/user.slice\n1:name=systemd:/user.slice/session-2.scope\n0::/system.slice/docker-abc.scope\n"
	if got := cgroupV2Path([]byte(hybrid)); got != "/system.slice/docker-abc.scope" {
		t.Errorf("cgroupV2Path = %q", got)
	}
	id := strings.Repeat("4f", 32)
	v1 := "12:pids:/docker/" + id + "\n11:cpu,cpuacct:/docker/" + id + "\n0::/\n"
	if got := containerInCgroups([]byte(v1)); got != id {
		t.Errorf("containerInCgroups(hybrid docker) = %q", got)
	}
	if got := containerInCgroups([]byte(hybrid)); got != "" {
		t.Errorf("containerInCgroups(no container) = %q", got)
	}
	if got := cgroupV2Path([]byte("3:cpu:/x\n")); got != "" {
		t.Errorf("cgroupV2Path of a v1-only file = %q", got)
	}
	mounts := `sysfs /sys sysfs rw 0 0
tmpfs /sys/fs/cgroup tmpfs ro 0 0
cgroup2 /sys/fs/cgroup/unified\040dir cgroup2 rw,nosuid 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0
`
	if got, err := cgroup2Mount(strings.NewReader(mounts)); err != nil || got != "/sys/fs/cgroup/unified dir" {
		t.Errorf("cgroup2Mount = %q, %v", got, err)
	}
	if _, err := cgroup2Mount(strings.NewReader("sysfs /sys sysfs rw 0 0\n")); err != ErrNoCgroup2 {
		t.Errorf("no cgroup2: err = %v", err)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 5 1 1 1 1\n"))
	f.Add([]byte("2 (a) b) R 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Process
		parseStat(b, &p, clock{})
		statusUID(b)
		cgroupV2Path(b)
		if id := containerInCgroups(b); id != "" && !strings.Contains(string(b), id) {
			t.Fatalf("container id %q not in the input", id)
		}
		cgroup2Mount(strings.NewReader(string(b)))
		unescapeMount(string(b))
	})
}

func TestExeHash(t *testing.T) {
	d := newDescriber(time.Minute, "", true)
	defer d.close()
	exe, _ := os.Executable()
	raw, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	d.hashLater(exe) // the background hash and the record's agree
	var e record.Exe
	if !d.Describe(uint32(os.Getpid()), time.Now().UnixNano(), &e) {
		t.Fatal("this process is unknown")
	}
	if e.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("hash %q, want the SHA-256 of %s", e.Hash, exe)
	}
	if d.hash("/nonexistent/program") != "" {
		t.Error("a missing file has a hash")
	}
}

func TestInCgroup(t *testing.T) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip("no /proc/self/cgroup")
	}
	own := cgroupV2Path(b)
	if own == "" {
		t.Skip("no cgroup v2 path for this process")
	}
	if !inCgroup(own, own) || !inCgroup(own, path.Dir(own)) && own != "/" {
		t.Errorf("not in its own cgroup %s or its parent", own)
	}
	if inCgroup(own, own+"-other") || inCgroup(own, own+"/child") {
		t.Errorf("in a sibling or child of %s", own)
	}
}
