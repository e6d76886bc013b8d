package dhcp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// Builders for synthetic messages; expectations below are written out by
// hand.

// bootp returns a BOOTREQUEST header (xid 0x01020304, chaddr
// 02:00:00:00:00:01, sname "srv", file "boot.img"), the magic cookie and
// the given option bytes.
func bootp(options ...byte) []byte {
	b := make([]byte, offOptions)
	b[0], b[1], b[2], b[3] = 1, 1, 6, 2
	copy(b[4:], []byte{1, 2, 3, 4})
	b[8], b[9] = 0, 7      // secs
	b[10], b[11] = 0x80, 0 // broadcast flag
	copy(b[12:], []byte{10, 0, 0, 1})
	copy(b[24:], []byte{192, 0, 2, 1})
	copy(b[offChaddr:], []byte{2, 0, 0, 0, 0, 1})
	copy(b[offSname:], "srv")
	copy(b[offFile:], "boot.img")
	copy(b[offCookie:], magicCookie)
	return append(b, options...)
}

// body returns an option's body by name; nil if absent.
func body(opts []Option, name string) *OptionBody {
	for i := range opts {
		if opts[i].Name == name {
			return &opts[i].Body
		}
	}
	return nil
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		sport, dport uint16
		want         Version
	}{
		{68, 67, V4}, {67, 68, V4}, {67, 67, V4}, {16896, 68, V4},
		{546, 547, V6}, {547, 546, V6}, {547, 547, V6},
		{53, 5353, NotDHCP}, {0, 0, NotDHCP},
	} {
		if got := Detect(tc.sport, tc.dport); got != tc.want {
			t.Errorf("Detect(%d, %d) = %v, want %v", tc.sport, tc.dport, got, tc.want)
		}
	}
	if New(NotDHCP) != nil {
		t.Error("New(NotDHCP) != nil")
	}
}

