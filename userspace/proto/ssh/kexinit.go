package ssh

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
)

// The ten name-lists of SSH_MSG_KEXINIT, in wire order (RFC 4253 §7.1).
const (
	listKex = iota
	listHostKey
	listEncCS // encryption client to server
	listEncSC
	listMacCS
	listMacSC
	listCompCS
	listCompSC
	listLangCS
	listLangSC
	numLists
)

var listNames = [numLists]string{
	"kex_algorithms",
	"server_host_key_algorithms",
	"encryption_algorithms_client_to_server",
	"encryption_algorithms_server_to_client",
	"mac_algorithms_client_to_server",
	"mac_algorithms_server_to_client",
	"compression_algorithms_client_to_server",
	"compression_algorithms_server_to_client",
	"languages_client_to_server",
	"languages_server_to_client",
}

// kexInit is one side's SSH_MSG_KEXINIT.
type kexInit struct {
	cookie [16]byte
	// lists are comma-separated name-lists exactly as on the wire; they
	// share one copy of the message.
	lists                 [numLists][]byte
	firstKexPacketFollows bool
}

// parseKexInit decodes the payload of SSH_MSG_KEXINIT after the message
// code. The result owns a copy of the bytes it keeps.
func parseKexInit(payload []byte) (*kexInit, error) {
	r := reader{bytes.Clone(payload)}
	k := &kexInit{}
	cookie, err := r.bytes(16)
	if err != nil {
		return nil, fmt.Errorf("KEXINIT cookie: %w", err)
	}
	copy(k.cookie[:], cookie)
	for i := range k.lists {
		if k.lists[i], err = r.string(); err != nil {
			return nil, fmt.Errorf("KEXINIT %s: %w", listNames[i], err)
		}
	}
	follows, err := r.byte()
	if err != nil {
		return nil, fmt.Errorf("KEXINIT first_kex_packet_follows: %w", err)
	}
	k.firstKexPacketFollows = follows != 0
	// The trailing reserved uint32 carries nothing; a sender that omits it
	// has still told us everything, so its absence is not an error.
	return k, nil
}

// names calls yield for each non-empty name of a name-list.
func names(list []byte, yield func([]byte) bool) {
	for len(list) > 0 {
		name := list
		if i := bytes.IndexByte(list, ','); i >= 0 {
			name, list = list[:i], list[i+1:]
		} else {
			list = nil
		}
		if len(name) > 0 && !yield(name) {
			return
		}
	}
}

// firstName returns the first name of a name-list (a side's preference).
func firstName(list []byte) []byte {
	var first []byte
	names(list, func(n []byte) bool { first = n; return false })
	return first
}

// contains reports whether a name-list holds name.
func contains(list, name []byte) bool {
	found := false
	names(list, func(n []byte) bool { found = bytes.Equal(n, name); return !found })
	return found
}

// agree is the negotiation rule of RFC 4253 §7.1: the first algorithm on
// the client's list that is also on the server's list, or nil if none.
func agree(client, server []byte) []byte {
	var chosen []byte
	names(client, func(n []byte) bool {
		if contains(server, n) {
			chosen = n
			return false
		}
		return true
	})
	return chosen
}

// guessWrong says whether a first_kex_packet_follows guess must be
// ignored: RFC 4253 §7 counts it wrong when the two sides' preferred kex
// or host key algorithms differ. Which side is the client does not matter.
func guessWrong(a, b *kexInit) bool {
	return !bytes.Equal(firstName(a.lists[listKex]), firstName(b.lists[listKex])) ||
		!bytes.Equal(firstName(a.lists[listHostKey]), firstName(b.lists[listHostKey]))
}

// aeadCiphers carry their own integrity protection: OpenSSH and
// golang.org/x/crypto/ssh do not negotiate a MAC with them, so neither do
// we. (RFC 5647's AEAD_AES_*_GCM instead require the same name on the MAC
// list, which the plain list rule already handles.)
var aeadCiphers = map[string]bool{
	"chacha20-poly1305@openssh.com": true,
	"aes128-gcm@openssh.com":        true,
	"aes256-gcm@openssh.com":        true,
}

// Pseudo-algorithms of OpenSSH's strict key exchange (the Terrapin
// countermeasure): each side announces support in its kex list.
var (
	strictKexClient = []byte("kex-strict-c-v00@openssh.com")
	strictKexServer = []byte("kex-strict-s-v00@openssh.com")
)

// negotiate computes what the connection uses from both KEXINITs.
func negotiate(cli, srv *kexInit) *Chosen {
	c := &Chosen{}
	pick := func(i int) []byte { return agree(cli.lists[i], srv.lists[i]) }
	c.Kex = wire(pick(listKex))
	c.HostKey = wire(pick(listHostKey))
	c.EncCS = wire(pick(listEncCS))
	c.EncSC = wire(pick(listEncSC))
	if !aeadCiphers[string(c.EncCS)] {
		c.MacCS = wire(pick(listMacCS))
	}
	if !aeadCiphers[string(c.EncSC)] {
		c.MacSC = wire(pick(listMacSC))
	}
	c.CompCS = wire(pick(listCompCS))
	c.CompSC = wire(pick(listCompSC))
	c.LangCS = wire(pick(listLangCS))
	c.LangSC = wire(pick(listLangSC))
	c.StrictKex = contains(cli.lists[listKex], strictKexClient) &&
		contains(srv.lists[listKex], strictKexServer)
	return c
}

// hassh returns the HASSH fingerprint of a KEXINIT (salesforce/hassh):
// the MD5 of "kex;encryption;mac;compression", taking the client-to-server
// lists for a client and the server-to-client lists for a server.
func hassh(k *kexInit, server bool) (fingerprint string, algorithms []byte) {
	enc, mac, comp := listEncCS, listMacCS, listCompCS
	if server {
		enc, mac, comp = listEncSC, listMacSC, listCompSC
	}
	algorithms = bytes.Join([][]byte{k.lists[listKex], k.lists[enc], k.lists[mac], k.lists[comp]}, []byte{';'})
	sum := md5.Sum(algorithms)
	return hex.EncodeToString(sum[:]), algorithms
}
