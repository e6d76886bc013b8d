package tests

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowjoy/flowjoy/procmap"
)

// Process attribution end to end: flowjoy runs in the client namespace of
// a testnet.sh network with its socket hooks on a child cgroup the test
// makes; every client runs inside that cgroup (the hooks see nothing
// else), and each flow's record must name the client's pid and program.
//
// Commands run through nsenter --net, not `ip netns exec`: that one
// remounts /sys, which hides the cgroup v2 mount.

// testCgroup makes a child cgroup of the cgroup v2 root and removes it
// (killing what is left in it) when the test ends.
func testCgroup(t *testing.T) (path, rel string) {
	t.Helper()
	root, err := procmap.Cgroup2Root()
	if err != nil {
		t.Fatalf("cgroup v2: %v", err)
	}
	var b [4]byte
	rand.Read(b[:])
	rel = "/flowjoy-test-" + hex.EncodeToString(b[:])
	path = filepath.Join(root, rel)
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(path, "cgroup.kill"), []byte("1"), 0)
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := os.Remove(path)
			if err == nil || os.IsNotExist(err) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("removing cgroup %s: %v", path, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	return path, rel
}

// inNet prefixes a command to run it in namespace ns.
func inNet(ns string, args ...string) []string {
	return append([]string{"nsenter", "--net=/var/run/netns/" + ns}, args...)
}

// inCgroup is a shell line that moves the shell into cgroup cg, prints
// its pid (which the exec'd command keeps) and runs cmd.
func inCgroup(cg, cmd string) string {
	return fmt.Sprintf("echo $$ > %s/cgroup.procs && echo $$ && exec %s", cg, cmd)
}

// runPid runs cmd in ns inside cg and returns the pid it ran as.
func runPid(t *testing.T, ns, cg, cmd string) int {
	t.Helper()
	args := inNet(ns, "sh", "-c", inCgroup(cg, cmd))
	out, _ := exec.Command(args[0], args[1:]...).Output() // ssh fails its login: the flow is what counts
	line, _, _ := strings.Cut(string(out), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("%s: no pid in %q", cmd, out)
	}
	return pid
}