func TestHeaderV4(t *testing.T) {
	m := parseV4(bootp(53, 1, 3, 255), &budget{})
	want := `{"op":"1","htype":"1","hlen":"6","hops":"2","xid":"16909060","secs":"7","flags":"32768",` +
		`"ciaddr":"10.0.0.1","yiaddr":"0.0.0.0","siaddr":"0.0.0.0","giaddr":"192.0.2.1",` +
		`"chaddr":"02000000000100000000000000000000","sname":"srv","file":"boot.img",` +
		`"options":[{"MsgType":{"code":53,"len":1,"value":"DHCPREQUEST","decoded":"DHCPREQUEST"}}]}`
	if got := jsonOf(t, m); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestOptionsV4(t *testing.T) {
	tests := []struct {
		name    string
		options []byte
		option  string // name of the option to check
		decoded string // its "decoded" as JSON; "" for absent
		errOpt  string // substring of the option's error
		errMsg  string // substring of the message's error
		count   int    // options in the message
	}{
		{"subnet mask", []byte{1, 4, 255, 255, 255, 0, 255}, "SubnetMask", `"255.255.255.0"`, "", "", 1},
		{"routers", []byte{3, 8, 10, 0, 0, 1, 10, 0, 0, 2, 255}, "Router", `["10.0.0.1","10.0.0.2"]`, "", "", 1},
		{"bad address length", []byte{3, 3, 10, 0, 0, 255}, "Router", "", "length 3, want a multiple of 4", "", 1},
		{"lease time", []byte{51, 4, 0, 1, 0x51, 0x80, 255}, "AddressTime", `86400`, "", "", 1},
		{"time offset is signed", []byte{2, 4, 0xff, 0xff, 0xf1, 0xf0, 255}, "TimeOffset", `-3600`, "", "", 1},
		{"hostname with NUL", []byte{12, 5, 'h', 'o', 's', 't', 0, 255}, "Hostname", `"host"`, "", "", 1},
		{"parameter list", []byte{55, 3, 1, 3, 6, 255}, "ParameterList", `[1,3,6]`, "", "", 1},
		{"unknown message type", []byte{53, 1, 99, 255}, "MsgType", `99`, "", "", 1},
		{"client id ethernet", []byte{61, 7, 1, 2, 0, 0, 0, 0, 1, 255}, "ClientId", `{"type":1,"hwaddr":"02:00:00:00:00:01"}`, "", "", 1},
		{"client id rfc 4361", []byte{61, 15, 255, 0, 0, 0, 9, 0, 3, 0, 1, 2, 0, 0, 0, 0, 1, 255}, "ClientId",
			`{"type":255,"iaid":9,"duid":{"type":3,"hwtype":1,"lladdr":"02:00:00:00:00:01"}}`, "", "", 1},
		{"classless routes", []byte{121, 14, 8, 10, 192, 0, 2, 1, 24, 192, 168, 1, 192, 0, 2, 2, 255}, "ClasslessStaticRoute",
			`[{"destination":"10.0.0.0/8","router":"192.0.2.1"},{"destination":"192.168.1.0/24","router":"192.0.2.2"}]`, "", "", 1},
		{"classless route cut short", []byte{121, 13, 8, 10, 192, 0, 2, 1, 24, 192, 168, 1, 192, 0, 2, 255}, "ClasslessStaticRoute",
			"", "route at 6 runs past the end", "", 1},
		{"classless prefix too long", []byte{121, 5, 33, 1, 2, 3, 4, 255}, "ClasslessStaticRoute", "", "prefix length 33", "", 1},
		{"classless default route", []byte{121, 5, 0, 192, 0, 2, 1, 255}, "ClasslessStaticRoute",
			`[{"destination":"0.0.0.0/0","router":"192.0.2.1"}]`, "", "", 1},
		{"domain search with pointer", append(append([]byte{119, 19}, "\x07example\x03com\x00\x03www\xc0\x00"...), 255),
			"DomainSearch", `["example.com","www.example.com"]`, "", "", 1},
		{"domain search pointer loop", []byte{119, 2, 0xc0, 0x00, 255}, "DomainSearch", "", "more than 127 pointers", "", 1},
		{"fqdn wire format", append(append([]byte{81, 13}, "\x05\x00\x00\x04host\x03lan\x00"...), 255), "ClientFQDN",
			`{"flags":5,"rcode1":0,"rcode2":0,"name":"host.lan"}`, "", "", 1},
		{"fqdn ascii", append(append([]byte{81, 6}, "\x01\xff\xffpc1"...), 255), "ClientFQDN",
			`{"flags":1,"rcode1":255,"rcode2":255,"name":"pc1"}`, "", "", 1},
		{"relay agent", []byte{82, 8, 1, 2, 'e', '0', 2, 2, 0xab, 0xcd, 255}, "RelayAgentInformation",
			`[{"code":1,"value":"6530"},{"code":2,"value":"abcd"}]`, "", "", 1},
		{"user class rfc 3004", []byte{77, 6, 2, 'a', 'b', 2, 'c', 'd', 255}, "User-Class", `["ab","cd"]`, "", "", 1},
		{"user class plain text", []byte{77, 3, 'M', 'S', 'F', 255}, "User-Class", `["MSF"]`, "", "", 1},
		{"pads skipped", []byte{0, 0, 1, 4, 255, 0, 0, 0, 0, 0, 255}, "SubnetMask", `"255.0.0.0"`, "", "", 1},
		{"options after end ignored", []byte{1, 4, 255, 0, 0, 0, 255, 3, 4, 1, 1, 1, 1}, "SubnetMask", `"255.0.0.0"`, "", "", 1},
		{"no end option", []byte{1, 4, 255, 0, 0, 0}, "SubnetMask", `"255.0.0.0"`, "", "", 1},
		{"option past the end", []byte{12, 9, 'a', 'b'}, "Hostname", "", "2 of 9 bytes", "option 12 at offset 0 runs past the end", 1},
		{"length missing", []byte{1, 4, 255, 0, 0, 0, 12}, "Hostname", "", "no length", "option 12 at offset 6 has no length", 2},
		{"unknown option kept raw", []byte{200, 2, 0xbe, 0xef, 255}, "Unassigned", "", "", "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := parseV4(bootp(tc.options...), &budget{})
			if len(m.Options) != tc.count {
				t.Fatalf("%d options, want %d: %s", len(m.Options), tc.count, jsonOf(t, m.Options))
			}
			b := body(m.Options, tc.option)
			if b == nil {
				t.Fatalf("no option %s: %s", tc.option, jsonOf(t, m.Options))
			}
			got := ""
			if b.Decoded != nil {
				got = jsonOf(t, b.Decoded)
			}
			if got != tc.decoded {
				t.Errorf("decoded = %s, want %s", got, tc.decoded)
			}
			if (tc.errOpt == "") != (b.Error == "") || !strings.Contains(b.Error, tc.errOpt) {
				t.Errorf("option error = %q, want ~%q", b.Error, tc.errOpt)
			}
			if (tc.errMsg == "") != (m.Error == "") || !strings.Contains(m.Error, tc.errMsg) {
				t.Errorf("message error = %q, want ~%q", m.Error, tc.errMsg)
			}
		})
	}
}

