#!/usr/bin/env bash
# `make bench-live`: what live capture costs, in one run, on one load.
#
# Two throwaway namespaces joined by a veth pair (client 10.78.0.1, server
# 10.78.0.2, default offloads), and three passes of the same load: nothing
# capturing, flowjoy --engine ebpf on the client's veth, flowjoy --engine
# pcap on it. The load is iperf3 TCP for SECS seconds, then a small-packet
# UDP blaster (tests/udpblast: one flow, 18-byte payloads, one sender as
# fast as it can) for SECS seconds, counted at the receiver.
#
# For each pass: TCP throughput, UDP packets/s sent and received, and CPU
# seconds per million packets of the UDP load: of the flowjoy process
# (/proc/PID/stat utime+stime); of the sender (getrusage), whose increase
# over the unmonitored pass is the engine's in-kernel hook (eBPF programs,
# or libpcap's packet tap and ring copy, run in the sending context); the
# eBPF programs' own run time (bpf_stats); and of the whole machine (busy
# time of every core from /proc/stat), which on a shared machine includes
# everybody else. Each pass runs ROUNDS times, interleaved; the report
# takes each pass's best round. Loss: the packets flowjoy's records hold for the blaster's
# flow against what the sender sent; what is missing must be in a counted
# stat (insert_failures for eBPF, pcap_dropped_kernel for libpcap), and
# the rest is "unaccounted".
#
# Then PACED_ROUNDS rounds of a paced UDP load (PACED_RATE packets/s, no
# receiving socket) per pass: the whole machine's CPU per packet over the
# unmonitored pass, each pass's median round.
#
# Then PROFILE_ROUNDS rounds per engine of the same paced load under
# `perf record -a -g` (cpu-clock at PROFILE_HZ): the CPU each engine costs,
# isolated from the rest of the machine. eBPF = every sample inside its
# programs (bpf_prog_*_fj_*, wherever they run) + every sample of the
# flowjoy process; libpcap = every sample under dev_queue_xmit_nit,
# tpacket_rcv or packet_rcv (the packet taps: the clone and the ring copy,
# run in the sender's or softirq context) + every sample of the flowjoy
# process. This is the measure the issue's <= 1/5 target is judged on: the
# whole-machine figures above move by more than the engines cost.
#
# Then a new-flow flood: FLOOD_RATE unique UDP tuples per second (raw
# frames, one per flow) for FLOOD_SECS seconds against flowjoy --engine
# ebpf --max-flows FLOOD_MAX: its peak RSS, the evictions and insert
# failures it counted, and whether records + counted failures cover every
# flow sent.
#
# It reports and does not judge: it exits non-zero only when it cannot
# run. The machine may be shared: numbers vary between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SECS:-5}
ROUNDS=${ROUNDS:-5} # fewer leaves the best round of a pass to one slow spell of the VM
FLOOD_SECS=${FLOOD_SECS:-10}
FLOOD_RATE=${FLOOD_RATE:-100000}
FLOOD_MAX=${FLOOD_MAX:-4096}
# The paced UDP load, below what any pass can send: the same packets in
# the same time in every pass, so the CPU the whole machine spends more
# than unmonitored is what capture costs, wherever it runs.
PACED_RATE=${PACED_RATE:-40000}
PACED_ROUNDS=${PACED_ROUNDS:-3}
PROFILE_ROUNDS=${PROFILE_ROUNDS:-2}
PROFILE_HZ=${PROFILE_HZ:-5000}
# PHASES selects parts of the run (all by default): flat paced profile flood.
# KEEP_WORK=1 keeps the work directory (outputs, stats, perf stacks per
# sample) in /tmp for a closer look; it is named at the end.
PHASES=${PHASES:-flat paced profile flood}
phase() { [[ " $PHASES " == *" $1 "* ]]; }

[ "$(id -u)" = 0 ] || { echo "bench-live: needs root (namespaces, eBPF)"; exit 1; }
for t in ip iperf3 ethtool python3 go perf; do
  command -v $t >/dev/null || { echo "bench-live: $t is missing (make deps)"; exit 1; }
done

id=$$
C=fjbl$id-c S=fjbl$id-s
VC=fjbl${id}c VS=fjbl${id}s
work=$(mktemp -d /tmp/flowjoy-bench-live.XXXXXX)
pids=()
stats_was=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
  sysctl -qw kernel.bpf_stats_enabled="$stats_was" || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true
  ip netns del "$S" 2>/dev/null || true
  if [ -n "${KEEP_WORK:-}" ]; then echo "bench-live: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

