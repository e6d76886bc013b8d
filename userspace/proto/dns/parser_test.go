package dns

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// frame prefixes each message with its two-octet length (RFC 1035 §4.2.2).
func frame(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

func reportOf(t *testing.T, p *Parser) Messages {
	t.Helper()
	key, v := p.Report()
	if key != "dns" {
		t.Fatalf("Report key %q, want dns", key)
	}
	if v == nil {
		return Messages{}
	}
	return v.(Messages)
}

func TestTCPFraming(t *testing.T) {
	q1 := build(t, query, q("one.example.", dnsmessage.TypeA))
	r1 := build(t, response, q("one.example.", dnsmessage.TypeA), answers(aRR("one.example.", 5, "192.0.2.1")))
	q2 := build(t, dnsmessage.Header{ID: 2}, q("two.example.", dnsmessage.TypeAAAA))
	q3 := build(t, dnsmessage.Header{ID: 3}, q("three.example.", dnsmessage.TypeMX))
	out := frame(q1, q2, q3)
	in := frame(r1)

	// Reference: each message parsed on its own, in the order sent.
	want := []Message{
		parseMessage(q1, proto.Out, false, new(int)),
		parseMessage(q2, proto.Out, false, new(int)),
		parseMessage(q3, proto.Out, false, new(int)),
		parseMessage(r1, proto.In, false, new(int)),
	}
	for i, m := range want {
		if m.Err != "" || len(m.Questions) != 1 {
			t.Fatalf("reference message %d did not parse: %+v", i, m)
		}
	}

	// Every split point of the Out stream into two Data calls.
	for cut := 0; cut <= len(out); cut++ {
		p := NewTCP()
		p.Data(proto.Out, out[:cut], 0)
		p.Data(proto.Out, out[cut:], 0)
		p.Data(proto.In, in, 0)
		got := reportOf(t, p)
		if !reflect.DeepEqual(got.List, want) || got.Omitted != 0 {
			t.Fatalf("split at %d: got %+v\nwant %+v", cut, got.List, want)
		}
	}
	// One octet per call, both directions.
	p := NewTCP()
	for i := range out {
		p.Data(proto.Out, out[i:i+1], 0)
	}
	for i := range in {
		p.Data(proto.In, in[i:i+1], 0)
	}
	if got := reportOf(t, p); !reflect.DeepEqual(got.List, want) {
		t.Fatalf("octet by octet: got %+v\nwant %+v", got.List, want)
	}
	if p.Done() {
		t.Error("Done before any gap")
	}
}

func TestTCPGap(t *testing.T) {
	r1 := build(t, response, q("one.example.", dnsmessage.TypeA),
		answers(aRR("one.example.", 5, "192.0.2.1"), aRR("one.example.", 5, "192.0.2.2")))
	stream := frame(r1, r1)
	tests := []struct {
		name      string
		cut       int // octets delivered before the gap
		wantMsgs  int
		wantTrunc bool // last message marked capture_truncated
	}{
		{"gap before anything", 0, 0, false},
		{"gap inside the first length", 1, 0, false},
		{"gap after the first length", 2, 1, true},
		{"gap inside the first message's second answer", 2 + len(r1) - 3, 1, true},
		{"gap right after the first message", 2 + len(r1), 1, false},
		{"gap inside the second message", 2 + len(r1) + 2 + 20, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewTCP()
			p.Data(proto.In, stream[:tt.cut], 0)
			p.Gap(proto.In)
			p.Data(proto.In, stream[tt.cut:], 0) // must be ignored after the gap
			got := reportOf(t, p).List
			if len(got) != tt.wantMsgs {
				t.Fatalf("%d messages, want %d: %+v", len(got), tt.wantMsgs, got)
			}
			if tt.wantMsgs == 0 {
				return
			}
			last := got[len(got)-1]
			if last.CaptureTruncated != tt.wantTrunc {
				t.Errorf("CaptureTruncated = %v, want %v", last.CaptureTruncated, tt.wantTrunc)
			}
			if tt.wantTrunc == (last.Err == "") {
				t.Errorf("Err = %q; a truncated message must say where it stopped, a whole one must not", last.Err)
			}
			if p.Done() {
				t.Error("Done with the Out direction still open")
			}
			p.Gap(proto.Out)
			if !p.Done() {
				t.Error("not Done after gaps in both directions")
			}
		})
	}
}

