#!/usr/bin/env bash
# The outside probe, re-run by class (malformed files, SIGTERM mid-run, hostile HTTP
# clients, schemathesis against every simulator): prints a table and writes it to
# ci/bench/probe.md; exits with the number of failed cases (0: all held).
#
#   ci/probe.sh                           every class (~6 min on two cores)
#   PROBE_SKIP=schemathesis ci/probe.sh   without schemathesis (which installs from PyPI)
#
# Knobs: ANDON (the binary; default: the test build, built when missing), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/static-env.sh
if [ -z "${ANDON:-}" ]; then
    cargo build --locked -p andon --bin andon >&2
    ANDON="target/${CARGO_BUILD_TARGET:-}/debug/andon"
    [ -x "$ANDON" ] || ANDON=target/debug/andon
fi
command -v python3 >/dev/null || { echo "probe: python3 is needed" >&2; exit 2; }
export ANDON
exec python3 ci/probe.py
