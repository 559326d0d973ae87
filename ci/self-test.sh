#!/usr/bin/env bash
# The checkers' self-test: every scenario of scenarios/ against the reference middleware
# (must pass), and every named defect of the reference middleware against every scenario
# (each defect must fail at least one). Prints the matrix (defect × scenario → verdict, with
# the checkers that failed) as Markdown, for the README.
#
#   ci/self-test.sh                 the matrix, once (24 × 14 runs; ~60 min on two cores)
#   REPEAT=3 SELFTEST_DEFECTS=none ci/self-test.sh   every scenario three times against the reference
#   DIALECTS="andon s4hana@2502 business-central@25" ci/self-test.sh   a column per scenario
#                                   and dialect: every plant's ERP on that API (`andon run --dialect`)
#   TRANSPORTS="webhook mqtt" ci/self-test.sh   a column per scenario and transport: every
#                                   plant's events published to the run's broker (`--transport mqtt`)
#   RUNTIME=containers TRANSPORTS=mqtt SELFTEST_DEFECTS=none ci/self-test.sh   every run with
#                                   `--runtime containers` (the images of ci/images.sh)
#   DIAGONAL=1 TRANSPORTS=mqtt ci/self-test.sh  only the diagonal (ci/self-test-diagonal.txt):
#                                   each defect in the columns of the scenario meant to catch it,
#                                   which must fail there through the checker named
#
# Knobs: JOBS (6 runs at a time), REPEAT (1), SELFTEST_DEFECTS ("all", "none" or a list),
# DIALECTS ("andon": each scenario as written), TRANSPORTS ("webhook": each scenario as
# written), OUT (ci/bench/self-test.md), ANDON
# (target/release/andon, built when missing).
# The test suite runs the diagonal of this matrix (harness/tests/selftest); this script is
# the whole of it.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-6}
REPEAT=${REPEAT:-1}
OUT=${OUT:-ci/bench/self-test.md}
WORK=${WORK:-target/self-test}
if [ -z "${ANDON:-}" ]; then
    cargo build --release --locked -p andon --bin andon >&2
    ANDON=target/release/andon
fi
command -v python3 >/dev/null || { echo "self-test: python3 is needed to read verdicts" >&2; exit 2; }

