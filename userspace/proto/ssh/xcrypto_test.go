package ssh

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/flowjoy/flowjoy/userspace/proto"
)

// chunk is one Data call.
type chunk struct {
	dir  proto.Dir
	data []byte
}

// recordingConn records what a client sends (Out) and receives (In), in
// the order it happens: the two byte streams of the connection.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	chunks []chunk
}

func (c *recordingConn) record(dir proto.Dir, b []byte) {
	if len(b) == 0 {
		return
	}
	c.mu.Lock()
	c.chunks = append(c.chunks, chunk{dir, append([]byte(nil), b...)})
	c.mu.Unlock()
}

func (c *recordingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.record(proto.Out, b[:n])
	return n, err
}

func (c *recordingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.record(proto.In, b[:n])
	return n, err
}

// handshake runs golang.org/x/crypto/ssh client and server over a
// loopback TCP connection (net.Pipe would deadlock: both sides send their
// identification string before reading) through user authentication and
// returns the recorded streams and the client's view of the connection.
func handshake(t *testing.T, client *xssh.ClientConfig, server *xssh.ServerConfig) ([]chunk, xssh.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	deadline := time.Now().Add(20 * time.Second)
	cc.SetDeadline(deadline)
	sc.SetDeadline(deadline)
	rec := &recordingConn{Conn: cc}
	srvErr := make(chan error, 1)
	go func() {
		conn, chans, reqs, err := xssh.NewServerConn(sc, server)
		if err != nil {
			srvErr <- err
			return
		}
		go xssh.DiscardRequests(reqs)
		go func() {
			for ch := range chans {
				ch.Reject(xssh.Prohibited, "test")
			}
		}()
		srvErr <- nil
		conn.Wait()
	}()
	conn, chans, reqs, err := xssh.NewClientConn(rec, "pipe", client)
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	go xssh.DiscardRequests(reqs)
	go func() {
		for range chans {
		}
	}()
	if err := <-srvErr; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	conn.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.chunks, conn
}

