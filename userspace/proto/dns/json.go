package dns

import (
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
	w := jsontext.ObjectWriter{B: append(b, '{')}
	if m.Dir == proto.Out {
		w.Wire("dir", ">")
	} else {
		w.Wire("dir", "<")
	}
	w.Uint("id", uint64(m.ID))
	if len(m.Questions) > 0 {
		q := m.Questions[0]
		if m.Response {
			w.Wire("rn", q.Name)
		} else {
			w.Wire("qn", q.Name)
		}
		w.Uint("qtype", uint64(q.Type))
		if q.Class != classIN {
			w.Uint("qclass", uint64(q.Class))
		}
		if len(m.Questions) > 1 {
			w.Key("extra_questions")
			w.B = append(w.B, '[')
			for i, q := range m.Questions[1:] {
				if i > 0 {
					w.B = append(w.B, ',')
				}
				qw := jsontext.ObjectWriter{B: append(w.B, '{')}
				qw.Wire("name", q.Name)
				qw.Uint("qtype", uint64(q.Type))
				if q.Class != classIN {
					qw.Uint("qclass", uint64(q.Class))
				}
				w.B = append(qw.B, '}')
			}
			w.B = append(w.B, ']')
		}
	}
	if m.OmittedQuestions > 0 {
		w.Uint("questions_omitted", uint64(m.OmittedQuestions))
	}
	w.Uint("rc", uint64(m.RCode))
	if m.Opcode != 0 {
		w.Uint("opcode", uint64(m.Opcode))
	}
	if m.Authoritative {
		w.Bool("aa", true)
	}
	if m.Truncated {
		w.Bool("tc", true)
	}
	w.Key("rr")
	w.B = append(w.B, '[')
	for i := range m.Records {
		if i > 0 {
			w.B = append(w.B, ',')
		}
		w.B = m.Records[i].appendJSON(w.B, m.Opcode == OpcodeUpdate)
	}
	w.B = append(w.B, ']')
	if m.OmittedRecords > 0 {
		w.Uint("rr_omitted", uint64(m.OmittedRecords))
	}
	if e := m.EDNS; e != nil {
		w.Key("edns")
		ew := jsontext.ObjectWriter{B: append(w.B, '{')}
		ew.Uint("udp_size", uint64(e.UDPSize))
		ew.Uint("version", uint64(e.Version))
		ew.Bool("do", e.DO)
		ew.Uint("ext_rcode", uint64(e.ExtRCode))
		if len(e.Options) > 0 {
			ew.Key("options")
			ew.B = append(ew.B, '[')
			for i, o := range e.Options {
				if i > 0 {
					ew.B = append(ew.B, ',')
				}
				ow := jsontext.ObjectWriter{B: append(ew.B, '{')}
				ow.Uint("code", uint64(o.Code))
				ow.Uint("len", uint64(o.Len))
				ow.Hex("data", o.Data)
				ew.B = append(ow.B, '}')
			}
			ew.B = append(ew.B, ']')
		}
		if e.Err != "" {
			ew.Wire("error", e.Err)
		}
		w.B = append(ew.B, '}')
	}
	if m.CaptureTruncated {
		w.Bool("capture_truncated", true)
	}
	if m.Err != "" {
		w.Uint("malformed", uint64(m.Unparsed))
		w.Wire("error", m.Err)
	}
	return append(w.B, '}')
}

// MarshalJSON writes one record object as described on Messages.
func (r Record) MarshalJSON() ([]byte, error) {
	return r.appendJSON(nil, false), nil
}

// appendJSON writes the record; update selects the section names of an
// UPDATE message.
func (r *Record) appendJSON(b []byte, update bool) []byte {
	w := jsontext.ObjectWriter{B: append(b, '{')}
	w.Wire("name", r.Name)
	if update {
		w.Wire("section", r.Section.updateName())
	} else {
		w.Wire("section", r.Section.String())
	}
	switch t := r.Type; {
	case r.Malformed:
		w.Uint("type", uint64(t))
		w.Uint("rdlength", uint64(r.RDLength))
		w.Hex("rdata", r.RData)
		w.Bool("malformed", true)
	case t == TypeA:
		w.Wire("a", r.Addr.String())
	case t == TypeAAAA:
		w.Wire("aaaa", r.Addr.String())
	case t == TypeNS:
		w.Wire("ns", r.Target)
	case t == TypeCNAME:
		w.Wire("cname", r.Target)
	case t == TypePTR:
		w.Wire("ptr", r.Target)
	case t == TypeDNAME:
		w.Wire("dname", r.Target)
	case t == TypeMX:
		w.Wire("mx", r.Target)
		w.Uint("pref", uint64(r.Pref))
	case t == TypeSRV:
		w.Wire("srv", r.Target)
		w.Uint("priority", uint64(r.Pref))
		w.Uint("weight", uint64(r.Weight))
		w.Uint("port", uint64(r.Port))
	case t == TypeSOA && r.SOA != nil:
		w.Wire("soa", r.Target)
		w.Wire("rname", r.SOA.RName)
		w.Uint("serial", uint64(r.SOA.Serial))
		w.Uint("refresh", uint64(r.SOA.Refresh))
		w.Uint("retry", uint64(r.SOA.Retry))
		w.Uint("expire", uint64(r.SOA.Expire))
		w.Uint("minimum", uint64(r.SOA.Minimum))
	case t == TypeTXT:
		w.Wire("txt", strings.Join(r.Strings, ""))
		if len(r.Strings) > 1 {
			w.Key("txt_strings")
			w.B = append(w.B, '[')
			for i, s := range r.Strings {
				if i > 0 {
					w.B = append(w.B, ',')
				}
				w.B = jsontext.Append(w.B, s)
			}
			w.B = append(w.B, ']')
		}
	default:
		w.Uint("type", uint64(t))
		w.Uint("rdlength", uint64(r.RDLength))
		w.Hex("rdata", r.RData)
	}
	w.Uint("ttl", uint64(r.TTL))
	if r.Class != classIN {
		w.Uint("class", uint64(r.Class))
	}
	if r.RDataTruncated {
		w.Bool("rdata_truncated", true)
	}
	return append(w.B, '}')
}
