#!/usr/bin/env bash
# Builds a statically linked `andon` and two FROM scratch images from it, and a third from
# the Debian package's Mosquitto, locally (no registry is needed or used):
#   andon:local                       every simulator and `andon serve`
#   andon-reference-middleware:local  the bundled reference middleware
#   andon-mosquitto:local             the run's MQTT broker in the containers runtime: the
#                                     package's /usr/sbin/mosquitto and the libraries it links
#                                     (ci/install-mosquitto.sh installs the package)
#
#   ci/images.sh                 release build (what users run)
#   ci/images.sh --profile dev   the test build (ci/test.sh uses it, sharing its artifacts)
#   ANDON_IMAGE_TAG=1.2 ci/images.sh
#
# The binary is glibc with +crt-static: it needs no libraries in the image. It prints each
# image's size at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    *) echo "ci/images.sh: unknown argument $1 (expected --profile dev|release)" >&2; exit 2 ;;
  esac
done
tag="${ANDON_IMAGE_TAG:-local}"

command -v docker >/dev/null || { echo "ci/images.sh: docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "ci/images.sh: the Docker engine does not answer (docker info failed)" >&2; exit 1; }

source ci/static-env.sh
cargo build --locked --profile "$profile" -p andon --bin andon
dir="$profile"; [ "$profile" = dev ] && dir=debug
bin="target/$CARGO_BUILD_TARGET/$dir/andon"

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
if command -v strip >/dev/null; then strip -o "$ctx/andon" "$bin"; else cp "$bin" "$ctx/andon"; fi
# Directories the containers write to (a scratch image has none): settings, master data
# and saved state of a simulator; the reference middleware's data.
mkdir -p "$ctx/root/var/andon/state" "$ctx/root/data" "$ctx/root/tmp"

build() { # image dockerfile
  DOCKER_BUILDKIT=0 docker build --quiet --label "org.opencontainers.image.source=andon" \
    --label "andon.version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" \
    -t "$1:$tag" -f "ci/images/$2" "$ctx" >/dev/null
}
build andon andon.Dockerfile
build andon-reference-middleware reference-middleware.Dockerfile

# The broker: Mosquitto as the Debian package installs it, with every library `ldd` names
# at the same path, and an empty /mosquitto where andon mounts the run's broker directory
# (its configuration, persistence file and log).
ci/install-mosquitto.sh >/dev/null
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
mq="$(mktemp -d)"
trap 'rm -rf "$ctx" "$mq"' EXIT
mkdir -p "$mq/root/mosquitto" "$mq/root/tmp"
for f in "$mosquitto" $(ldd "$mosquitto" | awk '/=>/ { print $3 } /^[[:space:]]*\// { print $1 }'); do
  mkdir -p "$mq/root$(dirname "$f")"
  cp -L "$f" "$mq/root$(dirname "$f")/"
done
[ "$mosquitto" = /usr/sbin/mosquitto ] || { mkdir -p "$mq/root/usr/sbin"; cp -L "$mosquitto" "$mq/root/usr/sbin/mosquitto"; }
DOCKER_BUILDKIT=0 docker build --quiet --label "org.opencontainers.image.source=andon" \
  -t "andon-mosquitto:$tag" -f ci/images/mosquitto.Dockerfile "$mq" >/dev/null

docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "^andon(-reference-middleware|-mosquitto)?:$tag " || true
