#!/usr/bin/env bash
# The test command: installs the Python tools the tests need (the AWS emulator moto,
# cfn-lint, checkov, shellcheck, cfn-guard-rs, parliament, and cargo-zigbuild with zig
# for the package test) in a virtualenv, starts moto on a loopback port, runs the
# format and lint checks and every Rust test, then stops moto.
#
# Reuses, when present, a cache outside the clone ($PRESTO_HA_CACHE, by default
# ~/.cache/presto-ha) for the virtualenv and the cargo target folder; works from nothing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/emulator.sh
source "$root/scripts/emulator.sh"

cd "$root"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
export PRESTO_HA_REQUIRE_EMULATOR=1
cargo test --workspace --locked
