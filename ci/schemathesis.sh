#!/usr/bin/env bash
# schemathesis against every simulator's served /openapi.json (the bundled contract):
# property-based requests from the documents, with every check. The gate: no 5xx and no
# answer that breaks its documented schema (`not_a_server_error`,
# `response_schema_conformance`); the other checks' findings are listed, not gated —
# `--checks all` also counts a business rejection of a schema-valid request (422 stock
# deficit, unknown master data: the domain's rules, which no schema holds) as a failure.
#
#   ci/schemathesis.sh            four simulators, 30 examples per operation, seed 1 (~1 min)
#
# Knobs: ANDON (default: the test build), EXAMPLES (30), SEED (1). Installs schemathesis
# 4.x from PyPI into target/schemathesis-venv the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${EXAMPLES:-30}
SEED=${SEED:-1}
if [ -z "${ANDON:-}" ]; then
    source ci/static-env.sh
    cargo build --locked -p andon --bin andon >&2
    ANDON="target/${CARGO_BUILD_TARGET:-}/debug/andon"
fi
VENV=target/schemathesis-venv
if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "schemathesis==4.32.*" >&2
fi
OUT=target/schemathesis
rm -rf "$OUT"; mkdir -p "$OUT"
ports=$(python3 -c 'import socket
s=[socket.socket() for _ in range(4)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
read -r erp mes qms wms <<< "$ports"
"$ANDON" -q serve --port "erp=$erp,mes=$mes,qms=$qms,wms=$wms" > "$OUT/serve.log" 2>&1 &
serve=$!
trap 'kill -INT $serve 2>/dev/null || true; wait $serve 2>/dev/null || true' EXIT
for i in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$wms/_andon/health" >/dev/null 2>&1 && break
    sleep 0.1
done
status=0
for pair in "erp:$erp" "mes:$mes" "qms:$qms" "wms:$wms"; do
    sys=${pair%%:*}; port=${pair##*:}
    url="http://127.0.0.1:$port/openapi.json"
    "$VENV/bin/schemathesis" run "$url" --checks not_a_server_error,response_schema_conformance \
        --max-examples "$EXAMPLES" --seed "$SEED" --report junit \
        --report-junit-path "$OUT/$sys-gate.xml" > "$OUT/$sys-gate.log" 2>&1 || true
    "$VENV/bin/schemathesis" run "$url" --checks all \
        --max-examples "$EXAMPLES" --seed "$SEED" --report junit \
        --report-junit-path "$OUT/$sys-all.xml" > "$OUT/$sys-all.log" 2>&1 || true
done
python3 - "$OUT" <<'PY' || status=1
import re, sys
out = sys.argv[1]
rows, bad = [], 0
for sys_ in ("erp", "mes", "qms", "wms"):
    def failed(kind):
        try:
            x = open(f"{out}/{sys_}-{kind}.xml").read()
        except OSError:
            return None, []
        total = len(re.findall(r"<testcase ", x))
        cases = re.findall(r'<testcase name="([^"]+)"[^>]*?(?<!/)>(.*?)</testcase>', x, re.S)
        return total, [n for n, body in cases if "<failure" in body or "<error" in body]
    n, gate = failed("gate")
    _, other = failed("all")
    generated = re.search(r"(\d+) generated", open(f"{out}/{sys_}-all.log").read())
    if n is None:
        gate = ["no report: schemathesis did not run"]
    bad += len(gate)
    rows.append(f"| {sys_} | {n} | {generated.group(1) if generated else '?'} | "
                f"{len(gate)}{': ' + ', '.join(gate) if gate else ''} | {len(other)} |")
print("| system | operations | requests (all checks) | 5xx or response-schema failures | operations with other findings |")
print("|---|---:|---:|---|---:|")
print("\n".join(rows))
sys.exit(1 if bad else 0)
PY
exit $status
