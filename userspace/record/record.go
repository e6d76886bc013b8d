// Package record writes a flow record as one line of JSON with Joy's keys
// and encodings (and Joy's bugs fixed: "dir" points the right way, the
// byte distribution is raw counts, times keep their microseconds).
//
// The core of the record is appended by hand: it is written once per flow
// for every flow, and strconv appends are several times faster than
// reflection. Protocol objects (tls, dns, …) are marshalled with
// encoding/json from the parsers' report values.
package record

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"

	"github.com/flowjoy/flowjoy/userspace/features"
	"github.com/flowjoy/flowjoy/userspace/flow"
	"github.com/flowjoy/flowjoy/userspace/flowkey"
	"github.com/flowjoy/flowjoy/userspace/jsontext"
	"github.com/flowjoy/flowjoy/userspace/proto"
)

// Record is everything one JSON line says about a flow.
type Record struct {
	Key       flowkey.Key // canonical key
	Out       flow.Side   // the initiator's side: "sa"
	ID        uint64
	Community []byte // Community ID ("1:…"), empty for none
	Start     int64  // ns
	End       int64  // ns
	Dir       [2]flow.Counters
	TCPFlags  [2]uint8
	Lost      uint64
	Expire    flow.ExpireType
	Interface string // interface name, for live engines
	// Exe and PeerExe are the processes behind the sa and da sides when
	// they are local and attribution is on; nil otherwise.
	Exe, PeerExe *Exe
	Features     *features.Flow
	// Protocols are the parsers' objects in the order they should appear.
	Protocols []proto.Object
}

