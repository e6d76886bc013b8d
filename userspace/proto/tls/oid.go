package tls

import (
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// OpenSSL's long names (OBJ_nid2ln) for the object identifiers that
// certificates commonly carry. Joy wrote these names; an OID missing here
// is written in dotted form, as Joy did for objects OpenSSL did not know.
var oidNames = map[string]string{
	// Name attributes.
	"2.5.4.3":                    "commonName",
	"2.5.4.4":                    "surname",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "countryName",
	"2.5.4.7":                    "localityName",
	"2.5.4.8":                    "stateOrProvinceName",
	"2.5.4.9":                    "streetAddress",
	"2.5.4.10":                   "organizationName",
	"2.5.4.11":                   "organizationalUnitName",
	"2.5.4.12":                   "title",
	"2.5.4.13":                   "description",
	"2.5.4.15":                   "businessCategory",
	"2.5.4.17":                   "postalCode",
	"2.5.4.42":                   "givenName",
	"2.5.4.43":                   "initials",
	"2.5.4.44":                   "generationQualifier",
	"2.5.4.46":                   "dnQualifier",
	"2.5.4.65":                   "pseudonym",
	"2.5.4.97":                   "organizationIdentifier",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"1.2.840.113549.1.9.2":       "unstructuredName",
	"0.9.2342.19200300.100.1.1":  "userId",
	"0.9.2342.19200300.100.1.25": "domainComponent",
	"1.3.6.1.4.1.311.60.2.1.1":   "jurisdictionLocalityName",
	"1.3.6.1.4.1.311.60.2.1.2":   "jurisdictionStateOrProvinceName",
	"1.3.6.1.4.1.311.60.2.1.3":   "jurisdictionCountryName",

	// Signature and public key algorithms.
	"1.2.840.113549.1.1.1":    "rsaEncryption",
	"1.2.840.113549.1.1.2":    "md2WithRSAEncryption",
	"1.2.840.113549.1.1.4":    "md5WithRSAEncryption",
	"1.2.840.113549.1.1.5":    "sha1WithRSAEncryption",
	"1.2.840.113549.1.1.10":   "rsassaPss",
	"1.2.840.113549.1.1.11":   "sha256WithRSAEncryption",
	"1.2.840.113549.1.1.12":   "sha384WithRSAEncryption",
	"1.2.840.113549.1.1.13":   "sha512WithRSAEncryption",
	"1.2.840.113549.1.1.14":   "sha224WithRSAEncryption",
	"1.2.840.10045.2.1":       "id-ecPublicKey",
	"1.2.840.10045.4.1":       "ecdsa-with-SHA1",
	"1.2.840.10045.4.3.1":     "ecdsa-with-SHA224",
	"1.2.840.10045.4.3.2":     "ecdsa-with-SHA256",
	"1.2.840.10045.4.3.3":     "ecdsa-with-SHA384",
	"1.2.840.10045.4.3.4":     "ecdsa-with-SHA512",
	"1.2.840.10040.4.1":       "dsaEncryption",
	"1.2.840.10040.4.3":       "dsaWithSHA1",
	"2.16.840.1.101.3.4.3.1":  "dsa_with_SHA224",
	"2.16.840.1.101.3.4.3.2":  "dsa_with_SHA256",
	"1.2.840.113549.1.3.1":    "dhKeyAgreement",
	"1.3.101.110":             "X25519",
	"1.3.101.111":             "X448",
	"1.3.101.112":             "ED25519",
	"1.3.101.113":             "ED448",
	"2.16.840.1.101.3.4.3.17": "ML-DSA-44",
	"2.16.840.1.101.3.4.3.18": "ML-DSA-65",
	"2.16.840.1.101.3.4.3.19": "ML-DSA-87",

	// Certificate extensions.
	"2.5.29.14":               "X509v3 Subject Key Identifier",
	"2.5.29.15":               "X509v3 Key Usage",
	"2.5.29.16":               "X509v3 Private Key Usage Period",
	"2.5.29.17":               "X509v3 Subject Alternative Name",
	"2.5.29.18":               "X509v3 Issuer Alternative Name",
	"2.5.29.19":               "X509v3 Basic Constraints",
	"2.5.29.30":               "X509v3 Name Constraints",
	"2.5.29.31":               "X509v3 CRL Distribution Points",
	"2.5.29.32":               "X509v3 Certificate Policies",
	"2.5.29.33":               "X509v3 Policy Mappings",
	"2.5.29.35":               "X509v3 Authority Key Identifier",
	"2.5.29.36":               "X509v3 Policy Constraints",
	"2.5.29.37":               "X509v3 Extended Key Usage",
	"2.5.29.46":               "X509v3 Freshest CRL",
	"2.5.29.54":               "X509v3 Inhibit Any Policy",
	"1.3.6.1.5.5.7.1.1":       "Authority Information Access",
	"1.3.6.1.5.5.7.1.11":      "Subject Information Access",
	"1.3.6.1.5.5.7.1.24":      "TLS Feature",
	"1.3.6.1.5.5.7.48.1.5":    "OCSP No Check",
	"1.3.6.1.4.1.11129.2.4.2": "CT Precertificate SCTs",
	"1.3.6.1.4.1.11129.2.4.3": "CT Precertificate Poison",
	"2.16.840.1.113730.1.1":   "Netscape Cert Type",
	"2.16.840.1.113730.1.13":  "Netscape Comment",

	// Extended key usages.
	"2.5.29.37.0":       "Any Extended Key Usage",
	"1.3.6.1.5.5.7.3.1": "TLS Web Server Authentication",
	"1.3.6.1.5.5.7.3.2": "TLS Web Client Authentication",
	"1.3.6.1.5.5.7.3.3": "Code Signing",
	"1.3.6.1.5.5.7.3.4": "E-mail Protection",
	"1.3.6.1.5.5.7.3.8": "Time Stamping",
	"1.3.6.1.5.5.7.3.9": "OCSP Signing",
}

// The tables keyed by the OIDs' DER content octets, so that a lookup
// needs no decoding (and no allocation).
var (
	derNames     = map[string]string{}
	derCurveBits = map[string]int{}
)

func init() {
	for oid, name := range oidNames {
		derNames[derOID(oid)] = name
	}
	for oid, bits := range curveBits {
		derCurveBits[derOID(oid)] = bits
	}
}

// DER content octets of the OIDs the parser acts on.
var (
	oidRSAEncryption    = derOID("1.2.840.113549.1.1.1")
	oidECPublicKey      = derOID("1.2.840.10045.2.1")
	oidSubjectKeyID     = derOID("2.5.29.14")
	oidKeyUsage         = derOID("2.5.29.15")
	oidSubjectAltName   = derOID("2.5.29.17")
	oidIssuerAltName    = derOID("2.5.29.18")
	oidBasicConstraints = derOID("2.5.29.19")
	oidAuthorityKeyID   = derOID("2.5.29.35")
	oidExtKeyUsage      = derOID("2.5.29.37")
)

// derOID encodes a dotted OID of the tables above; it panics on a typo.
func derOID(dotted string) string {
	parts := strings.Split(dotted, ".")
	arcs := make([]uint64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil || len(parts) < 2 {
			panic("tls: bad OID " + dotted)
		}
		arcs[i] = v
	}
	var b []byte
	b = appendBase128(b, arcs[0]*40+arcs[1])
	for _, a := range arcs[2:] {
		b = appendBase128(b, a)
	}
	return string(b)
}

func appendBase128(b []byte, v uint64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7f)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7f) | 0x80
	}
	return append(b, tmp[i:]...)
}