func TestMessageBoundPerFlow(t *testing.T) {
	msg := build(t, query, q("x.example.", dnsmessage.TypeA))
	udp := NewUDP()
	tcp := NewTCP()
	for range MaxMessages + 5 {
		udp.Datagram(proto.Out, msg, false, 0)
		tcp.Data(proto.Out, frame(msg), 0)
	}
	for name, p := range map[string]*Parser{"udp": udp, "tcp": tcp} {
		got := reportOf(t, p)
		if len(got.List) != MaxMessages || got.Omitted != 5 {
			t.Errorf("%s: %d kept, %d omitted; want %d, 5", name, len(got.List), got.Omitted, MaxMessages)
		}
	}
	// Big records: the flow's budget runs out before MaxMessages.
	big := build(t, response, q("big.example.", dnsmessage.TypeTXT), answers(func(b *dnsmessage.Builder) error {
		return b.TXTResource(rh("big.example.", 1), dnsmessage.TXTResource{TXT: []string{strings.Repeat("t", 250), strings.Repeat("u", 250),
			strings.Repeat("v", 250), strings.Repeat("w", 250)}})
	}, func(b *dnsmessage.Builder) error {
		return b.TXTResource(rh("big.example.", 1), dnsmessage.TXTResource{TXT: []string{strings.Repeat("x", 250)}})
	}))
	p := NewUDP()
	for range MaxMessages {
		p.Datagram(proto.In, big, false, 0)
	}
	got := reportOf(t, p)
	kept, omitted := 0, 0
	for _, m := range got.List {
		for _, r := range m.Records {
			kept += r.cost()
		}
		for _, q := range m.Questions {
			kept += len(q.Name) + recordOverhead
		}
		omitted += m.OmittedRecords
	}
	// First questions are kept past the budget: 30 octets each here.
	if len(got.List) != MaxMessages || kept > MaxFlowBytes+MaxMessages*30 || kept < MaxFlowBytes-2000 || omitted == 0 {
		t.Errorf("%d messages, %d octets kept, %d records omitted; want %d, close to %d, some",
			len(got.List), kept, omitted, MaxMessages, MaxFlowBytes)
	}
	if last := got.List[MaxMessages-1]; len(last.Questions) != 1 || last.ID != response.ID {
		t.Errorf("last message %+v: its header and question must still be there", last)
	}

	if key, v := NewUDP().Report(); key != "dns" || v != nil {
		t.Errorf("empty parser reports (%q, %v), want (dns, nil)", key, v)
	}
}

