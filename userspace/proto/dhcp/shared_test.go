package dhcp

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// TestAgainstTshark runs the parsers over the DHCP frames of public
// captures (testdata/pcap; testdata/SOURCES) and compares every message
// with tshark 4.0's dissection of the same frame (testdata/tshark, made by
// gen.sh).
func TestAgainstTshark(t *testing.T) {
	pcaps, err := filepath.Glob(filepath.Join("testdata", "pcap", "*.pcap"))
	if err != nil || len(pcaps) < 30 {
		t.Fatalf("%d captures (%v)", len(pcaps), err)
	}
	total := [3]int{}
	for _, path := range pcaps {
		name := strings.TrimSuffix(filepath.Base(path), ".pcap")
		t.Run(name, func(t *testing.T) {
			flows, rows := readCapture(t, name)
			for _, fl := range flows {
				v := Detect(fl.Src.Port(), fl.Dst.Port())
				parser := New(v)
				if parser == nil {
					t.Errorf("flow %v → %v: not detected as DHCP", fl.Src, fl.Dst)
					continue
				}
				for _, d := range fl.Events {
					parser.Datagram(d.Dir, d.Data, d.Truncated, d.TS)
				}
				_, rep := parser.Report()
				if _, err := json.Marshal(rep); err != nil {
					t.Fatalf("marshal: %v", err)
				}
				for i, d := range fl.Events {
					if i >= maxMessages {
						break
					}
					row := rows[v][d.Frame]
					if row == nil {
						continue // tshark did not see DHCP there
					}
					t.Run(fmt.Sprint("frame", d.Frame), func(t *testing.T) {
						switch v {
						case V4:
							compareV4(t, rep.([]*MessageV4)[i], row)
						case V6:
							compareV6(t, rep.([]*MessageV6)[i], row)
						}
					})
					total[v]++
				}
			}
		})
	}
	// Guard against a helper that silently compares nothing.
	if total[V4] < 100 || total[V6] < 20 {
		t.Errorf("compared %d DHCPv4 and %d DHCPv6 messages", total[V4], total[V6])
	}
	t.Logf("compared %d DHCPv4 and %d DHCPv6 messages with tshark", total[V4], total[V6])
}

// num parses tshark's rendering of an integer (decimal or 0x hex).
func num(s string) string {
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return "bad number " + s
	}
	return strconv.FormatUint(n, 10)
}

func check(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, tshark %q", what, got, want)
	}
}

func checkList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, tshark %q", what, got, want)
	}
}

// printable reports whether tshark shows s as it is (it escapes other
// bytes, so only these can be compared).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\' {
			return false
		}
	}
	return true
}

