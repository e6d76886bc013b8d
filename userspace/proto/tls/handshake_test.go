package tls

// Real handshakes made in-process with Go's crypto/tls over loopback TCP:
// the bytes each side writes are recorded and fed to the parser, and the
// parsed fields are compared with what crypto/tls itself reports
// (ConnectionState on both sides, ClientHelloInfo on the server).

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	gotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
	"github.com/flowjoy/flowjoy/userspace/proto"
	"github.com/flowjoy/flowjoy/userspace/proto/internal/pcaptest"
)

// wireLog records what each side of a connection writes, in write order.
// A side logs its bytes before sending them, so the peer's answer always
// comes later in the log.
type wireLog struct {
	mu     sync.Mutex
	events []pcaptest.Event
}

func (l *wireLog) add(dir proto.Dir, b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, pcaptest.Event{Dir: dir, Data: slices.Clone(b), TS: time.Now().UnixNano()})
}

type recordingConn struct {
	net.Conn
	dir proto.Dir
	log *wireLog
}

func (c *recordingConn) Write(b []byte) (int, error) {
	c.log.add(c.dir, b)
	return c.Conn.Write(b)
}

// session is one finished connection.
type session struct {
	events []pcaptest.Event
	client gotls.ConnectionState
	server gotls.ConnectionState
	hello  *gotls.ClientHelloInfo
}

