#!/usr/bin/env bash
# ERP goods-movement posting throughput against a trivial handler of the same request.
#
# Both servers are the release build of `andon-bench-target` (harness/src/bench.rs):
#   erp      the ERP simulator with its whole middleware: contract validation, history,
#            auth / idempotency layers, business rules and state (10^9 KG of stock, so
#            postings never run out);
#   trivial  an axum handler that decodes the same body and answers 201 with a small JSON.
# Each is loaded in turn by the same load generator with the same connection count and
# duration: POST /api/v1/material-documents with one 261 item, no Idempotency-Key, so every
# request posts. The server and the load generator are pinned to different cores when
# `taskset` exists and there are at least two. Results go to ci/bench/erp-results.md.
#
# The pair is measured BENCH_ROUNDS times, alternating, each server started afresh; the
# verdict uses the median ratio. The busy time of the server's core is recorded next to the
# server's own CPU time, so that other work on the machine during a run shows.
#
# The ERP's memory per posting is its RSS growth over the measured window divided by the
# postings in it (every posting keeps its material document and its history records).
# What each posting keeps in the history is measured apart, in process
# (`andon-bench-target --memory`, BENCH_MEMORY_POSTINGS postings), against the request body.
# With `perf` on the machine, one more ERP run is recorded (`perf record --call-graph
# dwarf`, 499 Hz) and the top of its profile goes into the result file: the share of the
# server's samples under each of the simulator's own functions and the libraries' main
# entry points (inclusive), so a change can say where the time went.
#
# Knobs (environment): BENCH_ROUNDS (3), BENCH_DURATION (8s), BENCH_WARMUP (2s),
# BENCH_CONNECTIONS (32), BENCH_MEMORY_POSTINGS (200000), BENCH_MIN_RATIO (0.60: exit 1 below it), BENCH_PROFILE (1 when
# perf exists; 0: no profile), BENCH_OUT (ci/bench/erp-results.md).
# The load generator is oha, installed into target/tools by this script when missing
# (cargo install oha --locked); if that fails, wrk from apt-get.
set -euo pipefail
# shellcheck source=ci/apt-install.sh
source "$(dirname "$0")/apt-install.sh"
cd "$(dirname "$0")/.."
ROOT=$PWD

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-8s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
MIN_RATIO=${BENCH_MIN_RATIO:-0.60}
MEMORY_POSTINGS=${BENCH_MEMORY_POSTINGS:-200000}
PROFILE=${BENCH_PROFILE:-1}
command -v perf >/dev/null || PROFILE=0
OUT=${BENCH_OUT:-ci/bench/erp-results.md}
TOOLS=$ROOT/target/tools
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say() { echo "== $*" >&2; }
die() { echo "bench-erp: $*" >&2; exit 2; }

# ---- tools ------------------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is needed to read the results"
command -v curl >/dev/null || die "curl is needed to check the servers"

LOADGEN=""
if command -v oha >/dev/null; then
    LOADGEN=oha; OHA=$(command -v oha)
elif [ -x "$TOOLS/bin/oha" ]; then
    LOADGEN=oha; OHA=$TOOLS/bin/oha
else
    say "installing oha into $TOOLS (once; several minutes on two cores)"
    if cargo install oha --locked --root "$TOOLS" >&2; then
        LOADGEN=oha; OHA=$TOOLS/bin/oha
    elif command -v wrk >/dev/null; then
        LOADGEN=wrk
    else
        say "cargo install oha failed; trying wrk from apt-get"
        if apt_install wrk; then
            LOADGEN=wrk
        fi
    fi
fi
[ -n "$LOADGEN" ] || die "no load generator: neither oha nor wrk could be installed"
case $LOADGEN in
    oha) LOADGEN_VERSION=$("$OHA" --version | head -1) ;;
    wrk) LOADGEN_VERSION=$(wrk --version 2>&1 | head -1 || true) ;;
esac

say "building andon-bench-target (release)"
cargo build --release --locked -p andon --bin andon-bench-target >&2
TARGET_BIN=$ROOT/target/release/andon-bench-target

CPUS=$(nproc)
if command -v taskset >/dev/null && [ "$CPUS" -ge 2 ]; then
    PIN_SERVER=(taskset -c 0)
    PIN_LOAD=(taskset -c 1)
    SERVER_CORE=cpu0
    CORES_OF_SERVER=1
    PINNING="server on CPU 0, load generator on CPU 1 (taskset)"