// The JSON shape, checked key by key against what the package doc promises.
func TestMarshalJSON(t *testing.T) {
	p := NewUDP()
	p.Datagram(proto.Out, build(t, query, q("www.example.com.", dnsmessage.TypeA),
		additionals(func(b *dnsmessage.Builder) error {
			var h dnsmessage.ResourceHeader
			if err := h.SetEDNS0(1232, dnsmessage.RCodeSuccess, true); err != nil {
				return err
			}
			return b.OPTResource(h, dnsmessage.OPTResource{Options: []dnsmessage.Option{{Code: 10, Data: []byte{0xab, 0xcd}}}})
		})), false, 0)
	p.Datagram(proto.In, build(t, dnsmessage.Header{ID: 0x1234, Response: true, Truncated: true, Authoritative: true},
		q("www.example.com.", dnsmessage.TypeA),
		answers(
			cnameRR("www.example.com.", 300, "cdn.example.net."),
			aRR("cdn.example.net.", 20, "192.0.2.7"),
			func(b *dnsmessage.Builder) error {
				return b.TXTResource(rh("cdn.example.net.", 1), dnsmessage.TXTResource{TXT: []string{"a\"b", "\xff"}})
			},
			func(b *dnsmessage.Builder) error {
				return b.MXResource(rh("example.net.", 2), dnsmessage.MXResource{Pref: 5, MX: name("mx.example.net.")})
			},
			func(b *dnsmessage.Builder) error {
				return b.SRVResource(rh("_x._tcp.example.net.", 3), dnsmessage.SRVResource{Priority: 1, Weight: 2, Port: 3, Target: name("t.example.net.")})
			},
			func(b *dnsmessage.Builder) error {
				h := rh("example.net.", 4)
				h.Class = 3
				return b.UnknownResource(h, dnsmessage.UnknownResource{Type: 13, Data: []byte{1, 'x', 1, 'y'}})
			},
		),
		authorities(func(b *dnsmessage.Builder) error {
			return b.SOAResource(rh("example.net.", 900), dnsmessage.SOAResource{NS: name("ns.example.net."), MBox: name("h.example.net."),
				Serial: 1, Refresh: 2, Retry: 3, Expire: 4, MinTTL: 5})
		})), false, 0)
	p.Datagram(proto.In, []byte{0, 1, 0x80}, true, 0)
	for range MaxMessages {
		p.Datagram(proto.In, nil, false, 0)
	}

	_, v := p.Report()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("output is not a JSON list of objects: %v\n%s", err, raw)
	}
	obj := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("bad expectation %s: %v", s, err)
		}
		return m
	}
	want := []map[string]any{
		obj(`{"dir":">","id":4660,"qn":"www.example.com","qtype":1,"rc":0,"rr":[],
			"edns":{"udp_size":1232,"version":0,"do":true,"ext_rcode":0,"options":[{"code":10,"len":2,"data":"abcd"}]}}`),
		obj(`{"dir":"<","id":4660,"rn":"www.example.com","qtype":1,"rc":0,"aa":true,"tc":true,"rr":[
			{"name":"www.example.com","section":"answer","cname":"cdn.example.net","ttl":300},
			{"name":"cdn.example.net","section":"answer","a":"192.0.2.7","ttl":20},
			{"name":"cdn.example.net","section":"answer","txt":"a\"b\\xff","txt_strings":["a\"b","\\xff"],"ttl":1},
			{"name":"example.net","section":"answer","mx":"mx.example.net","pref":5,"ttl":2},
			{"name":"_x._tcp.example.net","section":"answer","srv":"t.example.net","priority":1,"weight":2,"port":3,"ttl":3},
			{"name":"example.net","section":"answer","type":13,"rdlength":4,"rdata":"01780179","ttl":4,"class":3},
			{"name":"example.net","section":"authority","soa":"ns.example.net","rname":"h.example.net",
			 "serial":1,"refresh":2,"retry":3,"expire":4,"minimum":5,"ttl":900}]}`),
		obj(`{"dir":"<","id":0,"rc":0,"rr":[],"capture_truncated":true,"malformed":3,"error":"header: 3 octets, need 12"}`),
	}
	if len(got) != MaxMessages+1 {
		t.Fatalf("%d list entries, want %d (MaxMessages messages and the omitted count)", len(got), MaxMessages+1)
	}
	for i, w := range want {
		if !reflect.DeepEqual(got[i], w) {
			t.Errorf("message %d:\n got %v\nwant %v", i, got[i], w)
		}
	}
	if last := got[len(got)-1]; !reflect.DeepEqual(last, obj(`{"omitted":3}`)) {
		t.Errorf("last entry %v, want {\"omitted\":3}", last)
	}
}

func TestDetect(t *testing.T) {
	qmsg := build(t, query, q("example.com.", dnsmessage.TypeA))
	tests := []struct {
		name         string
		tcp          bool
		sport, dport uint16
		payload      []byte
		want         bool
	}{
		{"udp query to 53", false, 40000, 53, qmsg, true},
		{"udp response from 53", false, 53, 40000, qmsg, true},
		{"mdns", false, 5353, 5353, qmsg, true},
		{"llmnr", false, 50000, 5355, qmsg, true},
		{"wrong port", false, 40000, 8053, qmsg, false},
		{"short", false, 40000, 53, qmsg[:11], false},
		{"counts do not fit", false, 40000, 53, header(1, 0, 1, 3, 0, 0), false},
		{"no sections", false, 40000, 53, header(1, 0, 0, 0, 0, 0), false},
		{"opcode 3 unassigned", false, 40000, 53, cat(header(1, 3<<11, 1, 0, 0, 0), []byte{0, 0, 1, 0, 1}), false},
		{"not dns on 53", false, 40000, 53, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false},
		{"tcp whole", true, 40000, 53, frame(qmsg), true},
		{"tcp first segment only", true, 40000, 53, frame(qmsg)[:14], true},
		{"tcp length too small", true, 40000, 53, cat([]byte{0, 5}, qmsg), false},
		{"tcp wrong port", true, 40000, 80, frame(qmsg), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bool
			if tt.tcp {
				got = DetectTCP(tt.sport, tt.dport, tt.payload)
			} else {
				got = Detect(tt.sport, tt.dport, tt.payload)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
