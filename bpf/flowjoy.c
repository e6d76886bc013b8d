//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
//
// flowjoy's kernel data path: one parsing and counting function shared by
// the TC (tcx or clsact) programs on ingress and egress and an optional XDP
// ingress program.
//
// The kernel does the least it must. Every IP packet is keyed and either
// copied to userspace as a sample (the first num_pkts packets of a flow,
// and payload while the byte budget of its direction lasts) or counted in
// the flow's map entry; never both, so userspace adds samples and counter
// deltas without double counting. All policy (timeouts, budgets,
// eviction) lives in Go.
//
// What the kernel cannot key the way userspace's decoder does (IP
// fragments, tunnels that userspace decapsulates, MPLS, PPPoE, malformed or
// truncated headers) is sent whole as an unkeyed sample: userspace decides.

#include "fj_bpf.h"
#include "fj_owner.h"

char __license[] SEC("license") = "Dual MIT/GPL";

// Sample and flow layouts. userspace/capture/ebpf reads them through the
// Go types bpf2go generates from these structs; keep them in lockstep.

// fj_key mirrors flowkey.Key in canonical form: the lower (address, port)
// endpoint is src. IPv4 addresses use the first 4 bytes, the rest is zero.
// Ports are in host byte order, 0 for protocols without ports.
struct fj_key {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 ipver;
	__u16 vlan; // outer VLAN id, 0 when untagged
	__u32 ifindex;
};

// fj_dir counts the packets of one direction that were NOT sampled: what
// every counted packet writes. Cumulative: userspace emits deltas between
// reads, since writing the entry from userspace would race with the
// counting here and lose packets.
struct fj_dir {
	__u64 packets;    // wire segments (a GSO/GRO aggregate counts gso_segs)
	__u64 bytes;      // transport payload bytes, from the length fields
	__u64 last_ns;    // time of the last counted packet
	__u32 tcp_flags;  // OR of the TCP flags of the counted packets
	__u32 owner_sent; // a sample has carried the owner of this side's socket
};

// fj_dir_rare holds what a direction writes seldom.
struct fj_dir_rare {
	__u64 first_ns; // time of the first counted packet
	__u64 lost;     // packets counted here because their sample could not be written
};

// fj_flow is laid out for the caches: the map's elements are 48 bytes of
// kernel header, the key (44, rounded to 48) and this value, packed from a
// page-aligned base. At 160 bytes an element is 256: every element starts
// a cache line, and a counted packet touches three lines (header and key;
// key tail and the flow-wide fields; both fj_dirs), not five. Keep the
// size (FJ_FLOW_SIZE is checked below) and the hot fields first.
struct fj_flow {
	__u64 last_seen_ns; // any packet, sampled or not: for idle expiry
	__u32 samples;      // header samples claimed, up to num_pkts
	__u32 budget_gen;   // the budget_gen whose overrides this flow has applied
	// Payload bytes of each direction (indexed as dir) that may still be
	// copied; <= 0: none. Per direction, as userspace reassembles each
	// TCP direction with its own budget: a download that uses up its
	// direction's budget leaves the other direction's records alone.
	__s64 budget[2];
	struct fj_dir dir[2]; // [0]: sent by key.src, [1]: sent by key.dst
	struct fj_dir_rare rare[2];
	__u64 _pad[4];
};

#define FJ_FLOW_SIZE 160
_Static_assert(sizeof(struct fj_flow) == FJ_FLOW_SIZE, "fj_flow: 48 + 48 + 160 = 256 bytes a map element");
_Static_assert(sizeof(struct fj_key) == 44, "fj_key: the element layout above assumes 44 bytes");

// Sample flags.
#define FJ_SAMPLE_L3 0x1        // data starts at the IP header (no link header)
#define FJ_SAMPLE_VLAN 0x2      // vlan_tci/vlan_proto were stripped by the NIC/stack
#define FJ_SAMPLE_UNKEYED 0x4   // sent whole, not accounted to any map entry
#define FJ_SAMPLE_NOENTRY 0x8   // the flow had no map entry (map full)
#define FJ_SAMPLE_LOCAL 0x10    // sent by a local socket (egress with skb->sk)

// fj_sample.dir, as event.Direction.
#define FJ_DIR_INGRESS 1
#define FJ_DIR_EGRESS 2

