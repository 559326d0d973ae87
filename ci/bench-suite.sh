#!/usr/bin/env bash
# The time a user waits for the feature suite, and whether its verdicts hold still.
#
#   1. `andon test --tags @smoke`, SMOKE_ROUNDS times (target: under 20 s, the median);
#   2. `andon test` over every feature, RUNS times one after the other, at the default
#      concurrency (target: every run under 3 min, and 0 flaky verdicts: every scenario
#      has the same verdict in every run, and none failed);
#   3. the baseline, in the same run on the same machine: one `andon test --concurrency 2`,
#      the default before scenarios ran six at a time (BASELINE=0 leaves it out).
#
# Each run's wall time, counts and per-scenario verdicts (from its junit.xml) go into
# ci/bench/suite-results.md with the machine and the command. The build is the release
# build of `andon` (built here when missing or stale). Exit 1 when a target is missed.
#
# Knobs (environment): RUNS (10), SMOKE_ROUNDS (3), BASELINE (1), ANDON (the binary:
# target/release/andon), BENCH_OUT (ci/bench/suite-results.md), SUITE_LIMIT (180 s),
# SMOKE_LIMIT (20 s).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
SMOKE_ROUNDS=${SMOKE_ROUNDS:-3}
BASELINE=${BASELINE:-1}
OUT=${BENCH_OUT:-ci/bench/suite-results.md}
SUITE_LIMIT=${SUITE_LIMIT:-180}
SMOKE_LIMIT=${SMOKE_LIMIT:-20}
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say() { echo "== $*" >&2; }
die() { echo "bench-suite: $*" >&2; exit 2; }
command -v python3 >/dev/null || die "python3 is needed to read the junit reports"

if [ -z "${ANDON:-}" ]; then
    say 'release build of andon (the reference middleware is its reference-sut command)'
    cargo build --release --locked -p andon --bin andon >&2 \
        || die "cargo build --release failed"
    ANDON=target/release/andon
fi
[ -x "$ANDON" ] || die "$ANDON is not an executable"
ci/install-mosquitto.sh >/dev/null || die "Mosquitto could not be installed (the MQTT features need it)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# run NAME ARGS…: one `andon test`; appends "NAME seconds exit" to $WORK/runs and keeps
# the junit.xml as $WORK/NAME.xml.
run() {
    local name=$1; shift
    local start end code=0
    start=$(date +%s.%N)
    "$ANDON" -q test --report-dir "$WORK/$name" "$@" >"$WORK/$name.log" 2>&1 || code=$?
    end=$(date +%s.%N)
    cp "$WORK/$name/junit.xml" "$WORK/$name.xml" 2>/dev/null || true
    rm -rf "$WORK/$name"
    local secs
    secs=$(python3 -c "print(round($end - $start, 1))")
    echo "$name $secs $code" >>"$WORK/runs"
    say "$name: ${secs} s, exit $code ($(tail -1 "$WORK/$name.log" | head -c 200))"
    grep -q "scenarios:" "$WORK/$name.log" || tail -5 "$WORK/$name.log" >&2
}

for i in $(seq 1 "$SMOKE_ROUNDS"); do run "smoke-$i" --tags @smoke; done
for i in $(seq 1 "$RUNS"); do run "suite-$i"; done
[ "$BASELINE" = 1 ] && run baseline --concurrency 2

python3 - "$WORK" "$OUT" "$SUITE_LIMIT" "$SMOKE_LIMIT" "$ANDON" <<'EOF'
import os, statistics, subprocess, sys, xml.etree.ElementTree as ET
work, out, suite_limit, smoke_limit, andon = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
runs = [l.split() for l in open(os.path.join(work, "runs"))]

def verdicts(name):
    path = os.path.join(work, name + ".xml")
    if not os.path.exists(path):
        return None
    v = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = case.get("classname") + " " + case.get("name")
        kids = [c.tag for c in case]
        v[key] = ("failed" if "failure" in kids or "error" in kids
                  else "skipped" if "skipped" in kids else "passed")
    return v

