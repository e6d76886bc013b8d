package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/capture/pcapfile"
	"github.com/flowjoy/flowjoy/userspace/event"
	"github.com/flowjoy/flowjoy/userspace/features"
	"github.com/flowjoy/flowjoy/userspace/flow"
	"github.com/flowjoy/flowjoy/userspace/pipeline"
)

// protoKeys are the record keys the protocol parsers write; their schemas
// are in $defs under the same names.
var protoKeys = []string{"tls", "quic", "dns", "http", "ssh", "dhcp", "dhcpv6"}

func TestSchemaCompiles(t *testing.T) {
	if _, err := flowSchema(); err != nil {
		t.Fatal(err)
	}
}

// TestProtocolKeysDocumented walks the protocol schemas: every property
// has a description (its own or its $ref target's), and every object
// schema closes its key set (additionalProperties false) unless it is an
// open map whose additionalProperties is itself a schema.
func TestProtocolKeysDocumented(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(FlowSchema, &doc); err != nil {
		t.Fatal(err)
	}
	defs := doc["$defs"].(map[string]any)
	props := doc["properties"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		if r, ok := s["$ref"].(string); ok && s["description"] == nil {
			if d, ok := defs[strings.TrimPrefix(r, "#/$defs/")].(map[string]any); ok {
				return d
			}
			t.Errorf("unresolved $ref %q", r)
		}
		return s
	}
	seen := map[string]bool{}
	var walk func(path string, s any)
	walk = func(path string, v any) {
		s, ok := v.(map[string]any)
		if !ok {
			return
		}
		if r, ok := s["$ref"].(string); ok {
			name := strings.TrimPrefix(r, "#/$defs/")
			if !seen[name] {
				seen[name] = true
				walk("$defs/"+name, defs[name])
			}
		}
		if p, ok := s["properties"].(map[string]any); ok {
			// An object schema listing keys closes them (or maps the
			// others to a schema); if/then conditions have no type.
			if s["type"] == "object" && s["additionalProperties"] == nil {
				t.Errorf("%s: object with properties but no additionalProperties", path)
			}
			for k, ps := range p {
				m, _ := ps.(map[string]any)
				// Keys of an if/then condition are not new keys.
				if s["type"] == "object" && (m == nil || resolve(m)["description"] == nil) {
					t.Errorf("%s.%s: no description", path, k)
				}
				walk(path+"."+k, ps)
			}
		}
		for _, k := range []string{"items", "additionalProperties", "then", "if", "not"} {
			walk(path+"/"+k, s[k])
		}
		for _, k := range []string{"anyOf", "oneOf", "allOf"} {
			if l, ok := s[k].([]any); ok {
				for i, b := range l {
					walk(fmt.Sprintf("%s/%s/%d", path, k, i), b)
				}
			}
		}
	}
	for _, k := range protoKeys {
		p, ok := props[k].(map[string]any)
		if !ok || p["description"] == nil || p["$ref"] != "#/$defs/"+k {
			t.Errorf("properties.%s: want a description and $ref #/$defs/%s, have %v", k, k, props[k])
			continue
		}
		walk(k, p)
	}
}

// collect is a pipeline sink that validates each record as it is written.
type collect struct {
	name    string
	records int
	keys    map[string]int
	broken  int // records whose parsers reported an error or malformed input
	opened  bool
	errs    []string
}

func (c *collect) Write(line []byte) error {
	c.records++
	if err := ValidateRecord(line); err != nil {
		if len(c.errs) < 5 {
			c.errs = append(c.errs, fmt.Sprintf("%s: %v\n%s", c.name, err, line))
		}
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		c.errs = append(c.errs, fmt.Sprintf("%s: %v", c.name, err))
		return nil
	}
	for _, k := range protoKeys {
		if _, ok := m[k]; ok {
			c.keys[k]++
		}
	}
	if bytes.Contains(line, []byte(`"error":`)) || bytes.Contains(line, []byte(`"malformed":`)) ||
		bytes.Contains(line, []byte(`"parse_error`)) {
		c.broken++
	}
	return nil
}
func (c *collect) Flush() error { return nil }
func (c *collect) Close() error { return nil }

// runCapture runs the whole pipeline, every parser on, over one capture.
// A capture that cannot be read to its end (the corpus has deliberately
// broken ones) contributes the records of what could be read.
func runCapture(path string) *collect { return runMutated(path, 0) }

