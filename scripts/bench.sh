#!/usr/bin/env bash
# The benchmark command: failover time in the simulation, then in the end-to-end
# harness (the real watcher binary against moto on loopback), as recorded in
# BENCHMARKS.md. Arguments: simulated schedules, end-to-end rounds per failure kind.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/emulator.sh
source "$root/scripts/emulator.sh"

cd "$root"
# The dev profile reuses the test build; the timings come from the clock of the run
# (virtual in the simulation, wall clock end to end), not from optimised code.
cargo bench --profile dev -p presto-ha-watcher --bench failover -- "${1:-5000}"
cargo bench --profile dev -p presto-ha-watcher --bench end_to_end_failover -- "${2:-5}"