smoke = [(n, float(s), int(c)) for n, s, c in runs if n.startswith("smoke-")]
suite = [(n, float(s), int(c)) for n, s, c in runs if n.startswith("suite-")]
base = [(n, float(s), int(c)) for n, s, c in runs if n == "baseline"]
per = {n: verdicts(n) for n, _, _ in suite}
scenarios = sorted({k for v in per.values() if v for k in v})
flaky, failed = [], []
for k in scenarios:
    seen = [per[n].get(k, "missing") if per[n] else "no report" for n, _, _ in suite]
    if len(set(seen)) > 1:
        flaky.append((k, seen))
    elif seen and seen[0] == "failed":
        failed.append(k)
unreadable = [n for n, v in per.items() if v is None]

def med(xs):
    return statistics.median(xs) if xs else float("nan")

ms = med([s for _, s, _ in smoke])
mu = med([s for _, s, _ in suite])
worst = max([s for _, s, _ in suite], default=float("nan"))
counts = {}
for n, _, _ in suite:
    for st in (per[n] or {}).values():
        counts.setdefault(n, {}).setdefault(st, 0)
        counts[n][st] += 1
machine = f"{os.cpu_count()} cores, " + subprocess.run(["uname", "-srm"], capture_output=True, text=True).stdout.strip()
date = subprocess.run(["date", "-u", "+%Y-%m-%d %H:%M UTC"], capture_output=True, text=True).stdout.strip()
ok_suite = suite and worst < suite_limit and not flaky and not failed and not unreadable and all(c == 0 for _, _, c in suite)
ok_smoke = smoke and ms < smoke_limit and all(c == 0 for _, _, c in smoke)

lines = ["# Suite time and flakiness (`ci/bench-suite.sh`)", "",
         f"Machine: {machine}. Date: {date}. Binary: `{andon}` (release build).", "",
         "| measure | median | runs | target | met |", "|---|---|---|---|---|",
         f"| `andon test --tags @smoke` | {ms:.1f} s | {', '.join(f'{s:.1f}' for _, s, _ in smoke)} | under {smoke_limit:.0f} s | {'yes' if ok_smoke else 'no'} |",
         f"| `andon test` (every feature, default concurrency) | {mu:.1f} s | {', '.join(f'{s:.1f}' for _, s, _ in suite)} | every run under {suite_limit:.0f} s, 0 flaky | {'yes' if ok_suite else 'no'} |"]
if base:
    b = base[0][1]
    lines.append(f"| baseline: `andon test --concurrency 2` (the former default) | {b:.1f} s | exit {base[0][2]} | — | ratio {mu / b:.2f} |")
lines += ["", f"Spread of the suite runs: {min((s for _, s, _ in suite), default=0):.1f}–{worst:.1f} s.", ""]
lines.append("Verdicts per run (passed / failed / skipped): " + "; ".join(
    f"{n}: {c.get('passed', 0)}/{c.get('failed', 0)}/{c.get('skipped', 0)}" for n, c in counts.items()) + ".")
lines.append("")
lines.append(f"Flaky scenarios (a verdict that changed between runs): {len(flaky)}." if not flaky else
             "Flaky scenarios (a verdict that changed between runs):")
for k, seen in flaky:
    lines.append(f"- `{k}`: {', '.join(seen)}")
if failed:
    lines.append("")
    lines.append("Failed in every run:")
    lines += [f"- `{k}`" for k in failed]
if unreadable:
    lines.append("")
    lines.append("Runs without a junit report: " + ", ".join(unreadable))
lines += ["", "Reproduce: `ci/bench-suite.sh` (RUNS, SMOKE_ROUNDS, BASELINE=0 to skip the baseline).", ""]
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
sys.exit(0 if ok_suite and ok_smoke else 1)
EOF
