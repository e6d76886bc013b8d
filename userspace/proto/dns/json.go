package dns

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
	"github.com/flowjoy/flowjoy/userspace/proto"
)

// MarshalJSON writes the "dns" list: one object per message, then, when
// messages were dropped past MaxMessages, a last object {"omitted": N}.
//
// A message object has Joy's keys
//
//	"qn" / "rn"  first question name of a query / response (QR bit)
//	"rc"         RCODE from the header (4 bits; see edns.ext_rcode)
//	"rr"         answer, authority and additional records, in wire order
//	"malformed"  octets left unparsed when parsing stopped early
//
// and these new ones, present only when they say something:
//
//	"dir"                ">" initiator to responder, "<" back (Joy's notation)
//	"id"                 transaction ID
//	"qtype", "qclass"    of the first question (qclass only when not IN)
//	"extra_questions"    [{"name","qtype","qclass"}] after the first
//	"questions_omitted"  questions past MaxRecords or the flow's MaxFlowBytes
//	"opcode"             when not 0 (QUERY)
//	"aa", "tc"           AA and TC header bits when set
//	"rr_omitted"         records past MaxRecords or the flow's MaxFlowBytes
//	"edns"               {"udp_size","version","do","ext_rcode","options":[{"code","len","data"}]}
//	"capture_truncated"  the capture held only part of the message
//	"error"              why parsing stopped early
//
// A record object has its type's key ("a", "aaaa", "cname", "ns", "ptr",
// "dname", "mx", "srv", "soa", "txt") and "ttl" as in Joy, plus "name" (the
// owner) and "section" ("answer", "authority", "additional"; in an UPDATE
// message "prerequisite", "update", "additional"). MX adds "pref"; SRV "priority", "weight", "port";
// SOA "rname", "serial", "refresh", "retry", "expire", "minimum"; TXT
// "txt_strings" when the record has more than one character-string ("txt"
// is their concatenation, as SPF and DKIM read it). Other types, and
// records whose rdata does not have their type's shape, have "type",
// "rdlength" and "rdata" (hex), and "malformed": true for the latter.
// "class" appears when it is not IN; "rdata_truncated" when rdata or TXT
// text was cut at MaxRDataKept / MaxTXTKept.
//
// Names are in presentation format without the trailing dot ("." is the
// root), written as jsontext.WireString.
func (ms Messages) MarshalJSON() ([]byte, error) {
	return ms.AppendJSON(make([]byte, 0, 256*len(ms.List)+16)), nil
}

