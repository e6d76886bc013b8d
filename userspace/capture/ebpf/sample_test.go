package ebpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/flowjoy/flowjoy/bpf"
	"github.com/flowjoy/flowjoy/userspace/event"
)

// encodeSample lays out a record as the kernel writes it: struct
// fj_sample, the data, and padding to a multiple of 64 bytes.
func encodeSample(h bpf.FlowjoyFjSample, data []byte) []byte {
	var b bytes.Buffer
	if err := binary.Write(&b, binary.NativeEndian, h); err != nil {
		panic(err)
	}
	b.Write(data)
	for b.Len()%64 != sampleHeaderSize%64 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

func udpFrame(t testing.TB) []byte {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	return taggedFrame(t, mac, mac, nil, netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:53"), []byte("hello"))
}

func TestSampleHeaderSize(t *testing.T) {
	// struct fj_sample in bpf/flowjoy.c: 8 + 4*4 + 2*2 + 1+1+2.
	if sampleHeaderSize != 40 {
		t.Fatalf("sample header is %d bytes, the kernel writes 40", sampleHeaderSize)
	}
}

func TestDecodeSample(t *testing.T) {
	frame := udpFrame(t)
	hdr := bpf.FlowjoyFjSample{TsNs: 1_000_000, Ifindex: 7, WireLen: uint32(len(frame)), Segs: 3,
		CapLen: uint32(len(frame)), Dir: uint8(event.DirIngress)}
	with := func(f func(*bpf.FlowjoyFjSample)) bpf.FlowjoyFjSample { h := hdr; f(&h); return h }
	tagged := append(append(append([]byte{}, frame[:12]...), 0x81, 0x00, 0x00, 0x64), frame[12:]...)

	for _, tc := range []struct {
		name     string
		raw      []byte
		err      bool
		data     []byte
		link     event.LinkType
		wireLen  uint32
		dir      event.Direction
		segments uint32
		local    bool
		owner    uint32
	}{
		{name: "ethernet", raw: encodeSample(hdr, frame), data: frame, link: event.LinkEthernet,
			wireLen: uint32(len(frame)), dir: event.DirIngress, segments: 3},
		{name: "egress, cut short", raw: encodeSample(with(func(h *bpf.FlowjoyFjSample) {
			h.Dir, h.CapLen = uint8(event.DirEgress), 20
		}), frame[:20]), data: frame[:20], link: event.LinkEthernet, wireLen: uint32(len(frame)), dir: event.DirEgress, segments: 3},
		{name: "raw IP", raw: encodeSample(with(func(h *bpf.FlowjoyFjSample) {
			h.Flags, h.CapLen = sampleL3, uint32(len(frame)-14)
		}), frame[14:]), data: frame[14:], link: event.LinkRaw, wireLen: uint32(len(frame)), dir: event.DirIngress, segments: 3},
		{name: "stripped VLAN tag put back", raw: encodeSample(with(func(h *bpf.FlowjoyFjSample) {
			h.Flags, h.VlanTci, h.VlanProto = sampleVLAN, 100, 0x8100
		}), frame), data: tagged, link: event.LinkEthernet, wireLen: uint32(len(frame)) + 4, dir: event.DirIngress, segments: 3},
		{name: "VLAN flag on raw IP is ignored", raw: encodeSample(with(func(h *bpf.FlowjoyFjSample) {
			h.Flags, h.VlanTci, h.CapLen = sampleL3|sampleVLAN, 100, uint32(len(frame)-14)
		}), frame[14:]), data: frame[14:], link: event.LinkRaw, wireLen: uint32(len(frame)), dir: event.DirIngress, segments: 3},
		{name: "local socket with its owner", raw: encodeSample(with(func(h *bpf.FlowjoyFjSample) {
			h.Dir, h.Flags, h.Owner = uint8(event.DirEgress), sampleLocal, 4242
		}), frame), data: frame, link: event.LinkEthernet, wireLen: uint32(len(frame)), dir: event.DirEgress, segments: 3,
			local: true, owner: 4242},
		{name: "shorter than a header", raw: make([]byte, sampleHeaderSize-1), err: true},
		{name: "captured length beyond the record", raw: encodeSample(with(func(h *bpf.FlowjoyFjSample) {
			h.CapLen = 1000
		}), frame), err: true},
		{name: "no direction", raw: encodeSample(with(func(h *bpf.FlowjoyFjSample) { h.Dir = 0 }), frame), err: true},
		{name: "VLAN tag with no MAC addresses", raw: encodeSample(with(func(h *bpf.FlowjoyFjSample) {
			h.Flags, h.CapLen = sampleVLAN, 6
		}), frame[:6]), err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s sampleScratch
			p, _, err := decodeSample(tc.raw, 5_000, &s)
			if tc.err {
				if !errors.Is(err, errBadSample) {
					t.Fatalf("err = %v, want errBadSample", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.Data, tc.data) {
				t.Errorf("data\n got %x\nwant %x", p.Data, tc.data)
			}
			if p.Timestamp != 1_005_000 || p.IfIndex != 7 || p.LinkType != tc.link || p.WireLen != tc.wireLen ||
				p.Direction != tc.dir || p.Segments != tc.segments || p.Local != tc.local || p.Owner != tc.owner {
				t.Errorf("got %+v", *p)
			}
		})
	}
}

func TestDecodeSampleAllocatesNothing(t *testing.T) {
	frame := udpFrame(t)
	raw := encodeSample(bpf.FlowjoyFjSample{CapLen: uint32(len(frame)), Dir: 1, Flags: sampleVLAN, VlanTci: 5, VlanProto: 0x8100}, frame)
	var s sampleScratch
	decodeSample(raw, 0, &s) // sizes the scratch buffer
	if n := testing.AllocsPerRun(100, func() { decodeSample(raw, 0, &s) }); n != 0 {
		t.Errorf("%v allocations per sample", n)
	}
}

func FuzzDecodeSample(f *testing.F) {
	f.Add(encodeSample(bpf.FlowjoyFjSample{CapLen: 42, Dir: 1}, udpFrame(f)), int64(0))
	f.Fuzz(func(t *testing.T, raw []byte, offset int64) {
		var s sampleScratch
		p, flags, err := decodeSample(raw, offset, &s)
		if err != nil {
			return
		}
		capLen := binary.NativeEndian.Uint32(raw[20:])
		want := int(capLen)
		if flags&sampleVLAN != 0 && flags&sampleL3 == 0 {
			want += 4
		}
		if len(p.Data) != want {
			t.Fatalf("%d bytes of data, cap_len %d, flags %#x", len(p.Data), capLen, flags)
		}
		if p.Direction != event.DirIngress && p.Direction != event.DirEgress {
			t.Fatalf("direction %d", p.Direction)
		}
	})
}

// TestWriteFuzzSeeds (re)writes the seed corpus of FuzzDecodeSample from
// frames built here, when FJ_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("FJ_WRITE_SEEDS") != "1" {
		t.Skip("set FJ_WRITE_SEEDS=1 to rewrite testdata/fuzz/FuzzDecodeSample")
	}
	frame := udpFrame(t)
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	qinq := taggedFrame(t, mac, mac, []uint16{200, 100},
		netip.MustParseAddrPort("10.78.0.2:1111"), netip.MustParseAddrPort("10.78.0.1:2222"), []byte("vlan"))
	seeds := map[string][]byte{
		"ethernet-udp": encodeSample(bpf.FlowjoyFjSample{TsNs: 1e9, Ifindex: 2, WireLen: uint32(len(frame)),
			Segs: 1, CapLen: uint32(len(frame)), Dir: 1}, frame),
		"gso-cut": encodeSample(bpf.FlowjoyFjSample{TsNs: 2e9, Ifindex: 2, WireLen: 65000, Segs: 44,
			CapLen: 30, Dir: 2}, frame[:30]),
		"vlan-stripped": encodeSample(bpf.FlowjoyFjSample{TsNs: 3e9, Ifindex: 3, WireLen: uint32(len(frame)),
			Segs: 1, CapLen: uint32(len(frame)), VlanTci: 100, VlanProto: 0x8100, Dir: 1, Flags: sampleVLAN}, frame),
		"qinq-inline": encodeSample(bpf.FlowjoyFjSample{TsNs: 4e9, Ifindex: 3, WireLen: uint32(len(qinq)),
			Segs: 1, CapLen: uint32(len(qinq)), Dir: 1}, qinq),
		"raw-ip": encodeSample(bpf.FlowjoyFjSample{TsNs: 5e9, Ifindex: 4, WireLen: uint32(len(frame) - 14),
			Segs: 1, CapLen: uint32(len(frame) - 14), Dir: 2, Flags: sampleL3 | sampleUnkeyed}, frame[14:]),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeSample")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, raw := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nint64(%d)\n", strconv.Quote(string(raw)), 1_700_000_000_000_000_000)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkDecodeSample(b *testing.B) {
	frame := udpFrame(b)
	raw := encodeSample(bpf.FlowjoyFjSample{CapLen: uint32(len(frame)), Dir: 1, Flags: sampleVLAN, VlanTci: 5, VlanProto: 0x8100}, frame)
	var s sampleScratch
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := decodeSample(raw, 0, &s); err != nil {
			b.Fatal(err)
		}
	}
}