// fj_sample heads each ring-buffer record; cap_len packet bytes follow.
struct fj_sample {
	__u64 ts_ns;      // bpf_ktime_get_ns (CLOCK_MONOTONIC)
	__u32 ifindex;
	__u32 wire_len;   // skb->len, or the XDP frame length
	__u32 segs;       // wire segments this packet stands for
	__u32 cap_len;    // bytes that follow this header
	__u16 vlan_tci;   // valid with FJ_SAMPLE_VLAN
	__u16 vlan_proto; // host byte order
	__u8 dir;         // event.Direction: 1 ingress, 2 egress
	__u8 flags;
	__u16 _pad;
	// The process (tgid) that owns the sending socket, from fj_owners;
	// 0 when unknown (ingress, no socket, or procmap not loaded).
	__u32 owner;
	__u32 _pad2;
};

// fj_stats are per-CPU totals since load.
struct fj_stats {
	__u64 packets;      // wire segments seen
	__u64 samples;      // ring-buffer records written
	__u64 sample_bytes; // packet bytes in them
	__u64 rb_fail;      // samples that could not be written (ring full)
	__u64 insert_fail;  // packets of new flows that found the map full
	__u64 not_ip;       // packets that are not IP (ARP, LLDP, ...), ignored
	__u64 unkeyed;      // whole samples of packets the kernel does not key
	__u64 _reserved;
};

// Keep the sample and stats types in BTF for bpf2go's -type.
const struct fj_sample *unused_fj_sample __attribute__((unused));
const struct fj_stats *unused_fj_stats __attribute__((unused));

// Configuration set by userspace before load (verifier constants).
volatile const __u32 num_pkts = 50;
// The payload budget each direction of a new flow starts with.
volatile const __s64 init_budget = 16384;
// Above this many unread bytes a submit wakes the reader; below it the
// reader finds samples when its short poll deadline passes (a wakeup per
// sample costs about 5x the sample itself).
volatile const __u64 wakeup_bytes = 1 << 20;
// When set, tunnel packets (GRE, IP-in-IP, VXLAN, VXLAN-GPE, Geneve) are
// sent whole because userspace keys them by the inner packet.
volatile const __u8 tunnels_whole = 1;

// Bumped by userspace after it writes budget_overrides: a flow looks for an
// override only when the generation moved, so an idle override map costs
// nothing per packet.
volatile __u32 budget_gen = 0;

// Elements are allocated as flows appear (BPF_F_NO_PREALLOC), so the map
// costs what is open, not max_entries × 256 bytes up front (--max-flows'
// default of 1 M preallocated 273 MB of kernel memory). Live, a packet
// costs the same either way (docs/PERFORMANCE.md); a full map still fails
// the insert (-E2BIG), which is counted.
struct {
	__uint(type, BPF_MAP_TYPE_HASH); // not LRU: LRU would evict silently
	__uint(max_entries, 65536);      // set by userspace
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fj_key);
	__type(value, struct fj_flow);
} flows SEC(".maps");

// LRU maps are always preallocated, so userspace sizes this one at
// min(--max-flows, 65536) rather than --max-flows (1 M: 121 MB): an
// override lives only from userspace's write to the flow's next packet,
// and one evicted before that only costs the bytes copied meanwhile.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); // set by userspace
	__type(key, struct fj_key);
	__type(value, __s64);
} budget_overrides SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); // set by userspace
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fj_stats);
} stats SEC(".maps");

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_QINQ_OLD 0x9100
#define ETH_P_802_3_MIN 0x0600
#define ETH_P_MPLS_UC 0x8847
#define ETH_P_MPLS_MC 0x8848
#define ETH_P_PPP_SES 0x8864

#define IPPROTO_ICMP 1
#define IPPROTO_IPIP 4
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_DCCP 33
#define IPPROTO_IPV6 41
#define IPPROTO_GRE 47
#define IPPROTO_ICMPV6 58
#define IPPROTO_SCTP 132
#define IPPROTO_UDPLITE 136

#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_NONE 59
#define NEXTHDR_DEST 60

#define VXLAN_PORT 4789
#define VXLAN_GPE_PORT 4790
#define GENEVE_PORT 6081

// Enough for hop-by-hop, destination options twice, routing and AH; a
// longer chain goes to userspace whole.
#define FJ_MAX_EXT_HDRS 6
// Largest sample: a whole 64 KiB GRO aggregate. Copies go in chunks (see
// fj_emit); a record wastes less than FJ_SMALL_CHUNK bytes of the ring.
#define FJ_MAX_CAP 65536
#define FJ_BIG_CHUNK 4096
#define FJ_SMALL_CHUNK 64

