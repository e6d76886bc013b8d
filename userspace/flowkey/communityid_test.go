package flowkey

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func keyOf(t testing.TB, proto uint8, src, dst string, sport, dport uint16) Key {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	k := Key{Proto: proto, SrcPort: sport, DstPort: dport}
	if s.Is4() != d.Is4() {
		t.Fatalf("mixed address families %s %s", src, dst)
	}
	if s.Is4() {
		k.IPVersion = 4
		a, b := s.As4(), d.As4()
		copy(k.Src[:], a[:])
		copy(k.Dst[:], b[:])
	} else {
		k.IPVersion = 6
		k.Src, k.Dst = s.As16(), d.As16()
	}
	return k
}

// icmpArgs turns a spec tuple into CommunityID's arguments: for ICMP the
// spec's sport is the message type and dport the counterpart type or the
// code (the latter only matters for one-way types, where it is the code).
func icmpArgs(proto uint8, sport, dport uint16) (k0, k1 uint16, typ, code uint8) {
	if proto == ProtoICMP || proto == ProtoICMPv6 {
		return 0, 0, uint8(sport), uint8(dport)
	}
	return sport, dport, 0, 0
}

// The spec README's three tables (default, seed 1, hex digests).
func TestCommunityIDSpecTables(t *testing.T) {
	const (
		a4, b4 = "1.2.3.4", "5.6.7.8"
		a6, b6 = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D"
	)
	tests := []struct {
		name         string
		proto        uint8
		src, dst     string
		sport, dport uint16
		deflt, seed1 string
		hex          string
	}{
		{"tcp out", 6, a4, b4, 1122, 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=", "c026f7386ef200559e95a53276ed03fb5db908b3"},
		{"tcp back", 6, b4, a4, 3344, 1122, "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=", "c026f7386ef200559e95a53276ed03fb5db908b3"},
		{"udp out", 17, a4, b4, 1122, 3344, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw=", "d0cbbd227431eb3e1988264cffb1d78b658c84e8"},
		{"udp back", 17, b4, a4, 3344, 1122, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw=", "d0cbbd227431eb3e1988264cffb1d78b658c84e8"},
		{"sctp out", 132, a4, b4, 1122, 3344, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s=", "10ab7832cc6ec9a13a98bfa19ab12443d72c0c3f"},
		{"sctp back", 132, b4, a4, 3344, 1122, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s=", "10ab7832cc6ec9a13a98bfa19ab12443d72c0c3f"},
		{"icmp echo", 1, a4, b4, 8, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=", "72ba1d4472f6144b078dbbf752446b7dbb386d9d"},
		{"icmp echo reply", 1, b4, a4, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=", "72ba1d4472f6144b078dbbf752446b7dbb386d9d"},
		{"icmp time exceeded", 1, a4, b4, 11, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=", "1:1DD7cWGC/Yg91YGsQeni8du3pIA=", "7ff6224b25aa733ad381f5026650549ef1d170f9"},
		{"icmp6 echo", 58, a6, b6, 128, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE=", "d1b7fb872309530b777cc103ef3f0b21f46905ea"},
		{"icmp6 echo reply", 58, b6, a6, 129, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE=", "d1b7fb872309530b777cc103ef3f0b21f46905ea"},
		{"icmp6 one-way", 58, a6, b6, 146, 0, "1:fYC8+pz24E+EhANP1EZhpX0Dw10=", "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s=", "7d80bcfa9cf6e04f8484034fd44661a57d03c35d"},
		{"rsvp out", 46, a4, b4, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8=", "8a4bf79267fcf65b9fef758fcf58ceb38f52efaf"},
		{"rsvp back", 46, b4, a4, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8=", "8a4bf79267fcf65b9fef758fcf58ceb38f52efaf"},
		{"rsvp6 out", 46, a6, b6, 0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=", "c10ff69b0ae75cfe259897077462f978f8d1f9ed"},
		{"rsvp6 back", 46, b6, a6, 0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=", "c10ff69b0ae75cfe259897077462f978f8d1f9ed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp, dp, typ, code := icmpArgs(tc.proto, tc.sport, tc.dport)
			k := keyOf(t, tc.proto, tc.src, tc.dst, sp, dp)
			if got := CommunityID(k, typ, code, 0); got != tc.deflt {
				t.Errorf("seed 0: got %s, want %s", got, tc.deflt)
			}
			if got := CommunityID(k, typ, code, 1); got != tc.seed1 {
				t.Errorf("seed 1: got %s, want %s", got, tc.seed1)
			}
			if got := digestHex(t, CommunityID(k, typ, code, 0)); got != tc.hex {
				t.Errorf("digest: got %s, want %s", got, tc.hex)
			}
		})
	}
}

func digestHex(t *testing.T, id string) string {
	t.Helper()
	b64, ok := strings.CutPrefix(id, "1:")
	if !ok {
		t.Fatalf("%q lacks the version prefix", id)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("%q: %v", id, err)
	}
	return hex.EncodeToString(raw)
}

// The spec's baseline JSON files: flows of its combined.pcap.
func TestCommunityIDBaseline(t *testing.T) {
	files := []struct {
		name string
		seed uint16
		hex  bool
	}{
		{"baseline_deflt.json", 0, false},
		{"baseline_seed1.json", 1, false},
		{"baseline_nob64.json", 0, true},
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "community-id", f.name))
			if err != nil {
				t.Fatal(err)
			}
			// Rows hold numbers, strings and nulls (no ports): a map reads
			// all three.
			var rows []map[string]any
			if err := json.Unmarshal(raw, &rows); err != nil {
				t.Fatal(err)
			}
			if len(rows) < 20 {
				t.Fatalf("only %d rows", len(rows))
			}
			for i, r := range rows {
				proto := uint8(r["proto"].(float64))
				var sport, dport uint16
				if v, ok := r["sport"].(float64); ok {
					sport = uint16(v)
				}
				if v, ok := r["dport"].(float64); ok {
					dport = uint16(v)
				}
				sp, dp, typ, code := icmpArgs(proto, sport, dport)
				k := keyOf(t, proto, r["saddr"].(string), r["daddr"].(string), sp, dp)
				got := CommunityID(k, typ, code, f.seed)
				want := r["communityid"].(string)
				if f.hex {
					got = "1:" + digestHex(t, got)
				}
				if got != want {
					t.Errorf("row %d %v: got %s, want %s", i, r, got, want)
				}
			}
		})
	}
}

// specDigest builds the spec's hash input by hand, independently of the
// implementation's ordering logic, for the cases the vectors do not cover.
func specDigest(seed uint16, src, dst []byte, proto uint8, ports ...uint16) string {
	in := []byte{byte(seed >> 8), byte(seed)}
	in = append(in, src...)
	in = append(in, dst...)
	in = append(in, proto, 0)
	for _, p := range ports {
		in = append(in, byte(p>>8), byte(p))
	}
	sum := sha1.Sum(in)
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}

func TestCommunityIDRules(t *testing.T) {
	a, b := []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}
	tests := []struct {
		name      string
		key       Key
		typ, code uint8
		want      string
	}{
		{
			// One-way ICMP from the larger address keeps its order.
			name: "icmp one-way not reordered",
			key:  keyOf(t, ProtoICMP, "10.0.0.2", "10.0.0.1", 0, 0),
			typ:  3, code: 1,
			want: specDigest(0, b, a, ProtoICMP, 3, 1),
		},
		{
			// Two-way ICMP from the larger address is reordered with
			// its mapped ports.
			name: "icmp echo reordered",
			key:  keyOf(t, ProtoICMP, "10.0.0.2", "10.0.0.1", 0, 0),
			typ:  8,
			want: specDigest(0, a, b, ProtoICMP, 0, 8),
		},
		{
			name: "icmp6 mld query pairs with report",
			key:  keyOf(t, ProtoICMPv6, "::2", "::1", 0, 0),
			typ:  130,
			want: specDigest(0, netip.MustParseAddr("::1").AsSlice(), netip.MustParseAddr("::2").AsSlice(), ProtoICMPv6, 131, 130),
		},
		{
			name: "equal addresses ordered by port",
			key:  keyOf(t, ProtoTCP, "10.0.0.1", "10.0.0.1", 443, 80),
			want: specDigest(0, a, a, ProtoTCP, 80, 443),
		},
		{
			name: "dccp hashed without ports",
			key:  keyOf(t, ProtoDCCP, "10.0.0.2", "10.0.0.1", 5000, 6000),
			want: specDigest(0, a, b, ProtoDCCP),
		},
		{
			name: "udp-lite hashed without ports",
			key:  keyOf(t, ProtoUDPLite, "10.0.0.1", "10.0.0.2", 5000, 6000),
			want: specDigest(7, a, b, ProtoUDPLite),
		},
		{
			name: "no IP version",
			key:  Key{Proto: ProtoTCP},
			want: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seed := uint16(0)
			if tc.key.Proto == ProtoUDPLite {
				seed = 7
			}
			if got := CommunityID(tc.key, tc.typ, tc.code, seed); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCommunityIDFieldsIgnored(t *testing.T) {
	// VLAN and interface are not part of the v1 tuple.
	k := keyOf(t, ProtoTCP, "1.2.3.4", "5.6.7.8", 1122, 3344)
	k2 := k
	k2.VLAN, k2.IfIndex = 42, 7
	if a, b := CommunityID(k, 0, 0, 0), CommunityID(k2, 0, 0, 0); a != b {
		t.Errorf("VLAN/IfIndex changed the ID: %s vs %s", a, b)
	}
}

func TestCommunityIDAllocs(t *testing.T) {
	k := keyOf(t, ProtoTCP, "2001:db8::1", "2001:db8::2", 1122, 3344)
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendCommunityID(buf[:0], k, 0, 0, 0) }); n != 0 {
		t.Errorf("AppendCommunityID: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = CommunityID(k, 0, 0, 0) }); n > 1 {
		t.Errorf("CommunityID: %v allocations, want at most 1", n)
	}
	if len(CommunityID(k, 0, 0, 0)) != CommunityIDLen {
		t.Errorf("length is not CommunityIDLen")
	}
}

func BenchmarkCommunityID(b *testing.B) {
	k4 := keyOf(b, ProtoTCP, "192.168.1.52", "8.8.8.8", 54585, 53)
	k6 := keyOf(b, ProtoUDP, "2001:db8::1", "2001:db8::2", 1122, 3344)
	b.Run("string/ipv4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = CommunityID(k4, 0, 0, 0)
		}
	})
	b.Run("append/ipv6", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, CommunityIDLen)
		for b.Loop() {
			buf = AppendCommunityID(buf[:0], k6, 0, 0, 0)
		}
	})
}

// FuzzCommunityID checks the spec's direction-independence on arbitrary
// tuples: a flow and its reverse get the same ID, for ICMP when the reply
// carries the counterpart type; and one-way ICMP types are not reordered.
func FuzzCommunityID(f *testing.F) {
	f.Add(uint8(ProtoTCP), true, []byte{1, 2, 3, 4}, []byte{5, 6, 7, 8}, uint16(1122), uint16(3344), uint8(0), uint8(0), uint16(0))
	f.Add(uint8(ProtoICMP), true, []byte{5, 6, 7, 8}, []byte{1, 2, 3, 4}, uint16(0), uint16(0), uint8(8), uint8(0), uint16(1))
	f.Add(uint8(ProtoICMPv6), false, make([]byte, 16), make([]byte, 16), uint16(0), uint16(0), uint8(135), uint8(0), uint16(0))
	f.Fuzz(func(t *testing.T, proto uint8, v4 bool, src, dst []byte, sport, dport uint16, typ, code uint8, seed uint16) {
		k := Key{Proto: proto, SrcPort: sport, DstPort: dport, IPVersion: 6}
		if v4 {
			k.IPVersion = 4
		}
		copy(k.Src[:], src)
		copy(k.Dst[:], dst)
		if v4 {
			// The decoder leaves the unused 12 bytes zero.
			clear(k.Src[4:])
			clear(k.Dst[4:])
		}
		id := CommunityID(k, typ, code, seed)
		if len(id) != CommunityIDLen || id[:2] != "1:" {
			t.Fatalf("bad ID %q", id)
		}
		switch proto {
		case ProtoICMP, ProtoICMPv6:
			table := icmpCounterpart[:]
			if proto == ProtoICMPv6 {
				table = icmpv6Counterpart[:]
			}
			if c := table[typ]; c >= 0 {
				if rev := CommunityID(k.Reverse(), uint8(c), code, seed); rev != id {
					t.Fatalf("ICMP type %d and its reply %d differ: %s %s", typ, c, id, rev)
				}
			} else if k.Src != k.Dst {
				if rev := CommunityID(k.Reverse(), typ, code, seed); rev == id {
					t.Fatalf("one-way ICMP type %d reordered", typ)
				}
			}
		default:
			if rev := CommunityID(k.Reverse(), typ, code, seed); rev != id {
				t.Fatalf("reverse differs: %s %s", id, rev)
			}
		}
	})
}
