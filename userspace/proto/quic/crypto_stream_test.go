package quic

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestCryptoStream(t *testing.T) {
	type frame struct {
		off  int
		data string
	}
	for _, tc := range []struct {
		name   string
		frames []frame
		// ready is what each add returns, in order ("" for nothing).
		ready []string
		// pending is the number of held out-of-order ranges at the end.
		pending int
	}{
		{"in order", []frame{{0, "abc"}, {3, "def"}}, []string{"abc", "def"}, 0},
		{"reversed", []frame{{6, "ghi"}, {3, "def"}, {0, "abc"}}, []string{"", "", "abcdefghi"}, 0},
		{"gap stays pending", []frame{{0, "ab"}, {5, "fg"}}, []string{"ab", ""}, 1},
		{"retransmission of delivered bytes", []frame{{0, "abcd"}, {0, "abcd"}, {2, "cd"}}, []string{"abcd", "", ""}, 0},
		{"retransmission overlapping the end", []frame{{0, "abcd"}, {2, "cdef"}}, []string{"abcd", "ef"}, 0},
		{"overlapping out of order", []frame{{4, "efgh"}, {2, "cdef"}, {0, "ab"}}, []string{"", "", "abcdefgh"}, 0},
		{"empty frame", []frame{{0, ""}, {0, "a"}}, []string{"", "a"}, 0},
		{"empty frame far out", []frame{{1000, ""}, {0, "a"}}, []string{"", "a"}, 0},
		{"pieces merge", []frame{{2, "c"}, {4, "e"}, {3, "d"}, {0, "ab"}}, []string{"", "", "", "abcde"}, 0},
		{"superset covers pending", []frame{{3, "d"}, {5, "f"}, {1, "bcdefg"}, {0, "a"}}, []string{"", "", "", "abcdefg"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s cryptoStream
			var all string
			for i, f := range tc.frames {
				got, err := s.add(uint64(f.off), []byte(f.data))
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if string(got) != tc.ready[i] {
					t.Errorf("frame %d: ready %q, want %q", i, got, tc.ready[i])
				}
				all += string(got)
			}
			if s.delivered != len(all) {
				t.Errorf("delivered = %d, want %d", s.delivered, len(all))
			}
			if len(s.pending) != tc.pending {
				t.Errorf("pending = %v, want %d ranges", s.pending, tc.pending)
			}
		})
	}
}

// TestCryptoStreamFirstWins: where frames disagree, the bytes first
// received stay; a later frame only fills holes.
func TestCryptoStreamFirstWins(t *testing.T) {
	var s cryptoStream
	for _, f := range []struct {
		off  uint64
		data string
	}{{2, "CD"}, {6, "GH"}, {1, "xxxxxxxxx"}} {
		if _, err := s.add(f.off, []byte(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.add(0, []byte("?yyyyyyyyyyyy"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "?xCDxxGHxxyyy"; string(got) != want {
		t.Errorf("stream = %q, want %q", got, want)
	}
}

func TestCryptoStreamLimits(t *testing.T) {
	t.Run("offset past the limit", func(t *testing.T) {
		var s cryptoStream
		if _, err := s.add(MaxCryptoBytes, []byte("x")); !errors.Is(err, errCryptoLimit) {
			t.Fatalf("err = %v, want errCryptoLimit", err)
		}
		// Once failed, the stream takes nothing, even valid data.
		if got, err := s.add(0, []byte("abc")); err == nil || got != nil {
			t.Errorf("after failure: %q, %v", got, err)
		}
	})
	t.Run("huge varint offset", func(t *testing.T) {
		var s cryptoStream
		if _, err := s.add(1<<62-1, []byte("x")); !errors.Is(err, errCryptoLimit) {
			t.Fatalf("err = %v, want errCryptoLimit", err)
		}
	})
	t.Run("exactly the limit", func(t *testing.T) {
		var s cryptoStream
		data := bytes.Repeat([]byte{7}, MaxCryptoBytes)
		got, err := s.add(0, data)
		if err != nil || len(got) != MaxCryptoBytes {
			t.Fatalf("add = %d bytes, %v", len(got), err)
		}
		if cap(s.buf) > MaxCryptoBytes {
			t.Errorf("buffer capacity %d past the limit", cap(s.buf))
		}
	})
	t.Run("too many pieces", func(t *testing.T) {
		var s cryptoStream
		var err error
		for i := 1; i <= maxSpans+1 && err == nil; i++ {
			_, err = s.add(uint64(2*i), []byte("x")) // every other byte: no merging
		}
		if err == nil || !strings.Contains(err.Error(), "pieces") {
			t.Fatalf("err = %v, want a too-many-pieces error", err)
		}
		if !s.failed {
			t.Error("stream not failed")
		}
	})
}

func TestHandshakeTracker(t *testing.T) {
	hrrBody := append([]byte{3, 3}, helloRetryRandom[:]...)
	shBody := append([]byte{3, 3}, bytes.Repeat([]byte{1}, 32)...)
	ch := handshakeMsg(1, bytes.Repeat([]byte{9}, 40))
	for _, tc := range []struct {
		name     string
		stream   []byte
		upto     []int // delivered offsets to update at, in order
		complete int
		hrr      bool
	}{
		{"header only", ch[:4], []int{4}, 0, false},
		{"half a message", ch, []int{20}, 0, false},
		{"whole message at once", ch, []int{len(ch)}, 1, false},
		{"whole message in steps", ch, []int{3, 10, len(ch)}, 1, false},
		{"two messages", concat(ch, ch), []int{len(ch) + 5, 2 * len(ch)}, 2, false},
		{"server hello", handshakeMsg(2, shBody), []int{38}, 1, false},
		{"hello retry request", handshakeMsg(2, hrrBody), []int{38}, 1, true},
		{"empty message", handshakeMsg(20, nil), []int{4}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr handshakeTracker
			for _, n := range tc.upto {
				tr.update(tc.stream, n)
			}
			if tr.complete != tc.complete || tr.hrr != tc.hrr {
				t.Errorf("complete %d hrr %v, want %d %v", tr.complete, tr.hrr, tc.complete, tc.hrr)
			}
		})
	}
}
