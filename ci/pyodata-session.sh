#!/usr/bin/env bash
# A real OData client (pyodata, from PyPI) against `andon serve --dialect erp=s4hana@R`, for
# each S/4HANA release andon simulates: CSRF token, a production order and its components, a
# 261 goods issue by deep insert (201), then one beyond the stock (400, SAP error M7/021).
#
#   ci/pyodata-session.sh            both releases (~1 min the first time: installs pyodata)
#
# Knobs: ANDON (default: the test build), RELEASES ("2408 2502").
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${ANDON:-}" ]; then
    source ci/static-env.sh
    cargo build --locked -p andon --bin andon >&2
    ANDON="target/${CARGO_BUILD_TARGET:-}/debug/andon"
fi
for release in ${RELEASES:-2408 2502}; do
    ports=$(python3 -c 'import socket
s=[socket.socket() for _ in range(4)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
    read -r erp mes qms wms <<< "$ports"
    "$ANDON" -q serve --dialect "erp=s4hana@$release" \
        --port "erp=$erp,mes=$mes,qms=$qms,wms=$wms" > "target/pyodata-serve-$release.log" 2>&1 &
    serve=$!
    trap 'kill -INT $serve 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$erp/_andon/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    # Release a few production orders (the ERP's seeded plant activity).
    curl -fs -XPOST "http://127.0.0.1:$erp/_andon/activity/step" \
        -H 'content-type: application/json' -d '{"count": 3}' >/dev/null
    echo "== S/4HANA $release"
    ci/pyodata.sh --url "http://127.0.0.1:$erp/plant/1000"
    kill -INT $serve; wait $serve 2>/dev/null || true
    trap - EXIT
done
