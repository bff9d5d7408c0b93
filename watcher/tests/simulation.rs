//! The failover decision driven through thousands of seeded fault schedules in
//! virtual time (milliseconds), against a model of Route 53 (compare-and-swap), EC2,
//! the Auto Scaling group and the watcher's own timing: one invocation a minute,
//! probes on every tick whatever the rounds do, timeouts and AWS calls that take time
//! (`tests/model`).
//!
//! Invariants checked on every step of every schedule: nobody terminates a member or
//! switches away from one that was serving without a fault (so a booting replacement
//! is left to boot); the record never points at a member that cannot serve for
//! longer than four intervals while a healthy one exists; in schedules without
//! throttling or crashed watchers, a fault of the active coordinator with a healthy
//! standby is switched away from within its bound; never more switches than faults
//! of the active coordinator; no switch and no termination for pauses shorter than
//! the grace; and at the end the record is on a healthy coordinator. The tests at
//! the end break the decision's tuning on purpose and watch the checks fail.
//!
//! New coordinators wait in the launch hook until their engine serves, from a fresh
//! launch or from the warm pool (half the schedules have one).

mod model;

use std::time::Duration;

use model::*;

#[test]
fn five_thousand_fault_schedules_keep_every_invariant() {
    let mut tally = Tally::default();
    for seed in 1..=5_000 {
        run(&scenario(seed), &mut tally);
    }
    assert!(
        tally.failovers.len() > 2_000 && tally.bounded > 800,
        "the schedules caused too few failovers to mean much: {} ({} bounded)",
        tally.failovers.len(),
        tally.bounded
    );
    for kind in KINDS {
        if kind != Fault::ShortPause {
            assert!(
                tally.failovers.iter().any(|(k, _, _)| *k == kind),
                "no failover for {kind:?}"
            );
        }
    }
}

#[test]
fn every_kind_of_failure_of_the_active_is_replaced_within_its_bound() {
    for kind in KINDS.into_iter().filter(|k| *k != Fault::ShortPause) {
        for seed in 1..=300 {
            let scenario = Scenario::single(seed, kind);
            let mut tally = Tally::default();
            let world = run(&scenario, &mut tally);
            // A restart may be over before it counts; anything else is a failover.
            let failovers = tally.failovers.len();
            assert!(
                failovers == 1 || (kind == Fault::Restart && failovers == 0),
                "{kind:?} seed {seed}: {failovers} failovers"
            );
            assert_eq!(world.switches.len(), failovers, "{kind:?} seed {seed}");
            if let Some((_, coordinators, took)) = tally.failovers.first()
                && *coordinators > 1
            {
                assert!(took <= &kind.bound(), "{kind:?} seed {seed}: {took:?}");
            }
        }
    }
}

#[test]
fn an_exited_engine_is_replaced_at_the_refused_bound_not_the_grace() {
    let mut worst = Duration::ZERO;
    for seed in 1..=300 {
        let mut scenario = Scenario::single(seed, Fault::Exit);
        scenario.coordinators = 2;
        let mut tally = Tally::default();
        run(&scenario, &mut tally);
        worst = worst.max(tally.failovers[0].2);
    }
    assert!(worst < GRACE, "{worst:?}");
}

#[test]
fn a_lone_coordinator_comes_back_from_a_fresh_launch_in_minutes_and_from_the_warm_pool_in_seconds()
{
    for (warm_pool, within) in [(0, None), (1, Some(Duration::from_secs(90)))] {
        for seed in 1..=100 {
            let mut scenario = Scenario::single(seed, Fault::Exit);
            scenario.coordinators = 1;
            scenario.warm_pool = warm_pool;
            let mut tally = Tally::default();
            let world = run(&scenario, &mut tally);
            // One termination (the failed coordinator), one switch once the
            // replacement served.
            assert_eq!(world.terminations.len(), 1, "{:?}", world.terminations);
            assert_eq!(world.switches.len(), 1);
            let took = tally.failovers[0].2;
            match within {
                None => assert!(
                    took >= LAUNCH_DELAY + INSTALL + ENGINE_START,
                    "switched before a fresh replacement could serve: {took:?}"
                ),
                Some(bound) => assert!(
                    took >= WARM_START + ENGINE_START && took < bound,
                    "seed {seed}: {took:?}"
                ),
            }
        }
    }
}

#[test]
// Which check trips first depends on the schedule (a switch with no fault of the
// active behind it, or one at the end for a pause); each names the seed.
#[should_panic(expected = "seed")]
fn a_decision_that_switches_on_short_pauses_is_caught() {
    for seed in (1..=200).filter(|seed| scenario(*seed).spaced_short_pauses) {
        let mut short = scenario(seed);
        short.tuning.grace = Duration::from_millis(500);
        short.tuning.refused = Duration::from_millis(500);
        run(&short, &mut Tally::default());
    }
}

#[test]
#[should_panic(expected = "not replaced by")]
fn a_decision_that_waits_past_the_bound_is_caught() {
    let mut scenario = Scenario::single(3, Fault::Exit);
    scenario.coordinators = 2;
    scenario.tuning.refused = GRACE;
    run(&scenario, &mut Tally::default());
}
