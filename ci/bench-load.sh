#!/usr/bin/env bash
# andon's load generator alone against a trivial HTTP sink, side by side with wrk and oha.
#
# The sink is `andon-bench-target --kind sink` (harness/src/bench.rs): any POST /events has its
# body read in full and is answered 202 with an empty body. It runs on one core, the load
# generator on the other (taskset, when there are two CPUs). Each round, started afresh for
# every run and in this order, measures with the same connection count, duration and body
# (the CloudEvent `andon-bench-target generate --print-body` prints, posted as
# application/cloudevents+json with its traceparent):
#   wrk          wrk -t1 (Debian's package), a Lua script posting the body;
#   oha          oha (crates.io), the same body and headers;
#   andon max    `andon-bench-target generate --rate max`: the simulators' emitter, closed
#                loop, its history recording every request's latency (harness/src/benchgen/);
#   andon open   the same emitter in the open model at 70 % of this round's wrk rate, latency
#                measured from each event's intended time.
# The verdict: the median ratio andon max / wrk over the rounds at least BENCH_MIN_RATIO, and
# every round at least BENCH_MIN_ROUND (one lucky round cannot carry the claim, one slow
# round cannot hide behind the median).
#
# Knobs (environment): BENCH_ROUNDS (3), BENCH_DURATION (8s), BENCH_WARMUP (2s),
# BENCH_CONNECTIONS (32), BENCH_MIN_RATIO (1.0: exit 1 below it), BENCH_MIN_ROUND (0.9: exit 1
# when a round is below it), BENCH_OPEN_SHARE (0.70: the
# open model's rate as a share of wrk's), BENCH_OUT (ci/bench/load-results.md).
# Exit 2: a tool is missing and cannot be installed, or a server does not start.
#
# The results file is assembled from sections (the functions `section_*` below); the last
# is the whole loop (ci/bench-whole-loop.sh), its sustained rate compared with the generator
# alone. BENCH_WHOLE_LOOP=0 leaves it out.
set -euo pipefail
# shellcheck source=ci/apt-install.sh
source "$(dirname "$0")/apt-install.sh"
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=ci/static-env.sh
source ci/static-env.sh

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-8s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
MIN_RATIO=${BENCH_MIN_RATIO:-1.0}
MIN_ROUND=${BENCH_MIN_ROUND:-0.9}
OPEN_SHARE=${BENCH_OPEN_SHARE:-0.70}
OUT=${BENCH_OUT:-ci/bench/load-results.md}
TOOLS=$ROOT/target/tools
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say() { echo "== $*" >&2; }
die() { echo "bench-load: $*" >&2; exit 2; }

# ---- tools ------------------------------------------------------------------------------
# wrk from Debian's packages when missing.
install_wrk() {
    command -v wrk >/dev/null && return 0
    command -v apt-get >/dev/null || die "wrk is missing and apt-get is not here to install it (install Debian's package wrk)"
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "wrk is missing; installing it needs root or sudo (apt-get install -y wrk)"
    fi
    say "installing wrk from Debian's packages (apt-get install -y wrk)"
    apt_install wrk || die "apt-get could not install wrk (is apt usable here?)"
    command -v wrk >/dev/null || die "apt-get ran but wrk is still missing"
}

# oha on PATH or in target/tools, else `cargo install oha --locked` there, as ci/bench-erp.sh.
install_oha() {
    if command -v oha >/dev/null; then
        OHA=$(command -v oha)
    elif [ -x "$TOOLS/bin/oha" ]; then
        OHA=$TOOLS/bin/oha
    else
        say "installing oha into $TOOLS (once; several minutes on two cores)"
        cargo install oha --locked --root "$TOOLS" >&2 || die "cargo install oha failed"
        OHA=$TOOLS/bin/oha
    fi
}

build() {
    say "building andon-bench-target (release)"
    cargo build --release -p andon --bin andon-bench-target --locked >&2
    TARGET_BIN=$ROOT/target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release/andon-bench-target
    [ -x "$TARGET_BIN" ] || die "no $TARGET_BIN after the build"
}

# ---- machine and pinning ------------------------------------------------------------------
CPUS=$(nproc)
if command -v taskset >/dev/null && [ "$CPUS" -ge 2 ]; then
    PIN_SINK=(taskset -c 0)
    PIN_LOAD=(taskset -c 1)
    SINK_CORE=cpu0
    LOAD_CORE=cpu1
    PINNING="pinned: sink on CPU 0, load generator on CPU 1 (taskset)"
