package flowkey

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
)

// CommunityIDLen is the length of a version 1 Community ID: "1:" and the
// base64 of a SHA-1 digest.
const CommunityIDLen = 2 + 28

// CommunityID returns the Community ID v1 of the flow
// (https://github.com/corelight/community-id-spec), or "" when k has no
// IP version (the spec's answer for tuples it does not cover).
//
// k is the flow's key with Src = the initiator. Ports are hashed for TCP,
// UDP and SCTP, the protocols the spec names; every other protocol,
// DCCP and UDP-Lite included, hashes addresses and protocol only, as the
// spec's "other IP-borne protocols". For ICMP and ICMPv6, icmpType and
// icmpCode are those of the flow's first message (sent by Src) and stand
// in for the ports as Zeek maps them: a request/reply type pairs with its
// counterpart type, so both directions hash alike, and any other type is
// one-way (type, code) and never reordered.
//
// It allocates only the returned string; AppendCommunityID allocates
// nothing.
func CommunityID(k Key, icmpType, icmpCode uint8, seed uint16) string {
	var buf [CommunityIDLen]byte
	return string(AppendCommunityID(buf[:0], k, icmpType, icmpCode, seed))
}

// AppendCommunityID appends k's Community ID (see CommunityID) to dst.
func AppendCommunityID(dst []byte, k Key, icmpType, icmpCode uint8, seed uint16) []byte {
	var alen int
	switch k.IPVersion {
	case 4:
		alen = 4
	case 6:
		alen = 16
	default:
		return dst
	}
	src, dstAddr := k.Src[:alen], k.Dst[:alen]
	sport, dport := k.SrcPort, k.DstPort
	hasPorts, oneWay := false, false
	switch k.Proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP:
		hasPorts = true
	case ProtoICMP:
		hasPorts = true
		sport, dport, oneWay = icmpPorts(icmpType, icmpCode, icmpCounterpart[:])
	case ProtoICMPv6:
		hasPorts = true
		sport, dport, oneWay = icmpPorts(icmpType, icmpCode, icmpv6Counterpart[:])
	}
	if !oneWay {
		// The smaller (address, port) endpoint goes first, so that both
		// directions hash alike.
		if c := bytes.Compare(src, dstAddr); c > 0 || c == 0 && hasPorts && sport > dport {
			src, dstAddr = dstAddr, src
			sport, dport = dport, sport
		}
	}

	// seed(2) src(4|16) dst(4|16) proto(1) 0(1) [sport(2) dport(2)]
	var in [2 + 16 + 16 + 2 + 4]byte
	binary.BigEndian.PutUint16(in[0:], seed)
	n := 2
	n += copy(in[n:], src)
	n += copy(in[n:], dstAddr)
	in[n] = k.Proto
	n += 2
	if hasPorts {
		binary.BigEndian.PutUint16(in[n:], sport)
		binary.BigEndian.PutUint16(in[n+2:], dport)
		n += 4
	}
	sum := sha1.Sum(in[:n])
	dst = append(dst, '1', ':')
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// icmpPorts maps an ICMP type and code to the spec's port equivalents:
// (type, counterpart type) for request/reply types, else (type, code)
// and one-way.
func icmpPorts(typ, code uint8, counterpart []int16) (sport, dport uint16, oneWay bool) {
	if c := counterpart[typ]; c >= 0 {
		return uint16(typ), uint16(c), false
	}
	return uint16(typ), uint16(code), true
}

// Counterpart tables, -1 for one-way types (Zeek's, as pycommunityid's
// icmp.py and icmp6.py).
var icmpCounterpart, icmpv6Counterpart = counterparts(
	[][2]uint8{
		{0, 8},   // echo reply / echo
		{9, 10},  // router advertisement / solicitation
		{13, 14}, // timestamp / reply
		{15, 16}, // information request / reply
		{17, 18}, // address mask request / reply
	},
), counterparts(
	[][2]uint8{
		{128, 129}, // echo request / reply
		{130, 131}, // multicast listener query / report
		{133, 134}, // router solicitation / advertisement
		{135, 136}, // neighbor solicitation / advertisement
		{139, 140}, // node information query / response (WRU)
		{144, 145}, // home agent address discovery request / reply
	},
)

func counterparts(pairs [][2]uint8) [256]int16 {
	var t [256]int16
	for i := range t {
		t[i] = -1
	}
	for _, p := range pairs {
		t[p[0]], t[p[1]] = int16(p[1]), int16(p[0])
	}
	return t
}
