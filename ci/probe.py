#!/usr/bin/env python3
"""The outside probe, re-run: what a hostile or careless user does to andon, by class.

    ci/probe.sh                       every class; the table goes to ci/bench/probe.md
    PROBE_SKIP=schemathesis ci/probe.sh   without the schemathesis class (needs PyPI once)

Classes:
  files        malformed scenarios, manifests, features, thresholds and run directories:
               each must be refused with exit 2 (never a panic, never a hang, never a pass),
               naming its file (and line where the file has lines)
  sigterm      SIGTERM and SIGINT mid-run: exit 143/130, no SUT process left, run.json
               says interrupted, `andon check` refuses the run
  http         hostile clients against `andon serve --auth on`: an oversized body, half
               headers, a token storm, the admin API without its token from another address
  schemathesis ci/schemathesis.sh: every simulator's served /openapi.json, every check

Every row says what was expected, what happened, and PASS or FAIL; the exit code is the
number of FAIL rows (0: all held).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ANDON = os.environ.get("ANDON") or str(REPO / "target/x86_64-unknown-linux-gnu/debug/andon")
OUT = Path(os.environ.get("OUT", REPO / "ci/bench/probe.md"))
SKIP = set(filter(None, os.environ.get("PROBE_SKIP", "").split(",")))
TIMEOUT = 30  # seconds any refused file may take

rows = []  # (class, case, expected, got, ok)


def row(cls, case, expected, got, ok):
    rows.append((cls, case, expected, got, ok))
    print(f"{'PASS' if ok else 'FAIL'}  {cls:12} {case}: {got}", file=sys.stderr, flush=True)


def run(args, cwd=REPO, timeout=TIMEOUT, env=None):
    """Runs andon with ARGS in its own process group; (exit, seconds, stderr, stdout)."""
    t0 = time.monotonic()
    p = subprocess.Popen([ANDON, "-q", *args], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
        code = p.returncode
    except subprocess.TimeoutExpired:
        # SIGTERM first: andon stops the SUT it started (a SIGKILL would leave it running).
        os.killpg(p.pid, signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
        code = "hung"
    return code, time.monotonic() - t0, err.decode(errors="replace"), out.decode(errors="replace")


# ------------------------------------------------------------------------------------------
# Malformed files.

GOOD_PLANT = 'plants: [{ id: "1000", lines: 1, materials: 4, profile: discrete }]\n'


def scenario(body):
    return f"name: probe\nseed: 1\n{GOOD_PLANT}{body}"


SCENARIOS = {
    "duration 1e20": scenario("duration: 1e20\nload: [{ at: 0s, rate: 10/s }]\n"),
    "settle 1e20": scenario("duration: 2s\nsettle: 1e20\nload: [{ at: 0s, rate: 10/s }]\n"),
    "settle 18446744073709551000s": scenario(
        "duration: 2s\nsettle: 18446744073709551000s\nload: [{ at: 0s, rate: 10/s }]\n"),
    "load phase at 1e20": scenario("duration: 2s\nload: [{ at: 1e20, rate: 10/s }]\n"),
    "time_scale 1e300": scenario("duration: 2s\ntime_scale: 1e300\nload: [{ at: 0s, rate: 10/s }]\n"),
    "rate 1e15/s": scenario("duration: 2s\nload: [{ at: 0s, rate: 1e15/s }]\n"),
    "negative duration": scenario("duration: -5s\nload: [{ at: 0s, rate: 10/s }]\n"),
    "NaN rate": scenario("duration: 2s\nload: [{ at: 0s, rate: .nan/s }]\n"),
    "unknown fault kind": scenario(
        "duration: 2s\nload: [{ at: 0s, rate: 10/s }]\nfaults: [{ at: 1s, target: erp, kind: meteor }]\n"),
    "100,000 levels of nesting": "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "binary garbage": "\x00\x01\x02\xff\xfe name: x\n",
    "empty file": "",
    "a list, not a mapping": "- 1\n- 2\n",
}

MANIFEST_TAIL = ('ready = "{sut.url}/health"\n[ingress]\nerp = "{sut.url}/e"\nmes = "{sut.url}/e"\n'
                 'qms = "{sut.url}/e"\nwms = "{sut.url}/e"\n')
MANIFESTS = {
    "not TOML": "name = \n[start\n",
    "program does not exist": 'name = "x"\n[start]\ncommand = ["./no-such-bridge"]\n' + MANIFEST_TAIL,
    "ready_timeout 1e20": 'name = "x"\n[start]\ncommand = ["sh"]\nready_timeout = "1e20s"\n' + MANIFEST_TAIL,
    "no ingress": 'name = "x"\n[start]\ncommand = ["sh"]\nready = "{sut.url}/health"\n',
    "unknown placeholder": 'name = "x"\n[start]\ncommand = ["sh", "{nope}"]\n' + MANIFEST_TAIL,
}

FEATURES = {
    "not Gherkin": "Feature: x\n  Scenario: y\n    Given the seed 1\n  this is not Gherkin\n",
    "number too large for its step": "Feature: x\n  Scenario: y\n    Given the seed 99999999999999999999999\n",
    "Scenario Outline without Examples": "Feature: x\n  Scenario Outline: y <n>\n    Given the seed <n>\n",
    "undefined step": "Feature: x\n  Scenario: y\n    Given the moon is full\n",
}


def load_scenario(threshold):
    return scenario(f"duration: 2s\nload: [{{ at: 0s, rate: 10/s }}]\nthresholds:\n  - \"{threshold}\"\n")


THRESHOLDS = {
    "error rate < 200 %": load_scenario("error rate < 200 %"),
    "p99 < -5ms": load_scenario("p99 latency < -5ms"),
    "garbage": load_scenario("the moon < 3"),
}


def run_dirs(tmp):
    """Damaged run directories, made from nothing: (name, path)."""
    out = []
    d = tmp / "rd-empty-history"
    d.mkdir()
    (d / "history.jsonl").write_text("")
    out.append(("empty history", d))
    d = tmp / "rd-truncated"
    d.mkdir()
    (d / "history.jsonl").write_text('{"seq":1,"at":"2026-01-01T00:00:00Z","sys')
    out.append(("truncated history line", d))
    d = tmp / "rd-bad-run-json"
    d.mkdir()
    (d / "history.jsonl").write_text("")
    (d / "run.json").write_text("{ not json")
    out.append(("run.json not JSON", d))
    d = tmp / "rd-interrupted"
    d.mkdir()
    (d / "run.json").write_text(json.dumps({
        "meta": {"scenario": "x", "seed": 1, "andon_version": "0", "sut": "x",
                 "started": "2026-01-01T00:00:00Z", "ended": "2026-01-01T00:00:00Z",
                 "exit": {"interrupted": "stopped"}, "sut_actions": []},
        "scenario_file": "x.yaml", "manifest_file": None, "load": {}, "settled": None}))
    out.append(("interrupted run", d))
    out.append(("no such directory", tmp / "rd-missing"))
    return out


def refused(cls, case, code, secs, err, name_in_err, want_line=True):
    panicked = "panicked" in err
    named = name_in_err in err
    has_line = any(f"{name_in_err}:{n}" in err for n in range(1, 200)) or "line " in err
    ok = code == 2 and not panicked and named and (has_line or not want_line)
    got = f"exit {code} in {secs:.1f}s" + (", PANIC" if panicked else "") + \
        ("" if named else ", file not named") + ("" if has_line or not want_line else ", no line")
    row(cls, case, "exit 2, file:line", got, ok)


def files_class(tmp):
    for i, (case, text) in enumerate(SCENARIOS.items()):
        f = tmp / f"scenario-{i}.yaml"
        f.write_text(text, errors="surrogateescape")
        code, secs, err, _ = run(["run", str(f), "--report-dir", str(tmp / f"out-s{i}")])
        refused("scenario", case, code, secs, err, f.name,
                want_line=case not in ("empty file", "binary garbage"))
    good = tmp / "good.yaml"
    good.write_text(scenario("duration: 2s\nload: [{ at: 0s, rate: 10/s }]\n"))
    for i, (case, text) in enumerate(MANIFESTS.items()):
        f = tmp / f"sut-{i}.toml"
        f.write_text(text)
        code, secs, err, _ = run(["run", str(good), "--sut", str(f), "--report-dir", str(tmp / f"out-m{i}")])
        refused("manifest", case, code, secs, err, f.name)
    for i, (case, text) in enumerate(FEATURES.items()):
        f = tmp / f"probe-{i}.feature"
        f.write_text(text)
        code, secs, err, _ = run(["test", str(f), "--report-dir", str(tmp / f"out-f{i}")])
        refused("feature", case, code, secs, err, f.name)
    for i, (case, text) in enumerate(THRESHOLDS.items()):
        f = tmp / f"load-{i}.yaml"
        f.write_text(text)
        code, secs, err, _ = run(["load", str(f), "--report-dir", str(tmp / f"out-t{i}")])
        refused("threshold", case, code, secs, err, f.name)
    for case, d in run_dirs(tmp):
        before = sorted(p.name for p in d.iterdir()) if d.exists() else []
        code, secs, err, _ = run(["check", str(d)])
        after = sorted(p.name for p in d.iterdir()) if d.exists() else []
        untouched = before == after
        ok = code == 2 and "panicked" not in err and untouched
        row("run dir", case, "exit 2, nothing written",
            f"exit {code} in {secs:.1f}s" + ("" if untouched else f", wrote {set(after) - set(before)}"), ok)


# ------------------------------------------------------------------------------------------
# SIGTERM / SIGINT mid-run.

def pid_running(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def sigterm_class(tmp):
    for sig, want in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        f = tmp / f"long-{sig.name}.yaml"
        f.write_text(scenario("duration: 300s\ntime_scale: 60\nload: [{ at: 0s, rate: 20/s }]\n"))
        out = tmp / f"out-{sig.name}"
        p = subprocess.Popen([ANDON, "-q", "run", str(f), "--report-dir", str(out)], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        pid, deadline = None, time.monotonic() + 60
        while pid is None and time.monotonic() < deadline:
            log = (out / "sut.log").read_text() if (out / "sut.log").exists() else ""
            if "ready after" in log:
                pid = int(log.split("started pid ", 1)[1].split(":", 1)[0])
            else:
                time.sleep(0.1)
        if pid is None:
            p.kill()
            row("sigterm", sig.name, f"exit {want}", "the SUT never got ready", False)
            continue
        p.send_signal(sig)
        try:
            code = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            code = "hung"
        left = pid_running(pid)
        if left:
            os.killpg(pid, signal.SIGKILL)
        try:
            exit_ = json.loads((out / "run.json").read_text())["meta"]["exit"]
        except Exception as e:  # noqa: BLE001 - reported in the row
            exit_ = f"unreadable: {e}"
        interrupted = isinstance(exit_, dict) and "interrupted" in exit_
        ccode, _, _, _ = run(["check", str(out)])
        ok = code == want and not left and interrupted and ccode == 2
        row("sigterm", f"{sig.name} mid-run", f"exit {want}, no SUT left, run.json interrupted, check refuses",
            f"exit {code}, SUT {'LEFT RUNNING' if left else 'gone'}, run.json exit {json.dumps(exit_)[:40]}, "
            f"check exit {ccode}", ok)


# ------------------------------------------------------------------------------------------
# Hostile HTTP clients.

def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_class(tmp):
    ports = {s: free_port() for s in ("erp", "mes", "qms", "wms")}
    token = "probe-admin-token"
    env = dict(os.environ, ANDON_ADMIN_TOKEN=token)
    p = subprocess.Popen([ANDON, "-q", "serve", "--auth", "on", "--bind", "0.0.0.0",
                          "--port", ",".join(f"{s}={n}" for s, n in ports.items())],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    erp = f"http://127.0.0.1:{ports['erp']}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{erp}/_andon/health", timeout=1)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline or p.poll() is not None:
                    row("http", "andon serve starts", "ready", f"exit {p.poll()}", False)
                    return
                time.sleep(0.1)
        http_cases(p.pid, ports, token)
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


def raw(port, data, read=True, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if not read:
            return b""
        chunks = []
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)


def status_of(answer):
    try:
        return int(answer.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def outside_address():
    """An address of this host other than loopback, if there is one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            addr = s.getsockname()[0]
            return None if addr.startswith("127.") else addr
    except OSError:
        return None


