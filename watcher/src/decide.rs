//! The failover decision: a pure function of what was observed, what is remembered
//! from earlier observations, and the time. It returns the steps to take; the caller
//! takes them. Nothing here talks to AWS, so a virtual clock can drive it.

use std::collections::BTreeMap;
use std::time::Duration;

use presto_ha_coordinators::choice::{Probed, healthiest};
use presto_ha_coordinators::group::{Coordinator, InstanceId, InstanceState};
use presto_ha_coordinators::probe::{Health, ProbeFailure};
use presto_ha_coordinators::record::ARecord;

/// The tuning the decision uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// How long the active coordinator (or a standby) must fail without a break
    /// before it is replaced.
    pub grace: Duration,
    /// How long the active coordinator may do nothing but refuse connections (nothing
    /// listens on its port: the engine exited, or is being restarted) before it is
    /// replaced; at most the grace.
    pub refused: Duration,
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
    /// When the probes were sent (the latest, if some were sent later): a member's
    /// failure counts from the moment its first failing probe left, not from when
    /// its timeout ran out.
    pub sent: Duration,
    /// The record's value.
    pub record: Option<ARecord>,
    /// Every member of the group; serving ones with their probe result.
    pub members: Vec<Coordinator>,
    /// The probes of the serving members.
    pub probes: Vec<Probed>,
}

/// What the decision remembers between observations: since when each member has
/// been failing without a break, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    failing: BTreeMap<InstanceId, Failing>,
}

/// One member's unbroken failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failing {
    /// When its first failing probe was sent.
    since: Duration,
    /// Whether every failing probe so far was refused, or answered `starting` after a
    /// refusal (the engine restarting): nothing listened, so nothing is paused.
    refused_only: bool,
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
    /// The active coordinator refused connections for the refused bound: its engine
    /// is not running, which no grace will change.
    ActiveRefused,
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
    /// `<instance>=<ms since epoch>` for each failing member, with `:refused` after
    /// it when the member has only refused.
    pub fn to_note(&self, at: Duration) -> String {
        let mut note = format!("at={}", at.as_millis());
        for (instance, failing) in &self.failing {
            note.push_str(&format!(" {instance}={}", failing.since.as_millis()));
            if failing.refused_only {
                note.push_str(REFUSED_MARK);
            }
        }
        note
    }

    /// The memory a note holds, if it was written within [`NOTE_MAX_AGE`] of `now`;
    /// empty otherwise, or when the note cannot be read.
    pub fn from_note(note: &str, now: Duration) -> Self {
        let mut fields = note.split_whitespace().filter_map(|field| {
            let (key, value) = field.split_once('=')?;
            let (millis, refused_only) = match value.strip_suffix(REFUSED_MARK) {
                Some(millis) => (millis, true),
                None => (value, false),
            };
            let since = Duration::from_millis(millis.parse().ok()?);
            Some((
                key,
                Failing {
                    since,
                    refused_only,
                },
            ))
        });
        let fresh = matches!(
            fields.next(),
            Some(("at", at)) if !at.refused_only && now.saturating_sub(at.since) <= NOTE_MAX_AGE
        );
        if !fresh {
            return Self::default();
        }
        Self {
            failing: fields
                .map(|(id, failing)| (InstanceId::new(id), failing))
                .collect(),
        }
    }

    /// How long `instance` has been failing at `at`, if it is.
    pub fn failing_for(&self, instance: &InstanceId, at: Duration) -> Option<Duration> {
        self.failing
            .get(instance)
            .map(|failing| at.saturating_sub(failing.since))
    }
}

/// What follows a failing member's time in the note when it has only refused.
const REFUSED_MARK: &str = ":refused";

/// How a probe result counts for `member`, given how it was failing before: `None`
/// when it is not failing, else whether the failure is still refusals only.
///
/// A member launched within the start-up allowance that the record does not point at
/// is booting: whatever it answers (nothing listens while it installs, then
/// `starting`) is not a failure until the allowance has passed. (The group's launch
/// hook keeps a new coordinator out of service until it serves; this covers one put
/// in service otherwise.) The member the record points at was healthy when it got
/// it, so everything it answers counts from the first: `starting` is its engine
/// restarting, one restart with the refusals before it.
fn failure(
    member: &Coordinator,
    health: &Health,
    active: bool,
    before: Option<&Failing>,
    at: Duration,
    tuning: &Tuning,
) -> Option<bool> {
    let launched = member
        .launch_time
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    let young = at.saturating_sub(launched) <= tuning.startup_allowance;
    let refused_before = before.is_none_or(|f| f.refused_only);
    match health {
        Health::Healthy => None,
        _ if young && !active => None,
        Health::Down(ProbeFailure::Refused) => Some(refused_before),
        Health::Starting if before.is_some_and(|f| f.refused_only) => Some(true),
        Health::Starting | Health::NotCoordinator | Health::Down(_) => Some(false),
    }
}