// connect runs a handshake plus one exchange of application data between
// a crypto/tls client and server on loopback, and returns what they wrote.
func connect(t testing.TB, clientCfg, serverCfg *gotls.Config) session {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	log := &wireLog{}
	var s session
	serverCfg = serverCfg.Clone()
	serverCfg.GetConfigForClient = func(h *gotls.ClientHelloInfo) (*gotls.Config, error) {
		if s.hello == nil {
			s.hello = h
		}
		return nil, nil
	}
	serverErr := make(chan error, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer raw.Close()
		srv := gotls.Server(&recordingConn{raw, proto.In, log}, serverCfg)
		buf := make([]byte, 4)
		if _, err := io.ReadFull(srv, buf); err != nil {
			serverErr <- fmt.Errorf("server read: %w", err)
			return
		}
		if _, err := srv.Write([]byte("pong")); err != nil {
			serverErr <- fmt.Errorf("server write: %w", err)
			return
		}
		s.server = srv.ConnectionState()
		serverErr <- srv.Close()
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	cli := gotls.Client(&recordingConn{raw, proto.Out, log}, clientCfg)
	if _, err := cli.Write([]byte("ping")); err != nil {
		t.Fatalf("client write: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(cli, buf); err != nil {
		t.Fatalf("client read: %v", err)
	}
	s.client = cli.ConnectionState()
	if err := <-serverErr; err != nil {
		t.Fatalf("server: %v", err)
	}
	cli.Close()
	log.mu.Lock()
	s.events = log.events
	log.mu.Unlock()
	return s
}

func (s session) parse(t testing.TB) *Object {
	t.Helper()
	p := New()
	for _, e := range s.events {
		p.Data(e.Dir, e.Data, e.TS)
	}
	_, v := p.Report()
	o, ok := v.(*Object)
	if !ok || o == nil {
		t.Fatalf("Report gave %T %v", v, v)
	}
	return o
}

// testPKI is a three-certificate chain (root, intermediate, leaf) and a
// client certificate, made once per test binary.
type testPKI struct {
	root, inter, leaf, clientLeaf *x509.Certificate
	leafKey, clientKey            crypto.Signer
	rsaLeaf                       gotls.Certificate
	ecdsaLeaf                     gotls.Certificate
	clientCert                    gotls.Certificate
	roots                         *x509.CertPool
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

// The test certificates have fixed dates (their validity is asserted);
// the handshakes verify them at a fixed time inside that validity.
var pkiNotBefore = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func pkiTime() time.Time { return pkiNotBefore.AddDate(0, 6, 0) }

func makeCert(t testing.TB, tmpl, parent *x509.Certificate, pub any, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatalf("create %s: %v", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func getPKI(t testing.TB) *testPKI {
	pkiOnce.Do(func() {
		notBefore := pkiNotBefore
		notAfter := notBefore.AddDate(2, 0, 0)
		rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ca := func(serial int64, cn string) *x509.Certificate {
			return &x509.Certificate{
				SerialNumber: big.NewInt(serial),
				Subject:      pkix.Name{Country: []string{"DE"}, Organization: []string{"flowjoy test"}, CommonName: cn},
				NotBefore:    notBefore, NotAfter: notAfter,
				IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			}
		}
		pki.root = makeCert(t, ca(1, "Test Root"), ca(1, "Test Root"), rootKey.Public(), rootKey)
		pki.inter = makeCert(t, ca(2, "Test Intermediate"), pki.root, interKey.Public(), rootKey)
		leafTmpl := &x509.Certificate{
			SerialNumber: new(big.Int).SetBytes([]byte{0x8f, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}),
			Subject:      pkix.Name{Organization: []string{"flowjoy"}, CommonName: "server.test"},
			DNSNames:     []string{"server.test", "*.server.test"},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
			NotBefore:    notBefore, NotAfter: notAfter,
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		pki.leaf = makeCert(t, leafTmpl, pki.inter, rsaKey.Public(), interKey)
		pki.leafKey = rsaKey
		ecLeaf := makeCert(t, leafTmpl, pki.inter, ecKey.Public(), interKey)
		clientTmpl := &x509.Certificate{
			SerialNumber:   big.NewInt(77),
			Subject:        pkix.Name{CommonName: "client.test"},
			EmailAddresses: []string{"client@server.test"},
			NotBefore:      notBefore, NotAfter: notAfter,
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		pki.clientLeaf = makeCert(t, clientTmpl, pki.inter, clientKey.Public(), interKey)
		pki.clientKey = clientKey
		chain := func(leaf *x509.Certificate, key crypto.Signer) gotls.Certificate {
			return gotls.Certificate{
				Certificate: [][]byte{leaf.Raw, pki.inter.Raw, pki.root.Raw},
				PrivateKey:  key, Leaf: leaf,
			}
		}
		pki.rsaLeaf = chain(pki.leaf, rsaKey)
		pki.ecdsaLeaf = chain(ecLeaf, ecKey)
		pki.clientCert = gotls.Certificate{Certificate: [][]byte{pki.clientLeaf.Raw, pki.inter.Raw}, PrivateKey: clientKey}
		pki.roots = x509.NewCertPool()
		pki.roots.AddCert(pki.root)
	})
	if pki.root == nil {
		t.Fatal("test PKI was not made")
	}
	return &pki
}

// joyEnum is Joy's version enum (joy src/include/tls.h), for crypto/tls's
// version constants.
var joyEnum = map[uint16]int{
	gotls.VersionTLS10: 3, gotls.VersionTLS11: 4, gotls.VersionTLS12: 5, gotls.VersionTLS13: 6,
}

// opensslSigNames are OpenSSL's names of crypto/x509's signature
// algorithms, as Joy printed them.
var opensslSigNames = map[x509.SignatureAlgorithm]string{
	x509.SHA256WithRSA:   "sha256WithRSAEncryption",
	x509.ECDSAWithSHA256: "ecdsa-with-SHA256",
	x509.ECDSAWithSHA384: "ecdsa-with-SHA384",
}

func TestHandshakes(t *testing.T) {
	k := getPKI(t)
	base := func() (*gotls.Config, *gotls.Config) {
		c := &gotls.Config{RootCAs: k.roots, ServerName: "server.test", Time: pkiTime}
		s := &gotls.Config{Certificates: []gotls.Certificate{k.rsaLeaf}, Time: pkiTime}
		return c, s
	}
	tests := []struct {
		name      string
		configure func(c, s *gotls.Config)
		// wantRetry: a HelloRetryRequest; wantGroup: the server's group
		// code point (IANA); wantKeyLen: the ClientKeyExchange bits.
		wantRetry  bool
		wantGroup  string
		wantKeyLen int
	}{
		{name: "tls12 ecdhe-rsa aes128-gcm", configure: func(c, s *gotls.Config) {
			c.MaxVersion = gotls.VersionTLS12
			c.CipherSuites = []uint16{gotls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
			c.CurvePreferences = []gotls.CurveID{gotls.X25519}
			c.NextProtos = []string{"h2", "http/1.1"}
			s.NextProtos = []string{"h2"}
		}, wantGroup: "001d", wantKeyLen: 8 * 33},
		{name: "tls12 ecdhe-ecdsa chacha20 p384", configure: func(c, s *gotls.Config) {
			c.MaxVersion = gotls.VersionTLS12
			c.CurvePreferences = []gotls.CurveID{gotls.CurveP384}
			c.CipherSuites = []uint16{gotls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
			s.Certificates = []gotls.Certificate{k.ecdsaLeaf}
		}, wantGroup: "0018", wantKeyLen: 8 * (1 + 97)},
		{name: "tls12 rsa key exchange", configure: func(c, s *gotls.Config) {
			c.MaxVersion = gotls.VersionTLS12
			c.CipherSuites = []uint16{gotls.TLS_RSA_WITH_AES_128_GCM_SHA256}
			s.CipherSuites = c.CipherSuites
		}, wantKeyLen: 8 * (2 + 256)}, // length-prefixed RSA-2048 ciphertext
		{name: "tls12 client certificate", configure: func(c, s *gotls.Config) {
			c.MaxVersion = gotls.VersionTLS12
			c.Certificates = []gotls.Certificate{k.clientCert}
			s.ClientAuth = gotls.RequireAnyClientCert
		}, wantGroup: "001d", wantKeyLen: 8 * 33},
		{name: "tls11", configure: func(c, s *gotls.Config) {
			c.MinVersion, c.MaxVersion = gotls.VersionTLS11, gotls.VersionTLS11
			s.MinVersion = gotls.VersionTLS10
			c.CipherSuites = []uint16{gotls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}
			s.CipherSuites = c.CipherSuites
		}, wantGroup: "001d", wantKeyLen: 8 * 33},
		{name: "tls13 default", configure: func(c, s *gotls.Config) {
			c.NextProtos = []string{"h2"}
			s.NextProtos = []string{"h2"}
		}, wantGroup: hex4(uint16(gotls.X25519MLKEM768))},
		{name: "tls13 x25519 only", configure: func(c, s *gotls.Config) {
			c.CurvePreferences = []gotls.CurveID{gotls.X25519}
		}, wantGroup: "001d"},
		{name: "tls13 hello retry request", configure: func(c, s *gotls.Config) {
			c.CurvePreferences = []gotls.CurveID{gotls.X25519, gotls.CurveP256}
			s.CurvePreferences = []gotls.CurveID{gotls.CurveP256}
		}, wantRetry: true, wantGroup: "0017"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := base()
			tt.configure(c, s)
			sess := connect(t, c, s)
			o := sess.parse(t)
			checkSession(t, sess, o)
			if o.HelloRetryRequest != tt.wantRetry {
				t.Errorf("hello_retry_request = %v, want %v", o.HelloRetryRequest, tt.wantRetry)
			}
			if tt.wantGroup != "" && o.SKeyExchangeGroup != tt.wantGroup {
				t.Errorf("s_key_exchange_group = %q, want %q", o.SKeyExchangeGroup, tt.wantGroup)
			}
			if o.CKeyLength != tt.wantKeyLen {
				t.Errorf("c_key_length = %d, want %d", o.CKeyLength, tt.wantKeyLen)
			}
			if tt.wantKeyLen > 0 && len(o.CKeyExchange) != tt.wantKeyLen/8 {
				t.Errorf("c_key_exchange has %d bytes, want %d", len(o.CKeyExchange), tt.wantKeyLen/8)
			}
		})
	}
}

// checkSession compares the parsed object with what crypto/tls reports.
func checkSession(t *testing.T, s session, o *Object) {
	t.Helper()
	h := s.hello
	eq := func(field string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
	eq("s_version", o.SVersion, joyEnum[s.client.Version])
	eq("c_version", o.CVersion, joyEnum[slices.Max(h.SupportedVersions)])
	eq("scs", o.SCS, fmt.Sprintf("%04x", s.client.CipherSuite))
	eq("cs", o.CS, hexes(h.CipherSuites))
	eq("c_extensions", extensionTypes(o.CExtensions), h.Extensions)
	eq("c_supported_groups", o.CSupportedGroups, hexes(h.SupportedCurves))
	eq("c_signature_algorithms", o.CSignatureAlgorithms, hexes(h.SignatureSchemes))
	eq("c_supported_versions", o.CSupportedVersions, hexes(h.SupportedVersions))
	eq("c_alpn", wireList(o.CALPN), orEmpty(h.SupportedProtos))
	eq("sni", wireList(o.SNI), []string{h.ServerName})
	if s.client.Version < gotls.VersionTLS13 {
		// TLS 1.3 sends it in the encrypted EncryptedExtensions.
		eq("s_alpn", o.SALPN, jsontext.WireString(s.client.NegotiatedProtocol))
	} else if o.SALPN != "" {
		t.Errorf("s_alpn %q seen in TLS 1.3", o.SALPN)
	}
	if len(o.CRandom) != 32 || len(o.SRandom) != 32 {
		t.Errorf("randoms %x %x: want 32 bytes each", o.CRandom, o.SRandom)
	}
	if o.JA3 == "" || o.JA3S == "" || o.JA4 == "" {
		t.Errorf("fingerprints missing: ja3 %q ja3s %q ja4 %q", o.JA3, o.JA3S, o.JA4)
	}
	if len(o.ParseErrors) > 0 || len(o.Alerts) > 0 {
		t.Errorf("parse_errors %q, alerts %v", o.ParseErrors, o.Alerts)
	}
	if s.client.Version == gotls.VersionTLS13 {
		// Certificates are encrypted in TLS 1.3.
		if o.SCert != nil || o.CCert != nil {
			t.Errorf("TLS 1.3 certificates in cleartext? s_cert %d c_cert %d", len(o.SCert), len(o.CCert))
		}
		eq("s_supported_version", o.SSupportedVersion, "0304")
	} else if s.client.DidResume {
		// crypto/tls restores the certificates from the session; none
		// are sent.
		if o.SCert != nil || o.CCert != nil {
			t.Errorf("resumed TLS 1.2 with certificates: s_cert %d c_cert %d", len(o.SCert), len(o.CCert))
		}
	} else {
		checkChain(t, "s_cert", o.SCert, s.client.PeerCertificates)
		checkChain(t, "c_cert", o.CCert, s.server.PeerCertificates)
	}
	checkRecords(t, s, o)
}

func hexes[T ~uint16](vs []T) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%04x", uint16(v)))
	}
	return out
}

// checkChain compares parsed certificates with crypto/x509's.
func checkChain(t *testing.T, field string, got []Certificate, want []*x509.Certificate) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d certificates, want %d", field, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		f := fmt.Sprintf("%s[%d]", field, i)
		serial := w.SerialNumber.Bytes()
		checks := []struct {
			name      string
			got, want any
		}{
			{"length", g.Length, len(w.Raw)},
			{"serial_number", g.SerialNumber, hex.EncodeToString(serial)},
			{"signature", g.Signature, hex.EncodeToString(w.Signature)},
			{"signature_key_size", g.SignatureKeySize, 8 * len(w.Signature)},
			{"signature_algo", g.SignatureAlgo, opensslSigNames[w.SignatureAlgorithm]},
			{"subject", attrValue(g.Subject, "commonName"), w.Subject.CommonName},
			{"issuer", attrValue(g.Issuer, "commonName"), w.Issuer.CommonName},
			{"subject O", attrValue(g.Subject, "organizationName"), first(w.Subject.Organization)},
			{"validity_not_before", string(g.ValidityNotBefore), w.NotBefore.UTC().Format("Jan _2 15:04:05 2006 GMT")},
			{"validity_not_after", string(g.ValidityNotAfter), w.NotAfter.UTC().Format("Jan _2 15:04:05 2006 GMT")},
			{"san_dns", wireList(g.SANDNS), orEmpty(w.DNSNames)},
			{"san_email", wireList(g.SANEmail), orEmpty(w.EmailAddresses)},
			{"san_ip", ipStrings(g.SANIP), ipStrings(netIPs(w.IPAddresses))},
			{"extensions", len(g.Extensions), len(w.Extensions)},
			{"parse_error", g.ParseError, ""},
		}
		switch key := w.PublicKey.(type) {
		case *rsa.PublicKey:
			checks = append(checks,
				struct {
					name      string
					got, want any
				}{"subject_public_key", g.SubjectPublicKeyAlgo + fmt.Sprint(g.SubjectPublicKeySize), "rsaEncryption" + fmt.Sprint(key.N.BitLen())})
		case *ecdsa.PublicKey:
			checks = append(checks,
				struct {
					name      string
					got, want any
				}{"subject_public_key", g.SubjectPublicKeyAlgo + fmt.Sprint(g.SubjectPublicKeySize), "id-ecPublicKey" + fmt.Sprint(key.Curve.Params().BitSize)})
		}
		for _, c := range checks {
			if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
				t.Errorf("%s %s = %v, want %v", f, c.name, c.got, c.want)
			}
		}
	}
}

func attrValue(as []Attribute, name string) string {
	for _, a := range as {
		if a.Name == name {
			return string(a.Value)
		}
	}
	return ""
}

func first(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}

func netIPs(ips []net.IP) []string {
	out := []string{}
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		out = append(out, ip.String())
	}
	return out
}

func ipStrings(ss []string) []string { return orEmpty(ss) }

// checkRecords compares srlt with the records written, found by walking
// the recorded bytes independently of the parser.
func checkRecords(t *testing.T, s session, o *Object) {
	t.Helper()
	var stream [2][]byte
	for _, e := range s.events {
		stream[e.Dir] = append(stream[e.Dir], e.Data...)
	}
	var want [2][][2]int
	for d := range stream {
		b := stream[d]
		for len(b) >= 5 && len(want[d]) < maxRecordsPerDir {
			n := int(b[3])<<8 | int(b[4])
			want[d] = append(want[d], [2]int{int(b[0]), n})
			b = b[min(len(b), 5+n):]
		}
	}
	var got [2][][2]int
	for _, r := range o.SRLT {
		d := 0
		if r.Dir == "<" {
			d = 1
		}
		got[d] = append(got[d], [2]int{r.TP, r.B})
	}
	for d := range 2 {
		if fmt.Sprint(got[d]) != fmt.Sprint(want[d]) {
			t.Errorf("srlt dir %d = %v, want %v", d, got[d], want[d])
		}
	}
	if len(o.SRLT) > 0 && (o.SRLT[0].HSTypes == nil || o.SRLT[0].HSTypes[0] != hsClientHello) {
		t.Errorf("first record's hs_types = %v, want a ClientHello", o.SRLT[0].HSTypes)
	}
}

// TestResumption parses the second of two connections that share a
// session cache: an abbreviated handshake without certificates.
func TestResumption(t *testing.T) {
	k := getPKI(t)
	for _, version := range []uint16{gotls.VersionTLS12, gotls.VersionTLS13} {
		t.Run(gotls.VersionName(version), func(t *testing.T) {
			c := &gotls.Config{RootCAs: k.roots, ServerName: "server.test", MaxVersion: version,
				ClientSessionCache: gotls.NewLRUClientSessionCache(4), Time: pkiTime}
			s := &gotls.Config{Certificates: []gotls.Certificate{k.rsaLeaf}, Time: pkiTime}
			s.SetSessionTicketKeys([][32]byte{{1, 2, 3}})
			connect(t, c, s)
			sess := connect(t, c, s)
			if !sess.client.DidResume {
				t.Fatal("crypto/tls did not resume")
			}
			o := sess.parse(t)
			checkSession(t, sess, o)
			if !slices.Contains(extensionTypes(o.CExtensions), map[uint16]int{gotls.VersionTLS12: 35, gotls.VersionTLS13: 41}[version]) {
				t.Errorf("resuming ClientHello lacks its session_ticket/pre_shared_key extension: %v", extensionTypes(o.CExtensions))
			}
			if version == gotls.VersionTLS12 {
				// The server's flight is ServerHello, ChangeCipherSpec,
				// Finished: no Certificate.
				for _, r := range o.SRLT {
					if slices.Contains(r.HSTypes, hsCertificate) {
						t.Errorf("abbreviated handshake has a Certificate: %v", r)
					}
				}
			}
		})
	}
}

// TestHandshakesMatchTshark writes each in-process handshake to a pcap
// and has tshark compute what it can of the same fields: JA3, JA3S, SNI,
// the offered and selected suites and the certificate serials.
func TestHandshakesMatchTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	k := getPKI(t)
	configs := map[string]func(c, s *gotls.Config){
		"tls12": func(c, s *gotls.Config) {
			c.MaxVersion = gotls.VersionTLS12
			c.NextProtos = []string{"http/1.1"}
		},
		"tls12 client cert": func(c, s *gotls.Config) {
			c.MaxVersion = gotls.VersionTLS12
			c.Certificates = []gotls.Certificate{k.clientCert}
			s.ClientAuth = gotls.RequireAnyClientCert
		},
		"tls13": func(c, s *gotls.Config) {},
		"tls13 hrr": func(c, s *gotls.Config) {
			c.CurvePreferences = []gotls.CurveID{gotls.X25519, gotls.CurveP256}
			s.CurvePreferences = []gotls.CurveID{gotls.CurveP256}
		},
	}
	for name, configure := range configs {
		t.Run(name, func(t *testing.T) {
			c := &gotls.Config{RootCAs: k.roots, ServerName: "server.test", Time: pkiTime}
			s := &gotls.Config{Certificates: []gotls.Certificate{k.rsaLeaf}, Time: pkiTime}
			configure(c, s)
			sess := connect(t, c, s)
			o := sess.parse(t)
			path := filepath.Join(t.TempDir(), "handshake.pcap")
			writePcap(t, path, sess.events)
			out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-E", "separator=|",
				"-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3s",
				"-e", "tls.handshake.extensions_server_name", "-e", "tls.handshake.ciphersuite",
				"-e", "x509af.serialNumber").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			var ja3, ja3s, sni, suites, serials []string
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Split(line, "|")
				for i, dst := range []*[]string{&ja3, &ja3s, &sni, &suites, &serials} {
					if i < len(f) && f[i] != "" {
						*dst = append(*dst, strings.Split(f[i], ",")...)
					}
				}
			}
			// The first of each: the first ClientHello, the ServerHello
			// (after a HelloRetryRequest tshark computes JA3S for both).
			if len(ja3) == 0 || o.JA3 != ja3[0] {
				t.Errorf("ja3 %q, tshark %q", o.JA3, ja3)
			}
			wantJA3S := ""
			if len(ja3s) > 0 {
				wantJA3S = ja3s[len(ja3s)-1]
			}
			if o.JA3S != wantJA3S {
				t.Errorf("ja3s %q, tshark %q", o.JA3S, ja3s)
			}
			if len(sni) == 0 || string(o.SNI[0]) != sni[0] {
				t.Errorf("sni %q, tshark %q", o.SNI, sni)
			}
			// The offered suites, then the selected one(s).
			want := len(o.CS)
			if len(suites) <= want || fmt.Sprint(prefixed(o.CS)) != fmt.Sprint(suites[:want]) ||
				"0x"+o.SCS != suites[len(suites)-1] {
				t.Errorf("cs %v scs %s, tshark %v", o.CS, o.SCS, suites)
			}
			var gotSerials, wantSerials []string
			for _, c := range append(slices.Clone(o.SCert), o.CCert...) {
				gotSerials = append(gotSerials, c.SerialNumber)
			}
			for _, v := range serials {
				// tshark prints serials that fit an integer in decimal,
				// longer ones as colon-separated content bytes.
				if n, ok := new(big.Int).SetString(v, 10); ok {
					wantSerials = append(wantSerials, hex.EncodeToString(n.Bytes()))
				} else {
					wantSerials = append(wantSerials, tsharkSerial(v))
				}
			}
			if o.SVersion < Version1_3 && fmt.Sprint(gotSerials) != fmt.Sprint(wantSerials) {
				t.Errorf("serials %v, tshark %v", gotSerials, wantSerials)
			}
			if o.SVersion < Version1_3 && len(wantSerials) < 3 {
				t.Errorf("tshark saw %d certificates, want the chain of 3", len(wantSerials))
			}
		})
	}
}

