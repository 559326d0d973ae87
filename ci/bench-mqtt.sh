#!/usr/bin/env bash
# The broker transport measured: andon's publisher alone against mosquitto_pub on the same
# Mosquitto in the same run, then the whole loop over MQTT.
#
# Publisher alone. A Mosquitto of its own (ci/install-mosquitto.sh installs it; a free port,
# no persistence) with one consumer, `mosquitto_sub -q 1` on andon/#, so that every publish
# is taken for a subscriber (PUBACK 0). Each round, in this order:
#   mosquitto_pub  `mosquitto_pub -V mqttv5 -q 1 -M <inflight> -l`: BENCH_MESSAGES messages of
#                  the same `data` as andon's event, with the same user properties (the
#                  CloudEvents MQTT binding's attributes) and content type, one connection
#                  with <inflight> QoS 1 publishes in flight;
#   andon          `andon-bench-target generate --url mqtt://…/andon/{plant}/{system}/{kind}
#                  --rate max --connections <inflight>`: the simulators' emitter (binary
#                  mode, one PUBACK awaited per lane, so <inflight> in flight), its history
#                  recording every publish and PUBACK.
# Both publish QoS 1 to the same broker and consumer; the ratio is andon's publishes per
# second over mosquitto_pub's, median over the rounds.
#
# Whole loop: ci/bench-whole-loop.sh with LOOP_TRANSPORT=mqtt (MES -> broker -> reference
# middleware -> ERP at rising rates; the highest rate whose p99 of consumed -> erp stays
# under 1 s).
#
# Knobs: BENCH_ROUNDS (3), BENCH_MESSAGES (100000), BENCH_DURATION (6s), BENCH_INFLIGHT (32),
# BENCH_WHOLE_LOOP (1; 0 leaves the whole loop out), BENCH_OUT (ci/bench/mqtt-results.md).
# Exit 2: a tool is missing or the broker does not start.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source ci/static-env.sh
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
ROUNDS=${BENCH_ROUNDS:-3}
MESSAGES=${BENCH_MESSAGES:-100000}
DURATION=${BENCH_DURATION:-6s}
INFLIGHT=${BENCH_INFLIGHT:-32}
OUT=${BENCH_OUT:-ci/bench/mqtt-results.md}

say() { echo "== $*" >&2; }
die() { echo "bench-mqtt: $*" >&2; exit 2; }

ci/install-mosquitto.sh >&2 || die "Mosquitto could not be installed"
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
command -v mosquitto_pub >/dev/null || die "mosquitto_pub is missing (Debian's mosquitto-clients)"
command -v python3 >/dev/null || die "python3 is needed"

say "building andon and andon-bench-target (release)"
cargo build --release -p andon --bin andon --bin andon-bench-target --locked >&2
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release
GEN=$BIN/andon-bench-target

WORK=$(mktemp -d)
chmod 777 "$WORK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\nmax_inflight_messages 0\n' "$PORT" > "$WORK/m.conf"
"$MOSQUITTO" -c "$WORK/m.conf" > "$WORK/mosquitto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
(echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || die "Mosquitto did not listen on $PORT"
mosquitto_sub -p "$PORT" -V mqttv5 -q 1 -t 'andon/#' > /dev/null &
PIDS+=($!)
sleep 0.3

# The same data and attributes as andon's event.
"$GEN" generate --print-body > "$WORK/event.json"
python3 - "$WORK" "$MESSAGES" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
e = json.load(open(f"{work}/event.json"))
data = json.dumps(e["data"], separators=(",", ":"))
open(f"{work}/payload", "w").write((data + "\n") * n)
props = []
for k, v in e.items():
    if k in ("data", "datacontenttype"):
        continue
    props += ["-D", "publish", "user-property", k, str(v)]
open(f"{work}/props", "w").write("\0".join(props))
PY
mapfile -d '' PROPS < "$WORK/props"
PAYLOAD_BYTES=$(head -1 "$WORK/payload" | wc -c)

pub_rate() {
    local t0 t1
    t0=$(date +%s.%N)
    mosquitto_pub -p "$PORT" -V mqttv5 -q 1 -M "$INFLIGHT" -t andon/1000/mes/material.consumed \
        "${PROPS[@]}" -D publish content-type application/json -l < "$WORK/payload"
    t1=$(date +%s.%N)
    python3 -c "print(f'{$MESSAGES / ($t1 - $t0):.0f}')"
}
andon_rate() {
    "$GEN" generate --url "mqtt://127.0.0.1:$PORT/andon/{plant}/{system}/{kind}" --rate max \
        --connections "$INFLIGHT" --duration "$DURATION" --warmup 2s > "$WORK/andon.json"
    python3 - "$WORK/andon.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["errors"] == 0, r
print(f'{r["rps"]:.0f} {r["latency"]["p50_us"]} {r["latency"]["p99_us"]}')
PY
}

rows=""
ratios=()
for i in $(seq "$ROUNDS"); do
    say "round $i: mosquitto_pub, $MESSAGES messages"
    p=$(pub_rate)
    say "round $i: andon's publisher, $DURATION"
    read -r a p50 p99 < <(andon_rate)
    r=$(python3 -c "print(f'{$a / $p:.2f}')")
    ratios+=("$r")
    rows+="| $i | $p | $a | $(python3 -c "print(f'{$p50/1000:.1f} / {$p99/1000:.1f}')") | $r |"$'\n'
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

loop=""
if [ "${BENCH_WHOLE_LOOP:-1}" != 0 ]; then
    say "the whole loop over MQTT"
    loop=$(LOOP_TRANSPORT=mqtt ANDON=$BIN/andon ci/bench-whole-loop.sh)
fi

{
    echo "## The broker transport: andon's publisher and the whole loop over MQTT"
    echo
    echo "Measured by \`ci/bench-mqtt.sh\` on $(nproc) CPUs ($(uname -m)), $(date -u +%Y-%m-%d),"
    echo "Mosquitto $("$MOSQUITTO" -h 2>/dev/null | head -1 | awk '{print $3}'), release build, not pinned."
    echo
    echo "### Publisher alone: andon vs mosquitto_pub, same broker, same consumer"
    echo
    echo "QoS 1, $INFLIGHT publishes in flight, $PAYLOAD_BYTES-byte payload with the CloudEvents"
    echo "binding's user properties; one consumer (\`mosquitto_sub -q 1\`). mosquitto_pub: $MESSAGES"
    echo "messages on one connection; andon: its emitter for $DURATION on $INFLIGHT lanes, recording"
    echo "every publish and PUBACK in its history."
    echo
    echo "| round | mosquitto_pub msg/s | andon publishes/s | andon PUBACK p50 / p99 ms | andon / mosquitto_pub |"
    echo "|---|---|---|---|---|"
    printf '%s' "$rows"
    echo
    echo "Median ratio andon / mosquitto_pub: **$median**."
    echo
    if [ -n "$loop" ]; then
        echo "$loop"
    fi
} > "$OUT"
cat "$OUT"