enum fj_verdict {
	FJ_SKIP,  // not IP: ignore
	FJ_FLOW,  // keyed: sample or count
	FJ_WHOLE, // send whole, unkeyed
};

// Facts about the packet that do not come from its bytes.
struct fj_meta {
	__u64 now;        // bpf_ktime_get_ns, read once the packet is known to be IP
	__u32 ifindex;
	__u32 wire_len;
	__u32 segs;
	__u16 vlan_tci;
	__u16 vlan_proto;
	__u8 dir;
	__u8 l3;          // no link header
	__u8 vlan_accel;  // a tag was taken out of the data
	__u8 local;       // sent by a local socket
	__u32 owner;      // its owner's tgid, 0 if unknown
};

struct fj_parsed {
	struct fj_key key; // src = this packet's sender
	__u32 pay_off;     // offset of the transport payload in the data
	__u32 pay_len;     // transport payload bytes on the wire
	__u32 tcp_flags;
};

static __always_inline long fj_load(void *ctx, int xdp, __u32 off, void *to, __u32 len)
{
	if (xdp)
		return bpf_xdp_load_bytes(ctx, off, to, len);
	return bpf_skb_load_bytes(ctx, off, to, len);
}

static __always_inline struct fj_stats *fj_stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&stats, &zero);
}

// fj_stat adds to this CPU's counter without a locked instruction: the
// programs run with bottom halves off (TC egress) or in softirq (TC
// ingress, XDP), so two of them never interleave on one CPU.
#define fj_stat(st, field, n) \
	do { \
		if (st) \
			(st)->field += (n); \
	} while (0)

// fj_transport reads ports and flags and works out the payload length the
// way userspace's decoder does (see decode.Packet.PayloadLen).
static __always_inline enum fj_verdict fj_transport(void *ctx, int xdp, struct fj_meta *m,
						    struct fj_parsed *p, __u32 l4, __u32 ip_pay)
{
	__u8 proto = p->key.proto;
	// A header the length fields promise but the packet does not hold
	// (a malformed packet) goes to userspace, which decides.
	__u32 held = m->wire_len > l4 ? m->wire_len - l4 : 0;

	if (tunnels_whole && (proto == IPPROTO_IPIP || proto == IPPROTO_IPV6 || proto == IPPROTO_GRE))
		return FJ_WHOLE;

