#!/usr/bin/env bash
# The test command: installs the Python tools the tests need (the AWS emulator moto,
# cfn-lint, checkov, shellcheck, cfn-guard-rs, parliament, cargo-zigbuild with zig
# for the package test, the engines' Python clients and a Java 11) in a virtualenv,
# Maven if it is missing, starts moto on a loopback port, checks that the disk has
# room, runs the format and lint checks and every Rust test binary, the real engines'
# beside the others (it fetches the engines with Maven), then stops moto.
#
# Reuses, when present, a cache outside the clone ($PRESTO_HA_CACHE, by default
# ~/.cache/presto-ha) for the virtualenv and the cargo target folder; works from nothing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/emulator.sh
source "$root/scripts/emulator.sh"

# The real-engine tests fetch Trino, prestodb and their command-line clients with
# Maven into $PRESTO_HA_CACHE/m2 (checked against Maven Central's published SHA-1).
if ! command -v mvn >/dev/null; then
  echo "test.sh: installing Maven (mvn), which fetches the engines" >&2
  apt-get update -qq && apt-get install -y -qq maven >/dev/null
fi

# Disk, before anything is built or booted: each real-engine node unpacks its engine
# in a sandbox under the temporary folder (a prestodb node 2.3 GB), and two tests at
# a time took 20 GB at their peak; a build from nothing fills 7 GB of the target
# folder (BENCHMARKS.md, "Disk").
room() { # FOLDER GB [WHAT]: stops unless FOLDER's disk has GB free for WHAT
  local free
  free=$(df --output=avail -BG "$1" | tail -1 | tr -dc 0-9)
  if [ "$free" -lt "$2" ]; then
    echo "test.sh: the tests need about $2 GB free on the disk of ${3:-$1}; it has $free GB" >&2
    exit 1
  fi
}
tmp=${TMPDIR:-/tmp}
mkdir -p "$CARGO_TARGET_DIR"
engines=24 build=0
[ -d "$CARGO_TARGET_DIR/debug" ] || build=7
if [ "$(stat -c %d "$tmp")" = "$(stat -c %d "$CARGO_TARGET_DIR")" ]; then
  room "$tmp" $((engines + build)) "$tmp and $CARGO_TARGET_DIR"
else
  room "$tmp" $engines
  room "$CARGO_TARGET_DIR" $build
fi

cd "$root"
cargo fmt --all --check
export PRESTO_HA_REQUIRE_EMULATOR=1

# Every test binary is built once, then run as `cargo test` would run it (from its
# package's folder), one after another, but for the real engines' (minutes of JVMs
# starting and waiting), which runs beside them: the emulator keeps each test's
# resources apart (a sandbox of its own), and the engines' networks are their own.
#
# The build is also the lint: the workspace's own crates are compiled by clippy's
# driver, as `cargo clippy --workspace --all-targets -- -D warnings` runs it (every
# target, clippy's warnings errors), so that the dependencies are compiled once for
# both instead of checked for clippy and then built. Only this command's build has
# the wrapper; the builds the tests start themselves (the package test's) do not.
clippy_driver=$(rustc --print sysroot)/bin/clippy-driver
tests=$(RUSTC_WORKSPACE_WRAPPER=$clippy_driver CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__ \
  cargo test --workspace --all-targets --locked --no-run --message-format=json-render-diagnostics |
  "$PRESTO_HA_TOOLS/python" -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable") \
            and m["target"]["kind"] != ["bench"]:
        print(os.path.dirname(m["manifest_path"]), m["target"]["name"], m["executable"], sep="\t")
')
engines_log=$cache/real_engines.log
failed=()
while IFS=$'\t' read -r dir name executable; do
  [ "$name" = real_engines ] || continue
  echo "     Running $name beside the rest ($executable; its output follows theirs)"
  (cd "$dir" && "$executable") >"$engines_log" 2>&1 &
  engines=$!
done <<<"$tests"
while IFS=$'\t' read -r dir name executable; do
  [ "$name" != real_engines ] || continue
  echo "     Running $name ($executable)"
  (cd "$dir" && "$executable") || failed+=("$name")
done <<<"$tests"
if [ -n "${engines:-}" ]; then
  wait "$engines" || failed+=(real_engines)
  cat "$engines_log"
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "test.sh: failed: ${failed[*]}" >&2
  exit 1
fi
