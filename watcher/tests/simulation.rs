//! The failover decision driven through thousands of seeded fault schedules in
//! virtual time (milliseconds), against a model of Route 53 (compare-and-swap), EC2,
//! the Auto Scaling group and the watcher's own timing: one invocation a minute,
//! probes on every tick whatever the rounds do, timeouts and AWS calls that take time
//! (`tests/model`).
//!
//! Invariants checked on every step of every schedule: nobody terminates a member or
//! switches away from one that was serving without a fault (so a booting replacement
//! is left to boot); the record never points at a member that cannot serve for
//! longer than eight intervals while a healthy one exists (the next round's interval
//! and timeout, the turn of the minute, and a throttled switch or two tried again); in
//! schedules without throttling or crashed watchers, a fault of the active
//! coordinator with a healthy standby is switched away from within its bound, which
//! is per kind and per place in the minute (`Fault::bound`); never more switches
//! than faults of the active coordinator; no switch and no termination for pauses
//! shorter than the grace, drawn up to the grace itself (long ones from the grace
//! on); after each round, a failure that began in the batches it took counts from
//! its first failing probe, whichever batch brought it; and at the end the record is
//! on a healthy coordinator. Some troubled schedules have slow AWS calls (up to 3 s),
//! so that rounds outlast an interval and batches wait for them. The tests at the end
//! break the decision's tuning on purpose and watch the checks fail, each with its
//! own message.
//!
//! New coordinators wait in the launch hook until their engine serves, from a fresh
//! launch or from the warm pool (half the schedules have one).

mod model;

use std::ops::RangeInclusive;
use std::time::Duration;

use model::*;
use presto_ha_watcher::decide::Tuning;

