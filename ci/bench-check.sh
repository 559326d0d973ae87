#!/usr/bin/env bash
# Checking a 1,000,000-record history: `andon check RUN_DIR` (load + every checker +
# reports) on a fabricated, consistent run (andon::check::synthetic), against a named
# baseline on the same file in the same run: python3 parsing every line with json.loads
# (reading the history and nothing more). Wall time and peak RSS from /usr/bin/time -v
# (GNU time; installed with apt-get when missing). Results go to ci/bench/check-results.md.
#
# Knobs: BENCH_RECORDS (1000000), BENCH_ROUNDS (3), BENCH_OUT (ci/bench/check-results.md).
# Targets: at most 0.30 of the baseline's time (the median of the rounds' ratios) and at most
# 500 MiB at the peak; each round's ratio and their spread are printed.
set -euo pipefail
# shellcheck source=ci/apt-install.sh
source "$(dirname "$0")/apt-install.sh"
cd "$(dirname "$0")/.."
RECORDS=${BENCH_RECORDS:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
OUT=${BENCH_OUT:-ci/bench/check-results.md}
DIR=target/bench-check
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

if [ ! -x /usr/bin/time ]; then
    apt_install time
fi
command -v python3 >/dev/null || { echo "bench-check: python3 is the baseline" >&2; exit 2; }

cargo build --release --locked -p andon --bin andon --bin andon-bench-target >&2
rm -rf "$DIR"
target/release/andon-bench-target --synthetic-run "$DIR" --records "$RECORDS" >&2
lines=$(wc -l < "$DIR/history.jsonl")
bytes=$(stat -c %s "$DIR/history.jsonl")

measure() { # prints "seconds peak_kib"
    local log; log=$(mktemp)
    /usr/bin/time -v "$@" > /dev/null 2> "$log" || { cat "$log" >&2; exit 1; }
    python3 - "$log" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (.+)", t).group(1).strip()
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
print(f"{secs:.2f} {rss}")
PY
    rm -f "$log"
}

rows=""
for r in $(seq 1 "$ROUNDS"); do
    read -r a_s a_k < <(measure target/release/andon -q check "$DIR")
    read -r b_s b_k < <(measure python3 -c "import json,sys
for l in open(sys.argv[1]): json.loads(l)" "$DIR/history.jsonl")
    echo "round $r: andon check ${a_s}s ${a_k} KiB; python3 json.loads ${b_s}s ${b_k} KiB" >&2
    rows="$rows$r $a_s $a_k $b_s $b_k
"
done

python3 - "$OUT" "$lines" "$bytes" "$(nproc)" "$(uname -sr)" "$(git rev-parse --short HEAD 2>/dev/null || echo -)" <<PY
import statistics, sys, datetime
out, lines, size, cpus, kernel, rev = sys.argv[1:7]
rows = [l.split() for l in """$rows""".strip().splitlines()]
a = statistics.median(float(r[1]) for r in rows)
ak = max(int(r[2]) for r in rows)
b = statistics.median(float(r[3]) for r in rows)
bk = max(int(r[4]) for r in rows)
ratios = [float(r[1]) / float(r[3]) for r in rows]
ratio = statistics.median(ratios)
# Targets: at most 0.30 of the baseline's time, at most 500 MiB at the peak.
ok = ratio <= 0.30 and ak <= 500 * 1024
with open(out, "w") as f:
    f.write("# Checking a history of %s records\n\n" % f"{int(lines):,}")
    f.write(f"Written by \`ci/bench-check.sh\` on {datetime.datetime.utcnow():%Y-%m-%dT%H:%M:%SZ} ({rev}); "
            f"{cpus} CPUs, {kernel}; history.jsonl {int(size) / 2**20:.0f} MiB.\n\n")
    f.write("| round | andon check s | andon peak MiB | baseline: python3 json.loads s | baseline peak MiB | time ratio |\n|---:|---:|---:|---:|---:|---:|\n")
    for r in rows:
        f.write(f"| {r[0]} | {float(r[1]):.2f} | {int(r[2]) / 1024:.0f} | {float(r[3]):.2f} | {int(r[4]) / 1024:.0f} | {float(r[1]) / float(r[3]):.2f} |\n")
    f.write(f"\n**Median: andon check {a:.2f} s (peak {ak / 1024:.0f} MiB), baseline {b:.2f} s; "
            f"ratio {ratio:.2f} (per round {', '.join(f'{x:.2f}' for x in ratios)}, spread {min(ratios):.2f}–{max(ratios):.2f}). "
            f"Target at most 0.30 of the baseline's time and at most 500 MiB: {'met' if ok else 'MISSED'}.**\n")
print(open(out).read())
sys.exit(0 if ok else 1)
PY
