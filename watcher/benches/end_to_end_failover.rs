//! Failover time in the end-to-end harness: the real watcher binary, the stack in the
//! AWS emulator, coordinators played by HTTP servers on loopback. For each failure
//! kind of the active coordinator, the time from the fault to the record holding
//! another coordinator, as read back from the emulator every 50 ms.
//!
//! Needs the emulator: run it through `scripts/bench.sh`.

#[path = "../tests/fixture/mod.rs"]
mod fixture;

use std::time::{Duration, Instant};

use fixture::*;
use presto_ha_test_support::presto::Behaviour;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Refused,
    Hung,
    Terminated,
}

async fn failover(kind: Kind, round: u32) -> Duration {
    let name = format!("bench-{kind:?}-{round}").to_lowercase();
    let mut f = Fixture::with(&name, 2, DEFAULT_TIMINGS, &[]).await;
    let (config, zone) = (f.config.clone(), f.zone.clone());
    let old = f.coordinators[0].clone();
    let fake = f.presto[&old.1].control();
    let seconds = DEFAULT_TIMINGS.grace + 8;
    let event = match kind {
        Kind::Terminated => state_change(&old.0, "terminated"),
        _ => scheduled(),
    };
    let measure = async move {
        // Let the watcher's first rounds see a healthy cluster; each round's fault
        // falls at another point between two probes (0.4 s further each round).
        if !matches!(kind, Kind::Terminated) {
            let phase = u64::from(round) * 400 % (DEFAULT_TIMINGS.interval * 1_000);
            tokio::time::sleep(Duration::from_millis(3_000 + phase)).await;
        }
        let started = Instant::now();
        match kind {
            Kind::Refused => fake.stop(),
            Kind::Hung => fake.set(Behaviour::Hung),
            Kind::Terminated => {
                aws_sdk_ec2::Client::new(&config)
                    .terminate_instances()
                    .instance_ids(&old.0)
                    .send()
                    .await
                    .expect("terminate");
                fake.stop();
            }
        }
        // The state-change case measures from the termination, before the event is
        // delivered (the invocation starts with it).
        while record_ip(&config, &zone).await == Some(old.1.to_string()) {
            assert!(started.elapsed() < Duration::from_secs(60), "no failover");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        started.elapsed()
    };
    f.run_with(event, seconds, measure).await
}

#[tokio::main]
async fn main() {
    let rounds: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    println!(
        "end to end: real watcher binary, moto, 2 coordinators on loopback; the template's defaults: {DEFAULT_TIMINGS:?}; {rounds} rounds each"
    );
    println!("{:<12} {:>8} {:>8} {:>8}", "fault", "p50", "p95", "max");
    for kind in [Kind::Refused, Kind::Hung, Kind::Terminated] {
        let mut times = Vec::new();
        for round in 0..rounds {
            times.push(failover(kind, round).await);
        }
        times.sort();
        let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize].as_secs_f64();
        println!(
            "{:<12} {:>7.1}s {:>7.1}s {:>7.1}s",
            format!("{kind:?}"),
            at(0.5),
            at(0.95),
            at(1.0)
        );
    }
}