	switch (proto) {
	case IPPROTO_TCP: {
		__u8 th[20];
		if (ip_pay < 20 || fj_load(ctx, xdp, l4, th, sizeof(th)))
			return FJ_WHOLE;
		__u32 doff = (th[12] >> 4) * 4;
		if (doff < 20 || doff > ip_pay)
			return FJ_WHOLE;
		p->key.sport = (th[0] << 8) | th[1];
		p->key.dport = (th[2] << 8) | th[3];
		p->tcp_flags = th[13];
		p->pay_off = l4 + doff;
		p->pay_len = ip_pay - doff;
		return FJ_FLOW;
	}
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE: {
		__u8 uh[8];
		if (ip_pay < 8 || fj_load(ctx, xdp, l4, uh, sizeof(uh)))
			return FJ_WHOLE;
		p->key.sport = (uh[0] << 8) | uh[1];
		p->key.dport = (uh[2] << 8) | uh[3];
		if (tunnels_whole && proto == IPPROTO_UDP &&
		    (p->key.dport == VXLAN_PORT || p->key.dport == VXLAN_GPE_PORT ||
		     p->key.dport == GENEVE_PORT))
			return FJ_WHOLE;
		__u32 ulen = (uh[4] << 8) | uh[5];
		p->pay_off = l4 + 8;
		// UDP-Lite's length field is its checksum coverage; a UDP
		// length that disagrees with IP loses to IP, as in the decoder.
		if (proto == IPPROTO_UDP && ulen >= 8 && ulen <= ip_pay)
			p->pay_len = ulen - 8;
		else
			p->pay_len = ip_pay - 8;
		return FJ_FLOW;
	}
	case IPPROTO_SCTP: {
		__u8 sh[4];
		if (ip_pay < 12 || held < 12 || fj_load(ctx, xdp, l4, sh, sizeof(sh)))
			return FJ_WHOLE;
		p->key.sport = (sh[0] << 8) | sh[1];
		p->key.dport = (sh[2] << 8) | sh[3];
		p->pay_off = l4 + 12; // the common header; chunks count as payload
		p->pay_len = ip_pay - 12;
		return FJ_FLOW;
	}
	case IPPROTO_DCCP: {
		__u8 dh[12];
		if (ip_pay < 12 || fj_load(ctx, xdp, l4, dh, sizeof(dh)))
			return FJ_WHOLE;
		__u32 hl = dh[4] * 4, min_hl = (dh[8] & 1) ? 16 : 12; // X: extended seq
		if (hl < min_hl || hl > ip_pay || held < min_hl)
			return FJ_WHOLE;
		p->key.sport = (dh[0] << 8) | dh[1];
		p->key.dport = (dh[2] << 8) | dh[3];
		p->pay_off = l4 + hl;
		p->pay_len = ip_pay - hl;
		return FJ_FLOW;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (ip_pay < 8 || held < 8)
			return FJ_WHOLE;
		p->pay_off = l4 + 8;
		p->pay_len = ip_pay - 8;
		return FJ_FLOW;
	}
	if (!held && ip_pay)
		return FJ_WHOLE;
	p->pay_off = l4;
	p->pay_len = ip_pay;
	return FJ_FLOW;
}

static __always_inline enum fj_verdict fj_ipv4(void *ctx, int xdp, struct fj_meta *m,
					       struct fj_parsed *p, __u32 off)
{
	__u8 ih[20];
	if (fj_load(ctx, xdp, off, ih, sizeof(ih)))
		return FJ_WHOLE;
	__u32 ihl = (ih[0] & 0xf) * 4;
	if ((ih[0] >> 4) != 4 || ihl < 20)
		return FJ_WHOLE;
	__u32 tot = (ih[2] << 8) | ih[3];
	if (tot == 0 && m->wire_len > off) // GSO aggregate beyond 64 KiB (BIG TCP)
		tot = m->wire_len - off;
	if (tot < ihl)
		return FJ_WHOLE;
	// Any fragment: userspace keys non-first fragments by the first
	// one's ports, which only it has seen.
	if (((ih[6] << 8) | ih[7]) & 0x3fff)
		return FJ_WHOLE;
	// AH between IPv4 and the transport: rare, and userspace walks it.
	if (ih[9] == NEXTHDR_AUTH)
		return FJ_WHOLE;
	p->key.ipver = 4;
	p->key.proto = ih[9];
	__builtin_memcpy(p->key.src, &ih[12], 4);
	__builtin_memcpy(p->key.dst, &ih[16], 4);
	return fj_transport(ctx, xdp, m, p, off + ihl, tot - ihl);
}

static __always_inline enum fj_verdict fj_ipv6(void *ctx, int xdp, struct fj_meta *m,
					       struct fj_parsed *p, __u32 off)
{
	__u8 ip6[40];
	if (fj_load(ctx, xdp, off, ip6, sizeof(ip6)))
		return FJ_WHOLE;
	if ((ip6[0] >> 4) != 6)
		return FJ_WHOLE;
	__u32 plen = (ip6[4] << 8) | ip6[5];
	__u8 nh = ip6[6];
	if (plen == 0 && nh == NEXTHDR_HOP)
		return FJ_WHOLE; // a jumbogram: its length is in a hop-by-hop option
	if (plen == 0 && nh != NEXTHDR_NONE && m->wire_len > off + 40)
		plen = m->wire_len - off - 40; // BIG TCP: the length is the packet's
	__u32 l4 = off + 40, ext = 0;

	for (int i = 0; i < FJ_MAX_EXT_HDRS; i++) {
		__u8 eh[2];
		__u32 hl;
		switch (nh) {
		case NEXTHDR_HOP:
		case NEXTHDR_ROUTING:
		case NEXTHDR_DEST:
		case NEXTHDR_AUTH:
			if (fj_load(ctx, xdp, l4, eh, sizeof(eh)))
				return FJ_WHOLE;
			hl = nh == NEXTHDR_AUTH ? (eh[1] + 2) * 4 : (eh[1] + 1) * 8;
			nh = eh[0];
			l4 += hl;
			ext += hl;
			continue;
		case NEXTHDR_FRAGMENT:
			return FJ_WHOLE;
		}
		break;
	}
	if (nh == NEXTHDR_HOP || nh == NEXTHDR_ROUTING || nh == NEXTHDR_DEST ||
	    nh == NEXTHDR_AUTH || nh == NEXTHDR_FRAGMENT || ext > plen)
		return FJ_WHOLE;

