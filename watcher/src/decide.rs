//! The failover decision: a pure function of what was observed, what is remembered
//! from earlier observations, and the time. It returns the steps to take; the caller
//! takes them. Nothing here talks to AWS, so a virtual clock can drive it.

use std::collections::BTreeMap;
use std::time::Duration;

use presto_ha_coordinators::choice::{Probed, healthiest};
use presto_ha_coordinators::group::{Coordinator, InstanceId, InstanceState};
use presto_ha_coordinators::probe::Health;
use presto_ha_coordinators::record::ARecord;

/// The tuning the decision uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// How long the active coordinator (or a standby) must fail without a break
    /// before it is replaced.
    pub grace: Duration,
    /// How long after launch an instance may answer `starting` without counting as
    /// failing.
    pub startup_allowance: Duration,
    /// The record's TTL.
    pub ttl: u32,
}

/// One look at the coordinators and the record.
#[derive(Debug, Clone)]
pub struct Observation {
    /// When the look was taken, as time since the Unix epoch (wall clock, so that it
    /// means the same to the next invocation).
    pub at: Duration,
    /// The record's value.
    pub record: Option<ARecord>,
    /// Every member of the group; serving ones with their probe result.
    pub members: Vec<Coordinator>,
    /// The probes of the serving members.
    pub probes: Vec<Probed>,
}

/// What the decision remembers between observations: since when each member has
/// been failing without a break.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    failing_since: BTreeMap<InstanceId, Duration>,
}

/// A step of a plan, in the order to take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Terminate the instance through the ASG, keeping the desired capacity, so the
    /// group launches a replacement.
    Terminate {
        /// The instance.
        instance: InstanceId,
        /// Why.
        why: Why,
    },
    /// Compare-and-swap the record from `from` to `to`.
    Switch {
        /// The value read.
        from: Option<ARecord>,
        /// The new value.
        to: ARecord,
        /// The coordinator it points at.
        instance: InstanceId,
        /// Why.
        why: Why,
    },
}

/// The reason for a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The active coordinator failed for the whole grace period.
    ActiveFailed,
    /// The record points at no serving member (terminated, stopped, not in the
    /// group, or absent).
    RecordStray,
    /// A standby failed for the whole grace period.
    StandbyFailed,
    /// The instance is stopped or shutting down but still counted by the group.
    InstanceGone,
}

/// How old a saved memory may be and still be trusted: a watcher that ran within the
/// last two scheduled minutes saw every member it mentions; an older one may have
/// missed a recovery in between.
pub const NOTE_MAX_AGE: Duration = Duration::from_secs(120);

impl Memory {
    /// The memory as text, for keeping it across cold starts: `at=<ms>` then
    /// `<instance>=<ms since epoch>` for each failing member.
    pub fn to_note(&self, at: Duration) -> String {
        let mut note = format!("at={}", at.as_millis());
        for (instance, since) in &self.failing_since {
            note.push_str(&format!(" {instance}={}", since.as_millis()));
        }
        note
    }

    /// The memory a note holds, if it was written within [`NOTE_MAX_AGE`] of `now`;
    /// empty otherwise, or when the note cannot be read.
    pub fn from_note(note: &str, now: Duration) -> Self {
        let mut fields = note.split_whitespace().filter_map(|field| {
            let (key, millis) = field.split_once('=')?;
            Some((key, Duration::from_millis(millis.parse().ok()?)))
        });
        let fresh =
            matches!(fields.next(), Some(("at", at)) if now.saturating_sub(at) <= NOTE_MAX_AGE);
        if !fresh {
            return Self::default();
        }
        Self {
            failing_since: fields
                .map(|(id, since)| (InstanceId::new(id), since))
                .collect(),
        }
    }

    /// How long `instance` has been failing at `at`, if it is.
    pub fn failing_for(&self, instance: &InstanceId, at: Duration) -> Option<Duration> {
        self.failing_since
            .get(instance)
            .map(|since| at.saturating_sub(*since))
    }
}

