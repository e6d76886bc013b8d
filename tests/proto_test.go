package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// This file proves the protocol parsers end to end: real DNS, HTTP and
// SSH traffic made between two network namespaces (TestProtocolsOnRealTraffic)
// and every shared capture holding DHCP or DHCPv6 (TestDHCPOnSharedCaptures)
// go through the binary, and what the records say about each message must
// equal what tshark dissects from the same packets.

// protoNet is a client and a server namespace joined by a veth pair
// (10.77.0.1/fd77::1 and 10.77.0.2/fd77::2, as scripts/testnet.sh), with
// the servers this file starts. Names are random so parallel runs do not
// collide; t.Cleanup stops the servers and deletes the namespaces.
type protoNet struct {
	t            *testing.T
	c, s, vc, vs string
	dir          string
	procs        []*exec.Cmd
}

func newProtoNet(t *testing.T) *protoNet {
	t.Helper()
	var rnd [3]byte
	rand.Read(rnd[:])
	id := "fjp" + hex.EncodeToString(rnd[:]) // 9 characters: veth names stay under 15
	n := &protoNet{t: t, c: id + "-c", s: id + "-s", vc: id + "c", vs: id + "s", dir: t.TempDir()}
	t.Cleanup(n.down)
	for _, args := range [][]string{
		{"netns", "add", n.c},
		{"netns", "add", n.s},
		{"link", "add", n.vc, "netns", n.c, "type", "veth", "peer", "name", n.vs, "netns", n.s},
		{"-n", n.c, "addr", "add", "10.77.0.1/24", "dev", n.vc},
		{"-n", n.s, "addr", "add", "10.77.0.2/24", "dev", n.vs},
		{"-n", n.c, "addr", "add", "fd77::1/64", "dev", n.vc, "nodad"},
		{"-n", n.s, "addr", "add", "fd77::2/64", "dev", n.vs, "nodad"},
		{"-n", n.c, "link", "set", "lo", "up"},
		{"-n", n.s, "link", "set", "lo", "up"},
		{"-n", n.c, "link", "set", n.vc, "up"},
		{"-n", n.s, "link", "set", n.vs, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	// Offloads off: every packet on the wire is one packet in the capture.
	exec.Command("ip", "netns", "exec", n.c, "ethtool", "-K", n.vc, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off").Run()
	exec.Command("ip", "netns", "exec", n.s, "ethtool", "-K", n.vs, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off").Run()
	return n
}

func (n *protoNet) down() {
	for i := len(n.procs) - 1; i >= 0; i-- {
		p := n.procs[i]
		p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
	n.procs = nil
	exec.Command("ip", "netns", "del", n.c).Run()
	exec.Command("ip", "netns", "del", n.s).Run()
}

// start runs a server in namespace ns until the test ends; its output
// goes to DIR/name.log.
func (n *protoNet) start(ns, name string, args ...string) {
	n.t.Helper()
	log, err := os.Create(filepath.Join(n.dir, name+".log"))
	if err != nil {
		n.t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("starting %s: %v", name, err)
	}
	n.procs = append(n.procs, cmd)
}

// client runs a command in the client namespace, with a time limit.
func (n *protoNet) client(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.c}, args...)...).CombinedOutput()
	return string(out), err
}

// waitTCP waits until the server accepts TCP connections on every port.
func (n *protoNet) waitTCP(ports ...string) {
	n.t.Helper()
	script := ""
	for i, p := range ports {
		script += fmt.Sprintf("exec %d<>/dev/tcp/10.77.0.2/%s && ", i+3, p)
		if p == "22" {
			// Take sshd's banner, so none arrives after the probe has
			// gone (a stray segment and RST at the start of a capture).
			script += fmt.Sprintf("read -t 5 line <&%d && [[ $line == SSH-* ]] && ", i+3)
		}
	}
	script += "true"
	for i := 0; i < 100; i++ {
		if _, err := n.client("bash", "-c", script); err == nil {
			// Let the probes' connections close before any capture.
			time.Sleep(300 * time.Millisecond)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	logs, _ := filepath.Glob(filepath.Join(n.dir, "*.log"))
	var b strings.Builder
	for _, l := range logs {
		raw, _ := os.ReadFile(l)
		fmt.Fprintf(&b, "%s:\n%s\n", filepath.Base(l), raw)
	}
	n.t.Fatalf("servers on ports %v did not come up\n%s", ports, b.String())
}

// The zone dnsmasq serves: one name per record type the test asks for.
const (
	dnsHostsFile = `10.77.0.5 host.proto.test
fd77::5 host.proto.test
`
	bigNameCount = 60 // A records of big.proto.test: more than 512 octets
)

// httpServer is an HTTP/1.1 server with keep-alive: "/" has a
// Content-Length body, "/chunked" a chunked one, POST echoes the body with
// 201, anything else is a 404 that keeps the connection open.
const httpServer = `
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, code, data):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        if self.path == "/":
            self.reply(200, b"hello from the proto test\n")
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"first chunk\n", b"a second, longer chunk\n", b"x" * 3000):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.reply(404, b"no such page\n")
    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.reply(201, b"got " + data)
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
`

// up starts dnsmasq, the HTTP server and sshd in the server namespace.
func (n *protoNet) up() {
	t := n.t
	t.Helper()
	hosts := dnsHostsFile
	for i := 1; i <= bigNameCount; i++ {
		hosts += fmt.Sprintf("10.77.1.%d big.proto.test\n", i)
	}
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(n.dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hostsPath := write("hosts", hosts, 0o644)
	n.start(n.s, "dnsmasq", "dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
		"--listen-address=10.77.0.2", "--listen-address=fd77::2", "--port=53",
		"--pid-file="+filepath.Join(n.dir, "dnsmasq.pid"), "--addn-hosts="+hostsPath,
		"--local=/proto.test/", "--local-ttl=300", "--host-record=ttl.proto.test,10.77.0.7,fd77::7,4321",
		"--cname=c1.proto.test,c2.proto.test", "--cname=c2.proto.test,host.proto.test",
		`--txt-record=txt.proto.test,v=spf1 -all,second string`,
		"--mx-host=proto.test,mail.proto.test,10",
		"--srv-host=_http._tcp.proto.test,host.proto.test,8080,1,2",
		"--ptr-record=9.0.77.10.in-addr.arpa,named.proto.test")

	py := write("server.py", httpServer, 0o644)
	n.start(n.s, "http", "python3", py, "10.77.0.2", "8080")

	key := filepath.Join(n.dir, "host_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	cfg := write("sshd_config", fmt.Sprintf(`Port 22
ListenAddress 10.77.0.2
ListenAddress fd77::2
HostKey %s
PidFile none
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
LogLevel ERROR
`, key), 0o644)
	// sshd needs /run/sshd: a private mount namespace gives it one
	// without touching the host's /run.
	n.start(n.s, "sshd", "unshare", "-m", "sh", "-c",
		"mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -e -f "+cfg)
	n.waitTCP("53", "8080", "22")
}

// record captures the client's interface while work runs. Immediate
// mode: otherwise the kernel hands packets over a ring block at a time
// (TPACKET_V3, up to a second late), and those still in the ring when
// tcpdump is stopped are counted "received by filter" but never written.
func (n *protoNet) record(pcap string, work func()) {
	t := n.t
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.c, "tcpdump", "-i", n.vc, "-s", "0", "-U", "--immediate-mode", "-w", pcap)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatal("tcpdump did not start")
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("tcpdump did not start")
	}
	work()
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
}

// tsharkFieldRows runs tshark -T fields with a display filter; each row has
// one cell per field, each cell the field's occurrences in the packet.
func tsharkFieldRows(t *testing.T, pcap, filter string, fields []string, extra ...string) [][][]string {
	t.Helper()
	args := append([]string{"-r", pcap, "-Y", filter, "-T", "fields", "-E", "separator=/t",
		"-E", "occurrence=a", "-E", "aggregator=\x1f"}, extra...)
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v %s", args, err, stderr.String())
	}
	var rows [][][]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		cells := strings.Split(line, "\t")
		if len(cells) != len(fields) {
			t.Fatalf("tshark row with %d cells, want %d: %q", len(cells), len(fields), line)
		}
		row := make([][]string, len(cells))
		for i, c := range cells {
			if c != "" {
				row[i] = strings.Split(c, "\x1f")
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// protoEnds is the flow key of a packet or record with its two ends in a
// fixed order, so both directions give the same key.
func protoEnds(pr string, a string, ap int, b string, bp int) string {
	x, y := fmt.Sprintf("[%s]:%d", a, ap), fmt.Sprintf("[%s]:%d", b, bp)
	if x > y {
		x, y = y, x
	}
	return pr + " " + x + " " + y
}

// protoRowEnds returns the key of a tshark row whose first eight fields are
// ip.src ip.dst ipv6.src ipv6.dst tcp.srcport tcp.dstport udp.srcport
// udp.dstport, and the sender as "[addr]:port". In a tunnel the innermost
// header counts, as flowjoy decapsulates.
func protoRowEnds(row [][]string) (key, sender string) {
	last := func(c []string) string {
		if len(c) == 0 {
			return ""
		}
		return c[len(c)-1]
	}
	src, dst := last(row[0]), last(row[1])
	if len(row[2]) > 0 {
		src, dst = last(row[2]), last(row[3])
	}
	pr, sp, dp := "tcp", last(row[4]), last(row[5])
	if sp == "" {
		pr, sp, dp = "udp", last(row[6]), last(row[7])
	}
	spn, _ := strconv.Atoi(sp)
	dpn, _ := strconv.Atoi(dp)
	return protoEnds(pr, src, spn, dst, dpn), fmt.Sprintf("[%s]:%d", src, spn)
}

var protoAddrFields = []string{"ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"}

// protoRecordEnds returns a record's key in protoEnds' format and its
// initiator as "[addr]:port".
func protoRecordEnds(r map[string]any) (key, initiator string) {
	pr := map[float64]string{6: "tcp", 17: "udp"}[r["pr"].(float64)]
	sp, _ := r["sp"].(float64)
	dp, _ := r["dp"].(float64)
	return protoEnds(pr, r["sa"].(string), int(sp), r["da"].(string), int(dp)), fmt.Sprintf("[%s]:%d", r["sa"], int(sp))
}

func protoBool(c []string) bool {
	return len(c) > 0 && (c[0] == "1" || strings.EqualFold(c[0], "true"))
}

func protoNum(s string) uint64 {
	if strings.HasPrefix(s, "0x") {
		v, _ := strconv.ParseUint(s[2:], 16, 64)
		return v
	}
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

func protoStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// Real DNS (dnsmasq, dig over UDP and TCP, IPv4 and IPv6: A, AAAA, a
// CNAME chain, TXT with two strings, MX, SRV, PTR, NXDOMAIN, a TTL of its
// own, an answer too big for 512 octets that sets TC and is retried over
// TCP), HTTP/1.1 (keep-alive with four requests on one connection, a
// Content-Length and a chunked body, POST, DELETE, 404, a Host header of
// its own, no User-Agent) and SSH (two connections, IPv4 and IPv6, with
// different algorithm lists, failing authentication after the key
// exchange) between two namespaces: every message tshark dissects is in
// the records with tshark's values, and every conversation has tshark's
// counts (compareWithTruth).
func TestProtocolsOnRealTraffic(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"dnsmasq", "dig", "curl", "python3", "ssh", "ssh-keygen", "tcpdump", "tshark", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: %v", tool, err)
		}
	}
	n := newProtoNet(t)
	n.up()
	pcap := filepath.Join(n.dir, "proto.pcap")
	n.record(pcap, func() {
		run := func(mayFail bool, args ...string) {
			out, err := n.client(args...)
			if err != nil && !mayFail {
				t.Errorf("%v: %v\n%s", args, err, out)
			}
		}
		dig := func(args ...string) {
			run(false, append([]string{"dig", "+tries=1", "+time=5"}, args...)...)
		}
		for _, srv := range []string{"@10.77.0.2", "@fd77::2"} {
			dig(srv, "host.proto.test", "A")
			dig(srv, "host.proto.test", "AAAA")
		}
		dig("@10.77.0.2", "ttl.proto.test", "A") // a TTL of its own
		dig("@10.77.0.2", "c1.proto.test", "A")  // CNAME chain c1 → c2 → host
		dig("@10.77.0.2", "txt.proto.test", "TXT")
		dig("@10.77.0.2", "proto.test", "MX")
		dig("@10.77.0.2", "_http._tcp.proto.test", "SRV")
		dig("@10.77.0.2", "-x", "10.77.0.9")
		dig("@10.77.0.2", "-x", "10.77.0.5")
		dig("@10.77.0.2", "nothing.proto.test", "A") // NXDOMAIN
		// 60 A records do not fit 512 octets: TC over UDP, dig retries
		// over TCP.
		dig("@10.77.0.2", "+noedns", "big.proto.test", "A")
		dig("@10.77.0.2", "+tcp", "c1.proto.test", "A")
		dig("@fd77::2", "+tcp", "host.proto.test", "AAAA")
		dig("@10.77.0.2", "+tcp", "txt.proto.test", "TXT")
		dig("@10.77.0.2", "+tcp", "nothing.proto.test", "MX")

		u := "http://10.77.0.2:8080"
		// Keep-alive: four requests on one connection, a 404 among them.
		run(false, "curl", "-s", "-A", "flowjoy-proto/1.0", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
			u+"/", u+"/chunked", u+"/missing", u+"/?q=1&r=two")
		run(false, "curl", "-s", "-o", "/dev/null", "-d", "name=flowjoy&x=1", u+"/form")
		run(false, "curl", "-s", "-o", "/dev/null", "-H", "Host: virtual.proto.test", "-A", "", u+"/chunked")
		run(false, "curl", "-s", "-o", "/dev/null", "-X", "DELETE", u+"/thing")

		// SSH: authentication fails (no keys, no passwords), but banners,
		// KEXINITs and the key exchange go over the wire.
		ssh := []string{"ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no", "-o", "GSSAPIAuthentication=no",
			"-o", "ConnectTimeout=5"}
		run(true, append(ssh, "nobody@10.77.0.2", "true")...)
		run(true, append(ssh, "-o", "KexAlgorithms=diffie-hellman-group14-sha256", "-o", "Ciphers=aes128-ctr",
			"-o", "MACs=hmac-sha2-256", "nobody@fd77::2", "true")...)
	})

	r := runFlowjoy(t, nil, append([]string{"-r", pcap}, noTimeouts...)...)
	if r.exit != 0 {
		t.Fatalf("exit %d: %s", r.exit, r.stderr)
	}
	compareWithTruth(t, "proto", tsharkFlows(t, pcap), r.records)
	t.Run("DNS", func(t *testing.T) { compareDNS(t, pcap, r.records) })
	t.Run("HTTP", func(t *testing.T) { compareHTTP(t, pcap, r.records) })
	t.Run("SSH", func(t *testing.T) { compareSSH(t, pcap, r.records) })
}

// dnsView is what both sides say about one DNS message.
type dnsView struct {
	Name, RCode                    string
	TC                             bool
	A, AAAA, CNAME, TTL            []string
	MX, TXT, SRV, PTR              []string
	Answers, Authority, Additional int
}

func compareDNS(t *testing.T, pcap string, records []map[string]any) {
	fields := append(append([]string{}, protoAddrFields...), "dns.id", "dns.flags.response", "dns.qry.name",
		"dns.flags.rcode", "dns.flags.truncated", "dns.a", "dns.aaaa", "dns.cname", "dns.resp.ttl",
		"dns.mx.mail_exchange", "dns.txt", "dns.srv.target", "dns.ptr.domain_name",
		"dns.count.answers", "dns.count.auth_rr", "dns.count.add_rr", "dns.flags")
	want := map[string]dnsView{}
	var order []string
	for _, row := range tsharkFieldRows(t, pcap, "dns", fields) {
		key, _ := protoRowEnds(row)
		c := row[len(protoAddrFields):]
		if len(c[0]) != 1 {
			t.Fatalf("%s: %d DNS messages in one packet; the test expects one", key, len(c[0]))
		}
		resp := protoBool(c[1])
		k := fmt.Sprintf("%s id %d response %v", key, protoNum(c[0][0]), resp)
		v := dnsView{TC: protoBool(c[4]), A: c[5], AAAA: c[6], CNAME: c[7], TTL: c[8],
			MX: c[9], TXT: c[10], SRV: c[11], PTR: c[12]}
		if len(c[2]) > 0 {
			v.Name = c[2][0]
		}
		if len(c[3]) > 0 {
			v.RCode = c[3][0]
		} else if len(c[16]) > 0 {
			// tshark shows dns.flags.rcode only in responses: in a
			// query, the low four bits of the flags.
			v.RCode = strconv.FormatUint(protoNum(c[16][0])&0xf, 10)
		}
		cnt := func(c []string) int {
			if len(c) == 0 {
				return 0
			}
			n, _ := strconv.Atoi(c[0])
			return n
		}
		v.Answers, v.Authority, v.Additional = cnt(c[13]), cnt(c[14]), cnt(c[15])
		if _, dup := want[k]; dup {
			t.Fatalf("two DNS messages %s", k)
		}
		want[k] = v
		order = append(order, k)
	}

	got := map[string]dnsView{}
	for _, r := range records {
		msgs, _ := r["dns"].([]any)
		key, _ := protoRecordEnds(r)
		for _, mv := range msgs {
			m := mv.(map[string]any)
			resp := m["rn"] != nil
			v := dnsView{Name: protoStr(m["qn"]), RCode: protoStr(m["rc"]), TC: m["tc"] == true}
			if resp {
				v.Name = protoStr(m["rn"])
			}
			rrs, _ := m["rr"].([]any)
			for _, rv := range rrs {
				rr := rv.(map[string]any)
				add := func(k string, to *[]string) {
					if x, ok := rr[k]; ok {
						*to = append(*to, protoStr(x))
					}
				}
				add("a", &v.A)
				add("aaaa", &v.AAAA)
				add("cname", &v.CNAME)
				add("mx", &v.MX)
				add("srv", &v.SRV)
				add("ptr", &v.PTR)
				if s, ok := rr["txt_strings"].([]any); ok {
					for _, x := range s {
						v.TXT = append(v.TXT, protoStr(x))
					}
				} else {
					add("txt", &v.TXT)
				}
				add("ttl", &v.TTL)
				switch rr["section"] {
				case "answer":
					v.Answers++
				case "authority":
					v.Authority++
				case "additional":
					v.Additional++
				}
			}
			// The OPT pseudo-record is "edns", not in "rr"; tshark counts
			// it in the additional section.
			if m["edns"] != nil {
				v.Additional++
			}
			k := fmt.Sprintf("%s id %s response %v", key, protoStr(m["id"]), resp)
			got[k] = v
		}
	}
	var tc, tcp, nx, cnames, kinds, ttls int
	seen := map[string]bool{}
	for _, k := range order {
		w := want[k]
		g, ok := got[k]
		if !ok {
			t.Errorf("no DNS message %s in the records", k)
			continue
		}
		if fmt.Sprintf("%#v", g) != fmt.Sprintf("%#v", w) {
			t.Errorf("DNS %s:\n flowjoy %+v\n tshark  %+v", k, g, w)
		}
		if w.TC {
			tc++
		}
		if strings.HasPrefix(k, "tcp") {
			tcp++
		}
		if w.RCode == "3" {
			nx++
		}
		for _, x := range w.TTL {
			if x == "4321" {
				ttls++
			}
		}
		if len(w.CNAME) >= 2 {
			cnames++
		}
		for kind, l := range map[string][]string{"a": w.A, "aaaa": w.AAAA, "mx": w.MX, "txt": w.TXT, "srv": w.SRV, "ptr": w.PTR} {
			if len(l) > 0 && !seen[kind] {
				seen[kind] = true
				kinds++
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("records hold %d DNS messages, tshark %d", len(got), len(want))
	}
	// The workload must have produced what it is meant to prove.
	if tc == 0 || tcp < 8 || nx < 2 || cnames < 2 || kinds != 6 || ttls == 0 {
		t.Errorf("workload incomplete: %d truncated, %d over TCP, %d NXDOMAIN, %d CNAME chains, %d of 6 record types, %d TTLs of 4321",
			tc, tcp, nx, cnames, kinds, ttls)
	}
	t.Logf("%d DNS messages equal (%d truncated, %d over TCP)", len(want), tc, tcp)
}

// httpView is one request or response as both sides see it.
type httpView struct{ Method, URI, Host, UserAgent, Code string }

func compareHTTP(t *testing.T, pcap string, records []map[string]any) {
	fields := append(append([]string{}, protoAddrFields...), "http.request.method", "http.request.uri",
		"http.host", "http.user_agent", "http.response.code")
	want := map[string][]httpView{}
	var keys []string
	for _, row := range tsharkFieldRows(t, pcap, "http", fields) {
		key, _ := protoRowEnds(row)
		c := row[len(protoAddrFields):]
		one := func(c []string) string {
			if len(c) == 0 {
				return ""
			}
			return c[0]
		}
		if len(c[0]) > 1 || len(c[4]) > 1 {
			t.Fatalf("%s: several HTTP messages in one packet; the test expects one", key)
		}
		if _, ok := want[key]; !ok {
			keys = append(keys, key)
		}
		want[key] = append(want[key], httpView{one(c[0]), one(c[1]), one(c[2]), one(c[3]), one(c[4])})
	}
	var requests, responses, keepAlive int
	for _, r := range records {
		key, _ := protoRecordEnds(r)
		w, ok := want[key]
		if !ok {
			if r["http"] != nil {
				t.Errorf("%s: http in the record, tshark saw none", key)
			}
			continue
		}
		delete(want, key)
		// tshark lists messages in packet order; the record lists
		// exchanges. Requests are compared in order, responses in order.
		var wReq, wResp, gReq, gResp []httpView
		for _, v := range w {
			if v.Method != "" {
				wReq = append(wReq, v)
			} else {
				wResp = append(wResp, v)
			}
		}
		xs, _ := r["http"].([]any)
		for _, xv := range xs {
			x := xv.(map[string]any)
			if out, ok := x["out"].([]any); ok {
				var v httpView
				for _, ev := range out {
					for k, val := range ev.(map[string]any) {
						switch {
						case k == "method":
							v.Method = protoStr(val)
						case k == "uri":
							v.URI = protoStr(val)
						case strings.EqualFold(k, "host"):
							v.Host = protoStr(val)
						case strings.EqualFold(k, "user-agent"):
							v.UserAgent = protoStr(val)
						}
					}
				}
				gReq = append(gReq, v)
			}
			if in, ok := x["in"].([]any); ok {
				var v httpView
				for _, ev := range in {
					if c, ok := ev.(map[string]any)["code"]; ok {
						v.Code = protoStr(c)
					}
				}
				gResp = append(gResp, v)
			}
		}
		if fmt.Sprintf("%#v", gReq) != fmt.Sprintf("%#v", wReq) {
			t.Errorf("HTTP %s requests:\n flowjoy %+v\n tshark  %+v", key, gReq, wReq)
		}
		if fmt.Sprintf("%#v", gResp) != fmt.Sprintf("%#v", wResp) {
			t.Errorf("HTTP %s responses:\n flowjoy %+v\n tshark  %+v", key, gResp, wResp)
		}
		requests += len(wReq)
		responses += len(wResp)
		keepAlive = max(keepAlive, len(wReq))
	}
	for key := range want {
		t.Errorf("HTTP %s: no record", key)
	}
	if len(keys) < 4 || requests < 7 || responses < 7 || keepAlive < 4 {
		t.Errorf("workload incomplete: %d connections, %d requests, %d responses, at most %d on one connection",
			len(keys), requests, responses, keepAlive)
	}
	t.Logf("%d HTTP connections, %d requests and %d responses equal", len(keys), requests, responses)
}

func compareSSH(t *testing.T, pcap string, records []map[string]any) {
	fields := append(append([]string{}, protoAddrFields...), "ssh.protocol", "ssh.kex.hassh", "ssh.kex.hasshserver")
	type view struct{ protocol, hassh map[string]string } // by sender
	want := map[string]*view{}
	for _, row := range tsharkFieldRows(t, pcap, "ssh", fields) {
		key, sender := protoRowEnds(row)
		v := want[key]
		if v == nil {
			v = &view{map[string]string{}, map[string]string{}}
			want[key] = v
		}
		c := row[len(protoAddrFields):]
		if len(c[0]) > 0 {
			v.protocol[sender] = strings.TrimRight(c[0][0], "\r\n")
		}
		for _, h := range append(c[1], c[2]...) {
			v.hassh[sender] = h
		}
	}
	var compared int
	hasshes := map[string]bool{}
	for _, r := range records {
		key, init := protoRecordEnds(r)
		w, ok := want[key]
		if !ok {
			continue
		}
		delete(want, key)
		ssh, _ := r["ssh"].(map[string]any)
		if ssh == nil {
			t.Errorf("SSH %s: no ssh object", key)
			continue
		}
		dp, _ := r["dp"].(float64)
		resp := fmt.Sprintf("[%s]:%d", r["da"], int(dp))
		cli, _ := ssh["cli"].(map[string]any)
		srv, _ := ssh["srv"].(map[string]any)
		got := [4]string{protoStr(cli["protocol"]), protoStr(srv["protocol"]), protoStr(ssh["hassh"]), protoStr(ssh["hassh_server"])}
		exp := [4]string{w.protocol[init], w.protocol[resp], w.hassh[init], w.hassh[resp]}
		if got != exp {
			t.Errorf("SSH %s: client banner, server banner, hassh, hassh_server\n flowjoy %q\n tshark  %q", key, got, exp)
		}
		hasshes[exp[2]] = true
		for i, s := range exp {
			if s == "" {
				t.Errorf("SSH %s: tshark has no value %d of %q", key, i, exp)
			}
		}
		compared++
	}
	for key := range want {
		t.Errorf("SSH %s: no record", key)
	}
	if compared < 2 || len(hasshes) < 2 {
		t.Errorf("%d SSH connections compared with %d client HASSHes, want 2 and 2", compared, len(hasshes))
	}
	t.Logf("%d SSH connections equal", compared)
}

// dhcpView is what both sides say about one DHCP or DHCPv6 datagram.
// Lists, because a DHCPv6 relay message holds another message and a
// DHCPv4-over-DHCPv6 message (RFC 7341) a DHCPv4 one.
type dhcpView struct {
	Op, Xid, MAC, MsgType, Yiaddr, Ciaddr, ReqIP, Hostname []string // DHCPv4
	V6Type, V6Xid, V6Addr, LLAddr                          []string // DHCPv6

	truncated bool // the record says the capture cut the datagram short
}

// DHCPv4 message types (RFC 2132 §9.6, RFC 4388, RFC 6926, RFC 7724) and
// DHCPv6 ones (RFC 8415 §7.3 and later), under the names Joy gave them.
var (
	dhcpV4Types = map[string]int{"DHCPDISCOVER": 1, "DHCPOFFER": 2, "DHCPREQUEST": 3, "DHCPDECLINE": 4,
		"DHCPACK": 5, "DHCPNAK": 6, "DHCPRELEASE": 7, "DHCPINFORM": 8, "DHCPFORCERENEW": 9,
		"DHCPLEASEQUERY": 10, "DHCPLEASEUNASSIGNED": 11, "DHCPLEASEUNKNOWN": 12, "DHCPLEASEACTIVE": 13,
		"DHCPBULKLEASEQUERY": 14, "DHCPLEASEQUERYDONE": 15, "DHCPACTIVELEASEQUERY": 16,
		"DHCPLEASEQUERYSTATUS": 17, "DHCPTLS": 18}
	dhcpV6Types = map[string]int{"SOLICIT": 1, "ADVERTISE": 2, "REQUEST": 3, "CONFIRM": 4, "RENEW": 5,
		"REBIND": 6, "REPLY": 7, "RELEASE": 8, "DECLINE": 9, "RECONFIGURE": 10, "INFOREQUEST": 11,
		"RELAYFORWD": 12, "RELAYREPL": 13, "LEASEQUERY": 14, "LEASEQUERYREPLY": 15, "LEASEQUERYDONE": 16,
		"LEASEQUERYDATA": 17, "RECONFIGUREREQUEST": 18, "RECONFIGUREREPLY": 19, "DHCPV4QUERY": 20,
		"DHCPV4RESPONSE": 21, "ACTIVELEASEQUERY": 22, "STARTTLS": 23}
)

// typeNumber turns a message type the record names back into its number.
func typeNumber(names map[string]int, v any) string {
	if n, ok := names[protoStr(v)]; ok {
		return strconv.Itoa(n)
	}
	return protoStr(v)
}

// dhcpMaxMessages is how many messages the dhcp package keeps per flow
// (maxMessages there): tshark's later datagrams of a flow have no
// counterpart in the record by design.
const dhcpMaxMessages = 32

// Every shared capture with DHCP or DHCPv6 in it: each datagram tshark
// dissects is one message in the flow's record, with tshark's message
// types, transaction ids, client hardware address, offered/assigned and
// requested addresses, host name, DHCPv6 IA addresses and prefixes, and
// DUID link-layer addresses.
func TestDHCPOnSharedCaptures(t *testing.T) {
	root := sharedDir(t)
	var paths []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.Contains(p, "/truth/") || strings.Contains(p, "/expected/") {
			return nil
		}
		switch filepath.Ext(p) {
		case ".json", ".tsv", ".txt":
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		base := strings.ToLower(filepath.Base(p))
		hit := strings.Contains(base, "dhcp") || strings.Contains(base, "bootp")
		if !hit {
			// tshark's conversation listing of the capture names the
			// protocol when a port is DHCP's.
			txt, _ := os.ReadFile(filepath.Join(root, "truth", rel+".tshark.txt"))
			low := bytes.ToLower(txt)
			hit = bytes.Contains(low, []byte("dhcp")) || bytes.Contains(low, []byte("bootp"))
		}
		if hit {
			paths = append(paths, p)
		}
		return nil
	})
	sort.Strings(paths)
	fields := append(append([]string{}, protoAddrFields...), "dhcp.type", "dhcp.id", "dhcp.hw.mac_addr",
		"dhcp.option.dhcp", "dhcp.ip.your", "dhcp.ip.client", "dhcp.option.requested_ip_address",
		"dhcp.option.hostname", "dhcpv6.msgtype", "dhcpv6.xid", "dhcpv6.iaaddr.ip", "dhcpv6.iaprefix.pref_addr",
		"dhcpv6.duidllt.link_layer_addr", "dhcpv6.duidll.link_layer_addr", "dhcp.hw.type", "dhcp.hw.len")
	var captures, messages, v4, v6, truncated int
	var covered [5]int // messages with a MAC, requested address, host name, IA address, DUID address
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		rows := tsharkFieldRows(t, p, "dhcp or dhcpv6", fields)
		if len(rows) == 0 {
			t.Logf("%s: tshark finds no DHCP", rel)
			continue
		}
		want := map[string][]dhcpView{}
		var keys []string
		for _, row := range rows {
			key, _ := protoRowEnds(row)
			c := row[len(protoAddrFields):]
			v := dhcpView{Op: c[0], MsgType: c[3], Yiaddr: c[4], Ciaddr: c[5], ReqIP: c[6], Hostname: c[7],
				V6Type: c[8], V6Addr: append(append([]string(nil), c[10]...), c[11]...),
				LLAddr: append(append([]string(nil), c[12]...), c[13]...)}
			// dhcp.hw.mac_addr is also the address in a Client Identifier
			// option (61) of type 1: the header's comes first, and only
			// with an Ethernet address type and length.
			if len(c[2]) > 0 && len(c[14]) > 0 && len(c[15]) > 0 && protoNum(c[14][0]) == 1 && protoNum(c[15][0]) == 6 {
				v.MAC = c[2][:1]
			}
			for _, x := range c[1] {
				v.Xid = append(v.Xid, strconv.FormatUint(protoNum(x), 10))
			}
			for _, x := range c[9] {
				v.V6Xid = append(v.V6Xid, strconv.FormatUint(protoNum(x), 10))
			}
			v.normalize()
			if _, ok := want[key]; !ok {
				keys = append(keys, key)
			}
			want[key] = append(want[key], v)
		}

		r := runFlowjoy(t, nil, append([]string{"-r", p}, noTimeouts...)...)
		if r.exit != 0 {
			t.Errorf("%s: exit %d: %s", rel, r.exit, r.stderr)
			continue
		}
		got := map[string][]dhcpView{}
		for _, rec := range r.records {
			if rec["pr"] != 17.0 {
				continue
			}
			key, _ := protoRecordEnds(rec)
			for _, k := range []string{"dhcp", "dhcpv6"} {
				msgs, _ := rec[k].([]any)
				for _, mv := range msgs {
					var v dhcpView
					m, _ := mv.(map[string]any)
					if k == "dhcp" {
						v.addV4(m)
					} else {
						v.addV6(m)
					}
					v.normalize()
					got[key] = append(got[key], v)
				}
			}
		}
		for _, key := range keys {
			w, g := want[key], got[key]
			if len(w) > dhcpMaxMessages {
				t.Logf("%s: %s: %d DHCP datagrams, the record keeps the first %d", rel, key, len(w), dhcpMaxMessages)
				w = w[:dhcpMaxMessages]
			}
			if len(g) != len(w) {
				t.Errorf("%s: %s: %d DHCP messages in the record, tshark %d", rel, key, len(g), len(w))
				continue
			}
			for i := range w {
				gi := g[i]
				gi.truncated = false
				if g[i].truncated && fmt.Sprintf("%#v", w[i]) == fmt.Sprintf("%#v", dhcpView{}) {
					// tshark 4.0 dissects no field of a DHCP datagram
					// whose UDP length is more than the capture holds
					// ("Packet size limited during capture"); the record
					// decodes the octets that are there and says
					// "truncated". Only that much can be compared.
					t.Logf("%s: %s: message %d cut short by the capture: tshark shows no fields", rel, key, i)
					truncated++
					continue
				}
				if fmt.Sprintf("%#v", gi) != fmt.Sprintf("%#v", w[i]) {
					t.Errorf("%s: %s: message %d:\n flowjoy %+v\n tshark  %+v", rel, key, i, gi, w[i])
				}
				messages++
				for j, l := range [][]string{w[i].MAC, w[i].ReqIP, w[i].Hostname, w[i].V6Addr, w[i].LLAddr} {
					if len(l) > 0 {
						covered[j]++
					}
				}
				if len(w[i].Op) > 0 {
					v4++
				}
				if len(w[i].V6Type) > 0 {
					v6++
				}
			}
		}
		captures++
	}
	t.Logf("%d DHCP messages (%d with DHCPv4, %d with DHCPv6) equal in %d captures; %d cut short by the capture",
		messages, v4, v6, captures, truncated)
	for j, n := range covered {
		if n == 0 {
			t.Errorf("no message compared had a %s", []string{"client MAC", "requested address", "host name", "IA address", "DUID link-layer address"}[j])
		}
	}
	if captures < 30 || v4 < 50 || v6 < 30 || truncated > 3 {
		t.Errorf("%d captures, %d DHCPv4 and %d DHCPv6 messages compared, %d not comparable", captures, v4, v6, truncated)
	}
}

// normalize sorts what tshark's fields cannot order against each other
// (IA addresses against IA prefixes, DUID-LLT against DUID-LL) and
// makes empty lists nil.
func (v *dhcpView) normalize() {
	for _, l := range []*[]string{&v.V6Addr, &v.LLAddr} {
		sort.Strings(*l)
	}
	for _, l := range []*[]string{&v.Op, &v.Xid, &v.MAC, &v.MsgType, &v.Yiaddr, &v.Ciaddr, &v.ReqIP, &v.Hostname,
		&v.V6Type, &v.V6Xid, &v.V6Addr, &v.LLAddr} {
		if len(*l) == 0 {
			*l = nil
		}
	}
}

// addV4 adds a DHCPv4 message object of a record.
func (v *dhcpView) addV4(m map[string]any) {
	v.truncated = v.truncated || m["truncated"] == true
	if m["op"] != nil {
		v.Op = append(v.Op, protoStr(m["op"]))
	}
	if m["xid"] != nil {
		v.Xid = append(v.Xid, protoStr(m["xid"]))
	}
	if ch, _ := hex.DecodeString(protoStr(m["chaddr"])); m["htype"] == "1" && m["hlen"] == "6" && len(ch) >= 6 {
		v.MAC = append(v.MAC, macString(ch[:6]))
	}
	if m["yiaddr"] != nil {
		v.Yiaddr = append(v.Yiaddr, protoStr(m["yiaddr"]))
	}
	if m["ciaddr"] != nil {
		v.Ciaddr = append(v.Ciaddr, protoStr(m["ciaddr"]))
	}
	opts, _ := m["options"].([]any)
	for _, ov := range opts {
		for _, bv := range ov.(map[string]any) {
			body, _ := bv.(map[string]any)
			switch body["code"] {
			case 53.0:
				// Joy writes the type's name; an unnamed type stays a number.
				v.MsgType = append(v.MsgType, typeNumber(dhcpV4Types, body["decoded"]))
			case 50.0:
				v.ReqIP = append(v.ReqIP, protoStr(body["decoded"]))
			case 12.0:
				v.Hostname = append(v.Hostname, protoStr(body["decoded"]))
			}
		}
	}
}

func macString(b []byte) string {
	s := make([]string, len(b))
	for i, x := range b {
		s[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(s, ":")
}

// addV6 adds a DHCPv6 message object of a record, and the messages in it.
func (v *dhcpView) addV6(m map[string]any) {
	v.truncated = v.truncated || m["truncated"] == true
	v.V6Type = append(v.V6Type, typeNumber(dhcpV6Types, m["type"]))
	if x, ok := m["transid"]; ok {
		n, _ := strconv.ParseUint(protoStr(x), 16, 32)
		v.V6Xid = append(v.V6Xid, strconv.FormatUint(n, 10))
	}
	v.addV6Options(m["options"])
}

func (v *dhcpView) addV6Options(list any) {
	opts, _ := list.([]any)
	for _, ov := range opts {
		o, _ := ov.(map[string]any)
		for _, bv := range o {
			body, _ := bv.(map[string]any)
			if body == nil {
				continue
			}
			dec, _ := body["decoded"].(map[string]any)
			if dec == nil {
				continue
			}
			switch body["code"] {
			case 9.0: // RELAY_MSG
				v.addV6(dec)
				continue
			case 87.0: // DHCPV4_MSG
				v.addV4(dec)
				continue
			case 1.0, 2.0: // CLIENTID, SERVERID: DUID-LLT and DUID-LL
				if ll, ok := dec["lladdr"]; ok && (dec["type"] == 1.0 || dec["type"] == 3.0) {
					v.LLAddr = append(v.LLAddr, protoStr(ll))
				}
			case 5.0:
				v.V6Addr = append(v.V6Addr, protoStr(dec["address"]))
			case 26.0:
				if pfx, err := netip.ParsePrefix(protoStr(dec["prefix"])); err == nil {
					v.V6Addr = append(v.V6Addr, pfx.Addr().String())
				}
			}
			v.addV6Options(dec["options"])
		}
	}
}
