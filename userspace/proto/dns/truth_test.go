package dns

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
	"github.com/flowjoy/flowjoy/userspace/proto/internal/pcaptest"
)

// truthFile is the part of a /work/shared/pcaps/truth JSON this test reads
// (testdata/truth holds copies trimmed to it; see testdata/SOURCES).
type truthFile struct {
	Flows []struct {
		pcaptest.TruthFlow
		DNS []truthDNS
	}
}

// truthDNS is tshark 4.0's dissection of one DNS message.
type truthDNS struct {
	Frame       int
	Dir         string
	ID          string
	Response    bool
	Opcode      int
	RCode       *int
	Truncated   bool
	QName       []string
	QType       []int
	AnswerCount int      `json:"answer_count"`
	RRName      []string `json:"rr_name"`
	RRType      []int    `json:"rr_type"`
	RRTTL       []uint32 `json:"rr_ttl"`
	A           []string
	AAAA        []string
	CNAME       []string
	TXT         []string
	MX          []string
	MXPref      []int `json:"mx_pref"`
	PTR         []string
	SRV         []string
}

// Known, explained differences between tshark and this parser, by capture
// and frame. Each names what differs and why this parser is right (or at
// least not wrong) there.
var truthExceptions = map[string]string{
	"zeek/dns/dns-edns-bad-length.pcap#1": "the OPT record's rdata (1 octet) is too short for an option header; " +
		"tshark stops reading the message there, but the record framing (rdlength) is intact, so we report " +
		"edns.error and go on to read the A record that follows (203.0.113.7)",
}

func TestAgainstTshark(t *testing.T) {
	compared := 0
	pcaptest.EachTruth(t, "testdata/truth", "testdata/captures", func(t *testing.T, rel string, truth *truthFile, flows []*pcaptest.Flow) {
		for _, tflow := range truth.Flows {
			if tflow.Proto != "udp" && tflow.Proto != "tcp" {
				// DNS quoted inside ICMP errors: not a DNS flow.
				continue
			}
			src, dst := tflow.Endpoints()
			f := pcaptest.Find(flows, tflow.Proto, src, dst)
			if f == nil {
				t.Errorf("flow %s %v -> %v not in capture", tflow.Proto, src, dst)
				continue
			}
			msgs, frames := runFlow(f)
			ctx := fmt.Sprintf("%s %v->%v", tflow.Proto, src, dst)
			compared += compareFlow(t, ctx, rel, tflow.DNS, msgs, frames, f.Proto == "udp")
		}
	})
	t.Logf("%d DNS messages compared with tshark", compared)
	if compared < 100 {
		t.Errorf("only %d messages compared; the truth set should give several hundred", compared)
	}
}

// runFlow feeds a flow to a parser as the pipeline would and returns the
// messages with, for UDP, the frame each came from.
func runFlow(f *pcaptest.Flow) ([]Message, []int) {
	var p *Parser
	var frames []int
	if f.Proto == "udp" {
		p = NewUDP()
		for _, e := range f.Events {
			p.Datagram(e.Dir, e.Data, e.Truncated, e.TS)
			frames = append(frames, e.Frame)
		}
	} else {
		p = NewTCP()
		f.Replay(p)
	}
	_, v := p.Report()
	if v == nil {
		return nil, frames
	}
	return v.(Messages).List, frames
}

// compareFlow compares tshark's messages of one flow with ours and returns
// how many were compared. UDP messages pair by frame; TCP ones by order.
func compareFlow(t *testing.T, ctx, file string, truth []truthDNS, ours []Message, frames []int, udp bool) int {
	t.Helper()
	byFrame := map[int]*Message{}
	for i := range ours {
		if udp {
			byFrame[frames[i]] = &ours[i]
		}
	}
	n := 0
	for i, tm := range truth {
		var m *Message
		if udp {
			m = byFrame[tm.Frame]
		} else if i < len(ours) {
			m = &ours[i]
		}
		where := fmt.Sprintf("%s frame %d", ctx, tm.Frame)
		if reason, ok := truthExceptions[fmt.Sprintf("%s#%d", file, tm.Frame)]; ok {
			t.Logf("%s: skipped: %s", where, reason)
			continue
		}
		if m == nil {
			t.Errorf("%s: tshark has a DNS message, we have none", where)
			continue
		}
		compareMessage(t, where, tm, m)
		n++
	}
	return n
}

