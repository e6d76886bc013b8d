// Package pcapfile is the file engine: it reads pcap and pcapng captures
// (plain or gzip-compressed, or from standard input) and delivers their
// packets as events, several files merged into one timeline.
//
// Classic pcap is read by our own small reader rather than gopacket's
// pcapgo.Reader: pcapgo stops for good at a record whose captured length
// exceeds the snap length or the original length (the stream loses its
// place), while such records exist in real captures and must only be
// counted; reading records straight out of the bufio buffer also saves a
// copy per packet. pcapng, a much richer format, is read with pcapgo.
package pcapfile

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowjoy/flowjoy/userspace/event"
)

// maxRecord is the largest captured length we accept in one record (the
// largest snap length tcpdump uses); a larger one means the file is corrupt.
const maxRecord = 262144

// ErrCorrupt reports that a file cannot be read past some point: a record
// is cut short or its header is impossible. What came before is good.
var ErrCorrupt = errors.New("capture truncated or corrupt")

// File is one open capture.
type File struct {
	Name string
	// Size is the file's size in bytes, 0 when unknown (stdin).
	Size int64

	read     countingReader
	closer   io.Closer
	next     func(*event.Packet) error
	Packets  uint64 // records read
	Oversize uint64 // records whose captured length exceeded the original length
}

// Open opens a capture file; "-" is standard input. It reads the file
// header, so a file that is not a capture fails here, naming the file.
func Open(name string) (*File, error) {
	f := &File{Name: name}
	var src io.Reader
	if name == "-" {
		// Standard input is read through a pipe so that Close can end a
		// read that waits on a silent producer (on SIGINT); a blocked
		// read of fd 0 itself cannot be interrupted.
		f.Name = "<stdin>"
		pr, pw := io.Pipe()
		go func() {
			_, err := io.Copy(pw, os.Stdin)
			pw.CloseWithError(err)
		}()
		src, f.closer = pr, pr
	} else {
		fh, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		if st, err := fh.Stat(); err == nil {
			f.Size = st.Size()
		}
		f.closer = fh
		src = fh
	}
	f.read.r = src
	br := bufio.NewReaderSize(&f.read, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: too short to be a capture file (%d bytes)", f.Name, len(magic))
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: bad gzip header: %w", f.Name, err)
		}
		br = bufio.NewReaderSize(zr, 1<<20)
		if magic, err = br.Peek(4); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: too short to be a capture file after gunzip (%d bytes)", f.Name, len(magic))
		}
	}
	switch binary.BigEndian.Uint32(magic) {
	case 0x0a0d0d0a:
		err = f.openNg(br)
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0xa1b2cd34, 0x34cdb2a1:
		err = f.openPcap(br)
	default:
		err = fmt.Errorf("%s: not a pcap or pcapng file (starts with %x)", f.Name, magic)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Next fills ev with the next packet. Its Data is valid until the next
// call. It returns io.EOF at the end, and an error wrapping ErrCorrupt
// when the rest of the file cannot be read.
func (f *File) Next(ev *event.Packet) error {
	err := f.next(ev)
	if err == nil {
		f.Packets++
	}
	return err
}

// BytesRead is how many bytes of the file (compressed, if it is) were
// consumed so far; safe to call from another goroutine (progress display).
func (f *File) BytesRead() int64 { return f.read.n.Load() }

// Close closes the file.
func (f *File) Close() error {
	if f.closer != nil {
		return f.closer.Close()
	}
	return nil
}

func (f *File) openPcap(br *bufio.Reader) error {
	hdr, err := br.Peek(24)
	if err != nil {
		return fmt.Errorf("%s: truncated pcap file header (%d of 24 bytes)", f.Name, len(hdr))
	}
	var order binary.ByteOrder = binary.LittleEndian
	magic := binary.LittleEndian.Uint32(hdr)
	switch magic {
	case 0xd4c3b2a1, 0x4d3cb2a1, 0x34cdb2a1:
		order = binary.BigEndian
		magic = binary.BigEndian.Uint32(hdr)
	}
	nsFactor := int64(1000)
	if magic == 0xa1b23c4d {
		nsFactor = 1
	}
	recHdr := 16
	if magic == 0xa1b2cd34 {
		recHdr = 24 // Kuznetzov's patched format: ifindex, protocol, pkt_type, padding
	}
	if major := order.Uint16(hdr[4:]); major != 2 {
		return fmt.Errorf("%s: unsupported pcap version %d.%d", f.Name, major, order.Uint16(hdr[6:]))
	}
	link := event.LinkType(order.Uint32(hdr[20:]) & 0xffff) // upper bits: FCS length flags
	br.Discard(24)

	pending := 0 // bytes of the previous record still to discard
	f.next = func(ev *event.Packet) error {
		if pending > 0 {
			br.Discard(pending)
			pending = 0
		}
		h, err := br.Peek(recHdr)
		if err != nil {
			if len(h) == 0 && errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("%s: record %d: header cut short: %w", f.Name, f.Packets+1, ErrCorrupt)
		}
		sec, frac := order.Uint32(h), order.Uint32(h[4:])
		incl, orig := order.Uint32(h[8:]), order.Uint32(h[12:])
		if incl > maxRecord {
			return fmt.Errorf("%s: record %d: captured length %d is impossible: %w", f.Name, f.Packets+1, incl, ErrCorrupt)
		}
		br.Discard(recHdr)
		data, err := br.Peek(int(incl))
		if err != nil {
			return fmt.Errorf("%s: record %d: %d of %d bytes: %w", f.Name, f.Packets+1, len(data), incl, ErrCorrupt)
		}
		pending = int(incl)
		if incl > orig {
			f.Oversize++
			orig = incl
		}
		*ev = event.Packet{
			Timestamp: int64(sec)*1_000_000_000 + int64(frac)*nsFactor,
			LinkType:  link,
			WireLen:   orig,
			Data:      data,
		}
		return nil
	}
	return nil
}

func (f *File) openNg(br *bufio.Reader) error {
	r, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
	if err != nil {
		return fmt.Errorf("%s: bad pcapng header: %w", f.Name, err)
	}
	f.next = func(ev *event.Packet) error {
		data, ci, err := r.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("%s: record %d: %v: %w", f.Name, f.Packets+1, err, ErrCorrupt)
		}
		link := event.LinkType(r.LinkType())
		if len(ci.AncillaryData) > 0 {
			if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				link = event.LinkType(lt)
			}
		}
		wire := uint32(max(ci.Length, ci.CaptureLength))
		*ev = event.Packet{
			Timestamp: ci.Timestamp.UnixNano(),
			IfIndex:   uint32(ci.InterfaceIndex),
			LinkType:  link,
			WireLen:   wire,
			Data:      data,
		}
		return nil
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