#[test]
fn five_thousand_fault_schedules_keep_every_invariant() {
    let mut tally = Tally::default();
    let mut reused = 0;
    for seed in 1..=5_000 {
        reused += run(&scenario(seed), &mut tally).reused;
    }
    // Replacements get the addresses of instances gone, as EC2 gives them out again.
    assert!(reused > 500, "only {reused} addresses were reused");
    // Batches come back while rounds act (a timeout, a slow call), and the watcher's
    // own look decides them for the memory only.
    assert!(
        tally.caught_up > 100,
        "only {} batches were decided for the memory only",
        tally.caught_up
    );
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
            // A restart, or a pause hardly longer than the grace, may be over before
            // it counts; anything else is a failover.
            let failovers = tally.failovers.len();
            assert!(
                failovers == 1
                    || (matches!(kind, Fault::Restart | Fault::LongPause) && failovers == 0),
                "{kind:?} seed {seed}: {failovers} failovers"
            );
            // A lone coordinator's replacement that got its address back takes the
            // record without a switch.
            assert!(
                world.switches.len() == failovers
                    || (world.switches.is_empty() && world.reused > 0),
                "{kind:?} seed {seed}: {:?}",
                world.switches
            );
            if let Some((_, coordinators, took)) = tally.failovers.first()
                && *coordinators > 1
            {
                let bound = kind.bound(scenario.faults[0].0);
                assert!(took <= &bound, "{kind:?} seed {seed}: {took:?} > {bound:?}");
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
            // (None when the replacement got the failed one's address back: the
            // record already points at it.)
            assert!(
                world.switches.len() == 1 || (world.switches.is_empty() && world.reused > 0),
                "{:?}",
                world.switches
            );
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

/// Runs the schedules among the first `seeds` whose faults are all short, spaced
/// pauses, with the decision's tuning `broken`.
fn short_pauses(seeds: u64, broken: impl Fn(&mut Tuning)) {
    for seed in (1..=seeds).filter(|seed| scenario(*seed).spaced_short_pauses) {
        let mut short = scenario(seed);
        broken(&mut short.tuning);
        run(&short, &mut Tally::default());
    }
}

/// Runs a single `kind` fault of the active coordinator with a standby, for each of
/// `seeds`, with the scenario `changed`.
fn single_faults(kind: Fault, seeds: RangeInclusive<u64>, changed: impl Fn(&mut Scenario)) {
    for seed in seeds {
        let mut scenario = Scenario::single(seed, kind);
        scenario.coordinators = 2;
        changed(&mut scenario);
        run(&scenario, &mut Tally::default());
    }
}

#[test]
// Which check trips first depends on the schedule (a switch with no fault of the
// active behind it, or one at the end for a pause); each names the seed.
#[should_panic(expected = "seed")]
fn a_decision_that_switches_on_short_pauses_is_caught() {
    short_pauses(200, |tuning| {
        tuning.grace = Duration::from_millis(500);
        tuning.refused = Duration::from_millis(500);
    });
}

#[test]
#[should_panic(expected = "not replaced by")]
fn a_decision_that_waits_past_the_bound_is_caught() {
    single_faults(Fault::Exit, 3..=3, |s| s.tuning.refused = GRACE);
}

/// A grace two seconds short (a decision that switched for pauses up to two seconds
/// shorter than the grace the README states) is caught: pauses are drawn up to the
/// grace itself, and the end of the schedule finds a switch for one of them.
#[test]
#[should_panic(expected = "for a pause shorter than the grace")]
fn a_grace_two_seconds_short_is_caught() {
    short_pauses(400, |tuning| tuning.grace = GRACE - INTERVAL);
}

/// A grace two seconds long is caught by the bound a hang is held to.
#[test]
#[should_panic(expected = "Hang of the active not replaced by")]
fn a_grace_two_seconds_long_is_caught() {
    single_faults(Fault::Hang, 1..=300, |s| s.tuning.grace = GRACE + INTERVAL);
}

/// A refused bound two seconds long is caught by the bound an exited engine is held
/// to.
#[test]
#[should_panic(expected = "Exit of the active not replaced by")]
fn a_refused_bound_two_seconds_long_is_caught() {
    single_faults(Fault::Exit, 1..=300, |s| {
        s.tuning.refused = REFUSED + INTERVAL
    });
}

/// The model runs at the template's defaults and the watcher's own timing, not at
/// copies of them.
#[test]
fn the_model_runs_at_the_template_defaults_and_the_watchers_timing() {
    use presto_ha_generator::settings::StackSettings;
    let defaults = StackSettings::default();
    let seconds = |n: u16| Duration::from_secs(n.into());
    assert_eq!(INTERVAL, seconds(defaults.probe_interval_seconds));
    assert_eq!(TIMEOUT, seconds(defaults.probe_timeout_seconds));
    assert_eq!(GRACE, seconds(defaults.grace_seconds));
    assert_eq!(REFUSED, seconds(defaults.refused_seconds));
    assert_eq!(RUN_FOR, presto_ha_watcher::settings::RUN_FOR);
    assert_eq!(
        presto_ha_generator::template::WATCHER_SCHEDULE,
        "rate(1 minute)"
    );
    assert_eq!(SCHEDULE, Duration::from_secs(60));
    assert_eq!(
        tuning().startup_allowance,
        presto_ha_watcher::settings::STARTUP_ALLOWANCE
    );
}

/// A watcher whose process dies (anywhere in a round: before its steps, between
/// them, before its note) loses its memory; its next invocation starts cold and
/// recalls the failure from the note, so a hung active coordinator is still replaced
/// within its bound plus the wait for that invocation. The bound holds in every
/// schedule, throttled and crashed ones included.
fn crashing_watchers(forget_notes: bool) {
    single_faults(Fault::Hang, 1..=300, |s| {
        s.watchers = 1;
        s.crash_percent = 30;
        s.forget_notes = forget_notes;
    });
}

#[test]
fn a_crashed_watcher_resumes_the_grace_from_its_note() {
    crashing_watchers(false);
}

/// The same with a cold start that ignores the note: the grace starts again, and the
/// bound catches it.
#[test]
#[should_panic(expected = "Hang of the active not replaced by")]
fn a_watcher_that_forgets_at_a_crash_is_caught() {
    crashing_watchers(true);
}

/// A look that drops the batches that came back while a round acted, instead of
/// deciding them for the memory, counts a failure from a later probe than its first:
/// caught by its own check in the schedules where batches come back so (the
/// 5,000-schedule test shows that they do).
#[test]
#[should_panic(expected = "after its first failing probe")]
fn a_look_that_drops_the_earlier_batches_is_caught() {
    for seed in 1..=5_000 {
        let mut s = scenario(seed);
        s.look_at_newest_only = true;
        run(&s, &mut Tally::default());
    }
}