else
    PIN_SINK=()
    PIN_LOAD=()
    SINK_CORE=cpu
    LOAD_CORE=cpu
    PINNING="not pinned (taskset missing or a single CPU): sink and load generator share the CPUs"
fi
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d)
SINK_PID=""
cleanup() {
    if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# CPU ticks (user + system) of a process.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Busy ticks of a line of /proc/stat (cpu0, cpu1, or cpu for all CPUs).
core_busy() { awk -v c="$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
pct() { python3 -c "print(f'{100 * ($1) / $CLK_TCK / ($2):.0f}')"; }

# The body, the headers, and wrk's script posting them.
prepare_request() {
    "$TARGET_BIN" generate --print-body > "$WORK/body.json"
    TRACEPARENT=$(python3 -c "import json; print(json.load(open('$WORK/body.json'))['traceparent'])")
    BODY_BYTES=$(wc -c < "$WORK/body.json")
    {
        echo 'wrk.method = "POST"'
        echo 'wrk.headers["Content-Type"] = "application/cloudevents+json"'
        echo "wrk.headers[\"traceparent\"] = \"$TRACEPARENT\""
        echo "wrk.body = [[$(cat "$WORK/body.json")]]"
    } > "$WORK/post.lua"
}

start_sink() {
    "${PIN_SINK[@]}" "$TARGET_BIN" --kind sink --port 0 > "$WORK/sink.out" 2> "$WORK/sink.err" &
    SINK_PID=$!
    SINK_URL=""
    for _ in $(seq 100); do
        SINK_URL=$(sed -n 's/^listening //p' "$WORK/sink.out")
        [ -n "$SINK_URL" ] && break
        kill -0 "$SINK_PID" 2>/dev/null || die "the sink exited: $(cat "$WORK/sink.err")"
        sleep 0.05
    done
    [ -n "$SINK_URL" ] || die "the sink did not start"
    local first
    first=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/cloudevents+json' \
        --data-binary @"$WORK/body.json" "$SINK_URL/events")
    [ "$first" = 202 ] || die "the sink answered the CloudEvent $first, not 202"
}

stop_sink() {
    kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true; SINK_PID=""
}

# ---- the load generators ------------------------------------------------------------------
# Each writes its report to $1 and runs for $2.
load_wrk() {
    "${PIN_LOAD[@]}" wrk -t1 -c "$CONNECTIONS" -d "$2" --latency -s "$WORK/post.lua" "$SINK_URL/events" > "$1"
}
load_oha() {
    "${PIN_LOAD[@]}" "$OHA" -z "$2" -c "$CONNECTIONS" --no-tui --output-format json -m POST \
        -H 'Content-Type: application/cloudevents+json' -H "traceparent: $TRACEPARENT" \
        -D "$WORK/body.json" "$SINK_URL/events" > "$1"
}
# andon's generator warms up inside the same process (--warmup): $3 is its --rate.
load_andon() {
    "${PIN_LOAD[@]}" "$TARGET_BIN" generate --url "$SINK_URL/events" --connections "$CONNECTIONS" \
        --duration "$2" --warmup "$WARMUP" --rate "$3" > "$1"
}

# summarise TOOL REPORT: one line "requests ok errors rps p50 p90 p99 p999 max late max-late"
# (latencies in µs, "-" where the tool does not say).
summarise() {
    python3 - "$1" "$2" <<'PY'
import json, re, sys
tool, path = sys.argv[1], sys.argv[2]
text = open(path).read()
def us(v):
    return "-" if v is None else f"{v:.0f}"
if tool == "wrk":
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    bad = int(bad.group(1)) if bad else 0
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    bad += sum(int(x) for x in errs.groups()) if errs else 0
    def lat(label):
        m = re.search(r"^\s+" + label + r"%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if not m:
            return None
        v, u = float(m.group(1)), m.group(2)
        return v if u == "us" else v * 1000 if u == "ms" else v * 1e6
    m = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", text)
    mx = None if not m else float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
    ok = total - bad
    print(total, ok, bad, f"{rps * ok / max(total, 1):.0f}", us(lat("50")), us(lat("90")),
          us(lat("99")), "-", us(mx), "-", "-")
elif tool == "oha":
    r = json.loads(text)
    codes = {int(k): v for k, v in r.get("statusCodeDistribution", {}).items()}
    ok = sum(v for k, v in codes.items() if 200 <= k < 300)
    # Requests cut off by the end of the run (-z) are not answers: not counted at all.
    errors = sum(v for k, v in r.get("errorDistribution", {}).items() if "deadline" not in k)
    total = sum(codes.values()) + errors
    secs = r["summary"]["total"]
    p = r.get("latencyPercentiles", {})
    s = lambda k: None if p.get(k) is None else p[k] * 1e6
    mx = r["summary"].get("slowest")
    print(total, ok, total - ok, f"{ok / secs:.0f}", us(s("p50")), us(s("p90")), us(s("p99")),
          us(s("p99.9")), us(None if mx is None else mx * 1e6), "-", "-")
else:
    r = json.loads(text.strip().splitlines()[-1])
    l = r["latency"]
    print(r["sent"], r["ok"], r["errors"], f'{r["rps"]:.0f}', l["p50_us"], l["p90_us"], l["p99_us"],
          l["p999_us"], l["max_us"], r.get("late_starts", "-"), r.get("max_lateness_us", "-"))
PY
}

# run TOOL ROUND [RATE]: a fresh sink, a warm-up (wrk and oha: a run of $WARMUP; andon: inside
# the run), the measured run. Appends "tool round rate requests ok errors rps p50 p90 p99 p999
# max late max-late sink-cpu% load-core%" to $WORK/rows.
run() {
    local tool=$1 round=$2 rate=${3:-max} name=$1
    [ "$tool" = andon ] && name="andon-$([ "$rate" = max ] && echo max || echo open)"
    start_sink
    case $tool in
        wrk) load_wrk "$WORK/warmup" "$WARMUP" ;;
        oha) load_oha "$WORK/warmup" "$WARMUP" ;;
    esac
    local t0 t1 l0 l1 w0 w1
    t0=$(cpu_ticks "$SINK_PID"); l0=$(core_busy "$LOAD_CORE"); w0=$(date +%s.%N)
    case $tool in
        wrk) load_wrk "$WORK/$name.$round" "$DURATION" ;;
        oha) load_oha "$WORK/$name.$round" "$DURATION" ;;
        andon) load_andon "$WORK/$name.$round" "$DURATION" "$rate" ;;
    esac
    t1=$(cpu_ticks "$SINK_PID"); l1=$(core_busy "$LOAD_CORE"); w1=$(date +%s.%N)
    stop_sink
    local sink_cpu load_core
    sink_cpu=$(pct "$t1 - $t0" "$w1 - $w0")
    load_core=$(pct "$l1 - $l0" "$w1 - $w0")
    local line
    line=$(summarise "$tool" "$WORK/$name.$round")
    echo "$name $round $rate $line $sink_cpu $load_core" >> "$WORK/rows"
    read -r _ _ _ rps _ _ p99 _ <<< "$line"
    local at=""
    [ "$rate" != max ] && at=" at $rate req/s"
    say "round $round $name$at: $rps req/s, p99 $p99 µs (sink CPU $sink_cpu %, load core busy $load_core %)"
    LAST_RPS=$rps
}