def http_cases(pid, ports, token):
    erp = ports["erp"]
    # 1. A 50 MB body with an Idempotency-Key to a POST-only route, eight times.
    before = rss_kib(pid)
    statuses = []
    body = b"x" * (50 << 20)
    for _ in range(8):
        head = (f"PUT /api/v1/confirmations HTTP/1.1\r\nHost: x\r\nIdempotency-Key: probe-1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        try:
            with socket.create_connection(("127.0.0.1", erp), timeout=10) as s:
                s.sendall(head)
                try:
                    s.sendall(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                answer = s.recv(4096)
                statuses.append(status_of(answer))
        except OSError as e:
            statuses.append(f"closed ({e.__class__.__name__})")
    grew = (rss_kib(pid) - before) // 1024
    ok = grew < 100 and all(s in (405, 413) or str(s).startswith("closed") for s in statuses)
    row("http", "8 × 50 MB body with Idempotency-Key", "413/405 each, RSS grows < 100 MiB",
        f"answers {sorted(set(map(str, statuses)))}, RSS +{grew} MiB", ok)

    # 2. 500 connections sending half a header: closed by the server.
    socks = []
    for _ in range(500):
        s = socket.create_connection(("127.0.0.1", erp), timeout=5)
        s.sendall(b"GET /api/v1/stock HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    t0 = time.monotonic()
    open_ = set(range(len(socks)))
    while open_ and time.monotonic() - t0 < 90:
        for i in list(open_):
            socks[i].setblocking(False)
            try:
                if socks[i].recv(1) == b"":
                    open_.discard(i)
            except BlockingIOError:
                pass
            except OSError:
                open_.discard(i)
        time.sleep(0.5)
    secs = time.monotonic() - t0
    for s in socks:
        s.close()
    row("http", "500 connections with half a header", "all closed by the server",
        f"{500 - len(open_)} closed within {secs:.0f}s", not open_)

    # 3. A token storm: 5,000 tokens.
    before = rss_kib(pid)
    form = b"grant_type=client_credentials&client_id=andon&client_secret=andon-secret"
    for _ in range(5000):
        req = urllib.request.Request(f"http://127.0.0.1:{erp}/oauth/token", data=form,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        urllib.request.urlopen(req, timeout=10).read()
    grew = (rss_kib(pid) - before) // 1024
    row("http", "5,000 token requests", "RSS grows < 20 MiB", f"RSS +{grew} MiB", grew < 20)

    # 4. The admin API from another address than loopback, without and with the token.
    addr = outside_address()
    if addr is None:
        row("http", "admin API from outside without token", "401", "no non-loopback address here", True)
        return
    url = f"http://{addr}:{erp}/_andon/config"
    data = json.dumps({"auth": False}).encode()

    def put(headers):
        req = urllib.request.Request(url, data=data, method="PUT",
                                     headers={"Content-Type": "application/json", **headers})
        try:
            return urllib.request.urlopen(req, timeout=10).status
        except urllib.error.HTTPError as e:
            return e.code
    without = put({})
    with_token = put({"Authorization": f"Bearer {token}"})
    row("http", "PUT /_andon/config from outside", "401 without the admin token, 200 with it",
        f"{without} without, {with_token} with", without == 401 and with_token == 200)


# ------------------------------------------------------------------------------------------

def schemathesis_class():
    script = REPO / "ci/schemathesis.sh"
    if not script.exists():
        row("schemathesis", "ci/schemathesis.sh", "present", "missing", False)
        return
    p = subprocess.run([str(script)], cwd=REPO, capture_output=True, text=True,
                       env=dict(os.environ, ANDON=ANDON))
    table = [line for line in p.stdout.splitlines() if line.startswith("|")]
    row("schemathesis", "every simulator's /openapi.json, --checks all",
        "no 5xx, no schema violation", f"exit {p.returncode}; " + " ".join(table[2:])[:200],
        p.returncode == 0)


def main():
    if not Path(ANDON).exists():
        print(f"probe: {ANDON} is missing: build it (cargo build -p andon) or set ANDON", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="andon-probe-"))
    try:
        if "files" not in SKIP:
            files_class(tmp)
        if "sigterm" not in SKIP:
            sigterm_class(tmp)
        if "http" not in SKIP:
            http_class(tmp)
        if "schemathesis" not in SKIP:
            schemathesis_class()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    failed = sum(1 for r in rows if not r[4])
    lines = ["| class | case | expected | got | |", "|---|---|---|---|---|"]
    lines += [f"| {c} | {k} | {e} | {g} | {'PASS' if ok else '**FAIL**'} |".replace("\n", " ")
              for c, k, e, g, ok in rows]
    table = "\n".join(lines)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        "# Outside probe\n\nWritten by `ci/probe.sh` on "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}: {len(rows)} cases, {failed} failed.\n\n"
        + table + "\n")
    print(table)
    return min(failed, 100)


if __name__ == "__main__":
    sys.exit(main())
