package ebpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/flowjoy/flowjoy/bpf"
	"github.com/flowjoy/flowjoy/userspace/event"
)

// sampleHeaderSize is the size of struct fj_sample, which heads every
// ring-buffer record; the packet's first cap_len bytes follow it (and up
// to 63 bytes of padding, as the kernel reserves in 64-byte steps).
const sampleHeaderSize = int(unsafe.Sizeof(bpf.FlowjoyFjSample{}))

// Sample flags (FJ_SAMPLE_* in bpf/flowjoy.c).
const (
	sampleL3      = 0x1  // data starts at the IP header
	sampleVLAN    = 0x2  // the outer VLAN tag was stripped into vlan_tci
	sampleUnkeyed = 0x4  // sent whole, not accounted to any map entry
	sampleNoEntry = 0x8  // the flow map was full
	sampleLocal   = 0x10 // sent by a local socket; owner names its process
)

var errBadSample = errors.New("bad sample record")

// sampleScratch is what decoding a sample reuses, so that delivering a
// packet allocates nothing.
type sampleScratch struct {
	pkt event.Packet
	buf []byte // data with its VLAN tag put back
}

// decodeSample turns one ring-buffer record into the packet event. The
// event's Data points into raw, or into s.buf when the kernel stripped
// the outer VLAN tag (TC sees hardware-accelerated tags outside the
// packet): the tag is put back, as libpcap does, so that the decoder keys
// the sample by the same VLAN id as the kernel keyed its counters.
// wallOffset turns the kernel's monotonic time into wall-clock time.
func decodeSample(raw []byte, wallOffset int64, s *sampleScratch) (*event.Packet, uint8, error) {
	if len(raw) < sampleHeaderSize {
		return nil, 0, fmt.Errorf("%w: %d bytes, shorter than its header", errBadSample, len(raw))
	}
	ne := binary.NativeEndian
	ts := ne.Uint64(raw[0:])
	ifindex := ne.Uint32(raw[8:])
	wireLen := ne.Uint32(raw[12:])
	segs := ne.Uint32(raw[16:])
	capLen := ne.Uint32(raw[20:])
	vlanTCI := ne.Uint16(raw[24:])
	vlanProto := ne.Uint16(raw[26:])
	dir := event.Direction(raw[28])
	flags := raw[29]
	owner := ne.Uint32(raw[32:])

	data := raw[sampleHeaderSize:]
	if uint64(capLen) > uint64(len(data)) {
		return nil, 0, fmt.Errorf("%w: %d bytes captured, %d in the record", errBadSample, capLen, len(data))
	}
	data = data[:capLen]
	if dir != event.DirIngress && dir != event.DirEgress {
		return nil, 0, fmt.Errorf("%w: direction %d", errBadSample, dir)
	}

	p := &s.pkt
	*p = event.Packet{
		Timestamp: int64(ts) + wallOffset,
		IfIndex:   ifindex,
		Direction: dir,
		LinkType:  event.LinkEthernet,
		Segments:  segs,
		WireLen:   wireLen,
		Data:      data,
		Local:     flags&sampleLocal != 0,
		Owner:     owner,
	}
	if flags&sampleL3 != 0 {
		p.LinkType = event.LinkRaw
	} else if flags&sampleVLAN != 0 {
		const macs = 12
		if len(data) < macs {
			return nil, 0, fmt.Errorf("%w: %d bytes, too short for a VLAN tag", errBadSample, len(data))
		}
		b := append(s.buf[:0], data[:macs]...)
		b = binary.BigEndian.AppendUint16(b, vlanProto)
		b = binary.BigEndian.AppendUint16(b, vlanTCI)
		b = append(b, data[macs:]...)
		s.buf = b
		p.Data = b
		p.WireLen += 4
	}
	return p, flags, nil
}
