#!/usr/bin/env bash
# Is this tree slower than an earlier revision? Both release builds are measured on this
# machine in one session, alternating before / after in every round (so that the machine's
# drift hits both alike), and compared round by round:
#
#   check  `andon check` of the same fabricated 1,000,000-record run (load, every checker,
#          the reports): wall time, as ci/bench-check.sh measures it;
#   erp    ERP goods-movement postings/s of `andon-bench-target --kind erp`, loaded by oha
#          with the same connections and duration, as ci/bench-erp.sh does (server on CPU 0,
#          oha on CPU 1 when taskset exists).
#
#   ci/bench-compare.sh REV [check|erp]...      (default: both)
#
# REV is checked out into target/bench-compare/REV (a git worktree with its own target
# directory: the first build there is a cold release build). Knobs: BENCH_ROUNDS (5),
# BENCH_RECORDS (1000000), BENCH_DURATION (8s), BENCH_WARMUP (2s), BENCH_CONNECTIONS (32),
# BENCH_COMPARE_OUT (ci/bench/compare-results.md). oha is installed into target/tools
# when missing (cargo install oha --locked). Exit 1 when a median is more than 5 % slower.
set -euo pipefail
# shellcheck source=ci/apt-install.sh
source "$(dirname "$0")/apt-install.sh"
cd "$(dirname "$0")/.."
ROOT=$PWD
REV=${1:?usage: ci/bench-compare.sh REV [check|erp]...}
shift
BENCHES=("$@")
[ ${#BENCHES[@]} -gt 0 ] || BENCHES=(check erp)
ROUNDS=${BENCH_ROUNDS:-5}
RECORDS=${BENCH_RECORDS:-1000000}
DURATION=${BENCH_DURATION:-8s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
OUT=${BENCH_COMPARE_OUT:-ci/bench/compare-results.md}
SHORT=$(git rev-parse --short "$REV")
HERE=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo " + uncommitted changes")
WORK=$ROOT/target/bench-compare
TREE=$WORK/$SHORT
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
mkdir -p "$WORK"
say() { echo "== $*" >&2; }

command -v python3 >/dev/null || { echo "bench-compare: python3 is needed" >&2; exit 2; }
if [ ! -x /usr/bin/time ]; then
    apt_install time
fi
[ -d "$TREE" ] || git worktree add --detach "$TREE" "$SHORT" >&2
for dir in "$TREE" "$ROOT"; do
    say "building $dir (release)"
    (cd "$dir" && cargo build --release --locked -p andon --bin andon --bin andon-bench-target) >&2
done
BIN_before=$TREE/target/release
BIN_after=$ROOT/target/release

if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER=(taskset -c 0); PIN_LOAD=(taskset -c 1)
else
    PIN_SERVER=(); PIN_LOAD=()
fi

ROWS=$WORK/rows
: > "$ROWS"

# wall SECONDS of a command, as /usr/bin/time reports it.
wall() {
    local log; log=$(mktemp)
    /usr/bin/time -v "$@" > /dev/null 2> "$log" || { cat "$log" >&2; exit 1; }
    python3 - "$log" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (.+)", t).group(1).strip()
print(f"{sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(':')))):.3f}")
PY
    rm -f "$log"
}

bench_check() {
    local dir=$WORK/check-run
    rm -rf "$dir"
    "$BIN_after/andon-bench-target" --synthetic-run "$dir" --records "$RECORDS" >&2
    for r in $(seq "$ROUNDS"); do
        for side in before after; do
            local bin=BIN_$side s
            s=$(wall "${!bin}/andon" -q check "$dir")
            say "check round $r $side: ${s}s"
            echo "check $r $side $s" >> "$ROWS"
        done
    done
}

bench_erp() {
    local oha
    oha=$(command -v oha || true)
    if [ -z "$oha" ]; then
        [ -x "$ROOT/target/tools/bin/oha" ] || cargo install oha --locked --root "$ROOT/target/tools" >&2
        oha=$ROOT/target/tools/bin/oha
    fi
    "$BIN_after/andon-bench-target" --print-body > "$WORK/body.json"
    for r in $(seq "$ROUNDS"); do
        for side in before after; do
            local bin=BIN_$side out=$WORK/erp.out url="" pid
            "${PIN_SERVER[@]}" "${!bin}/andon-bench-target" --kind erp --port 0 > "$out" 2>/dev/null &
            pid=$!
            for _ in $(seq 100); do
                url=$(sed -n 's/^listening //p' "$out"); [ -n "$url" ] && break; sleep 0.05
            done
            [ -n "$url" ] || { kill "$pid"; echo "bench-compare: the $side ERP did not start" >&2; exit 2; }
            local args=(-c "$CONNECTIONS" --no-tui --output-format json -m POST
                -H 'Content-Type: application/json' -D "$WORK/body.json" "$url/api/v1/material-documents")
            "${PIN_LOAD[@]}" "$oha" -z "$WARMUP" "${args[@]}" > /dev/null
            "${PIN_LOAD[@]}" "$oha" -z "$DURATION" "${args[@]}" > "$WORK/erp.json"
            kill "$pid"; wait "$pid" 2>/dev/null || true
            local rate
            rate=$(python3 -c "
import json; r = json.load(open('$WORK/erp.json'))
print(f\"{r['statusCodeDistribution'].get('201', 0) / r['summary']['total']:.0f}\")")
            say "erp round $r $side: $rate postings/s"
            echo "erp $r $side $rate" >> "$ROWS"
        done
    done
}

for b in "${BENCHES[@]}"; do
    case $b in
        check) bench_check ;;
        erp) bench_erp ;;
        *) echo "bench-compare: unknown bench $b (check, erp)" >&2; exit 2 ;;
    esac
