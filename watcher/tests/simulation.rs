//! The failover decision driven by a virtual clock through thousands of seeded
//! random fault schedules, against a model of Route 53 (atomic compare-and-swap:
//! the switch applies only if the record still holds what was read), EC2 and the
//! Auto Scaling group (a terminated or stopped member is replaced after a launch
//! delay, and the replacement's Presto starts after a boot time).
//!
//! Invariants checked on every step: the record never points at a member that cannot
//! serve for longer than the bound while a healthy one exists; every switch moves
//! away from a distinct record value (one switch per failure, however many watchers
//! race); no switch or termination for a pause shorter than the grace; a hung or
//! crashed active coordinator is replaced within grace + one probe interval + 2 s; and
//! once the faults stop, the record settles on a healthy coordinator.

mod model;

use std::time::Duration;

use model::*;
use presto_ha_coordinators::record::ARecord;
use presto_ha_watcher::decide::{Memory, Step, Why, plan};

#[test]
fn thousands_of_fault_schedules_keep_every_invariant() {
    let mut tally = Tally::default();
    for seed in 1..=3_000 {
        run(&scenario(seed), &mut tally);
    }
    assert!(
        tally.failovers.len() > 500,
        "the schedules caused too few failovers to mean much: {}",
        tally.failovers.len()
    );
}

#[test]
fn a_crashed_or_hung_active_is_replaced_within_grace_plus_one_interval_plus_2s() {
    for (seed, fault) in [(1, Fault::Crash), (2, Fault::Hang), (3, Fault::LongPause)] {
        let mut tally = Tally::default();
        let s = Scenario {
            seed,
            coordinators: 3,
            watchers: 1,
            faults: vec![(Duration::from_secs(1_101), fault, 0)],
            crash_percent: 0,
            throttle_percent: 0,
            spaced_short_pauses: false,
        };
        run(&s, &mut tally);
        assert_eq!(tally.failovers.len(), 1, "{fault:?}");
        let (kind, took) = tally.failovers[0];
        assert_eq!(kind, fault);
        assert!(
            took <= GRACE + INTERVAL + Duration::from_secs(2),
            "{fault:?}: {took:?}"
        );
    }
}

#[test]
fn a_terminated_or_stopped_active_is_replaced_at_the_next_probe() {
    for fault in [Fault::Terminate, Fault::Stop] {
        let mut world = World::new(2);
        let mut memory = Memory::default();
        world.advance(Duration::from_secs(1_102));
        let active = world.active().expect("active").id.clone();
        match fault {
            Fault::Stop => {
                world
                    .nodes
                    .iter_mut()
                    .find(|n| n.id == active)
                    .expect("node")
                    .stopped = true
            }
            _ => world.terminate(&active),
        }
        world.advance(world.now);
        let steps = plan(&world.observe(), &mut memory, &tuning());
        assert!(
            steps.iter().any(|step| matches!(
                step,
                Step::Switch {
                    why: Why::RecordStray,
                    ..
                }
            )),
            "{fault:?}: {steps:?}"
        );
    }
}

#[test]
fn with_one_coordinator_the_record_moves_once_the_replacement_is_healthy() {
    let mut world = World::new(1);
    let mut memory = Memory::default();
    let old = world.nodes[0].ip;
    world.nodes[0].presto = Presto::Crashed;
    let mut switched_at = None;
    for _ in 0..200 {
        let steps = plan(&world.observe(), &mut memory, &tuning());
        world.apply(&steps, false, false);
        if switched_at.is_none() && world.record.as_ref().and_then(ARecord::ip) != Some(old) {
            switched_at = Some(world.now);
            let new = world.active().expect("switched to a serving member");
            assert!(
                world.now >= new.launched + BOOT,
                "switched before the replacement was healthy"
            );
        }
        world.advance(world.now + INTERVAL);
    }
    assert!(switched_at.is_some(), "never switched: {:?}", world.record);
    assert_eq!(world.switches.len(), 1);
}
