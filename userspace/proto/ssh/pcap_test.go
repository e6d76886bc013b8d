package ssh

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// tsharkRow is one line of a testdata/tshark TSV: one frame as tshark
// dissected it.
type tsharkRow map[string]string

func (r tsharkRow) src() netip.AddrPort { return r.endpoint("src", "tcp.srcport") }
func (r tsharkRow) dst() netip.AddrPort { return r.endpoint("dst", "tcp.dstport") }

func (r tsharkRow) endpoint(which, portField string) netip.AddrPort {
	s := r["ip."+which]
	if s == "" {
		s = r["ipv6."+which]
	}
	// A tunnel gives one address per header; the innermost is last.
	s = s[strings.LastIndexByte(s, '|')+1:]
	ports := r[portField]
	ports = ports[strings.LastIndexByte(ports, '|')+1:]
	var port uint16
	fmt.Sscan(ports, &port)
	return netip.AddrPortFrom(netip.MustParseAddr(s), port)
}

// tsharkSide is what tshark saw of one direction of an SSH connection.
type tsharkSide struct {
	protocol string
	codes    []int
	kexinit  tsharkRow // the frame with the first KEXINIT
	fields   map[string]string
}

// first returns the first non-empty value of a field in the direction.
func (s *tsharkSide) first(field string) string { return s.fields[field] }

// tsharkFlows groups rows by connection and direction. collapseRepeats
// drops a frame identical to the previous one of its direction: tshark
// dissects retransmissions again, the parser sees the bytes once.
func tsharkFlows(rows []map[string]string, collapseRepeats bool) map[[2]netip.AddrPort]*[2]tsharkSide {
	out := map[[2]netip.AddrPort]*[2]tsharkSide{}
	last := map[[2]netip.AddrPort]string{}
	for _, row := range rows {
		r := tsharkRow(row)
		s, d := r.src(), r.dst()
		k := [2]netip.AddrPort{s, d}
		sides := out[k]
		if sides == nil {
			sides = out[[2]netip.AddrPort{d, s}]
			if sides != nil {
				k = [2]netip.AddrPort{d, s}
			}
		}
		if sides == nil {
			sides = &[2]tsharkSide{}
			out[k] = sides
		}
		// Index 0 is the first sender seen by tshark; the test maps it to
		// the parser's directions by address.
		i := 0
		if s != k[0] {
			i = 1
		}
		side := &sides[i]
		if side.fields == nil {
			side.fields = map[string]string{}
		}
		sig := fmt.Sprint(r)
		if collapseRepeats && last[[2]netip.AddrPort{s, d}] == sig {
			continue
		}
		last[[2]netip.AddrPort{s, d}] = sig
		for f, v := range r {
			if v != "" && side.fields[f] == "" {
				side.fields[f] = v
			}
		}
		if side.protocol == "" {
			side.protocol = r["ssh.protocol"]
		}
		if c := r["ssh.message_code"]; c != "" {
			for _, code := range strings.Split(c, "|") {
				if slices.Contains(side.codes, msgNewkeys) {
					// Encrypted from here (RFC 4253 §7.3). tshark 4.0 still
					// reads codes out of AES-GCM packets, whose length
					// field stays in the clear.
					break
				}
				var n int
				fmt.Sscan(code, &n)
				side.codes = append(side.codes, n)
				if n == msgKexinit && side.kexinit == nil {
					side.kexinit = r
				}
			}
		}
	}
	return out
}

// sortedKeys is for stable test names.
func sortedKeys(m map[[2]netip.AddrPort]*[2]tsharkSide) [][2]netip.AddrPort {
	var keys [][2]netip.AddrPort
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0].String()+keys[i][1].String() < keys[j][0].String()+keys[j][1].String()
	})
	return keys
}