func compareV4(t *testing.T, m *MessageV4, row tsharkRow) {
	t.Helper()
	for _, f := range []struct{ name, got, field string }{
		{"op", m.Op, "dhcp.type"}, {"htype", m.Htype, "dhcp.hw.type"}, {"hlen", m.Hlen, "dhcp.hw.len"},
		{"hops", m.Hops, "dhcp.hops"}, {"xid", m.Xid, "dhcp.id"}, {"secs", m.Secs, "dhcp.secs"},
		{"flags", m.Flags, "dhcp.flags"},
	} {
		// The first occurrence is the header's: option 61 repeats
		// dhcp.hw.type for its own hardware type.
		if w := row.first(f.field); w != "" {
			check(t, f.name, f.got, num(w))
		}
	}
	for _, f := range []struct{ name, got, field string }{
		{"ciaddr", m.Ciaddr, "dhcp.ip.client"}, {"yiaddr", m.Yiaddr, "dhcp.ip.your"},
		{"siaddr", m.Siaddr, "dhcp.ip.server"}, {"giaddr", m.Giaddr, "dhcp.ip.relay"},
	} {
		if w := row[f.field]; w != "" {
			check(t, f.name, f.got, w)
		}
	}
	// chaddr: tshark splits it into the address (as a MAC for Ethernet) and
	// the padding after hlen bytes.
	hw := row.first("dhcp.hw.addr")
	if mac := row.first("dhcp.hw.mac_addr"); mac != "" {
		hw = strings.ReplaceAll(mac, ":", "")
	}
	if hw != "" || row["dhcp.hw.addr_padding"] != "" {
		check(t, "chaddr", hex.EncodeToString(m.Chaddr), hw+row["dhcp.hw.addr_padding"])
	}
	if w := row["dhcp.server"]; printable(w) && !slices.Contains(row.list("dhcp.option.type"), "52") {
		check(t, "sname", string(m.Sname), w)
	}
	if w := row["dhcp.file"]; printable(w) && !slices.Contains(row.list("dhcp.option.type"), "52") {
		check(t, "file", string(m.File), w)
	}
	if row["dhcp.cookie"] == "" {
		return // BOOTP: no options
	}

	// Options: tshark also lists Pad (0) and End (255), which are markers,
	// not options.
	var codes, lens []string
	for _, c := range row.list("dhcp.option.type") {
		if c != "0" && c != "255" {
			codes = append(codes, c)
		}
	}
	lens = row.list("dhcp.option.length")
	var gotCodes, gotLens []string
	for _, o := range m.Options {
		gotCodes = append(gotCodes, strconv.Itoa(o.Body.Code))
		gotLens = append(gotLens, strconv.Itoa(o.Body.Len))
	}
	checkList(t, "option codes", gotCodes, codes)
	checkList(t, "option lengths", gotLens, lens)

	// Decoded values, by the tshark field that shows them.
	decoded := func(code int) []string {
		var out []string
		for _, o := range m.Options {
			if o.Body.Code == code {
				out = append(out, flatten(o.Body.Decoded)...)
			}
		}
		return out
	}
	for field, code := range map[string]int{
		"dhcp.option.subnet_mask": 1, "dhcp.option.time_offset": 2, "dhcp.option.router": 3,
		"dhcp.option.domain_name_server": 6, "dhcp.option.hostname": 12, "dhcp.option.domain_name": 15,
		"dhcp.option.interface_mtu": 26, "dhcp.option.broadcast_address": 28, "dhcp.option.ntp_server": 42,
		"dhcp.option.requested_ip_address": 50, "dhcp.option.ip_address_lease_time": 51,
		"dhcp.option.option_overload": 52, "dhcp.option.dhcp_server_id": 54,
		"dhcp.option.request_list_item": 55, "dhcp.option.message": 56,
		"dhcp.option.dhcp_max_message_size": 57, "dhcp.option.renewal_time_value": 58,
		"dhcp.option.rebinding_time_value": 59, "dhcp.option.vendor_class_id": 60,
		"dhcp.option.tftp_server_name": 66, "dhcp.option.bootfile_name": 67,
		"dhcp.option.dhcp_dns_domain_search_list_fqdn": 119,
	} {
		want := row.list(field)
		if len(want) == 0 || !printable(row[field]) {
			continue
		}
		checkList(t, field, decoded(code), want)
	}
	// Message type: tshark gives the number, Joy (and we) the name.
	if w := row["dhcp.option.dhcp"]; w != "" {
		n, _ := strconv.Atoi(w)
		want := w
		if n < len(msgTypesV4) && msgTypesV4[n] != "" {
			want = msgTypesV4[n]
		}
		check(t, "message type", strings.Join(decoded(optMsgType), ""), want)
	}
	// Static routes: destination and router pairs.
	if ips := row.list("dhcp.option.static_route.ip"); ips != nil {
		var want []string
		for i, ip := range ips {
			want = append(want, ip, row.list("dhcp.option.static_route.router")[i])
		}
		checkList(t, "static routes", decoded(33), want)
	}
	// Client identifier: type, then the rest (tshark's dhcp.client_id is
	// the rest for types it decodes no further).
	if w := row["dhcp.client_id.type"]; w != "" {
		var c *ClientIDV4
		for _, o := range m.Options {
			if o.Body.Code == 61 {
				c, _ = o.Body.Decoded.(*ClientIDV4)
			}
		}
		if c == nil {
			t.Fatalf("no decoded client id; tshark type %s", w)
		}
		check(t, "client id type", strconv.Itoa(int(c.Type)), w)
	}
	// Client FQDN.
	if w := row["dhcp.fqdn.flags"]; w != "" {
		var f *FQDNV4
		for _, o := range m.Options {
			if o.Body.Code == 81 {
				f, _ = o.Body.Decoded.(*FQDNV4)
			}
		}
		if f == nil {
			t.Fatalf("no decoded FQDN; tshark flags %s", w)
		}
		check(t, "fqdn flags", strconv.Itoa(int(f.Flags)), num(w))
		if n := row["dhcp.fqdn.name"]; printable(n) {
			check(t, "fqdn name", string(f.Name), n)
		}
	}
	// Relay agent sub-options.
	if w := row.list("dhcp.option.agent_information_option.suboption"); w != nil {
		var got []string
		for _, o := range m.Options {
			if subs, ok := o.Body.Decoded.([]SubOption); ok && o.Body.Code == 82 {
				for _, s := range subs {
					got = append(got, strconv.Itoa(s.Code))
				}
			}
		}
		checkList(t, "relay agent sub-options", got, w)
	}
}

