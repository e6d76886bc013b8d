package http

import (
	"encoding/hex"
	"strconv"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// MarshalJSON writes the "http" list: one object per exchange with Joy's
// keys "out" (the request) and "in" (the final response), plus "interim"
// (a list of 1xx responses, in order) when there were any. A side that was
// not seen is left out. As in Joy, "out" is what the flow's initiator sent:
// when a capture began mid-connection and the server counts as the
// initiator, the responses are "out" and the requests "in".
//
// A message is a list of one-key objects, as in Joy:
//
//	request:  {"method"}, {"uri"}, {"version"}
//	response: {"version"}, {"code"} (a string, "200"), {"reason"}
//	then one {name: value} per header field, as sent (case, order and
//	duplicates kept; a line without a colon has the name ""), then
//	{"body": hex of the first BodyPrefixLen body octets, "" for none}.
//
// New facts follow "body", each only when it says something:
//
//	{"body_len": N}             body octets seen (after chunk framing)
//	{"headers_truncated": true} headers past MaxHeaderBytes were not kept
//	{"incomplete": true}        the message did not end before its stream
//	{"error": "..."}            why the message could not be framed (wire
//	                            text in it is Go-quoted); a message that
//	                            is only {"error"} had a first line that
//	                            was not HTTP
//
// An HTTP/0.9 request has no "version" (and no headers); its response
// has no status line, only the body. Strings from the wire are written as
// jsontext.WireString.
func (xs Exchanges) MarshalJSON() ([]byte, error) {
	return xs.AppendJSON(make([]byte, 0, 1024*len(xs)+2)), nil
}

// AppendJSON implements jsontext.Appender: it appends what MarshalJSON
// returns.
func (xs Exchanges) AppendJSON(b []byte) []byte {
	b = append(b, '[')
	for i := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = xs[i].appendJSON(b)
	}
	return append(b, ']')
}

func (x *Exchange) appendJSON(b []byte) []byte {
	w := jsontext.ObjectWriter{B: append(b, '{')}
	reqKey, respKey := "out", "in"
	if x.requestsIn {
		reqKey, respKey = "in", "out"
	}
	if x.Request != nil {
		w.Key(reqKey)
		w.B = x.Request.appendJSON(w.B)
	}
	if len(x.Interim) > 0 {
		w.Key("interim")
		w.B = append(w.B, '[')
		for i, m := range x.Interim {
			if i > 0 {
				w.B = append(w.B, ',')
			}
			w.B = m.appendJSON(w.B)
		}
		w.B = append(w.B, ']')
	}
	if x.Response != nil {
		w.Key(respKey)
		w.B = x.Response.appendJSON(w.B)
	}
	return append(w.B, '}')
}

// MarshalJSON writes one message as described on Exchanges.
func (m *Message) MarshalJSON() ([]byte, error) {
	return m.appendJSON(nil), nil
}

func (m *Message) appendJSON(b []byte) []byte {
	w := listWriter{b: append(b, '[')}
	startLine := m.Method != "" || m.Version != "" || m.Code != ""
	switch {
	case m.request && startLine:
		w.wire("method", m.Method)
		w.wire("uri", m.URI)
		if m.Version != "" {
			w.wire("version", m.Version)
		}
	case startLine:
		w.wire("version", m.Version)
		w.wire("code", m.Code)
		w.wire("reason", m.Reason)
	}
	for _, h := range m.Headers {
		w.open()
		w.b = jsontext.Append(w.b, h.Name)
		w.b = append(w.b, ':')
		w.b = jsontext.Append(w.b, h.Value)
		w.b = append(w.b, '}')
	}
	// Every parsed message has a body entry, "" when empty (Joy's); a
	// message that is only an error has none.
	if m.Err == "" || startLine || m.BodyLen > 0 {
		w.open()
		w.b = append(w.b, `"body":"`...)
		w.b = hex.AppendEncode(w.b, m.Body)
		w.b = append(w.b, `"}`...)
	}
	if m.BodyLen > 0 {
		w.open()
		w.b = append(w.b, `"body_len":`...)
		w.b = strconv.AppendInt(w.b, m.BodyLen, 10)
		w.b = append(w.b, '}')
	}
	if m.HeadersTruncated {
		w.open()
		w.b = append(w.b, `"headers_truncated":true}`...)
	}
	if m.Incomplete {
		w.open()
		w.b = append(w.b, `"incomplete":true}`...)
	}
	if m.Err != "" {
		// Err quotes wire bytes with Go's %q already: written as plain
		// JSON text, not as a WireString, so its escapes are not doubled.
		w.open()
		w.b = append(w.b, `"error":`...)
		w.b = jsontext.AppendStringHTML(w.b, m.Err)
		w.b = append(w.b, '}')
	}
	return append(w.b, ']')
}

// listWriter appends the one-key objects of a message list.
type listWriter struct {
	b []byte
	n int
}

// open starts the next object of the list.
func (w *listWriter) open() {
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = append(w.b, '{')
}

// wire writes {k: v} with v a string from the wire (or built from it).
func (w *listWriter) wire(k, v string) {
	w.open()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
	w.b = jsontext.Append(w.b, v)
	w.b = append(w.b, '}')
}