/// Decides what to do about `observation`, updating `memory`.
pub fn plan(observation: &Observation, memory: &mut Memory, tuning: &Tuning) -> Vec<Step> {
    let at = observation.at;
    let record_ip = observation.record.as_ref().and_then(ARecord::ip);
    let is_active = |c: &Coordinator| c.serving_ip().is_some() && c.serving_ip() == record_ip;
    // Remember failures from when their first probe was sent; forget recoveries and
    // members that left or stopped serving.
    let mut failing_now = BTreeMap::new();
    for probed in &observation.probes {
        let member = &probed.coordinator;
        let before = memory.failing.get(&member.instance_id);
        let active = is_active(member);
        if let Some(refused_only) = failure(member, &probed.health, active, before, at, tuning) {
            let since = before.map_or(observation.sent, |f| f.since);
            failing_now.insert(
                member.instance_id.clone(),
                Failing {
                    since,
                    refused_only,
                },
            );
        }
    }
    // A serving member this look has no probe of (one that joined since the probes
    // left) keeps what was remembered.
    for member in &observation.members {
        let probed = observation
            .probes
            .iter()
            .any(|p| p.coordinator.instance_id == member.instance_id);
        if member.serving_ip().is_some()
            && !probed
            && let Some(failing) = memory.failing.get(&member.instance_id)
        {
            failing_now.insert(member.instance_id.clone(), *failing);
        }
    }
    memory.failing = failing_now;
    let mut steps = Vec::new();
    let active = observation
        .probes
        .iter()
        .map(|p| &p.coordinator)
        .find(|c| is_active(c));
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
    // The bound a member's failure is held to: the refused bound for an active
    // coordinator that has only refused while a healthy standby can take over (the
    // engine is not running; a standby serves now), the grace otherwise (a lone
    // coordinator's engine restarting by itself comes back sooner than a replacement).
    let standby_ready = healthiest(&standbys).is_some();
    let failed_why = |member: &Coordinator| {
        let failing = memory.failing.get(&member.instance_id)?;
        let (bound, why) = if failing.refused_only && standby_ready && is_active(member) {
            (tuning.refused, Why::ActiveRefused)
        } else {
            (tuning.grace, Why::ActiveFailed)
        };
        (at.saturating_sub(failing.since) >= bound).then_some(why)
    };
    let failed = |member: &Coordinator| failed_why(member).is_some();
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

    match active.map(|a| (a, failed_why(a))) {
        Some((active, Some(why))) => {
            // Fence first: a coordinator back from a long pause must not serve.
            if may_replace_active {
                steps.push(Step::Terminate {
                    instance: active.instance_id.clone(),
                    why,
                });
                steps.extend(switch_to(why));
            }
        }
        Some((_, None)) => {}
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
        refused: Duration::from_secs(4),
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

    fn refused() -> Health {
        Health::Down(ProbeFailure::Refused)
    }

    fn young(n: u8) -> Coordinator {
        member(n, Duration::from_secs(120), InstanceState::Running)
    }

    struct Case {
        name: &'static str,
        /// The record's address, by member number (`Some(9)`: no member has it).
        record: Option<u8>,
        members: Vec<(Coordinator, Health)>,
        /// Members failing since this long before [`AT`], as remembered; `true`
        /// when they have only refused.
        failing_for: Vec<(u8, u64, bool)>,
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
                failing_for: vec![(1, 14, false)],
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
                failing_for: vec![(1, 15, false)],
                expected: vec![
                    terminate(1, Why::ActiveFailed),
                    switch(Some(1), 2, Why::ActiveFailed),
                ],
            },
            Case {
                name: "active answering as a worker counts as failing",
                record: Some(1),
                members: vec![(old(1), Health::NotCoordinator), (old(2), Health::Healthy)],
                failing_for: vec![(1, 20, false)],
                expected: vec![
                    terminate(1, Why::ActiveFailed),
                    switch(Some(1), 2, Why::ActiveFailed),
                ],
            },
            Case {
                name: "an active answering starting is restarting: failing, the grace applies",
                record: Some(1),
                members: vec![
                    (starting_young.clone(), Health::Starting),
                    (old(2), Health::Healthy),
                ],
                failing_for: vec![(1, 14, false)],
                expected: vec![],
            },
            Case {
                name: "a young active answering starting for the grace is replaced",
                record: Some(1),
                members: vec![
                    (starting_young, Health::Starting),
                    (old(2), Health::Healthy),
                ],
                failing_for: vec![(1, 15, false)],
                expected: vec![
                    terminate(1, Why::ActiveFailed),
                    switch(Some(1), 2, Why::ActiveFailed),
                ],
            },
            Case {
                name: "starting past the start-up allowance is failing",
                record: Some(1),
                members: vec![(starting_old, Health::Starting), (old(2), Health::Healthy)],
                failing_for: vec![(1, 20, false)],
                expected: vec![
                    terminate(1, Why::ActiveFailed),
                    switch(Some(1), 2, Why::ActiveFailed),
                ],
            },
            Case {
                name: "nobody healthy: the active is left alone, failed standbys replaced",
                record: Some(1),
                members: vec![(old(1), down()), (old(2), down())],
                failing_for: vec![(1, 30, false), (2, 30, false)],
                expected: vec![terminate(2, Why::StandbyFailed)],
            },
            Case {
                name: "a single coordinator that failed is replaced",
                record: Some(1),
                members: vec![(old(1), down())],
                failing_for: vec![(1, 15, false)],
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
                failing_for: vec![(1, 5, false)],
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
                failing_for: vec![(2, 16, false)],
                expected: vec![terminate(2, Why::StandbyFailed)],
            },
            Case {
                name: "a standby failing for less than the grace is kept",
                record: Some(1),
                members: vec![(old(1), Health::Healthy), (old(2), refused())],
                failing_for: vec![(2, 3, true)],
                expected: vec![],
            },
            Case {
                name: "a standby that only refused keeps the full grace",
                record: Some(1),
                members: vec![(old(1), Health::Healthy), (old(2), refused())],
                failing_for: vec![(2, 10, true)],
                expected: vec![],
            },
            Case {
                name: "active refusing for less than the refused bound: nothing yet",
                record: Some(1),
                members: vec![(old(1), refused()), (old(2), Health::Healthy)],
                failing_for: vec![(1, 3, true)],
                expected: vec![],
            },
            Case {
                name: "active refusing for the refused bound: fence, then switch",
                record: Some(1),
                members: vec![(old(1), refused()), (old(2), Health::Healthy)],
                failing_for: vec![(1, 4, true)],
                expected: vec![
                    terminate(1, Why::ActiveRefused),
                    switch(Some(1), 2, Why::ActiveRefused),
                ],
            },
            Case {
                name: "active that timed out before it refused keeps the full grace",
                record: Some(1),
                members: vec![(old(1), refused()), (old(2), Health::Healthy)],
                failing_for: vec![(1, 10, false)],
                expected: vec![],
            },
            Case {
                name: "active starting after it refused is an engine restart: the refused bound",
                record: Some(1),
                members: vec![(old(1), Health::Starting), (old(2), Health::Healthy)],
                failing_for: vec![(1, 5, true)],
                expected: vec![
                    terminate(1, Why::ActiveRefused),
                    switch(Some(1), 2, Why::ActiveRefused),
                ],
            },
            Case {
                name: "a young active that refuses counts: it was healthy when it got the record",
                record: Some(1),
                members: vec![(young(1), refused()), (old(2), Health::Healthy)],
                failing_for: vec![(1, 4, true)],
                expected: vec![
                    terminate(1, Why::ActiveRefused),
                    switch(Some(1), 2, Why::ActiveRefused),
                ],
            },
            Case {
                name: "a young standby is booting: refusing, timing out or starting is no failure",
                record: Some(1),
                members: vec![
                    (old(1), Health::Healthy),
                    (young(2), refused()),
                    (young(3), down()),
                    (young(4), Health::Starting),
                ],
                failing_for: vec![(2, 100, true), (3, 100, false), (4, 100, true)],
                expected: vec![],
            },
        ];
        for case in cases {
            let observation = Observation {
                at: AT,
                sent: AT,
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
            for (n, seconds, refused_only) in &case.failing_for {
                memory.failing.insert(
                    InstanceId::new(format!("i-{n}")),
                    Failing {
                        since: AT - Duration::from_secs(*seconds),
                        refused_only: *refused_only,
                    },
                );
            }
            assert_eq!(
                plan(&observation, &mut memory, &TUNING),
                case.expected,
                "{}",
                case.name
            );
            if case.name.contains("booting") {
                assert_eq!(memory, Memory::default(), "{}", case.name);
            }
        }
    }

    /// The record on i-1, probed with `health` at `sent`; i-2 healthy.
    fn active_and_standby(health: Health, sent: Duration) -> Observation {
        Observation {
            at: AT,
            sent,
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
        }
    }

    #[test]
    fn a_recovery_is_forgotten_and_a_new_failure_starts_its_grace_now() {
        let observation = |health| active_and_standby(health, AT - Duration::from_secs(2));
        let mut memory = Memory::default();
        memory.failing.insert(
            InstanceId::new("i-1"),
            Failing {
                since: AT - Duration::from_secs(10),
                refused_only: false,
            },
        );
        assert!(plan(&observation(Health::Healthy), &mut memory, &TUNING).is_empty());
        assert_eq!(memory, Memory::default());
        // Counted from when the failing probe was sent, two seconds before the look.
        assert!(plan(&observation(down()), &mut memory, &TUNING).is_empty());
        assert_eq!(
            memory.failing_for(&InstanceId::new("i-1"), AT),
            Some(Duration::from_secs(2))
        );
        // A refusal after a timeout keeps the failure general (the full grace).
        assert!(plan(&observation(refused()), &mut memory, &TUNING).is_empty());
        assert_eq!(
            memory.to_note(AT),
            format!(
                "at={0} i-1={1}",
                AT.as_millis(),
                (AT - Duration::from_secs(2)).as_millis()
            )
        );
    }

    #[test]
    fn refusals_then_starting_stay_refusals_and_anything_else_ends_them() {
        let observation = |health| active_and_standby(health, AT);
        let refused_only = |memory: &Memory| memory.failing[&InstanceId::new("i-1")].refused_only;
        let mut memory = Memory::default();
        plan(&observation(refused()), &mut memory, &TUNING);
        assert!(refused_only(&memory));
        plan(&observation(Health::Starting), &mut memory, &TUNING);
        assert!(refused_only(&memory));
        plan(&observation(refused()), &mut memory, &TUNING);
        assert!(refused_only(&memory));
        plan(
            &observation(Health::Down(ProbeFailure::Status(503))),
            &mut memory,
            &TUNING,
        );
        assert!(!refused_only(&memory));
        plan(&observation(refused()), &mut memory, &TUNING);
        assert!(
            !refused_only(&memory),
            "a refusal does not make a general failure short"
        );
        // Starting with no refusal before it, past the start-up allowance: general.
        let mut memory = Memory::default();
        plan(&observation(Health::Starting), &mut memory, &TUNING);
        assert!(!refused_only(&memory));
    }

    #[test]
    fn a_fresh_note_restores_the_memory_and_a_stale_one_is_ignored() {
        let mut memory = Memory::default();
        memory.failing.insert(
            InstanceId::new("i-1"),
            Failing {
                since: Duration::from_millis(1_000_500),
                refused_only: false,
            },
        );
        memory.failing.insert(
            InstanceId::new("i-2"),
            Failing {
                since: Duration::from_millis(1_003_000),
                refused_only: true,
            },
        );
        let at = Duration::from_millis(1_010_000);
        let note = memory.to_note(at);
        assert_eq!(note, "at=1010000 i-1=1000500 i-2=1003000:refused");
        assert_eq!(
            Memory::from_note(&note, at + Duration::from_secs(30)),
            memory
        );
        assert_eq!(
            Memory::from_note(&note, at + NOTE_MAX_AGE + Duration::from_secs(1)),
            Memory::default()
        );
        // A note from before the refused mark reads as general failures.
        assert_eq!(
            Memory::from_note("at=1010000 i-1=1000500", at)
                .failing_for(&InstanceId::new("i-1"), at),
            Some(Duration::from_millis(9_500))
        );
        for unreadable in [
            "",
            "garbage",
            "i-1=5 at=1010000",
            "at=soon i-1=5",
            "at=1010000:refused i-1=5",
        ] {
            assert_eq!(
                Memory::from_note(unreadable, at),
                Memory::default(),
                "{unreadable:?}"
            );
        }
    }
}
