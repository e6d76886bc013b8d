package ssh

import (
	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// Report is the record's "ssh" object.
//
// "cli" and "srv" keep Joy's keys. They are the SSH client and server,
// which are the TCP initiator and responder unless the key exchange shows
// otherwise (a reverse tunnel: then "reverse" is true).
type Report struct {
	Cli *Side `json:"cli,omitempty"`
	Srv *Side `json:"srv,omitempty"`

	// HASSH (salesforce/hassh) of each side's KEXINIT, with the string
	// that was hashed.
	HASSH                 string              `json:"hassh,omitempty"`
	HASSHAlgorithms       jsontext.WireString `json:"hassh_algorithms,omitempty"`
	HASSHServer           string              `json:"hassh_server,omitempty"`
	HASSHServerAlgorithms jsontext.WireString `json:"hassh_server_algorithms,omitempty"`

	// Chosen is the outcome of negotiation, present when both KEXINITs
	// were seen.
	Chosen *Chosen `json:"chosen,omitempty"`

	// Reverse says the SSH client is the TCP responder.
	Reverse bool `json:"reverse,omitempty"`
}

// Side is what one peer sent in the clear. The first block of keys is
// Joy's; the c_ keys appear for the client, the s_ keys for the server.
type Side struct {
	// Protocol is the identification string (RFC 4253 §4.2) without its
	// line end, e.g. "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".
	Protocol jsontext.WireString `json:"protocol,omitempty"`
	Cookie   jsontext.HexBytes   `json:"cookie,omitempty"`
	// The ten name-lists, present (even when empty) once KEXINIT was seen.
	*Lists

	SHostkeyType   jsontext.WireString `json:"s_hostkey_type,omitempty"`
	SHostkey       jsontext.HexBytes   `json:"s_hostkey,omitempty"`
	SSignatureType jsontext.WireString `json:"s_signature_type,omitempty"`
	SSignature     jsontext.HexBytes   `json:"s_signature,omitempty"`
	// KexAlgo is the negotiated key exchange method (also chosen.kex).
	KexAlgo jsontext.WireString `json:"kex_algo,omitempty"`
	// CKex and SKex are the key exchange values: DH e and f, ECDH Q_C and
	// Q_S, the hybrids' concatenations; for RSA key exchange the
	// encrypted secret and the transient key.
	CKex  jsontext.HexBytes `json:"c_kex,omitempty"`
	SKex  jsontext.HexBytes `json:"s_kex,omitempty"`
	SGexP jsontext.HexBytes `json:"s_gex_p,omitempty"`
	SGexG jsontext.HexBytes `json:"s_gex_g,omitempty"`
	// Newkeys says SSH_MSG_NEWKEYS was seen: everything after it is
	// encrypted. (Joy wrote "true"/"false" as strings.)
	Newkeys bool `json:"newkeys"`
	// Unencrypted counts cleartext binary packets, NEWKEYS included. (Joy
	// counted TCP segments, which depends on how the sender split them.)
	Unencrypted int `json:"unencrypted"`

	// New keys.
	FirstKexPacketFollows bool `json:"first_kex_packet_follows,omitempty"`
	// CGexMin, CGexN, CGexMax are the client's DH group size request in
	// bits (RFC 4419; the old request has only n).
	CGexMin uint32 `json:"c_gex_min,omitempty"`
	CGexN   uint32 `json:"c_gex_n,omitempty"`
	CGexMax uint32 `json:"c_gex_max,omitempty"`
	// SGexPBits is the size of the server's DH group-exchange prime.
	SGexPBits int `json:"s_gex_p_bits,omitempty"`
	// SHostkeyBits is the modulus size of an RSA or DSA host key.
	SHostkeyBits int `json:"s_hostkey_bits,omitempty"`
	// MessageCodes are the message numbers of the cleartext packets in
	// order (at most maxPackets).
	MessageCodes []int `json:"message_codes,omitempty"`
	// Error says why parsing of this side stopped early or skipped a
	// message: the bytes did not follow RFC 4253.
	Error string `json:"error,omitempty"`
}

// Lists are a KEXINIT's name-lists under Joy's keys.
type Lists struct {
	KexAlgos         jsontext.WireString `json:"kex_algos"`
	SHostKeyAlgos    jsontext.WireString `json:"s_host_key_algos"`
	CEncryptionAlgos jsontext.WireString `json:"c_encryption_algos"`
	SEncryptionAlgos jsontext.WireString `json:"s_encryption_algos"`
	CMacAlgos        jsontext.WireString `json:"c_mac_algos"`
	SMacAlgos        jsontext.WireString `json:"s_mac_algos"`
	CCompAlgos       jsontext.WireString `json:"c_comp_algos"`
	SCompAlgos       jsontext.WireString `json:"s_comp_algos"`
	CLanguages       jsontext.WireString `json:"c_languages"`
	SLanguages       jsontext.WireString `json:"s_languages"`
}

// Chosen are the algorithms the connection uses, computed per RFC 4253
// §7.1: for each list, the first algorithm of the client's that the server
// also offers. MACs are left out for AEAD ciphers, which need none.
type Chosen struct {
	Kex     jsontext.WireString `json:"kex_algorithm,omitempty"`
	HostKey jsontext.WireString `json:"server_host_key_algorithm,omitempty"`
	EncCS   jsontext.WireString `json:"encryption_client_to_server,omitempty"`
	EncSC   jsontext.WireString `json:"encryption_server_to_client,omitempty"`
	MacCS   jsontext.WireString `json:"mac_client_to_server,omitempty"`
	MacSC   jsontext.WireString `json:"mac_server_to_client,omitempty"`
	CompCS  jsontext.WireString `json:"compression_client_to_server,omitempty"`
	CompSC  jsontext.WireString `json:"compression_server_to_client,omitempty"`
	LangCS  jsontext.WireString `json:"language_client_to_server,omitempty"`
	LangSC  jsontext.WireString `json:"language_server_to_client,omitempty"`
	// StrictKex says both sides offered OpenSSH's strict key exchange,
	// which closes the Terrapin prefix truncation attack (CVE-2023-48795).
	StrictKex bool `json:"strict_kex,omitempty"`
}

func wire(b []byte) jsontext.WireString { return jsontext.WireString(b) }

func (s *Side) addError(err error) {
	if s.Error == "" {
		s.Error = err.Error()
	}
}

func listsOf(k *kexInit) *Lists {
	l := k.lists
	return &Lists{
		KexAlgos:         wire(l[listKex]),
		SHostKeyAlgos:    wire(l[listHostKey]),
		CEncryptionAlgos: wire(l[listEncCS]),
		SEncryptionAlgos: wire(l[listEncSC]),
		CMacAlgos:        wire(l[listMacCS]),
		SMacAlgos:        wire(l[listMacSC]),
		CCompAlgos:       wire(l[listCompCS]),
		SCompAlgos:       wire(l[listCompSC]),
		CLanguages:       wire(l[listLangCS]),
		SLanguages:       wire(l[listLangSC]),
	}
}
