package tls

import (
	"crypto/dsa" //nolint:staticcheck // DSA keys still appear in captured certificates.
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// Bounds on what one certificate contributes to the record.
const (
	maxNameAttributes  = 16  // issuer/subject attributes (Joy: 12)
	maxCertExtensions  = 32  // extensions listed (Joy: 12)
	maxSANs            = 256 // entries per san_* list
	maxSignatureHex    = 512 // signature bytes written in hex (Joy's bound)
	maxExtensionValue  = 1024
	maxCertsPerMessage = 8 // certificates kept per Certificate message (Joy: 4)
)

// Certificate describes one X.509 certificate of a chain. The keys up to
// SubjectPublicKeySize are Joy's: names are OpenSSL's long names (an
// unknown object is written as its dotted OID), serial and signature are
// hex, validity is in OpenSSL's ASN1_TIME_print form ("Aug  7 15:04:17
// 2017 GMT"), and extension values are text for the common extensions
// (OpenSSL-like) and hex for the others.
//
// The fields come from the DER itself, so a certificate that crypto/x509
// rejects still yields everything up to the point where its encoding
// breaks; ParseError then says why.
type Certificate struct {
	Length               int                 `json:"length"`
	SerialNumber         string              `json:"serial_number,omitempty"`
	Signature            string              `json:"signature,omitempty"`
	SignatureAlgo        string              `json:"signature_algo,omitempty"`
	SignatureKeySize     int                 `json:"signature_key_size,omitempty"`
	Issuer               []Attribute         `json:"issuer,omitempty"`
	Subject              []Attribute         `json:"subject,omitempty"`
	Extensions           []Attribute         `json:"extensions,omitempty"`
	ValidityNotBefore    jsontext.WireString `json:"validity_not_before,omitempty"`
	ValidityNotAfter     jsontext.WireString `json:"validity_not_after,omitempty"`
	SubjectPublicKeyAlgo string              `json:"subject_public_key_algo,omitempty"`
	SubjectPublicKeySize int                 `json:"subject_public_key_size,omitempty"`

	// Beyond Joy: the subject alternative names by kind, and why the
	// certificate could not be parsed (crypto/x509's error first).
	SANDNS     []jsontext.WireString `json:"san_dns,omitempty"`
	SANIP      []string              `json:"san_ip,omitempty"`
	SANEmail   []jsontext.WireString `json:"san_email,omitempty"`
	SANURI     []jsontext.WireString `json:"san_uri,omitempty"`
	ParseError string                `json:"parse_error,omitempty"`
}

// publicKeyInfo is a SubjectPublicKeyInfo as read from the DER.
type publicKeyInfo struct {
	spki   []byte // the whole element
	alg    []byte // algorithm OID content octets
	params []byte // algorithm parameters
	key    []byte // the subjectPublicKey BIT STRING element
}

// Attribute is one name attribute or extension. It marshals as Joy
// wrote them: {"<name>": "<value>"}.
type Attribute struct {
	Name  string
	Value jsontext.WireString
}

// parseCertificate reads one DER certificate: crypto/x509 judges it and
// parses its key; the fields are read from the DER itself (see
// Certificate).
func parseCertificate(der []byte) Certificate {
	c := Certificate{Length: len(der)}
	var key publicKeyInfo
	rawErr := c.readDER(der, &key)
	var parsed any
	if w, err := x509.ParseCertificate(der); err != nil {
		c.ParseError = err.Error()
	} else {
		parsed = w.PublicKey
		if rawErr != nil {
			c.ParseError = rawErr.Error()
		}
	}
	if key.spki != nil {
		c.SubjectPublicKeySize = key.size(parsed)
	}
	return c
}

// readDER fills c from the certificate's encoding, as far as it goes.
func (c *Certificate) readDER(der []byte, key *publicKeyInfo) error {
	input := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !input.ReadASN1(&cert, asn1.SEQUENCE) {
		return errors.New("certificate: not a DER SEQUENCE")
	}
	if !cert.ReadASN1(&tbs, asn1.SEQUENCE) {
		return errors.New("certificate: malformed tbsCertificate")
	}
	tbsErr := c.readTBS(tbs, key)

	// The signature follows the TBS, so it is readable even when the
	// TBS contents are not.
	var alg cryptobyte.String
	var oid []byte
	if !cert.ReadASN1(&alg, asn1.SEQUENCE) || !readOID(&alg, &oid) {
		return errors.Join(tbsErr, errors.New("certificate: malformed signatureAlgorithm"))
	}
	c.SignatureAlgo = oidText(oid)
	var sig []byte
	if !cert.ReadASN1BitStringAsBytes(&sig) {
		return errors.Join(tbsErr, errors.New("certificate: malformed signatureValue"))
	}
	c.SignatureKeySize = 8 * len(sig)
	if len(sig) <= maxSignatureHex {
		c.Signature = hex.EncodeToString(sig)
	}
	return tbsErr
}

func (c *Certificate) readTBS(tbs cryptobyte.String, key *publicKeyInfo) error {
	if !tbs.SkipOptionalASN1(asn1.Tag(0).Constructed().ContextSpecific()) {
		return errors.New("certificate: malformed version")
	}
	var serial cryptobyte.String
	if !tbs.ReadASN1(&serial, asn1.INTEGER) || len(serial) == 0 {
		return errors.New("certificate: malformed serialNumber")
	}
	c.SerialNumber = serialHex(serial)
	if !tbs.SkipASN1(asn1.SEQUENCE) {
		return errors.New("certificate: malformed tbsCertificate signature algorithm")
	}
	var err error
	if c.Issuer, err = readName(&tbs); err != nil {
		return fmt.Errorf("certificate: issuer: %w", err)
	}
	var validity cryptobyte.String
	if !tbs.ReadASN1(&validity, asn1.SEQUENCE) {
		return errors.New("certificate: malformed validity")
	}
	if c.ValidityNotBefore, err = readTime(&validity); err != nil {
		return fmt.Errorf("certificate: notBefore: %w", err)
	}
	if c.ValidityNotAfter, err = readTime(&validity); err != nil {
		return fmt.Errorf("certificate: notAfter: %w", err)
	}
	if c.Subject, err = readName(&tbs); err != nil {
		return fmt.Errorf("certificate: subject: %w", err)
	}
	var spki cryptobyte.String
	if !tbs.ReadASN1Element(&spki, asn1.SEQUENCE) {
		return errors.New("certificate: malformed subjectPublicKeyInfo")
	}
	if err := c.readPublicKey(spki, key); err != nil {
		return err
	}
	if !tbs.SkipOptionalASN1(asn1.Tag(1).ContextSpecific()) ||
		!tbs.SkipOptionalASN1(asn1.Tag(2).ContextSpecific()) {
		return errors.New("certificate: malformed unique identifier")
	}
	var wrapper, exts cryptobyte.String
	var present bool
	if !tbs.ReadOptionalASN1(&wrapper, &present, asn1.Tag(3).Constructed().ContextSpecific()) {
		return errors.New("certificate: malformed extensions")
	}
	if !present {
		return nil
	}
	if !wrapper.ReadASN1(&exts, asn1.SEQUENCE) {
		return errors.New("certificate: malformed extensions")
	}
	return c.readExtensions(exts)
}

// serialHex writes an INTEGER's magnitude as OpenSSL holds it (and Joy
// printed it): big-endian without the DER sign byte.
func serialHex(content []byte) string {
	if content[0]&0x80 != 0 {
		neg := new(big.Int).SetBytes(content)
		neg.Sub(neg, new(big.Int).Lsh(big.NewInt(1), uint(8*len(content))))
		return hex.EncodeToString(neg.Neg(neg).Bytes())
	}
	for len(content) > 1 && content[0] == 0 {
		content = content[1:]
	}
	return hex.EncodeToString(content)
}

// readName reads a Name (RDNSequence) into attributes in wire order.
func readName(s *cryptobyte.String) ([]Attribute, error) {
	var rdns cryptobyte.String
	if !s.ReadASN1(&rdns, asn1.SEQUENCE) {
		return nil, errors.New("malformed Name")
	}
	return readRDNs(rdns)
}

func readRDNs(rdns cryptobyte.String) ([]Attribute, error) {
	var attrs []Attribute
	for !rdns.Empty() {
		var set cryptobyte.String
		if !rdns.ReadASN1(&set, asn1.SET) {
			return attrs, errors.New("malformed RelativeDistinguishedName")
		}
		for !set.Empty() {
			var atv, value cryptobyte.String
			var oid []byte
			var tag asn1.Tag
			if !set.ReadASN1(&atv, asn1.SEQUENCE) || !readOID(&atv, &oid) || !atv.ReadAnyASN1(&value, &tag) {
				return attrs, errors.New("malformed AttributeTypeAndValue")
			}
			if len(attrs) < maxNameAttributes {
				attrs = append(attrs, Attribute{oidText(oid), jsontext.WireString(decodeString(value, tag))})
			}
		}
	}
	return attrs, nil
}

// decodeString turns a directory string into text: BMPString and
// UniversalString are decoded to UTF-8, every other type is kept as its
// bytes (invalid UTF-8 then shows as \xNN in the output).
func decodeString(v []byte, tag asn1.Tag) string {
	switch tag {
	case 30: // BMPString, UTF-16BE
		if len(v)%2 == 0 {
			u := make([]uint16, len(v)/2)
			for i := range u {
				u[i] = uint16(v[2*i])<<8 | uint16(v[2*i+1])
			}
			return string(utf16.Decode(u))
		}
	case 28: // UniversalString, UTF-32BE
		if len(v)%4 == 0 {
			b := make([]byte, 0, len(v)/4)
			for i := 0; i < len(v); i += 4 {
				r := rune(v[i])<<24 | rune(v[i+1])<<16 | rune(v[i+2])<<8 | rune(v[i+3])
				if !utf8.ValidRune(r) {
					return string(v)
				}
				b = utf8.AppendRune(b, r)
			}
			return string(b)
		}
	}
	return string(v)
}

// readTime reads a UTCTime or GeneralizedTime and formats it as OpenSSL's
// ASN1_TIME_print. A time that does not parse is returned as its text.
func readTime(s *cryptobyte.String) (jsontext.WireString, error) {
	var t time.Time
	switch {
	case s.PeekASN1Tag(asn1.UTCTime):
		probe := *s
		if probe.ReadASN1UTCTime(&t) {
			*s = probe
			return jsontext.WireString(t.UTC().Format("Jan _2 15:04:05 2006 GMT")), nil
		}
	case s.PeekASN1Tag(asn1.GeneralizedTime):
		probe := *s
		if probe.ReadASN1GeneralizedTime(&t) {
			*s = probe
			return jsontext.WireString(t.UTC().Format("Jan _2 15:04:05 2006 GMT")), nil
		}
	}
	var raw cryptobyte.String
	var tag asn1.Tag
	if !s.ReadAnyASN1(&raw, &tag) {
		return "", errors.New("missing time")
	}
	return jsontext.WireString(raw), nil
}

// readPublicKey reads a SubjectPublicKeyInfo element into key and names
// its algorithm.
func (c *Certificate) readPublicKey(spki cryptobyte.String, key *publicKeyInfo) error {
	in := spki
	var info, alg cryptobyte.String
	var oid []byte
	if !in.ReadASN1(&info, asn1.SEQUENCE) || !info.ReadASN1(&alg, asn1.SEQUENCE) || !readOID(&alg, &oid) {
		return errors.New("certificate: malformed subjectPublicKeyInfo algorithm")
	}
	c.SubjectPublicKeyAlgo = oidText(oid)
	*key = publicKeyInfo{spki: spki, alg: oid, params: alg, key: info}
	return nil
}

// size is the key size as OpenSSL's EVP_PKEY_bits reports it, or 0.
// parsed is crypto/x509's parse of the key (from the certificate), nil if
// it rejected the certificate; then the key alone is tried, and the
// fallbacks read the RSA modulus or the curve OID directly.
func (pk *publicKeyInfo) size(parsed any) int {
	if parsed == nil {
		// On error ParsePKIXPublicKey may return a typed nil key.
		if key, err := x509.ParsePKIXPublicKey(pk.spki); err == nil {
			parsed = key
		}
	}
	switch k := parsed.(type) {
	case *rsa.PublicKey:
		if k != nil && k.N != nil {
			return k.N.BitLen()
		}
	case *ecdsa.PublicKey:
		if k != nil && k.Curve != nil {
			return k.Curve.Params().BitSize
		}
	case ed25519.PublicKey:
		return 253
	case *ecdh.PublicKey:
		if k != nil && k.Curve() == ecdh.X25519() {
			return 253
		}
	case *dsa.PublicKey:
		if k != nil && k.P != nil {
			return k.P.BitLen()
		}
	}
	switch info, params := cryptobyte.String(pk.key), cryptobyte.String(pk.params); string(pk.alg) {
	case oidRSAEncryption:
		var bits, key cryptobyte.String
		var n []byte
		if info.ReadASN1(&bits, asn1.BIT_STRING) && len(bits) > 0 && bits[0] == 0 {
			bits = bits[1:]
			if bits.ReadASN1(&key, asn1.SEQUENCE) && key.ReadASN1Bytes(&n, asn1.INTEGER) {
				return new(big.Int).SetBytes(n).BitLen()
			}
		}
	case oidECPublicKey: // the named curve
		var curve []byte
		if readOID(&params, &curve) {
			return derCurveBits[string(curve)]
		}
	default:
		return derCurveBits[string(pk.alg)]
	}
	return 0
}

// readExtensions lists the extensions (up to maxCertExtensions) and
// collects the subject alternative names.
func (c *Certificate) readExtensions(exts cryptobyte.String) error {
	for !exts.Empty() {
		var ext, value cryptobyte.String
		var oid []byte
		if !exts.ReadASN1(&ext, asn1.SEQUENCE) || !readOID(&ext, &oid) {
			return errors.New("certificate: malformed extension")
		}
		if ext.PeekASN1Tag(asn1.BOOLEAN) && !ext.SkipASN1(asn1.BOOLEAN) {
			return errors.New("certificate: malformed extension criticality")
		}
		if !ext.ReadASN1(&value, asn1.OCTET_STRING) {
			return fmt.Errorf("certificate: malformed value of extension %s", oidText(oid))
		}
		if string(oid) == oidSubjectAltName {
			c.collectSANs(value)
		}
		if len(c.Extensions) < maxCertExtensions {
			c.Extensions = append(c.Extensions, Attribute{oidText(oid), jsontext.WireString(renderExtension(oid, value))})
		}
	}
	return nil
}

// collectSANs fills the san_* lists from a SubjectAltName value.
func (c *Certificate) collectSANs(value cryptobyte.String) {
	forEachGeneralName(value, func(tag asn1.Tag, v cryptobyte.String) {
		switch tag {
		case asn1.Tag(1).ContextSpecific():
			if len(c.SANEmail) < maxSANs {
				c.SANEmail = append(c.SANEmail, jsontext.WireString(v))
			}
		case asn1.Tag(2).ContextSpecific():
			if len(c.SANDNS) < maxSANs {
				c.SANDNS = append(c.SANDNS, jsontext.WireString(v))
			}
		case asn1.Tag(6).ContextSpecific():
			if len(c.SANURI) < maxSANs {
				c.SANURI = append(c.SANURI, jsontext.WireString(v))
			}
		case asn1.Tag(7).ContextSpecific():
			if len(c.SANIP) < maxSANs {
				c.SANIP = append(c.SANIP, ipString(v))
			}
		}
	})
}

// forEachGeneralName calls fn for each GeneralName of a GeneralNames
// value, stopping at the first malformed one; it reports whether the
// whole value was well formed.
func forEachGeneralName(value cryptobyte.String, fn func(asn1.Tag, cryptobyte.String)) bool {
	var names cryptobyte.String
	if !value.ReadASN1(&names, asn1.SEQUENCE) {
		return false
	}
	for !names.Empty() {
		var v cryptobyte.String
		var tag asn1.Tag
		if !names.ReadAnyASN1(&v, &tag) {
			return false
		}
		fn(tag, v)
	}
	return true
}

func ipString(v []byte) string {
	if a, ok := netip.AddrFromSlice(v); ok {
		return a.String()
	}
	return hex.EncodeToString(v)
}

// keyUsageNames are OpenSSL's names of the KeyUsage bits.
var keyUsageNames = []string{
	"Digital Signature", "Non Repudiation", "Key Encipherment", "Data Encipherment",
	"Key Agreement", "Certificate Sign", "CRL Sign", "Encipher Only", "Decipher Only",
}

// renderExtension writes an extension value as text for the extensions
// analysts read most (in OpenSSL's wording), and as hex otherwise or when
// the value does not parse.
func renderExtension(oid []byte, value cryptobyte.String) string {
	if len(value) > maxExtensionValue {
		return ""
	}
	if s, ok := extensionText(oid, value); ok {
		return s
	}
	return hex.EncodeToString(value)
}

func extensionText(oid []byte, v cryptobyte.String) (string, bool) {
	switch string(oid) {
	case oidBasicConstraints:
		var seq cryptobyte.String
		if !v.ReadASN1(&seq, asn1.SEQUENCE) {
			return "", false
		}
		ca := false
		if seq.PeekASN1Tag(asn1.BOOLEAN) && !seq.ReadASN1Boolean(&ca) {
			return "", false
		}
		s := "CA:FALSE"
		if ca {
			s = "CA:TRUE"
		}
		if !seq.Empty() {
			var n int64
			if !seq.ReadASN1Int64WithTag(&n, asn1.INTEGER) {
				return "", false
			}
			s += ", pathlen:" + strconv.FormatInt(n, 10)
		}
		return s, true
	case oidKeyUsage:
		var bits encasn1.BitString
		if !v.ReadASN1BitString(&bits) {
			return "", false
		}
		var names []string
		for i, name := range keyUsageNames {
			if bits.At(i) == 1 {
				names = append(names, name)
			}
		}
		return strings.Join(names, ", "), true
	case oidExtKeyUsage:
		var seq cryptobyte.String
		if !v.ReadASN1(&seq, asn1.SEQUENCE) {
			return "", false
		}
		var names []string
		for !seq.Empty() {
			var id []byte
			if !readOID(&seq, &id) {
				return "", false
			}
			names = append(names, oidText(id))
		}
		return strings.Join(names, ", "), true
	case oidSubjectKeyID:
		var id cryptobyte.String
		if !v.ReadASN1(&id, asn1.OCTET_STRING) {
			return "", false
		}
		return colonHex(id), true
	case oidAuthorityKeyID:
		var seq, id cryptobyte.String
		var present bool
		if !v.ReadASN1(&seq, asn1.SEQUENCE) ||
			!seq.ReadOptionalASN1(&id, &present, asn1.Tag(0).ContextSpecific()) {
			return "", false
		}
		if !present {
			return "", true
		}
		return "keyid:" + colonHex(id), true
	case oidSubjectAltName, oidIssuerAltName:
		var parts []string
		ok := forEachGeneralName(v, func(tag asn1.Tag, n cryptobyte.String) {
			parts = append(parts, generalNameText(tag, n))
		})
		return strings.Join(parts, ", "), ok
	}
	return "", false
}

// generalNameText is OpenSSL's GENERAL_NAME_print form.
func generalNameText(tag asn1.Tag, v cryptobyte.String) string {
	switch tag {
	case asn1.Tag(1).ContextSpecific():
		return "email:" + string(v)
	case asn1.Tag(2).ContextSpecific():
		return "DNS:" + string(v)
	case asn1.Tag(6).ContextSpecific():
		return "URI:" + string(v)
	case asn1.Tag(7).ContextSpecific():
		return "IP Address:" + ipString(v)
	case asn1.Tag(4).ContextSpecific().Constructed():
		var rdns cryptobyte.String
		if v.ReadASN1(&rdns, asn1.SEQUENCE) {
			if attrs, err := readRDNs(rdns); err == nil {
				parts := make([]string, len(attrs))
				for i, a := range attrs {
					parts[i] = a.Name + "=" + string(a.Value)
				}
				return "DirName:" + strings.Join(parts, ",")
			}
		}
		return "DirName:<malformed>"
	case asn1.Tag(8).ContextSpecific():
		return "Registered ID:" + oidText(v)
	case asn1.Tag(0).ContextSpecific().Constructed():
		return "othername:<unsupported>"
	}
	return "<unsupported>"
}

func colonHex(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, 3*len(b))
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return string(out)
}

// parseCertificateList reads a TLS ≤ 1.2 Certificate message body: a
// 24-bit length, then certificates each with a 24-bit length.
func parseCertificateList(body []byte) ([]Certificate, error) {
	s := cryptobyte.String(body)
	var list cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&list) {
		return nil, errors.New("certificate: truncated certificate_list")
	}
	var certs []Certificate
	for !list.Empty() {
		var der cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&der) {
			return certs, fmt.Errorf("certificate: truncated certificate %d", len(certs)+1)
		}
		if len(certs) == maxCertsPerMessage {
			continue // count only; the bytes are not kept
		}
		certs = append(certs, parseCertificate(der))
	}
	if !s.Empty() {
		return certs, fmt.Errorf("certificate: %w after certificate_list", errTrailing)
	}
	return certs, nil
}
