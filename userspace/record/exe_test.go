package record

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/schema"
)

func TestExeObjects(t *testing.T) {
	r := sampleRecord(0)
	r.Exe = &Exe{Name: "curl", Path: "/usr/bin/curl", Hash: strings.Repeat("ab", 32), Uptime: 0, PID: 4242, PPID: 1,
		Cmdline: "curl -H \"x: \xff\" http://h/", UID: 1000, User: "alice", Cgroup: "/system.slice/docker-" + strings.Repeat("0", 64) + ".scope",
		Container: strings.Repeat("0", 64)}
	r.PeerExe = &Exe{Name: "nginx", Uptime: -1, PID: 7, Cmdline: ""} // little known: optional keys left out
	line, err := NewEncoder().Append(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.ValidateRecord(line); err != nil {
		t.Fatalf("%v\n%s", err, line)
	}
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	exe := got["exe"].(map[string]any)
	if exe["pid"] != 4242.0 || exe["uptime"] != 0.0 || exe["cmdline"] != `curl -H "x: \xff" http://h/` || exe["container"] != strings.Repeat("0", 64) {
		t.Errorf("exe %v", exe)
	}
	peer := got["peer_exe"].(map[string]any)
	for _, k := range []string{"path", "hash", "uptime", "ppid", "user", "cgroup", "container"} {
		if _, ok := peer[k]; ok {
			t.Errorf("peer_exe has %q though it is unknown: %v", k, peer)
		}
	}
}