// writePcap writes the recorded connection as an Ethernet/IPv4/TCP
// capture (client 10.0.0.1:50000, server 10.0.0.2:443), one segment of
// at most 1400 bytes per packet.
func writePcap(t testing.TB, path string, events []pcaptest.Event) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ip := [2]net.IP{{10, 0, 0, 1}, {10, 0, 0, 2}}
	port := [2]layers.TCPPort{50000, 443}
	seq := [2]uint32{1000, 5000}
	ts := time.Unix(1700000000, 0)
	write := func(d int, flags func(*layers.TCP), payload []byte) {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(d + 1)}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(2 - d)}, EthernetType: layers.EthernetTypeIPv4}
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: ip[d], DstIP: ip[1-d]}
		tcp := &layers.TCP{SrcPort: port[d], DstPort: port[1-d], Seq: seq[d], Ack: seq[1-d], ACK: true, Window: 65535}
		flags(tcp)
		tcp.SetNetworkLayerForChecksum(ip4)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip4, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		ts = ts.Add(time.Millisecond)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		seq[d] += uint32(len(payload))
		if tcp.SYN {
			seq[d]++
		}
	}
	write(0, func(t *layers.TCP) { t.SYN, t.ACK = true, false }, nil)
	write(1, func(t *layers.TCP) { t.SYN = true }, nil)
	for _, e := range events {
		for b := e.Data; len(b) > 0; {
			n := min(len(b), 1400)
			write(int(e.Dir), func(t *layers.TCP) { t.PSH = true }, b[:n])
			b = b[n:]
		}
	}
}