// runMutated is runCapture with the packets damaged when seed is not 0:
// deterministically per capture and seed, some packets get a byte changed
// past the first 42 (about where headers end) and some are cut short, so
// that the parsers' error, malformed and truncated paths write records too.
func runMutated(path string, seed uint64) *collect {
	cfg := pipeline.Config{
		Flow:     flow.DefaultConfig(),
		Features: features.Config{NumPkts: features.DefaultNumPkts, DistBytes: -1, IDPBytes: 1500, ByteDist: true},
	}
	cfg.Dissect.Redact = true
	for _, p := range []string{"tls", "quic", "dns", "http", "ssh", "dhcp"} {
		cfg.Dissect.Enable(p)
	}
	out := &collect{name: path, keys: map[string]int{}}
	f, err := pcapfile.Open(path)
	if err != nil {
		return out // not a capture the file engine reads (counted by the caller)
	}
	defer f.Close()
	out.opened = true
	p := pipeline.New(cfg, out)
	var rng *rand.Rand
	if seed != 0 {
		h := fnv.New64a()
		h.Write([]byte(filepath.Base(path)))
		rng = rand.New(rand.NewPCG(seed, h.Sum64()))
	}
	var ev event.Packet
	var buf []byte
	for {
		if err := f.Next(&ev); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, pcapfile.ErrCorrupt) {
				out.errs = append(out.errs, fmt.Sprintf("%s: %v", path, err))
			}
			break
		}
		if rng != nil && len(ev.Data) > 42 {
			buf = append(buf[:0], ev.Data...)
			switch r := rng.IntN(10); {
			case r < 3:
				buf[42+rng.IntN(len(buf)-42)] ^= byte(1 + rng.IntN(255))
			case r < 4:
				buf = buf[:42+rng.IntN(len(buf)-42)]
			}
			ev.Data = buf
		}
		p.Packet(&ev)
	}
	if err := p.Finish(); err != nil {
		out.errs = append(out.errs, fmt.Sprintf("%s: finish: %v", path, err))
	}
	return out
}

// captures lists the pcap/pcapng files under dir.
func captures(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "truth" || d.Name() == "fuzz") {
			return filepath.SkipDir
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".pcap", ".pcapng", ".cap":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// validateAll runs every capture through the pipeline on all cores and
// fails on any record the schema rejects. It returns how many records
// carried each protocol key.
func validateAll(t *testing.T, files []string) map[string]int {
	return validateMutated(t, files, 0)
}

func validateMutated(t *testing.T, files []string, seed uint64) map[string]int {
	t.Helper()
	jobs := make(chan string)
	results := make(chan *collect)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				results <- runMutated(p, seed)
			}
		}()
	}
	go func() {
		for _, f := range files {
			jobs <- f
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()
	keys := map[string]int{}
	records, bad, broken, unread := 0, 0, 0, 0
	for r := range results {
		if !r.opened {
			unread++
		}
		records += r.records
		broken += r.broken
		for k, n := range r.keys {
			keys[k] += n
		}
		for _, e := range r.errs {
			bad++
			if bad <= 20 {
				t.Error(e)
			}
		}
	}
	if bad > 20 {
		t.Errorf("... and %d more invalid records", bad-20)
	}
	t.Logf("%d captures (%d not readable), %d records (%d with parser errors); records per protocol key: %v",
		len(files), unread, records, broken, keys)
	if unread > len(files)/10 {
		t.Errorf("%d of %d captures could not be opened", unread, len(files))
	}
	if records == 0 {
		t.Fatal("no records")
	}
	return keys
}

// TestRepoCapturesValidate validates the records of the captures kept in
// the repository (the parsers' test captures), which between them carry
// every protocol key; each must appear, or the schema would go untested.
func TestRepoCapturesValidate(t *testing.T) {
	var files []string
	for _, d := range []string{"../userspace/proto", "../tests/testdata"} {
		files = append(files, captures(t, d)...)
	}
	sort.Strings(files)
	keys := validateAll(t, files)
	for _, k := range protoKeys {
		if keys[k] == 0 {
			t.Errorf("no record with %q: the repository captures no longer exercise its schema", k)
		}
	}
}

// TestMutatedCapturesValidate runs the repository captures again with
// damaged packets (see runMutated): records of broken input must follow
// the schema too.
func TestMutatedCapturesValidate(t *testing.T) {
	var files []string
	for _, d := range []string{"../userspace/proto", "../tests/testdata"} {
		files = append(files, captures(t, d)...)
	}
	sort.Strings(files)
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			keys := validateMutated(t, files, seed)
			for _, k := range protoKeys {
				if keys[k] == 0 {
					t.Errorf("no record with %q", k)
				}
			}
		})
	}
}

// TestSharedCapturesValidate validates the records of every public capture
// in /work/shared/pcaps (malformed and edge cases included).
func TestSharedCapturesValidate(t *testing.T) {
	dir, _ := filepath.Abs("../../shared/pcaps")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared captures missing at %s", dir)
		}
		t.Skipf("shared captures not found at %s", dir)
	}
	files := captures(t, dir)
	if len(files) < 100 {
		t.Fatalf("only %d captures under %s", len(files), dir)
	}
	keys := validateAll(t, files)
	// The corpus has TLS, QUIC, DNS, HTTP, SSH and DHCP traffic.
	for _, k := range []string{"tls", "quic", "dns", "http", "ssh", "dhcp"} {
		if keys[k] == 0 {
			t.Errorf("no record with %q from the shared captures", k)
		}
	}
}

// base is a minimal valid record.
const base = `"sa":"10.0.0.1","da":"10.0.0.2","sp":1234,"dp":443,"pr":6,"bytes_out":1,"num_pkts_out":1,"bytes_in":0,"num_pkts_in":0,"time_start":1.0,"time_end":1.0,"flow_id":"0123456789abcdef","expire_type":"e"`

