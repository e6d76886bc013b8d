package quic

import (
	"encoding/hex"
	"fmt"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
	"github.com/flowjoy/flowjoy/userspace/proto"
)

// Report is the record's "quic" object. Joy had no QUIC support, so the
// keys are new, in Joy's snake_case style. Versions are 8-digit hex strings
// ("0x00000001") so that GREASE and vendor versions read as on the wire;
// connection IDs are lowercase hex.
type Report struct {
	// Version, DCID and SCID come from the client's first Initial packet
	// (its first long-header packet if no Initial was seen). DCID is the
	// one the Initial keys derive from; SCID is "" when it is empty.
	Version string  `json:"version"`
	DCID    *string `json:"dcid,omitempty"`
	SCID    *string `json:"scid,omitempty"`
	// TokenLen is the length of the token in the client's first Initial
	// (a NEW_TOKEN from an earlier connection); omitted when zero.
	TokenLen int `json:"token_len,omitempty"`
	// ServerSCID is the connection ID the server chose, from its first
	// long-header packet; ServerVersion that packet's version when it
	// differs from Version (compatible version negotiation, RFC 9368).
	ServerSCID    *string `json:"server_scid,omitempty"`
	ServerVersion string  `json:"server_version,omitempty"`
	// Retry is the server's first Retry packet.
	Retry *Retry `json:"retry,omitempty"`
	// VNVersions are the versions a Version Negotiation packet offered.
	VNVersions []string `json:"vn_versions,omitempty"`
	// Close is the first CONNECTION_CLOSE frame found in an Initial packet.
	Close *Close `json:"close,omitempty"`
	// DecryptFailures counts Initial packets that did not decrypt (not
	// part of this connection, corrupted, or keys not derivable).
	DecryptFailures int `json:"decrypt_failures,omitempty"`
	// CryptoOverflow says a direction's CRYPTO stream went past
	// MaxCryptoBytes or came in too many pieces, and was cut there.
	CryptoOverflow bool `json:"crypto_overflow,omitempty"`
}

// Retry describes a Retry packet (RFC 9000 §17.2.5).
type Retry struct {
	// SCID is the connection ID the server asks the client to use next;
	// the client's later Initial keys derive from it.
	SCID     string `json:"scid"`
	TokenLen int    `json:"token_len"`
	// IntegrityOK is whether the Retry Integrity Tag verified against the
	// client's original DCID; omitted for versions whose tag key is not
	// known here or when the client's Initial was not seen.
	IntegrityOK *bool `json:"integrity_ok,omitempty"`
}

// Close is a CONNECTION_CLOSE frame (RFC 9000 §19.19) sent in an Initial
// packet, typically a server refusing the handshake.
type Close struct {
	Dir         string              `json:"dir"` // ">" from the initiator, "<" toward it
	ErrorCode   uint64              `json:"error_code"`
	FrameType   uint64              `json:"frame_type,omitempty"`
	Application bool                `json:"application,omitempty"` // type 0x1d: an application error code
	Reason      jsontext.WireString `json:"reason"`
}

// Report implements proto.Reporter. The value is a *Report, or nil when
// no QUIC long header was seen.
func (p *Parser) Report() (string, any) {
	if !p.rec.seen {
		return "quic", nil
	}
	client := p.rec.first[p.clientRole()]
	server := p.rec.first[1-p.clientRole()]
	r := &Report{
		Retry:           p.rec.retry,
		Close:           p.rec.close,
		DecryptFailures: p.rec.failures,
		CryptoOverflow:  p.rec.overflow,
	}
	switch {
	case client.seen:
		r.Version = versionString(client.version)
		r.DCID = ptr(hexString(client.dcid))
		r.SCID = ptr(hexString(client.scid))
		r.TokenLen = client.tokenLen
		if server.seen && server.version != client.version {
			r.ServerVersion = versionString(server.version)
		}
	case server.seen:
		r.Version = versionString(server.version)
	}
	if server.seen {
		r.ServerSCID = ptr(hexString(server.scid))
	}
	if p.rec.vnVersions != nil {
		r.VNVersions = make([]string, len(p.rec.vnVersions))
		for i, v := range p.rec.vnVersions {
			r.VNVersions[i] = versionString(v)
		}
	}
	if r.Version == "" && len(r.VNVersions) > 0 {
		// Only a Version Negotiation packet was seen.
		r.Version = versionString(versionVN)
	}
	return "quic", r
}

func versionString(v uint32) string { return fmt.Sprintf("0x%08x", v) }

func hexString(b []byte) string { return hex.EncodeToString(b) }

func wireString(b []byte) jsontext.WireString { return jsontext.WireString(b) }

func ptr[T any](v T) *T { return &v }

func dirString(d proto.Dir) string {
	if d == proto.In {
		return "<"
	}
	return ">"
}