// readOID reads an OBJECT IDENTIFIER into its content octets.
func readOID(s *cryptobyte.String, out *[]byte) bool {
	var raw cryptobyte.String
	if !s.ReadASN1(&raw, asn1.OBJECT_IDENTIFIER) || len(raw) == 0 {
		return false
	}
	*out = raw
	return true
}

// oidText is the OpenSSL long name of an OID given by its content octets,
// else its dotted form.
func oidText(raw []byte) string {
	if n, ok := derNames[string(raw)]; ok {
		return n
	}
	return dottedOID(raw)
}

// dottedOID decodes OID content octets to the dotted form, or "#" and
// hex for octets that are no valid OID.
func dottedOID(raw []byte) string {
	if len(raw) == 0 {
		return "#"
	}
	var b []byte
	var v uint64
	first := true
	for i, c := range raw {
		if v > 1<<56 || (v == 0 && c == 0x80) {
			return "#" + hexString(raw)
		}
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 != 0 {
			if i == len(raw)-1 {
				return "#" + hexString(raw)
			}
			continue
		}
		if first {
			a := min(v/40, 2)
			b = strconv.AppendUint(b, a, 10)
			b = append(b, '.')
			b = strconv.AppendUint(b, v-40*a, 10)
			first = false
		} else {
			b = append(b, '.')
			b = strconv.AppendUint(b, v, 10)
		}
		v = 0
	}
	return string(b)
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&0xf]
	}
	return string(out)
}

// curveBits are the sizes OpenSSL reports (EVP_PKEY_bits) for named
// curves and for the key types whose size is fixed.
var curveBits = map[string]int{
	"1.2.840.10045.3.1.7":   256, // prime256v1
	"1.3.132.0.34":          384, // secp384r1
	"1.3.132.0.35":          521, // secp521r1
	"1.3.132.0.33":          224, // secp224r1
	"1.3.132.0.10":          256, // secp256k1
	"1.2.840.10045.3.1.1":   192, // prime192v1
	"1.3.36.3.3.2.8.1.1.7":  256, // brainpoolP256r1
	"1.3.36.3.3.2.8.1.1.11": 384, // brainpoolP384r1
	"1.3.36.3.3.2.8.1.1.13": 512, // brainpoolP512r1
	"1.3.101.110":           253, // X25519
	"1.3.101.111":           448, // X448
	"1.3.101.112":           253, // ED25519
	"1.3.101.113":           456, // ED448
}
