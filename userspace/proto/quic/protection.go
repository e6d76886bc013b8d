package quic

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Initial packets use AES-128-GCM with SHA-256 key derivation whatever the
// connection later negotiates (RFC 9001 §5.2).
const (
	keyLen    = 16
	ivLen     = 12
	tagLen    = 16
	sampleLen = 16
)

// packetKeys protect one direction's Initial packets.
type packetKeys struct {
	aead cipher.AEAD
	hp   cipher.Block
	iv   [ivLen]byte
}

// initialKeys are the client and server Initial keys of one connection, as
// derived from the client's Destination Connection ID.
type initialKeys struct {
	version uint32
	cid     []byte // the connection ID they derive from (a copy)
	client  packetKeys
	server  packetKeys
}

// deriveInitialKeys computes the Initial keys of version vi for the
// client's Destination Connection ID cid (RFC 9001 §5.2, RFC 9369 §3.3).
func deriveInitialKeys(version uint32, vi *versionInfo, cid []byte) (*initialKeys, error) {
	clientSecret, serverSecret, err := initialSecrets(vi, cid)
	if err != nil {
		return nil, err
	}
	k := &initialKeys{version: version, cid: append([]byte(nil), cid...)}
	if err := k.client.init(vi, clientSecret); err != nil {
		return nil, err
	}
	if err := k.server.init(vi, serverSecret); err != nil {
		return nil, err
	}
	return k, nil
}

// initialSecrets returns client_initial_secret and server_initial_secret.
func initialSecrets(vi *versionInfo, cid []byte) (client, server []byte, err error) {
	initial, err := hkdf.Extract(sha256.New, cid, vi.salt)
	if err != nil {
		return nil, nil, fmt.Errorf("quic: initial secret: %w", err)
	}
	if client, err = expandLabel(initial, "client in", sha256.Size); err != nil {
		return nil, nil, err
	}
	if server, err = expandLabel(initial, "server in", sha256.Size); err != nil {
		return nil, nil, err
	}
	return client, server, nil
}

// packetKeyMaterial expands a direction's secret into the AEAD key, IV and
// header protection key.
func packetKeyMaterial(vi *versionInfo, secret []byte) (key, iv, hp []byte, err error) {
	if key, err = expandLabel(secret, vi.keyLabel, keyLen); err != nil {
		return nil, nil, nil, err
	}
	if iv, err = expandLabel(secret, vi.ivLabel, ivLen); err != nil {
		return nil, nil, nil, err
	}
	if hp, err = expandLabel(secret, vi.hpLabel, keyLen); err != nil {
		return nil, nil, nil, err
	}
	return key, iv, hp, nil
}

func (k *packetKeys) init(vi *versionInfo, secret []byte) error {
	key, iv, hp, err := packetKeyMaterial(vi, secret)
	if err != nil {
		return err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("quic: packet key: %w", err)
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return fmt.Errorf("quic: packet key: %w", err)
	}
	if k.hp, err = aes.NewCipher(hp); err != nil {
		return fmt.Errorf("quic: header protection key: %w", err)
	}
	copy(k.iv[:], iv)
	return nil
}

// expandLabel is TLS 1.3's HKDF-Expand-Label with an empty context
// (RFC 8446 §7.1), which QUIC uses for every Initial secret and key.
func expandLabel(secret []byte, label string, length int) ([]byte, error) {
	const prefix = "tls13 "
	info := make([]byte, 0, 4+len(prefix)+len(label))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len(prefix)+len(label)))
	info = append(info, prefix...)
	info = append(info, label...)
	info = append(info, 0) // empty context
	out, err := hkdf.Expand(sha256.New, secret, string(info), length)
	if err != nil {
		return nil, fmt.Errorf("quic: expand %q: %w", label, err)
	}
	return out, nil
}

var errDecrypt = errors.New("quic: packet authentication failed")

// openBuffer is the working memory of packetKeys.open. The caller keeps it
// across packets so that decrypting one does not allocate.
type openBuffer struct {
	// pkt holds the packet being opened: after open, its unprotected
	// header followed by the plaintext.
	pkt   []byte
	mask  [aes.BlockSize]byte
	nonce [ivLen]byte
}