func TestRejectsInvalid(t *testing.T) {
	valid := map[string]string{
		"tls":    `"tls":{"ja3":"0123456789abcdef0123456789abcdef","c_extensions":[{"server_name":"00"},{"kind":2570,"data":""}],"cs":["1301","c02f"]}`,
		"dns":    `"dns":[{"dir":">","id":1,"qn":"example.com","qtype":1,"rc":0,"rr":[{"name":"example.com","section":"answer","a":"192.0.2.1","ttl":300}]},{"omitted":2}]`,
		"http":   `"http":[{"out":[{"method":"GET"},{"uri":"/"},{"version":"HTTP/1.1"},{"Host":"x"},{"body_len":"hdr"},{"body":""},{"body_len":5}]}]`,
		"ssh":    `"ssh":{"cli":{"protocol":"SSH-2.0-x","newkeys":false,"unencrypted":0}}`,
		"dhcp":   `"dhcp":[{"op":"1","dir":">","options":[{"MsgType":{"code":53,"len":1,"value":"DHCPDISCOVER","decoded":"DHCPDISCOVER"}},{"SubnetMask":{"code":1,"len":4,"value":"ffffff00","decoded":"255.255.255.0"}}]}]`,
		"dhcpv6": `"dhcpv6":[{"type":"SOLICIT","transid":"a1b2","dir":">","options":[{"CLIENTID":{"code":1,"len":10,"value":"00030001020304050607","decoded":{"type":3,"hwtype":1,"lladdr":"02:03:04:05:06:07"}}}]}]`,
		"quic":   `"quic":{"version":"0x00000001","dcid":"0011","scid":""}`,
	}
	for k, v := range valid {
		if err := ValidateRecord([]byte("{" + base + "," + v + "}")); err != nil {
			t.Errorf("valid %s rejected: %v", k, err)
		}
	}
	invalid := map[string]string{
		"ja3 not 32 hex":            `"tls":{"ja3":"0123456789abcdef0123456789abcdeg"}`,
		"ja3 too short":             `"tls":{"ja3":"0123456789abcdef"}`,
		"unknown key in tls":        `"tls":{"c_version":5,"c_sni":"x"}`,
		"cipher suite not hex4":     `"tls":{"scs":"0x1301"}`,
		"extension with two keys":   `"tls":{"c_extensions":[{"server_name":"00","padding":""}]}`,
		"tls version out of enum":   `"tls":{"c_version":7}`,
		"cert without length":       `"tls":{"s_cert":[{"serial_number":"01"}]}`,
		"dns rr ttl not integer":    `"dns":[{"dir":">","id":1,"rc":0,"rr":[{"name":"a","section":"answer","a":"192.0.2.1","ttl":"300"}]}]`,
		"dns rr ttl fractional":     `"dns":[{"dir":">","id":1,"rc":0,"rr":[{"name":"a","section":"answer","a":"192.0.2.1","ttl":1.5}]}]`,
		"dns rr two rdata shapes":   `"dns":[{"dir":">","id":1,"rc":0,"rr":[{"name":"a","section":"answer","a":"192.0.2.1","cname":"b","ttl":1}]}]`,
		"dns rr a not ipv4":         `"dns":[{"dir":">","id":1,"rc":0,"rr":[{"name":"a","section":"answer","a":"::1","ttl":1}]}]`,
		"dns qn and rn":             `"dns":[{"dir":">","id":1,"qn":"a","rn":"a","rc":0,"rr":[]}]`,
		"dns message without rr":    `"dns":[{"dir":">","id":1,"rc":0}]`,
		"http header not a string":  `"http":[{"out":[{"Host":1}]}]`,
		"http two keys in entry":    `"http":[{"out":[{"method":"GET","uri":"/"}]}]`,
		"http unknown exchange key": `"http":[{"request":[{"method":"GET"}]}]`,
		"ssh newkeys as string":     `"ssh":{"cli":{"newkeys":"true","unencrypted":0}}`,
		"ssh hassh not md5":         `"ssh":{"hassh":"abc","hassh_algorithms":"x"}`,
		"dhcp subnet mask not ip":   `"dhcp":[{"dir":">","options":[{"SubnetMask":{"code":1,"len":4,"value":"ffffff00","decoded":4294967040}}]}]`,
		"dhcp decoded raw option":   `"dhcp":[{"dir":">","options":[{"X":{"code":250,"len":1,"value":"00","decoded":0}}]}]`,
		"dhcp as object":            `"dhcp":{"op":"1"}`,
		"dhcpv6 transid decimal":    `"dhcpv6":[{"type":"SOLICIT","transid":"xyz","dir":">"}]`,
		"quic version not hex":      `"quic":{"version":"1"}`,
		"quic unknown key":          `"quic":{"version":"0x00000001","odcid":"00"}`,
	}
	for name, v := range invalid {
		if err := ValidateRecord([]byte("{" + base + "," + v + "}")); err == nil {
			t.Errorf("%s: accepted %s", name, v)
		}
	}
}
