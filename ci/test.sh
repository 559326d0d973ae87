#!/usr/bin/env bash
# The project's test command: formatting, lints, and every test of the workspace.
# `.ci/run` runs exactly this; so does a developer (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Two cores on the reference machine: keep the build within them.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
# A static `andon`, so the container images can be built from the test build itself.
source ci/static-env.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== rust-version (ci/msrv.py)"
if command -v python3 >/dev/null; then
  python3 ci/msrv.py
else
  echo "no python3: the rust-version check is skipped"
fi

echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== Mosquitto (ci/install-mosquitto.sh): the broker the MQTT tests and features run against"
ci/install-mosquitto.sh

if docker info >/dev/null 2>&1; then
  echo "== container images (ci/images.sh --profile dev)"
  ci/images.sh --profile dev
else
  echo "== no Docker engine: the containers tests will be reported as skipped (ignored)"
fi

echo "== cargo test"
cargo test --workspace --locked