func compareMessage(t *testing.T, where string, tm truthDNS, m *Message) {
	t.Helper()
	eq := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s = %v, tshark %v (our error: %q)", where, what, got, want, m.Err)
		}
	}
	id, err := strconv.ParseUint(strings.TrimPrefix(tm.ID, "0x"), 16, 16)
	if err != nil {
		t.Fatalf("%s: truth id %q: %v", where, tm.ID, err)
	}
	if wantDir := map[string]proto.Dir{">": proto.Out, "<": proto.In}[tm.Dir]; m.Dir != wantDir {
		eq("dir", m.Dir, wantDir)
	}
	eq("id", uint64(m.ID), id)
	eq("response", m.Response, tm.Response)
	eq("opcode", int(m.Opcode), tm.Opcode)
	if tm.RCode != nil {
		eq("rcode", int(m.RCode), *tm.RCode)
	}
	eq("tc", m.Truncated, tm.Truncated)

	// tshark lists what it could decode; a placeholder like "<Name contains
	// a pointer that loops>" marks where it stopped, and we must have
	// stopped there with an error too.
	var qn []string
	var qt []int
	for _, q := range m.Questions {
		qn = append(qn, tsharkName(q.Name))
		qt = append(qt, int(q.Type))
	}
	tq := tm.QName
	if k := placeholder(tq); k >= 0 {
		if m.Err == "" || !strings.HasPrefix(m.Err, "question") {
			t.Errorf("%s: tshark stopped at question %d (%s), we report no question error (%q)", where, k+1, tq[k], m.Err)
		}
		tq = tq[:k]
	}
	eq("question names", nilIfEmpty(qn), nilIfEmpty(tq))
	eq("question types", nilIfEmpty(qt[:min(len(qt), len(tm.QType))]), nilIfEmpty(tm.QType[:min(len(tq), len(tm.QType))]))

	// Records: tshark's rr lists include the OPT pseudo-record (type 41,
	// no TTL) that we report as "edns".
	var tNames []string
	var tTypes []int
	optSeen := false
	// tshark 4.0 leaves rr_name short for record types whose owner name
	// it does not export (RRSIG, NSEC in dns_notify2): compare names only
	// when both lists line up.
	namesComparable := len(tm.RRName) == len(tm.RRType)
	for i, typ := range tm.RRType {
		if typ == TypeOPT && m.EDNS != nil && !optSeen {
			optSeen = true
			continue
		}
		if namesComparable {
			tNames = append(tNames, tm.RRName[i])
		}
		tTypes = append(tTypes, typ)
	}
	var names, a, aaaa, cname, mx, ptr, srv, txt []string
	var types, mxPref []int
	var ttls []uint32
	for _, r := range m.Records {
		names = append(names, tsharkName(r.Name))
		types = append(types, int(r.Type))
		if r.Type != TypeOPT {
			ttls = append(ttls, r.TTL)
		}
		if r.Malformed {
			continue
		}
		switch r.Type {
		case TypeA:
			a = append(a, r.Addr.String())
		case TypeAAAA:
			aaaa = append(aaaa, r.Addr.String())
		case TypeCNAME:
			cname = append(cname, tsharkName(r.Target))
		case TypeMX:
			mx = append(mx, tsharkName(r.Target))
			mxPref = append(mxPref, int(r.Pref))
		case TypePTR:
			ptr = append(ptr, tsharkName(r.Target))
		case TypeSRV:
			srv = append(srv, tsharkName(r.Target))
		case TypeTXT:
			txt = append(txt, r.Strings...)
		}
	}
	if m.OmittedRecords > 0 {
		t.Errorf("%s: %d records omitted; raise the bound or pick another capture", where, m.OmittedRecords)
	}
	if namesComparable {
		eq("record names", nilIfEmpty(names), nilIfEmpty(tNames))
	}
	// tshark 4.0 exports the types of an NSEC type bitmap in the same
	// rr_type field, so its list is longer whenever an NSEC (47) is there.
	if !slices.Contains(tm.RRType, 47) {
		eq("record types", nilIfEmpty(types), nilIfEmpty(tTypes))
	}
	eq("ttls", nilIfEmpty(ttls), nilIfEmpty(tm.RRTTL))
	eq("a", nilIfEmpty(a), nilIfEmpty(tm.A))
	eq("aaaa", nilIfEmpty(aaaa), nilIfEmpty(tm.AAAA))
	eq("cname", nilIfEmpty(cname), nilIfEmpty(tm.CNAME))
	eq("mx", nilIfEmpty(mx), nilIfEmpty(tm.MX))
	eq("mx_pref", nilIfEmpty(mxPref), nilIfEmpty(tm.MXPref))
	eq("ptr", nilIfEmpty(ptr), nilIfEmpty(tm.PTR))
	eq("srv", nilIfEmpty(srv), nilIfEmpty(tm.SRV))
	eq("txt", nilIfEmpty(txt), nilIfEmpty(tm.TXT))
	// tshark's answer_count is the prerequisite count in an UPDATE.
	if m.Err == "" && m.Opcode != OpcodeUpdate {
		answers := 0
		for _, r := range m.Records {
			if r.Section == Answer {
				answers++
			}
		}
		eq("answers", answers, tm.AnswerCount)
	}
}

// tsharkName writes our presentation name the way tshark 4.0 prints it.
func tsharkName(s string) string {
	if s == "." {
		return "<Root>"
	}
	return s
}

func placeholder(names []string) int {
	for i, n := range names {
		if strings.HasPrefix(n, "<") && n != "<Root>" {
			return i
		}
	}
	return -1
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// What the one exception above asserts instead of tshark's reading.
func TestEDNSBadLengthCapture(t *testing.T) {
	flows := pcaptest.Read(t, "testdata/captures/zeek/dns/dns-edns-bad-length.pcap")
	if len(flows) != 1 {
		t.Fatalf("%d flows, want 1", len(flows))
	}
	msgs, _ := runFlow(flows[0])
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Err != "" || m.EDNS == nil || m.EDNS.UDPSize != 4096 || !strings.Contains(m.EDNS.Err, "option header cut short") {
		t.Errorf("message %+v: want no message error and an EDNS (udp 4096) with an option error", m)
	}
	if len(m.Records) != 1 || m.Records[0].Section != Additional || m.Records[0].Addr != netip.MustParseAddr("203.0.113.7") || m.Records[0].TTL != 60 {
		t.Errorf("records %+v: want the additional A 203.0.113.7 ttl 60 after the OPT", m.Records)
	}
}
