//! Failover time, fault to record switched, for each failure kind of the active
//! coordinator, over the simulation's seeded fault schedules (virtual time, to the
//! millisecond).
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

type ByKind = BTreeMap<(bool, Fault), Vec<Duration>>;

fn main() {
    let seeds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5_000);
    println!(
        "simulation (virtual time, ms): probe interval {:?}, timeout {:?}, grace {:?}, refused {:?}; \
         AWS calls {:?} each; one invocation a minute watching {:?}; replacement launch {:?} + install {:?} + engine start {:?}; \
         failover = fault to record switched",
        INTERVAL, TIMEOUT, GRACE, REFUSED, AWS_CALL, RUN_FOR, LAUNCH_DELAY, INSTALL, ENGINE_START
    );
    // Single faults: one fault of each kind on the active coordinator at a random
    // moment, nothing else going wrong.
    let kinds: Vec<Fault> = KINDS
        .into_iter()
        .filter(|k| *k != Fault::ShortPause)
        .collect();
    let mut single = ByKind::new();
    for seed in 1..=seeds {
        let kind = kinds[(seed % kinds.len() as u64) as usize];
        let scenario = Scenario::single(seed, kind);
        let mut tally = Tally::default();
        run(&scenario, &mut tally);
        add(&mut single, tally);
    }
    println!("single faults ({seeds} schedules, 1-3 coordinators, 1-2 watchers, no throttling):");
    print_table(single);

    let mut mixed = ByKind::new();
    for seed in 1..=seeds {
        let mut tally = Tally::default();
        run(&scenario(seed), &mut tally);
        add(&mut mixed, tally);
    }
    println!(
        "mixed schedules (up to 4 faults on any member; half with throttling and watcher crashes):"
    );
    print_table(mixed);
}

fn add(by_kind: &mut ByKind, tally: Tally) {
    for (kind, coordinators, took) in tally.failovers {
        by_kind
            .entry((coordinators == 1, kind))
            .or_default()
            .push(took);
    }
}

fn print_table(by_kind: ByKind) {
    println!(
        "{:<12} {:<12} {:>6} {:>8} {:>8} {:>8}",
        "coordinators", "fault", "count", "p50", "p95", "max"
    );
    for ((alone, kind), mut times) in by_kind {
        times.sort();
        println!(
            "{:<12} {:<12} {:>6} {:>7.1}s {:>7.1}s {:>7.1}s",
            if alone { "1" } else { "2-3" },
            format!("{kind:?}"),
            times.len(),
            percentile(&times, 0.5).as_secs_f64(),
            percentile(&times, 0.95).as_secs_f64(),
            times[times.len() - 1].as_secs_f64()
        );
    }
}
