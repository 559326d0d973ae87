#!/usr/bin/env bash
# Installs the Mosquitto MQTT broker (Debian package `mosquitto`, 2.0.x) and its clients
# (`mosquitto-clients`: mosquitto_pub, the publisher baseline of ci/bench-mqtt.sh) when
# they are missing. andon starts its own broker per run (its own port, config and
# persistence under the run directory): the system service the package installs is not
# used, and is stopped if the package started it.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

if have mosquitto && have mosquitto_pub; then
  echo "mosquitto: $( (mosquitto -h 2>/dev/null || /usr/sbin/mosquitto -h 2>/dev/null) | head -1)"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "ci/install-mosquitto.sh: no apt-get here; install Mosquitto 2.0 (the broker and its clients) with this system's package manager" >&2
  exit 2
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends mosquitto mosquitto-clients >/dev/null
# The package's own service, if it started one, is not andon's.
$SUDO service mosquitto stop >/dev/null 2>&1 || true
echo "mosquitto: $(/usr/sbin/mosquitto -h 2>/dev/null | head -1)"