func TestMessageV4Edges(t *testing.T) {
	t.Run("short header", func(t *testing.T) {
		m := parseV4(bootp()[:30], &budget{})
		if m.Op != "1" || m.Giaddr != "192.0.2.1" || m.Chaddr != nil || m.Options != nil ||
			!strings.Contains(m.Error, "message of 30 bytes ends inside") {
			t.Errorf("%s", jsonOf(t, m))
		}
	})
	t.Run("bootp without cookie", func(t *testing.T) {
		b := bootp()
		copy(b[offCookie:], "\x00\x00\x00\x00")
		m := parseV4(append(b, 1, 4, 1, 1, 1, 1), &budget{})
		if m.Options != nil || m.Sname != "srv" || !strings.Contains(m.Error, "no DHCP magic cookie (00000000)") {
			t.Errorf("%s", jsonOf(t, m))
		}
	})
	t.Run("bare bootp", func(t *testing.T) {
		m := parseV4(bootp()[:offCookie], &budget{})
		if m.Error != "" || m.File != "boot.img" {
			t.Errorf("%s", jsonOf(t, m))
		}
	})
	t.Run("overload", func(t *testing.T) {
		// Option 52 = 3: file, then sname, carry options too.
		b := bootp(52, 1, 3, 53, 1, 1, 255)
		copy(b[offFile:], []byte{12, 2, 'p', 'c', 255, 0, 0, 0})
		copy(b[offSname:], []byte{15, 3, 'l', 'a', 'n', 255})
		m := parseV4(b, &budget{})
		var names []string
		for _, o := range m.Options {
			names = append(names, o.Name)
		}
		if strings.Join(names, ",") != "Overload,MsgType,Hostname,DomainName" || m.Sname != "" || m.File != "" {
			t.Errorf("options %v sname %q file %q", names, m.Sname, m.File)
		}
	})
	t.Run("option budget", func(t *testing.T) {
		opts := bytes.Repeat([]byte{80, 0}, maxOptions+10) // Rapid Commit, empty
		m := parseV4(bootp(opts...), &budget{})
		if len(m.Options) != maxOptions || !strings.Contains(m.Error, "more than 255 options") {
			t.Errorf("%d options, error %q", len(m.Options), m.Error)
		}
	})
}

func TestParserV4(t *testing.T) {
	var p ParserV4 // the zero value works
	if k, v := p.Report(); k != "dhcp" || v != nil {
		t.Fatalf("empty Report() = %q, %v", k, v)
	}
	p.Datagram(proto.Out, nil, false, 0) // nothing to record
	msg := bootp(53, 1, 1, 255)
	for i := 0; i < maxMessages+5; i++ {
		if p.Done() != (i >= maxMessages) {
			t.Fatalf("Done() = %v after %d messages", p.Done(), i)
		}
		p.Datagram(proto.Dir(i%2), msg, i == 1, 0)
	}
	_, v := p.Report()
	msgs := v.([]*MessageV4)
	if len(msgs) != maxMessages || msgs[0].Dir != ">" || msgs[1].Dir != "<" || !msgs[1].Truncated || msgs[0].Truncated {
		t.Errorf("%d messages, dirs %q %q, truncated %v %v", len(msgs), msgs[0].Dir, msgs[1].Dir, msgs[0].Truncated, msgs[1].Truncated)
	}
	// The parser must not keep the caller's buffer.
	msg[offCookie+6] = 5
	if body(msgs[0].Options, "MsgType").Value != "DHCPDISCOVER" {
		t.Error("message changed with the caller's buffer")
	}
}

