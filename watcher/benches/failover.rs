//! Failover time, fault to record switched, for each failure kind of the active
//! coordinator, over the simulation's seeded fault schedules (virtual time).
//!
//! Run with `cargo bench -p presto-ha-watcher --bench failover [-- SEEDS]`.

#[path = "../tests/model/mod.rs"]
mod model;

use std::collections::BTreeMap;
use std::time::Duration;

use model::*;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

fn main() {
    let seeds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5_000);
    println!(
        "simulation (virtual time): probe interval {}s, grace {}s, replacement launch {}s + Presto boot {}s; \
         failover = fault to record switched",
        INTERVAL.as_secs(),
        GRACE.as_secs(),
        LAUNCH_DELAY.as_secs(),
        BOOT.as_secs()
    );
    // Single faults: one fault of each kind on the active coordinator at a random
    // moment, nothing else going wrong.
    let kinds = [
        Fault::Crash,
        Fault::Hang,
        Fault::LongPause,
        Fault::Stop,
        Fault::Terminate,
    ];
    let mut single: BTreeMap<(bool, String), Vec<Duration>> = BTreeMap::new();
    for seed in 1..=seeds {
        let mut rng = Rng(seed | 1);
        let kind = kinds[(seed % kinds.len() as u64) as usize];
        let scenario = Scenario {
            seed,
            coordinators: 1 + rng.below(3) as usize,
            watchers: 1 + rng.below(2) as usize,
            faults: vec![(Duration::from_secs(1_000 + rng.below(400)), kind, 0)],
            crash_percent: 0,
            throttle_percent: 0,
            spaced_short_pauses: false,
        };
        let mut tally = Tally::default();
        run(&scenario, &mut tally);
        for (kind, took) in tally.failovers {
            single
                .entry((scenario.coordinators == 1, format!("{kind:?}")))
                .or_default()
                .push(took);
        }
    }
    println!("single faults ({seeds} schedules, 1-3 coordinators, 1-2 watchers, no throttling):");
    print_table(single);

    let mut by_kind: BTreeMap<(bool, String), Vec<Duration>> = BTreeMap::new();
    for seed in 1..=seeds {
        let scenario = scenario(seed);
        let mut tally = Tally::default();
        run(&scenario, &mut tally);
        for (kind, took) in tally.failovers {
            by_kind
                .entry((scenario.coordinators == 1, format!("{kind:?}")))
                .or_default()
                .push(took);
        }
    }
    println!("mixed schedules (up to 4 faults on any member, throttling and watcher crashes):");
    print_table(by_kind);
}

fn print_table(by_kind: BTreeMap<(bool, String), Vec<Duration>>) {
    println!(
        "{:<12} {:<12} {:>6} {:>8} {:>8} {:>8}",
        "coordinators", "fault", "count", "p50", "p95", "max"
    );
    for ((alone, kind), mut times) in by_kind {
        times.sort();
        println!(
            "{:<12} {:<12} {:>6} {:>7.0}s {:>7.0}s {:>7.0}s",
            if alone { "1" } else { "2-3" },
            kind,
            times.len(),
            percentile(&times, 0.5).as_secs_f64(),
            percentile(&times, 0.95).as_secs_f64(),
            times[times.len() - 1].as_secs_f64()
        );
    }
}
