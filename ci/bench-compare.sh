#!/usr/bin/env bash
# Is this tree slower than an earlier revision? Runs the same benchmark scripts on both, on
# this machine, one after the other in one session, and compares what each measured
# against its own baseline in the same run (python3 json.loads for the 1M-record check,
# a trivial handler for the ERP, wrk for the load generator): a ratio of ratios, so that
# the machine's speed cancels out.
#
#   ci/bench-compare.sh REV [BENCH...]      BENCH: check (default), erp, load
#
# REV is checked out into target/bench-compare/REV (a git worktree, its own target
# directory: the first build is a cold release build) and its own bench scripts are run
# there; then this tree's. Results go to ci/bench/compare-results.md (BENCH_COMPARE_OUT),
# the per-run files under target/bench-compare/. The other knobs of the bench scripts
# (BENCH_ROUNDS, BENCH_DURATION, …) apply to both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REV=${1:?usage: ci/bench-compare.sh REV [check|erp|load]...}
shift
BENCHES=("$@")
[ ${#BENCHES[@]} -gt 0 ] || BENCHES=(check)
OUT=${BENCH_COMPARE_OUT:-ci/bench/compare-results.md}
SHORT=$(git rev-parse --short "$REV")
HERE=$(git rev-parse --short HEAD)
DIRTY=$(git diff --quiet HEAD -- . 2>/dev/null && echo "" || echo " + uncommitted changes")
WORK=$ROOT/target/bench-compare
TREE=$WORK/$SHORT
mkdir -p "$WORK"
# Tools a bench script installs (oha) are found by both sides.
export PATH="$ROOT/target/tools/bin:$PATH"
export BENCH_WHOLE_LOOP=${BENCH_WHOLE_LOOP:-0}

if [ ! -d "$TREE" ]; then
    git worktree add --detach "$TREE" "$SHORT" >&2
fi

run() { # SIDE DIR BENCH: runs DIR's bench script, its results into target/bench-compare
    local side=$1 dir=$2 bench=$3
    local out=$WORK/$side-$bench.md
    echo "== $bench on $side ($dir)" >&2
    (cd "$dir" && BENCH_OUT="$out" "ci/bench-$bench.sh") >&2 || {
        echo "bench-compare: ci/bench-$bench.sh failed on $side (exit $?)" >&2
        return 1
    }
}

for b in "${BENCHES[@]}"; do
    case $b in check|erp|load) ;; *) echo "bench-compare: unknown bench $b (check, erp, load)" >&2; exit 2 ;; esac
    run before "$TREE" "$b"
    run after "$ROOT" "$b"
done

python3 - "$OUT" "$WORK" "$SHORT" "$HERE$DIRTY" "$(nproc)" "$(uname -sr)" "${BENCHES[@]}" <<'PY'
import datetime, re, sys
out, work, before, after, cpus, kernel, *benches = sys.argv[1:]
# What each bench's summary line says: (label, pattern of the ratio, higher is better).
spec = {
    "check": ("1M-record `andon check` time / python3 json.loads time",
              r"ratio ([\d.]+)\. Target", False),
    "erp": ("ERP postings/s / trivial handler", r"ERP / trivial ([\d.]+)", True),
    "load": ("andon generator req/s / wrk", r"andon / wrk ([\d.]+)", True),
}
rows = []
ok = True
for b in benches:
    label, pat, higher = spec[b]
    vals = []
    for side in ("before", "after"):
        text = open(f"{work}/{side}-{b}.md").read()
        m = re.search(pat, text)
        vals.append(float(m.group(1)) if m else None)
    if None in vals:
        rows.append(f"| {b} | {label} | {vals[0]} | {vals[1]} | — | not measured |")
        ok = False
        continue
    # > 1: the tree is faster than the revision.
    speed = vals[1] / vals[0] if higher else vals[0] / vals[1]
    verdict = "no slower" if speed >= 0.95 else "SLOWER"
    ok &= speed >= 0.95
    rows.append(f"| {b} | {label} | {vals[0]:.3f} | {vals[1]:.3f} | {speed:.2f} | {verdict} |")
with open(out, "w") as f:
    f.write("# This tree against an earlier revision\n\n")
    f.write(f"Written by `ci/bench-compare.sh {before}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}: "
            f"before = {before}, after = {after}; {cpus} CPUs, {kernel}. Each side ran its own bench "
            "scripts in the same session; each ratio is against that run's own baseline. Speed is "
            "after / before in the direction of better (above 1: faster); within 5 % counts as no slower.\n\n")
    f.write("| bench | ratio measured | before | after | speed after / before | verdict |\n|---|---|---:|---:|---:|---|\n")
    f.write("\n".join(rows) + "\n")
    f.write(f"\nThe runs: `target/bench-compare/{{before,after}}-BENCH.md`.\n")
print(open(out).read())
sys.exit(0 if ok else 1)
PY