// flatten renders a decoded value as tshark's field strings.
func flatten(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return []string{v}
	case []string:
		return v
	case codeList:
		var out []string
		for _, c := range v {
			out = append(out, strconv.Itoa(int(c)))
		}
		return out
	case []Route:
		var out []string
		for _, r := range v {
			out = append(out, r.Destination, r.Router)
		}
		return out
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 1 && s[0] == '[' {
		var items []json.RawMessage
		json.Unmarshal(b, &items)
		var out []string
		for _, it := range items {
			out = append(out, unquote(string(it)))
		}
		return out
	}
	return []string{unquote(s)}
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

func compareV6(t *testing.T, m *MessageV6, row tsharkRow) {
	t.Helper()
	got := map[string][]string{}
	flattenV6(m, got)
	for field := range row {
		if field == "frame.number" || field == "udp.srcport" || field == "udp.dstport" {
			continue
		}
		want := row.list(field)
		if len(want) == 0 || !printable(row[field]) {
			continue
		}
		if fix, ok := tsharkFormat[field]; ok {
			for i := range want {
				want[i] = fix(want[i])
			}
		}
		checkList(t, field, got[field], want)
	}
	// Every field we produce, tshark must have too.
	for field, vals := range got {
		if row[field] == "" && len(vals) > 0 {
			t.Errorf("%s = %q, tshark has none", field, vals)
		}
	}
}

// tsharkFormat brings tshark's renderings to ours.
var tsharkFormat = map[string]func(string) string{
	"dhcpv6.xid":                     func(s string) string { return strings.TrimLeft(strings.TrimPrefix(s, "0x"), "0") },
	"dhcpv6.client_fqdn_flags":       num,
	"dhcpv6.duiden.identifier":       strings.ToLower,
	"dhcpv6.duidllt.link_layer_addr": strings.ToLower,
	"dhcpv6.duidll.link_layer_addr":  strings.ToLower,
	// tshark shows milliseconds; the option counts hundredths of a second.
	"dhcpv6.elapsed_time": func(s string) string {
		n, _ := strconv.Atoi(s)
		return strconv.Itoa(n / 10)
	},
	// tshark ends names with the root's dot; we write them as the dns
	// parser does, without it.
	"dhcpv6.search_list_entry":             noRootDot,
	"dhcpv6.aftr_name":                     noRootDot,
	"dhcpv6.ntpserver.fqdn":                noRootDot,
	"dhcpv6.sip_server_domain_search_fqdn": noRootDot,
}

func noRootDot(s string) string {
	if len(s) > 1 {
		return strings.TrimSuffix(s, ".")
	}
	return s
}

// flattenV6 lists a message's values in document order under the tshark
// field that shows each, descending into nested options and relayed
// messages as tshark does.
func flattenV6(m *MessageV6, out map[string][]string) {
	add := func(field string, v ...string) { out[field] = append(out[field], v...) }
	if n, err := strconv.Atoi(m.Type); err == nil {
		add("dhcpv6.msgtype", strconv.Itoa(n))
	} else {
		add("dhcpv6.msgtype", strconv.Itoa(slices.Index(msgTypesV6[:], m.Type)))
	}
	if m.TransID != "" {
		add("dhcpv6.xid", strings.TrimLeft(m.TransID, "0"))
	}
	if m.HopCount != nil {
		add("dhcpv6.hopcount", strconv.Itoa(int(*m.HopCount)))
		add("dhcpv6.linkaddr", m.LinkAddress)
		add("dhcpv6.peeraddr", m.PeerAddress)
	}
	flattenOptionsV6(m.Options, out)
}

func flattenOptionsV6(opts []Option, out map[string][]string) {
	add := func(field string, v ...string) { out[field] = append(out[field], v...) }
	u := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	for _, o := range opts {
		if strings.HasSuffix(o.Body.Error, "message ends") {
			// We keep an option that runs past the end, with its error;
			// tshark drops it.
			continue
		}
		add("dhcpv6.option.type", strconv.Itoa(o.Body.Code))
		add("dhcpv6.option.length", strconv.Itoa(o.Body.Len))
		switch d := o.Body.Decoded.(type) {
		case *DUID:
			add("dhcpv6.duid.type", strconv.Itoa(int(d.Type)))
			switch d.Type {
			case 1:
				add("dhcpv6.duidllt.hwtype", strconv.Itoa(int(*d.HWType)))
				add("dhcpv6.duidllt.link_layer_addr", d.LLAddr)
			case 2:
				add("dhcpv6.duiden.enterprise", u(*d.Enterprise))
				add("dhcpv6.duiden.identifier", hex.EncodeToString(d.ID))
			case 3:
				add("dhcpv6.duidll.hwtype", strconv.Itoa(int(*d.HWType)))
				add("dhcpv6.duidll.link_layer_addr", d.LLAddr)
			case 4:
				add("dhcpv6.duiduuid.bytes", hex.EncodeToString(d.UUID))
			}
		case *IA:
			if o.Body.Code == 4 {
				add("dhcpv6.iata", fmt.Sprintf("%08x", d.IAID))
			} else {
				add("dhcpv6.iaid", fmt.Sprintf("%08x", d.IAID))
				add("dhcpv6.iaid.t1", u(*d.T1))
				add("dhcpv6.iaid.t2", u(*d.T2))
			}
			flattenOptionsV6(d.Options, out)
		case *IAAddress:
			if d.Prefix == "" {
				add("dhcpv6.iaaddr.ip", d.Address)
				add("dhcpv6.iaaddr.pref_lifetime", u(d.PreferredLifetime))
				add("dhcpv6.iaaddr.valid_lifetime", u(d.ValidLifetime))
			} else {
				add("dhcpv6.iaprefix.pref_lifetime", u(d.PreferredLifetime))
				add("dhcpv6.iaprefix.valid_lifetime", u(d.ValidLifetime))
				addr, bits, _ := strings.Cut(d.Prefix, "/")
				add("dhcpv6.iaprefix.pref_len", bits)
				add("dhcpv6.iaprefix.pref_addr", addr)
			}
			flattenOptionsV6(d.Options, out)
		case []uint16:
			for _, c := range d {
				add("dhcpv6.requested_option_code", strconv.Itoa(int(c)))
			}
		case *MessageV6:
			flattenV6(d, out)
		case StatusCode:
			add("dhcpv6.status_code", strconv.Itoa(int(d.Code)))
			if d.Message != "" {
				add("dhcpv6.status_msg", string(d.Message))
			}
		case *Vendor:
			if o.Body.Code == 16 {
				add("dhcpv6.vendorclass.enterprise", u(d.Enterprise))
			} else {
				add("dhcpv6.vendoropts.enterprise", u(d.Enterprise))
			}
		case *FQDNV6:
			add("dhcpv6.client_fqdn_flags", strconv.Itoa(int(d.Flags)))
			add("dhcpv6.client_domain", string(d.Name))
		case []NTPServer:
			for _, s := range d {
				switch {
				case s.Address != "":
					add("dhcpv6.ntpserver.addr", s.Address)
				case s.Multicast != "":
					add("dhcpv6.ntpserver.mc_addr", s.Multicast)
				default:
					add("dhcpv6.ntpserver.fqdn", string(s.FQDN))
				}
			}
		case *RemoteID:
			add("dhcpv6.remoteid.enterprise", u(d.Enterprise))
		default:
			switch o.Body.Code {
			case 7:
				add("dhcpv6.option_preference", flatten(d)...)
			case 8:
				add("dhcpv6.elapsed_time", flatten(d)...)
			case 12:
				add("dhcpv6.unicast", flatten(d)...)
			case 18:
				add("dhcpv6.interface_id", hex.EncodeToString([]byte(o.Body.Value.(jsontext.HexBytes))))
			case 19:
				add("dhcpv6.reconf_msg", flatten(d)...)
			case 21:
				add("dhcpv6.sip_server_domain_search_fqdn", flatten(d)...)
			case 22:
				add("dhcpv6.sip_server_a", flatten(d)...)
			case 23:
				add("dhcpv6.dns_server", flatten(d)...)
			case 24:
				add("dhcpv6.search_list_entry", flatten(d)...)
			case 38:
				add("dhcpv6.subscriber_id", flatten(d)...)
			case 64:
				add("dhcpv6.aftr_name", flatten(d)...)
			}
		}
	}
}