else
    PIN_SERVER=()
    PIN_LOAD=()
    SERVER_CORE=cpu
    CORES_OF_SERVER=$CPUS
    PINNING="not pinned (taskset missing or a single CPU): server and load generator share the CPUs"
fi
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$TARGET_BIN" --print-body > "$WORK/body.json"
{
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo "wrk.body = [[$(cat "$WORK/body.json")]]"
} > "$WORK/post.lua"

# CPU ticks (user + system) of a process.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Busy ticks of a line of /proc/stat (cpu0, or cpu for all CPUs).
core_busy() { awk -v c="$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# load URL DURATION OUTPUT: one run of the load generator.
load() {
    local url=$1 duration=$2 out=$3
    case $LOADGEN in
        oha)
            "${PIN_LOAD[@]}" "$OHA" -z "$duration" -c "$CONNECTIONS" --no-tui --output-format json \
                -m POST -H 'Content-Type: application/json' -D "$WORK/body.json" \
                "$url/api/v1/material-documents" > "$out"
            ;;
        wrk)
            "${PIN_LOAD[@]}" wrk -t1 -c "$CONNECTIONS" -d "$duration" --latency -s "$WORK/post.lua" \
                "$url/api/v1/material-documents" > "$out"
            ;;
    esac
}

# summarise REPORT: "postings/s requests not-201 p50-ms p99-ms" from a load-generator report.
summarise() {
    python3 - "$LOADGEN" "$1" <<'PY'
import json, re, sys
kind, path = sys.argv[1], sys.argv[2]
text = open(path).read()
if kind == "oha":
    r = json.loads(text)
    codes = r.get("statusCodeDistribution", {})
    ok = codes.get("201", 0)
    total = sum(codes.values())
    secs = r["summary"]["total"]
    lat = r.get("latencyPercentiles", {})
    print(f'{ok / secs:.0f} {total} {total - ok} {lat.get("p50", 0) * 1000:.2f} {lat.get("p99", 0) * 1000:.2f}')
else:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    bad = int(bad.group(1)) if bad else 0
    def ms(label):
        m = re.search(r"\s" + label + r"%\s+([\d.]+)(us|ms|s)", text)
        if not m:
            return 0.0
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    print(f"{rps * (total - bad) / max(total, 1):.0f} {total} {bad} {ms('50'):.2f} {ms('99'):.2f}")
PY
}

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# bench KIND ROUND: start the server, warm up, measure, stop. Appends to $WORK/rows
# "kind round postings/s requests not-201 p50 p99 server-cpu% core-busy% rss-MiB
# bytes-per-posting". With ROUND "profile", the measured window is recorded by perf instead.
bench() {
    local kind=$1 round=$2
    "${PIN_SERVER[@]}" "$TARGET_BIN" --kind "$kind" --port 0 > "$WORK/$kind.out" 2> "$WORK/$kind.err" &
    SERVER_PID=$!
    local url=""
    for _ in $(seq 100); do
        url=$(sed -n 's/^listening //p' "$WORK/$kind.out")
        [ -n "$url" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || die "$kind server exited: $(cat "$WORK/$kind.err")"
        sleep 0.05
    done
    [ -n "$url" ] || die "$kind server did not start"
    curl -fsS "$url/_andon/health" > /dev/null || die "$kind server does not answer"
    local first
    first=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary @"$WORK/body.json" "$url/api/v1/material-documents")
    [ "$first" = 201 ] || die "$kind: the benchmark request answered $first, not 201"
    load "$url" "$WARMUP" "$WORK/$kind.warmup"
    if [ "$round" = profile ]; then
        perf record -F 499 --call-graph dwarf,16384 -o "$WORK/perf.data" -p "$SERVER_PID" \
            2> "$WORK/perf.err" &
        local perf_pid=$!
        load "$url" "$DURATION" "$WORK/$kind.report"
        kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
        kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
        return
    fi
    local t0 t1 c0 c1 w0 w1 m0 m1
    m0=$(rss_kib "$SERVER_PID")
    t0=$(cpu_ticks "$SERVER_PID"); c0=$(core_busy "$SERVER_CORE"); w0=$(date +%s.%N)
    load "$url" "$DURATION" "$WORK/$kind.report"
    t1=$(cpu_ticks "$SERVER_PID"); c1=$(core_busy "$SERVER_CORE"); w1=$(date +%s.%N)
    m1=$(rss_kib "$SERVER_PID")
    local cpu core rss
    cpu=$(python3 -c "print(f'{100 * ($t1 - $t0) / $CLK_TCK / ($w1 - $w0):.0f}')")
    core=$(python3 -c "print(f'{100 * ($c1 - $c0) / $CLK_TCK / ($w1 - $w0) / $CORES_OF_SERVER:.0f}')")
    rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER_PID/status")
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
    local rps total bad p50 p99
    read -r rps total bad p50 p99 <<< "$(summarise "$WORK/$kind.report")"
    [ "$bad" = 0 ] || say "$kind: $bad of $total answers were not 201 (not counted)"
    local per
    per=$(( (m1 - m0) * 1024 / (total - bad > 0 ? total - bad : 1) ))
    echo "$kind $round $rps $total $bad $p50 $p99 $cpu $core $rss $per" >> "$WORK/rows"
    say "round $round $kind: $rps postings/s (p50 $p50 ms, p99 $p99 ms, server CPU $cpu %, its core busy $core %, RSS $rss MiB)"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
: > "$WORK/rows"
for round in $(seq "$ROUNDS"); do
    bench trivial "$round"
    bench erp "$round"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$PROFILE" = 1 ]; then
    say "profiling one more ERP run (perf record --call-graph dwarf)"
    bench erp profile
    # Inclusive shares of the frames that name work (the simulator's functions, JSON, the
    # schema validator, the allocator, the socket calls), not the executor's and hyper's
    # wrappers around them; the top 30.
    perf report -i "$WORK/perf.data" --stdio --children --sort symbol -g none --percent-limit 1 \
        2> /dev/null | grep -E '^ +[0-9.]+%' \
        | grep -E 'andon_|jsonschema::.*validate|serde_json::(de::from|ser::to|raw)|writev|recvfrom|_mi_malloc_generic|mi_free|chrono' \
        | grep -vE 'inlined|serve_with|closure_env|poll' | cut -c1-170 | sed -E 's/[[:space:]]+$//' | head -30 > "$WORK/profile" || true
fi

# Per-round rows, medians, the ratio and the verdict.
python3 - "$WORK/rows" "$MIN_RATIO" "$WORK" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
min_ratio = float(sys.argv[2])
work = sys.argv[3]
names = {"trivial": "trivial axum handler", "erp": "ERP simulator"}
by = {}
for r in rows:
    by.setdefault(r[0], []).append(r)
with open(f"{work}/table", "w") as t:
    for kind, rnd, rps, total, bad, p50, p99, cpu, core, rss, per in rows:
        t.write(f"| {rnd} | {names[kind]} | {rps} | {total} | {bad} | {p50} | {p99} | {cpu} % | {core} % | {rss} | {per} |\n")
ratios = [float(e[2]) / float(t[2]) for t, e in zip(by["trivial"], by["erp"])]
ratio = statistics.median(ratios)
med = lambda k: statistics.median(float(r[2]) for r in by[k])
with open(f"{work}/vars", "w") as v:
    v.write(f"RPS_TRIVIAL={med('trivial'):.0f}\n")
    v.write(f"RPS_ERP={med('erp'):.0f}\n")
    v.write(f"RATIOS='{', '.join(f'{x:.2f}' for x in ratios)}'\n")
    v.write(f"SPREAD='{min(ratios):.2f}–{max(ratios):.2f}'\n")
    v.write(f"BYTES_PER_POSTING={statistics.median(int(r[10]) for r in by['erp'])}\n")
    v.write(f"RATIO={ratio:.3f}\n")
    v.write(f"PERCENT={100 * ratio:.0f}\n")
    v.write(f"MIN_PERCENT={100 * min_ratio:.0f}\n")
    v.write(f"VERDICT={'met' if ratio >= min_ratio else 'MISSED'}\n")
PY
# shellcheck disable=SC1091
. "$WORK/vars"
# What a posting keeps, measured in process (no sockets, no load generator): the history's
# share by the resident memory a copy of it takes, against the request body it records.
say "memory: $MEMORY_POSTINGS postings in process"
"$TARGET_BIN" --memory "$MEMORY_POSTINGS" > "$WORK/memory.json"
MEMORY_ROW=$(python3 - "$WORK/memory.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
h, b = m["history_bytes"], m["body_bytes"]
print(f"| {m['postings']:,} (after as many to warm up) | {b} | {h:,.0f} | {h / b:.1f} | "
      f"{m['resident_bytes']:,.0f} | {m['record_size']} | {'met' if h <= 1024 else 'MISSED'} |")
PY
)
MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
MEM=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
ORDER=$(python3 -c "import json; print(json.load(open('$WORK/body.json'))['items'][0]['order'])")

mkdir -p "$(dirname "$OUT")"
{
    echo "# ERP goods-movement throughput"
    echo
    echo "Written by \`ci/bench-erp.sh\` on $(date -u +%Y-%m-%dT%H:%M:%SZ) ($(git rev-parse --short HEAD 2>/dev/null || echo "no git"), working tree as it was)."
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| machine | $CPUS CPUs (\`nproc\`), ${MODEL:-unknown model}, $MEM, $(uname -sr) |"
    echo "| pinning | $PINNING |"
    echo "| load generator | $LOADGEN_VERSION, $CONNECTIONS connections, $DURATION after a $WARMUP warm-up, HTTP/1.1 keep-alive |"
    echo "| request | \`POST /api/v1/material-documents\`, one 261 item (1 KG of batch B1 for order $ORDER), no \`Idempotency-Key\`: every request posts |"
    echo "| rounds | $ROUNDS, alternating, each server started afresh; load average before $LOAD_BEFORE, after $LOAD_AFTER |"
    echo
    echo "**Median: ERP $RPS_ERP postings/s, trivial handler $RPS_TRIVIAL/s; ERP / trivial $RATIO ($PERCENT %; per round $RATIOS, spread $SPREAD). Target ≥ $MIN_PERCENT %: $VERDICT. Memory per posting (the ERP's RSS growth over the window / its postings): $BYTES_PER_POSTING bytes (median).**"
    echo
    echo "| round | server | postings/s (201) | requests | not 201 | p50 ms | p99 ms | server CPU | its core busy | server RSS MiB | RSS growth per 201, bytes |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    cat "$WORK/table"
    echo
    echo "Both servers run the same connection loop (\`andon_simulators::server::serve\`) in the"
    echo "same release binary (\`andon-bench-target\`, \`harness/src/bench.rs\`), so the difference"
    echo "is the simulator's work per posting: JSON Schema validation of the body, the history"
    echo "records of the request and of the effect, the ERP's rules and the stock update."
    echo "\"server CPU\" is the server's CPU time over the measured window (100 % = one core);"
    echo "\"its core busy\" is all work on the server's core in that window, so a value well"
    echo "above the server's share means other processes ran there. A trivial server well under"
    echo "100 % means the load generator, alone on its core, was the limit, and the ratio is then"
    echo "an upper bound. The ERP keeps every material document and history record, so its RSS"
    echo "grows with every posting."
    echo
    echo "## What a posting keeps"
    echo
    echo "\`andon-bench-target --memory $MEMORY_POSTINGS\` (\`andon::bench::memory\`) posts the same request"
    echo "to the ERP in process. \"history\" is the resident memory a copy of the history takes,"
    echo "over every posting: the request record (its path, route, headers and the body as"
    echo "sent) and the effect record (its key, sources and detail), with the allocator's"
    echo "rounding. The baseline is the request body itself. \"resident\" is the process's"
    echo "growth over the measured postings: the history with its vector's spare room, and the"
    echo "ERP's material documents. Target: at most 1 KB of history per posting."
    echo
    echo "| postings | body bytes (baseline) | history bytes per posting | history / body | resident growth per posting | size of a record | ≤ 1 KB |"
    echo "|---:|---:|---:|---:|---:|---:|---|"
    echo "$MEMORY_ROW"
    if [ -s "$WORK/profile" ]; then
        echo
        echo "## Where the ERP's time goes"
        echo
        echo "One more ERP run under the same load, recorded by \`perf record -F 499 --call-graph"
        echo "dwarf -p PID\`; the share of the server's samples spent in each function and what it"
        echo "called (\`perf report --children\`, first column; the second is its own), for the"
        echo "simulator's functions, JSON, the schema validator, the allocator and the socket calls:"
        echo
        echo '```'
        cat "$WORK/profile"
        echo '```'
    fi
} > "$OUT"

say "results written to $OUT"
cat "$OUT"
if [ "$VERDICT" != met ]; then
    echo "bench-erp: the ERP reached $PERCENT % of the trivial handler, below the $MIN_PERCENT % target" >&2
    exit 1
fi