func exeOf(r map[string]any, key string) map[string]any {
	e, _ := r[key].(map[string]any)
	return e
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// startSSHD runs an OpenSSH server on 10.77.0.2:22 in the server
// namespace, with a throwaway host key.
func startSSHD(t *testing.T, n *liveNet) {
	t.Helper()
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		// sshd's privilege separation directory.
		if err := os.Mkdir("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove("/run/sshd") })
	}
	key := filepath.Join(t.TempDir(), "hostkey")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	startIn(t, n.serverNS, "Server listening", "/usr/sbin/sshd", "-D", "-e", "-f", "/dev/null",
		"-o", "HostKey="+key, "-o", "ListenAddress=10.77.0.2", "-o", "PidFile=none", "-p", "22")
}

// waitHTTP waits until url answers from namespace ns.
func waitHTTP(t *testing.T, ns, url string) {
	t.Helper()
	args := inNet(ns, "curl", "-s", "-o", "/dev/null", "--max-time", "1", url)
	for i := 0; i < 100; i++ {
		if exec.Command(args[0], args[1:]...).Run() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s does not answer", url)
}

type liveSummary struct {
	Attribution *struct {
		LocalFlows      uint64 `json:"local_flows"`
		AttributedFlows uint64 `json:"attributed_flows"`
	} `json:"attribution"`
}

func summaryOf(t *testing.T, stderr string) liveSummary {
	t.Helper()
	var s liveSummary
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("summary: %v in %q", err, stderr)
	}
	if s.Attribution == nil {
		t.Fatalf("the summary has no attribution statistics: %s", stderr)
	}
	return s
}

// Clients of every kind (TCP, TLS, UDP connected and not, SSH), a server
// (accepted sockets), loopback (both ends local) and sockets opened
// before flowjoy started: each record names the right process.
func TestProcmapAttributesEachFlow(t *testing.T) {
	n := newLiveNet(t)
	cg, cgRel := testCgroup(t)
	startSSHD(t, n)
	dir := t.TempDir()

	// Sockets opened before flowjoy: a connected UDP socket and a TCP
	// connection, used only once flowjoy runs (when the go file appears).
	goFile := filepath.Join(dir, "go")
	early := startCmd(t, "", inNet(n.clientNS, "sh", "-c", inCgroup(cg, `python3 -c '
import os, socket, sys, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect(("10.77.0.2", 5555))
c = socket.create_connection(("10.77.0.2", 8080))
open(sys.argv[1] + ".ready", "w").close()
while not os.path.exists(sys.argv[1]): time.sleep(0.02)
u.send(b"sent after flowjoy started")
c.sendall(b"GET / HTTP/1.0\r\n\r\n"); c.recv(4096)
' `+goFile))...)
	for i := 0; ; i++ {
		if _, err := os.Stat(goFile + ".ready"); err == nil {
			break
		}
		if i > 400 {
			t.Fatal("the early sockets were not opened")
		}
		time.Sleep(25 * time.Millisecond)
	}

	// A server in the client namespace: its accepted sockets inherit the
	// listener's owner. It answers on the veth and on loopback.
	server := startCmd(t, "", inNet(n.clientNS, "sh", "-c", inCgroup(cg, "python3 -m http.server 9090 --bind 0.0.0.0 --directory "+dir))...)
	waitHTTP(t, n.clientNS, "http://127.0.0.1:9090/")
	// A UDP server that answers only after a long stream: by then the
	// flow's samples and payload budget are used up.
	udpServer := startCmd(t, "", inNet(n.clientNS, "sh", "-c", inCgroup(cg, `python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.0.1", 9093))
while True:
    b, peer = s.recvfrom(2048)
    if b == b"END":
        time.sleep(0.5)
        s.sendto(b"done", peer)
'`))...)

	fj := startCmd(t, "flowjoy: capturing on", inNet(n.clientNS, flowjoyBin, "-i", n.clientIf, "-i", "lo",
		"--engine", "ebpf", "--cgroup", cg, "--exe-hash", "--stats-json")...)
	if strings.Contains(fj.Stderr(), "unavailable") {
		t.Fatalf("attribution did not start: %s", fj.Stderr())
	}

	os.WriteFile(goFile, nil, 0o644)
	select {
	case err := <-early.done:
		if err != nil {
			t.Fatalf("early sockets: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the early sockets were not used")
	}
	earlyPid, err := strconv.Atoi(strings.TrimSpace(early.stdout.String()))
	if err != nil {
		t.Fatalf("early pid: %q", early.stdout.String())
	}

	type want struct {
		what     string
		match    func(r map[string]any) bool
		key      string // exe or peer_exe
		pid      int
		name     string
		cmdline  string
		peerName string // for loopback: the other end's program
	}
	flow := func(da string, dp float64, pr float64) func(r map[string]any) bool {
		return func(r map[string]any) bool { return r["da"] == da && r["dp"] == dp && r["pr"] == pr }
	}
	var wants []want
	add := func(what, cmd, name string, match func(r map[string]any) bool) {
		pid := runPid(t, n.clientNS, cg, cmd)
		wants = append(wants, want{what: what, match: match, key: "exe", pid: pid, name: name, cmdline: cmd})
	}
	add("TCP (curl)", "curl -s -o /dev/null http://10.77.0.2:8080/", "curl", flow("10.77.0.2", 8080, 6))
	add("TLS (curl)", "curl -sk -o /dev/null https://10.77.0.2/", "curl", flow("10.77.0.2", 443, 6))
	add("TLS over IPv6 (curl)", "curl -sk -o /dev/null https://[fd77::2]/", "curl", flow("fd77::2", 443, 6))
	add("UDP (dig)", "dig +short +tries=1 @10.77.0.2 demo.test", "dig", flow("10.77.0.2", 53, 17))
	add("SSH", "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 root@10.77.0.2 true",
		"ssh", flow("10.77.0.2", 22, 6))
	add("unconnected UDP (sendto)", `python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('10.77.0.2', 5556))"`,
		"python3", flow("10.77.0.2", 5556, 17))
	lo := runPid(t, n.clientNS, cg, "curl -s -o /dev/null http://127.0.0.1:9090/")
	wants = append(wants, want{what: "loopback client", match: flow("127.0.0.1", 9090, 6), key: "exe", pid: lo, name: "curl",
		cmdline: "curl -s -o /dev/null http://127.0.0.1:9090/", peerName: "python3"})
	// The server side: a client outside the cgroup (in the server
	// namespace) fetches from the server here.
	if out, err := exec.Command("ip", "netns", "exec", n.serverNS, "curl", "-s", "-o", "/dev/null", "http://10.77.0.1:9090/").CombinedOutput(); err != nil {
		t.Fatalf("curl from the server namespace: %v %s", err, out)
	}
	serverPid := server.cmd.Process.Pid // nsenter execs sh, which execs python: one pid
	if out, err := exec.Command("ip", "netns", "exec", n.serverNS, "python3", "-c", `
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
for i in range(200):
    s.sendto(b"x" * 1000, ("10.77.0.1", 9093))
    if i % 20 == 0: time.sleep(0.01)
s.sendto(b"END", ("10.77.0.1", 9093))
s.recvfrom(100)
`).CombinedOutput(); err != nil {
		t.Fatalf("UDP stream from the server namespace: %v %s", err, out)
	}
	wants = append(wants,
		want{what: "server (accepted socket)", match: flow("10.77.0.1", 9090, 6), key: "peer_exe", pid: serverPid, name: "python3"},
		want{what: "server answering after a long stream (UDP)", match: flow("10.77.0.1", 9093, 17), key: "peer_exe",
			pid: udpServer.cmd.Process.Pid, name: "python3"},
		want{what: "socket opened before flowjoy (UDP)", match: flow("10.77.0.2", 5555, 17), key: "exe", pid: earlyPid, name: "python3"},
		want{what: "socket opened before flowjoy (TCP)", match: func(r map[string]any) bool {
			return r["da"] == "10.77.0.2" && r["dp"] == 8080.0 && r["exe"] != nil && exeOf(r, "exe")["pid"] == float64(earlyPid)
		}, key: "exe", pid: earlyPid, name: "python3"},
	)

	recs := fj.records(t, syscall.SIGINT)
	for _, w := range wants {
		var got map[string]any
		for _, r := range recs {
			if w.match(r) && (w.key == "peer_exe" || exeOf(r, "exe")["pid"] == float64(w.pid) || got == nil) {
				got = r
			}
		}
		if got == nil {
			t.Errorf("%s: no record", w.what)
			continue
		}
		e := exeOf(got, w.key)
		if e == nil {
			t.Errorf("%s: no %s in %v", w.what, w.key, short(got))
			continue
		}
		if e["pid"] != float64(w.pid) || !strings.HasPrefix(e["name"].(string), w.name) {
			t.Errorf("%s: %s is pid %v (%v), want %d (%s)", w.what, w.key, e["pid"], e["name"], w.pid, w.name)
		}
		path, _ := e["path"].(string)
		if !filepath.IsAbs(path) {
			t.Errorf("%s: path %q is not a full path", w.what, path)
		} else if e["hash"] != sha256File(t, path) {
			t.Errorf("%s: hash %v is not the SHA-256 of %s", w.what, e["hash"], path)
		}
		if w.cmdline != "" && e["cmdline"] != strings.ReplaceAll(w.cmdline, `"`, ``) && !strings.HasPrefix(w.cmdline, "python3") {
			t.Errorf("%s: cmdline %q, want %q", w.what, e["cmdline"], w.cmdline)
		}
		if e["uid"] != 0.0 || e["user"] != "root" || e["cgroup"] != cgRel || e["ppid"] == nil {
			t.Errorf("%s: uid %v user %v cgroup %v ppid %v, want 0 root %s and a parent", w.what, e["uid"], e["user"], e["cgroup"], e["ppid"], cgRel)
		}
		if w.peerName != "" {
			p := exeOf(got, "peer_exe")
			if p == nil || p["pid"] != float64(serverPid) || !strings.HasPrefix(p["name"].(string), w.peerName) {
				t.Errorf("%s: peer_exe %v, want the server (pid %d)", w.what, p, serverPid)
			}
		}
	}
	s := summaryOf(t, fj.Stderr())
	if s.Attribution.AttributedFlows < uint64(len(wants)) || s.Attribution.AttributedFlows > s.Attribution.LocalFlows {
		t.Errorf("summary: %d of %d local flows attributed, want at least %d", s.Attribution.AttributedFlows, s.Attribution.LocalFlows, len(wants))
	}
	t.Logf("%d of %d local flows attributed", s.Attribution.AttributedFlows, s.Attribution.LocalFlows)
}

// 1,000 short curl runs in a row, each a few milliseconds: a poller would
// miss most; at least 99 % must name their curl.
func TestProcmapShortLivedProcesses(t *testing.T) {
	n := newLiveNet(t)
	cg, _ := testCgroup(t)
	fj := startCmd(t, "flowjoy: capturing on", inNet(n.clientNS, flowjoyBin, "-i", n.clientIf,
		"--engine", "ebpf", "--cgroup", cg, "--stats-json")...)
	const runs = 1000
	const url = "http://10.77.0.2:8080/"
	// One after the other; $! is each curl's pid.
	script := fmt.Sprintf(`echo $$ > %s/cgroup.procs
for i in $(seq %d); do curl -s -o /dev/null %s & echo $!; wait; done`, cg, runs, url)
	args := inNet(n.clientNS, "bash", "-c", script)
	start := time.Now()
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		t.Fatalf("curl loop: %v", err)
	}
	elapsed := time.Since(start)
	pids := map[float64]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		pid, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatalf("curl loop printed %q", sc.Text())
		}
		pids[float64(pid)] = true
	}
	if len(pids) != runs {
		t.Fatalf("%d distinct curl pids, want %d", len(pids), runs)
	}
	recs := fj.records(t, syscall.SIGINT)
	flows, right := 0, 0
	seen := map[float64]bool{}
	for _, r := range recs {
		if r["da"] != "10.77.0.2" || r["dp"] != 8080.0 {
			continue
		}
		flows++
		e := exeOf(r, "exe")
		if e == nil {
			continue
		}
		pid, _ := e["pid"].(float64)
		if pids[pid] && !seen[pid] && e["name"] == "curl" && e["path"] == "/usr/bin/curl" &&
			e["cmdline"] == "curl -s -o /dev/null "+url {
			seen[pid] = true
			right++
		}
	}
	if flows != runs {
		t.Errorf("%d HTTP flows, want %d", flows, runs)
	}
	if right*100 < runs*99 {
		t.Errorf("%d of %d curl flows attributed to their curl (want >= 99%%)", right, runs)
	}
	s := summaryOf(t, fj.Stderr())
	t.Logf("%d curl runs in %v (%.1f ms each); %d of %d flows attributed to the right curl; summary: %d of %d local flows attributed",
		runs, elapsed.Round(time.Millisecond), float64(elapsed.Milliseconds())/runs, right, flows,
		s.Attribution.AttributedFlows, s.Attribution.LocalFlows)
}

