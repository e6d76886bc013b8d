package tests

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowjoy/flowjoy/schema"
)

// Live capture end to end: the real binary runs inside the client
// namespace of scripts/testnet.sh (`ip netns exec NAME-c flowjoy -i IF`),
// loads the real kernel programs, watches the veth while the workload and
// a bulk transfer run, and is stopped by a signal. tcpdump records the
// same interface at the same time, and the file engine's records of that
// capture are the reference.

// liveNet is a testnet.sh network made for one test.
type liveNet struct {
	name, clientNS, serverNS string
	clientIf, serverIf       string
	dir                      string // testnet.sh's directory: certificates, www/
}

func newLiveNet(t *testing.T) *liveNet {
	t.Helper()
	needRoot(t)
	for _, tool := range []string{"ip", "tcpdump", "curl", "dig", "dnsmasq", "openssl", "python3", "bpftool", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (make deps installs it)", tool)
		}
	}
	var b [3]byte
	rand.Read(b[:])
	name := "fjl" + hex.EncodeToString(b[:]) // 9 characters: interface names stay unique
	n := &liveNet{name: name, clientNS: name + "-c", serverNS: name + "-s",
		clientIf: name + "c", serverIf: name + "s", dir: "/tmp/flowjoy-testnet-" + name}
	t.Cleanup(func() {
		if out, err := exec.Command("../scripts/testnet.sh", "down", name).CombinedOutput(); err != nil {
			t.Errorf("testnet.sh down: %v\n%s", err, out)
		}
	})
	if out, err := exec.Command("../scripts/testnet.sh", "up", name).CombinedOutput(); err != nil {
		t.Fatalf("testnet.sh up: %v\n%s", err, out)
	}
	return n
}

// traffic runs testnet.sh's workload (HTTP, TLS, DNS over UDP and TCP,
// ICMP) and, with bulkMB > 0, an HTTP download of that many MB of random
// bytes.
func (n *liveNet) traffic(t *testing.T, bulkMB int) {
	t.Helper()
	if out, err := exec.Command("../scripts/testnet.sh", "traffic", n.name).CombinedOutput(); err != nil {
		t.Fatalf("testnet.sh traffic: %v\n%s", err, out)
	}
	if bulkMB > 0 {
		n.bulk(t, bulkMB)
	}
}

func (n *liveNet) bulk(t *testing.T, mb int) {
	t.Helper()
	n.bulkFile(t, mb)
	out, err := exec.Command("ip", "netns", "exec", n.clientNS, "curl", "-sS", "-o", "/dev/null",
		"-w", "%{size_download}", "http://10.77.0.2:8080/bulk.bin").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(mb<<20) {
		t.Fatalf("bulk download: %v: %s", err, out)
	}
}

// bulkTLS downloads the bulk file over TLS 1.2 from a second openssl
// s_server (-WWW serves files) on port 4443.
func (n *liveNet) bulkTLS(t *testing.T, mb int) {
	t.Helper()
	n.bulkFile(t, mb)
	srv := startIn(t, n.serverNS, "", "bash", "-c", "cd "+n.dir+"/www && exec openssl s_server -quiet -accept 4443 -WWW -cert ../srv.pem -key ../srv.key -cert_chain ../ca.pem")
	defer srv.stop(t, syscall.SIGTERM)
	var out []byte
	var err error
	for i := 0; i < 50; i++ {
		out, err = exec.Command("ip", "netns", "exec", n.clientNS, "curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}",
			"--cacert", n.dir+"/ca.pem", "--resolve", "demo.test:4443:10.77.0.2", "--tlsv1.2", "--tls-max", "1.2",
			"https://demo.test:4443/bulk.bin").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "onnect") {
			break
		}
		time.Sleep(100 * time.Millisecond) // the server is not listening yet
	}
	if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(mb<<20) {
		t.Fatalf("bulk TLS download: %v: %s", err, out)
	}
}

