package ssh

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/flowjoy/flowjoy/userspace/proto"
	"github.com/flowjoy/flowjoy/userspace/proto/internal/pcaptest"
)

// Builders for synthetic streams. The expectations in the tests below are
// written out by hand, never computed by the parser.

// str encodes an RFC 4251 string.
func str(s string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
}

// pkt frames a payload as a cleartext binary packet with 4 bytes of
// padding (RFC 4253 §6; block alignment does not matter to a parser).
func pkt(payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	const pad = 4
	out := binary.BigEndian.AppendUint32(nil, uint32(1+len(body)+pad))
	out = append(out, pad)
	out = append(out, body...)
	return append(out, make([]byte, pad)...)
}

// kexinitMsg builds SSH_MSG_KEXINIT with the cookie 0x01…0x10 and the
// given kex, host key, cipher, MAC and compression lists (the same for
// both directions), no languages.
func kexinitMsg(kex, hostKey, enc, mac, comp string, follows bool) []byte {
	cookie := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	var f byte
	if follows {
		f = 1
	}
	return pkt([]byte{msgKexinit}, cookie, str(kex), str(hostKey), str(enc), str(enc),
		str(mac), str(mac), str(comp), str(comp), str(""), str(""), []byte{f}, []byte{0, 0, 0, 0})
}

func msg(code byte, fields ...[]byte) []byte {
	return pkt(append([][]byte{{code}}, fields...)...)
}

var newkeys = msg(msgNewkeys)

