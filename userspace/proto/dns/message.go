package dns

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// Record types decoded into named values. Every other type is reported
// with its number and its rdata in hex.
const (
	TypeA     = 1
	TypeNS    = 2
	TypeCNAME = 5
	TypeSOA   = 6
	TypePTR   = 12
	TypeMX    = 15
	TypeTXT   = 16
	TypeAAAA  = 28
	TypeSRV   = 33
	TypeDNAME = 39
	TypeOPT   = 41
)

const classIN = 1

// Bounds on what one message keeps. A message is at most 64 KiB, so the
// loops are bounded by its length anyway (every question takes at least 5
// octets, every record 11); these keep one flow's record small.
const (
	// MaxRecords is how many resource records (all sections together,
	// questions separately) a message keeps; the rest are counted.
	MaxRecords = 64
	// MaxRDataKept is how many octets of undecoded rdata are kept (hex).
	MaxRDataKept = 128
	// MaxTXTKept is how many octets of TXT text a record keeps.
	MaxTXTKept = 1024
	// MaxEDNSOptionKept is how many octets of one EDNS option's data are kept.
	MaxEDNSOptionKept = 64
	// maxEDNSOptions bounds the options kept from one OPT record.
	maxEDNSOptions = 16
	// MaxFlowBytes bounds what the questions and records of all the
	// messages of a flow keep together (names, rdata, text): past it,
	// they are counted as omitted, except each message's first question.
	// Without it a flow of MaxMessages crafted 64 KiB messages could hold
	// megabytes.
	MaxFlowBytes = 64 << 10
	// recordOverhead is what a kept record or question is charged beyond
	// its strings and rdata.
	recordOverhead = 16
)

// Section says which part of a message a record came from.
type Section uint8

const (
	Answer Section = iota + 1
	Authority
	Additional
)

// OpcodeUpdate is the opcode of a dynamic update (RFC 2136), whose
// sections are named zone, prerequisite, update and additional.
const OpcodeUpdate = 5

// String returns the name used in the record's "section" key.
func (s Section) String() string {
	switch s {
	case Answer:
		return "answer"
	case Authority:
		return "authority"
	case Additional:
		return "additional"
	}
	return ""
}

// updateName is the section's name in an UPDATE message.
func (s Section) updateName() string {
	switch s {
	case Answer:
		return "prerequisite"
	case Authority:
		return "update"
	}
	return s.String()
}

// Message is one DNS message as the parser understood it. A message that
// could not be parsed to its end keeps what came before the problem, and
// Err says what the problem was.
type Message struct {
	Dir           proto.Dir
	ID            uint16
	Response      bool // QR bit: the name is reported as "rn" rather than "qn"
	Opcode        uint8
	Authoritative bool // AA
	Truncated     bool // TC: the sender truncated the message (retry over TCP)
	RCode         uint8
	Questions     []Question
	// OmittedQuestions counts questions past MaxRecords or MaxFlowBytes.
	OmittedQuestions int
	// Records holds the answer, authority and additional records in wire
	// order, except the OPT pseudo-record, which is EDNS.
	Records []Record
	// OmittedRecords counts records past MaxRecords or MaxFlowBytes.
	OmittedRecords int
	// EDNS is the OPT record's content, nil when the message had none.
	EDNS *EDNS
	// CaptureTruncated says the capture held only a prefix of the message
	// (snap length, or bytes missing from a TCP stream).
	CaptureTruncated bool
	// Err is why parsing stopped before the end of the message; empty
	// when the whole message was read. Unparsed is how many octets were
	// left at that point (Joy's "malformed" value).
	Err      string
	Unparsed int
}

// Question is one entry of the question section.
type Question struct {
	Name  string // presentation format, see readName
	Type  uint16
	Class uint16
}

// Record is one resource record. Which fields are set depends on Type;
// when the rdata could not be decoded as Type says (wrong length, bad
// name), Malformed is set and RData holds the raw octets instead.
type Record struct {
	Section Section
	Name    string
	Type    uint16
	Class   uint16
	TTL     uint32

	Addr   netip.Addr // A, AAAA
	Target string     // NS, CNAME, PTR, DNAME, MX exchange, SRV target, SOA mname
	// MX preference, or SRV priority.
	Pref uint16
	// SRV weight and port.
	Weight, Port uint16
	// TXT character-strings, in order.
	Strings []string
	SOA     *SOA

	// RDLength is the rdata length on the wire; RData holds its first
	// MaxRDataKept octets for types not decoded above.
	RDLength       uint16
	RData          []byte
	RDataTruncated bool // RData or Strings hold less than the wire had
	Malformed      bool
}

// SOA holds the SOA fields after MNAME (which is Record.Target).
type SOA struct {
	RName                                   string
	Serial, Refresh, Retry, Expire, Minimum uint32
}

