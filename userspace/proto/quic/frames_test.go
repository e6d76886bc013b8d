package quic

import (
	"fmt"
	"strings"
	"testing"
)

// frameLog records what walkFrames visits, as text.
type frameLog []string

func (l *frameLog) crypto(off uint64, data []byte) {
	*l = append(*l, fmt.Sprintf("crypto %d %q", off, data))
}

func (l *frameLog) connectionClose(code, ft uint64, app bool, reason []byte) {
	*l = append(*l, fmt.Sprintf("close %#x %#x %v %q", code, ft, app, reason))
}

func TestWalkFrames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gquic bool
		in    string // hex
		want  []string
		err   string // substring of the error, "" for none
	}{
		{name: "padding ping crypto", in: "0000 01 06 00 03 616263 0000",
			want: []string{`crypto 0 "abc"`}},
		{name: "crypto with 2-byte offset", in: "06 4102 02 7a7a",
			want: []string{`crypto 258 "zz"`}},
		{name: "ack then crypto", in: "02 05 00 00 01 06 00 01 61",
			want: []string{`crypto 0 "a"`}},
		{name: "ack with ranges and ECN counts", in: "03 20 01 02 03 01 01 01 01 05 06 07 06 00 01 62",
			want: []string{`crypto 0 "b"`}},
		{name: "ack cut short", in: "03 20 01 02 03 01", err: "truncated"},
		{name: "ack with absurd range count", in: "02 05 00 8000ffff 00", err: "ranges"},
		{name: "connection close", in: "1c 4178 06 05 68656c6c6f",
			want: []string{`close 0x178 0x6 false "hello"`}},
		{name: "application close", in: "1d 0a 00",
			want: []string{`close 0xa 0x0 true ""`}},
		{name: "close reason past the end", in: "1c 01 00 09 6869", err: "truncated"},
		{name: "crypto data past the end", in: "06 00 09 6162", err: "truncated"},
		{name: "crypto length missing", in: "06 00", err: "truncated"},
		{name: "stream frame ends the walk", in: "06 00 01 61 08 00 00 06 01 01 62",
			want: []string{`crypto 0 "a"`}, err: "not expected"},
		{name: "frame type varint cut", in: "40", err: "truncated"},
		{name: "gQUIC crypto, ping, padding", gquic: true, in: "07 08 00 02 6869 00 ffff",
			want: []string{`crypto 0 "hi"`}},
		{name: "gQUIC close", gquic: true, in: "02 00000010 0003 626164",
			want: []string{`close 0x10 0x0 false "bad"`}},
		{name: "gQUIC close cut", gquic: true, in: "02 000000", err: "truncated"},
		{name: "gQUIC close reason cut", gquic: true, in: "02 00000010 0009 62", err: "truncated"},
		{name: "gQUIC crypto cut", gquic: true, in: "08 00 05 61", err: "truncated"},
		{name: "gQUIC crypto offset cut", gquic: true, in: "08 40", err: "truncated"},
		{name: "gQUIC ack stops", gquic: true, in: "08 00 01 61 45 00", want: []string{`crypto 0 "a"`}, err: "not expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got frameLog
			err := walkFrames(unhex(t, tc.in), tc.gquic, &got)
			if fmt.Sprint(got) != fmt.Sprint(frameLog(tc.want)) {
				t.Errorf("frames %q, want %q", got, tc.want)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}
