package tls

import (
	"sync"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// Object is the value of the record's "tls" key. Keys up to SRLT are Joy's,
// with Joy's encodings (cipher suites as four lowercase hex digits without
// "0x", byte strings as lowercase hex, versions as Joy's enum); the rest are
// ours and use the same encodings. Every field is optional: a key is
// written only when the handshake showed it.
type Object struct {
	// CVersion and SVersion use Joy's enum (see Version*). Unlike Joy, a
	// TLS 1.3 ClientHello counts as 1.3 (its highest supported_versions
	// entry), and the server's version is the one it selected in
	// supported_versions, not the legacy 1.2 of the hello or record.
	CVersion int `json:"c_version,omitempty"`
	SVersion int `json:"s_version,omitempty"`
	// CKeyLength is the ClientKeyExchange body length in bits and
	// CKeyExchange the body in hex, as Joy (absent above 8192 bits).
	// The byte strings are kept as bytes and written as hex when the
	// record is.
	CKeyLength   int               `json:"c_key_length,omitempty"`
	CKeyExchange jsontext.HexBytes `json:"c_key_exchange,omitempty"`
	CRandom      jsontext.HexBytes `json:"c_random,omitempty"`
	SRandom      jsontext.HexBytes `json:"s_random,omitempty"`
	CSID         jsontext.HexBytes `json:"c_sid,omitempty"`
	SSID         jsontext.HexBytes `json:"s_sid,omitempty"`
	// SNI holds the host_name entries of the client's server_name
	// extension (Joy wrote a list of one).
	SNI []jsontext.WireString `json:"sni,omitempty"`
	// SCS is the cipher suite the server selected; CS those the client
	// offered, in order, GREASE included.
	SCS         string      `json:"scs,omitempty"`
	CS          []string    `json:"cs,omitempty"`
	CExtensions []Extension `json:"c_extensions,omitempty"`
	SExtensions []Extension `json:"s_extensions,omitempty"`
	// CCert and SCert are the certificates of the first Certificate
	// message of each side (in cleartext only up to TLS 1.2).
	CCert []Certificate `json:"c_cert,omitempty"`
	SCert []Certificate `json:"s_cert,omitempty"`
	// SRLT lists the records of both directions in arrival order, at most
	// 50 per direction (Joy's bound).
	SRLT []Record `json:"srlt,omitempty"`

	// Beyond Joy.

	// CHelloVersion and SHelloVersion are the legacy version fields of
	// the hellos ("0303" for TLS 1.3).
	CHelloVersion string `json:"c_hello_version,omitempty"`
	SHelloVersion string `json:"s_hello_version,omitempty"`
	// CSupportedVersions is the client's supported_versions list;
	// SSupportedVersion the server's selection.
	CSupportedVersions []string `json:"c_supported_versions,omitempty"`
	SSupportedVersion  string   `json:"s_supported_version,omitempty"`
	// CALPN lists the protocols the client offered, SALPN the one the
	// server selected.
	CALPN []jsontext.WireString `json:"c_alpn,omitempty"`
	SALPN jsontext.WireString   `json:"s_alpn,omitempty"`
	// CSupportedGroups, CKeyShareGroups and CSignatureAlgorithms are the
	// client's lists from those extensions, GREASE included.
	CSupportedGroups     []string `json:"c_supported_groups,omitempty"`
	CKeyShareGroups      []string `json:"c_key_share_groups,omitempty"`
	CSignatureAlgorithms []string `json:"c_signature_algorithms,omitempty"`
	// SKeyExchangeGroup is the group the server chose: the key_share of
	// its TLS 1.3 ServerHello (or the group a HelloRetryRequest asked
	// for), or the named curve of a TLS ≤ 1.2 ECDHE ServerKeyExchange.
	SKeyExchangeGroup string `json:"s_key_exchange_group,omitempty"`
	// HelloRetryRequest says the server answered with a
	// HelloRetryRequest. The c_* fields and ja3/ja4 then describe the
	// first ClientHello, the s_* fields and ja3s the ServerHello that
	// followed (the HelloRetryRequest itself if none did).
	HelloRetryRequest bool `json:"hello_retry_request,omitempty"`
	// Alerts are the cleartext alerts of both directions.
	Alerts []Alert `json:"alerts,omitempty"`
	// JA3 and JA3S are MD5 hex digests as Wireshark 4.0 computes them
	// (tls.handshake.ja3, tls.handshake.ja3s); JA4 is FoxIO's JA4.
	JA3  string `json:"ja3,omitempty"`
	JA3S string `json:"ja3s,omitempty"`
	JA4  string `json:"ja4,omitempty"`
	// ParseErrors describes input the parser could not read (first few).
	ParseErrors []string `json:"parse_errors,omitempty"`
}

// Joy's TLS version enum.
const (
	VersionUnknown = 0
	VersionSSLv2   = 1
	VersionSSLv3   = 2
	Version1_0     = 3
	Version1_1     = 4
	Version1_2     = 5
	Version1_3     = 6
)

// joyVersion maps a protocol version to Joy's enum. TLS 1.3 drafts
// (0x7fxx) and Google's 1.3 experiment variants (0x7exx) count as 1.3.
func joyVersion(v uint16) int {
	switch {
	case v == 0x0002:
		return VersionSSLv2
	case v == 0x0300:
		return VersionSSLv3
	case v == 0x0301:
		return Version1_0
	case v == 0x0302:
		return Version1_1
	case v == 0x0303:
		return Version1_2
	case v == 0x0304, v>>8 == 0x7f, v>>8 == 0x7e:
		return Version1_3
	}
	return VersionUnknown
}

// Extension is one hello extension. It marshals as Joy wrote it: a
// one-key object {"<IANA name>": "<data in hex>"} for the types with a
// registered name, else {"kind": <type>, "data": "<hex>"} (GREASE,
// unassigned, private). Like Joy, data longer than 1024 bytes is written
// as "" (a post-quantum key_share, a large padding).
type Extension struct {
	Type uint16
	Data []byte
}

// maxExtensionHex is Joy's bound on the data written per extension.
const maxExtensionHex = 1024

// Record is one srlt entry: a TLS record's length ("b", the record
// header's length field), direction, milliseconds since the previous
// entry of either direction ("ipt"), content type ("tp"), and for
// cleartext handshake records the types and body lengths of the
// handshake messages that start in it (at most five, as Joy).
type Record struct {
	B       int    `json:"b"`
	Dir     string `json:"dir"`
	IPT     int64  `json:"ipt"`
	TP      int    `json:"tp"`
	HSTypes []int  `json:"hs_types,omitempty"`
	HSLens  []int  `json:"hs_lens,omitempty"`
}

// Alert is a cleartext alert record.
type Alert struct {
	Dir         string `json:"dir"`
	Level       int    `json:"level"`
	Description int    `json:"description"`
}

// dirString is Joy's direction mark.
func dirString(d uint8) string {
	if d == 0 {
		return ">"
	}
	return "<"
}

// hex4 renders a 16-bit code point as Joy renders cipher suites. The
// strings are cut from one table of every code point (256 KiB), so the
// dozens a ClientHello lists cost no allocation; the table is built at the
// first use, so runs that meet no TLS do not pay for it.
func hex4(v uint16) string { return hex4Table()[4*int(v) : 4*int(v)+4] }

var hex4Table = sync.OnceValue(func() string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 4<<16)
	for v := range 1 << 16 {
		b = append(b, digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf])
	}
	return string(b)
})

