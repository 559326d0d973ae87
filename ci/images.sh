#!/usr/bin/env bash
# Builds statically linked `andon` and `andon-simulator` binaries, three FROM scratch images
# from them, and a fourth from the Debian package's Mosquitto, locally (no registry is
# needed or used):
#   andon-simulator:local             every simulator (`andon-simulator SYSTEM`: the
#                                     simulators alone, without the harness); the image the
#                                     containers runtime and ci/compose.yaml start
#   andon:local                       the whole `andon`: `andon serve` and the rest of the CLI
#   andon-reference-middleware:local  the bundled reference middleware
#   andon-mosquitto:local             the run's MQTT broker in the containers runtime: the
#                                     package's /usr/sbin/mosquitto and the libraries it links
#                                     (ci/install-mosquitto.sh installs the package)
#
#   ci/images.sh                 release build (what users run); `andon-simulator` in the
#                                size-tuned `image` profile (Cargo.toml: fat LTO, stripped)
#   ci/images.sh --profile dev   the test build (ci/test.sh uses it, sharing its artifacts):
#                                both binaries in the dev profile
#   ANDON_IMAGE_TAG=1.2 ci/images.sh
#   ANDON_SIMULATOR_PROFILE=release ci/images.sh   another profile for `andon-simulator`
#
# The binaries are glibc with +crt-static: they need no libraries in the image. It prints
# each image's size (bytes) at the end.
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
sim_profile="${ANDON_SIMULATOR_PROFILE:-}"
[ -n "$sim_profile" ] || { if [ "$profile" = dev ]; then sim_profile=dev; else sim_profile=image; fi; }
if [ "$sim_profile" = "$profile" ]; then
  # One build: the two binaries share every artifact.
  cargo build --locked --profile "$profile" -p andon --bin andon -p andon-simulators --bin andon-simulator
else
  cargo build --locked --profile "$profile" -p andon --bin andon
  cargo build --locked --profile "$sim_profile" -p andon-simulators --bin andon-simulator
fi
out_dir() { if [ "$1" = dev ]; then echo debug; else echo "$1"; fi; }
bin="target/$CARGO_BUILD_TARGET/$(out_dir "$profile")/andon"
sim_bin="target/$CARGO_BUILD_TARGET/$(out_dir "$sim_profile")/andon-simulator"

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
stripped() { # binary copy
  if command -v strip >/dev/null; then strip -o "$2" "$1"; else cp "$1" "$2"; fi
}
stripped "$bin" "$ctx/andon"
stripped "$sim_bin" "$ctx/andon-simulator"
# Directories the containers write to (a scratch image has none): settings, master data
# and saved state of a simulator; the reference middleware's data.
mkdir -p "$ctx/root/var/andon/state" "$ctx/root/data" "$ctx/root/tmp"

build() { # image dockerfile
  DOCKER_BUILDKIT=0 docker build --quiet --label "org.opencontainers.image.source=andon" \
    --label "andon.version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" \
    -t "$1:$tag" -f "ci/images/$2" "$ctx" >/dev/null
}
build andon-simulator andon-simulator.Dockerfile
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

for image in andon-simulator andon andon-reference-middleware andon-mosquitto; do
  printf '%-40s %s bytes\n' "$image:$tag" "$(docker image inspect -f '{{.Size}}' "$image:$tag")"
done