/// Whether a probe result counts as failing for `member` at `at`.
fn is_failing(member: &Coordinator, health: &Health, at: Duration, tuning: &Tuning) -> bool {
    match health {
        Health::Healthy => false,
        Health::Starting => {
            let launched = member
                .launch_time
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .unwrap_or_default();
            at.saturating_sub(launched) > tuning.startup_allowance
        }
        Health::NotCoordinator | Health::Down(_) => true,
    }
}

/// Decides what to do about `observation`, updating `memory`.
pub fn plan(observation: &Observation, memory: &mut Memory, tuning: &Tuning) -> Vec<Step> {
    let at = observation.at;
    // Remember failures; forget recoveries and members that left.
    let mut failing_now = BTreeMap::new();
    for probed in &observation.probes {
        let id = &probed.coordinator.instance_id;
        if is_failing(&probed.coordinator, &probed.health, at, tuning) {
            let since = memory.failing_since.get(id).copied().unwrap_or(at);
            failing_now.insert(id.clone(), since);
        }
    }
    memory.failing_since = failing_now;
    let failed = |member: &Coordinator| {
        memory
            .failing_for(&member.instance_id, at)
            .is_some_and(|failing| failing >= tuning.grace)
    };

    let mut steps = Vec::new();
    let record_ip = observation.record.as_ref().and_then(ARecord::ip);
    let active = observation
        .probes
        .iter()
        .map(|p| &p.coordinator)
        .find(|c| c.serving_ip().is_some() && c.serving_ip() == record_ip);
    // Nobody healthy while the record points at a serving member and others exist may
    // mean that this watcher cannot see the cluster rather than that all of it failed
    // at once: then the active coordinator is left alone (terminating it would make
    // an outage of a blind spot). Standbys are replaced either way, so a cluster that
    // really failed whole gets a healthy member back, and with it a switch.
    let may_replace_active =
        observation.probes.iter().any(|p| p.health.is_healthy()) || observation.probes.len() == 1;
    let standbys: Vec<Probed> = observation
        .probes
        .iter()
        .filter(|p| Some(&p.coordinator.instance_id) != active.map(|a| &a.instance_id))
        .cloned()
        .collect();
    let switch_to = |why: Why| {
        healthiest(&standbys).and_then(|next| {
            Some(Step::Switch {
                from: observation.record.clone(),
                to: ARecord::single(next.serving_ip()?, tuning.ttl),
                instance: next.instance_id.clone(),
                why,
            })
        })
    };

    // Members EC2 reports stopped or shutting down that the group still counts:
    // replace them at once (a node gone needs no grace).
    for member in &observation.members {
        if member.in_service && member.state == InstanceState::Gone {
            steps.push(Step::Terminate {
                instance: member.instance_id.clone(),
                why: Why::InstanceGone,
            });
        }
    }

    match active {
        Some(active) if failed(active) => {
            // Fence first: a coordinator back from a long pause must not serve.
            if may_replace_active {
                steps.push(Step::Terminate {
                    instance: active.instance_id.clone(),
                    why: Why::ActiveFailed,
                });
                steps.extend(switch_to(Why::ActiveFailed));
            }
        }
        Some(_) => {}
        // The record points at nothing serving: move it as soon as someone is healthy.
        None => steps.extend(switch_to(Why::RecordStray)),
    }

    // Keep the standbys hot: replace one that failed for the whole grace.
    for standby in &standbys {
        if failed(&standby.coordinator) {
            steps.push(Step::Terminate {
                instance: standby.coordinator.instance_id.clone(),
                why: Why::StandbyFailed,
            });
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::UNIX_EPOCH;

    use presto_ha_coordinators::probe::ProbeFailure;

    use super::*;

    const AT: Duration = Duration::from_secs(100_000);
    const TUNING: Tuning = Tuning {
        grace: Duration::from_secs(15),
        startup_allowance: Duration::from_secs(600),
        ttl: 5,
    };

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }

    /// Member `i-n` at 10.0.0.n, launched `age` before [`AT`]; a lower n is older.
    fn member(n: u8, age: Duration, state: InstanceState) -> Coordinator {
        Coordinator {
            instance_id: InstanceId::new(format!("i-{n}")),
            private_ip: Some(ip(n)),
            in_service: true,
            state,
            launch_time: Some(UNIX_EPOCH + AT - age + Duration::from_secs(u64::from(n))),
            protected: false,
        }
    }

    fn old(n: u8) -> Coordinator {
        member(n, Duration::from_secs(50_000), InstanceState::Running)
    }

    fn down() -> Health {
        Health::Down(ProbeFailure::TimedOut)
    }

    struct Case {
        name: &'static str,
        /// The record's address, by member number (`Some(9)`: no member has it).
        record: Option<u8>,
        members: Vec<(Coordinator, Health)>,
        /// Members failing since this long before [`AT`], as remembered.
        failing_for: Vec<(u8, u64)>,
        expected: Vec<Step>,
    }

    fn terminate(n: u8, why: Why) -> Step {
        Step::Terminate {
            instance: InstanceId::new(format!("i-{n}")),
            why,
        }
    }

    fn switch(record: Option<u8>, to: u8, why: Why) -> Step {
        Step::Switch {
            from: record.map(|n| ARecord::single(ip(n), 5)),
            to: ARecord::single(ip(to), 5),
            instance: InstanceId::new(format!("i-{to}")),
            why,
        }
    }

    #[test]
    fn plan_covers_every_reason_and_every_health() {
        let starting_young = member(1, Duration::from_secs(60), InstanceState::Running);
        let starting_old = member(1, Duration::from_secs(700), InstanceState::Running);
        let cases = vec![
            Case {
                name: "all healthy: nothing",
                record: Some(1),
                members: vec![(old(1), Health::Healthy), (old(2), Health::Healthy)],
                failing_for: vec![],
                expected: vec![],
            },
            Case {
                name: "active down for less than the grace: nothing yet",
                record: Some(1),
                members: vec![(old(1), down()), (old(2), Health::Healthy)],
                failing_for: vec![(1, 14)],
                expected: vec![],
            },
            Case {
                name: "active down for the grace: fence, then switch to the oldest healthy",
                record: Some(1),
                members: vec![
                    (old(1), down()),
                    (old(3), Health::Healthy),
                    (old(2), Health::Healthy),
                ],
                failing_for: vec![(1, 15)],
                expected: vec![
                    terminate(1, Why::ActiveFailed),
                    switch(Some(1), 2, Why::ActiveFailed),
                ],
            },
            Case {
                name: "active answering as a worker counts as failing",
                record: Some(1),
                members: vec![(old(1), Health::NotCoordinator), (old(2), Health::Healthy)],
                failing_for: vec![(1, 20)],
                expected: vec![
                    terminate(1, Why::ActiveFailed),
                    switch(Some(1), 2, Why::ActiveFailed),
                ],
            },
            Case {
                name: "starting within the start-up allowance is not failing",
                record: Some(1),
                members: vec![
                    (starting_young, Health::Starting),
                    (old(2), Health::Healthy),
                ],
                failing_for: vec![(1, 59)],
                expected: vec![],
            },
            Case {
                name: "starting past the start-up allowance is failing",
                record: Some(1),
                members: vec![(starting_old, Health::Starting), (old(2), Health::Healthy)],
                failing_for: vec![(1, 20)],
                expected: vec![
                    terminate(1, Why::ActiveFailed),
                    switch(Some(1), 2, Why::ActiveFailed),
                ],
            },
            Case {
                name: "nobody healthy: the active is left alone, failed standbys replaced",
                record: Some(1),
                members: vec![(old(1), down()), (old(2), down())],
                failing_for: vec![(1, 30), (2, 30)],
                expected: vec![terminate(2, Why::StandbyFailed)],
            },
            Case {
                name: "a single coordinator that failed is replaced",
                record: Some(1),
                members: vec![(old(1), down())],
                failing_for: vec![(1, 15)],
                expected: vec![terminate(1, Why::ActiveFailed)],
            },
            Case {
                name: "record on no member: moved to the oldest healthy",
                record: Some(9),
                members: vec![(old(1), Health::Healthy), (old(2), Health::Healthy)],
                failing_for: vec![],
                expected: vec![switch(Some(9), 1, Why::RecordStray)],
            },
            Case {
                name: "no record: set to the oldest healthy",
                record: None,
                members: vec![(old(2), Health::Healthy), (old(1), down())],
                failing_for: vec![],
                expected: vec![switch(None, 2, Why::RecordStray)],
            },
            Case {
                name: "record stray and nobody healthy: nothing to switch to",
                record: Some(9),
                members: vec![(old(1), down())],
                failing_for: vec![(1, 5)],
                expected: vec![],
            },
            Case {
                name: "a stopped member still in service is replaced at once",
                record: Some(1),
                members: vec![
                    (old(1), Health::Healthy),
                    (
                        member(2, Duration::from_secs(50_000), InstanceState::Gone),
                        Health::Healthy,
                    ),
                ],
                failing_for: vec![],
                expected: vec![terminate(2, Why::InstanceGone)],
            },
            Case {
                name: "a standby down for the grace is replaced, the active kept",
                record: Some(1),
                members: vec![
                    (old(1), Health::Healthy),
                    (old(2), Health::Down(ProbeFailure::Status(500))),
                ],
                failing_for: vec![(2, 16)],
                expected: vec![terminate(2, Why::StandbyFailed)],
            },
            Case {
                name: "a standby failing for less than the grace is kept",
                record: Some(1),
                members: vec![
                    (old(1), Health::Healthy),
                    (
                        old(2),
                        Health::Down(ProbeFailure::Unreachable("refused".into())),
                    ),
                ],
                failing_for: vec![(2, 3)],
                expected: vec![],
            },
        ];
        for case in cases {
            let observation = Observation {
                at: AT,
                record: case.record.map(|n| ARecord::single(ip(n), 5)),
                members: case.members.iter().map(|(m, _)| m.clone()).collect(),
                probes: case
                    .members
                    .iter()
                    .filter(|(m, _)| m.serving_ip().is_some())
                    .map(|(m, health)| Probed {
                        coordinator: m.clone(),
                        health: health.clone(),
                    })
                    .collect(),
            };
            let mut memory = Memory::default();
            for (n, seconds) in &case.failing_for {
                memory.failing_since.insert(
                    InstanceId::new(format!("i-{n}")),
                    AT - Duration::from_secs(*seconds),
                );
            }
            assert_eq!(
                plan(&observation, &mut memory, &TUNING),
                case.expected,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn a_recovery_is_forgotten_and_a_new_failure_starts_its_grace_now() {
        let observation = |health: Health| Observation {
            at: AT,
            record: Some(ARecord::single(ip(1), 5)),
            members: vec![old(1), old(2)],
            probes: vec![
                Probed {
                    coordinator: old(1),
                    health,
                },
                Probed {
                    coordinator: old(2),
                    health: Health::Healthy,
                },
            ],
        };
        let mut memory = Memory::default();
        memory
            .failing_since
            .insert(InstanceId::new("i-1"), AT - Duration::from_secs(10));
        assert!(plan(&observation(Health::Healthy), &mut memory, &TUNING).is_empty());
        assert_eq!(memory, Memory::default());
        assert!(plan(&observation(down()), &mut memory, &TUNING).is_empty());
        assert_eq!(
            memory.failing_for(&InstanceId::new("i-1"), AT),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn a_fresh_note_restores_the_memory_and_a_stale_one_is_ignored() {
        let mut memory = Memory::default();
        memory
            .failing_since
            .insert(InstanceId::new("i-1"), Duration::from_millis(1_000_500));
        memory
            .failing_since
            .insert(InstanceId::new("i-2"), Duration::from_millis(1_003_000));
        let at = Duration::from_millis(1_010_000);
        let note = memory.to_note(at);
        assert_eq!(note, "at=1010000 i-1=1000500 i-2=1003000");
        assert_eq!(
            Memory::from_note(&note, at + Duration::from_secs(30)),
            memory
        );
        assert_eq!(
            Memory::from_note(&note, at + NOTE_MAX_AGE + Duration::from_secs(1)),
            Memory::default()
        );
        for unreadable in ["", "garbage", "i-1=5 at=1010000", "at=soon i-1=5"] {
            assert_eq!(
                Memory::from_note(unreadable, at),
                Memory::default(),
                "{unreadable:?}"
            );
        }
    }
}
