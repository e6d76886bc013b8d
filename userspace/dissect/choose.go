package dissect

import (
	"github.com/flowjoy/flowjoy/userspace/decode"
	"github.com/flowjoy/flowjoy/userspace/proto"
	"github.com/flowjoy/flowjoy/userspace/proto/dhcp"
	"github.com/flowjoy/flowjoy/userspace/proto/dns"
	"github.com/flowjoy/flowjoy/userspace/proto/http"
	"github.com/flowjoy/flowjoy/userspace/proto/quic"
	"github.com/flowjoy/flowjoy/userspace/proto/socks"
	"github.com/flowjoy/flowjoy/userspace/proto/ssh"
	"github.com/flowjoy/flowjoy/userspace/proto/starttls"
	"github.com/flowjoy/flowjoy/userspace/proto/tls"
)

// chooseStream picks the parser of a TCP flow from its first payload.
// Content decides where a protocol has a signature (so TLS on 8443 or HTTP
// on 8080 are found); DNS, which has none, is chosen by port. dir is the
// direction of that first payload: SSH servers speak first, and so do
// those of the protocols that upgrade to TLS with STARTTLS (but XMPP);
// the other protocols' clients do.
func chooseStream(cfg *Config, pool *Pool, dir proto.Dir, p *decode.Packet) proto.Stream {
	b := p.Payload
	sp, dp := p.Key.SrcPort, p.Key.DstPort
	switch {
	case cfg.on("ssh") && ssh.Detect(b):
		return ssh.New()
	case dir == proto.Out && cfg.on("tls") && tls.Detect(b):
		return pool.tlsParser()
	case dir == proto.Out && cfg.on("http") && http.Detect(b):
		return pool.httpParser(cfg.Redact)
	case dir == proto.Out && cfg.on("tls") && socks.Detect(b):
		// TLS through a SOCKS proxy (the opener is set by the caller).
		return socks.New()
	case cfg.on("dns") && dns.DetectTCP(sp, dp, b):
		return dns.NewTCP()
	case cfg.on("tls") && starttls.Detect(dir, b):
		// Mail, FTP and XMPP: TLS after an upgrade command (the opener
		// is set by the caller).
		return starttls.New()
	}
	return nil
}

// chooseDatagram picks the parser of a UDP flow from its first datagram.
// QUIC carries TLS inside: its parser feeds a TLS parser whose object is
// reported next to the quic one.
func chooseDatagram(cfg *Config, dir proto.Dir, p *decode.Packet) (proto.Datagram, []proto.Reporter) {
	b := p.Payload
	sp, dp := p.Key.SrcPort, p.Key.DstPort
	switch {
	case cfg.on("dns") && dns.Detect(sp, dp, b):
		return dns.NewUDP(), nil
	case cfg.on("dhcp") && dhcp.Detect(sp, dp) != dhcp.NotDHCP:
		return dhcp.New(dhcp.Detect(sp, dp)), nil
	case cfg.on("quic") && quic.Detect(b):
		t := tls.NewQUIC()
		return quic.New(t), []proto.Reporter{t}
	}
	return nil, nil
}
