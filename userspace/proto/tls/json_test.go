package tls

import (
	"testing"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// TestAppendJSON: with every field set (and strings that need escaping),
// and with none, Object.AppendJSON writes what encoding/json writes.
func TestAppendJSON(t *testing.T) {
	cert := Certificate{
		Length: 900, SerialNumber: "01ff", Signature: "abcd", SignatureAlgo: "sha256WithRSAEncryption",
		SignatureKeySize:  2048,
		Issuer:            []Attribute{{Name: "commonName", Value: "CA \"x\"\\"}},
		Subject:           []Attribute{{Name: "organizationName", Value: "caf\xc3\xa9 \xff"}},
		Extensions:        []Attribute{{Name: "basicConstraints", Value: "30030101ff"}},
		ValidityNotBefore: "2026-01-01 00:00:00", ValidityNotAfter: "2027\x00",
		SubjectPublicKeyAlgo: "rsaEncryption", SubjectPublicKeySize: 2048,
		SANDNS: []jsontext.WireString{"a.example", "b\\c"}, SANIP: []string{"192.0.2.1", "2001:db8::1"},
		SANEmail: []jsontext.WireString{"x@y"}, SANURI: []jsontext.WireString{"https://z/\u2028"},
		ParseError: "x509: bad \xfe <tag> \"q\"\n",
	}
	full := &Object{
		CVersion: Version1_3, SVersion: Version1_2, CKeyLength: 256, CKeyExchange: jsontext.HexBytes{0x0a, 0x0b},
		CRandom: jsontext.HexBytes{0x00, 0xff}, SRandom: jsontext.HexBytes{0xff, 0x00}, CSID: jsontext.HexBytes{0x11}, SSID: jsontext.HexBytes{0x22},
		SNI: []jsontext.WireString{"example.com", "\xff\x00"}, SCS: "1301", CS: []string{"1301", "0a0a"},
		CExtensions:   []Extension{{Type: 0, Data: []byte{1, 2}}, {Type: 0x0a0a}, {Type: 21, Data: make([]byte, 2000)}},
		SExtensions:   []Extension{{Type: 43, Data: []byte{3, 4}}},
		CCert:         []Certificate{cert},
		SCert:         []Certificate{{Length: 3}, cert},
		SRLT:          []Record{{B: 512, Dir: ">", IPT: 0, TP: 22, HSTypes: []int{1}, HSLens: []int{508}}, {B: 90, Dir: "<", IPT: 12, TP: 21}},
		CHelloVersion: "0303", SHelloVersion: "0303", CSupportedVersions: []string{"0304"}, SSupportedVersion: "0304",
		CALPN: []jsontext.WireString{"h2", "http/1.1"}, SALPN: "h2",
		CSupportedGroups: []string{"001d"}, CKeyShareGroups: []string{"001d"}, CSignatureAlgorithms: []string{"0403"},
		SKeyExchangeGroup: "001d", HelloRetryRequest: true,
		Alerts: []Alert{{Dir: "<", Level: 2, Description: 40}},
		JA3:    "d41d8cd98f00b204e9800998ecf8427e", JA3S: "e", JA4: "t13d",
		ParseErrors: []string{"record 3: bad length \x01", "caf\xc3"},
	}
	for _, o := range []*Object{full, {}, {CS: []string{}, SRLT: []Record{}}} {
		if err := jsontext.AppenderMatches(o); err != nil {
			t.Error(err)
		}
	}
}