// AppendJSON implements jsontext.Appender: it appends what MarshalJSON
// returns.
func (ms Messages) AppendJSON(b []byte) []byte {
	b = append(b, '[')
	for i := range ms.List {
		if i > 0 {
			b = append(b, ',')
		}
		b = ms.List[i].appendJSON(b)
	}
	if ms.Omitted > 0 {
		if len(ms.List) > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"omitted":`...)
		b = strconv.AppendInt(b, int64(ms.Omitted), 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

// MarshalJSON writes one message object as described on Messages.
func (m Message) MarshalJSON() ([]byte, error) {
	return m.appendJSON(nil), nil
}

func (m *Message) appendJSON(b []byte) []byte {
	w := objWriter{b: append(b, '{')}
	if m.Dir == proto.Out {
		w.str("dir", ">")
	} else {
		w.str("dir", "<")
	}
	w.uint("id", uint64(m.ID))
	if len(m.Questions) > 0 {
		q := m.Questions[0]
		if m.Response {
			w.wire("rn", q.Name)
		} else {
			w.wire("qn", q.Name)
		}
		w.uint("qtype", uint64(q.Type))
		if q.Class != classIN {
			w.uint("qclass", uint64(q.Class))
		}
		if len(m.Questions) > 1 {
			w.key("extra_questions")
			w.b = append(w.b, '[')
			for i, q := range m.Questions[1:] {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				qw := objWriter{b: append(w.b, '{')}
				qw.wire("name", q.Name)
				qw.uint("qtype", uint64(q.Type))
				if q.Class != classIN {
					qw.uint("qclass", uint64(q.Class))
				}
				w.b = append(qw.b, '}')
			}
			w.b = append(w.b, ']')
		}
	}
	if m.OmittedQuestions > 0 {
		w.uint("questions_omitted", uint64(m.OmittedQuestions))
	}
	w.uint("rc", uint64(m.RCode))
	if m.Opcode != 0 {
		w.uint("opcode", uint64(m.Opcode))
	}
	if m.Authoritative {
		w.bool("aa", true)
	}
	if m.Truncated {
		w.bool("tc", true)
	}
	w.key("rr")
	w.b = append(w.b, '[')
	for i := range m.Records {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = m.Records[i].appendJSON(w.b, m.Opcode == OpcodeUpdate)
	}
	w.b = append(w.b, ']')
	if m.OmittedRecords > 0 {
		w.uint("rr_omitted", uint64(m.OmittedRecords))
	}
	if e := m.EDNS; e != nil {
		w.key("edns")
		ew := objWriter{b: append(w.b, '{')}
		ew.uint("udp_size", uint64(e.UDPSize))
		ew.uint("version", uint64(e.Version))
		ew.bool("do", e.DO)
		ew.uint("ext_rcode", uint64(e.ExtRCode))
		if len(e.Options) > 0 {
			ew.key("options")
			ew.b = append(ew.b, '[')
			for i, o := range e.Options {
				if i > 0 {
					ew.b = append(ew.b, ',')
				}
				ow := objWriter{b: append(ew.b, '{')}
				ow.uint("code", uint64(o.Code))
				ow.uint("len", uint64(o.Len))
				ow.hex("data", o.Data)
				ew.b = append(ow.b, '}')
			}
			ew.b = append(ew.b, ']')
		}
		if e.Err != "" {
			ew.str("error", e.Err)
		}
		w.b = append(ew.b, '}')
	}
	if m.CaptureTruncated {
		w.bool("capture_truncated", true)
	}
	if m.Err != "" {
		w.uint("malformed", uint64(m.Unparsed))
		w.str("error", m.Err)
	}
	return append(w.b, '}')
}

// MarshalJSON writes one record object as described on Messages.
func (r Record) MarshalJSON() ([]byte, error) {
	return r.appendJSON(nil, false), nil
}

// appendJSON writes the record; update selects the section names of an
// UPDATE message.
func (r *Record) appendJSON(b []byte, update bool) []byte {
	w := objWriter{b: append(b, '{')}
	w.wire("name", r.Name)
	if update {
		w.str("section", r.Section.updateName())
	} else {
		w.str("section", r.Section.String())
	}
	switch t := r.Type; {
	case r.Malformed:
		w.uint("type", uint64(t))
		w.uint("rdlength", uint64(r.RDLength))
		w.hex("rdata", r.RData)
		w.bool("malformed", true)
	case t == TypeA:
		w.str("a", r.Addr.String())
	case t == TypeAAAA:
		w.str("aaaa", r.Addr.String())
	case t == TypeNS:
		w.wire("ns", r.Target)
	case t == TypeCNAME:
		w.wire("cname", r.Target)
	case t == TypePTR:
		w.wire("ptr", r.Target)
	case t == TypeDNAME:
		w.wire("dname", r.Target)
	case t == TypeMX:
		w.wire("mx", r.Target)
		w.uint("pref", uint64(r.Pref))
	case t == TypeSRV:
		w.wire("srv", r.Target)
		w.uint("priority", uint64(r.Pref))
		w.uint("weight", uint64(r.Weight))
		w.uint("port", uint64(r.Port))
	case t == TypeSOA && r.SOA != nil:
		w.wire("soa", r.Target)
		w.wire("rname", r.SOA.RName)
		w.uint("serial", uint64(r.SOA.Serial))
		w.uint("refresh", uint64(r.SOA.Refresh))
		w.uint("retry", uint64(r.SOA.Retry))
		w.uint("expire", uint64(r.SOA.Expire))
		w.uint("minimum", uint64(r.SOA.Minimum))
	case t == TypeTXT:
		w.wire("txt", strings.Join(r.Strings, ""))
		if len(r.Strings) > 1 {
			w.key("txt_strings")
			w.b = append(w.b, '[')
			for i, s := range r.Strings {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				w.b = jsontext.Append(w.b, s)
			}
			w.b = append(w.b, ']')
		}
	default:
		w.uint("type", uint64(t))
		w.uint("rdlength", uint64(r.RDLength))
		w.hex("rdata", r.RData)
	}
	w.uint("ttl", uint64(r.TTL))
	if r.Class != classIN {
		w.uint("class", uint64(r.Class))
	}
	if r.RDataTruncated {
		w.bool("rdata_truncated", true)
	}
	return append(w.b, '}')
}

// objWriter appends the members of one JSON object, managing the commas.
// Keys are constants of this package and need no escaping.
type objWriter struct {
	b []byte
	n int
}

func (w *objWriter) key(k string) {
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// str writes a value this package produced (ASCII).
func (w *objWriter) str(k, v string) {
	w.key(k)
	w.b = jsontext.Append(w.b, v)
}

// wire writes a value that came from the wire, keeping every byte.
func (w *objWriter) wire(k, v string) {
	w.key(k)
	w.b = jsontext.Append(w.b, v)
}

func (w *objWriter) uint(k string, v uint64) {
	w.key(k)
	w.b = strconv.AppendUint(w.b, v, 10)
}

func (w *objWriter) bool(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

func (w *objWriter) hex(k string, v []byte) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = hex.AppendEncode(w.b, v)
	w.b = append(w.b, '"')
}