// extensionNames are the IANA TLS ExtensionType names, as Joy spelled
// them (the registry's names without remarks).
var extensionNames = map[uint16]string{
	0: "server_name", 1: "max_fragment_length", 2: "client_certificate_url",
	3: "trusted_ca_keys", 4: "truncated_hmac", 5: "status_request",
	6: "user_mapping", 7: "client_authz", 8: "server_authz", 9: "cert_type",
	10: "supported_groups", 11: "ec_point_formats", 12: "srp",
	13: "signature_algorithms", 14: "use_srtp", 15: "heartbeat",
	16: "application_layer_protocol_negotiation", 17: "status_request_v2",
	18: "signed_certificate_timestamp", 19: "client_certificate_type",
	20: "server_certificate_type", 21: "padding", 22: "encrypt_then_mac",
	23: "extended_master_secret", 24: "token_binding", 25: "cached_info",
	26: "tls_lts", 27: "compress_certificate", 28: "record_size_limit",
	29: "pwd_protect", 30: "pwd_clear", 31: "password_salt",
	32: "ticket_pinning", 33: "tls_cert_with_extern_psk",
	34: "delegated_credential", 35: "session_ticket", 36: "tlmsp",
	37: "tlmsp_proxying", 38: "tlmsp_delegate", 39: "supported_ekt_ciphers",
	41: "pre_shared_key", 42: "early_data", 43: "supported_versions",
	44: "cookie", 45: "psk_key_exchange_modes", 47: "certificate_authorities",
	48: "oid_filters", 49: "post_handshake_auth",
	50: "signature_algorithms_cert", 51: "key_share", 52: "transparency_info",
	53: "connection_id_deprecated", 54: "connection_id",
	55: "external_id_hash", 56: "external_session_id",
	57: "quic_transport_parameters", 58: "ticket_request",
	59: "dnssec_chain", 60: "sequence_number_encryption_algorithms",
	61: "rrc", 62: "tls_flags", 65037: "encrypted_client_hello",
	65281: "renegotiation_info",
}

func extensionName(t uint16) string { return extensionNames[t] }