done

python3 - "$ROWS" "$OUT" "$SHORT" "$HERE" "$(nproc)" "$(uname -sr)" "$RECORDS" "$DURATION" "$CONNECTIONS" <<'PY'
import datetime, statistics, sys
rows, out, before, after, cpus, kernel, records, duration, conns = sys.argv[1:]
data = {}
for line in open(rows):
    bench, r, side, v = line.split()
    data.setdefault(bench, {}).setdefault(int(r), {})[side] = float(v)
what = {
    "check": (f"`andon check` of a {int(records):,}-record run, seconds", False),
    "erp": (f"ERP postings/s (oha, {conns} connections, {duration})", True),
}
ok = True
lines = []
for bench, rounds in data.items():
    label, higher = what[bench]
    # Speed of after relative to before in each round, in the direction of better.
    speed = [(v["after"] / v["before"]) if higher else (v["before"] / v["after"]) for v in rounds.values()]
    med = statistics.median(speed)
    b = statistics.median(v["before"] for v in rounds.values())
    a = statistics.median(v["after"] for v in rounds.values())
    verdict = "no slower" if med >= 0.95 else "SLOWER"
    ok &= med >= 0.95
    per = ", ".join(f"{s:.2f}" for s in speed)
    fmt = "{:,.0f}" if higher else "{:,.2f}"
    lines.append(f"| {bench} | {label} | {fmt.format(b)} | {fmt.format(a)} | **{med:.2f}** ({per}) | {verdict} |")
with open(out, "w") as f:
    f.write("# This tree against an earlier revision\n\n")
    f.write(f"Written by `ci/bench-compare.sh {before}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}: "
            f"before = {before}, after = {after}; {cpus} CPUs, {kernel}. Both release builds, measured "
            f"alternately in every round ({len(next(iter(data.values())))} rounds). Speed is after / before in "
            "the direction of better (above 1: faster), per round and its median; within 5 % counts as no slower.\n\n")
    f.write("| bench | measure | before (median) | after (median) | speed after / before (rounds) | verdict |\n|---|---|---:|---:|---|---|\n")
    f.write("\n".join(lines) + "\n")
print(open(out).read())
sys.exit(0 if ok else 1)
PY