// open removes header protection from the packet pkt, decrypts it, and
// returns the plaintext payload and the full packet number. expected is one
// more than the largest packet number seen so far in this direction (0 for
// none), next to which a truncated number is expanded (RFC 9000 §17.1).
// The packet is copied into b (pkt itself is not modified); the payload
// points into b.pkt.
func (k *packetKeys) open(pkt []byte, pnOffset int, expected int64, b *openBuffer) (payload []byte, pn int64, err error) {
	// The sample starts 4 bytes after the packet number's start whatever
	// the packet number's length (RFC 9001 §5.4.2).
	if pnOffset+4+sampleLen > len(pkt) {
		return nil, 0, fmt.Errorf("quic: %d-byte packet too short for a header protection sample: %w", len(pkt), errTruncated)
	}
	k.hp.Encrypt(b.mask[:], pkt[pnOffset+4:pnOffset+4+sampleLen])

	if cap(b.pkt) < len(pkt) {
		b.pkt = make([]byte, len(pkt), max(len(pkt), 1500))
	}
	buf := b.pkt[:len(pkt)]
	b.pkt = buf
	copy(buf, pkt)
	buf[0] ^= b.mask[0] & 0x0f // long header: 4 protected bits
	pnLen := int(buf[0]&3) + 1
	if pnOffset+pnLen+tagLen > len(buf) {
		return nil, 0, fmt.Errorf("quic: packet too short for its packet number and tag: %w", errTruncated)
	}
	var truncated uint64
	for i := range pnLen {
		buf[pnOffset+i] ^= b.mask[1+i]
		truncated = truncated<<8 | uint64(buf[pnOffset+i])
	}
	pn = decodePacketNumber(expected, truncated, pnLen)

	// Nonce: the IV with the packet number XORed into its low bytes.
	b.nonce = k.iv
	for i := range 8 {
		b.nonce[ivLen-1-i] ^= byte(uint64(pn) >> (8 * i))
	}

	hdrEnd := pnOffset + pnLen
	ciphertext := buf[hdrEnd:]
	payload, err = k.aead.Open(ciphertext[:0], b.nonce[:], ciphertext, buf[:hdrEnd])
	if err != nil {
		return nil, pn, errDecrypt
	}
	return payload, pn, nil
}

// decodePacketNumber expands a packet number truncated to pnLen bytes to
// the one closest to expected, the largest received plus one (RFC 9000
// Appendix A.3).
func decodePacketNumber(expected int64, truncated uint64, pnLen int) int64 {
	win := int64(1) << (pnLen * 8)
	hwin := win / 2
	mask := win - 1
	candidate := (expected &^ mask) | int64(truncated)
	switch {
	case candidate <= expected-hwin && candidate < (1<<62)-win:
		return candidate + win
	case candidate > expected+hwin && candidate >= win:
		return candidate - win
	}
	return candidate
}

// retryIntegrityOK checks the Retry Integrity Tag of a Retry packet (RFC
// 9001 §5.8): an AEAD tag over the client's original Destination Connection
// ID followed by the Retry packet without its tag.
func retryIntegrityOK(vi *versionInfo, odcid, retry []byte) bool {
	if vi.retryKey == nil || len(retry) < tagLen || len(odcid) > 255 {
		return false
	}
	block, err := aes.NewCipher(vi.retryKey)
	if err != nil {
		return false
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return false
	}
	body := retry[:len(retry)-tagLen]
	pseudo := make([]byte, 0, 1+len(odcid)+len(body))
	pseudo = append(pseudo, byte(len(odcid)))
	pseudo = append(pseudo, odcid...)
	pseudo = append(pseudo, body...)
	// The tag authenticates an empty plaintext with the pseudo-packet as
	// associated data.
	_, err = aead.Open(nil, vi.retryNonce, retry[len(retry)-tagLen:], pseudo)
	return err == nil
}