rounds() {
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    : > "$WORK/rows"
    local round open
    for round in $(seq "$ROUNDS"); do
        run wrk "$round"
        open=$(python3 -c "print(round($LAST_RPS * $OPEN_SHARE))")
        run oha "$round"
        run andon "$round" max
        run andon "$round" "$open"
    done
    LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
}

# Medians, ratios, the open model's verdict, and the per-round table ($WORK/table, $WORK/vars).
judge() {
    python3 - "$WORK" "$MIN_RATIO" "$OPEN_SHARE" "$MIN_ROUND" <<'PY'
import statistics, sys
work, min_ratio, share, min_round = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
cols = "name round rate requests ok errors rps p50 p90 p99 p999 max late maxlate sink load".split()
rows = [dict(zip(cols, l.split())) for l in open(f"{work}/rows") if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["name"], []).append(r)
labels = {"wrk": "wrk", "oha": "oha", "andon-max": "andon `--rate max`", "andon-open": "andon open model"}
def ms(v):
    return v if v == "-" else f"{int(v) / 1000:.2f}"
with open(f"{work}/table", "w") as t:
    for r in rows:
        mode = "closed loop" if r["rate"] == "max" else f'{int(r["rate"]):,} req/s'
        late = "-" if r["late"] == "-" else f'{r["late"]} (worst {ms(r["maxlate"])} ms)'
        t.write(f'| {r["round"]} | {labels[r["name"]]} | {mode} | {int(r["requests"]):,} | {r["errors"]} '
                f'| {int(r["rps"]):,} | {ms(r["p50"])} | {ms(r["p90"])} | {ms(r["p99"])} | {ms(r["p999"])} '
                f'| {ms(r["max"])} | {late} | {r["sink"]} % | {r["load"]} % |\n')
rps = lambda k: [float(r["rps"]) for r in by[k]]
vs_wrk = [a / w for a, w in zip(rps("andon-max"), rps("wrk"))]
vs_oha = [a / o for a, o in zip(rps("andon-max"), rps("oha"))]
ratio = statistics.median(vs_wrk)
held = []
max_of = {r["round"]: float(r["rps"]) for r in by["andon-max"]}
for r in by["andon-open"]:
    target, ok, sched = float(r["rate"]), int(r["ok"]), int(r["requests"])
    late = int(r["late"])
    good = int(r["errors"]) == 0 and float(r["rps"]) >= 0.97 * target and late <= 0.01 * max(ok, 1)
    held.append((r["round"], target, good, r["p99"], late, r["maxlate"], max_of.get(r["round"], 0.0)))
med = lambda k: statistics.median(rps(k))
with open(f"{work}/vars", "w") as v:
    v.write(f"RPS_WRK={med('wrk'):.0f}\nRPS_OHA={med('oha'):.0f}\nRPS_ANDON={med('andon-max'):.0f}\n")
    v.write(f"VS_WRK={ratio:.2f}\nVS_OHA={statistics.median(vs_oha):.2f}\n")
    v.write(f"VS_WRK_ROUNDS='{', '.join(f'{x:.2f}' for x in vs_wrk)}'\n")
    v.write(f"VS_OHA_ROUNDS='{', '.join(f'{x:.2f}' for x in vs_oha)}'\n")
    v.write(f"PERCENT={100 * ratio:.0f}\nMIN_PERCENT={100 * min_ratio:.0f}\nSHARE_PERCENT={100 * share:.0f}\n")
    v.write(f"SPREAD='{min(vs_wrk):.2f}–{max(vs_wrk):.2f}'\nMIN_ROUND={min_round}\n")
    v.write(f"VERDICT={'met' if ratio >= min_ratio and min(vs_wrk) >= min_round else 'MISSED'}\n")
    v.write(f"OPEN_HELD={sum(1 for h in held if h[2])}\nOPEN_ROUNDS={len(held)}\n")
with open(f"{work}/open", "w") as o:
    for rnd, target, good, p99, late, maxlate, most in held:
        above = (f" (above the {most:,.0f} req/s andon's closed loop reached in this round, so "
                 f"a backlog builds)") if target > most else ""
        o.write(f"- round {rnd}: {target:,.0f} req/s {'held' if good else 'NOT held'}{above}; p99 from "
                f"the intended time {ms(p99)} ms; {late:,} sends started more than 10 ms late "
                f"(worst {ms(maxlate)} ms)\n")
PY
    # shellcheck disable=SC1091
    . "$WORK/vars"
}