scenarios=$(ls scenarios/*.yaml | xargs -n1 basename | sed 's/\.yaml$//')
# A column is a scenario, or a scenario with every plant's ERP on a dialect (`s~dialect`),
# either with every plant's events over a transport (`…+mqtt`).
columns=""
for s in $scenarios; do
    for dialect in ${DIALECTS:-andon}; do
        if [ "$dialect" = andon ]; then c=$s
        # A scenario that chooses its plants' dialects itself is run as written only.
        elif ! grep -Eq 'erp: *(s4hana|business-central|andon|\{ *dialect)' "scenarios/$s.yaml"; then c=$s~$dialect
        else continue; fi
        for transport in ${TRANSPORTS:-webhook}; do
            if [ "$transport" = webhook ]; then columns="$columns $c"
            elif ! grep -Eq 'transport:' "scenarios/$s.yaml"; then columns="$columns $c+$transport"
            # A scenario that chooses its plants' transports itself is run as written only.
            else case " $columns " in *" $c "*) ;; *) columns="$columns $c" ;; esac; fi
        done
    done
done
case "${SELFTEST_DEFECTS:-all}" in
    all) defects="none $("$ANDON" reference-sut --list-defects | awk '{print $1}')" ;;
    none) defects="none" ;;
    *) defects="none $SELFTEST_DEFECTS" ;;
esac
rm -rf "$WORK"; mkdir -p "$WORK"
jobs_file=$WORK/jobs
: > "$jobs_file"
diagonal=ci/self-test-diagonal.txt
# Whether defect $1 runs in column $2: always, but in a DIAGONAL run only in the columns of
# its scenario.
runs_in() {
    [ "$1" = none ] || [ -z "${DIAGONAL:-}" ] && return 0
    base=${2%+*}; base=${base%%~*}
    grep -Eq "^$1 +$base " "$diagonal"
}
for r in $(seq 1 "$REPEAT"); do
    for d in $defects; do
        for s in $columns; do
            if runs_in "$d" "$s"; then echo "$d $s $r" >> "$jobs_file"; fi
        done
    done
done
echo "self-test: $(wc -l < "$jobs_file") runs, $JOBS at a time" >&2
RUNTIME=${RUNTIME:-}
export ANDON WORK RUNTIME
xargs -P "$JOBS" -L 1 sh -c '
    d=$0; s=$1; r=$2; dir=$WORK/$d/$s/$r
    mkdir -p "$(dirname "$dir")"
    if [ "$d" = none ]; then set --; else set -- --defect "$d"; fi
    [ -z "$RUNTIME" ] || set -- "$@" --runtime "$RUNTIME"
    case "$s" in *+*) set -- "$@" --transport "${s##*+}"; s0=${s%+*} ;; *) s0=$s ;; esac
    case "$s0" in *~*) set -- "$@" --dialect "erp=${s0#*~}" ;; esac
    "$ANDON" -q run "scenarios/${s0%%~*}.yaml" "$@" --report-dir "$dir" > "$dir.out" 2>&1
    echo "$? $d $s $r" >&2
' < "$jobs_file"

python3 - "$WORK" "$REPEAT" "$OUT" "${DIAGONAL:+$diagonal}" $defects -- $columns <<'PY'
import json, os, sys
work, repeat, out, diagonal = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
# In a DIAGONAL run: defect -> (scenario, the checker that must fail).
meant = {}
if diagonal:
    for line in open(diagonal):
        if line.strip() and not line.startswith("#"):
            d, s, c = line.split()
            meant[d] = (s, c)
rest = sys.argv[5:]
cut = rest.index("--")
defects, scenarios = rest[:cut], rest[cut + 1:]
def cell(d, s):
    if not os.path.isdir(f"{work}/{d}/{s}"):
        return ["·"]
    seen = []
    for r in range(1, repeat + 1):
        try:
            v = json.load(open(f"{work}/{d}/{s}/{r}/verdict.json"))
        except Exception:
            seen.append("error")
            continue
        # `exit` is "pass", "fail", {"error": why} or {"inconclusive": why}.
        exit = v["exit"]
        if isinstance(exit, dict) and "error" in exit:
            seen.append("error")
            continue
        failed = [x["checker"] for x in v["verdicts"] if x["status"] == "fail"]
        if failed:
            seen.append("FAIL " + ",".join(failed))
        elif isinstance(exit, dict) and "inconclusive" in exit:
            seen.append("INCONCLUSIVE")
        else:
            seen.append("pass")
    return seen
bad = []
lines = ["| defect | " + " | ".join(scenarios) + " |",
         "|---|" + "---|" * len(scenarios)]
for d in defects:
    row = []
    caught = False
    for s in scenarios:
        seen = cell(d, s)
        if len(set(seen)) > 1:
            bad.append(f"flaky: {d} × {s}: {seen}")
        text = seen[0] if len(set(seen)) == 1 else "FLAKY " + "/".join(seen)
        if d == "none" and text != "pass":
            bad.append(f"the reference middleware does not pass {s}: {text}")
        if d in meant and text != "·":
            # The diagonal: failed through the checker meant to catch it.
            caught = caught or (text.startswith("FAIL") and meant[d][1] in text[5:].split(","))
        else:
            caught = caught or text.startswith("FAIL")
        row.append(text)
    if d != "none" and not caught:
        bad.append(f"defect {d} is not caught by {meant[d][1]} in {meant[d][0]}" if d in meant
                   else f"defect {d} is caught by no scenario")
    lines.append(f"| {'(correct)' if d == 'none' else d} | " + " | ".join(row) + " |")
table = "\n".join(lines)
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    title = "Self-test diagonal" if diagonal else "Self-test matrix"
    f.write(f"# {title}\n\nWritten by `ci/self-test.sh` ({repeat} run(s) per cell). "
            + ("Only the diagonal: each defect in the scenario meant to catch it (`·`: not run). " if diagonal else "") +
            "`pass`: the run passed (every required checker passed); `FAIL x,y`: those checkers failed; "
            "`INCONCLUSIVE`: nothing failed, but a required checker had too little evidence.\n\n")
    f.write(table + "\n")
    if bad:
        f.write("\nProblems:\n\n" + "\n".join(f"* {b}" for b in bad) + "\n")
print(table)
for b in bad:
    print("self-test:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
