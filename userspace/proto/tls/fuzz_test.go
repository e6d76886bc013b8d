package tls

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"golang.org/x/crypto/cryptobyte"

	"github.com/flowjoy/flowjoy/userspace/jsontext"
	"github.com/flowjoy/flowjoy/userspace/proto"
	"github.com/flowjoy/flowjoy/userspace/proto/internal/pcaptest"
)

// FuzzRecords feeds two byte streams, alternating between them in chunks
// the fuzzer chooses, once whole and once with every chunk cut again into
// pieces of one to four bytes. It checks that nothing panics, that state
// stays bounded, that the object marshals, and that the result does not
// depend on where the bytes were cut.
func FuzzRecords(f *testing.F) {
	requireSeeds(f, "FuzzRecords")
	f.Fuzz(func(t *testing.T, client, server, cuts []byte) {
		type chunk struct {
			dir  proto.Dir
			data []byte
		}
		var chunks []chunk
		streams := [2][]byte{client, server}
		for i := 0; len(streams[0])+len(streams[1]) > 0; i++ {
			d := i % 2
			n := len(streams[d])
			if len(cuts) > 0 {
				n = min(n, 1+int(cuts[i%len(cuts)])*8)
			}
			chunks = append(chunks, chunk{proto.Dir(d), streams[d][:n]})
			streams[d] = streams[d][n:]
		}
		whole, cut := New(), New()
		// reused parses the streams the other way round first: after
		// Reset it must report what a new parser does.
		reused := New()
		reused.Data(proto.Out, server, 0)
		reused.Data(proto.In, client, 0)
		reused.Report()
		reused.Reset()
		for i, c := range chunks {
			whole.Data(c.dir, c.data, int64(i))
			reused.Data(c.dir, c.data, int64(i))
			for b, k := c.data, 0; len(b) > 0; k++ {
				n := min(len(b), 1+k%4)
				cut.Data(c.dir, b[:n], int64(i))
				b = b[n:]
			}
		}
		for _, q := range []*Parser{whole, cut} {
			if len(q.records) > 2*maxRecordsPerDir || len(q.alerts) > maxAlerts || len(q.errs) > maxParseErrors {
				t.Fatalf("unbounded: %d records %d alerts %d errors", len(q.records), len(q.alerts), len(q.errs))
			}
			for _, d := range q.dirs {
				if len(d.hs.buf) > maxHandshakeLen+4 {
					t.Fatalf("handshake buffer %d", len(d.hs.buf))
				}
			}
		}
		_, a := whole.Report()
		_, b := cut.Report()
		ja, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("result depends on the cuts:\nwhole %s\ncut   %s", ja, jb)
		}
		_, r := reused.Report()
		if jr, _ := json.Marshal(r); !bytes.Equal(ja, jr) {
			t.Fatalf("a reused parser differs:\nnew    %s\nreused %s", ja, jr)
		}
		if err := jsontext.AppenderMatches(a); err != nil {
			t.Fatal(err)
		}
	})
}

var ja4Pattern = regexp.MustCompile(`^[tq](1[0-3]|s[23]|d[123]|00)[di]\d{4}[0-9A-Za-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$`)

// FuzzClientHello parses ClientHello bodies: no panics, fingerprints of
// the documented shape, and a complete parse re-encodes to the input.
func FuzzClientHello(f *testing.F) {
	requireSeeds(f, "FuzzClientHello")
	f.Fuzz(func(t *testing.T, body []byte) {
		ch, err := parseClientHello(body)
		if ch == nil {
			t.Fatal("nil hello")
		}
		if !ch.complete {
			if err == nil {
				t.Fatal("incomplete without an error")
			}
			return
		}
		if j := ja4(ch, false); !ja4Pattern.MatchString(j) {
			t.Fatalf("ja4 %q", j)
		}
		if len(md5Hex(ja3String(ch))) != 32 {
			t.Fatal("ja3")
		}
		b := cryptobyte.NewBuilder(nil)
		b.AddUint16(ch.version)
		b.AddBytes(ch.random)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ch.sessionID) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, c := range ch.ciphers {
				b.AddUint16(c)
			}
		})
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ch.compression) })
		if ch.extensions != nil || len(body) > len(b.BytesOrPanic()) {
			addExtensions(b, ch.extensions)
		}
		if again := b.BytesOrPanic(); !bytes.Equal(again, body) {
			t.Fatalf("re-encoded\n%x\nfrom\n%x", again, body)
		}
	})
}