go build -o bin/flowjoy ./cmd/flowjoy
go build -o "$work/udpblast" ./tests/udpblast
FJ=$PWD/bin/flowjoy BLAST=$work/udpblast

ip netns add "$C"
ip netns add "$S"
ip link add "$VC" netns "$C" type veth peer name "$VS" netns "$S"
ip -n "$C" addr add 10.78.0.1/24 dev "$VC"
ip -n "$S" addr add 10.78.0.2/24 dev "$VS"
for ns in "$C" "$S"; do ip -n "$ns" link set lo up; done
ip -n "$C" link set "$VC" up
ip -n "$S" link set "$VS" up
ip netns exec "$C" ping -c1 -W2 10.78.0.2 >/dev/null

hz=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }  # user nice system irq softirq steal
proccpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
# bpfns PID: run time in ns of the eBPF programs process PID holds, from
# their fdinfo (kernel.bpf_stats_enabled=1 while the eBPF engine runs):
# the kernel side of the eBPF engine's cost, which runs in the senders'
# context and not in flowjoy's.
bpfns() {
  # Each program once, by id: link fds name a program too, without times.
  cat /proc/"$1"/fdinfo/* 2>/dev/null | awk '
    /^prog_id:/ { id = $2 }
    /^run_time_ns:/ { t[id] = $2 }
    END { s = 0; for (i in t) s += t[i]; print s }'
}

# start_fj ENGINE OUT [ARGS...]: flowjoy on the client's veth, in the background.
start_fj() {
  local engine=$1 out=$2; shift 2
  ip netns exec "$C" "$FJ" -i "$VC" --engine "$engine" --stats-json -w "$out" "$@" 2>"$work/fj.err" &
  fjpid=$!
  pids+=("$fjpid")
  for _ in $(seq 200); do
    grep -q "capturing on" "$work/fj.err" && return
    kill -0 "$fjpid" 2>/dev/null || { cat "$work/fj.err"; echo "bench-live: flowjoy did not start"; exit 1; }
    sleep 0.1
  done
  echo "bench-live: flowjoy not capturing after 20 s"; exit 1
}

stop_fj() {
  kill -INT "$fjpid"
  wait "$fjpid" || { cat "$work/fj.err"; echo "bench-live: flowjoy failed"; exit 1; }
  tail -n1 "$work/fj.err" >"$work/stats-$1.json"
}

# One pass: MODE is none, ebpf or pcap; ROUND its number. A flowjoy of
# its own watches each load, so that its stats (drops, losses) are that
# load's. Writes $work/pass-MODE-ROUND.json and the loads' outputs.
pass() {
  local mode=$1 round=$2
  local b0 p0=0 b1 p1=0 b2 p2=0 b3 p3=0 k2=0 k3=0

  [ "$mode" = none ] || start_fj "$mode" "$work/records-tcp-$mode.jsonl"
  [ "$mode" != ebpf ] || sysctl -qw kernel.bpf_stats_enabled=1
  b0=$(busy); [ "$mode" = none ] || p0=$(proccpu "$fjpid")
  ip netns exec "$S" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  local srv=$!
  sleep 0.3
  ip netns exec "$C" iperf3 -c 10.78.0.2 -p 5201 -t "$SECS" -J >"$work/iperf-$mode-$round.json"
  wait "$srv" || true
  b1=$(busy); [ "$mode" = none ] || p1=$(proccpu "$fjpid")
  [ "$mode" = none ] || stop_fj "tcp-$mode-$round"

  [ "$mode" = none ] || start_fj "$mode" "$work/records-udp-$mode.jsonl"
  ip netns exec "$S" "$BLAST" sink -listen 10.78.0.2:9000 >"$work/sink-$mode-$round.json" 2>"$work/sink.err" &
  local sink=$!
  for _ in $(seq 50); do grep -q ready "$work/sink.err" && break; sleep 0.1; done
  b2=$(busy); [ "$mode" = none ] || p2=$(proccpu "$fjpid"); [ "$mode" != ebpf ] || k2=$(bpfns "$fjpid")
  ip netns exec "$C" "$BLAST" blast -to 10.78.0.2:9000 -duration "${SECS}s" >"$work/blast-$mode-$round.json"
  b3=$(busy); [ "$mode" = none ] || p3=$(proccpu "$fjpid"); [ "$mode" != ebpf ] || k3=$(bpfns "$fjpid")
  wait "$sink"
  [ "$mode" != ebpf ] || sysctl -qw kernel.bpf_stats_enabled="$stats_was"

  if [ "$mode" != none ]; then
    stop_fj "udp-$mode-$round"
    mv "$work/records-udp-$mode.jsonl" "$work/records-udp-$mode-$round.jsonl"
  fi
  printf '{"tcp_busy":%s,"udp_busy":%s,"tcp_proc":%s,"udp_proc":%s,"udp_bpf_ns":%s}\n' \
    $((b1 - b0)) $((b3 - b2)) $((p1 - p0)) $((p3 - p2)) $((k3 - k2)) >"$work/pass-$mode-$round.json"
}

# Rounds alternate the passes, so that load from elsewhere on the machine
# hits them alike; the report takes each pass's best round.
phase flat || ROUNDS=0
for r in $(seq "$ROUNDS"); do
  for m in none ebpf pcap; do
    echo "bench-live: round $r, pass $m (iperf3 TCP ${SECS}s, UDP blaster ${SECS}s)"
    pass "$m" "$r"
  done
done

# Paced: PACED_ROUNDS rounds of none, ebpf, pcap, each sending UDP at
# PACED_RATE for SECS seconds, bpf_stats off (timing every program run
# costs too). The same packets in the same time in every pass, so the CPU
# the whole machine spends over the unmonitored pass is what capture
# costs, wherever it runs (eBPF programs and reader; libpcap's tap, ring
# copy and reader). No socket receives the load (the server's stack drops
# it after the port lookup; ICMP errors are rate-limited to 1000/s), so
# no receiver wakes per packet: wakeups batch differently with every small
# change of timing and would drown the engines' cost. The report takes
# each pass's median round.
# paced_load: the paced UDP load, the same in the paced and profiled phases.
paced_load() {
  ip netns exec "$C" "$BLAST" blast -to 10.78.0.2:9001 -rate "$PACED_RATE" -duration "${SECS}s"
}
phase paced || PACED_ROUNDS=0
for r in $(seq "$PACED_ROUNDS"); do
  for m in none ebpf pcap; do
    echo "bench-live: paced round $r, pass $m (UDP at $PACED_RATE/s, ${SECS}s)"
    [ "$m" = none ] || start_fj "$m" /dev/null
    b0=$(busy)
    paced_load >"$work/paced-$m-$r.json"
    b1=$(busy)
    [ "$m" = none ] || stop_fj "paced-$m-$r"
    echo "{\"busy\":$((b1 - b0))}" >"$work/paced-busy-$m-$r.json"
  done
done

# Profiled: the paced load under perf, engines alternating.
phase profile || PROFILE_ROUNDS=0
for r in $(seq "$PROFILE_ROUNDS"); do
  for m in ebpf pcap; do
    echo "bench-live: profiled round $r, pass $m (UDP at $PACED_RATE/s, ${SECS}s, perf record -a)"
    start_fj "$m" /dev/null
    perf record -q -a -g -e cpu-clock -F "$PROFILE_HZ" -o "$work/perf.data" -- sleep $((SECS + 1)) 2>/dev/null &
    perfpid=$!
    sleep 0.5
    paced_load >"$work/profile-$m-$r.json"
    wait "$perfpid"
    # One line per sample: the process id, then the symbols of its stack.
    perf script -i "$work/perf.data" -F pid,ip,sym 2>/dev/null | awk -v fj="$fjpid" '
      /^ *[0-9]+ *$/ { if (n) print line; line = ($1 == fj ? "flowjoy" : "other"); n = 1; next }
      NF { line = line " " $NF }
      END { if (n) print line }' >"$work/profile-$m-$r.stacks"
    rm -f "$work/perf.data"
    stop_fj "profile-$m-$r"
  done
done

# The flood.
phase flood || FLOOD_SECS=0
if [ "$FLOOD_SECS" -gt 0 ]; then
echo "bench-live: new-flow flood, $FLOOD_RATE flows/s for ${FLOOD_SECS}s, --max-flows $FLOOD_MAX"
mac=$(ip netns exec "$S" cat "/sys/class/net/$VS/address")
ip netns exec "$C" "$FJ" -i "$VC" --engine ebpf --stats-json --max-flows "$FLOOD_MAX" --features basic \
  --idle-timeout 2s 2>"$work/fj.err" > >(grep -c '"sa":"10\.200\.' >"$work/flood-records" || true) &
fjpid=$!
pids+=("$fjpid")
for _ in $(seq 200); do grep -q "capturing on" "$work/fj.err" && break; sleep 0.1; done
grep -q "capturing on" "$work/fj.err" || { cat "$work/fj.err"; echo "bench-live: flowjoy did not start"; exit 1; }
rss_start=$(awk '/VmRSS/{print $2}' "/proc/$fjpid/status")
ip netns exec "$C" "$BLAST" flood -dev "$VC" -dst-mac "$mac" -dst 10.78.0.2 -rate "$FLOOD_RATE" \
  -duration "${FLOOD_SECS}s" >"$work/flood.json"
sleep 3 # the last flows go idle (2 s) and are written
rss_peak=$(awk '/VmHWM/{print $2}' "/proc/$fjpid/status")
stop_fj flood
for _ in $(seq 50); do [ -s "$work/flood-records" ] && break; sleep 0.1; done
echo "{\"rss_start_kb\":$rss_start,\"rss_peak_kb\":$rss_peak}" >"$work/flood-rss.json"
fi

PACED_RATE="$PACED_RATE" PACED_ROUNDS="$PACED_ROUNDS" PROFILE_ROUNDS="$PROFILE_ROUNDS" PROFILE_HZ="$PROFILE_HZ" FLOOD_SECS="$FLOOD_SECS" python3 - "$work" "$hz" "$ROUNDS" <<'EOF'
import json, sys, os
work, hz, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
paced_rounds, profile_rounds = int(os.environ["PACED_ROUNDS"]), int(os.environ["PROFILE_ROUNDS"])
prof_hz = int(os.environ["PROFILE_HZ"])
def load(name):
    with open(os.path.join(work, name)) as f:
        text = f.read().strip()
    try:
        return json.loads(text)  # iperf3's object spans lines
    except ValueError:
        return json.loads(text.splitlines()[-1])  # flowjoy's stats are its last line on stderr

def one(m, k):
    p, blast, sink = load(f"pass-{m}-{k}.json"), load(f"blast-{m}-{k}.json"), load(f"sink-{m}-{k}.json")
    ip = load(f"iperf-{m}-{k}.json")
    mpkt = blast["sent"] / 1e6
    r = {"gbps": ip["end"]["sum_received"]["bits_per_second"] / 1e9,
         "sent": blast["sent"], "recv": sink["received"], "pps": blast["sent"] / blast["seconds"],
         "rpps": sink["received"] / blast["seconds"],
         "sys_cpu_mpkt": p["udp_busy"] / hz / mpkt,
         "fj_cpu_mpkt": p["udp_proc"] / hz / mpkt,
         "bpf_cpu_mpkt": p["udp_bpf_ns"] / 1e9 / mpkt,
         "sender_cpu_mpkt": blast["cpu_seconds"] / mpkt,
         "fj_tcp_cpu_s": p["tcp_proc"] / hz}
    if m != "none":
        st = load(f"stats-udp-{m}-{k}.json")
        eng = st.get("engine", {})
        recorded = 0
        with open(os.path.join(work, f"records-udp-{m}-{k}.jsonl")) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("sa") == "10.78.0.1" and rec.get("dp") == 9000 and str(rec.get("sp")) == str(blast["src_port"]):
                    recorded += rec.get("num_pkts_out", 0)
        # Counted losses: libpcap's drops; the eBPF engine's lost samples
        # (a packet whose sample is lost is still counted in its flow's
        # kernel entry, unless the map was full).
        counted = eng.get("samples_lost", 0) + eng.get("pcap_dropped_kernel", 0) + eng.get("pcap_dropped_interface", 0)
        r.update(recorded=recorded, counted_lost=counted, unaccounted=max(0, blast["sent"] - recorded - counted),
                 samples_lost=eng.get("samples_lost", 0), pcap_dropped=eng.get("pcap_dropped_kernel", 0),
                 tcp_pcap_dropped=load(f"stats-tcp-{m}-{k}.json").get("engine", {}).get("pcap_dropped_kernel", 0))
    return r

def ratio(a, b):
    return a / b if b > 0 else float("nan")

if rounds > 0:
    # Each pass's best round: highest throughput, least CPU per packet; losses
    # are summed over the rounds.
    rows = {}
    for m in ("none", "ebpf", "pcap"):
        rs = [one(m, k) for k in range(1, rounds + 1)]
        best = dict(rs[0])
        for key in ("gbps", "pps", "rpps"):
            best[key] = max(r[key] for r in rs)
        for key in ("sys_cpu_mpkt", "fj_cpu_mpkt", "bpf_cpu_mpkt", "sender_cpu_mpkt", "fj_tcp_cpu_s"):
            best[key] = min(r[key] for r in rs)
        for key in ("sent", "recorded", "counted_lost", "unaccounted", "samples_lost", "tcp_pcap_dropped"):
            if key in best:
                best[key] = sum(r[key] for r in rs)
        rows[m] = best
        for k, r in enumerate(rs, 1):
            print(f"round {k} {m:5}: TCP {r['gbps']:.2f} Gbit/s, UDP {r['pps']:.0f} pps sent, {r['rpps']:.0f} received, "
                  f"CPU s/Mpkt: flowjoy {r['fj_cpu_mpkt']:.3f}, sender {r['sender_cpu_mpkt']:.3f} (eBPF programs {r['bpf_cpu_mpkt']:.3f}), machine {r['sys_cpu_mpkt']:.2f}")

    # What an engine costs per packet: flowjoy's own CPU, plus what its hook
    # adds to the sending process (the eBPF programs, libpcap's packet tap and
    # ring copy run there), against the unmonitored sender.
    for m in ("ebpf", "pcap"):
        rows[m]["hook_cpu_mpkt"] = rows[m]["sender_cpu_mpkt"] - rows["none"]["sender_cpu_mpkt"]
        rows[m]["engine_cpu_mpkt"] = rows[m]["fj_cpu_mpkt"] + rows[m]["hook_cpu_mpkt"]
    rows["none"].update(hook_cpu_mpkt=0.0, engine_cpu_mpkt=0.0)

    n = rows["none"]
    print()
    print("best round of each pass; CPU in seconds per million UDP packets sent (= µs per packet);")
    print("engine = flowjoy + hook (what monitoring adds to the sender's CPU); machine = all cores, other users included")
    print(f"{'pass':6} {'TCP Gbit/s':>10} {'UDP sent pps':>12} {'UDP recv pps':>12} {'engine':>7} {'flowjoy':>8} {'hook':>6} {'eBPF progs':>10} {'machine':>8} {'sent':>9} {'recorded':>9} {'counted lost':>12} {'unaccounted':>11}")
    for m, r in rows.items():
        extra = ("", "", "") if m == "none" else (r["recorded"], r["counted_lost"], r["unaccounted"])
        print(f"{m:6} {r['gbps']:10.2f} {r['pps']:12.0f} {r['rpps']:12.0f} {r['engine_cpu_mpkt']:7.3f} {r['fj_cpu_mpkt']:8.3f} {r['hook_cpu_mpkt']:6.3f} "
              f"{r['bpf_cpu_mpkt']:10.3f} {r['sys_cpu_mpkt']:8.2f} {r['sent']:>9} {extra[0]:>9} {extra[1]:>12} {extra[2]:>11}")
    e, p = rows["ebpf"], rows["pcap"]
    print()
    print(f"eBPF TCP throughput / unmonitored:           {ratio(e['gbps'], n['gbps']):.3f}  (target >= 0.95)")
    print(f"eBPF UDP pps sent / unmonitored:             {ratio(e['pps'], n['pps']):.3f}")
    print(f"pcap TCP throughput / unmonitored:           {ratio(p['gbps'], n['gbps']):.3f}")
    print(f"pcap UDP pps sent / unmonitored:             {ratio(p['pps'], n['pps']):.3f}")
    print(f"engine CPU per packet, eBPF / pcap (flat out): {ratio(e['engine_cpu_mpkt'], p['engine_cpu_mpkt']):.3f}  (flowjoy + what the sender loses; noisy)")
    print(f"flowjoy process CPU per packet, eBPF / pcap: {ratio(e['fj_cpu_mpkt'], p['fj_cpu_mpkt']):.3f}")
    print(f"flowjoy CPU during TCP, s: eBPF {e['fj_tcp_cpu_s']:.2f}, pcap {p['fj_tcp_cpu_s']:.2f}; libpcap drops during TCP {p['tcp_pcap_dropped']}")
    print(f"unaccounted packets: eBPF {e['unaccounted']}, pcap {p['unaccounted']} (target 0); samples lost (eBPF) {e['samples_lost']}")


paced = {}
if paced_rounds > 0:
    # What capture costs the whole machine per packet at the paced rate, over
    # the unmonitored pass: the eBPF programs and the ring-buffer reader, or
    # libpcap's tap, ring copy and reader, wherever they run.
    print()
    for m in ("none", "ebpf", "pcap"):
        per = []
        for k in range(1, paced_rounds + 1):
            sent = load(f"paced-{m}-{k}.json")["sent"] / 1e6
            per.append(load(f"paced-busy-{m}-{k}.json")["busy"] / hz / sent)
        paced[m] = sorted(per)[len(per) // 2]
        print(f"paced UDP, {os.environ['PACED_RATE']} pps, {m:4}: machine CPU s/Mpkt per round " + ", ".join(f"{x:.3f}" for x in per))
    for m in ("ebpf", "pcap"):
        paced[m + "_engine"] = paced[m] - paced["none"]
    print(f"paced UDP, median round: none {paced['none']:.3f}, eBPF {paced['ebpf']:.3f} ({paced['ebpf_engine']:+.3f}), "
          f"pcap {paced['pcap']:.3f} ({paced['pcap_engine']:+.3f})")
    print(f"engine CPU per packet, eBPF / pcap (paced):  {ratio(paced['ebpf_engine'], paced['pcap_engine']):.3f}  (machine-wide CPU above unmonitored; noisy)")

if profile_rounds > 0:
    # The profiled rounds: samples of the flowjoy process and samples inside
    # the engine's kernel hook, in µs per packet sent. Each engine's median
    # round (the lower middle one when the rounds are even).
    def hook(m, frames):
        if m == "ebpf":
            return any(f.startswith("bpf_prog_") and "_fj_" in f for f in frames)
        return any(f in ("dev_queue_xmit_nit", "tpacket_rcv", "packet_rcv") for f in frames)

    def profiled(m, k):
        sent = load(f"profile-{m}-{k}.json")["sent"]
        fj = kernel = 0
        with open(os.path.join(work, f"profile-{m}-{k}.stacks")) as f:
            for line in f:
                who, *frames = line.split()
                if who == "flowjoy":
                    fj += 1
                elif hook(m, frames):
                    kernel += 1
        us = 1e6 / prof_hz / sent
        return fj * us, kernel * us

    print()
    prof = {}
    for m in ("ebpf", "pcap"):
        rs = [profiled(m, k) for k in range(1, profile_rounds + 1)]
        for k, (fj, kernel) in enumerate(rs, 1):
            print(f"profiled round {k} {m:4}: flowjoy {fj:.3f} µs/pkt + kernel hook {kernel:.3f} µs/pkt = {fj + kernel:.3f}")
        prof[m] = sorted(fj + kernel for fj, kernel in rs)[(len(rs) - 1) // 2]
    print(f"engine CPU per packet, eBPF / pcap (profiled, median): {prof['ebpf']:.3f} / {prof['pcap']:.3f} µs = "
          f"{ratio(prof['ebpf'], prof['pcap']):.3f}  (target <= 0.2)")

if int(os.environ["FLOOD_SECS"]) > 0:
    fl, st, rss = load("flood.json"), load("stats-flood.json"), load("flood-rss.json")
    with open(os.path.join(work, "flood-records")) as f:
        records = int(f.read().strip() or 0)
    eng = st.get("engine", {})
    fails = eng.get("insert_failures", 0)
    lost = eng.get("samples_lost", 0)
    print()
    print(f"flood: {fl['flows']} flows sent in {fl['seconds']:.1f}s ({fl['flows']/fl['seconds']:.0f}/s), {fl['failed']} send failures")
    print(f"flood: flowjoy RSS {rss['rss_start_kb']/1024:.1f} MiB at start, peak {rss['rss_peak_kb']/1024:.1f} MiB")
    print(f"flood: {records} records of flood flows, kernel evictions {eng.get('flows_evicted', 0)}, userspace evictions {st.get('evicted', 0)}, "
          f"insert failures {fails}, samples lost {eng.get('samples_lost', 0)}")
    # A packet that finds the kernel map full goes up as a sample (counted in
    # insert failures); only a lost sample can lose a flow, and it is counted.
    print(f"flood: flows sent - records - samples lost = {fl['flows'] - records - lost} (<= 0: every flow is in a record or a counted loss)")
EOF
