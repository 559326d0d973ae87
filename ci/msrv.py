#!/usr/bin/env python3
"""The declared minimum Rust version is true: every member of the workspace inherits the
workspace's `rust-version`, no dependency in Cargo.lock declares a newer one, and the
toolchain building this is not older. (clippy's `incompatible_msrv` lint, on in
`ci/test.sh`, then refuses standard-library APIs newer than it.)"""
import json
import subprocess
import sys

meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--locked"],
    check=True, capture_output=True, text=True).stdout)


def ver(v):
    parts = [int(x) for x in (v or "0").split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


members = set(meta["workspace_members"])
pkgs = {p["id"]: p for p in meta["packages"]}
declared = {pkgs[m]["name"]: pkgs[m].get("rust_version") for m in members}
problems = []
msrv = set(declared.values())
if len(msrv) != 1 or None in msrv:
    problems.append(f"every member must inherit the workspace's rust-version: {declared}")
want = max((ver(v) for v in msrv if v), default=(0, 0, 0))
for p in meta["packages"]:
    if p["id"] not in members and ver(p.get("rust_version")) > want:
        problems.append(f"{p['name']} {p['version']} needs Rust {p['rust_version']}, "
                        f"newer than the declared {'.'.join(map(str, want))}")
rustc = subprocess.run(["rustc", "--version"], check=True, capture_output=True, text=True).stdout
if ver(rustc.split()[1].split("-")[0]) < want:
    problems.append(f"{rustc.strip()} is older than the declared rust-version")
for p in problems:
    print("msrv:", p, file=sys.stderr)
if not problems:
    print(f"msrv: rust-version {'.'.join(map(str, want))} holds for every member and dependency")
sys.exit(1 if problems else 0)
