// Package reassembly rebuilds the beginning of each direction of a TCP
// connection as an in-order byte stream for the protocol parsers.
//
// Only the beginning matters: the parsers look at handshakes (TLS
// ClientHello, ServerHello and certificates, HTTP headers, SSH banners and
// KEXINIT, DNS-over-TCP messages), so each direction delivers at most a
// byte budget (DefaultBudget unless configured) and then stops. Within the
// budget, segments may arrive in any order, repeated, overlapping or cut
// short by the capture; the Deliverer still sees every stream byte exactly
// once and in order, and is told by one Gap call when the stream it got is
// not the whole stream.
//
// # Cost
//
// A Direction is a small value embedded in the flow table's entry; it
// allocates nothing until a segment arrives ahead of a hole. A segment that
// is exactly the next expected one is handed to the Deliverer straight from
// the caller's payload, without copying. Only out-of-order bytes are copied,
// into 4 KiB pages taken from a pool shared by all directions; a Limiter
// shared by all flows bounds the total, and a direction that would exceed it
// stops with a Gap instead of allocating.
//
// # Policies
//
// Stream start: with a SYN the stream starts at ISN+1 (the SYN consumes one
// sequence number, and SYN data, as with TCP Fast Open, is stream data).
// Without one, it starts at the first segment that carries payload: the
// capture began mid-connection, and Stats.MidStream says so. Pure ACKs
// before that anchor nothing.
//
// Overlaps: the first copy of a byte wins. That is what every TCP stack does
// for bytes it has already delivered to the application, and it is the only
// policy that never needs to take back bytes a parser has seen. Where stacks
// disagree, for overlapping out-of-order segments, a copy whose bytes differ
// from the buffered first copy is counted in Stats.Inconsistent: an evasion
// attempt (Ptacek & Newsham, 1998) or a broken middlebox, either way worth
// reporting. Bytes already delivered are not kept, so a retransmission that
// changes them is counted as retransmitted but cannot be compared.
//
// End of stream: a FIN fixes the stream length; the first FIN wins, and
// data or a FIN beyond it counts as Inconsistent. RST segments carry no
// stream data (RFC 9293 allows diagnostic text in them) and end nothing
// here: the flow table calls Close when the flow ends.
//
// Gaps: Gap is called at most once, after every contiguous byte before the
// hole was delivered, and nothing of the direction follows it. It means
// bytes are missing: the capture cut a segment short (snap length or a
// kernel sample budget), Close found holes or bytes known to have been sent
// (the sequence number of a later segment or a FIN) but never seen, the
// stream went on past the budget, or the out-of-order bytes could not be
// buffered (per-direction hole limit or the shared Limiter). Stats.End
// tells which. A stream that ends exactly at the budget, or whose end was
// never seen, gets no Gap.
//
// # Why not gopacket/reassembly
//
// gopacket's reassembly keeps its own connection table keyed by
// gopacket.Flow, wants a *layers.TCP per packet and reassembles whole
// connections. flowjoy already has a flow table fed by every engine
// (files, libpcap, eBPF), decodes headers without gopacket, and needs only a
// bounded prefix per direction whose memory is charged to a global bound.
// A per-direction value that the flow table owns is both smaller and
// simpler than adapting that machinery.
package reassembly