	p->key.ipver = 6;
	p->key.proto = nh;
	__builtin_memcpy(p->key.src, &ip6[8], 16);
	__builtin_memcpy(p->key.dst, &ip6[24], 16);
	return fj_transport(ctx, xdp, m, p, l4, plen - ext);
}

// fj_parse keys the packet. p must be zeroed by the caller.
static __always_inline enum fj_verdict fj_parse(void *ctx, int xdp, struct fj_meta *m,
						struct fj_parsed *p)
{
	__u32 off = 0;
	__u16 proto;

	p->key.ifindex = m->ifindex;
	if (m->l3) {
		__u8 v;
		if (fj_load(ctx, xdp, 0, &v, 1))
			return FJ_SKIP;
		proto = (v >> 4) == 4 ? ETH_P_IP : (v >> 4) == 6 ? ETH_P_IPV6 : 0;
	} else {
		__u8 eth[ETH_HLEN];
		int tags = 0;
		if (fj_load(ctx, xdp, 0, eth, sizeof(eth)))
			return FJ_SKIP;
		proto = (eth[12] << 8) | eth[13];
		off = ETH_HLEN;
		if (m->vlan_accel) {
			p->key.vlan = m->vlan_tci & 0xfff;
			tags = 1;
		}
		for (int i = 0; i < 2; i++) {
			__u8 vh[4];
			if (tags >= 2 || (proto != ETH_P_8021Q && proto != ETH_P_8021AD &&
					  proto != ETH_P_QINQ_OLD))
				break;
			if (fj_load(ctx, xdp, off, vh, sizeof(vh)))
				return FJ_WHOLE;
			if (tags == 0)
				p->key.vlan = ((vh[0] << 8) | vh[1]) & 0xfff;
			proto = (vh[2] << 8) | vh[3];
			off += 4;
			tags++;
		}
	}