# ---- sections of the results file -------------------------------------------------------
section_head() {
    local model mem
    model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
    mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
    echo "# Load generator alone: andon's emitter, wrk and oha against a trivial sink"
    echo
    echo "Written by \`ci/bench-load.sh\` on $(date -u +%Y-%m-%dT%H:%M:%SZ) ($(git rev-parse --short HEAD 2>/dev/null || echo "no git"), working tree as it was)."
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| machine | $CPUS CPUs (\`nproc\`), ${model:-unknown model}, $mem, $(uname -sr) |"
    echo "| pinning | $PINNING |"
    echo "| tools | $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $("$OHA" --version | head -1), andon-bench-target $("$TARGET_BIN" --version | cut -d' ' -f2) (release) |"
    echo "| load | $CONNECTIONS connections, $DURATION measured after a $WARMUP warm-up, HTTP/1.1 keep-alive |"
    echo "| request | \`POST /events\`, \`application/cloudevents+json\` with \`traceparent\`, one MES \`material.consumed\` CloudEvent of $BODY_BYTES bytes; answered 202, empty body |"
    echo "| rounds | $ROUNDS, in the order wrk, oha, andon max, andon open; a fresh sink for every run; load average before $LOAD_BEFORE, after $LOAD_AFTER |"
    echo
}

section_summary() {
    echo "**Median: andon \`--rate max\` $RPS_ANDON req/s, wrk $RPS_WRK, oha $RPS_OHA; andon / wrk $VS_WRK ($PERCENT %; per round $VS_WRK_ROUNDS, spread $SPREAD), andon / oha $VS_OHA (per round $VS_OHA_ROUNDS). Target andon ≥ $MIN_PERCENT % of wrk in the median and ≥ $MIN_ROUND in every round: $VERDICT.**"
    echo
    echo "Open model at $SHARE_PERCENT % of each round's wrk rate: held in $OPEN_HELD of $OPEN_ROUNDS rounds (held: no error, at least 97 % of the rate answered, at most 1 % of the sends started late)."
    echo
    cat "$WORK/open"
    echo
}

section_rounds() {
    echo "| round | generator | mode | requests | errors | req/s (2xx) | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | late starts | sink CPU | load core busy |"
    echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"
    cat "$WORK/table"
    echo
}

section_commands() {
    local lc=""
    [ ${#PIN_LOAD[@]} -gt 0 ] && lc="${PIN_LOAD[*]} "
    local sc=""
    [ ${#PIN_SINK[@]} -gt 0 ] && sc="${PIN_SINK[*]} "
    echo "Commands (\`URL\` is the sink's \`http://127.0.0.1:PORT/events\`; \`post.lua\` sets the method, the two headers and the body):"
    echo
    echo '```'
    echo "${sc}andon-bench-target --kind sink --port 0"
    echo "andon-bench-target generate --print-body > body.json"
    echo "${lc}wrk -t1 -c $CONNECTIONS -d $DURATION --latency -s post.lua URL"
    echo "${lc}oha -z $DURATION -c $CONNECTIONS --no-tui --output-format json -m POST -H 'Content-Type: application/cloudevents+json' -H 'traceparent: …' -D body.json URL"
    echo "${lc}andon-bench-target generate --url URL --connections $CONNECTIONS --duration $DURATION --warmup $WARMUP --rate max"
    echo "${lc}andon-bench-target generate --url URL --connections $CONNECTIONS --duration $DURATION --warmup $WARMUP --rate <${SHARE_PERCENT} % of wrk's req/s>"
    echo '```'
    echo
    echo "wrk and oha warm up in a run of $WARMUP before the measured one; andon's generator warms up"
    echo "inside the same process and drains its emitter before measuring. andon's figures come from"
    echo "the emitter's history: every \`delivery\` record of the window, one per request, into an HDR"
    echo "histogram (three significant digits; max exact). Its latency is the record's round trip in"
    echo "the closed loop (as wrk and oha measure), and from the event's intended time to the answer"
    echo "in the open model (no coordinated omission). andon's req/s counts the 2xx answers over the"
    echo "window including the drain of the last deliveries. \"sink CPU\" is the sink's CPU time over"
    echo "the run (100 % = one core; near 100 % means the sink, not the generator, was the limit);"
    echo "\"load core busy\" is everything on the generator's core over the run (andon's includes its"
    echo "in-process warm-up)."
    echo
}

# The whole loop (ci/bench-whole-loop.sh: MES simulator -> reference middleware -> ERP
# simulator under `andon load` at rising rates), compared with the generator alone: the
# median `--rate max` of this run is the most the emitter sends with nothing behind it.
# BENCH_WHOLE_LOOP=0 leaves it out.
whole_loop() {
    say "whole loop (ci/bench-whole-loop.sh)"
    LOOP_WORK="$WORK/loop" ci/bench-whole-loop.sh
    local sustained
    sustained=$(cat "$WORK/loop/sustained")
    echo
    python3 -c "print(f'Sustained whole-loop rate / generator alone (median \`--rate max\` above, $RPS_ANDON req/s): {float($sustained) / float($RPS_ANDON):.3f}.')"
    echo
}

section_whole_loop() {
    if [ "${BENCH_WHOLE_LOOP:-1}" != 0 ]; then
        whole_loop
    fi
}

assemble() {
    mkdir -p "$(dirname "$OUT")"
    {
        section_head
        section_summary
        section_rounds
        section_commands
        section_whole_loop
    } > "$OUT"
}

main() {
    command -v python3 >/dev/null || die "python3 is needed to read the results"
    command -v curl >/dev/null || die "curl is needed to check the sink"
    install_wrk
    install_oha
    build
    prepare_request
    rounds
    judge
    assemble
    say "results written to $OUT"
    cat "$OUT"
    if [ "$VERDICT" != met ]; then
        echo "bench-load: andon's generator reached $PERCENT % of wrk's requests per second (rounds $VS_WRK_ROUNDS): the target is $MIN_PERCENT % in the median and $MIN_ROUND in every round" >&2
        exit 1
    fi
}

main "$@"
