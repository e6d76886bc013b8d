package http

import (
	"strconv"
	"strings"
)

// Bounds on what one flow keeps.
const (
	// MaxExchanges is how many request/response pairs a connection
	// keeps; parsing stops after that many in each direction.
	MaxExchanges = 32
	// MaxHeaderBytes bounds the start line and header fields stored for
	// one message (each header counts its name, value and 4 octets of
	// framing). Past it, headers are still read for framing but not kept,
	// and the message is marked headers_truncated.
	MaxHeaderBytes = 16 << 10
	// MaxFlowHeaderBytes bounds the header octets stored for all the
	// messages of a flow together (and request targets and reasons), so
	// that a flow costs about this much however its MaxExchanges messages
	// are shaped; only methods, versions and codes are kept past it.
	MaxFlowHeaderBytes = 128 << 10
	// maxInterim bounds the 1xx responses kept before one final response.
	maxInterim = 8
	// BodyPrefixLen is how many octets of the body a message keeps ("body",
	// hex): enough for a file type's magic number. Joy's idea and key; its
	// length follows the issue (Joy's code kept 16).
	BodyPrefixLen = 8
	// maxErrLine bounds the quote of an unparseable line in an error.
	maxErrLine = 64
)

// Redacted replaces the value of a credential-bearing header.
const Redacted = "[redacted]"

// Header is one header field as sent: the name keeps its case, and a
// message keeps its fields in order, duplicates included.
type Header struct {
	Name, Value string
}

// Message is one HTTP/1.x request or response.
type Message struct {
	// Request line. Version is empty for an HTTP/0.9 request, and for a
	// request line cut at MaxHeaderBytes.
	Method, URI string
	// Status line; Code is the three digits as sent (Joy keeps a string).
	Code, Reason string
	Version      string
	Headers      []Header
	// Body holds the first BodyPrefixLen octets of the body after
	// transfer coding (chunk framing) is removed: the entity's first
	// octets, which identify its type; content coding (gzip) is kept.
	Body []byte
	// BodyLen counts the body octets seen, after chunk framing.
	BodyLen int64
	// HeadersTruncated says headers past MaxHeaderBytes were not kept.
	HeadersTruncated bool
	// Incomplete says the message had not ended when its direction did
	// (bytes missing, or the capture stopped).
	Incomplete bool
	// Err describes a framing problem: a first line that was not HTTP, a
	// bad chunk (after which the direction is no longer parsed, and the
	// message is Incomplete), or headers that leave the length in doubt
	// (invalid or conflicting Content-Length, Transfer-Encoding without
	// chunked on a request, both Transfer-Encoding and Content-Length),
	// after which parsing goes on the way a lenient peer would, so that
	// a smuggled request shows as the next message.
	Err string

	request bool
	http09  bool // an HTTP/0.9 request: its response has no status line
}

// Exchange is a request and the responses to it, matched in order
// (pipelining): Interim holds 1xx responses (100 Continue, 103 Early
// Hints) that came before the final Response. Either side may be nil when
// it was not seen.
type Exchange struct {
	Request  *Message
	Interim  []*Message
	Response *Message

	// requestsIn says the requests travelled toward the initiator (a
	// capture that began mid-connection): they are then Joy's "in".
	requestsIn bool
}

// credentialHeader says whether a header's value carries credentials.
func credentialHeader(name string) bool {
	switch len(name) {
	case len("cookie"), len("set-cookie"), len("authorization"), len("proxy-authorization"):
	default:
		return false
	}
	return strings.EqualFold(name, "authorization") || strings.EqualFold(name, "proxy-authorization") ||
		strings.EqualFold(name, "cookie") || strings.EqualFold(name, "set-cookie")
}

// authSchemes are the registered authentication schemes (IANA HTTP
// Authentication Scheme Registry, plus AWS's): kept in front of a
// redacted Authorization value because the scheme is not a secret and is
// what an analyst asks first. Anything else is redacted whole.
var authSchemes = []string{
	"Basic", "Bearer", "Digest", "DPoP", "GNAP", "HOBA", "Mutual", "Negotiate",
	"NTLM", "OAuth", "PrivateToken", "SCRAM-SHA-1", "SCRAM-SHA-256", "vapid",
	"Concealed", "AWS4-HMAC-SHA256",
}

// redact returns the value stored for a credential header.
func redact(name, value string) string {
	if strings.EqualFold(name, "authorization") || strings.EqualFold(name, "proxy-authorization") {
		scheme, _, found := strings.Cut(value, " ")
		for _, s := range authSchemes {
			if found && strings.EqualFold(scheme, s) {
				return scheme + " " + Redacted
			}
		}
	}
	return Redacted
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110
// §5.6.2), the grammar of methods and header names.
func isTokenChar(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// trimOWS trims optional whitespace (SP, HTAB).
func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}

// lineError is prefix and the Go-quoted quoteLine(line), as
// fmt.Sprintf(prefix+"%q", quoteLine(line)) writes it, in one allocation:
// a stream that is not HTTP meets it once per direction.
func lineError(prefix, line string) string {
	var buf [128]byte
	b := append(buf[:0], prefix...)
	if len(line) <= maxErrLine {
		return string(strconv.AppendQuote(b, line))
	}
	// The quote of the cut line with "..." before its closing quote is
	// the quote of the cut line and "...": ASCII dots cannot join the
	// octets before them into a character, so they change no escape.
	b = strconv.AppendQuote(b, line[:maxErrLine])
	b = append(b[:len(b)-1], `..."`...)
	return string(b)
}

// firstHeaders is the capacity of a message's header list when it is
// first allocated.
const firstHeaders = 8

// quoteLine cuts a line for an error message.
func quoteLine(line []byte) string {
	if len(line) > maxErrLine {
		return string(line[:maxErrLine]) + "..."
	}
	return string(line)
}
