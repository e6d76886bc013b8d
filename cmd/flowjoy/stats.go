package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/flowjoy/flowjoy/userspace/capture/pcapfile"
	"github.com/flowjoy/flowjoy/userspace/pipeline"
)

// runStats is the closing summary: one line of text, or with --stats-json
// the same facts as one JSON object.
type runStats struct {
	Files       []fileStats `json:"files,omitempty"`
	Packets     uint64      `json:"packets"`
	Filtered    uint64      `json:"filtered_out"`
	NotIP       uint64      `json:"not_ip"`
	Malformed   uint64      `json:"malformed"`
	Truncated   uint64      `json:"truncated"`
	UnknownLink uint64      `json:"unknown_link_type"`
	Flows       uint64      `json:"flows"`
	Records     uint64      `json:"records"`
	Evicted     uint64      `json:"evicted"`
	FragNoKey   uint64      `json:"fragments_without_first"`
	Seconds     float64     `json:"seconds"`
	PacketsPerS float64     `json:"packets_per_second"`
	Interrupted bool        `json:"interrupted,omitempty"`

	files    []*pcapfile.File
	filtered uint64
}

type fileStats struct {
	Name     string `json:"name"`
	Packets  uint64 `json:"packets"`
	Oversize uint64 `json:"caplen_over_len,omitempty"`
	Corrupt  string `json:"corrupt,omitempty"`
}

func newRunStats(files []*pcapfile.File) *runStats {
	s := &runStats{files: files}
	for _, f := range files {
		s.Files = append(s.Files, fileStats{Name: f.Name})
	}
	return s
}

func (s *runStats) noteCorrupt(f *pcapfile.File, err error) {
	for i, g := range s.files {
		if g == f {
			s.Files[i].Corrupt = err.Error()
		}
	}
}

func (s *runStats) finish(p pipeline.Stats, elapsed time.Duration, interrupted bool) {
	for i, f := range s.files {
		s.Files[i].Packets = f.Packets
		s.Files[i].Oversize = f.Oversize
	}
	s.Packets = p.Packets + s.filtered
	s.Filtered = s.filtered
	s.NotIP, s.Malformed, s.Truncated, s.UnknownLink = p.NotIP, p.Malformed, p.Truncated, p.Unknown
	s.Flows, s.Records, s.Evicted, s.FragNoKey = p.Flow.Flows, p.Flow.Records, p.Flow.Evicted, p.Flow.FragmentsNoKey
	s.Seconds = elapsed.Seconds()
	if s.Seconds > 0 {
		s.PacketsPerS = float64(s.Packets) / s.Seconds
	}
	s.Interrupted = interrupted
}

func (s *runStats) print(w io.Writer, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(s)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	corrupt := 0
	for _, f := range s.Files {
		if f.Corrupt != "" {
			corrupt++
		}
	}
	fmt.Fprintf(w, "flowjoy: %d packets (%d filtered out, %d not IP, %d malformed, %d truncated, %d unknown link type), %d flows, %d records, %d evicted, %d corrupt files, %.2fs (%.0f packets/s)%s\n",
		s.Packets, s.Filtered, s.NotIP, s.Malformed, s.Truncated, s.UnknownLink, s.Flows, s.Records, s.Evicted, corrupt, s.Seconds, s.PacketsPerS,
		map[bool]string{true: ", interrupted", false: ""}[s.Interrupted])
}
