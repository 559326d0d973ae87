#!/usr/bin/env bash
# The whole loop under load: MES (and ERP releases) simulator -> reference middleware ->
# ERP simulator, driven by `andon load` at rising rates (ci/bench/whole-loop.yaml, three
# plants, no fault, 20 s per rate). A rate is sustained when the run is valid (the
# generator kept its schedule and dropped nothing), the SUT acknowledged every event, and
# the budget held: consumption reaches the ERP within 1 s at p99 (`p99 < 1s on
# mes.consumed -> erp`, error rate < 0.1 %). The highest sustained rate is the result.
#
# Writes a Markdown section on stdout (and the table to $LOOP_OUT when set). Run alone, or
# from ci/bench-load.sh, which also measures the generator alone (the baseline the
# sustained rate is compared with).
#
# Knobs: LOOP_TRANSPORT (unset: webhooks; `mqtt`: the MES publishes to a Mosquitto andon
# starts, the middleware subscribes), LOOP_RATES ("500 1000 1500 2000 2500 3000 4000": steps per second, tried in order,
# stopping at the first that is not sustained), LOOP_DURATION (20s), ANDON (default: the
# release build, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/static-env.sh
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
RATES=${LOOP_RATES:-"500 1000 1500 2000 2500 3000 4000"}
DURATION=${LOOP_DURATION:-20s}
WORK=${LOOP_WORK:-target/bench-loop}
if [ -z "${ANDON:-}" ]; then
    echo "== building the release andon" >&2
    cargo build --release -p andon --bin andon --locked >&2
    ANDON=target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release/andon
fi
command -v python3 >/dev/null || { echo "bench-whole-loop: python3 is needed" >&2; exit 2; }
rm -rf "$WORK"; mkdir -p "$WORK"

rows=""
best=""
for r in $RATES; do
    dir="$WORK/rate-$r"
    echo "== whole loop at $r steps/s for $DURATION" >&2
    set +e
    "$ANDON" -q load ci/bench/whole-loop.yaml --rate "$r/s" --duration "$DURATION" \
        ${LOOP_TRANSPORT:+--transport "$LOOP_TRANSPORT"} \
        --report-dir "$dir" > "$dir.out" 2>&1
    code=$?
    set -e
    if [ ! -f "$dir/load.json" ]; then
        echo "bench-whole-loop: no load.json at $r/s (exit $code):" >&2
        cat "$dir.out" >&2
        exit 1
    fi
    line=$(python3 - "$dir/load.json" "$r" "$code" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rate, code = sys.argv[2], int(sys.argv[3])
g, t = r["generator"], r["throughput"]
route = r["routes"].get("mes.consumed -> erp", {})
ms = lambda us: f"{us / 1000:.1f}"
all_acked = r["ingress"]["count"] >= g["events"] and g["events"] > 0
ok = code == 0 and r["verdict"] == "pass" and all_acked
print("|".join([
    rate, f"{t['emitted_per_s']:.0f}", f"{t['acked_per_s']:.0f}", f"{t['effects_per_s']:.0f}",
    ms(r["ingress"]["p99_us"]), ms(route.get("p99_us", 0)), ms(r["e2e"]["p99_us"]),
    str(g["late_steps"]), str(g["dropped"]), f"{r['errors']['rate'] * 100:.2f}",
    r["verdict"], "yes" if ok else "no",
]))
PY
)
    rows+="| ${line//|/ | } |"$'\n'
    if [[ "$line" == *"|yes" ]]; then
        best=$(echo "$line" | cut -d'|' -f3)
    else
        break
    fi
done

{
    if [ -n "${LOOP_TRANSPORT:-}" ]; then
        echo "### Whole loop over $LOOP_TRANSPORT: MES simulator -> broker -> reference middleware -> ERP simulator"
    else
        echo "### Whole loop: MES simulator -> reference middleware -> ERP simulator"
    fi
    echo
    echo "\`andon load ci/bench/whole-loop.yaml --rate R/s --duration $DURATION${LOOP_TRANSPORT:+ --transport $LOOP_TRANSPORT}\` (release build; andon,"
    echo "its in-process simulators and the reference middleware share the machine's cores, not"
    echo "pinned). Sustained: valid generator, every event acknowledged, p99 of"
    echo "\`mes.consumed -> erp\` under 1 s and error rate under 0.1 %."
    echo
    echo "| steps/s asked | events/s emitted | acknowledged/s | effects/s | ingress p99 ms | consumed->erp p99 ms | end-to-end p99 ms | late steps | dropped | error % | verdict | sustained |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s' "$rows"
    echo
    echo "Highest sustained: ${best:-none} events/s acknowledged."
} | tee "${LOOP_OUT:-/dev/null}"
echo "${best:-0}" > "$WORK/sustained"