// EDNS is the content of an OPT pseudo-record (RFC 6891).
type EDNS struct {
	UDPSize  uint16 // requestor's UDP payload size (the OPT class)
	ExtRCode uint8  // upper 8 bits of the extended RCODE
	Version  uint8
	DO       bool // DNSSEC OK
	Options  []EDNSOption
	// Err says why the options could not all be read.
	Err string
}

// EDNSOption is one option of an OPT record. Data keeps at most
// MaxEDNSOptionKept octets; Len is the length on the wire.
type EDNSOption struct {
	Code uint16
	Len  uint16
	Data []byte
}

// parseMessage decodes one DNS message. It never fails as a whole: what
// could not be read is recorded in m.Err, and everything before it is kept.
// kept is what the flow has kept so far (see MaxFlowBytes); parseMessage
// adds what this message keeps.
func parseMessage(msg []byte, dir proto.Dir, captureTruncated bool, kept *int) Message {
	m := Message{Dir: dir, CaptureTruncated: captureTruncated}
	if len(msg) < 12 {
		m.Err = fmt.Sprintf("header: %d octets, need 12", len(msg))
		m.Unparsed = len(msg)
		return m
	}
	m.ID = binary.BigEndian.Uint16(msg[0:])
	flags := binary.BigEndian.Uint16(msg[2:])
	m.Response = flags&0x8000 != 0
	m.Opcode = uint8(flags>>11) & 0xf
	m.Authoritative = flags&0x0400 != 0
	m.Truncated = flags&0x0200 != 0
	m.RCode = uint8(flags & 0xf)
	qd := int(binary.BigEndian.Uint16(msg[4:]))
	counts := [3]int{
		int(binary.BigEndian.Uint16(msg[6:])),
		int(binary.BigEndian.Uint16(msg[8:])),
		int(binary.BigEndian.Uint16(msg[10:])),
	}

	off := 12
	fail := func(format string, args ...any) Message {
		m.Err = fmt.Sprintf(format, args...)
		m.Unparsed = len(msg) - off
		return m
	}
	for i := range qd {
		name, next, err := readName(msg, off)
		if err != nil {
			return fail("question %d of %d: %v", i+1, qd, err)
		}
		if next+4 > len(msg) {
			return fail("question %d of %d: type and class cut short", i+1, qd)
		}
		q := Question{
			Name:  name,
			Type:  binary.BigEndian.Uint16(msg[next:]),
			Class: binary.BigEndian.Uint16(msg[next+2:]),
		}
		off = next + 4
		// The first question is kept whatever the budget: it is the
		// message's "qn"/"rn", and at most 64 × ~500 octets per flow.
		if cost := len(q.Name) + recordOverhead; i == 0 || len(m.Questions) < MaxRecords && *kept+cost <= MaxFlowBytes {
			m.Questions = append(m.Questions, q)
			*kept += cost
		} else {
			m.OmittedQuestions++
		}
	}
	for s, n := range counts {
		sec := Section(s + 1)
		for i := range n {
			if err := m.parseRecord(msg, &off, sec, kept); err != nil {
				return fail("%s %d of %d: %v", sec, i+1, n, err)
			}
		}
	}
	// Octets after the last counted record are ignored: resolvers pad,
	// and nothing in them can be attributed to a section.
	return m
}

// parseRecord reads the record at *off and advances *off past its rdata,
// whatever the rdata parser made of it, so a bad rdata cannot desynchronise
// the records that follow.
func (m *Message) parseRecord(msg []byte, off *int, sec Section, kept *int) error {
	name, next, err := readName(msg, *off)
	if err != nil {
		return err
	}
	if next+10 > len(msg) {
		return fmt.Errorf("record header cut short (%d octets left, need 10)", len(msg)-next)
	}
	r := Record{
		Section:  sec,
		Name:     name,
		Type:     binary.BigEndian.Uint16(msg[next:]),
		Class:    binary.BigEndian.Uint16(msg[next+2:]),
		TTL:      binary.BigEndian.Uint32(msg[next+4:]),
		RDLength: binary.BigEndian.Uint16(msg[next+8:]),
	}
	start := next + 10
	end := start + int(r.RDLength)
	if end > len(msg) {
		return fmt.Errorf("rdata of %d octets runs past end of message (%d left)", r.RDLength, len(msg)-start)
	}
	*off = end

	if r.Type == TypeOPT && sec == Additional && m.EDNS == nil {
		m.EDNS = parseOPT(&r, msg[start:end])
		return nil
	}
	if len(m.Records) >= MaxRecords {
		m.OmittedRecords++
		return nil
	}
	if !decodeRData(&r, msg, start, end) {
		r.Malformed = true
		r.Strings, r.SOA, r.Target, r.Addr = nil, nil, "", netip.Addr{}
		keepRaw(&r, msg[start:end])
	}
	cost := r.cost()
	if *kept+cost > MaxFlowBytes {
		m.OmittedRecords++
		return nil
	}
	*kept += cost
	m.Records = append(m.Records, r)
	return nil
}