// run feeds each direction's stream in one piece, Out first, and returns
// the report.
func run(t *testing.T, out, in []byte) (*Parser, *Report) {
	t.Helper()
	p := New()
	p.Data(proto.Out, out, 0)
	p.Data(proto.In, in, 0)
	_, v := p.Report()
	r, _ := v.(*Report)
	return p, r
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"SSH-2.0-OpenSSH_9.2\r\n", true},
		{"SSH-", true},
		{"SSH", false}, // too short to tell
		{"ssh-2.0", false},
		{"GET / HTTP/1.1\r\n", false},
		{"", false},
	} {
		if got := Detect([]byte(tc.in)); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestBanner(t *testing.T) {
	cow := strings.Repeat("moo moo moo\r\n", 40)
	tests := []struct {
		name      string
		stream    string
		protocol  string
		wantError string // substring; "" for none
		done      bool   // the direction is finished
	}{
		{"crlf", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "", false},
		{"lf only", "SSH-2.0-dropbear_2022.83\n", "SSH-2.0-dropbear_2022.83", "", false},
		{"lines before", cow + "\r\nSSH-2.0-srv\r\n", "SSH-2.0-srv", "", false},
		{"short lines before", "S\nSS\nSSH\nSSH-2.0-x\n", "SSH-2.0-x", "", false},
		{"ssh-1.5 stops", "SSH-1.5-1.2.26\n\x00\x00\x01\x04", "SSH-1.5-1.2.26", "", true},
		{"ssh-1.99 is ssh-2", "SSH-1.99-Cisco-1.25\n", "SSH-1.99-Cisco-1.25", "", false},
		{"invalid utf-8 kept", "SSH-2.0-\xff\xfe\r\n", "SSH-2.0-\xff\xfe", "", false},
		{"too long", "SSH-2.0-" + strings.Repeat("x", 2000) + "\r\n", "SSH-2.0-" + strings.Repeat("x", maxBannerLen-8), "longer than 1024", true},
		{"incomplete", "SSH-2.0-Open", "", "no identification string", false},
		{"http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "", "no identification string", false},
		{"too many lines", strings.Repeat("\n", maxPreBannerLines+1) + "SSH-2.0-x\n", "", "first 1025 lines", true},
		{"endless line", strings.Repeat("x", maxPreBannerBytes+1), "", "first 65536 bytes", true},
	}
	for _, tc := range tests {
		for _, chunk := range []int{0, 1, 7} {
			p := New()
			// The server's side; the client's stays silent.
			if chunk == 0 {
				p.Data(proto.In, []byte(tc.stream), 0)
			} else {
				for b := []byte(tc.stream); len(b) > 0; {
					n := min(chunk, len(b))
					p.Data(proto.In, b[:n], 0)
					b = b[n:]
				}
			}
			_, v := p.Report()
			r, _ := v.(*Report)
			var s *Side
			if r != nil {
				s = r.Srv
			}
			if tc.protocol == "" {
				if r != nil {
					t.Errorf("%s/%d: report %+v, want none", tc.name, chunk, r)
				}
				if d := &p.dirs[proto.In]; (d.state == stateDone) != tc.done || !strings.Contains(errString(d.err), tc.wantError) && tc.done {
					t.Errorf("%s/%d: done=%v err=%v, want done=%v err~%q", tc.name, chunk, d.state == stateDone, d.err, tc.done, tc.wantError)
				}
				continue
			}
			if s == nil {
				t.Fatalf("%s/%d: no server side", tc.name, chunk)
			}
			if string(s.Protocol) != tc.protocol {
				t.Errorf("%s/%d: protocol = %q, want %q", tc.name, chunk, s.Protocol, tc.protocol)
			}
			if (tc.wantError == "") != (s.Error == "") || !strings.Contains(s.Error, tc.wantError) {
				t.Errorf("%s/%d: error = %q, want ~%q", tc.name, chunk, s.Error, tc.wantError)
			}
			if got := p.dirs[proto.In].state == stateDone; got != tc.done {
				t.Errorf("%s/%d: finished = %v, want %v", tc.name, chunk, got, tc.done)
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPacketErrors(t *testing.T) {
	banner := []byte("SSH-2.0-x\r\n")
	kexinit := kexinitMsg("curve25519-sha256", "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", "none", false)
	tests := []struct {
		name   string
		stream []byte
		codes  []int
		err    string
	}{
		{"too long", cat(banner, []byte{0, 1, 0, 1, 4}), nil, "packet_length 65537 exceeds 65536"},
		{"padding longer than packet", cat(banner, []byte{0, 0, 0, 5, 4, 20, 0, 0, 0}), nil, "packet_length 5 too short for padding_length 4"},
		{"kexinit cut short", cat(banner, msg(msgKexinit, make([]byte, 16), str("curve25519-sha256"))), []int{20},
			"KEXINIT server_host_key_algorithms: runs past end"},
		{"name-list longer than message", cat(banner, msg(msgKexinit, make([]byte, 16), []byte{0, 0, 1, 0, 'a'})), []int{20},
			"KEXINIT kex_algorithms: length 256, 1 bytes left"},
		{"too many packets", cat(banner, kexinit, bytes.Repeat(msg(2, str("ignore")), maxPackets)), nil,
			"no NEWKEYS in 64 cleartext packets"},
		{"data after newkeys ignored", cat(banner, kexinit, newkeys, []byte{0xde, 0xad, 0xbe, 0xef, 0xff, 0xff}), []int{20, 21}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, r := run(t, tc.stream, nil)
			if r == nil || r.Cli == nil {
				t.Fatal("no client side")
			}
			if tc.codes != nil && !slices.Equal(r.Cli.MessageCodes, tc.codes) {
				t.Errorf("codes = %v, want %v", r.Cli.MessageCodes, tc.codes)
			}
			if (tc.err == "") != (r.Cli.Error == "") || !strings.Contains(r.Cli.Error, tc.err) {
				t.Errorf("error = %q, want ~%q", r.Cli.Error, tc.err)
			}
			if p.dirs[proto.Out].state != stateDone {
				t.Error("direction not finished")
			}
		})
	}
}

// TestHandshake runs a complete synthetic exchange per key exchange family
// and checks every field the messages carry.
func TestHandshake(t *testing.T) {
	cliBanner := []byte("SSH-2.0-client\r\n")
	srvBanner := []byte("SSH-2.0-server\r\n")
	// An RSA host key blob: "ssh-rsa", e = 65537, n of 1024 bits.
	n := append([]byte{0x00, 0xc0}, make([]byte, 127)...)
	rsaKey := cat(str("ssh-rsa"), str("\x01\x00\x01"), str(string(n)))
	edKey := cat(str("ssh-ed25519"), str(strings.Repeat("k", 32)))
	edSig := cat(str("ssh-ed25519"), str(strings.Repeat("s", 64)))
	rsaSig := cat(str("rsa-sha2-256"), str(strings.Repeat("s", 128)))
	p := append([]byte{0x00, 0xff}, make([]byte, 255)...) // 2048-bit prime (shape only)

	tests := []struct {
		name     string
		out, in  []byte
		reverse  bool
		check    func(t *testing.T, r *Report)
		wantKex  string
		cliCodes []int
		srvCodes []int
	}{
		{
			name: "curve25519",
			out: cat(cliBanner, kexinitMsg("curve25519-sha256,ext-info-c,kex-strict-c-v00@openssh.com", "ssh-ed25519,rsa-sha2-256",
				"aes256-gcm@openssh.com,aes128-ctr", "hmac-sha2-256", "none", false),
				msg(msgKexdhInit, str("QC-32-bytes-QC-32-bytes-QC-32-by")), newkeys),
			in: cat(srvBanner, kexinitMsg("sntrup761x25519-sha512,curve25519-sha256,kex-strict-s-v00@openssh.com", "rsa-sha2-256,ssh-ed25519",
				"aes128-ctr,aes256-gcm@openssh.com", "hmac-sha1,hmac-sha2-256", "none,zlib@openssh.com", false),
				msg(msgKexdhReply, str(string(edKey)), str("QS-32-bytes-QS-32-bytes-QS-32-by"), str(string(edSig))), newkeys),
			wantKex:  "curve25519-sha256",
			cliCodes: []int{20, 30, 21}, srvCodes: []int{20, 31, 21},
			check: func(t *testing.T, r *Report) {
				want := Chosen{Kex: "curve25519-sha256", HostKey: "ssh-ed25519", EncCS: "aes256-gcm@openssh.com",
					EncSC: "aes256-gcm@openssh.com", CompCS: "none", CompSC: "none", StrictKex: true}
				if *r.Chosen != want {
					t.Errorf("chosen = %+v, want %+v", *r.Chosen, want)
				}
				if string(r.Cli.CKex) != "QC-32-bytes-QC-32-bytes-QC-32-by" || string(r.Srv.SKex) != "QS-32-bytes-QS-32-bytes-QS-32-by" {
					t.Errorf("c_kex %q s_kex %q", r.Cli.CKex, r.Srv.SKex)
				}
				if !bytes.Equal(r.Srv.SHostkey, edKey) || r.Srv.SHostkeyType != "ssh-ed25519" || r.Srv.SHostkeyBits != 0 {
					t.Errorf("host key %x %q %d", []byte(r.Srv.SHostkey), r.Srv.SHostkeyType, r.Srv.SHostkeyBits)
				}
				if !bytes.Equal(r.Srv.SSignature, edSig) || r.Srv.SSignatureType != "ssh-ed25519" {
					t.Errorf("signature %x %q", []byte(r.Srv.SSignature), r.Srv.SSignatureType)
				}
				// The cookie and lists as sent.
				if string(r.Cli.Cookie) != "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10" ||
					r.Srv.SMacAlgos != "hmac-sha1,hmac-sha2-256" || r.Cli.CLanguages != "" {
					t.Errorf("cookie %x s_mac_algos %q", []byte(r.Cli.Cookie), r.Srv.SMacAlgos)
				}
			},
		},
		{
			name: "group exchange",
			out: cat(cliBanner, kexinitMsg("diffie-hellman-group-exchange-sha256", "rsa-sha2-256", "aes128-ctr", "hmac-sha2-256", "none", false),
				msg(msgGexRequest, []byte{0, 0, 8, 0, 0, 0, 0x0c, 0, 0, 0, 0x20, 0}),
				msg(msgGexInit, str("\x00\x99e")), newkeys),
			in: cat(srvBanner, kexinitMsg("curve25519-sha256,diffie-hellman-group-exchange-sha256", "rsa-sha2-256", "aes128-ctr", "hmac-sha2-256", "none", false),
				msg(msgGexGroup, str(string(p)), str("\x02")),
				msg(msgGexReply, str(string(rsaKey)), str("\x00\x98f"), str(string(rsaSig))), newkeys),
			wantKex:  "diffie-hellman-group-exchange-sha256",
			cliCodes: []int{20, 34, 32, 21}, srvCodes: []int{20, 31, 33, 21},
			check: func(t *testing.T, r *Report) {
				if r.Cli.CGexMin != 2048 || r.Cli.CGexN != 3072 || r.Cli.CGexMax != 8192 {
					t.Errorf("gex request %d/%d/%d, want 2048/3072/8192", r.Cli.CGexMin, r.Cli.CGexN, r.Cli.CGexMax)
				}
				if !bytes.Equal(r.Srv.SGexP, p) || string(r.Srv.SGexG) != "\x02" || r.Srv.SGexPBits != 2048 {
					t.Errorf("group p %d bytes (%d bits) g %x", len(r.Srv.SGexP), r.Srv.SGexPBits, []byte(r.Srv.SGexG))
				}
				if string(r.Cli.CKex) != "\x00\x99e" || string(r.Srv.SKex) != "\x00\x98f" {
					t.Errorf("e %x f %x", []byte(r.Cli.CKex), []byte(r.Srv.SKex))
				}
				if r.Srv.SHostkeyType != "ssh-rsa" || r.Srv.SHostkeyBits != 1024 || r.Srv.SSignatureType != "rsa-sha2-256" {
					t.Errorf("host key %q %d bits, signature %q", r.Srv.SHostkeyType, r.Srv.SHostkeyBits, r.Srv.SSignatureType)
				}
				if r.Chosen.MacCS != "hmac-sha2-256" || r.Chosen.StrictKex {
					t.Errorf("chosen %+v", *r.Chosen)
				}
			},
		},
		{
			name: "old group exchange request",
			out: cat(cliBanner, kexinitMsg("diffie-hellman-group-exchange-sha1", "ssh-rsa", "aes128-cbc", "hmac-sha1", "none", false),
				msg(msgGexRequestOld, []byte{0, 0, 4, 0})),
			in:       cat(srvBanner, kexinitMsg("diffie-hellman-group-exchange-sha1", "ssh-rsa", "aes128-cbc", "hmac-sha1", "none", false)),
			wantKex:  "diffie-hellman-group-exchange-sha1",
			cliCodes: []int{20, 30}, srvCodes: []int{20},
			check: func(t *testing.T, r *Report) {
				if r.Cli.CGexN != 1024 || r.Cli.CGexMin != 0 || r.Cli.CKex != nil {
					t.Errorf("n %d min %d c_kex %x", r.Cli.CGexN, r.Cli.CGexMin, []byte(r.Cli.CKex))
				}
			},
		},
		{
			name: "rsa key exchange",
			out: cat(cliBanner, kexinitMsg("rsa2048-sha256", "ssh-rsa", "aes128-ctr", "hmac-sha2-256", "none", false),
				msg(msgKexrsaSecret, str("encrypted-secret")), newkeys),
			in: cat(srvBanner, kexinitMsg("rsa2048-sha256", "ssh-rsa", "aes128-ctr", "hmac-sha2-256", "none", false),
				msg(msgKexrsaPubkey, str(string(rsaKey)), str("transient")),
				msg(msgKexrsaDone, str(string(rsaSig))), newkeys),
			wantKex:  "rsa2048-sha256",
			cliCodes: []int{20, 31, 21}, srvCodes: []int{20, 30, 32, 21},
			check: func(t *testing.T, r *Report) {
				if string(r.Cli.CKex) != "encrypted-secret" || string(r.Srv.SKex) != "transient" ||
					r.Srv.SHostkeyType != "ssh-rsa" || r.Srv.SSignatureType != "rsa-sha2-256" {
					t.Errorf("c_kex %q s_kex %q host key %q sig %q", r.Cli.CKex, r.Srv.SKex, r.Srv.SHostkeyType, r.Srv.SSignatureType)
				}
			},
		},
		{
			// The client guesses ecdh with an ecdsa host key; the server
			// prefers ssh-ed25519, so the guess is wrong and ignored.
			name: "wrong guess",
			out: cat(cliBanner, kexinitMsg("ecdh-sha2-nistp256", "ecdsa-sha2-nistp256,ssh-ed25519", "aes128-ctr", "hmac-sha2-256", "none", true),
				msg(msgKexdhInit, str("guess")), msg(msgKexdhInit, str("real")), newkeys),
			in: cat(srvBanner, kexinitMsg("ecdh-sha2-nistp256", "ssh-ed25519,ecdsa-sha2-nistp256", "aes128-ctr", "hmac-sha2-256", "none", false),
				msg(msgKexdhReply, str(string(edKey)), str("qs"), str(string(edSig))), newkeys),
			wantKex:  "ecdh-sha2-nistp256",
			cliCodes: []int{20, 30, 30, 21}, srvCodes: []int{20, 31, 21},
			check: func(t *testing.T, r *Report) {
				if string(r.Cli.CKex) != "real" || !r.Cli.FirstKexPacketFollows {
					t.Errorf("c_kex %q follows %v", r.Cli.CKex, r.Cli.FirstKexPacketFollows)
				}
			},
		},
		{
			// The TCP responder is the SSH client (a reverse tunnel): it
			// opens the key exchange with KEXDH_INIT.
			name: "reverse",
			out: cat(srvBanner, kexinitMsg("curve25519-sha256", "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", "none", false),
				msg(msgKexdhReply, str(string(edKey)), str("qs"), str(string(edSig))), newkeys),
			in: cat(cliBanner, kexinitMsg("curve25519-sha256", "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", "none", false),
				msg(msgKexdhInit, str("qc")), newkeys),
			reverse:  true,
			wantKex:  "curve25519-sha256",
			cliCodes: []int{20, 30, 21}, srvCodes: []int{20, 31, 21},
			check: func(t *testing.T, r *Report) {
				if r.Cli.Protocol != "SSH-2.0-client" || string(r.Cli.CKex) != "qc" || string(r.Srv.SKex) != "qs" {
					t.Errorf("cli %q c_kex %q s_kex %q", r.Cli.Protocol, r.Cli.CKex, r.Srv.SKex)
				}
			},
		},
		{
			name: "no common algorithm",
			out:  cat(cliBanner, kexinitMsg("curve25519-sha256", "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", "none", false)),
			in:   cat(srvBanner, kexinitMsg("diffie-hellman-group1-sha1", "ssh-dss", "3des-cbc", "hmac-md5", "zlib", false)),
			// Both lists are still reported; nothing is chosen.
			cliCodes: []int{20}, srvCodes: []int{20},
			check: func(t *testing.T, r *Report) {
				if *r.Chosen != (Chosen{}) || r.Cli.KexAlgo != "" {
					t.Errorf("chosen %+v kex_algo %q", *r.Chosen, r.Cli.KexAlgo)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, r := run(t, tc.out, tc.in)
			if r == nil || r.Cli == nil || r.Srv == nil {
				t.Fatalf("report %+v", r)
			}
			if r.Reverse != tc.reverse {
				t.Errorf("reverse = %v", r.Reverse)
			}
			if r.Chosen == nil || string(r.Chosen.Kex) != tc.wantKex || string(r.Cli.KexAlgo) != tc.wantKex || string(r.Srv.KexAlgo) != tc.wantKex {
				t.Errorf("kex = %+v / %q / %q, want %q", r.Chosen, r.Cli.KexAlgo, r.Srv.KexAlgo, tc.wantKex)
			}
			if !slices.Equal(r.Cli.MessageCodes, tc.cliCodes) || !slices.Equal(r.Srv.MessageCodes, tc.srvCodes) {
				t.Errorf("codes %v %v, want %v %v", r.Cli.MessageCodes, r.Srv.MessageCodes, tc.cliCodes, tc.srvCodes)
			}
			both := slices.Contains(tc.cliCodes, msgNewkeys) && slices.Contains(tc.srvCodes, msgNewkeys)
			if p.Done() != both || r.Cli.Newkeys != slices.Contains(tc.cliCodes, msgNewkeys) {
				t.Errorf("Done() = %v, newkeys %v/%v", p.Done(), r.Cli.Newkeys, r.Srv.Newkeys)
			}
			if r.Cli.Unencrypted != len(tc.cliCodes) || r.Srv.Unencrypted != len(tc.srvCodes) {
				t.Errorf("unencrypted %d/%d", r.Cli.Unencrypted, r.Srv.Unencrypted)
			}
			if r.Cli.Error != "" || r.Srv.Error != "" {
				t.Errorf("errors %q / %q", r.Cli.Error, r.Srv.Error)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestAgree(t *testing.T) {
	for _, tc := range []struct{ client, server, want string }{
		{"a,b,c", "c,b", "b"}, // the client's order decides
		{"a", "b", ""},
		{"", "a", ""},
		{"a,,b", "b", "b"}, // empty names are skipped, not matched
		{",", ",", ""},
		{"aes128-ctr", "aes128-ctr2,aes128-ct", ""}, // whole names only
	} {
		if got := string(agree([]byte(tc.client), []byte(tc.server))); got != tc.want {
			t.Errorf("agree(%q, %q) = %q, want %q", tc.client, tc.server, got, tc.want)
		}
	}
}

// TestHASSHVector checks the fingerprint against Example 1 of the HASSH
// README (salesforce/hassh): the lists of the Cyberduck 6.7.1 client.
func TestHASSHVector(t *testing.T) {
	k := &kexInit{}
	k.lists[listKex] = []byte("curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp521,ecdh-sha2-nistp384,ecdh-sha2-nistp256,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group14-sha256,diffie-hellman-group15-sha512,diffie-hellman-group16-sha512,diffie-hellman-group17-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256@ssh.com,diffie-hellman-group15-sha256,diffie-hellman-group15-sha256@ssh.com,diffie-hellman-group15-sha384@ssh.com,diffie-hellman-group16-sha256,diffie-hellman-group16-sha384@ssh.com,diffie-hellman-group16-sha512@ssh.com,diffie-hellman-group18-sha512@ssh.com")
	k.lists[listEncCS] = []byte("aes128-cbc,aes128-ctr,aes192-cbc,aes192-ctr,aes256-cbc,aes256-ctr,blowfish-cbc,blowfish-ctr,cast128-cbc,cast128-ctr,idea-cbc,idea-ctr,serpent128-cbc,serpent128-ctr,serpent192-cbc,serpent192-ctr,serpent256-cbc,serpent256-ctr,3des-cbc,3des-ctr,twofish128-cbc,twofish128-ctr,twofish192-cbc,twofish192-ctr,twofish256-cbc,twofish256-ctr,twofish-cbc,arcfour,arcfour128,arcfour256")
	k.lists[listMacCS] = []byte("hmac-sha1,hmac-sha1-96,hmac-md5,hmac-md5-96,hmac-sha2-256,hmac-sha2-512")
	k.lists[listCompCS] = []byte("zlib@openssh.com,zlib,none")
	got, algs := hassh(k, false)
	if got != "8a8ae540028bf433cd68356c1b9e8d5b" {
		t.Errorf("hassh = %s, want 8a8ae540028bf433cd68356c1b9e8d5b", got)
	}
	if !strings.HasSuffix(string(algs), ";hmac-sha1,hmac-sha1-96,hmac-md5,hmac-md5-96,hmac-sha2-256,hmac-sha2-512;zlib@openssh.com,zlib,none") {
		t.Errorf("algorithms %q", algs)
	}
	// The server's fingerprint takes the server-to-client lists, empty
	// here: the MD5 of "<kex>;;;".
	if got, algs := hassh(k, true); !strings.HasSuffix(string(algs), "@ssh.com;;;") || got == "8a8ae540028bf433cd68356c1b9e8d5b" {
		t.Errorf("hassh_server = %s of %q", got, algs)
	}
}

// TestSSH1Peer: a server announcing 1.99 follows a 1.5 client into SSH-1,
// whose packets must not be read as SSH-2.
func TestSSH1Peer(t *testing.T) {
	for _, order := range []string{"client first", "server first"} {
		p := New()
		srv := []byte("SSH-1.99-OpenSSH_3.9p1\n")
		ssh1 := []byte{0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 2} // SSH-1: length, padding, type 2
		if order == "client first" {
			p.Data(proto.Out, []byte("SSH-1.5-1.2.26\n"), 0)
			p.Data(proto.In, append(srv, ssh1...), 0)
		} else {
			p.Data(proto.In, srv, 0)
			p.Data(proto.Out, []byte("SSH-1.5-1.2.26\n"), 0)
			p.Data(proto.In, ssh1, 0)
		}
		_, v := p.Report()
		r := v.(*Report)
		if !p.Done() || r.Srv.Protocol != "SSH-1.99-OpenSSH_3.9p1" || r.Srv.Error != "" || r.Srv.MessageCodes != nil {
			t.Errorf("%s: done %v srv %+v", order, p.Done(), r.Srv)
		}
	}
}

func TestGapAndDone(t *testing.T) {
	p := New()
	if p.Done() {
		t.Fatal("Done() before any data")
	}
	p.Data(proto.Out, []byte("SSH-2.0-a\r\n"), 0)
	p.Gap(proto.Out)
	if p.Done() {
		t.Fatal("Done() with one direction open")
	}
	p.Data(proto.Out, []byte("SSH-2.0-ignored-after-gap\r\n"), 0)
	p.Gap(proto.In)
	if !p.Done() {
		t.Fatal("Done() = false after gaps in both directions")
	}
	_, v := p.Report()
	r := v.(*Report)
	if r.Cli.Protocol != "SSH-2.0-a" || r.Srv != nil {
		t.Errorf("report %+v", r)
	}
	// An unknown direction is ignored, not a panic.
	p.Data(proto.Dir(7), []byte("x"), 0)
	p.Gap(proto.Dir(7))
}

// TestZeroValue checks that a Parser needs no constructor and reports
// nothing without data.
func TestZeroValue(t *testing.T) {
	var p Parser
	if k, v := p.Report(); k != "ssh" || v != nil {
		t.Errorf("Report() = %q, %v", k, v)
	}
	p.Data(proto.In, []byte("SSH-2.0-x\n"), 0)
	if _, v := p.Report(); v == nil {
		t.Error("no report after a banner")
	}
}

// TestChunkingInvariance feeds every capture's streams whole and one byte
// at a time: the report must not depend on how the bytes were split.
func TestChunkingInvariance(t *testing.T) {
	for _, name := range []string{"openssh-loopback", "joy-ssh-gex-sha256", "zeek-server-pre-banner-data", "ja4-ssh2-malformed", "zeek-kex-quadratic-1000"} {
		for _, fl := range pcaptest.ReadTCP(t, "testdata/pcap/"+name+".pcap") {
			whole, bytewise := New(), New()
			fl.Replay(whole)
			for _, e := range fl.Events {
				if e.Gap {
					bytewise.Gap(e.Dir)
				}
				for i := range e.Data {
					bytewise.Data(e.Dir, e.Data[i:i+1], 0)
				}
			}
			_, a := whole.Report()
			_, b := bytewise.Report()
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if !bytes.Equal(ja, jb) {
				t.Errorf("%s %s: whole and bytewise differ:\n%s\n%s", name, fl.Src, ja, jb)
			}
		}
	}
}

// TestJSONKeys pins Joy's key names and the encodings of the report.
func TestJSONKeys(t *testing.T) {
	_, r := run(t,
		cat([]byte("SSH-2.0-c\r\n"), kexinitMsg("curve25519-sha256", "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", "none", false),
			msg(msgKexdhInit, str("\x01\x02")), newkeys),
		cat([]byte("SSH-2.0-s\r\n"), kexinitMsg("curve25519-sha256", "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", "none", false)))
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		// Top level has strings too; decode loosely instead.
		var loose map[string]json.RawMessage
		if err := json.Unmarshal(b, &loose); err != nil {
			t.Fatal(err)
		}
		m = map[string]map[string]any{}
		for _, k := range []string{"cli", "srv"} {
			var side map[string]any
			if err := json.Unmarshal(loose[k], &side); err != nil {
				t.Fatal(err)
			}
			m[k] = side
		}
	}
	cli := m["cli"]
	for k, want := range map[string]any{
		"protocol":           "SSH-2.0-c",
		"cookie":             "0102030405060708090a0b0c0d0e0f10",
		"kex_algos":          "curve25519-sha256",
		"s_host_key_algos":   "ssh-ed25519",
		"c_encryption_algos": "aes128-ctr",
		"s_encryption_algos": "aes128-ctr",
		"c_mac_algos":        "hmac-sha2-256",
		"s_mac_algos":        "hmac-sha2-256",
		"c_comp_algos":       "none",
		"s_comp_algos":       "none",
		"c_languages":        "",
		"s_languages":        "",
		"kex_algo":           "curve25519-sha256",
		"c_kex":              "0102",
		"newkeys":            true,
		"unencrypted":        float64(3),
	} {
		if cli[k] != want {
			t.Errorf("cli.%s = %#v, want %#v", k, cli[k], want)
		}
	}
	if srv := m["srv"]; srv["newkeys"] != false || srv["unencrypted"] != float64(1) {
		t.Errorf("srv newkeys %#v unencrypted %#v", srv["newkeys"], srv["unencrypted"])
	}
}