// Encoder appends records; it reuses its buffers and is not safe for
// concurrent use.
type Encoder struct {
	buf  bytes.Buffer
	json *json.Encoder
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder {
	e := &Encoder{}
	e.json = json.NewEncoder(&e.buf)
	e.json.SetEscapeHTML(false)
	return e
}

// Append appends r as one JSON object and a newline to dst.
func (e *Encoder) Append(dst []byte, r *Record) ([]byte, error) {
	out, in := r.Out, r.Out.Other()
	sa, da := r.Key.SrcAddr(), r.Key.DstAddr()
	sp, dp := r.Key.SrcPort, r.Key.DstPort
	if out == 1 {
		sa, da, sp, dp = da, sa, dp, sp
	}
	dst = append(dst, `{"sa":`...)
	dst = appendAddr(dst, sa)
	dst = append(dst, `,"da":`...)
	dst = appendAddr(dst, da)
	if flowkey.HasPorts(r.Key.Proto) {
		dst = appendUintKey(dst, "sp", uint64(sp))
		dst = appendUintKey(dst, "dp", uint64(dp))
	} else {
		dst = append(dst, `,"sp":null,"dp":null`...)
	}
	dst = appendUintKey(dst, "pr", uint64(r.Key.Proto))
	dst = appendUintKey(dst, "bytes_out", r.Dir[out].Bytes)
	dst = appendUintKey(dst, "num_pkts_out", r.Dir[out].Packets)
	dst = appendUintKey(dst, "bytes_in", r.Dir[in].Bytes)
	dst = appendUintKey(dst, "num_pkts_in", r.Dir[in].Packets)
	dst = append(dst, `,"time_start":`...)
	dst = AppendTime(dst, r.Start)
	dst = append(dst, `,"time_end":`...)
	dst = AppendTime(dst, r.End)

	f := r.Features
	if f != nil {
		dst = appendPackets(dst, f, r.Start, uint8(out))
		dst = appendByteDist(dst, f.Dist)
		dst = appendIP(dst, f, out, in)
		if r.Key.Proto == flowkey.ProtoTCP {
			dst = appendTCP(dst, f, r.TCPFlags, out, in)
		}
		if f.ICMP.Seen {
			dst = append(dst, `,"icmp":{"type":`...)
			dst = strconv.AppendUint(dst, uint64(f.ICMP.Type), 10)
			dst = appendUintKey(dst, "code", uint64(f.ICMP.Code))
			dst = appendUintKey(dst, "id", uint64(f.ICMP.ID))
			dst = append(dst, '}')
		}
		for i, name := range [2]string{"out", "in"} {
			side := out
			if i == 1 {
				side = in
			}
			if b := f.IDP(uint8(side)); b != nil {
				dst = append(dst, `,"idp_`...)
				dst = append(dst, name...)
				dst = append(dst, `":"`...)
				dst = appendHex(dst, b)
				dst = append(dst, `","idp_len_`...)
				dst = append(dst, name...)
				dst = append(dst, `":`...)
				dst = strconv.AppendInt(dst, int64(len(b)), 10)
			}
		}
		if t := f.Tunnel(); t.Type != 0 {
			dst = appendTunnel(dst, t)
		}
	}
	for _, p := range r.Protocols {
		if p.Value == nil {
			continue
		}
		if a, ok := p.Value.(jsontext.Appender); ok {
			dst = appendObjectKey(dst, p.Key)
			dst = a.AppendJSON(dst)
			continue
		}
		e.buf.Reset()
		if err := e.json.Encode(p.Value); err != nil {
			return dst, err
		}
		dst = appendObjectKey(dst, p.Key)
		dst = append(dst, bytes.TrimRight(e.buf.Bytes(), "\n")...)
	}
	if r.Key.VLAN != 0 {
		dst = appendUintKey(dst, "vlan", uint64(r.Key.VLAN))
	}
	if r.Interface != "" {
		dst = append(dst, `,"interface":`...)
		dst = jsontext.Append(dst, r.Interface)
	}
	if r.Exe != nil {
		dst = appendExe(dst, "exe", r.Exe)
	}
	if r.PeerExe != nil {
		dst = appendExe(dst, "peer_exe", r.PeerExe)
	}
	if r.Lost != 0 {
		dst = appendUintKey(dst, "lost_samples", r.Lost)
	}
	dst = append(dst, `,"flow_id":"`...)
	dst = appendHex64(dst, r.ID)
	dst = append(dst, '"')
	if len(r.Community) > 0 {
		dst = append(dst, `,"community_id":"`...)
		dst = append(dst, r.Community...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"expire_type":"`...)
	dst = append(dst, byte(r.Expire), '"', '}', '\n')
	return dst, nil
}

// appendObjectKey appends ,"key": for a protocol object. The keys are
// plain ASCII names; strconv.AppendQuote is kept for any other, as it
// reallocates dst without room to spare (and so makes the next appends
// reallocate again).
func appendObjectKey(dst []byte, key string) []byte {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			dst = append(dst, ',')
			dst = strconv.AppendQuote(dst, key)
			return append(dst, ':')
		}
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// AppendTime appends ns since the epoch as seconds with exactly six
// decimals (Joy's format, microseconds truncated).
func AppendTime(dst []byte, ns int64) []byte {
	us := ns / 1000
	sec, frac := us/1_000_000, us%1_000_000
	if frac < 0 {
		sec, frac = sec-1, frac+1_000_000
	}
	dst = strconv.AppendInt(dst, sec, 10)
	dst = append(dst, '.')
	var digits [6]byte
	for i := 5; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(dst, digits[:]...)
}

func appendAddr(dst []byte, a netip.Addr) []byte {
	dst = append(dst, '"')
	dst = a.AppendTo(dst)
	return append(dst, '"')
}

func appendUintKey(dst []byte, key string, v uint64) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return strconv.AppendUint(dst, v, 10)
}

func appendFloatKey(dst []byte, key string, v float64) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return strconv.AppendFloat(dst, v, 'f', 6, 64)
}

const hexDigits = "0123456789abcdef"

func appendHex(dst []byte, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

func appendHex64(dst []byte, v uint64) []byte {
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, hexDigits[(v>>uint(i))&0xf])
	}
	return dst
}

