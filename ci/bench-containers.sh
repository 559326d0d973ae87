#!/usr/bin/env bash
# The containers runtime, measured (issue 6), each figure beside a named baseline taken on
# this machine in the same run:
#   * image sizes (ci/images.sh, release build);
#   * time from start to ready per simulator: `docker run` of the image until the
#     simulator prints `ready`, against the same binary started as a local process;
#   * a full `andon test --tags @smoke` with `--runtime containers` against the same run
#     in-process (the baseline), alternating, BENCH_ROUNDS times.
# Results go to ci/bench/containers-results.md (BENCH_OUT).
#
# Knobs: BENCH_ROUNDS (2, smoke runs per runtime), BENCH_READY_ROUNDS (5),
#        BENCH_OUT (ci/bench/containers-results.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_ROUNDS:-2}
READY_ROUNDS=${BENCH_READY_ROUNDS:-5}
OUT=${BENCH_OUT:-ci/bench/containers-results.md}
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
command -v python3 >/dev/null || { echo "bench-containers: python3 times the runs" >&2; exit 2; }

ci/images.sh >&2
source ci/static-env.sh
ANDON="target/$CARGO_BUILD_TARGET/release/andon"
DIR=target/bench-containers
rm -rf "$DIR" && mkdir -p "$DIR"

python3 - "$ANDON" "$DIR" "$OUT" "$ROUNDS" "$READY_ROUNDS" <<'PY'
import json, os, platform, statistics, subprocess, sys, time
andon, work, out, rounds, ready_rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def sh(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()

def until_ready(cmd, cleanup=None):
    """Seconds from spawning `cmd` to its `ready` line."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        if line.strip() == "ready":
            break
    else:
        raise SystemExit(f"{cmd} ended without printing ready")
    dt = time.perf_counter() - t0
    if cleanup:
        cleanup()
    p.terminate()
    p.wait()
    return dt

sizes = {img: int(sh("docker", "image", "inspect", "--format", "{{.Size}}", img))
         for img in ("andon-simulator:local", "andon:local", "andon-reference-middleware:local")}

ready = {}
for system in ("erp", "mes", "qms", "wms"):
    local, container = [], []
    for i in range(ready_rounds):
        local.append(until_ready([andon, "-q", "simulator", system, "--bind", "127.0.0.1", "--port", "0"]))
        name = f"andon-bench-ready-{system}-{i}"
        container.append(until_ready(
            ["docker", "run", "--rm", "--name", name, "andon-simulator:local", system, "--port", "8080"],
            cleanup=lambda n=name: subprocess.run(["docker", "rm", "-f", n], capture_output=True)))
    ready[system] = (statistics.median(local), statistics.median(container))

smoke = {"in-process": [], "containers": []}
for r in range(rounds):
    for runtime in ("in-process", "containers"):
        report = os.path.join(work, f"smoke-{runtime}-{r}")
        t0 = time.perf_counter()
        p = subprocess.run([andon, "-q", "test", "--tags", "@smoke", "--runtime", runtime,
                            "--report-dir", report], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            sys.stderr.write(p.stdout + p.stderr)
            raise SystemExit(f"@smoke failed in {runtime} (exit {p.returncode})")
        smoke[runtime].append(dt)

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
engine = sh("docker", "version", "--format", "{{.Server.Version}}")
mb = lambda b: f"{b / 1e6:.1f} MB"
lines = [
    "# Containers runtime: measured",
    "",
    f"Machine: {os.cpu_count()} cores ({cpu}), Docker engine {engine}. Command: `ci/bench-containers.sh`.",
    "",
    "## Images (release build; andon-simulator in the `image` profile; stripped static binaries, FROM scratch)",
    "",
    "| image | size |", "|---|---:|",
]
lines += [f"| `{k}` | {mb(v)} |" for k, v in sizes.items()]
lines += [
    "", f"## Start to ready (median of {ready_rounds})", "",
    "Baseline: the same binary started as a local process, until it prints `ready`.", "",
    "| simulator | local process (baseline) | container | ratio |", "|---|---:|---:|---:|",
]
for s, (l, c) in ready.items():
    lines.append(f"| {s} | {l * 1000:.0f} ms | {c * 1000:.0f} ms | {c / l:.1f} |")
ip, ct = statistics.median(smoke["in-process"]), statistics.median(smoke["containers"])
lines += [
    "", f"## `andon test --tags @smoke` (median of {rounds}, alternating)", "",
    "| runtime | seconds | ratio |", "|---|---:|---:|",
    f"| in-process (baseline) | {ip:.1f} (rounds {', '.join(f'{x:.1f}' for x in smoke['in-process'])}) | 1.00 |",
    f"| containers | {ct:.1f} (rounds {', '.join(f'{x:.1f}' for x in smoke['containers'])}) | {ct / ip:.2f} |",
    "",
]
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
PY
