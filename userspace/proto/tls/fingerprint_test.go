package tls

import (
	"crypto/md5"
	"encoding/hex"
	"testing"
)

// specClientHello is the example ClientHello of FoxIO's JA4 specification
// (technical_details/JA4.md), with GREASE values added to every list the
// specification says to ignore them in.
func specClientHello(t *testing.T, alpn ...string) *clientHello {
	t.Helper()
	ext := func(typ uint16) Extension { return rawExt(typ, 0) }
	body := clientHelloBody(helloSpec{
		version: 0x0303,
		ciphers: []uint16{0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
			0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		extensions: []Extension{
			rawExt(0x0a0a), ext(0x001b), sniExt("example.com"), keyShareExt(0x2a2a, 0x001d),
			alpnExt(alpn...), ext(0x4469), rawExt(0x0017), ext(0x002d),
			uint16ListExt(extSignatureAlgorithms, 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601),
			rawExt(0x0005), rawExt(0x0023), rawExt(0x0012), versionsExt(0x6a6a, 0x0304, 0x0303),
			ext(0xff01), pointFormatsExt(0), uint16ListExt(extSupportedGroups, 0x4a4a, 0x001d, 0x0017, 0x0018),
			rawExt(0x0015, 0, 0, 0), rawExt(0xfafa, 0),
		},
	})
	ch, err := parseClientHello(body)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestJA4SpecExample(t *testing.T) {
	ch := specClientHello(t, "h2", "http/1.1")
	// The specification's result for this ClientHello.
	const want = "t13d1516h2_8daaf6152771_e5627efa2ab1"
	if got := ja4(ch, false); got != want {
		t.Errorf("ja4 = %s, want %s", got, want)
	}
	if got := ja4(ch, true); got != "q"+want[1:] {
		t.Errorf("QUIC ja4 = %s, want q%s", got, want[1:])
	}
	// The specification's intermediate hashes.
	for in, want := range map[string]string{
		"002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9": "8daaf6152771",
		"0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01":      "6d807ffa2a79",
	} {
		if got := hash12([]byte(in)); got != want {
			t.Errorf("hash12(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestJA4ALPN(t *testing.T) {
	// The cases of the specification's "ALPN Extension Value" section.
	tests := []struct {
		protos []string
		want   string
	}{
		{[]string{"h2", "http/1.1"}, "h2"},
		{[]string{"http/1.1"}, "h1"},
		{nil, "00"},
		{[]string{""}, "00"},
		{[]string{"a"}, "aa"},
		{[]string{"\xab"}, "ab"},
		{[]string{"\xab\xcd"}, "ad"},
		{[]string{"\x30\xab"}, "3b"},
		{[]string{"\x30\x31\xab\xcd"}, "3d"},
		{[]string{"\x30\xab\xcd\x31"}, "01"},
	}
	for _, tt := range tests {
		ch := specClientHello(t, tt.protos...)
		if tt.protos == nil {
			ch.alpn = nil
		}
		if got := ja4ALPN(ch); got != tt.want {
			t.Errorf("ALPN %q: %s, want %s", tt.protos, got, tt.want)
		}
	}
}

func TestJA4Version(t *testing.T) {
	tests := []struct {
		name   string
		legacy uint16
		exts   []Extension
		want   string
	}{
		{"legacy only", 0x0302, nil, "11"},
		{"ssl3", 0x0300, nil, "s3"},
		{"supported_versions wins", 0x0303, []Extension{versionsExt(0x0a0a, 0x0304, 0x0303)}, "13"},
		{"unknown draft", 0x0303, []Extension{versionsExt(0x7f1c)}, "00"},
		{"only GREASE", 0x0303, []Extension{versionsExt(0x1a1a)}, "00"},
	}
	for _, tt := range tests {
		ch, err := parseClientHello(clientHelloBody(helloSpec{version: tt.legacy, ciphers: []uint16{0x002f}, extensions: tt.exts}))
		if err != nil {
			t.Fatal(err)
		}
		if got := ja4Version(ch); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestJA4Empty(t *testing.T) {
	// No ciphers and no extensions: both hashes are twelve zeros.
	ch, err := parseClientHello(clientHelloBody(helloSpec{version: 0x0301, noExts: true}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ja4(ch, false), "t10i000000_000000000000_000000000000"; got != want {
		t.Errorf("ja4 = %s, want %s", got, want)
	}
}

func TestJA3(t *testing.T) {
	ch, err := parseClientHello(clientHelloBody(helloSpec{
		version: 0x0303,
		ciphers: []uint16{0x0a0a, 0x1301, 0xc02f},
		extensions: []Extension{
			rawExt(0x1a1a), sniExt("a.test"), uint16ListExt(extSupportedGroups, 0x2a2a, 0x001d, 0x0017),
			pointFormatsExt(0, 1), alpnExt("h2"), rawExt(0x0015, 0),
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	// GREASE is left out of every list, as Wireshark does.
	const want = "771,4865-49199,0-10-11-16-21,29-23,0-1"
	if got := string(ja3String(ch)); got != want {
		t.Errorf("ja3 string %q, want %q", got, want)
	}
	sum := md5.Sum([]byte(want))
	p := New()
	p.Data(0, record(typeHandshake, 0x0301, message(hsClientHello, clientHelloBody(helloSpec{
		version: 0x0303,
		ciphers: []uint16{0x0a0a, 0x1301, 0xc02f},
		extensions: []Extension{
			rawExt(0x1a1a), sniExt("a.test"), uint16ListExt(extSupportedGroups, 0x2a2a, 0x001d, 0x0017),
			pointFormatsExt(0, 1), alpnExt("h2"), rawExt(0x0015, 0),
		},
	}))), 0)
	if got := report(t, p).JA3; got != hex.EncodeToString(sum[:]) {
		t.Errorf("ja3 %s, want md5 %x", got, sum)
	}

	sh, err := parseServerHello(serverHelloBody(helloSpec{version: 0x0303, ciphers: []uint16{0xc02f},
		extensions: []Extension{rawExt(0xff01, 0), rawExt(0x000b, 1, 0), rawExt(0x3a3a)}}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(ja3sString(sh)), "771,49199,65281-11"; got != want {
		t.Errorf("ja3s string %q, want %q", got, want)
	}
}

func TestIsGREASE(t *testing.T) {
	n := 0
	for v := range 1 << 16 {
		if isGREASE(uint16(v)) {
			n++
			if v&0xff != 0x0a+(v&0xf0) || v>>8 != v&0xff {
				t.Errorf("%#04x is not GREASE", v)
			}
		}
	}
	if n != 16 {
		t.Errorf("%d GREASE values, RFC 8701 has 16", n)
	}
}