// cost is what keeping r is charged against MaxFlowBytes.
func (r *Record) cost() int {
	n := recordOverhead + len(r.Name) + len(r.Target) + len(r.RData)
	for _, s := range r.Strings {
		n += len(s)
	}
	if r.SOA != nil {
		n += len(r.SOA.RName)
	}
	return n
}

// decodeRData fills r's typed fields from msg[start:end] and reports
// whether the rdata had the shape its type requires. Names inside rdata
// may point anywhere in msg, but their in-place octets must stay within
// the rdata.
func decodeRData(r *Record, msg []byte, start, end int) bool {
	rd := msg[start:end]
	nameAt := func(off int) (string, int, bool) {
		name, next, err := readName(msg, off)
		if err != nil || next > end {
			return "", 0, false
		}
		return name, next, true
	}
	switch r.Type {
	case TypeA:
		if len(rd) != 4 {
			return false
		}
		r.Addr = netip.AddrFrom4([4]byte(rd))
	case TypeAAAA:
		if len(rd) != 16 {
			return false
		}
		r.Addr = netip.AddrFrom16([16]byte(rd))
	case TypeNS, TypeCNAME, TypePTR, TypeDNAME:
		name, _, ok := nameAt(start)
		if !ok {
			return false
		}
		r.Target = name
	case TypeMX:
		if len(rd) < 3 {
			return false
		}
		name, _, ok := nameAt(start + 2)
		if !ok {
			return false
		}
		r.Pref = binary.BigEndian.Uint16(rd)
		r.Target = name
	case TypeSRV:
		if len(rd) < 7 {
			return false
		}
		name, _, ok := nameAt(start + 6)
		if !ok {
			return false
		}
		r.Pref = binary.BigEndian.Uint16(rd)
		r.Weight = binary.BigEndian.Uint16(rd[2:])
		r.Port = binary.BigEndian.Uint16(rd[4:])
		r.Target = name
	case TypeSOA:
		mname, next, ok := nameAt(start)
		if !ok {
			return false
		}
		rname, next, ok := nameAt(next)
		if !ok || next+20 > end {
			return false
		}
		f := msg[next:]
		r.Target = mname
		r.SOA = &SOA{
			RName:   rname,
			Serial:  binary.BigEndian.Uint32(f),
			Refresh: binary.BigEndian.Uint32(f[4:]),
			Retry:   binary.BigEndian.Uint32(f[8:]),
			Expire:  binary.BigEndian.Uint32(f[12:]),
			Minimum: binary.BigEndian.Uint32(f[16:]),
		}
	case TypeTXT:
		kept := 0
		for i := 0; i < len(rd); {
			n := int(rd[i])
			if i+1+n > len(rd) {
				return false
			}
			s := rd[i+1 : i+1+n]
			i += 1 + n
			if kept+len(s) > MaxTXTKept {
				s = s[:MaxTXTKept-kept]
				r.RDataTruncated = true
			}
			kept += len(s)
			r.Strings = append(r.Strings, string(s))
			if r.RDataTruncated {
				break
			}
		}
	default:
		keepRaw(r, rd)
	}
	return true
}

func keepRaw(r *Record, rd []byte) {
	n := min(len(rd), MaxRDataKept)
	r.RData = append([]byte(nil), rd[:n]...)
	r.RDataTruncated = n < len(rd)
}

// parseOPT decodes the OPT pseudo-record r with rdata rd.
func parseOPT(r *Record, rd []byte) *EDNS {
	e := &EDNS{
		UDPSize:  r.Class,
		ExtRCode: uint8(r.TTL >> 24),
		Version:  uint8(r.TTL >> 16),
		DO:       r.TTL&0x8000 != 0,
	}
	for i := 0; i < len(rd); {
		if i+4 > len(rd) {
			e.Err = fmt.Sprintf("option header cut short at rdata offset %d", i)
			break
		}
		o := EDNSOption{
			Code: binary.BigEndian.Uint16(rd[i:]),
			Len:  binary.BigEndian.Uint16(rd[i+2:]),
		}
		data := rd[i+4:]
		if int(o.Len) > len(data) {
			e.Err = fmt.Sprintf("option %d: length %d runs past rdata (%d left)", o.Code, o.Len, len(data))
			break
		}
		data = data[:o.Len]
		i += 4 + int(o.Len)
		if len(e.Options) == maxEDNSOptions {
			continue
		}
		o.Data = append([]byte(nil), data[:min(len(data), MaxEDNSOptionKept)]...)
		e.Options = append(e.Options, o)
	}
	return e
}
