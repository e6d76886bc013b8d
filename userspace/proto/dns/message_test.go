package dns

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// build assembles a message with dnsmessage.Builder (compression on) so
// that the tests run against what a real encoder writes.
func build(t testing.TB, h dnsmessage.Header, qs []dnsmessage.Question, sections ...func(b *dnsmessage.Builder) error) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("building test message: %v", err)
		}
	}
	must(b.StartQuestions())
	for _, q := range qs {
		must(b.Question(q))
	}
	for _, s := range sections {
		must(s(&b))
	}
	msg, err := b.Finish()
	must(err)
	return msg
}

func name(s string) dnsmessage.Name { return dnsmessage.MustNewName(s) }

func rh(n string, ttl uint32) dnsmessage.ResourceHeader {
	return dnsmessage.ResourceHeader{Name: name(n), Class: dnsmessage.ClassINET, TTL: ttl}
}

func q(n string, t dnsmessage.Type) []dnsmessage.Question {
	return []dnsmessage.Question{{Name: name(n), Type: t, Class: dnsmessage.ClassINET}}
}

func answers(fs ...func(b *dnsmessage.Builder) error) func(b *dnsmessage.Builder) error {
	return func(b *dnsmessage.Builder) error {
		if err := b.StartAnswers(); err != nil {
			return err
		}
		for _, f := range fs {
			if err := f(b); err != nil {
				return err
			}
		}
		return nil
	}
}

func authorities(fs ...func(b *dnsmessage.Builder) error) func(b *dnsmessage.Builder) error {
	return func(b *dnsmessage.Builder) error {
		if err := b.StartAuthorities(); err != nil {
			return err
		}
		for _, f := range fs {
			if err := f(b); err != nil {
				return err
			}
		}
		return nil
	}
}

func additionals(fs ...func(b *dnsmessage.Builder) error) func(b *dnsmessage.Builder) error {
	return func(b *dnsmessage.Builder) error {
		if err := b.StartAdditionals(); err != nil {
			return err
		}
		for _, f := range fs {
			if err := f(b); err != nil {
				return err
			}
		}
		return nil
	}
}

func aRR(n string, ttl uint32, ip string) func(b *dnsmessage.Builder) error {
	return func(b *dnsmessage.Builder) error {
		return b.AResource(rh(n, ttl), dnsmessage.AResource{A: netip.MustParseAddr(ip).As4()})
	}
}

func cnameRR(n string, ttl uint32, target string) func(b *dnsmessage.Builder) error {
	return func(b *dnsmessage.Builder) error {
		return b.CNAMEResource(rh(n, ttl), dnsmessage.CNAMEResource{CNAME: name(target)})
	}
}

var (
	response = dnsmessage.Header{ID: 0xbeef, Response: true, RecursionDesired: true, RecursionAvailable: true}
	query    = dnsmessage.Header{ID: 0x1234, RecursionDesired: true}
)

