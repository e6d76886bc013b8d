package record

import (
	"encoding/binary"
	"strconv"

	"github.com/flowjoy/flowjoy/userspace/features"
	"github.com/flowjoy/flowjoy/userspace/flow"
)

// appendTCP writes Joy's "tcp" object: first_seq (the initiator's first
// sequence number), and per direction the flags, window and options of
// its first packet. "flags_all" (new) is the OR of all flags seen.
func appendTCP(dst []byte, f *features.Flow, all [2]uint8, out, in flow.Side) []byte {
	t := &f.TCP
	if !t.FirstSeqSet && !t.Dir[out].Seen && !t.Dir[in].Seen {
		return dst
	}
	dst = append(dst, `,"tcp":{`...)
	comma := false
	if t.FirstSeqSet {
		dst = append(dst, `"first_seq":`...)
		dst = strconv.AppendUint(dst, uint64(t.FirstSeq), 10)
		comma = true
	}
	for i, side := range [2]flow.Side{out, in} {
		d := &t.Dir[side]
		if !d.Seen {
			continue
		}
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		if i == 0 {
			dst = append(dst, `"out":{"flags":"`...)
		} else {
			dst = append(dst, `"in":{"flags":"`...)
		}
		dst = AppendTCPFlags(dst, d.FirstFlags)
		dst = append(dst, `","flags_all":"`...)
		dst = AppendTCPFlags(dst, all[side])
		dst = append(dst, '"')
		dst = appendUintKey(dst, "first_window_size", uint64(d.FirstWindow))
		opts := f.TCPOptions(uint8(side))
		dst = appendUintKey(dst, "opt_len", uint64(len(opts)))
		if len(opts) > 0 {
			// TCP options are at most 40 bytes (255 as kept): a copy on
			// the stack, not an allocation.
			var buf [255]byte
			dst = appendTCPOptions(dst, buf[:copy(buf[:], opts)])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// AppendTCPFlags writes flags as letters in header bit order, tcpdump's
// letters: F S R P A U E C.
func AppendTCPFlags(dst []byte, flags uint8) []byte {
	const letters = "FSRPAUEC"
	for i := 0; i < 8; i++ {
		if flags&(1<<i) != 0 {
			dst = append(dst, letters[i])
		}
	}
	return dst
}

// appendTCPOptions writes the options as a list of one-key objects, as
// Joy: {"mss":1460}, {"ws":7}, {"sackp":null}, {"ts":{"val":…,"ecr":…}},
// {"noop":null}, {"eol":null}, {"sack":"hex"}; any other kind as
// {"kind":N,"data":"hex"}. A malformed length ends the list with
// {"bad":"hex"} of the rest.
func appendTCPOptions(dst []byte, o []byte) []byte {
	dst = append(dst, `,"opts":[`...)
	first := true
	sep := func() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
	}
	for len(o) > 0 {
		kind := o[0]
		if kind == 0 || kind == 1 {
			sep()
			if kind == 0 {
				dst = append(dst, `{"eol":null}`...)
			} else {
				dst = append(dst, `{"noop":null}`...)
			}
			o = o[1:]
			continue
		}
		if len(o) < 2 || int(o[1]) < 2 || int(o[1]) > len(o) {
			sep()
			dst = append(dst, `{"bad":"`...)
			dst = appendHex(dst, o)
			dst = append(dst, `"}`...)
			break
		}
		data := o[2:o[1]]
		o = o[o[1]:]
		sep()
		switch {
		case kind == 2 && len(data) == 2:
			dst = append(dst, `{"mss":`...)
			dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint16(data)), 10)
			dst = append(dst, '}')
		case kind == 3 && len(data) == 1:
			dst = append(dst, `{"ws":`...)
			dst = strconv.AppendUint(dst, uint64(data[0]), 10)
			dst = append(dst, '}')
		case kind == 4 && len(data) == 0:
			dst = append(dst, `{"sackp":null}`...)
		case kind == 8 && len(data) == 8:
			dst = append(dst, `{"ts":{"val":`...)
			dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint32(data)), 10)
			dst = append(dst, `,"ecr":`...)
			dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint32(data[4:])), 10)
			dst = append(dst, `}}`...)
		case kind == 5:
			dst = append(dst, `{"sack":"`...)
			dst = appendHex(dst, data)
			dst = append(dst, `"}`...)
		default:
			dst = append(dst, `{"kind":`...)
			dst = strconv.AppendUint(dst, uint64(kind), 10)
			dst = append(dst, `,"data":"`...)
			dst = appendHex(dst, data)
			dst = append(dst, `"}`...)
		}
	}
	return append(dst, ']')
}
