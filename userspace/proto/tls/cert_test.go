package tls

import (
	"crypto/x509"
	encasn1 "encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// certSpec describes a certificate to encode by hand, so that tests can
// make the malformed ones crypto/x509 rejects.
type certSpec struct {
	serial     []byte // INTEGER content
	issuer     []attrSpec
	subject    []attrSpec
	notBefore  timeSpec
	notAfter   timeSpec
	keyAlg     encasn1.ObjectIdentifier
	keyParams  encasn1.ObjectIdentifier // a named curve, or none
	key        []byte
	extensions []extSpec
	rawExts    []byte // replaces the extensions' content when set
	sigAlg     encasn1.ObjectIdentifier
	signature  []byte
}

type attrSpec struct {
	oid   encasn1.ObjectIdentifier
	tag   asn1.Tag
	value []byte
}

type timeSpec struct {
	tag  asn1.Tag
	text string
}

type extSpec struct {
	oid   encasn1.ObjectIdentifier
	value []byte
}

var (
	oidCN      = encasn1.ObjectIdentifier{2, 5, 4, 3}
	oidC       = encasn1.ObjectIdentifier{2, 5, 4, 6}
	oidEC      = encasn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidP256    = encasn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidK256    = encasn1.ObjectIdentifier{1, 3, 132, 0, 10}
	oidECDSA   = encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidSAN     = encasn1.ObjectIdentifier{2, 5, 29, 17}
	oidUnknown = encasn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}
)

func (c certSpec) der() []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // TBSCertificate
			b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1Int64(2) })
			b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(c.serial) })
			addAlg(b, c.sigAlg, nil)
			addName(b, c.issuer)
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(c.notBefore.tag, func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.notBefore.text)) })
				b.AddASN1(c.notAfter.tag, func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.notAfter.text)) })
			})
			addName(b, c.subject)
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addAlg(b, c.keyAlg, c.keyParams)
				b.AddASN1BitString(c.key)
			})
			if c.extensions != nil || c.rawExts != nil {
				b.AddASN1(asn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						if c.rawExts != nil {
							b.AddBytes(c.rawExts)
							return
						}
						for _, e := range c.extensions {
							b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1ObjectIdentifier(e.oid)
								b.AddASN1OctetString(e.value)
							})
						}
					})
				})
			}
		})
		addAlg(b, c.sigAlg, nil)
		b.AddASN1BitString(c.signature)
	})
	return b.BytesOrPanic()
}

func addAlg(b *cryptobyte.Builder, oid, params encasn1.ObjectIdentifier) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if params != nil {
			b.AddASN1ObjectIdentifier(params)
		}
	})
}

func addName(b *cryptobyte.Builder, attrs []attrSpec) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(a.oid)
					b.AddASN1(a.tag, func(b *cryptobyte.Builder) { b.AddBytes(a.value) })
				})
			})
		}
	})
}

// sanValue encodes GeneralNames: DNS, IP, email, URI entries.
func sanValue(dns []string, ips [][]byte, emails, uris []string) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, n := range dns {
			b.AddASN1(asn1.Tag(2).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(n)) })
		}
		for _, ip := range ips {
			b.AddASN1(asn1.Tag(7).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(ip) })
		}
		for _, e := range emails {
			b.AddASN1(asn1.Tag(1).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(e)) })
		}
		for _, u := range uris {
			b.AddASN1(asn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(u)) })
		}
	})
	return b.BytesOrPanic()
}

// p256Point is a valid P-256 public key (the generator), so crypto/x509
// accepts the well-formed certificates.
var p256Point, _ = hex.DecodeString("046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296" +
	"4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")

func goodCert() certSpec {
	return certSpec{
		serial:    []byte{0x00, 0x9a, 0xbc},
		issuer:    []attrSpec{{oidC, asn1.PrintableString, []byte("DE")}, {oidCN, asn1.UTF8String, []byte("Issuer CA")}},
		subject:   []attrSpec{{oidCN, asn1.UTF8String, []byte("leaf.test")}},
		notBefore: timeSpec{asn1.UTCTime, "240301120000Z"},
		notAfter:  timeSpec{asn1.GeneralizedTime, "20510301120000Z"},
		keyAlg:    oidEC, keyParams: oidP256, key: p256Point,
		extensions: []extSpec{{oidSAN, sanValue([]string{"leaf.test", "*.leaf.test"},
			[][]byte{{10, 0, 0, 1}, {0x20, 0x01, 0x0d, 0xb8, 15: 1}}, []string{"ops@leaf.test"}, []string{"https://leaf.test/"})}},
		sigAlg:    oidECDSA,
		signature: []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
	}
}