func (n *liveNet) bulkFile(t *testing.T, mb int) {
	t.Helper()
	f := filepath.Join(n.dir, "www", "bulk.bin")
	if _, err := os.Stat(f); err != nil {
		data := make([]byte, mb<<20)
		rand.Read(data)
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// bg is a process running in a namespace with its output collected.
type bg struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

func (p *bg) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// startIn starts a command in namespace ns and waits until its stderr
// contains ready (when not empty).
func startIn(t *testing.T, ns, ready string, args ...string) *bg {
	t.Helper()
	return startCmd(t, ready, append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// startCmd starts a command and waits until its stderr contains ready
// (when not empty).
func startCmd(t *testing.T, ready string, args ...string) *bg {
	t.Helper()
	p := &bg{done: make(chan error, 1)}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for ready != "" && !strings.Contains(p.Stderr(), ready) {
		select {
		case err := <-p.done:
			t.Fatalf("%v exited before it was ready: %v\n%s", args, err, p.Stderr())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v not ready after 20 s:\n%s", args, p.Stderr())
		}
	}
	return p
}

// stop sends sig and waits for the exit.
func (p *bg) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		return err
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%v did not exit 20 s after %v:\n%s", p.cmd.Args, sig, p.Stderr())
		return nil
	}
}

// startFlowjoy runs flowjoy live in ns and waits until it captures.
func startFlowjoy(t *testing.T, ns string, args ...string) *bg {
	t.Helper()
	return startIn(t, ns, "flowjoy: capturing on", append([]string{flowjoyBin}, args...)...)
}

// records stops flowjoy with sig, requires a clean exit and returns its
// records, validated against the schema.
func (p *bg) records(t *testing.T, sig syscall.Signal) []map[string]any {
	t.Helper()
	if err := p.stop(t, sig); err != nil {
		t.Fatalf("flowjoy exit after %v: %v\n%s", sig, err, p.Stderr())
	}
	recs, err := schema.ValidateLines(p.stdout.Bytes())
	if err != nil {
		t.Fatalf("live output does not match the schema: %v", err)
	}
	return recs
}

// startTcpdump records iface in ns into file.
func startTcpdump(t *testing.T, ns, iface, file string) *bg {
	t.Helper()
	return startIn(t, ns, "listening on", "tcpdump", "-i", iface, "-s", "0", "-B", "65536", "--immediate-mode", "-U", "-Z", "root", "-w", file)
}

// stopTcpdump stops tcpdump and requires that the kernel dropped nothing:
// a reference capture with holes would make any comparison moot.
// tcpdump does not drain its buffer on SIGINT, so it gets time to catch
// up first: until the file stops growing.
func stopTcpdump(t *testing.T, td *bg, file string) int {
	t.Helper()
	var last int64 = -1
	for stable := 0; stable < 3; time.Sleep(200 * time.Millisecond) {
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == last {
			stable++
		} else {
			stable, last = 0, fi.Size()
		}
	}
	td.stop(t, syscall.SIGINT)
	var captured, received, dropped int
	for _, line := range strings.Split(td.Stderr(), "\n") {
		var n int
		var what string
		if _, err := fmt.Sscanf(line, "%d packets %s", &n, &what); err == nil {
			switch {
			case what == "captured":
				captured = n
			case what == "received":
				received = n
			case what == "dropped" && strings.Contains(line, "kernel"):
				dropped += n
			}
		}
	}
	if captured == 0 || captured != received || dropped != 0 {
		t.Fatalf("tcpdump lost packets: %s", td.Stderr())
	}
	return captured
}

// workloadAddrs are the hosts of the test network: flows between them are
// the workload. Other flows (MLD reports, router and neighbor
// solicitations to multicast groups) come from the kernel at moments the
// test does not control, maybe while only one of two captures runs.
var workloadAddrs = map[any]bool{"10.77.0.1": true, "10.77.0.2": true, "fd77::1": true, "fd77::2": true}

func flowTuple(r map[string]any) string {
	return fmt.Sprint(r["pr"], " ", r["sa"], " ", r["sp"], " > ", r["da"], " ", r["dp"])
}

func workload(recs []map[string]any) map[string][]map[string]any {
	m := map[string][]map[string]any{}
	for _, r := range recs {
		if workloadAddrs[r["sa"]] && workloadAddrs[r["da"]] {
			m[flowTuple(r)] = append(m[flowTuple(r)], r)
		}
	}
	return m
}

// timeTolerance bounds the difference between the timestamps of the live
// engine and tcpdump's: they are taken at different points of the stack
// (the eBPF engine's clock is CLOCK_MONOTONIC at the TC hook, mapped to
// wall time; tcpdump's is the packet socket's).
const timeTolerance = 0.005

// compareLive checks every workload flow of the live records against the
// file engine's records of the same packets: same flows, and every key
// equal except these documented exceptions:
//   - flow_id hashes the start time, which differs by microseconds;
//   - interface is named by live engines only (files have none);
//   - time_start/time_end within timeTolerance;
//   - ipt (whole ms since the previous packet, in packets and tls.srlt)
//     within 1, as microsecond differences can cross a millisecond
//     boundary;
//   - expire_type: the live clock is wall time and a closed flow may end
//     ("f") before the stop, while the file's clock is packet time, so
//     a flow whose 2 s close grace outlasts the capture ends "e": both
//     must be "f" or "e";
//   - ip.id (eBPF only, when a flow has more packets than --num-pkts): the
//     kernel samples the first --num-pkts packets of the flow (both
//     directions together) and the packets carrying payload while their
//     direction's budget lasts; the others are only counted, so the list
//     is the IDs of the sampled packets: a subsequence of the IDs of all
//     the direction's packets (ids, from tshark), of which the file
//     engine's list is a prefix. The sampled packets may come after the
//     file's list ends (a client's close_notify after a download).
//
// It returns the number of flows compared.
func compareLive(t *testing.T, engine string, live, file []map[string]any, numPkts int, ids map[string][]ipID) int {
	t.Helper()
	lw, fw := workload(live), workload(file)
	var keys []string
	for k := range fw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for k := range lw {
		if fw[k] == nil {
			t.Errorf("%s: flow %s has a live record but none in the capture: %v", engine, k, lw[k])
		}
	}
	compared := 0
	for _, k := range keys {
		for _, want := range fw[k] {
			var got map[string]any
			for _, r := range lw[k] {
				if math.Abs(r["time_start"].(float64)-want["time_start"].(float64)) <= timeTolerance {
					got = r
				}
			}
			if got == nil {
				t.Errorf("%s: no live record of %s starting at %.6f (live: %v)", engine, k, want["time_start"], lw[k])
				continue
			}
			compared++
			compareRecord(t, engine+": "+k, got, want, numPkts, ids)
		}
	}
	return compared
}

func compareRecord(t *testing.T, what string, got, want map[string]any, numPkts int, ids map[string][]ipID) {
	t.Helper()
	if got["interface"] == nil || got["interface"] == "" {
		t.Errorf("%s: live record names no interface", what)
	}
	for key := range union(got, want) {
		g, w := got[key], want[key]
		switch key {
		case "flow_id", "interface":
		case "time_start", "time_end":
			if math.Abs(g.(float64)-w.(float64)) > timeTolerance {
				t.Errorf("%s: %s live %.6f, file %.6f", what, key, g, w)
			}
		case "expire_type":
			if (g != "e" && g != "f") || (w != "e" && w != "f") {
				t.Errorf("%s: expire_type live %v, file %v", what, g, w)
			}
		case "ip":
			compareIP(t, what, g, w, numPkts, want, ids)
		case "packets":
			if !equalJSON(key, g, w) && !sameUpToOrder(g, w) {
				t.Errorf("%s: %s differs: %s", what, key, firstDiff(key, g, w))
			}
		case "tls":
			gt, _ := g.(map[string]any)
			wt, _ := w.(map[string]any)
			if gt == nil || wt == nil {
				if !equalJSON(key, g, w) {
					t.Errorf("%s: %s differs: %s", what, key, firstDiff(key, g, w))
				}
				continue
			}
			if !equalJSON("srlt", gt["srlt"], wt["srlt"]) && !sameUpToOrder(gt["srlt"], wt["srlt"]) {
				t.Errorf("%s: tls differs: %s", what, firstDiff("tls.srlt", gt["srlt"], wt["srlt"]))
			}
			gRest, wRest := maps.Clone(gt), maps.Clone(wt)
			delete(gRest, "srlt")
			delete(wRest, "srlt")
			if !equalJSON(key, gRest, wRest) {
				t.Errorf("%s: %s differs: %s", what, key, firstDiff(key, gRest, wRest))
			}
		default:
			if !equalJSON("", g, w) {
				t.Errorf("%s: %s differs: %s", what, key, firstDiff(key, g, w))
			}
		}
	}
}

// sameUpToOrder reports whether two lists of packet or record entries
// ({"b", "dir", "ipt"}) hold the same entries in another order, the
// times apart. Each packet tap (tcpdump's socket, flowjoy's socket, the
// eBPF ring) gets packets from every CPU that handles them, and two CPUs
// delivering at once can interleave differently at each tap: on a loaded
// machine the same traffic comes in a few entries apart (CI saw a 24-
// and a 255-byte packet of one TLS flow swap places between tcpdump and
// both live engines).
func sameUpToOrder(g, w any) bool {
	gl, _ := g.([]any)
	wl, _ := w.([]any)
	if len(gl) != len(wl) {
		return false
	}
	count := map[string]int{}
	for _, e := range gl {
		m, _ := e.(map[string]any)
		count[fmt.Sprint(m["b"], m["dir"])]++
	}
	for _, e := range wl {
		m, _ := e.(map[string]any)
		count[fmt.Sprint(m["b"], m["dir"])]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

// equalJSON is reflect.DeepEqual, except that an "ipt" (whole
// milliseconds since the previous packet or record: packets, tls.srlt)
// may differ by 1, as microsecond differences between the two clocks can
// cross a millisecond boundary.
func equalJSON(key string, g, w any) bool {
	switch gv := g.(type) {
	case map[string]any:
		wv, ok := w.(map[string]any)
		if !ok || len(gv) != len(wv) {
			return false
		}
		for k := range gv {
			if _, ok := wv[k]; !ok || !equalJSON(k, gv[k], wv[k]) {
				return false
			}
		}
		return true
	case []any:
		wv, ok := w.([]any)
		if !ok || len(gv) != len(wv) {
			return false
		}
		for i := range gv {
			if !equalJSON(key, gv[i], wv[i]) {
				return false
			}
		}
		return true
	case float64:
		wv, ok := w.(float64)
		if key == "ipt" {
			return ok && math.Abs(gv-wv) <= 1
		}
		return ok && gv == wv
	}
	return reflect.DeepEqual(g, w)
}

// firstDiff names the first place where two JSON values differ.
func firstDiff(path string, g, w any) string {
	switch gv := g.(type) {
	case map[string]any:
		if wv, ok := w.(map[string]any); ok {
			keys := union(gv, wv)
			var ks []string
			for k := range keys {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			for _, k := range ks {
				if !equalJSON(k, gv[k], wv[k]) {
					return firstDiff(path+"."+k, gv[k], wv[k])
				}
			}
		}
	case []any:
		if wv, ok := w.([]any); ok {
			for i := range min(len(gv), len(wv)) {
				if !equalJSON(path[strings.LastIndex(path, ".")+1:], gv[i], wv[i]) {
					return firstDiff(fmt.Sprintf("%s[%d]", path, i), gv[i], wv[i])
				}
			}
			if len(gv) != len(wv) {
				return fmt.Sprintf("%s: %d elements live, %d from the file: live %v, file %v", path, len(gv), len(wv), gv[max(0, len(gv)-3):], wv[max(0, len(wv)-3):])
			}
		}
	}
	return fmt.Sprintf("%s: live %s, file %s", path, short(g), short(w))
}

func compareIP(t *testing.T, what string, g, w any, numPkts int, want map[string]any, ids map[string][]ipID) {
	t.Helper()
	gm, _ := g.(map[string]any)
	wm, _ := w.(map[string]any)
	total := want["num_pkts_out"].(float64) + want["num_pkts_in"].(float64)
	if total <= float64(numPkts) {
		// Every packet was sampled: the lists are equal.
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: ip live %s, file %s", what, short(g), short(w))
		}
		return
	}
	sp, _ := want["sp"].(float64)
	dp, _ := want["dp"].(float64)
	out := ipDirKey(want["pr"].(float64), want["sa"], sp, want["da"], dp)
	in := ipDirKey(want["pr"].(float64), want["da"], dp, want["sa"], sp)
	for _, d := range []struct{ name, key string }{{"out", out}, {"in", in}} {
		gd, _ := gm[d.name].(map[string]any)
		wd, _ := wm[d.name].(map[string]any)
		if (gd == nil) != (wd == nil) || (gd != nil && gd["ttl"] != wd["ttl"]) {
			t.Errorf("%s: ip.%s live %s, file %s", what, d.name, short(gd), short(wd))
			continue
		}
		// The IDs of the direction's packets within the file record's
		// time span, in capture order.
		var all []any
		for _, p := range ids[d.key] {
			if p.ts >= want["time_start"].(float64)-2e-6 && p.ts <= want["time_end"].(float64)+2e-6 {
				all = append(all, p.id)
			}
		}
		gi, _ := gd["id"].([]any)
		wi, _ := wd["id"].([]any)
		if len(wi) > len(all) || !reflect.DeepEqual(wi, all[:len(wi)]) {
			t.Errorf("%s: ip.%s.id of the file engine %v is not a prefix of tshark's %s", what, d.name, wi, short(all))
			continue
		}
		// Every live ID is one tshark saw, in the record's span; not
		// necessarily in tshark's order (sameUpToOrder says why).
		seen := map[any]int{}
		for _, id := range all {
			seen[id]++
		}
		found := 0
		for _, id := range gi {
			if seen[id] > 0 {
				seen[id]--
				found++
			}
		}
		if found != len(gi) || (len(wi) > 0 && len(gi) == 0) {
			t.Errorf("%s: ip.%s.id live %v are not all among tshark's %s", what, d.name, gi, short(all))
		}
	}
}

// ipID is an IPv4 packet's ID and capture time.
type ipID struct {
	ts float64
	id any // float64, as in the records
}

func ipDirKey(proto float64, src any, sport float64, dst any, dport float64) string {
	return fmt.Sprintf("%v %v:%v > %v:%v", proto, src, sport, dst, dport)
}

// tsharkIPIDs lists, per direction of each IPv4 conversation (ipDirKey:
// ports 0 for protocols without), the IP IDs of its packets in capture
// order, as tshark dissects them.
func tsharkIPIDs(t *testing.T, pcap string) map[string][]ipID {
	t.Helper()
	// occurrence=f: the outer header of ICMP errors that quote another.
	out, err := exec.Command("tshark", "-r", pcap, "-Y", "ip", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
		"-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.proto", "-e", "ip.id",
		"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport").Output()
	if err != nil {
		t.Fatalf("tshark on %s: %v", pcap, err)
	}
	m := map[string][]ipID{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 9 {
			t.Fatalf("tshark: %q", sc.Text())
		}
		ts, err1 := strconv.ParseFloat(c[0], 64)
		proto, err2 := strconv.ParseFloat(c[3], 64)
		id, err3 := strconv.ParseUint(c[4], 0, 16)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("tshark: %q: %v %v %v", sc.Text(), err1, err2, err3)
		}
		var sport, dport float64
		switch proto {
		case 6:
			sport, _ = strconv.ParseFloat(c[5], 64)
			dport, _ = strconv.ParseFloat(c[6], 64)
		case 17:
			sport, _ = strconv.ParseFloat(c[7], 64)
			dport, _ = strconv.ParseFloat(c[8], 64)
		}
		k := ipDirKey(proto, c[1], sport, c[2], dport)
		m[k] = append(m[k], ipID{ts, float64(id)})
	}
	return m
}

func union(a, b map[string]any) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func short(v any) string {
	s := fmt.Sprintf("%v", v)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// checkWithTshark compares the live records' packet and payload byte
// counts with tshark's conversations of the capture (workload flows).
func checkWithTshark(t *testing.T, engine, pcap string, live []map[string]any) {
	t.Helper()
	byKey := map[string][]map[string]any{}
	for _, r := range live {
		if r["pr"] == 6.0 || r["pr"] == 17.0 {
			byKey[recordKey(r)] = append(byKey[recordKey(r)], r)
		}
	}
	n := 0
	for _, f := range tsharkFlows(t, pcap) {
		if !workloadAddrs[f.Src] || !workloadAddrs[f.Dst] {
			continue
		}
		var r map[string]any
		for _, c := range byKey[f.key()] {
			if math.Abs(c["time_start"].(float64)-f.FirstTS) <= timeTolerance {
				r = c
			}
		}
		if r == nil {
			t.Errorf("%s: no live record for tshark's %s", engine, f.key())
			continue
		}
		n++
		got := [4]float64{r["num_pkts_out"].(float64), r["bytes_out"].(float64), r["num_pkts_in"].(float64), r["bytes_in"].(float64)}
		want := [4]float64{float64(f.Out.Pkts), float64(f.Out.PayloadBytes), float64(f.In.Pkts), float64(f.In.PayloadBytes)}
		if got != want {
			t.Errorf("%s: %s: pkts/bytes out, pkts/bytes in = %v, tshark %v", engine, f.key(), got, want)
		}
	}
	if n < 9 {
		t.Errorf("%s: only %d TCP/UDP conversations compared with tshark", engine, n)
	}
}

// requireProtocols makes sure the comparison covered what it claims to:
// TLS with the SNI, HTTP, DNS, and the bulk flow.
func requireProtocols(t *testing.T, engine string, recs []map[string]any, bulkBytes float64) {
	t.Helper()
	var tls, http, dns, bulk bool
	for _, r := range recs {
		if m, ok := r["tls"].(map[string]any); ok && m["s_cert"] != nil && fmt.Sprint(m["sni"]) == "[demo.test]" {
			tls = true // the TLS 1.2 handshake, with the certificate chain
		}
		if r["http"] != nil {
			http = true
		}
		if r["dns"] != nil {
			dns = true
		}
		if bulkBytes > 0 && r["bytes_in"] != nil && r["bytes_in"].(float64) > bulkBytes {
			bulk = true
		}
	}
	if !tls || !http || !dns || (bulkBytes > 0 && !bulk) {
		t.Errorf("%s: records lack some of the workload: tls %v http %v dns %v bulk %v", engine, tls, http, dns, bulk)
	}
}

// Issue 5's equivalence: while the eBPF engine and the libpcap engine
// watch the client's veth (offloads off) carrying real TLS, HTTP, DNS,
// ICMP and a 4 MB download, tcpdump records the same interface; the file
// engine on that capture with the same --dist-bytes gives the same flows
// (compareLive lists the exceptions), and the live counts equal tshark's.
// The eBPF engine's kernel budget of each direction starts at
// max(--dist-bytes, what the parsers may read of a direction), so parsers
// see what they see in the file here: in the TLS download too, where the
// client's close_notify follows 4 MB from the server (with one budget
// shared by both directions, the download used it up and tls.srlt lacked
// the client's last records).
func TestLiveEnginesEqualFileEngine(t *testing.T) {
	n := newLiveNet(t)
	pcap := filepath.Join(t.TempDir(), "live.pcap")
	// --no-procmap: records without attribution are the file engine's.
	args := []string{"-i", n.clientIf, "--dist-bytes", "16384", "--idle-timeout", "0", "--active-timeout", "0", "--stats-json", "--no-procmap"}
	eb := startFlowjoy(t, n.clientNS, append([]string{"--engine", "ebpf"}, args...)...)
	if !strings.Contains(eb.Stderr(), "(eBPF: ingress tcx, egress tcx)") {
		t.Errorf("eBPF engine attached otherwise: %s", eb.Stderr())
	}
	pc := startFlowjoy(t, n.clientNS, append([]string{"--engine", "pcap"}, args...)...)
	td := startTcpdump(t, n.clientNS, n.clientIf, pcap)
	n.traffic(t, 4)
	n.bulkTLS(t, 4)
	stopTcpdump(t, td, pcap)
	ebRecs := eb.records(t, syscall.SIGTERM)
	pcRecs := pc.records(t, syscall.SIGINT)

	file := runFlowjoy(t, nil, "-r", pcap, "--dist-bytes", "16384", "--idle-timeout", "0", "--active-timeout", "0", "--no-progress")
	if file.exit != 0 {
		t.Fatalf("file engine: exit %d: %s", file.exit, file.stderr)
	}
	requireProtocols(t, "file", file.records, 4<<20)
	requireProtocols(t, "ebpf", ebRecs, 4<<20)
	requireProtocols(t, "pcap", pcRecs, 4<<20)
	for _, r := range append(ebRecs, pcRecs...) {
		if r["interface"] != n.clientIf {
			t.Errorf("live record names interface %v, want %s: %v", r["interface"], n.clientIf, short(r))
		}
	}
	ids := tsharkIPIDs(t, pcap)
	ne := compareLive(t, "ebpf", ebRecs, file.records, 50, ids)
	np := compareLive(t, "pcap", pcRecs, file.records, math.MaxInt, ids)
	t.Logf("compared %d eBPF and %d libpcap flows with the file engine's", ne, np)
	if ne < 15 || np < 15 {
		t.Errorf("too few workload flows compared: eBPF %d, libpcap %d (want 15: 3 HTTP, 4 TLS, 6 DNS, 2 ICMP)", ne, np)
	}
	checkWithTshark(t, "ebpf", pcap, ebRecs)
	checkWithTshark(t, "pcap", pcap, pcRecs)

	// The summary: every sample delivered, none lost or bad, and the
	// bulk flow's packets mostly counted in the kernel, not copied.
	var st struct {
		Packets uint64            `json:"packets"`
		Engine  map[string]uint64 `json:"engine"`
	}
	lines := strings.Split(strings.TrimSpace(eb.Stderr()), "\n")
	if err := jsonUnmarshal(lines[len(lines)-1], &st); err != nil {
		t.Fatalf("--stats-json: %v: %q", err, eb.Stderr())
	}
	e := st.Engine
	if e["samples_lost"] != 0 || e["bad_samples"] != 0 || e["samples_delivered"] != e["samples_written"] || st.Packets != e["samples_delivered"] {
		t.Errorf("eBPF engine statistics: %s", lines[len(lines)-1])
	}
	if e["kernel_packets"] < 2*e["samples_written"] {
		t.Errorf("the kernel copied %d of %d packets: the bulk flow should be mostly counted", e["samples_written"], e["kernel_packets"])
	}
}

// snmpTCP reads the TCP counters of a namespace from /proc/net/snmp.
func snmpTCP(t *testing.T, ns string) map[string]uint64 {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, v := range f[1:] {
			m[names[i]], _ = strconv.ParseUint(v, 10, 64)
		}
	}
	return m
}

// With offloads on, the veth carries GSO aggregates that stand for many
// wire segments: the eBPF engine counts the segments. The truth is each
// end's TCP stack: OutSegs and RetransSegs count every segment it sent
// (with TSO, the segments of each aggregate). The download is the only TCP traffic
// between the two namespaces while they are measured.
func TestLiveEBPFOffloadsCountSegments(t *testing.T) {
	n := newLiveNet(t)
	for _, side := range [][2]string{{n.clientNS, n.clientIf}, {n.serverNS, n.serverIf}} {
		if out, err := exec.Command("ip", "netns", "exec", side[0], "ethtool", "-K", side[1],
			"tso", "on", "gso", "on", "gro", "on", "tx", "on", "rx", "on", "sg", "on").CombinedOutput(); err != nil {
			t.Fatalf("turning offloads on: %v %s", err, out)
		}
	}
	fj := startFlowjoy(t, n.clientNS, "-i", n.clientIf, "--engine", "ebpf", "--stats-json")
	pcap := filepath.Join(t.TempDir(), "gso.pcap")
	td := startIn(t, n.clientNS, "listening on", "tcpdump", "-i", n.clientIf, "-s", "96", "-B", "65536", "--immediate-mode", "-U", "-Z", "root", "-w", pcap, "tcp")
	c0, s0 := snmpTCP(t, n.clientNS), snmpTCP(t, n.serverNS)
	n.bulk(t, 8)
	c1, s1 := snmpTCP(t, n.clientNS), snmpTCP(t, n.serverNS)
	captured := stopTcpdump(t, td, pcap)
	recs := fj.records(t, syscall.SIGTERM)
	var r map[string]any
	for _, x := range recs {
		if x["pr"] == 6.0 && x["dp"] == 8080.0 {
			if r != nil {
				t.Fatalf("two HTTP flows: %v and %v", r, x)
			}
			r = x
		}
	}
	if r == nil {
		t.Fatalf("no record of the download: %v", recs)
	}
	gotOut, gotIn := uint64(r["num_pkts_out"].(float64)), uint64(r["num_pkts_in"].(float64))
	// OutSegs leaves out retransmitted segments, which the wire carries.
	segs := func(a, b map[string]uint64) uint64 {
		return b["OutSegs"] - a["OutSegs"] + b["RetransSegs"] - a["RetransSegs"]
	}
	wantOut, wantIn := segs(c0, c1), segs(s0, s1)
	if gotOut != wantOut || gotIn != wantIn {
		t.Errorf("segments out/in %d/%d, the TCP stacks sent %d/%d", gotOut, gotIn, wantOut, wantIn)
	}
	if r["bytes_in"].(float64) < 8<<20 {
		t.Errorf("bytes_in %v, want the 8 MB body and headers", r["bytes_in"])
	}
	// The offloads were in effect: tcpdump, which sees each aggregate as
	// one packet, saw fewer packets than the segments.
	if captured >= int(gotIn+gotOut) {
		t.Errorf("tcpdump saw %d packets for %d segments: offloads were not in effect", captured, gotIn+gotOut)
	}
	t.Logf("%d+%d segments (%d+%d retransmitted) in %d packets as tcpdump saw them", gotOut, gotIn,
		c1["RetransSegs"]-c0["RetransSegs"], s1["RetransSegs"]-s0["RetransSegs"], captured)
}

// bpfObjects lists the eBPF programs, links and maps a process holds, as
// "prog 12", "link 3", "map 40", from its file descriptors.
func bpfObjects(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var objs []string
	for _, fd := range fds {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		kind := map[string]string{"anon_inode:bpf-prog": "prog", "anon_inode:bpf_link": "link", "anon_inode:bpf-map": "map"}[target]
		if kind == "" {
			continue
		}
		info, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		for _, line := range strings.Split(string(info), "\n") {
			if id, ok := strings.CutPrefix(line, kind+"_id:"); ok {
				objs = append(objs, kind+" "+strings.TrimSpace(id))
			}
		}
	}
	return objs
}

// stillLoaded returns the objects that bpftool still finds.
func stillLoaded(objs []string) []string {
	var left []string
	for _, o := range objs {
		kind, id, _ := strings.Cut(o, " ")
		if exec.Command("bpftool", kind, "show", "id", id).Run() == nil {
			left = append(left, o)
		}
	}
	return left
}

// attachments lists what is attached to iface in ns as bpftool, tc and ip
// show it (bpftool 7.1 does not list tcx links: bpfObjects covers them).
func attachments(t *testing.T, ns, iface string) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{
		{"bpftool", "net", "show", "dev", iface},
		{"tc", "filter", "show", "dev", iface, "ingress"},
		{"tc", "filter", "show", "dev", iface, "egress"},
		{"tc", "qdisc", "show", "dev", iface},
		{"ip", "-d", "link", "show", iface},
	} {
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
		b.WriteString(string(out))
	}
	return b.String()
}

// leftovers returns the lines of an attachments listing that show a
// flowjoy program, a clsact qdisc or filter, or an XDP program.
func leftovers(listing string) []string {
	var l []string
	for _, line := range strings.Split(listing, "\n") {
		if strings.Contains(line, "fj_") || strings.Contains(line, "flowjoy") || strings.Contains(line, "clsact") ||
			strings.Contains(line, "prog/xdp") || strings.Contains(line, "xdpgeneric") || strings.Contains(line, "xdpdrv") {
			l = append(l, line)
		}
	}
	return l
}

// SIGINT, SIGTERM and SIGKILL leave nothing behind: every program, link and map
// the process held is gone from the kernel (bpftool finds none of their
// ids), and bpftool, tc and ip show nothing attached to the interface.
// SIGINT and SIGTERM first write every flow; SIGUSR1 prints statistics while the
// capture goes on; --cleanup finds nothing to remove. The SIGKILL run
// uses --xdp, so that XDP's link is covered too.
func TestLiveEBPFLeavesNothing(t *testing.T) {
	n := newLiveNet(t)
	if l := leftovers(attachments(t, n.clientNS, n.clientIf)); l != nil {
		t.Fatalf("attached before flowjoy ran: %v", l)
	}
	for _, c := range []struct {
		sig  syscall.Signal
		args []string
	}{{syscall.SIGINT, nil}, {syscall.SIGTERM, nil}, {syscall.SIGKILL, []string{"--xdp"}}} {
		fj := startFlowjoy(t, n.clientNS, append([]string{"-i", n.clientIf, "--engine", "ebpf"}, c.args...)...)
		objs := bpfObjects(t, fj.cmd.Process.Pid)
		var progs, links int
		for _, o := range objs {
			if strings.HasPrefix(o, "prog ") {
				progs++
			} else if strings.HasPrefix(o, "link ") {
				links++
			}
		}
		if progs < 2 || links < 2 {
			t.Errorf("%v: flowjoy holds %v: want programs and their links", c.args, objs)
		}
		if c.args != nil && len(leftovers(attachments(t, n.clientNS, n.clientIf))) == 0 {
			t.Errorf("--xdp: no XDP program on the interface: %s", attachments(t, n.clientNS, n.clientIf))
		}
		exec.Command("ip", "netns", "exec", n.clientNS, "ping", "-c", "3", "-i", "0.2", "-q", "10.77.0.2").Run()
		if c.sig == syscall.SIGKILL {
			fj.stop(t, syscall.SIGKILL)
			if strings.Contains(fj.Stderr(), "clsact") {
				// A kernel without tcx: TC filters outlive the process
				// by design, and --cleanup removes them.
				out, err := exec.Command("ip", "netns", "exec", n.clientNS, flowjoyBin, "--cleanup").CombinedOutput()
				if err != nil || !strings.Contains(string(out), "removed 2 leftover") {
					t.Errorf("--cleanup after SIGKILL with clsact filters: %v: %s", err, out)
				}
			}
		} else {
			fj.cmd.Process.Signal(syscall.SIGUSR1)
			waitUntil(t, "statistics after SIGUSR1", func() bool { return strings.Contains(fj.Stderr(), "kernel_packets") })
			exec.Command("ip", "netns", "exec", n.clientNS, "ping", "-c", "2", "-i", "0.2", "-q", "10.77.0.2").Run()
			var ping map[string]any
			for _, r := range fj.records(t, c.sig) {
				if r["pr"] == 1.0 && r["sa"] == "10.77.0.1" {
					ping = r
				}
			}
			if ping == nil || ping["num_pkts_out"] != 5.0 || ping["num_pkts_in"] != 5.0 || ping["expire_type"] != "e" {
				t.Errorf("after %v, the ping flow is %v: want 5 packets each way, expire_type e", c.sig, ping)
			}
		}
		// Objects are freed once their last reference goes, after an
		// RCU grace period.
		var left []string
		waitUntil(t, fmt.Sprintf("the kernel to free %v after %v", objs, c.sig), func() bool {
			left = stillLoaded(objs)
			return left == nil
		})
		if l := leftovers(attachments(t, n.clientNS, n.clientIf)); l != nil {
			t.Errorf("after %v: %v", c.sig, l)
		}
	}
	out, err := exec.Command("ip", "netns", "exec", n.clientNS, flowjoyBin, "--cleanup").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "nothing left behind") {
		t.Errorf("--cleanup: %v: %s", err, out)
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The engine choice: --engine ebpf refuses what it cannot do with a clear
// error; a filter runs in the kernel under --engine ebpf and auto (no
// fallback to libpcap for it), and a bad one fails before any engine is
// tried; --count and --duration end a capture by themselves.
func TestLiveEngineChoice(t *testing.T) {
	n := newLiveNet(t)
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", n.clientNS, flowjoyBin, "-i", n.clientIf}, args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}
	if _, stderr, err := run("--engine", "ebpf", "-i", "nosuchdev0"); err == nil || !strings.Contains(stderr, "nosuchdev0") {
		t.Errorf("--engine ebpf on a missing interface: %v %s", err, stderr)
	}
	for _, engine := range []string{"auto", "ebpf"} {
		_, stderr, err := run("--engine", engine, "--duration", "1s", "tcp", "port", "banana")
		if err == nil || !strings.Contains(stderr, "banana") || strings.Contains(stderr, "unavailable") {
			t.Errorf("--engine %s with a bad filter: %v\n%s", engine, err, stderr)
		}
	}
	for _, engine := range []string{"auto", "ebpf"} {
		fj := startFlowjoy(t, n.clientNS, "-i", n.clientIf, "--engine", engine, "--stats-json", "icmp")
		exec.Command("ip", "netns", "exec", n.clientNS, "ping", "-c", "4", "-i", "0.2", "-q", "10.77.0.2").Run()
		// TCP (SYN, RST from the closed port) that the filter must drop.
		exec.Command("ip", "netns", "exec", n.clientNS, "bash", "-c", "for i in 1 2 3; do (exec 3<>/dev/tcp/10.77.0.2/9) 2>/dev/null; done").Run()
		recs := fj.records(t, syscall.SIGTERM)
		stderr := fj.Stderr()
		var pings float64
		for _, r := range recs {
			if r["pr"] != 1.0 || r["interface"] != n.clientIf {
				t.Errorf("--engine %s: filter icmp let through %v", engine, r)
				continue
			}
			pings += r["num_pkts_out"].(float64) + r["num_pkts_in"].(float64)
		}
		var st struct {
			Engine map[string]uint64 `json:"engine"`
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if err := jsonUnmarshal(lines[len(lines)-1], &st); err != nil {
			t.Fatalf("--stats-json: %v: %q", err, stderr)
		}
		// The kernel counted the pings and nothing else (not the TCP,
		// not ARP).
		if !strings.Contains(stderr, "filter in kernel") || pings != 8 || st.Engine["kernel_packets"] != 8 {
			t.Errorf("--engine %s with filter icmp: %v packets in records, want the 8 pings; kernel_packets %d\n%s",
				engine, pings, st.Engine["kernel_packets"], stderr)
		}
	}

	// Without privileges: --engine ebpf says why and what to do instead;
	// --engine auto says it in one line and tries libpcap, which needs
	// privileges too.
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "flowjoy")
	if raw, err := os.ReadFile(flowjoyBin); err != nil || os.WriteFile(bin, raw, 0o755) != nil {
		t.Fatal("copying the binary")
	}
	for _, c := range []struct {
		engine string
		lines  int // of output: the error, and the fallback's reason
		want   []string
	}{
		{"ebpf", 1, []string{"needs root (or CAP_BPF and CAP_NET_ADMIN)", "--engine pcap"}},
		{"auto", 2, []string{"flowjoy: eBPF engine unavailable (", "); using libpcap\n", "capturing needs root or CAP_NET_RAW"}},
	} {
		out, err := exec.Command("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all",
			bin, "-i", "lo", "--engine", c.engine, "--duration", "1s").CombinedOutput()
		ok := err != nil && strings.Count(string(out), "\n") == c.lines
		for _, w := range c.want {
			ok = ok && strings.Contains(string(out), w)
		}
		if !ok {
			t.Errorf("--engine %s as uid 65534: %v: %s", c.engine, err, out)
		}
	}

	// -i repeated: records name their interface; loopback is watched on
	// egress only, so its packets are not counted twice.
	two := startFlowjoy(t, n.clientNS, "-i", n.clientIf, "-i", "lo", "--engine", "ebpf")
	for _, dst := range []string{"10.77.0.2", "127.0.0.1"} {
		exec.Command("ip", "netns", "exec", n.clientNS, "ping", "-c", "3", "-i", "0.2", "-q", dst).Run()
	}
	recs := two.records(t, syscall.SIGTERM)
	stderr := two.Stderr()
	var onVeth, onLo bool
	for _, r := range recs {
		if r["pr"] != 1.0 {
			continue
		}
		switch {
		case r["da"] == "10.77.0.2" && r["interface"] == n.clientIf:
			onVeth = r["num_pkts_out"] == 3.0 && r["num_pkts_in"] == 3.0
		case r["da"] == "127.0.0.1" && r["interface"] == "lo":
			// Requests and replies both go 127.0.0.1 > 127.0.0.1.
			onLo = r["num_pkts_out"] == 6.0 && r["num_pkts_in"] == 0.0
		}
	}
	if !onVeth || !onLo || !strings.Contains(stderr, "lo (eBPF: ingress none, egress tcx)") {
		t.Errorf("-i %s -i lo: want each ping once on its interface (3 packets each way; on lo 6 one way): %v\n%s", n.clientIf, recs, stderr)
	}

	go exec.Command("ip", "netns", "exec", n.clientNS, "ping", "-c", "20", "-i", "0.1", "-q", "10.77.0.2").Run()
	start := time.Now()
	stdout, stderr, err := run("--engine", "ebpf", "--count", "6", "--duration", "5s")
	recs, _ = schema.ValidateLines([]byte(stdout))
	var pkts float64
	for _, r := range recs {
		pkts += r["num_pkts_out"].(float64) + r["num_pkts_in"].(float64)
	}
	// It stops at the first packet after the sixth (or the count of
	// packets that passes it), not at --duration (5 s).
	if err != nil || pkts < 6 || pkts > 8 || time.Since(start) > 3500*time.Millisecond {
		t.Errorf("--count 6: %v after %v, %v packets: %s %s", err, time.Since(start), pkts, stdout, stderr)
	}
}

// `make demo` (scripts/demo.sh) runs the live eBPF engine on its own
// namespaces with real traffic, prints valid records of it (TLS with the
// SNI, HTTP, DNS, the download), and removes its namespaces.
func TestDemo(t *testing.T) {
	needRoot(t)
	cmd := exec.Command("../scripts/demo.sh")
	cmd.Env = append(os.Environ(), "FLOWJOY="+flowjoyBin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo.sh: %v\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "(eBPF: ingress tcx, egress tcx)") {
		t.Errorf("the demo did not run the eBPF engine: %s", errb.String())
	}
	recs, err := schema.ValidateLines(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	requireProtocols(t, "demo", recs, 2<<20)
	if len(workload(recs)) < 14 {
		t.Errorf("the demo printed %d workload flows, want 14", len(workload(recs)))
	}
	ns, _ := exec.Command("ip", "netns", "list").Output()
	pid := strconv.Itoa(cmd.Process.Pid)
	if strings.Contains(string(ns), "fjdemo"+pid) {
		t.Errorf("the demo left its namespaces: %s", ns)
	}
	if _, err := os.Stat("/tmp/flowjoy-testnet-fjdemo" + pid); err == nil {
		t.Errorf("the demo left /tmp/flowjoy-testnet-fjdemo%s", pid)
	}
}