// FuzzCertificate parses DER certificates: no panics, a JSON object, and
// for a certificate crypto/x509 accepts, the same serial, names and
// alternative names as crypto/x509 reads.
func FuzzCertificate(f *testing.F) {
	requireSeeds(f, "FuzzCertificate")
	f.Fuzz(func(t *testing.T, der []byte) {
		c := parseCertificate(der)
		if c.Length != len(der) {
			t.Fatalf("length %d of %d bytes", c.Length, len(der))
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatal(err)
		}
		if err := jsontext.AppenderMatches(&Object{SCert: []Certificate{c}}); err != nil {
			t.Fatal(err)
		}
		w, err := x509.ParseCertificate(der)
		if err != nil {
			if c.ParseError == "" {
				t.Fatal("crypto/x509 rejects it, parse_error is empty")
			}
			return
		}
		if c.ParseError != "" {
			t.Fatalf("crypto/x509 accepts it, parse_error %q", c.ParseError)
		}
		if want := hex.EncodeToString(w.SerialNumber.Bytes()); c.SerialNumber != want && !(want == "" && c.SerialNumber == "00") {
			t.Fatalf("serial %s, crypto/x509 %s", c.SerialNumber, want)
		}
		if n := min(len(w.Subject.Names), maxNameAttributes); len(c.Subject) != n {
			t.Fatalf("%d subject attributes, crypto/x509 %d", len(c.Subject), n)
		}
		if n := min(len(w.Extensions), maxCertExtensions); len(c.Extensions) != n {
			t.Fatalf("%d extensions, crypto/x509 %d", len(c.Extensions), n)
		}
		if len(w.DNSNames) <= maxSANs && fmt.Sprint(wireList(c.SANDNS)) != fmt.Sprint(orEmpty(w.DNSNames)) {
			t.Fatalf("san_dns %q, crypto/x509 %q", c.SANDNS, w.DNSNames)
		}
		if got, want := string(c.ValidityNotAfter), w.NotAfter.UTC().Format("Jan _2 15:04:05 2006 GMT"); got != want {
			t.Fatalf("not after %q, crypto/x509 %q", got, want)
		}
	})
}

// requireSeeds fails when the seed corpus is missing. go test runs the
// files of testdata/fuzz/<name> as seeds, under -run and under -fuzz.
func requireSeeds(f *testing.F, name string) {
	files, _ := filepath.Glob(filepath.Join("testdata/fuzz", name, "*"))
	if len(files) == 0 {
		f.Fatalf("no seeds in testdata/fuzz/%s", name)
	}
}

// TestWriteFuzzSeeds rebuilds the seed corpora from the captures and an
// in-process handshake. It only runs with FLOWJOY_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("FLOWJOY_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set FLOWJOY_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	write := func(name string, i int, values ...any) {
		var buf bytes.Buffer
		buf.WriteString("go test fuzz v1\n")
		for _, v := range values {
			fmt.Fprintf(&buf, "[]byte(%q)\n", v)
		}
		dir := filepath.Join("testdata/fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%03d", i)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	captures := []string{"joy/tls12.pcap", "joy/tls10.pcap", "zeek/tls/hrr.pcap", "zeek/tls/ssl.v3.pcap",
		"zeek/tls/client-certificate.pcap", "zeek/tls/tls13draft16-ff52.a01.pcap", "ja4/tls-non-ascii-alpn.pcapng",
		"mercury/afl_data/corner-cases.pcap", "zeek/tls/tls-1.2-handshake-failure.pcap", "zeek/tls/ecdsa-cert.pcap",
		"zeek/tls/x509-generalizedtime.pcap", "zeek/tls/ml-dsa-44-cert.pcap", "zeek/tls/cert-no-cn.pcap"}
	nr, nc, nx := 0, 0, 0
	for _, name := range captures {
		for _, fl := range pcaptest.ReadTCP(t, filepath.Join("testdata/captures", name)) {
			var streams [2][]byte
			for _, e := range fl.Events {
				if len(streams[e.Dir]) < 6000 {
					streams[e.Dir] = append(streams[e.Dir], e.Data...)
				}
			}
			if len(streams[0])+len(streams[1]) == 0 {
				continue
			}
			write("FuzzRecords", nr, streams[0][:min(6000, len(streams[0]))], streams[1][:min(6000, len(streams[1]))], []byte{1, 7, 200, 3})
			nr++
			var hellos, certs [][]byte
			collect := func(typ uint8, body []byte) {
				switch typ {
				case hsClientHello:
					hellos = append(hellos, slices.Clone(body))
				case hsCertificate:
					s := cryptobyte.String(body)
					var list, der cryptobyte.String
					if s.ReadUint24LengthPrefixed(&list) {
						for list.ReadUint24LengthPrefixed(&der) {
							certs = append(certs, slices.Clone(der))
						}
					}
				}
			}
			for _, s := range streams {
				var h handshakeReader
				for len(s) >= 5 {
					n := int(s[3])<<8 | int(s[4])
					if s[0] == typeHandshake && 5+n <= len(s) {
						h.feed(s[5:5+n], -1, func(_ int, typ uint8, _ int, body []byte) {
							if body != nil {
								collect(typ, body)
							}
						})
					}
					s = s[min(len(s), 5+n):]
				}
			}
			for _, b := range hellos {
				write("FuzzClientHello", nc, b)
				nc++
			}
			for _, c := range certs {
				if nx < 40 {
					write("FuzzCertificate", nx, c)
					nx++
				}
			}
		}
	}
	sess := tls12Session(t)
	var streams [2][]byte
	for _, e := range sess.events {
		streams[e.Dir] = append(streams[e.Dir], e.Data...)
	}
	write("FuzzRecords", nr, streams[0], streams[1], []byte{5, 1, 1, 250})
	write("FuzzCertificate", nx, goodCert().der())
	t.Logf("wrote %d record, %d hello, %d certificate seeds", nr+1, nc, nx+1)
}
