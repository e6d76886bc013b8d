package pcapfile

import (
	"errors"
	"io"

	"github.com/flowjoy/flowjoy/userspace/event"
)

// Timeline reads several files as one capture: packets come in timestamp
// order across files (each file's own order is kept), so flows that span
// files are one flow and timeouts follow one clock.
type Timeline struct {
	files     []*File
	heads     []event.Packet
	live      []bool
	last      int // file whose packet was handed out last, to refill first
	onCorrupt func(f *File, err error)
}

// NewTimeline returns a timeline over files, which stay owned by the
// caller. onCorrupt (may be nil) is told when a file cannot be read to its
// end; the timeline goes on with the other files.
func NewTimeline(files []*File, onCorrupt func(f *File, err error)) *Timeline {
	t := &Timeline{files: files, heads: make([]event.Packet, len(files)), live: make([]bool, len(files)), last: -1, onCorrupt: onCorrupt}
	for i := range files {
		t.live[i] = true
		t.fill(i)
	}
	return t
}

func (t *Timeline) fill(i int) {
	err := t.files[i].Next(&t.heads[i])
	if err == nil {
		return
	}
	t.live[i] = false
	if !errors.Is(err, io.EOF) && t.onCorrupt != nil {
		t.onCorrupt(t.files[i], err)
	}
}

// Next fills ev with the earliest pending packet; io.EOF when every file
// is done. ev.Data is valid until the next call.
func (t *Timeline) Next(ev *event.Packet) error {
	if t.last >= 0 && t.live[t.last] {
		t.fill(t.last)
	}
	best := -1
	for i := range t.files {
		if t.live[i] && (best < 0 || t.heads[i].Timestamp < t.heads[best].Timestamp) {
			best = i
		}
	}
	t.last = best
	if best < 0 {
		return io.EOF
	}
	*ev = t.heads[best]
	return nil
}