func a4(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		want Message
	}{
		{
			name: "query A",
			msg:  build(t, query, q("example.com.", dnsmessage.TypeA)),
			want: Message{ID: 0x1234, Questions: []Question{{"example.com", 1, 1}}},
		},
		{
			name: "response A",
			msg: build(t, response, q("example.com.", dnsmessage.TypeA),
				answers(aRR("example.com.", 3600, "93.184.216.34"))),
			want: Message{ID: 0xbeef, Response: true,
				Questions: []Question{{"example.com", 1, 1}},
				Records: []Record{{Section: Answer, Name: "example.com", Type: TypeA, Class: 1, TTL: 3600,
					RDLength: 4, Addr: a4("93.184.216.34")}}},
		},
		{
			name: "response AAAA",
			msg: build(t, response, q("v6.example.", dnsmessage.TypeAAAA),
				answers(func(b *dnsmessage.Builder) error {
					return b.AAAAResource(rh("v6.example.", 60), dnsmessage.AAAAResource{AAAA: a4("2001:db8::1").As16()})
				})),
			want: Message{ID: 0xbeef, Response: true,
				Questions: []Question{{"v6.example", 28, 1}},
				Records: []Record{{Section: Answer, Name: "v6.example", Type: TypeAAAA, Class: 1, TTL: 60,
					RDLength: 16, Addr: a4("2001:db8::1")}}},
		},
		{
			name: "CNAME chain",
			msg: build(t, response, q("www.example.com.", dnsmessage.TypeA),
				answers(
					cnameRR("www.example.com.", 300, "edge.example.net."),
					cnameRR("edge.example.net.", 60, "a1.cdn.example.org."),
					aRR("a1.cdn.example.org.", 20, "192.0.2.7"),
				)),
			want: Message{ID: 0xbeef, Response: true,
				Questions: []Question{{"www.example.com", 1, 1}},
				Records: []Record{
					// RDLength is what the compressing builder wrote.
					{Section: Answer, Name: "www.example.com", Type: TypeCNAME, Class: 1, TTL: 300, Target: "edge.example.net", RDLength: 18},
					{Section: Answer, Name: "edge.example.net", Type: TypeCNAME, Class: 1, TTL: 60, Target: "a1.cdn.example.org", RDLength: 20},
					{Section: Answer, Name: "a1.cdn.example.org", Type: TypeA, Class: 1, TTL: 20, Addr: a4("192.0.2.7"), RDLength: 4},
				}},
		},
		{
			name: "TXT with several strings",
			msg: build(t, response, q("example.com.", dnsmessage.TypeTXT),
				answers(func(b *dnsmessage.Builder) error {
					return b.TXTResource(rh("example.com.", 10), dnsmessage.TXTResource{TXT: []string{"v=spf1 ", "include:_spf.example.com ~all", ""}})
				})),
			want: Message{ID: 0xbeef, Response: true,
				Questions: []Question{{"example.com", 16, 1}},
				Records: []Record{{Section: Answer, Name: "example.com", Type: TypeTXT, Class: 1, TTL: 10,
					RDLength: 1 + 7 + 1 + 29 + 1, Strings: []string{"v=spf1 ", "include:_spf.example.com ~all", ""}}}},
		},
		{
			name: "MX and NS",
			msg: build(t, response, q("example.com.", dnsmessage.TypeMX),
				answers(func(b *dnsmessage.Builder) error {
					return b.MXResource(rh("example.com.", 7200), dnsmessage.MXResource{Pref: 10, MX: name("mail.example.com.")})
				}),
				authorities(func(b *dnsmessage.Builder) error {
					return b.NSResource(rh("example.com.", 86400), dnsmessage.NSResource{NS: name("ns1.example.net.")})
				})),
			want: Message{ID: 0xbeef, Response: true,
				Questions: []Question{{"example.com", 15, 1}},
				Records: []Record{
					{Section: Answer, Name: "example.com", Type: TypeMX, Class: 1, TTL: 7200, Pref: 10, Target: "mail.example.com", RDLength: 2 + 5 + 2},
					{Section: Authority, Name: "example.com", Type: TypeNS, Class: 1, TTL: 86400, Target: "ns1.example.net", RDLength: 4 + 8 + 4 + 1},
				}},
		},
		{
			name: "NXDOMAIN with SOA",
			msg: build(t, dnsmessage.Header{ID: 7, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError},
				q("nope.example.com.", dnsmessage.TypeA),
				authorities(func(b *dnsmessage.Builder) error {
					return b.SOAResource(rh("example.com.", 900), dnsmessage.SOAResource{
						NS: name("ns1.example.com."), MBox: name("hostmaster.example.com."),
						Serial: 2024010101, Refresh: 7200, Retry: 3600, Expire: 1209600, MinTTL: 300})
				})),
			want: Message{ID: 7, Response: true, Authoritative: true, RCode: 3,
				Questions: []Question{{"nope.example.com", 1, 1}},
				Records: []Record{{Section: Authority, Name: "example.com", Type: TypeSOA, Class: 1, TTL: 900,
					Target: "ns1.example.com", RDLength: 6 + 13 + 20,
					SOA: &SOA{RName: "hostmaster.example.com", Serial: 2024010101, Refresh: 7200, Retry: 3600, Expire: 1209600, Minimum: 300}}}},
		},
		{
			name: "SRV",
			msg: build(t, response, q("_sip._tcp.example.com.", dnsmessage.TypeSRV),
				answers(func(b *dnsmessage.Builder) error {
					return b.SRVResource(rh("_sip._tcp.example.com.", 30), dnsmessage.SRVResource{Priority: 10, Weight: 60, Port: 5060, Target: name("sip1.example.com.")})
				})),
			want: Message{ID: 0xbeef, Response: true,
				Questions: []Question{{"_sip._tcp.example.com", 33, 1}},
				// The builder does not compress SRV targets (RFC 2782).
				Records: []Record{{Section: Answer, Name: "_sip._tcp.example.com", Type: TypeSRV, Class: 1, TTL: 30,
					Pref: 10, Weight: 60, Port: 5060, Target: "sip1.example.com", RDLength: 6 + 18}}},
		},
		{
			name: "PTR",
			msg: build(t, response, q("4.3.2.1.in-addr.arpa.", dnsmessage.TypePTR),
				answers(func(b *dnsmessage.Builder) error {
					return b.PTRResource(rh("4.3.2.1.in-addr.arpa.", 86400), dnsmessage.PTRResource{PTR: name("host.example.com.")})
				})),
			want: Message{ID: 0xbeef, Response: true,
				Questions: []Question{{"4.3.2.1.in-addr.arpa", 12, 1}},
				Records: []Record{{Section: Answer, Name: "4.3.2.1.in-addr.arpa", Type: TypePTR, Class: 1, TTL: 86400,
					Target: "host.example.com", RDLength: 18}}},
		},
		{
			name: "TC bit",
			msg:  build(t, dnsmessage.Header{ID: 9, Response: true, Truncated: true}, q("big.example.", dnsmessage.TypeTXT)),
			want: Message{ID: 9, Response: true, Truncated: true, Questions: []Question{{"big.example", 16, 1}}},
		},
		{
			name: "EDNS OPT with DO and a cookie",
			msg: build(t, query, q("example.org.", dnsmessage.TypeA),
				additionals(func(b *dnsmessage.Builder) error {
					var h dnsmessage.ResourceHeader
					if err := h.SetEDNS0(1232, dnsmessage.RCodeSuccess, true); err != nil {
						return err
					}
					return b.OPTResource(h, dnsmessage.OPTResource{Options: []dnsmessage.Option{
						{Code: 10, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
					}})
				})),
			want: Message{ID: 0x1234, Questions: []Question{{"example.org", 1, 1}},
				EDNS: &EDNS{UDPSize: 1232, DO: true, Options: []EDNSOption{{Code: 10, Len: 8, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}}},
		},
		{
			name: "unknown type kept as hex",
			msg: build(t, response, q("x.example.", 99),
				answers(func(b *dnsmessage.Builder) error {
					h := rh("x.example.", 5)
					h.Type = 99
					return b.UnknownResource(h, dnsmessage.UnknownResource{Type: 99, Data: []byte{0xde, 0xad, 0xbe, 0xef}})
				})),
			want: Message{ID: 0xbeef, Response: true,
				Questions: []Question{{"x.example", 99, 1}},
				Records: []Record{{Section: Answer, Name: "x.example", Type: 99, Class: 1, TTL: 5,
					RDLength: 4, RData: []byte{0xde, 0xad, 0xbe, 0xef}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseMessage(tt.msg, proto.Out, false, new(int))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseMessage:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// header writes a 12-octet DNS header.
func header(id, flags, qd, an, ns, ar uint16) []byte {
	b := make([]byte, 12)
	for i, v := range []uint16{id, flags, qd, an, ns, ar} {
		binary.BigEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// Handcrafted messages that no encoder writes: each must end in a
// reported error or a marked record, never a panic or a hang.
func TestParseMessageMalformed(t *testing.T) {
	qA := []byte{0, 1, 0, 1} // type A, class IN
	aRData := func(ttl uint32, ip ...byte) []byte {
		b := []byte{0, 1, 0, 1, byte(ttl >> 24), byte(ttl >> 16), byte(ttl >> 8), byte(ttl), 0, byte(len(ip))}
		return append(b, ip...)
	}
	exampleCom := []byte("\x07example\x03com\x00")
	good := build(t, response, q("example.com.", dnsmessage.TypeA),
		answers(aRR("example.com.", 60, "192.0.2.1"), aRR("example.com.", 60, "192.0.2.2")))

	tests := []struct {
		name        string
		msg         []byte
		wantErr     string // substring of Message.Err; "" for none
		wantQ       []Question
		wantRecords int
		check       func(t *testing.T, m Message)
	}{
		{
			name:    "empty",
			msg:     nil,
			wantErr: "header: 0 octets",
		},
		{
			name:    "short header",
			msg:     []byte{1, 2, 3},
			wantErr: "header: 3 octets",
		},
		{
			name:    "question name points at itself",
			msg:     cat(header(1, 0, 1, 0, 0, 0), []byte{0xc0, 12}, qA),
			wantErr: "question 1 of 1: name at offset 12: more than 127 compression pointers",
		},
		{
			name:    "two pointers pointing at each other",
			msg:     cat(header(1, 0x8000, 1, 1, 0, 0), []byte{0xc0, 12}, qA, []byte{0xc0, 12}),
			wantErr: "loop",
		},
		{
			name:    "pointer beyond the message",
			msg:     cat(header(1, 0, 1, 0, 0, 0), []byte{0xc1, 0}, qA),
			wantErr: "pointer to 256 beyond message",
		},
		{
			name:    "reserved label type",
			msg:     cat(header(1, 0, 1, 0, 0, 0), []byte{0x41, 'a', 0}, qA),
			wantErr: "reserved label type",
		},
		{
			name:    "label past the end",
			msg:     cat(header(1, 0, 1, 0, 0, 0), []byte{9, 'a', 'b'}),
			wantErr: "label of 9 octets runs past end",
		},
		{
			name:    "name longer than 255 octets",
			msg:     cat(header(1, 0, 1, 0, 0, 0), []byte(strings.Repeat("\x3f"+strings.Repeat("a", 63), 4)), []byte{0}, qA),
			wantErr: "name longer than 255 octets",
		},
		{
			name:        "answer count larger than the answers",
			msg:         cat(header(2, 0x8180, 1, 5, 0, 0), exampleCom, qA, []byte{0xc0, 12}, aRData(60, 192, 0, 2, 1)),
			wantErr:     "answer 2 of 5: name at offset",
			wantQ:       []Question{{"example.com", 1, 1}},
			wantRecords: 1,
		},
		{
			name:    "question count of 65535",
			msg:     cat(header(2, 0, 0xffff, 0, 0, 0), exampleCom, qA),
			wantErr: "question 2 of 65535",
			wantQ:   []Question{{"example.com", 1, 1}},
		},
		{
			name:        "cut in the second answer's rdata",
			msg:         good[:len(good)-2],
			wantErr:     "answer 2 of 2: rdata of 4 octets runs past end of message (2 left)",
			wantQ:       []Question{{"example.com", 1, 1}},
			wantRecords: 1,
		},
		{
			name:        "A record with 5 octets, next record still read",
			msg:         cat(header(3, 0x8180, 1, 2, 0, 0), exampleCom, qA, []byte{0xc0, 12}, aRData(1, 1, 2, 3, 4, 5), []byte{0xc0, 12}, aRData(2, 10, 0, 0, 1)),
			wantQ:       []Question{{"example.com", 1, 1}},
			wantRecords: 2,
			check: func(t *testing.T, m Message) {
				r0, r1 := m.Records[0], m.Records[1]
				if !r0.Malformed || !reflect.DeepEqual(r0.RData, []byte{1, 2, 3, 4, 5}) || r0.Addr.IsValid() {
					t.Errorf("first record = %+v, want malformed with raw rdata", r0)
				}
				if r1.Malformed || r1.Addr != a4("10.0.0.1") || r1.TTL != 2 {
					t.Errorf("second record = %+v, want A 10.0.0.1 ttl 2", r1)
				}
			},
		},
		{
			name:        "CNAME whose name runs past its rdata",
			msg:         cat(header(3, 0x8180, 1, 1, 0, 0), exampleCom, qA, []byte{0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 9, 0, 2, 3, 'w', 'w'}, []byte("w\x00")),
			wantQ:       []Question{{"example.com", 1, 1}},
			wantRecords: 1,
			check: func(t *testing.T, m Message) {
				if r := m.Records[0]; !r.Malformed || r.Target != "" || !reflect.DeepEqual(r.RData, []byte{3, 'w'}) {
					t.Errorf("record = %+v, want malformed CNAME with its 2 rdata octets", r)
				}
			},
		},
		{
			name:        "TXT string longer than its rdata",
			msg:         cat(header(3, 0x8180, 1, 1, 0, 0), exampleCom, qA, []byte{0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 9, 0, 3, 10, 'a', 'b'}),
			wantQ:       []Question{{"example.com", 1, 1}},
			wantRecords: 1,
			check: func(t *testing.T, m Message) {
				if r := m.Records[0]; !r.Malformed || r.Strings != nil {
					t.Errorf("record = %+v, want malformed TXT", r)
				}
			},
		},
		{
			name:        "EDNS option longer than the OPT rdata",
			msg:         cat(header(4, 0, 1, 0, 0, 1), exampleCom, qA, []byte{0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 6, 0, 8, 0, 40, 1, 2}),
			wantQ:       []Question{{"example.com", 1, 1}},
			wantRecords: 0,
			check: func(t *testing.T, m Message) {
				want := &EDNS{UDPSize: 4096, DO: true, Err: "option 8: length 40 runs past rdata (2 left)"}
				if !reflect.DeepEqual(m.EDNS, want) {
					t.Errorf("EDNS = %+v, want %+v", m.EDNS, want)
				}
			},
		},
		{
			name:        "a second OPT is an ordinary record",
			msg:         cat(header(4, 0, 0, 0, 0, 2), []byte{0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0}, []byte{0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0}),
			wantRecords: 1,
			check: func(t *testing.T, m Message) {
				if m.EDNS == nil || m.EDNS.UDPSize != 512 {
					t.Errorf("EDNS = %+v, want the first OPT (udp 512)", m.EDNS)
				}
				if r := m.Records[0]; r.Type != TypeOPT || r.Class != 1024 {
					t.Errorf("record = %+v, want the second OPT", r)
				}
			},
		},
		{
			name:  "dots, backslashes and binary in labels",
			msg:   cat(header(5, 0, 1, 0, 0, 0), []byte("\x03a.b\x04c\\\xff\x01\x00"), qA),
			wantQ: []Question{{"a\\.b.c\\\\\xff\x01", 1, 1}},
		},
		{
			name:  "root name",
			msg:   cat(header(5, 0, 1, 0, 0, 0), []byte{0, 0, 2, 0, 1}),
			wantQ: []Question{{".", 2, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := parseMessage(tt.msg, proto.In, false, new(int))
			switch {
			case tt.wantErr == "" && m.Err != "":
				t.Errorf("Err = %q, want none", m.Err)
			case tt.wantErr != "" && !strings.Contains(m.Err, tt.wantErr):
				t.Errorf("Err = %q, want it to contain %q", m.Err, tt.wantErr)
			}
			if !reflect.DeepEqual(m.Questions, tt.wantQ) {
				t.Errorf("Questions = %+v, want %+v", m.Questions, tt.wantQ)
			}
			if len(m.Records) != tt.wantRecords {
				t.Errorf("%d records, want %d: %+v", len(m.Records), tt.wantRecords, m.Records)
			}
			if tt.check != nil && len(m.Records) == tt.wantRecords {
				tt.check(t, m)
			}
		})
	}
}

func TestParseMessageBounds(t *testing.T) {
	var fs []func(b *dnsmessage.Builder) error
	for i := range MaxRecords + 7 {
		fs = append(fs, aRR("many.example.", 1, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()))
	}
	msg := build(t, response, q("many.example.", dnsmessage.TypeA), answers(fs...),
		additionals(func(b *dnsmessage.Builder) error {
			var h dnsmessage.ResourceHeader
			if err := h.SetEDNS0(4096, dnsmessage.RCodeSuccess, false); err != nil {
				return err
			}
			return b.OPTResource(h, dnsmessage.OPTResource{})
		}))
	m := parseMessage(msg, proto.In, false, new(int))
	if m.Err != "" || len(m.Records) != MaxRecords || m.OmittedRecords != 7 {
		t.Fatalf("Err %q, %d records, %d omitted; want none, %d, 7", m.Err, len(m.Records), m.OmittedRecords, MaxRecords)
	}
	if m.EDNS == nil || m.EDNS.UDPSize != 4096 {
		t.Errorf("EDNS = %+v: the OPT after the omitted records must still be read", m.EDNS)
	}
	if last := m.Records[MaxRecords-1]; last.Addr != a4("10.0.0.63") {
		t.Errorf("last kept record %v, want 10.0.0.63", last.Addr)
	}

	long := strings.Repeat("x", MaxTXTKept+100)
	msg = build(t, response, q("t.example.", dnsmessage.TypeTXT), answers(func(b *dnsmessage.Builder) error {
		var parts []string
		for s := long; s != ""; s = s[min(len(s), 255):] {
			parts = append(parts, s[:min(len(s), 255)])
		}
		return b.TXTResource(rh("t.example.", 1), dnsmessage.TXTResource{TXT: parts})
	}))
	m = parseMessage(msg, proto.In, false, new(int))
	if len(m.Records) != 1 || !m.Records[0].RDataTruncated || len(strings.Join(m.Records[0].Strings, "")) != MaxTXTKept {
		t.Errorf("long TXT: %+v, want %d octets kept and rdata_truncated", m.Records, MaxTXTKept)
	}
}
