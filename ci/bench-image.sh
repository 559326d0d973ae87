#!/usr/bin/env bash
# The simulator image's size (issue: performance, "the simulators' image ≤ 15 MB"), beside
# its baseline taken in the same run, and what the size-tuned build costs in throughput:
#   * image sizes (ci/images.sh, release): andon-simulator:local (the `andon-simulator`
#     binary in the `image` profile of Cargo.toml) against andon:local (the whole `andon`,
#     release, which every simulator container ran before); target ≤ 15,000,000 bytes
#     (MB here is 10^6 bytes, as `docker image ls` counts);
#   * each variant of the `image` profile (BENCH_VARIANTS): its stripped binary's size and
#     the time its build took, and its throughput against `andon simulator erp` of the
#     release build (the baseline): GET /api/v1/stock?plant=1000 (routing, history,
#     contract validation, JSON) with wrk, the server on CPU 0 and wrk on CPU 1 when there
#     are two, BENCH_ROUNDS rounds alternating, the median of the ratios.
# Results go to ci/bench/image-results.md (BENCH_OUT). Exit 1 when the image is over the
# target.
#
# Knobs: BENCH_VARIANTS ("as-is opt-level=s"; each a comma-separated list of `key=value`
#        of the `image` profile, set through CARGO_PROFILE_IMAGE_*, "as-is" for none),
#        BENCH_ROUNDS (3), BENCH_DURATION (5s), BENCH_CONNECTIONS (32),
#        BENCH_OUT (ci/bench/image-results.md), BENCH_TARGET_BYTES (15000000);
#        ANDON_IMAGE_TAG (local) as for ci/images.sh.
# wrk comes from apt-get when it is missing.
set -euo pipefail
# shellcheck source=ci/apt-install.sh
source "$(dirname "$0")/apt-install.sh"
cd "$(dirname "$0")/.."
VARIANTS=${BENCH_VARIANTS:-as-is opt-level=s}
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-5s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
OUT=${BENCH_OUT:-ci/bench/image-results.md}
TARGET_BYTES=${BENCH_TARGET_BYTES:-15000000}
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
say() { echo "== $*" >&2; }
die() { echo "bench-image: $*" >&2; exit 2; }
command -v python3 >/dev/null || die "python3 reads the results"
command -v curl >/dev/null || die "curl checks the servers"
if ! command -v wrk >/dev/null; then
  apt_install wrk || die "wrk could not be installed"
fi

