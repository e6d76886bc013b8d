package main

import (
	"strings"
	"testing"
	"time"
)

func TestTranslateJoyArgs(t *testing.T) {
	tests := []struct {
		in      []string
		want    string
		filter  string
		wantErr string
	}{
		{in: []string{"-r", "x.pcap", "bidir=1", "num_pkts=20", "zeros=1", "dist=0", "tls=0"},
			want: "-r x.pcap --num-pkts=20 --zeros --no-byte-dist --no-tls"},
		{in: []string{"output=out.json", "bpf=tcp port 80", "-r", "a.pcap"}, want: "--write=out.json -r a.pcap", filter: "tcp port 80"},
		{in: []string{"-r", "x.pcap", "tcp", "port", "80"}, want: "-r x.pcap tcp port 80"},
		{in: []string{"-r", "x.pcap", "--", "src=1"}, want: "-r x.pcap -- src=1"},
		{in: []string{"bidir=0"}, wantErr: "always"},
		{in: []string{"zeros=2"}, wantErr: "0 or 1"},
		{in: []string{"classify=1"}, wantErr: "no flowjoy equivalent"},
	}
	for _, tt := range tests {
		got, filter, err := translateJoyArgs(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tt.want || filter != tt.filter {
			t.Errorf("%v: got %q filter %q err %v; want %q filter %q", tt.in, strings.Join(got, " "), filter, err, tt.want, tt.filter)
		}
	}
}

func TestFlags(t *testing.T) {
	var c config
	fs := newFlagSet(&c)
	err := fs.Parse([]string{"-r", "a", "-r", "b", "--idle-timeout", "2.5", "--active-timeout", "1m", "--no-redact", "--no-dns", "--dist-bytes", "all"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.reads) != 2 || c.idleTimeout.d != 2500*time.Millisecond || c.activeTimeout.d != time.Minute ||
		c.redact || *c.protocols["dns"] || !*c.protocols["tls"] || c.distBytes.n != -1 {
		t.Errorf("parsed %+v", c)
	}
	for _, bad := range [][]string{{"--idle-timeout", "-1"}, {"--idle-timeout", "soon"}, {"--dist-bytes", "-5"}} {
		var c config
		if err := newFlagSet(&c).Parse(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	// --help shows the real defaults.
	for name, want := range map[string]string{"idle-timeout": "10s", "active-timeout": "30s", "dist-bytes": "all", "num-pkts": "50"} {
		if got := newFlagSet(&config{}).Lookup(name).DefValue; got != want {
			t.Errorf("--%s default shown as %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"byte-dist", "decap", "redact", "tls", "quic", "dns", "http", "ssh", "dhcp", "progress"} {
		if fs.Lookup("no-"+name) == nil {
			t.Errorf("--%s has no --no-%s", name, name)
		}
	}
}

func TestInterfaceAnyAlone(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-i", "any"}, true},
		{[]string{"-i", "eth0", "-i", "eth1"}, true},
		{[]string{"-i", "any", "-i", "eth0"}, false},
	} {
		var c config
		if err := newFlagSet(&c).Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		err := c.validate()
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "any")) {
			t.Errorf("%v: %v, want ok %v", tc.args, err, tc.ok)
		}
	}
}

func TestProcmapFlags(t *testing.T) {
	parse := func(args ...string) (*config, error) {
		c := &config{}
		if err := newFlagSet(c).Parse(args); err != nil {
			return nil, err
		}
		return c, c.validate()
	}
	c, err := parse("-i", "eth0")
	if err != nil || !c.procmap || c.exeHash || c.cgroup != "" {
		t.Errorf("defaults: %+v %v; want attribution on, no hash, the cgroup root", c, err)
	}
	c, err = parse("-i", "eth0", "--no-procmap", "--exe-hash", "--cgroup", "/sys/fs/cgroup/x")
	if err != nil || c.procmap || !c.exeHash || c.cgroup != "/sys/fs/cgroup/x" {
		t.Errorf("parsed %+v %v", c, err)
	}
	for _, bad := range [][]string{{"-r", "a.pcap", "--exe-hash"}, {"-r", "a.pcap", "--cgroup", "/x"}} {
		if _, err := parse(bad...); err == nil || !strings.Contains(err.Error(), "live capture") {
			t.Errorf("%v: err %v, want a refusal naming live capture", bad, err)
		}
	}
}
