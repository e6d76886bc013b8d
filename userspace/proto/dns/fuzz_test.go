package dns

import (
	"encoding/json"
	"reflect"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
	"github.com/flowjoy/flowjoy/userspace/proto"
)

// The seed corpora in testdata/fuzz/ are real messages taken from the
// captures in testdata/captures (see testdata/SOURCES).

// FuzzDNSMessage: any octets give a message (possibly with Err) whose JSON
// is valid, within the bounds, and the same on every parse.
func FuzzDNSMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m := parseMessage(data, proto.In, false, new(int))
		if len(m.Records) > MaxRecords || len(m.Questions) > MaxRecords {
			t.Fatalf("%d records, %d questions: over the bound %d", len(m.Records), len(m.Questions), MaxRecords)
		}
		if m.Err == "" && m.Unparsed != 0 {
			t.Fatalf("Unparsed %d without an error", m.Unparsed)
		}
		for _, r := range m.Records {
			if len(r.RData) > MaxRDataKept {
				t.Fatalf("rdata of %d octets kept, bound %d", len(r.RData), MaxRDataKept)
			}
		}
		out, err := json.Marshal(Messages{List: []Message{m}})
		if err != nil || !json.Valid(out) {
			t.Fatalf("invalid JSON (%v): %s", err, out)
		}
		if err := jsontext.AppenderMatches(Messages{List: []Message{m}}); err != nil {
			t.Fatal(err)
		}
		if again := parseMessage(data, proto.In, false, new(int)); !reflect.DeepEqual(again, m) {
			t.Fatalf("second parse differs")
		}
	})
}

// FuzzDNSTCP: how a stream is cut into Data calls must not change what is
// parsed, and a gap in both directions makes the parser done.
func FuzzDNSTCP(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		whole := NewTCP()
		whole.Data(proto.Out, stream, 0)

		split := NewTCP()
		c := 0
		if len(stream) > 0 {
			c = int(cut) % (len(stream) + 1)
		}
		split.Data(proto.Out, stream[:c], 0)
		split.Data(proto.Out, stream[c:], 0)
		if !reflect.DeepEqual(whole.msgs, split.msgs) || whole.omitted != split.omitted {
			t.Fatalf("split at %d changes the result", c)
		}
		if len(stream) <= 1024 {
			bytewise := NewTCP()
			for i := range stream {
				bytewise.Data(proto.Out, stream[i:i+1], 0)
			}
			if !reflect.DeepEqual(whole.msgs, bytewise.msgs) {
				t.Fatalf("octet-by-octet delivery changes the result")
			}
		}
		whole.Gap(proto.Out)
		whole.Gap(proto.In)
		if !whole.Done() {
			t.Fatal("not done after gaps in both directions")
		}
		_, v := whole.Report()
		if v != nil {
			out, err := json.Marshal(v)
			if err != nil || !json.Valid(out) {
				t.Fatalf("invalid JSON (%v): %s", err, out)
			}
			if err := jsontext.AppenderMatches(v); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func benchResponse(b *testing.B) []byte {
	return build(b, response, q("www.example.com.", dnsmessage.TypeA),
		answers(
			cnameRR("www.example.com.", 300, "www.example.com.cdn.example.net."),
			aRR("www.example.com.cdn.example.net.", 20, "192.0.2.10"),
			aRR("www.example.com.cdn.example.net.", 20, "192.0.2.11"),
		),
		additionals(func(b *dnsmessage.Builder) error {
			var h dnsmessage.ResourceHeader
			if err := h.SetEDNS0(1232, dnsmessage.RCodeSuccess, false); err != nil {
				return err
			}
			return b.OPTResource(h, dnsmessage.OPTResource{})
		}))
}

// BenchmarkParseResponse: a typical resolver answer (CNAME, two A, OPT).
func BenchmarkParseResponse(b *testing.B) {
	msg := benchResponse(b)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		p := NewUDP()
		p.Datagram(proto.In, msg, false, 0)
	}
}

// BenchmarkMarshalResponse: the JSON of the same answer.
func BenchmarkMarshalResponse(b *testing.B) {
	ms := Messages{List: []Message{parseMessage(benchResponse(b), proto.In, false, new(int))}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ms.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
