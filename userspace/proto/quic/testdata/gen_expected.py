#!/usr/bin/env python3
"""Regenerates testdata/captures/ and testdata/expected.json from the shared
reference captures (/work/shared/pcaps) and tshark 4.0's dissection of them
(/work/shared/pcaps/truth). Run from this directory: ./gen_expected.py

For each QUIC capture it copies the pcap (captures over 100 KB are cut to the
frames holding a long-header packet, which is all the Initial decryption test
reads) and records, per UDP flow with a TLS hello:
  - client_hellos / server_hellos: the distinct (SNI, ALPN, supported
    versions) and (supported versions, cipher suite) tshark decoded;
  - version, dcid, scid: of the initiator's first long-header packet whose
    version is not a GREASE (0x?a?a?a?a) one, per `tshark -T fields`;
  - ja4 / ja4s: FoxIO's expected values (rust/ja4/src/snapshots/*.snap of
    github.com/FoxIO-LLC/ja4), for the captures that ship them.
"""
import json, os, subprocess, re

SHARED = "/work/shared/pcaps"
CAPTURES = [
    "zeek/quic/383379789-decrypt-crash.pcap",
    "zeek/quic/chromium-115.0.5790.110-api-cirrus-com.pcap",
    "zeek/quic/chromium-115.0.5790.110-google-de-fragmented.pcap",
    "zeek/quic/chromium-dpd-custom-port-4433.pcap",
    "zeek/quic/curl-8.1.2-dev-http3-www-google-de.pcap",
    "zeek/quic/firefox-102.13.0esr-blog-cloudflare-com.pcap",
    "zeek/quic/handshake.pcap",
    "zeek/quic/merlinc2_Zeek_example.pcapng",
    "zeek/quic/quic-39264-rand.pcap",
    "zeek/quic/quic-decrypt-fail-google-de-51833.pcap",
    "zeek/quic/quic-multiple-initial-fragmented-crypto-only-initial.pcap",
    "zeek/quic/quic-multiple-initial-fragmented-crypto.pcap",
    "zeek/quic/quic_win11_firefox_google.pcap",
    "zeek/quic/quicdoq.pcap",
    "zeek/quic/quicv2-echo-443.pcap",
    "zeek/quic/quicv2-echo-dpd-custom-port-4433.pcap",
    "zeek/quic/quicv2-http3-443.pcap",
    "zeek/quic/retry.pcap",
    "zeek/quic/vector-max-size-crash.pcap",
    "zeek/quic/zerortt.pcap",
    "mercury/pcaps/geneve.pcap",
    "mercury/pcaps/quic-crypto-packets.pcap",
    "mercury/pcaps/quic_decry.pcap",
    "mercury/pcaps/quic_fragmented.pcap",
    "mercury/pcaps/quic_init.capture2.pcap",
    "mercury/pcaps/quic_ppp.pcap",
    "mercury/pcaps/quic_reordered_frames.pcap",
    "mercury/pcaps/quic_v2.pcap",
    "ja4/chrome-cloudflare-quic-with-secrets.pcapng",
    "ja4/quic-tls-handshake.pcapng",
    "ja4/quic-with-several-tls-frames.pcapng",
    "ja4/ssh2.pcapng",
    "ja4/tls-handshake.pcapng",
    "ja4/tls-sni.pcapng",
    "tcpdump/gquic.pcap",
    "tcpdump/quic_32_bit_pointer_overflow.pcap",
    "tcpdump/quic_handshake.pcap",
    "tcpdump/quic_handshake_truncated.pcap",
    "tcpdump/quic_retry.pcap",
    "tcpdump/quic_vn.pcap",
]

# FoxIO-LLC/ja4 rust/ja4/src/snapshots: (capture, client port) -> (ja4, ja4s)
G = ("q13d0310h3_55b375c5d22e_cd85d2d88918", "q130200_1301_234ea6891581")
F = ("q13d0310h3_55b375c5d22e_cd85d2d88918", "q130200_1301_a56c5b993250")
JA4 = {
    "ja4/chrome-cloudflare-quic-with-secrets.pcapng": {50280: G},
    "ja4/ssh2.pcapng": {
        51810: ("q13d0312h3_55b375c5d22e_73e2d9e6cde6", "q130300_1301_6bbbaf601ed8"),
        61861: ("q13d0312h3_55b375c5d22e_73e2d9e6cde6", "q130200_1301_234ea6891581"),
    },
    "ja4/tls-handshake.pcapng": {
        59102: G, 57816: G, 55945: G, 49333: G, 57662: G, 60486: G, 60845: G,
        55906: G, 61836: G, 59221: G, 51905: G, 51782: G, 61730: F, 54980: F,
        52166: F, 59444: F, 60374: F, 55309: G, 50053: G, 57188: G,
    },
}


# tshark's port heuristics take DNS-over-QUIC on 853 for DTLS, so the truth
# file has no QUIC there; for these the hellos come from tshark run with
# the port decoded as QUIC.
DECODE_AS = {"zeek/quic/quicdoq.pcap": "udp.port==853,quic"}


