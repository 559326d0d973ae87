#!/usr/bin/env bash
# The S/4HANA dialect through a real OData V2 client library, pyodata (ci/pyodata_check.py):
#
#   ci/pyodata.sh                                      parse every EDMX file under
#                                                      contracts/dialects/s4hana/*/metadata/ (strict)
#   ci/pyodata.sh --url http://127.0.0.1:PORT/plant/1000
#                                                      the same, then a client session against a
#                                                      running andon plant that speaks the dialect:
#                                                      CSRF token, production order and components,
#                                                      a 261 goods issue by deep insert (201), one
#                                                      beyond the stock (400 M7/021)
#
# Installs pyodata and requests from PyPI into target/pyodata-venv the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/pyodata-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pyodata, requests' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "pyodata==1.12.*" "requests==2.*" >&2
fi
exec "$VENV/bin/python" ci/pyodata_check.py "$@"