	switch (proto) {
	case ETH_P_IP:
		return fj_ipv4(ctx, xdp, m, p, off);
	case ETH_P_IPV6:
		return fj_ipv6(ctx, xdp, m, p, off);
	case ETH_P_8021Q: // a third tag
	case ETH_P_8021AD:
	case ETH_P_QINQ_OLD:
	case ETH_P_MPLS_UC:
	case ETH_P_MPLS_MC:
	case ETH_P_PPP_SES:
		return FJ_WHOLE; // may carry IP; the decoder knows these
	}
	if (proto < ETH_P_802_3_MIN) {
		// An 802.3 length: LLC. Only SNAP with the zero OUI (RFC 1042)
		// may carry IP; STP and the like are not flows.
		__u8 llc[6];
		if (!fj_load(ctx, xdp, off, llc, sizeof(llc)) && llc[0] == 0xAA && llc[1] == 0xAA &&
		    llc[2] == 0x03 && llc[3] == 0 && llc[4] == 0 && llc[5] == 0)
			return FJ_WHOLE;
	}
	return FJ_SKIP;
}

// fj_canonical orders the key's endpoints as flowkey.Key.Canonical does
// (addresses compared bytewise, then ports) and returns the sender's side.
static __always_inline int fj_canonical(struct fj_key *k)
{
	int swap = -1;

	// Big-endian word compares give the bytewise order.
	for (int i = 0; i < 4; i++) {
		__u32 a, b;
		__builtin_memcpy(&a, &k->src[i * 4], 4);
		__builtin_memcpy(&b, &k->dst[i * 4], 4);
		if (a != b) {
			swap = bpf_ntohl(a) > bpf_ntohl(b);
			break;
		}
	}
	if (swap < 0)
		swap = k->sport > k->dport;
	if (!swap)
		return 0;

	__u8 tmp[16];
	__builtin_memcpy(tmp, k->src, 16);
	__builtin_memcpy(k->src, k->dst, 16);
	__builtin_memcpy(k->dst, tmp, 16);
	__u16 port = k->sport;
	k->sport = k->dport;
	k->dport = port;
	return 1;
}

// fj_emit writes a sample of the packet's first hdr->cap_len bytes and
// returns 0, or -1 when the ring buffer is full (nothing written). The
// record is reserved with its exact size rounded up to FJ_SMALL_CHUNK and
// filled straight from the packet in chunks, large ones then small ones,
// so a 64 KiB GRO aggregate is one record and one copy.
static __always_inline int fj_emit(void *ctx, int xdp, struct fj_sample *hdr)
{
	struct fj_stats *st = fj_stats();
	struct bpf_dynptr d;
	__u32 cap = hdr->cap_len;

	if (cap > FJ_MAX_CAP)
		cap = FJ_MAX_CAP;
	hdr->cap_len = cap;
	__u32 room = (cap + FJ_SMALL_CHUNK - 1) & ~(FJ_SMALL_CHUNK - 1);
	if (bpf_ringbuf_reserve_dynptr(&samples, sizeof(*hdr) + room, 0, &d))
		goto discard;
	if (bpf_dynptr_write(&d, 0, hdr, sizeof(*hdr), 0))
		goto discard;

	// Offsets come from the loop index and cap alone, so the verifier
	// sees the same state after every way out of a loop.
	for (__u32 i = 0; i < FJ_MAX_CAP / FJ_BIG_CHUNK; i++) {
		__u32 at = i * FJ_BIG_CHUNK;
		if (at + FJ_BIG_CHUNK > cap)
			break;
		void *dst = bpf_dynptr_data(&d, sizeof(*hdr) + at, FJ_BIG_CHUNK);
		if (!dst || fj_load(ctx, xdp, at, dst, FJ_BIG_CHUNK))
			goto discard;
	}
	__u32 tail = cap & ~(FJ_BIG_CHUNK - 1);
	for (__u32 i = 0; i < FJ_BIG_CHUNK / FJ_SMALL_CHUNK; i++) {
		__u32 at = tail + i * FJ_SMALL_CHUNK;
		if (at >= cap)
			break;
		__u32 n = cap - at;
		if (n > FJ_SMALL_CHUNK)
			n = FJ_SMALL_CHUNK;
		n = ((n - 1) & (FJ_SMALL_CHUNK - 1)) + 1; // 1..64, and provably so
		void *dst = bpf_dynptr_data(&d, sizeof(*hdr) + at, FJ_SMALL_CHUNK);
		if (!dst || fj_load(ctx, xdp, at, dst, n))
			goto discard;
	}

	__u64 flags = bpf_ringbuf_query(&samples, BPF_RB_AVAIL_DATA) >= wakeup_bytes ?
			      BPF_RB_FORCE_WAKEUP :
			      BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit_dynptr(&d, flags);
	fj_stat(st, samples, 1);
	fj_stat(st, sample_bytes, cap);
	return 0;

discard:
	// Required even when the reservation itself failed.
	bpf_ringbuf_discard_dynptr(&d, 0);
	fj_stat(st, rb_fail, 1);
	return -1;
}

// Parsing and copying are global functions, one per context kind: the
// verifier checks a global function once, on its own, instead of once for
// every path that reaches it, which keeps loading fast.

__attribute__((noinline)) int fj_parse_skb(struct __sk_buff *skb, struct fj_meta *m,
					   struct fj_parsed *p)
{
	if (!m || !p)
		return FJ_SKIP;
	return fj_parse(skb, 0, m, p);
}

__attribute__((noinline)) int fj_parse_xdp(struct xdp_md *ctx, struct fj_meta *m,
					   struct fj_parsed *p)
{
	if (!m || !p)
		return FJ_SKIP;
	return fj_parse(ctx, 1, m, p);
}

__attribute__((noinline)) int fj_emit_skb(struct __sk_buff *skb, struct fj_sample *hdr)
{
	if (!hdr)
		return -1;
	return fj_emit(skb, 0, hdr);
}

__attribute__((noinline)) int fj_emit_xdp(struct xdp_md *ctx, struct fj_sample *hdr)
{
	if (!hdr)
		return -1;
	return fj_emit(ctx, 1, hdr);
}

// fj_apply_override picks up a budget userspace set for this flow: it
// becomes the remaining budget of both directions.
static __always_inline void fj_apply_override(struct fj_key *k, struct fj_flow *f)
{
	__u32 gen = budget_gen;
	if (f->budget_gen == gen)
		return;
	f->budget_gen = gen;
	__s64 *o = bpf_map_lookup_elem(&budget_overrides, k);
	if (o) {
		__s64 b = *o;
		f->budget[0] = b;
		f->budget[1] = b;
		bpf_map_delete_elem(&budget_overrides, k);
	}
}

static __always_inline void fj_count(struct fj_flow *f, int side, struct fj_meta *m,
				     struct fj_parsed *p, int lost)
{
	struct fj_dir *d = side ? &f->dir[1] : &f->dir[0];
	struct fj_dir_rare *r = side ? &f->rare[1] : &f->rare[0];
	// The packet that finds the count at 0 times the direction's first,
	// so later ones leave the rarely written line alone. (Userspace may
	// read the count before that time lands; see report.)
	if (__sync_fetch_and_add(&d->packets, m->segs) == 0)
		r->first_ns = m->now;
	__sync_fetch_and_add(&d->bytes, p->pay_len);
	if (lost)
		__sync_fetch_and_add(&r->lost, m->segs);
	if (d->last_ns < m->now)
		d->last_ns = m->now;
	if (p->tcp_flags && (d->tcp_flags & p->tcp_flags) != p->tcp_flags)
		__sync_fetch_and_or(&d->tcp_flags, p->tcp_flags);
}

// fj_flow_entry returns the flow's map entry, creating it on first sight,
// or NULL when the map is full.
static __always_inline struct fj_flow *fj_flow_entry(struct fj_key *ck, struct fj_stats *st)
{
	struct fj_flow *f = bpf_map_lookup_elem(&flows, ck);
	if (f)
		return f;

	struct fj_flow init;
	__builtin_memset(&init, 0, sizeof(init));
	init.budget[0] = init_budget;
	init.budget[1] = init_budget;
	init.budget_gen = budget_gen; // overrides written before this entry are stale
	long err = bpf_map_update_elem(&flows, ck, &init, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		fj_stat(st, insert_fail, 1);
		return NULL;
	}
	return bpf_map_lookup_elem(&flows, ck);
}

// fj_owner_lookup fills m->local and m->owner for an egress packet: a
// locally made packet carries its socket on egress (on ingress skb->sk is
// not the receiver's), and the owner procmap's hooks wrote for it goes up
// with the sample. fj_handle calls it only for packets that are sampled or
// whose side has not sent its owner yet, so the bulk of a flow costs no
// socket-storage lookup.
static __always_inline void fj_owner_lookup(void *ctx, int xdp, struct fj_meta *m)
{
	if (xdp || m->dir != FJ_DIR_EGRESS)
		return;
	struct __sk_buff *skb = ctx;
	if (!skb->sk)
		return;
	struct bpf_sock *sk = bpf_sk_fullsock(skb->sk);
	if (!sk)
		return;
	m->local = 1;
	struct fj_owner *o = bpf_sk_storage_get(&fj_owners, sk, NULL, 0);
	if (o)
		m->owner = o->tgid;
}

// The clock is read once the packet is known to be IP: a skipped packet
// costs no clock read. Counted packets read the precise clock too: the
// coarse one (bpf_ktime_get_coarse_ns) saved ~25 ns hot but nothing
// measurable live, and lags by more than a tick on a tickless idle CPU,
// which moved flows' end times by over 5 ms (TestLiveEnginesEqualFileEngine).
static __always_inline void fj_handle(void *ctx, int xdp, struct fj_meta *m)
{
	struct fj_stats *st = fj_stats();
	fj_stat(st, packets, m->segs);

	struct fj_parsed p;
	__builtin_memset(&p, 0, sizeof(p));
	struct fj_sample hdr = {
		.ifindex = m->ifindex,
		.wire_len = m->wire_len,
		.segs = m->segs,
		.vlan_tci = m->vlan_tci,
		.vlan_proto = m->vlan_proto,
		.dir = m->dir,
		.flags = (m->l3 ? FJ_SAMPLE_L3 : 0) | (m->vlan_accel ? FJ_SAMPLE_VLAN : 0),
	};
	struct fj_flow *f = NULL;
	struct fj_dir *d = NULL;
	int side = 0, sample = 0;
	__u32 cap = 0;

	int v = xdp ? fj_parse_xdp(ctx, m, &p) : fj_parse_skb(ctx, m, &p);
	if (v == FJ_SKIP) {
		fj_stat(st, not_ip, m->segs);
		return;
	}
	if (v == FJ_WHOLE) {
		hdr.flags |= FJ_SAMPLE_UNKEYED;
		fj_stat(st, unkeyed, 1);
		m->now = bpf_ktime_get_ns();
		sample = 1;
		cap = m->wire_len;
	} else {
		// Payload a sample may carry: what the packet holds of it,
		// within the largest sample.
		__u32 pay_cap = 0;
		if (p.pay_len && m->wire_len > p.pay_off && p.pay_off < FJ_MAX_CAP) {
			pay_cap = m->wire_len - p.pay_off;
			if (pay_cap > p.pay_len)
				pay_cap = p.pay_len;
			if (pay_cap > FJ_MAX_CAP - p.pay_off)
				pay_cap = FJ_MAX_CAP - p.pay_off;
		}
		__u32 hdr_cap = p.pay_off < m->wire_len ? p.pay_off : m->wire_len;
		m->now = bpf_ktime_get_ns();
		struct fj_key ck = p.key;
		side = fj_canonical(&ck);
		f = fj_flow_entry(&ck, st);
		if (!f) {
			// Map full: the packet still goes up, as a header
			// sample, and userspace expires flows early.
			hdr.flags |= FJ_SAMPLE_NOENTRY;
			sample = 1;
			cap = hdr_cap;
		} else {
			d = side ? &f->dir[1] : &f->dir[0];
			fj_apply_override(&ck, f);
			// Claim a header sample slot (shared by both
			// directions), then payload budget (this direction's).
			// Racing CPUs may overshoot the budget by a packet;
			// the sample count is exact.
			if (f->samples < num_pkts && __sync_fetch_and_add(&f->samples, 1) < num_pkts)
				sample = 1;
			__s64 *budget = side ? &f->budget[1] : &f->budget[0];
			__u32 pay = 0;
			if (pay_cap && *budget > 0) {
				__s64 left = *budget;
				pay = left < pay_cap ? (__u32)left : pay_cap;
				__sync_fetch_and_sub(budget, (__s64)pay);
				sample = 1;
			}
			cap = hdr_cap + pay;
			if (sample || !d->owner_sent)
				fj_owner_lookup(ctx, xdp, m);
			// Owners travel in samples only: a local side that sends
			// once the flow's samples and budget are used up (a server
			// answering a large upload) gets one header sample for
			// its owner.
			if (!sample && m->owner && !d->owner_sent) {
				sample = 1;
				cap = hdr_cap;
			}
			f->last_seen_ns = m->now;
		}
	}

	int lost = 0;
	if (sample) {
		if (!f)
			fj_owner_lookup(ctx, xdp, m);
		if (m->local)
			hdr.flags |= FJ_SAMPLE_LOCAL;
		hdr.ts_ns = m->now;
		hdr.owner = m->owner;
		hdr.cap_len = cap;
		if ((xdp ? fj_emit_xdp(ctx, &hdr) : fj_emit_skb(ctx, &hdr)) == 0) {
			if (d && m->owner && !d->owner_sent)
				d->owner_sent = 1;
			return;
		}
		lost = 1;
	}
	if (f)
		fj_count(f, side, m, &p, lost);
}

static __always_inline void fj_handle_skb(struct __sk_buff *skb, __u8 dir, __u8 l3)
{
	struct fj_meta m = {
		.ifindex = skb->ifindex,
		.wire_len = skb->len,
		.segs = skb->gso_segs ? skb->gso_segs : 1,
		.dir = dir,
		.l3 = l3,
	};
	if (skb->vlan_present) {
		m.vlan_accel = 1;
		m.vlan_tci = skb->vlan_tci;
		m.vlan_proto = bpf_ntohs((__u16)skb->vlan_proto);
	}
	fj_handle(skb, 0, &m);
}

// TC programs never decide a packet's fate: TC_ACT_UNSPEC (TCX_NEXT) lets
// the next program or the default action run.

SEC("tc")
int fj_tc_ingress(struct __sk_buff *skb)
{
	fj_handle_skb(skb, FJ_DIR_INGRESS, 0);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int fj_tc_egress(struct __sk_buff *skb)
{
	fj_handle_skb(skb, FJ_DIR_EGRESS, 0);
	return TC_ACT_UNSPEC;
}

// For devices without a link header (tun, wireguard, ipip): data starts at
// the IP header.

SEC("tc")
int fj_tc_ingress_l3(struct __sk_buff *skb)
{
	fj_handle_skb(skb, FJ_DIR_INGRESS, 1);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int fj_tc_egress_l3(struct __sk_buff *skb)
{
	fj_handle_skb(skb, FJ_DIR_EGRESS, 1);
	return TC_ACT_UNSPEC;
}

// XDP sees each wire frame before GRO, so there are no aggregates and no
// stripped VLAN tags; it is used instead of TC ingress, never with it.
SEC("xdp")
int fj_xdp_ingress(struct xdp_md *ctx)
{
	struct fj_meta m = {
		.ifindex = ctx->ingress_ifindex,
		.wire_len = (__u32)bpf_xdp_get_buff_len(ctx),
		.segs = 1,
		.dir = FJ_DIR_INGRESS,
	};
	fj_handle(ctx, 1, &m);
	return XDP_PASS;
}
