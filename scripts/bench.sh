#!/usr/bin/env bash
# The benchmark command: failover time in the simulation, then in the end-to-end
# harness (the real watcher binary against moto on loopback), then as a client sees
# it on the real engines, as recorded in BENCHMARKS.md. Arguments: simulated
# schedules, end-to-end rounds per failure kind, runs of each fault on the engines.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/emulator.sh
source "$root/scripts/emulator.sh"

cd "$root"
# The dev profile reuses the test build; the timings come from the clock of the run
# (virtual in the simulation, wall clock end to end), not from optimised code.
cargo bench --profile dev --workspace --bench failover -- "${1:-5000}"
cargo bench --profile dev --workspace --bench end_to_end_failover -- "${2:-5}"

# Failover on the real engines as a client sees it (Trino, then prestodb, three
# coordinators, two workers, the real watcher): each fault ${3:-5} times, then the
# median and the longest time from the fault to a client's first right answer.
log=$(mktemp)
PRESTO_HA_FAILOVER_RUNS=${3:-5} cargo test --locked --workspace --test real_engines \
  fails_over_and_is_updated_as_a_client_sees_it -- --nocapture --test-threads=1 2>&1 | tee "$log"
grep '^failover ' "$log" | "$PRESTO_HA_TOOLS/python" -c '
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in sys.stdin:
    fields = dict(f.split("=", 1) for f in line.split()[1:])
    runs[fields["engine"], fields["fault"], fields["client"]].append(float(fields["seconds"]))
print("| engine | fault | client | runs | p50 (s) | max (s) |")
print("| --- | --- | --- | --- | --- | --- |")
for (engine, fault, client), seconds in sorted(runs.items()):
    print(f"| {engine} | {fault} | {client} | {len(seconds)} | {statistics.median(seconds):.1f} | {max(seconds):.1f} |")
'
rm -f "$log"