func TestMessagesV6(t *testing.T) {
	// SOLICIT, xid 0x00abcd, with CLIENTID (DUID-LLT), ORO, ELAPSED_TIME,
	// IA_NA holding an IAADDR with a STATUS_CODE, and CLIENT_FQDN.
	solicit := []byte{1, 0x00, 0xab, 0xcd,
		0, 1, 0, 14, 0, 1, 0, 1, 0x1c, 0x39, 0xcf, 0x88, 2, 0, 0, 0, 0, 1,
		0, 6, 0, 4, 0, 23, 0, 24,
		0, 8, 0, 2, 0, 100,
		0, 3, 0, 12 + 28 + 6, 0, 0, 0, 7, 0, 0, 0x0e, 0x10, 0, 0, 0x15, 0x18,
		0, 5, 0, 24 + 6, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x1c, 0x20, 0, 0, 0x1d, 0x4c,
		0, 13, 0, 2, 0, 0,
		0, 39, 0, 6, 1, 4, 'h', 'o', 's', 't',
	}
	tests := []struct {
		name string
		msg  []byte
		want string
	}{
		{"solicit", solicit, `{"type":"SOLICIT","transid":"abcd","options":[` +
			`{"CLIENTID":{"code":1,"len":14,"value":"000100011c39cf88020000000001","decoded":{"type":1,"hwtype":1,"time":473550728,"lladdr":"02:00:00:00:00:01"}}},` +
			`{"ORO":{"code":6,"len":4,"value":"00170018","decoded":[23,24]}},` +
			`{"ELAPSEDTIME":{"code":8,"len":2,"value":"0064","decoded":100}},` +
			`{"IANA":{"code":3,"len":46,"value":"0000000700000e10000015180005001e` + `20010db8000000000000000000000001` + `00001c2000001d4c000d00020000","decoded":{"iaid":7,"t1":3600,"t2":5400,"options":[` +
			`{"IAADDR":{"code":5,"len":30,"value":"20010db800000000000000000000000100001c2000001d4c000d00020000","decoded":{"address":"2001:db8::1","preferred_lifetime":7200,"valid_lifetime":7500,"options":[` +
			`{"STATUSCODE":{"code":13,"len":2,"value":"0000","decoded":{"code":0,"message":""}}}]}}}]}}},` +
			`{"CLIENTFQDN":{"code":39,"len":6,"value":"0104686f7374","decoded":{"flags":1,"name":"host","partial":true}}}]}`},
		{"relay", append([]byte{12, 1,
			0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xaa,
			0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
			0, 9, 0, 8}, 11, 0, 0, 1, 0, 14, 0, 0),
			`{"type":"RELAYFORWD","hop_count":1,"link_address":"2001:db8::aa","peer_address":"fe80::1","options":[` +
				`{"RELAYMSG":{"code":9,"len":8,"value":"0b000001000e0000","decoded":{"type":"INFOREQUEST","transid":"1","options":[` +
				`{"RAPIDCOMMIT":{"code":14,"len":0}}]}}}]}`},
		{"unknown type and option", []byte{99, 1, 2, 3, 0x12, 0x34, 0, 1, 0xff},
			`{"type":"99","transid":"10203","options":[{"4660":{"code":4660,"len":1,"value":"ff"}}]}`},
		{"option past the end", []byte{1, 0, 0, 1, 0, 23, 0, 32, 0x20, 0x01},
			`{"type":"SOLICIT","transid":"1","options":[{"DNSSERVERS":{"code":23,"len":32,"value":"2001","error":"2 of 32 bytes: message ends"}}],"error":"option 23 at offset 0 runs past the end"}`},
		{"bad dns server length", []byte{7, 0, 0, 1, 0, 23, 0, 3, 1, 2, 3},
			`{"type":"REPLY","transid":"1","options":[{"DNSSERVERS":{"code":23,"len":3,"value":"010203","error":"length 3, want a multiple of 16"}}]}`},
		{"short relay", []byte{13, 0, 1, 2}, `{"type":"RELAYREPL","error":"relay message of 4 bytes, header needs 34"}`},
		{"dhcpv4 inside", append([]byte{20, 0, 0, 1, 0, 87, 0, byte(len(bootp(53, 1, 1, 255)))}, bootp(53, 1, 1, 255)...), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := parseV6(tc.msg, &budget{}, 0)
			got := jsonOf(t, m)
			if tc.want == "" {
				// DHCPv4-over-DHCPv6 (RFC 7341): the inner message is decoded.
				inner, ok := m.Options[0].Body.Decoded.(*MessageV4)
				if m.Type != "DHCPV4QUERY" || !ok || inner.Xid != "16909060" || body(inner.Options, "MsgType").Value != "DHCPDISCOVER" {
					t.Errorf("%s", got)
				}
				return
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestNestingBounded builds relays nested far deeper than maxDepth: the
// parser must stop at the bound with an error, not recurse on.
func TestNestingBounded(t *testing.T) {
	msg := []byte{11, 0, 0, 1}
	for i := 0; i < 40; i++ {
		hdr := make([]byte, 34)
		hdr[0] = msgRelayForw
		msg = append(append(hdr, 0, 9, byte(len(msg)>>8), byte(len(msg))), msg...)
	}
	m := parseV6(msg, &budget{}, 0)
	depth := 0
	for {
		inner, ok := m.Options[0].Body.Decoded.(*MessageV6)
		if !ok {
			if !strings.Contains(m.Options[0].Body.Error+m.Error, "nested deeper than") {
				t.Errorf("stopped at depth %d without the error: %s", depth, jsonOf(t, m))
			}
			break
		}
		m = inner
		depth++
	}
	if depth > maxDepth {
		t.Errorf("decoded %d levels, bound is %d", depth, maxDepth)
	}
}

func TestParserV6(t *testing.T) {
	p := NewV6()
	p.Datagram(proto.In, []byte{2}, true, 0)
	k, v := p.Report()
	msgs := v.([]*MessageV6)
	if k != "dhcpv6" || len(msgs) != 1 || msgs[0].Type != "ADVERTISE" || msgs[0].Dir != "<" || !msgs[0].Truncated ||
		!strings.Contains(msgs[0].Error, "header needs 4") {
		t.Errorf("%q %s", k, jsonOf(t, v))
	}
}
