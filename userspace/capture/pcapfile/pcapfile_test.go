package pcapfile

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowjoy/flowjoy/userspace/event"
)

// writePcap writes packets with the given timestamps (seconds) as a pcap.
func writePcap(t *testing.T, path string, secs []float64, ns bool) {
	t.Helper()
	var buf bytes.Buffer
	var w *pcapgo.Writer
	if ns {
		w = pcapgo.NewWriterNanos(&buf)
	} else {
		w = pcapgo.NewWriter(&buf)
	}
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, s := range secs {
		data := bytes.Repeat([]byte{byte(i)}, 60)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, int64(s*1e9)), CaptureLength: 60, Length: 1514}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, f *File) (ts []int64, wire []uint32, err error) {
	var ev event.Packet
	for {
		if err = f.Next(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return
		}
		ts = append(ts, ev.Timestamp)
		wire = append(wire, ev.WireLen)
	}
}

func TestReadPcapVariants(t *testing.T) {
	dir := t.TempDir()
	secs := []float64{1.5, 2.25, 3.000001}
	for _, tc := range []struct {
		name string
		ns   bool
		gz   bool
	}{{"us.pcap", false, false}, {"ns.pcap", true, false}, {"us.pcap.gz", false, true}} {
		path := filepath.Join(dir, tc.name)
		writePcap(t, path, secs, tc.ns)
		if tc.gz {
			raw, _ := os.ReadFile(path)
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			zw.Write(raw)
			zw.Close()
			os.WriteFile(path, zb.Bytes(), 0o644)
		}
		f, err := Open(path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ts, wire, err := readAll(t, f)
		f.Close()
		if err != nil || len(ts) != 3 {
			t.Fatalf("%s: %d packets, err %v", tc.name, len(ts), err)
		}
		for i, s := range secs {
			if d := ts[i] - int64(s*1e9); d < -1000 || d > 1000 {
				t.Errorf("%s: packet %d at %d, want %v s", tc.name, i, ts[i], s)
			}
			if wire[i] != 1514 {
				t.Errorf("%s: wire length %d", tc.name, wire[i])
			}
		}
	}
}

func TestBadFilesFailWithTheirName(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]byte{
		"text.pcap":  []byte("this is not a capture at all"),
		"empty.pcap": {},
		"short.pcap": {0xd4, 0xc3, 0xb2, 0xa1, 2, 0},
	}
	for name, data := range cases {
		path := filepath.Join(dir, name)
		os.WriteFile(path, data, 0o644)
		_, err := Open(path)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err %v, want an error naming the file", name, err)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.pcap")); err == nil {
		t.Errorf("missing file opened")
	}
}

func TestTruncatedRecordKeepsWhatCameBefore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cut.pcap")
	writePcap(t, path, []float64{1, 2, 3}, false)
	raw, _ := os.ReadFile(path)
	for _, cut := range []int{len(raw) - 1, len(raw) - 60, len(raw) - 70} {
		os.WriteFile(path, raw[:cut], 0o644)
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		ts, _, err := readAll(t, f)
		f.Close()
		if len(ts) != 2 || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "cut.pcap") {
			t.Errorf("cut at %d: %d packets, err %v; want 2 and ErrCorrupt naming the file", cut, len(ts), err)
		}
	}
}

func TestOversizeRecordIsCountedNotFatal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "over.pcap")
	writePcap(t, path, []float64{1, 2}, false)
	raw, _ := os.ReadFile(path)
	// First record: original length 10 < captured 60.
	raw[24+12] = 10
	raw[24+13] = 0
	os.WriteFile(path, raw, 0o644)
	f, _ := Open(path)
	ts, _, err := readAll(t, f)
	if err != nil || len(ts) != 2 || f.Oversize != 1 {
		t.Errorf("got %d packets, err %v, oversize %d", len(ts), err, f.Oversize)
	}
}

func TestTimelineMergesFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	writePcap(t, a, []float64{1, 3, 5}, false)
	writePcap(t, b, []float64{2, 4, 6, 7}, true)
	fa, _ := Open(a)
	fb, _ := Open(b)
	tl := NewTimeline([]*File{fa, fb}, nil)
	var got []int64
	var ev event.Packet
	for tl.Next(&ev) == nil {
		got = append(got, ev.Timestamp/1e9)
		if len(ev.Data) != 60 {
			t.Fatalf("data length %d", len(ev.Data))
		}
	}
	want := []int64{1, 2, 3, 4, 5, 6, 7}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// Every shared capture opens (or is refused with a clear error) and reads
// to its end without a panic; pcapng interface link types come through.
func TestSharedCaptures(t *testing.T) {
	root := "../../../../shared/pcaps"
	if _, err := os.Stat(root); err != nil {
		t.Skipf("shared captures not found at %s", root)
	}
	var opened, packets int
	filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || strings.Contains(path, "/truth/") || strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".tsv") {
			return nil
		}
		f, err := Open(path)
		if err != nil {
			if !strings.Contains(err.Error(), filepath.Base(path)) {
				t.Errorf("%s: error does not name the file: %v", path, err)
			}
			return nil
		}
		opened++
		var ev event.Packet
		for f.Next(&ev) == nil {
			packets++
		}
		f.Close()
		return nil
	})
	if opened < 500 || packets < 10000 {
		t.Errorf("opened %d captures with %d packets; expected most of the shared set", opened, packets)
	}
	t.Logf("%d captures, %d packets", opened, packets)
}
