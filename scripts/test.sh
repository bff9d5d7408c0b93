#!/usr/bin/env bash
# The test command: installs the Python tools the tests need (the AWS emulator moto,
# cfn-lint, checkov, shellcheck, cfn-guard-rs, parliament, cargo-zigbuild with zig
# for the package test, the engines' Python clients and a Java 11) in a virtualenv,
# Maven if it is missing, starts moto on a loopback port, runs the format and lint
# checks and every Rust test (the real-engine tests fetch the engines with Maven),
# then stops moto.
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

cd "$root"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
export PRESTO_HA_REQUIRE_EMULATOR=1
cargo test --workspace --locked