func TestCertificateFields(t *testing.T) {
	bmp := utf16.Encode([]rune("Ünï ✓"))
	bmpBytes := make([]byte, 0, 2*len(bmp))
	for _, u := range bmp {
		bmpBytes = append(bmpBytes, byte(u>>8), byte(u))
	}
	tests := []struct {
		name     string
		edit     func(c *certSpec)
		truncate int // cut the DER to this length if > 0
		x509Err  string
		check    func(t *testing.T, c Certificate)
	}{
		{name: "well formed", check: func(t *testing.T, c Certificate) {
			want := Certificate{
				SerialNumber: "9abc", SignatureAlgo: "ecdsa-with-SHA256", SignatureKeySize: 64,
				Signature: "3006020101020101",
				Issuer:    []Attribute{{"countryName", "DE"}, {"commonName", "Issuer CA"}},
				Subject:   []Attribute{{"commonName", "leaf.test"}},
				Extensions: []Attribute{{"X509v3 Subject Alternative Name",
					"DNS:leaf.test, DNS:*.leaf.test, IP Address:10.0.0.1, IP Address:2001:db8::1, email:ops@leaf.test, URI:https://leaf.test/"}},
				ValidityNotBefore: "Mar  1 12:00:00 2024 GMT", ValidityNotAfter: "Mar  1 12:00:00 2051 GMT",
				SubjectPublicKeyAlgo: "id-ecPublicKey", SubjectPublicKeySize: 256,
				SANDNS: []jsontext.WireString{"leaf.test", "*.leaf.test"}, SANIP: []string{"10.0.0.1", "2001:db8::1"},
				SANEmail: []jsontext.WireString{"ops@leaf.test"}, SANURI: []jsontext.WireString{"https://leaf.test/"},
			}
			want.Length = c.Length
			if fmt.Sprintf("%+v", c) != fmt.Sprintf("%+v", want) {
				t.Errorf("got  %+v\nwant %+v", c, want)
			}
		}},
		{name: "negative serial", edit: func(c *certSpec) { c.serial = []byte{0xff, 0x01} }, x509Err: "negative serial",
			check: func(t *testing.T, c Certificate) {
				if c.SerialNumber != "ff" || len(c.Subject) != 1 || c.SubjectPublicKeySize != 256 {
					t.Errorf("serial %q (want the magnitude of -255), subject %v", c.SerialNumber, c.Subject)
				}
			}},
		{name: "invalid UTF-8 in a UTF8String", x509Err: "x509",
			edit: func(c *certSpec) { c.subject[0].value = []byte("bad\xffname") },
			check: func(t *testing.T, c Certificate) {
				if c.Subject[0].Value != "bad\xffname" || len(c.Extensions) != 1 {
					t.Errorf("subject %q extensions %d", c.Subject[0].Value, len(c.Extensions))
				}
			}},
		{name: "BMPString", edit: func(c *certSpec) { c.subject[0] = attrSpec{oidCN, asn1.Tag(30), bmpBytes} },
			check: func(t *testing.T, c Certificate) {
				if c.Subject[0].Value != "Ünï ✓" {
					t.Errorf("subject %q", c.Subject[0].Value)
				}
			}},
		{name: "unknown attribute and extension", edit: func(c *certSpec) {
			c.subject = append(c.subject, attrSpec{oidUnknown, asn1.UTF8String, []byte("x")})
			c.extensions = append(c.extensions, extSpec{oidUnknown, []byte{0x05, 0x00}})
		}, check: func(t *testing.T, c Certificate) {
			if c.Subject[1].Name != "1.3.6.1.4.1.99999.1" || c.Extensions[1] != (Attribute{"1.3.6.1.4.1.99999.1", "0500"}) {
				t.Errorf("subject %v extensions %v", c.Subject, c.Extensions)
			}
		}},
		{name: "malformed extensions", x509Err: "x509", edit: func(c *certSpec) { c.rawExts = []byte{0x30, 0x05, 0x06, 0x01} },
			check: func(t *testing.T, c Certificate) {
				if c.SerialNumber != "9abc" || c.ValidityNotAfter == "" || c.SubjectPublicKeyAlgo == "" || c.Signature == "" {
					t.Errorf("fields before the damage are lost: %+v", c)
				}
			}},
		{name: "unsupported curve", x509Err: "x509", edit: func(c *certSpec) { c.keyParams = oidK256 },
			check: func(t *testing.T, c Certificate) {
				if c.SubjectPublicKeyAlgo != "id-ecPublicKey" || c.SubjectPublicKeySize != 256 {
					t.Errorf("key %s %d, want secp256k1's 256 bits", c.SubjectPublicKeyAlgo, c.SubjectPublicKeySize)
				}
			}},
		{name: "EC point not on the curve", x509Err: "not on curve",
			// crypto/x509 returns a typed nil key with this error.
			edit: func(c *certSpec) { c.key = append([]byte{4}, make([]byte, 64)...) },
			check: func(t *testing.T, c Certificate) {
				if c.SubjectPublicKeySize != 256 {
					t.Errorf("key size %d, want the curve's 256", c.SubjectPublicKeySize)
				}
			}},
		{name: "bad time", x509Err: "x509", edit: func(c *certSpec) { c.notBefore.text = "yesterday" },
			check: func(t *testing.T, c Certificate) {
				if c.ValidityNotBefore != "yesterday" || c.ValidityNotAfter != "Mar  1 12:00:00 2051 GMT" {
					t.Errorf("validity %q %q", c.ValidityNotBefore, c.ValidityNotAfter)
				}
			}},
		{name: "cut in half", truncate: 60, x509Err: "x509", check: func(t *testing.T, c Certificate) {
			if c.Length != 60 || c.SerialNumber != "" {
				t.Errorf("%+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := goodCert()
			if tt.edit != nil {
				tt.edit(&spec)
			}
			der := spec.der()
			if tt.truncate > 0 {
				der = der[:tt.truncate]
			}
			c := parseCertificate(der)
			if c.Length != len(der) {
				t.Errorf("length %d, want %d", c.Length, len(der))
			}
			if _, err := x509.ParseCertificate(der); (err != nil) != (tt.x509Err != "") {
				t.Fatalf("crypto/x509 error %v: the case does not test what it says", err)
			}
			if tt.x509Err == "" && c.ParseError != "" || !strings.Contains(c.ParseError, tt.x509Err) {
				t.Errorf("parse_error %q, want it to contain %q", c.ParseError, tt.x509Err)
			}
			tt.check(t, c)
		})
	}
}

// TestCertificateExtensionText checks the rendering of the common
// extensions against crypto/x509's reading of the same certificates.
func TestCertificateExtensionText(t *testing.T) {
	k := getPKI(t)
	for _, w := range []*x509.Certificate{k.root, k.leaf, k.clientLeaf} {
		c := parseCertificate(w.Raw)
		got := map[string]string{}
		for _, e := range c.Extensions {
			got[e.Name] = string(e.Value)
		}
		want := map[string]string{
			"X509v3 Subject Key Identifier": colonHexUpper(w.SubjectKeyId),
		}
		if w.IsCA {
			want["X509v3 Basic Constraints"] = "CA:TRUE"
			want["X509v3 Key Usage"] = "Certificate Sign, CRL Sign"
		} else {
			want["X509v3 Extended Key Usage"] = map[x509.ExtKeyUsage]string{
				x509.ExtKeyUsageServerAuth: "TLS Web Server Authentication",
				x509.ExtKeyUsageClientAuth: "TLS Web Client Authentication"}[w.ExtKeyUsage[0]]
			want["X509v3 Authority Key Identifier"] = "keyid:" + colonHexUpper(w.AuthorityKeyId)
		}
		if w == k.leaf {
			want["X509v3 Key Usage"] = "Digital Signature, Key Encipherment"
			want["X509v3 Subject Alternative Name"] = "DNS:server.test, DNS:*.server.test, IP Address:127.0.0.1, IP Address:::1"
		}
		for name, v := range want {
			if got[name] != v {
				t.Errorf("%s: %s = %q, want %q", w.Subject.CommonName, name, got[name], v)
			}
		}
	}
}

func colonHexUpper(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}

func TestCertificateList(t *testing.T) {
	k := getPKI(t)
	list := func(ders ...[]byte) []byte {
		b := cryptobyte.NewBuilder(nil)
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, d := range ders {
				b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(d) })
			}
		})
		return b.BytesOrPanic()
	}
	nine := make([][]byte, 9)
	for i := range nine {
		nine[i] = k.leaf.Raw
	}
	certs, err := parseCertificateList(list(nine...))
	if err != nil || len(certs) != maxCertsPerMessage {
		t.Errorf("nine certificates: kept %d (want %d), %v", len(certs), maxCertsPerMessage, err)
	}
	whole := list(k.leaf.Raw, k.inter.Raw)
	certs, err = parseCertificateList(whole[:len(whole)-10])
	if err == nil || len(certs) != 0 {
		t.Errorf("truncated list: %d certificates, error %v", len(certs), err)
	}
	certs, err = parseCertificateList(list(k.leaf.Raw, []byte{1, 2, 3}))
	if err != nil || len(certs) != 2 || certs[1].Length != 3 || certs[1].ParseError == "" || certs[0].ParseError != "" {
		t.Errorf("a garbage certificate must not spoil the list: %v %+v", err, certs)
	}
}

func TestOIDEncoding(t *testing.T) {
	all := []string{"2.999.3", "1.2.840.113549.1.1.11", "0.9.2342.19200300.100.1.25", "2.5.29.17", "1.3.6.1.4.1.311.60.2.1.3"}
	for oid := range oidNames {
		all = append(all, oid)
	}
	for oid := range curveBits {
		all = append(all, oid)
	}
	for _, oid := range all {
		raw := []byte(derOID(oid))
		var parsed encasn1.ObjectIdentifier
		if _, err := encasn1.Unmarshal(append([]byte{6, byte(len(raw))}, raw...), &parsed); err != nil || parsed.String() != oid {
			t.Errorf("derOID(%s) = %x: encoding/asn1 reads %v (%v)", oid, raw, parsed, err)
		}
		if got := dottedOID(raw); got != oid {
			t.Errorf("dottedOID(%x) = %s, want %s", raw, got, oid)
		}
	}
	for _, bad := range [][]byte{{0x2a, 0x86}, {0x80, 0x01}, {0x2a, 0x80, 0x01}, {}} {
		if got := dottedOID(bad); !strings.HasPrefix(got, "#") {
			t.Errorf("dottedOID(%x) = %s, want #hex", bad, got)
		}
	}
}