say "images (ci/images.sh, release)"
t0=$(date +%s)
ci/images.sh >&2
images_secs=$(( $(date +%s) - t0 ))
source ci/static-env.sh
TARGET_DIR=${CARGO_TARGET_DIR:-target}/$CARGO_BUILD_TARGET
ANDON=$TARGET_DIR/release/andon
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Each variant built in turn (cargo keeps each one's artifacts: a second run only links).
: > "$WORK/variants"
i=0
for v in $VARIANTS; do
  envs=()
  if [ "$v" != as-is ]; then
    IFS=, read -ra pairs <<< "$v"
    for kv in "${pairs[@]}"; do
      key=$(echo "${kv%%=*}" | tr 'a-z-' 'A-Z_')
      envs+=("CARGO_PROFILE_IMAGE_$key=${kv#*=}")
    done
  fi
  say "andon-simulator, image profile $v"
  t0=$(date +%s)
  env "${envs[@]}" cargo build --locked --profile image -p andon-simulators --bin andon-simulator >&2
  secs=$(( $(date +%s) - t0 ))
  mkdir -p "$WORK/v$i"
  strip -o "$WORK/v$i/andon-simulator" "$TARGET_DIR/image/andon-simulator" 2>/dev/null \
    || cp "$TARGET_DIR/image/andon-simulator" "$WORK/v$i/andon-simulator"
  printf '%s\t%s\t%s\n' "$v" "$WORK/v$i/andon-simulator" "$secs" >> "$WORK/variants"
  i=$((i + 1))
done
# Leave the binary of the profile as it is in Cargo.toml in place.
[ "$VARIANTS" = as-is ] || cargo build --locked --profile image -p andon-simulators --bin andon-simulator >&2

python3 - "$ANDON" "$WORK" "$OUT" "$ROUNDS" "$DURATION" "$CONNECTIONS" "$TARGET_BYTES" "$images_secs" \
  "$VARIANTS" "${ANDON_IMAGE_TAG:-local}" <<'PY'
import os, platform, re, socket, statistics, subprocess, sys, time, urllib.request
(andon, work, out, rounds, duration, conns, target, images_secs, variant_arg, tag) = sys.argv[1:]
rounds, target = int(rounds), int(target)

def sh(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()

def size(image):
    return int(sh("docker", "image", "inspect", "--format", "{{.Size}}", image))

pin = os.cpu_count() >= 2 and subprocess.run(["sh", "-c", "command -v taskset"], capture_output=True).returncode == 0
def pinned(cpu, cmd):
    return (["taskset", "-c", str(cpu)] + cmd) if pin else cmd

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def throughput(cmd):
    """Requests per second of one fresh server under wrk."""
    port = free_port()
    p = subprocess.Popen(pinned(0, cmd + ["erp", "--bind", "127.0.0.1", "--port", str(port)]),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in p.stdout:
            if line.strip() == "ready":
                break
        else:
            raise SystemExit(f"bench-image: {cmd} ended without printing ready")
        url = f"http://127.0.0.1:{port}/api/v1/stock?plant=1000"
        with urllib.request.urlopen(url) as r:
            if r.status != 200:
                raise SystemExit(f"bench-image: {url} answered {r.status}, not 200")
        subprocess.run(pinned(1, ["wrk", "-t1", f"-c{conns}", "-d1s", url]), capture_output=True)
        text = sh(*pinned(1, ["wrk", "-t1", f"-c{conns}", f"-d{duration}", url]))
        if "Non-2xx" in text:
            raise SystemExit(f"bench-image: non-2xx answers under load:\n{text}")
        return float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    finally:
        p.terminate()
        p.wait()

variants = [l.rstrip("\n").split("\t") for l in open(os.path.join(work, "variants"))]
rows = []
for name, binary, secs in variants:
    base, mine = [], []
    for _ in range(rounds):
        base.append(throughput([andon, "-q", "simulator"]))
        mine.append(throughput([binary, "-q"]))
    ratio = statistics.median(m / b for m, b in zip(mine, base))
    rows.append((name, os.path.getsize(binary), int(secs), statistics.median(mine), statistics.median(base), ratio))

sim, whole = size(f"andon-simulator:{tag}"), size(f"andon:{tag}")
others = {i: size(i) for i in (f"andon-reference-middleware:{tag}", f"andon-mosquitto:{tag}")}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
profile = open("Cargo.toml").read().split("[profile.image]", 1)[1].split("\n\n", 1)[0].strip()
ok = sim <= target
mb = lambda b: f"{b / 1e6:.2f} MB"
lines = [
    "# The simulator image: measured",
    "",
    f"Machine: {os.cpu_count()} cores (`nproc`: {sh('nproc')}; {cpu}), {time.strftime('%Y-%m-%d %H:%M %Z')}, "
    f"Docker engine {sh('docker', 'version', '--format', '{{.Server.Version}}')}. "
    f"Command: `{'' if tag == 'local' else f'ANDON_IMAGE_TAG={tag} '}ci/bench-image.sh` (BENCH_VARIANTS=\"{variant_arg}\", {rounds} rounds of {duration}, "
    f"{conns} connections{', server on CPU 0 and wrk on CPU 1' if pin else ''}).",
    "",
    f"Target: the simulators' image at most {target:,} bytes ({mb(target)}; MB = 10^6 bytes). "
    f"**{'Met' if ok else 'Not met'}**: {sim:,} bytes.",
    "",
    "## Images (ci/images.sh, release; FROM scratch, static binaries)",
    "",
    f"| image | bytes | MB | ratio to `andon:{tag}` |", "|---|---:|---:|---:|",
    f"| `andon:{tag}` (baseline: the whole `andon`, release; the simulators' image before) | {whole:,} | {mb(whole)} | 1.00 |",
    f"| `andon-simulator:{tag}` (`andon-simulator`, `image` profile) | {sim:,} | {mb(sim)} | {sim / whole:.2f} |",
]
lines += [f"| `{k}` | {v:,} | {mb(v)} | {v / whole:.2f} |" for k, v in others.items()]
lines += [
    "",
    f"`ci/images.sh` took {images_secs} s in this run (with what target/ already held).",
    "",
    "## The `image` profile (Cargo.toml)",
    "", "```toml", "[profile.image]", profile, "```", "",
    "## Variants of the `image` profile",
    "",
    "Throughput: GET /api/v1/stock?plant=1000 on the ERP, requests/s, median of "
    f"{rounds} alternating rounds; baseline `andon simulator erp` of the release build, started afresh each round. "
    "Build: seconds of `cargo build --profile image -p andon-simulators --bin andon-simulator` in this run "
    "(a variant whose artifacts target/ held only links).",
    "",
    "| variant | stripped binary (bytes) | build (s) | requests/s | baseline requests/s | ratio |",
    "|---|---:|---:|---:|---:|---:|",
]
lines += [f"| {n} | {b:,} | {s} | {m:.0f} | {base:.0f} | {r:.2f} |" for n, b, s, m, base, r in rows]
lines.append("")
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
sys.exit(0 if ok else 1)
PY
