package tls

import (
	"encoding/hex"
	"strconv"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
)

// AppendJSON implements jsontext.Appender: it appends what encoding/json
// writes for o (the struct tags of Object, omitempty and all), without
// its reflection. The record encoder calls it once per TLS flow;
// FuzzRecords, FuzzCertificate and TestAppendJSON check it against
// encoding/json.
func (o *Object) AppendJSON(b []byte) []byte {
	w := jsontext.ObjectWriter{B: append(b, '{')}
	optInt(&w, "c_version", o.CVersion)
	optInt(&w, "s_version", o.SVersion)
	optInt(&w, "c_key_length", o.CKeyLength)
	optHex(&w, "c_key_exchange", o.CKeyExchange)
	optHex(&w, "c_random", o.CRandom)
	optHex(&w, "s_random", o.SRandom)
	optHex(&w, "c_sid", o.CSID)
	optHex(&w, "s_sid", o.SSID)
	optWires(&w, "sni", o.SNI)
	optStr(&w, "scs", o.SCS)
	optStrs(&w, "cs", o.CS)
	optList(&w, "c_extensions", o.CExtensions, (*Extension).appendJSON)
	optList(&w, "s_extensions", o.SExtensions, (*Extension).appendJSON)
	optList(&w, "c_cert", o.CCert, (*Certificate).appendJSON)
	optList(&w, "s_cert", o.SCert, (*Certificate).appendJSON)
	optList(&w, "srlt", o.SRLT, (*Record).appendJSON)
	optStr(&w, "c_hello_version", o.CHelloVersion)
	optStr(&w, "s_hello_version", o.SHelloVersion)
	optStrs(&w, "c_supported_versions", o.CSupportedVersions)
	optStr(&w, "s_supported_version", o.SSupportedVersion)
	optWires(&w, "c_alpn", o.CALPN)
	if o.SALPN != "" {
		w.Wire("s_alpn", string(o.SALPN))
	}
	optStrs(&w, "c_supported_groups", o.CSupportedGroups)
	optStrs(&w, "c_key_share_groups", o.CKeyShareGroups)
	optStrs(&w, "c_signature_algorithms", o.CSignatureAlgorithms)
	optStr(&w, "s_key_exchange_group", o.SKeyExchangeGroup)
	if o.HelloRetryRequest {
		w.Bool("hello_retry_request", true)
	}
	optList(&w, "alerts", o.Alerts, (*Alert).appendJSON)
	optStr(&w, "ja3", o.JA3)
	optStr(&w, "ja3s", o.JA3S)
	optStr(&w, "ja4", o.JA4)
	optStrs(&w, "parse_errors", o.ParseErrors)
	return append(w.B, '}')
}

// MarshalJSON implements json.Marshaler.
func (e Extension) MarshalJSON() ([]byte, error) {
	return e.appendJSON(make([]byte, 0, 32+2*min(len(e.Data), maxExtensionHex))), nil
}

func (e *Extension) appendJSON(b []byte) []byte {
	data := e.Data
	if len(data) > maxExtensionHex {
		data = nil
	}
	if name := extensionName(e.Type); name != "" {
		b = append(b, `{"`...)
		b = append(b, name...)
		b = append(b, `":"`...)
	} else {
		b = append(b, `{"kind":`...)
		b = strconv.AppendUint(b, uint64(e.Type), 10)
		b = append(b, `,"data":"`...)
	}
	b = hex.AppendEncode(b, data)
	return append(b, `"}`...)
}

func (c *Certificate) appendJSON(b []byte) []byte {
	w := jsontext.ObjectWriter{B: append(b, '{')}
	w.Int("length", int64(c.Length))
	optStr(&w, "serial_number", c.SerialNumber)
	optStr(&w, "signature", c.Signature)
	optStr(&w, "signature_algo", c.SignatureAlgo)
	optInt(&w, "signature_key_size", c.SignatureKeySize)
	optList(&w, "issuer", c.Issuer, (*Attribute).appendJSON)
	optList(&w, "subject", c.Subject, (*Attribute).appendJSON)
	optList(&w, "extensions", c.Extensions, (*Attribute).appendJSON)
	if c.ValidityNotBefore != "" {
		w.Wire("validity_not_before", string(c.ValidityNotBefore))
	}
	if c.ValidityNotAfter != "" {
		w.Wire("validity_not_after", string(c.ValidityNotAfter))
	}
	optStr(&w, "subject_public_key_algo", c.SubjectPublicKeyAlgo)
	optInt(&w, "subject_public_key_size", c.SubjectPublicKeySize)
	optWires(&w, "san_dns", c.SANDNS)
	optStrs(&w, "san_ip", c.SANIP)
	optWires(&w, "san_email", c.SANEmail)
	optWires(&w, "san_uri", c.SANURI)
	optStr(&w, "parse_error", c.ParseError)
	return append(w.B, '}')
}

// MarshalJSON implements json.Marshaler.
func (a Attribute) MarshalJSON() ([]byte, error) {
	return a.appendJSON(make([]byte, 0, len(a.Name)+len(a.Value)+8)), nil
}

func (a *Attribute) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = jsontext.Append(b, a.Name)
	b = append(b, ':')
	b = jsontext.Append(b, string(a.Value))
	return append(b, '}')
}

func (r *Record) appendJSON(b []byte) []byte {
	w := jsontext.ObjectWriter{B: append(b, '{')}
	w.Int("b", int64(r.B))
	w.Str("dir", r.Dir)
	w.Int("ipt", r.IPT)
	w.Int("tp", int64(r.TP))
	optInts(&w, "hs_types", r.HSTypes)
	optInts(&w, "hs_lens", r.HSLens)
	return append(w.B, '}')
}

func (a *Alert) appendJSON(b []byte) []byte {
	w := jsontext.ObjectWriter{B: append(b, '{')}
	w.Str("dir", a.Dir)
	w.Int("level", int64(a.Level))
	w.Int("description", int64(a.Description))
	return append(w.B, '}')
}

// The opt* helpers write a member unless encoding/json's omitempty
// would leave it out (zero, "", or an empty list).

func optInt(w *jsontext.ObjectWriter, k string, v int) {
	if v != 0 {
		w.Int(k, int64(v))
	}
}

func optStr(w *jsontext.ObjectWriter, k, v string) {
	if v != "" {
		w.Str(k, v)
	}
}

func optHex(w *jsontext.ObjectWriter, k string, v []byte) {
	if len(v) > 0 {
		w.Hex(k, v)
	}
}

func optStrs(w *jsontext.ObjectWriter, k string, vs []string) {
	optList(w, k, vs, func(v *string, b []byte) []byte { return jsontext.AppendString(b, *v) })
}

func optWires(w *jsontext.ObjectWriter, k string, vs []jsontext.WireString) {
	optList(w, k, vs, func(v *jsontext.WireString, b []byte) []byte { return jsontext.Append(b, string(*v)) })
}

func optInts(w *jsontext.ObjectWriter, k string, vs []int) {
	optList(w, k, vs, func(v *int, b []byte) []byte { return strconv.AppendInt(b, int64(*v), 10) })
}

// optList writes vs as a JSON list, each element by appendOne.
func optList[T any](w *jsontext.ObjectWriter, k string, vs []T, appendOne func(*T, []byte) []byte) {
	if len(vs) == 0 {
		return
	}
	w.Key(k)
	w.B = append(w.B, '[')
	for i := range vs {
		if i > 0 {
			w.B = append(w.B, ',')
		}
		w.B = appendOne(&vs[i], w.B)
	}
	w.B = append(w.B, ']')
}