def hellos_decoded_as(path, decode_as):
    """Truth-shaped flows from `tshark -d decode_as -T fields`."""
    out = subprocess.run(
        ["tshark", "-r", path, "-d", decode_as, "-T", "fields", "-E", "separator=|",
         "-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport", "-e", "ip.dst",
         "-e", "ipv6.dst", "-e", "udp.dstport", "-e", "tls.handshake.type",
         "-e", "tls.handshake.extensions_server_name",
         "-e", "tls.handshake.extensions_alpn_str",
         "-e", "tls.handshake.extensions.supported_version",
         "-e", "tls.handshake.ciphersuite"],
        capture_output=True, text=True, check=True).stdout
    flows = {}
    for line in out.splitlines():
        f = line.split("|")
        src, dst = f[0] or f[1], f[3] or f[4]
        key = (src, int(f[2]), dst, int(f[5]))
        rkey = (dst, int(f[5]), src, int(f[2]))
        if rkey in flows:
            key = rkey
        fl = flows.setdefault(key, {"proto": "udp", "src": key[0], "sport": key[1],
                                    "dst": key[2], "dport": key[3],
                                    "tls": {"client_hellos": [], "server_hellos": []}})
        types = f[6].split(",") if f[6] else []
        versions = ["0x%04x" % int(v, 16) for v in f[9].split(",") if v]
        if "1" in types:
            fl["tls"]["client_hellos"].append({
                "sni": f[7] or None, "alpn": f[8].split(",") if f[8] else [],
                "supported_versions": versions})
        if "2" in types:
            fl["tls"]["server_hellos"].append({
                "supported_versions": versions, "ciphersuite": f[10]})
    return {"flows": list(flows.values())}


def grease(v):
    return (v & 0x0F0F0F0F) == 0x0A0A0A0A


def first_long_headers(path, decode_as=None):
    """(src, sport, dst, dport) -> (version, dcid, scid) of the first
    non-GREASE long-header packet sent from src."""
    extra = ["-d", decode_as] if decode_as else []
    out = subprocess.run(
        ["tshark", "-r", path] + extra + ["-Y", "quic.header_form == 1", "-T", "fields",
         "-E", "separator=|", "-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport",
         "-e", "ip.dst", "-e", "ipv6.dst", "-e", "udp.dstport",
         "-e", "quic.version", "-e", "quic.dcid", "-e", "quic.scid"],
        capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        f = line.split("|")
        # Outer header first (Geneve): the record keys flows by it.
        src = (f[0] or f[1]).split(",")[0]
        dst = (f[3] or f[4]).split(",")[0]
        sport, dport = f[2].split(",")[0], f[5].split(",")[0]
        versions = f[6].split(",")
        dcids, scids = f[7].split(","), f[8].split(",")
        for i, v in enumerate(versions):
            if not v or grease(int(v, 16)):
                continue
            key = (src, int(sport), dst, int(dport))
            if key not in res:
                res[key] = (v, dcids[i] if i < len(dcids) else "",
                            scids[i] if i < len(scids) else "")
            break
    return res


def main():
    os.makedirs("captures", exist_ok=True)
    expected = []
    for rel in CAPTURES:
        src = os.path.join(SHARED, rel)
        name = rel.replace("zeek/quic/", "zeek_").replace("mercury/pcaps/", "mercury_") \
                  .replace("ja4/", "ja4_").replace("tcpdump/", "tcpdump_")
        dst = os.path.join("captures", name)
        if os.path.getsize(src) > 100_000:
            subprocess.run(["tshark", "-r", src, "-Y", "quic.header_form == 1",
                            "-w", dst], check=True, capture_output=True)
        else:
            with open(src, "rb") as i, open(dst, "wb") as o:
                o.write(i.read())
        if rel in DECODE_AS:
            truth = hellos_decoded_as(src, DECODE_AS[rel])
        else:
            truth = json.load(open(os.path.join(SHARED, "truth", rel + ".json")))
        heads = first_long_headers(src, DECODE_AS.get(rel))
        flows = []
        for fl in truth["flows"]:
            if fl["proto"] != "udp" or not fl.get("tls"):
                continue
            t = fl["tls"]
            chs, shs = [], []
            for c in t.get("client_hellos", []):
                e = {"sni": c.get("sni"), "alpn": c.get("alpn") or [],
                     "supported_versions": c.get("supported_versions") or []}
                if e not in chs:
                    chs.append(e)
            for s in t.get("server_hellos", []):
                e = {"supported_versions": s.get("supported_versions") or [],
                     "ciphersuite": s.get("ciphersuite")}
                if e not in shs:
                    shs.append(e)
            rec = {"src": fl["src"], "sport": fl["sport"], "dst": fl["dst"],
                   "dport": fl["dport"], "client_hellos": chs, "server_hellos": shs}
            h = heads.get((fl["src"], fl["sport"], fl["dst"], fl["dport"]))
            if h:
                rec["version"], rec["dcid"], rec["scid"] = h
            j = JA4.get(rel, {}).get(fl["sport"])
            if j:
                rec["ja4"], rec["ja4s"] = j
            flows.append(rec)
        expected.append({"file": name, "source": rel, "flows": flows})
    with open("expected.json", "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