// The libpcap engine has no kernel hooks: it looks the flow's local
// socket up in /proc, which finds a connection that lives a while.
func TestProcmapLibpcapFallback(t *testing.T) {
	n := newLiveNet(t)
	fj := startCmd(t, "flowjoy: capturing on", inNet(n.clientNS, flowjoyBin, "-i", n.clientIf, "--engine", "pcap", "--stats-json")...)
	args := inNet(n.clientNS, "python3", "-c", `
import os, socket, time
c = socket.create_connection(("10.77.0.2", 8080))
print(os.getpid(), flush=True)
time.sleep(0.5)
c.sendall(b"GET / HTTP/1.0\r\n\r\n"); c.recv(4096)
`)
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("client pid: %q", out)
	}
	recs := fj.records(t, syscall.SIGINT)
	found := false
	for _, r := range recs {
		if r["da"] == "10.77.0.2" && r["dp"] == 8080.0 {
			found = true
			if e := exeOf(r, "exe"); e == nil || e["pid"] != float64(pid) || !strings.HasPrefix(e["name"].(string), "python3") {
				t.Errorf("exe %v, want python3 pid %d", r["exe"], pid)
			}
		}
	}
	if !found {
		t.Fatal("no record of the connection")
	}
	if s := summaryOf(t, fj.Stderr()); s.Attribution.AttributedFlows < 1 {
		t.Errorf("summary: %d of %d local flows attributed", s.Attribution.AttributedFlows, s.Attribution.LocalFlows)
	}
}