// appendPackets writes Joy's "packets" list: "dir" is ">" for packets from
// sa (Joy had the arrows swapped), "ipt" whole milliseconds since the
// previous listed packet (the first: since time_start), never negative.
func appendPackets(dst []byte, f *features.Flow, start int64, out uint8) []byte {
	dst = append(dst, `,"packets":[`...)
	prev := start
	for i, n := 0, f.NumPackets(); i < n; i++ {
		p := f.PacketAt(i)
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"b":`...)
		dst = strconv.AppendUint(dst, uint64(p.Len), 10)
		if p.Side == out {
			dst = append(dst, `,"dir":">","ipt":`...)
		} else {
			dst = append(dst, `,"dir":"<","ipt":`...)
		}
		ipt := max(p.TS-prev, 0) / 1_000_000
		if i == 0 {
			ipt = 0
		}
		dst = strconv.AppendInt(dst, ipt, 10)
		dst = append(dst, '}')
		if p.TS > prev {
			prev = p.TS
		}
	}
	return append(dst, ']')
}

func appendByteDist(dst []byte, d *features.ByteDist) []byte {
	if d == nil || d.Bytes == 0 {
		return dst
	}
	var s features.Summary
	d.Summarize(&s)
	dst = append(dst, `,"byte_dist":[`...)
	// 256 counts per record with payload: most are below 1000 and are
	// written as one 8-byte store from a table, into room made once (a
	// count is at most 10 digits and a comma, and the table's store needs
	// 8 bytes of room).
	n := len(dst)
	dst = slices.Grow(dst, 256*11)[:n+256*11]
	for _, c := range s.Counts {
		n += putCount(dst[n:], c)
	}
	dst = dst[:n-1] // the last comma
	dst = append(dst, ']')
	dst = appendFloatKey(dst, "byte_dist_mean", s.Mean)
	dst = appendFloatKey(dst, "byte_dist_std", s.Std)
	dst = appendUintKey(dst, "byte_dist_bytes", d.Bytes)
	dst = appendFloatKey(dst, "entropy", s.Ent)
	return appendFloatKey(dst, "total_entropy", s.Ent*float64(d.Bytes))
}

// countText[c] is c < 1000 in decimal followed by a comma, little-endian
// in the low bytes, with the text's length in the top byte.
var countText = func() (t [1000]uint64) {
	for c := range t {
		b := strconv.AppendUint(nil, uint64(c), 10)
		b = append(b, ',')
		var e uint64
		for i, x := range b {
			e |= uint64(x) << (8 * i)
		}
		t[c] = e | uint64(len(b))<<56
	}
	return t
}()

// putCount writes c in decimal and a comma at the start of b (which has
// room for 11 bytes), as strconv.AppendUint does, and returns the length.
func putCount(b []byte, c uint32) int {
	if c < uint32(len(countText)) {
		e := countText[c]
		binary.LittleEndian.PutUint64(b[:8], e)
		return int(e >> 56)
	}
	n := len(strconv.AppendUint(b[:0:10], uint64(c), 10))
	b[n] = ','
	return n + 1
}

func appendIP(dst []byte, f *features.Flow, out, in flow.Side) []byte {
	if !f.IP[out].Seen && !f.IP[in].Seen {
		return dst
	}
	dst = append(dst, `,"ip":{`...)
	first := true
	for i, side := range [2]flow.Side{out, in} {
		ip := &f.IP[side]
		if !ip.Seen {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if i == 0 {
			dst = append(dst, `"out":{"ttl":`...)
		} else {
			dst = append(dst, `"in":{"ttl":`...)
		}
		dst = strconv.AppendUint(dst, uint64(ip.TTL), 10)
		if n := f.NumIPIDs(uint8(side)); n > 0 {
			dst = append(dst, `,"id":[`...)
			for j := 0; j < n; j++ {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = strconv.AppendUint(dst, uint64(f.IPID(uint8(side), j)), 10)
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func appendTunnel(dst []byte, t *features.TunnelInfo) []byte {
	dst = append(dst, `,"tunnel":{"type":"`...)
	dst = append(dst, t.Type.String()...)
	dst = append(dst, `","sa":`...)
	dst = appendAddr(dst, t.Outer.SrcAddr())
	dst = append(dst, `,"da":`...)
	dst = appendAddr(dst, t.Outer.DstAddr())
	dst = appendUintKey(dst, "pr", uint64(t.Outer.Proto))
	if flowkey.HasPorts(t.Outer.Proto) {
		dst = appendUintKey(dst, "sp", uint64(t.Outer.SrcPort))
		dst = appendUintKey(dst, "dp", uint64(t.Outer.DstPort))
	}
	if t.ID != 0 {
		dst = appendUintKey(dst, "id", uint64(t.ID))
	}
	return append(dst, '}')
}