func TestXCryptoHandshake(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	signer := func(k any) xssh.Signer {
		s, err := xssh.NewSignerFromKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name         string
		hostKey      xssh.Signer
		client       xssh.Config
		server       xssh.Config
		hostKeyAlgos []string
		// Sizes fixed by the specifications of the chosen method.
		cKexLen, sKexLen int
		gex              bool
		hostKeyBits      int
		sigType          string
	}{
		{
			name: "defaults (mlkem768x25519)", hostKey: signer(edKey),
			// draft-ietf-sshm-mlkem-hybrid-kex: C_INIT = ML-KEM-768
			// encapsulation key (1184) + X25519 key (32); S_REPLY =
			// ciphertext (1088) + X25519 key (32).
			cKexLen: 1184 + 32, sKexLen: 1088 + 32, sigType: "ssh-ed25519",
		},
		{
			name: "curve25519 aes128-ctr hmac-sha2-256", hostKey: signer(edKey),
			client:  xssh.Config{KeyExchanges: []string{"curve25519-sha256"}, Ciphers: []string{"aes128-ctr"}, MACs: []string{"hmac-sha2-256"}},
			cKexLen: 32, sKexLen: 32, sigType: "ssh-ed25519",
		},
		{
			name: "ecdh p256 aes128-gcm", hostKey: signer(ecKey),
			client: xssh.Config{KeyExchanges: []string{"ecdh-sha2-nistp256"}, Ciphers: []string{"aes128-gcm@openssh.com"}},
			// SEC 1 uncompressed points: 1 + 2*32.
			cKexLen: 65, sKexLen: 65, sigType: "ecdsa-sha2-nistp256",
		},
		{
			name: "group exchange rsa chacha20", hostKey: signer(rsaKey),
			client:       xssh.Config{KeyExchanges: []string{"diffie-hellman-group-exchange-sha256"}, Ciphers: []string{"chacha20-poly1305@openssh.com"}},
			server:       xssh.Config{KeyExchanges: []string{"diffie-hellman-group-exchange-sha256", "curve25519-sha256"}},
			hostKeyAlgos: []string{"rsa-sha2-512"},
			gex:          true, hostKeyBits: 2048, sigType: "rsa-sha2-512",
		},
		{
			name: "dh group14 rsa-sha2-256", hostKey: signer(rsaKey),
			client:       xssh.Config{KeyExchanges: []string{"diffie-hellman-group14-sha256"}, Ciphers: []string{"aes256-ctr"}, MACs: []string{"hmac-sha2-512-etm@openssh.com"}},
			hostKeyAlgos: []string{"rsa-sha2-256"},
			hostKeyBits:  2048, sigType: "rsa-sha2-256",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scfg := &xssh.ServerConfig{Config: tc.server, NoClientAuth: true}
			scfg.AddHostKey(tc.hostKey)
			ccfg := &xssh.ClientConfig{
				Config:            tc.client,
				User:              "test",
				HostKeyCallback:   xssh.FixedHostKey(tc.hostKey.PublicKey()),
				HostKeyAlgorithms: tc.hostKeyAlgos,
			}
			chunks, conn := handshake(t, ccfg, scfg)
			p := New()
			for _, c := range chunks {
				p.Data(c.dir, c.data, 0)
			}
			if !p.Done() {
				t.Error("Done() = false after both NEWKEYS")
			}
			_, v := p.Report()
			rep := v.(*Report)
			cli, srv := rep.Cli, rep.Srv
			if rep.Reverse || cli == nil || srv == nil {
				t.Fatalf("roles: reverse=%v cli=%v srv=%v", rep.Reverse, cli != nil, srv != nil)
			}
			if string(cli.Protocol) != string(conn.ClientVersion()) || string(srv.Protocol) != string(conn.ServerVersion()) {
				t.Errorf("protocols %q %q, want %q %q", cli.Protocol, srv.Protocol, conn.ClientVersion(), conn.ServerVersion())
			}
			// The negotiation as x/crypto did it.
			algs := conn.(xssh.AlgorithmsConnMetadata).Algorithms()
			c := rep.Chosen
			if c == nil {
				t.Fatal("no chosen algorithms")
			}
			for _, x := range []struct{ name, got, want string }{
				{"kex", string(c.Kex), algs.KeyExchange},
				{"host key", string(c.HostKey), algs.HostKey},
				{"enc c2s", string(c.EncCS), algs.Write.Cipher},
				{"enc s2c", string(c.EncSC), algs.Read.Cipher},
				{"mac c2s", string(c.MacCS), algs.Write.MAC},
				{"mac s2c", string(c.MacSC), algs.Read.MAC},
				{"kex_algo cli", string(cli.KexAlgo), algs.KeyExchange},
				{"kex_algo srv", string(srv.KexAlgo), algs.KeyExchange},
				{"host key type", string(srv.SHostkeyType), tc.hostKey.PublicKey().Type()},
				{"host key", string(srv.SHostkey), string(tc.hostKey.PublicKey().Marshal())},
				{"signature type", string(srv.SSignatureType), tc.sigType},
			} {
				if x.got != x.want {
					t.Errorf("%s = %q, want %q", x.name, x.got, x.want)
				}
			}
			// x/crypto appends its pseudo-algorithms (ext-info-c, strict
			// kex) after the configured ones.
			if kex := strings.Join(tc.client.KeyExchanges, ","); kex != "" && !strings.HasPrefix(string(cli.KexAlgos), kex+",") {
				t.Errorf("client kex_algos %q, want prefix %q", cli.KexAlgos, kex)
			}
			if !c.StrictKex {
				t.Error("strict_kex = false; x/crypto offers it on both sides")
			}
			if !cli.Newkeys || !srv.Newkeys || cli.Error != "" || srv.Error != "" {
				t.Errorf("newkeys %v/%v errors %q/%q", cli.Newkeys, srv.Newkeys, cli.Error, srv.Error)
			}
			if tc.cKexLen != 0 && (len(cli.CKex) != tc.cKexLen || len(srv.SKex) != tc.sKexLen) {
				t.Errorf("c_kex %d bytes, s_kex %d bytes; want %d, %d", len(cli.CKex), len(srv.SKex), tc.cKexLen, tc.sKexLen)
			}
			if srv.SHostkeyBits != tc.hostKeyBits {
				t.Errorf("s_hostkey_bits = %d, want %d", srv.SHostkeyBits, tc.hostKeyBits)
			}
			if tc.gex {
				// x/crypto asks for 2048 ≤ 2048 ≤ 8192 bits (kex.go).
				if cli.CGexMin != 2048 || cli.CGexN != 2048 || cli.CGexMax != 8192 {
					t.Errorf("gex request %d/%d/%d", cli.CGexMin, cli.CGexN, cli.CGexMax)
				}
				if srv.SGexPBits < int(cli.CGexMin) || srv.SGexPBits > int(cli.CGexMax) || len(srv.SGexG) == 0 {
					t.Errorf("gex group of %d bits, g %x", srv.SGexPBits, []byte(srv.SGexG))
				}
				if len(cli.CKex) == 0 || len(srv.SKex) == 0 {
					t.Error("no e or f")
				}
			}
		})
	}
}
