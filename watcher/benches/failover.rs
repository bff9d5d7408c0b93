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

type ByKind = BTreeMap<(&'static str, Fault), Vec<Duration>>;

fn main() {
    let seeds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5_000);
    println!(
        "simulation (virtual time, ms): probe interval {:?}, timeout {:?}, grace {:?}, refused {:?}; \
         AWS calls {}-{}ms each, probe answers {}-{}ms; one invocation a minute watching {:?}; replacement launch {:?} + install {:?} + engine start {:?}, \
         or from the warm pool start {:?} + engine start; failover = fault to record switched",
        INTERVAL,
        TIMEOUT,
        GRACE,
        REFUSED,
        AWS_CALL.start(),
        AWS_CALL.end(),
        ANSWER.start(),
        ANSWER.end(),
        RUN_FOR,
        LAUNCH_DELAY,
        INSTALL,
        ENGINE_START,
        WARM_START
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
        add(&mut single, &scenario, tally);
    }
    println!(
        "single faults ({seeds} schedules, 1-3 coordinators, 1-2 watchers, warm pool 0 or 1, no throttling):"
    );
    print_table(single);

    let mut mixed = ByKind::new();
    for seed in 1..=seeds {
        let scenario = scenario(seed);
        let mut tally = Tally::default();
        run(&scenario, &mut tally);
        add(&mut mixed, &scenario, tally);
    }
    println!(
        "mixed schedules (up to 4 faults on any member; half with throttling and watcher crashes):"
    );
    print_table(mixed);
}

/// With a standby the warm pool changes nothing; alone, everything.
fn add(by_kind: &mut ByKind, scenario: &Scenario, tally: Tally) {
    let group = match (scenario.coordinators, scenario.warm_pool) {
        (1, 0) => "1, no pool",
        (1, _) => "1, warm pool",
        _ => "2-3",
    };
    for (kind, _, took) in tally.failovers {
        by_kind.entry((group, kind)).or_default().push(took);
    }
}

fn print_table(by_kind: ByKind) {
    println!(
        "{:<14} {:<10} {:>6} {:>8} {:>8} {:>8}",
        "coordinators", "fault", "count", "p50", "p95", "max"
    );
    for ((group, kind), mut times) in by_kind {
        times.sort();
        println!(
            "{:<14} {:<10} {:>6} {:>7.1}s {:>7.1}s {:>7.1}s",
            group,
            format!("{kind:?}"),
            times.len(),
            percentile(&times, 0.5).as_secs_f64(),
            percentile(&times, 0.95).as_secs_f64(),
            times[times.len() - 1].as_secs_f64()
        );
    }
}
