//! The world the failover decision is simulated in, in milliseconds of virtual time:
//! coordinators whose engine can exit, hang, pause or restart; an Auto Scaling group
//! that replaces what is terminated, with replacements that install for minutes
//! (refusing connections), then start, then serve; a record changed only by
//! compare-and-swap; and watchers timed as `watcher/src/watch.rs` runs them: one
//! invocation a minute watching for [`RUN_FOR`], probes leaving on every tick of the
//! interval whatever the rounds are doing, a timed-out probe coming back after
//! [`TIMEOUT`], every AWS call and probe answer taking a time drawn from [`AWS_CALL`]
//! and [`ANSWER`]. Shared by the simulation tests and the failover benchmark.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::time::{Duration, UNIX_EPOCH};

use presto_ha_coordinators::choice::Probed;
use presto_ha_coordinators::group::{Coordinator, InstanceId, InstanceState};
use presto_ha_coordinators::probe::{Health, ProbeFailure};
use presto_ha_coordinators::record::ARecord;
use presto_ha_watcher::decide::{Memory, Step, Tuning, plan};
use presto_ha_watcher::settings::STARTUP_ALLOWANCE;
use presto_ha_watcher::watch::{Batch, add_probes, look, match_probes};

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The template's defaults.
pub const INTERVAL: Duration = ms(2_000);
pub const TIMEOUT: Duration = ms(2_000);
pub const GRACE: Duration = ms(15_000);
pub const REFUSED: Duration = ms(4_000);
/// How long one AWS call takes (a read, a termination, a record change, a note): each
/// drawn from this range, in milliseconds.
pub const AWS_CALL: RangeInclusive<u64> = 20..=250;
/// The same when the control plane answers slowly (throttled calls the SDK retries
/// with backoff): a round then outlasts an interval, and the probes that come back
/// meanwhile wait for the next.
pub const SLOW_AWS_CALL: RangeInclusive<u64> = 20..=3_000;
/// How long a probe that gets an answer (healthy, starting, refused) waits for it:
/// each drawn from this range, in milliseconds, by the node, the moment and the
/// address (the same probe finds the same).
pub const ANSWER: RangeInclusive<u64> = 1..=60;
/// The schedule and how long each invocation watches (the watcher's own `RUN_FOR`), and
/// the time from the schedule to the handler running in a warm process.
pub const SCHEDULE: Duration = ms(60_000);
pub const RUN_FOR: Duration = presto_ha_watcher::settings::RUN_FOR;
pub const INVOKE_DELAY: Duration = ms(100);
/// A replacement: the group launches it this long after a termination; it then
/// installs Java and the engine (nothing listens), and the engine starts.
pub const LAUNCH_DELAY: Duration = ms(40_000);
pub const INSTALL: Duration = ms(150_000);
pub const ENGINE_START: Duration = ms(30_000);
/// A prepared instance from the warm pool: the group starts it this long after a
/// termination (the stopped instance starts and its system boots); its engine then
/// starts from its enabled service.
pub const WARM_START: Duration = ms(30_000);
/// How long a new coordinator's ready unit waits for its engine before the launch is
/// abandoned (the group then launches another).
pub const READY_WAIT: Duration = ms(900_000);
/// Faults fall in this window after [`START`]; the run goes on for [`RUN`].
pub const START: Duration = ms(1_000_000);
pub const FAULT_WINDOW: Duration = ms(400_000);
pub const RUN: Duration = ms(2_000_000);

pub fn tuning() -> Tuning {
    Tuning {
        grace: GRACE,
        refused: REFUSED,
        startup_allowance: STARTUP_ALLOWANCE,
        ttl: 5,
    }
}

/// splitmix64: neighbouring seeds give unrelated streams.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One AWS call's time, from `range` (milliseconds).
    pub fn aws_call(&mut self, range: &RangeInclusive<u64>) -> Duration {
        ms(range.start() + self.below(range.end() - range.start() + 1))
    }

    /// A duration in `[from, to)`, to the millisecond.
    pub fn between(&mut self, from: Duration, to: Duration) -> Duration {
        let span = (to - from).as_millis() as u64;
        from + ms(self.below(span.max(1)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Engine {
    Up,
    /// Exited: connections are refused.
    Exited,
    /// Accepts connections and never answers.
    Hung,
    /// A GC pause: answers once it ends.
    PausedUntil(Duration),
    /// The service restarting it: refuses, then answers `starting`, then serves.
    Restarting {
        refuses_until: Duration,
        starting_until: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: InstanceId,
    pub ip: Ipv4Addr,
    pub launched: Duration,
    /// When its engine first serves: the launch hook is completed then, and the
    /// group puts it in service (if its engine serves by then).
    pub ready_at: Duration,
    pub in_service: bool,
    pub running: bool,
    pub stopped: bool,
    pub engine: Engine,
    /// When the latest fault began and (for those that end) ended.
    pub fault: Option<(Duration, Option<Duration>)>,
}

impl Node {
    pub fn serving(&self) -> bool {
        self.running && !self.stopped && self.in_service
    }

    /// Whether, in truth, the node serves queries at `now`.
    pub fn healthy(&self, now: Duration) -> bool {
        self.serving() && self.answer(now, TIMEOUT).0 == Health::Healthy
    }

    /// What a probe sent at `sent` finds, and when it comes back.
    pub fn answer(&self, sent: Duration, timeout: Duration) -> (Health, Duration) {
        // The network's and the engine's time to answer: drawn from [`ANSWER`] by the
        // address and the moment.
        let mut draw = Rng::new(u64::from(u32::from(self.ip)) ^ ((sent.as_millis() as u64) << 20));
        let answer = ms(ANSWER.start() + draw.below(ANSWER.end() - ANSWER.start() + 1));
        let refused = (Health::Down(ProbeFailure::Refused), sent + answer);
        let timed_out = (Health::Down(ProbeFailure::TimedOut), sent + timeout);
        let starting = (Health::Starting, sent + answer);
        if sent < self.ready_at - ENGINE_START {
            return refused;
        }
        if sent < self.ready_at {
            return starting;
        }
        match self.engine {
            Engine::Up => (Health::Healthy, sent + answer),
            Engine::Exited => refused,
            Engine::Hung => timed_out,
            Engine::PausedUntil(until) if until + answer <= sent + timeout => {
                (Health::Healthy, until.max(sent) + answer)
            }
            Engine::PausedUntil(_) => timed_out,
            Engine::Restarting { refuses_until, .. } if sent < refuses_until => refused,
            Engine::Restarting { starting_until, .. } if sent < starting_until => starting,
            Engine::Restarting { .. } => (Health::Healthy, sent + answer),
        }
    }

    /// Whether a fault of the node's was going on at some time in `[from, to]`.
    fn faulty_within(&self, from: Duration, to: Duration) -> bool {
        self.fault
            .is_some_and(|(began, ended)| began <= to && ended.is_none_or(|e| e >= from))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// The engine exits and stays down.
    Exit,
    /// The service restarts the engine: a few seconds refused, then starting.
    Restart,
    Hang,
    ShortPause,
    LongPause,
    Terminate,
    Stop,
}

pub const KINDS: [Fault; 7] = [
    Fault::Exit,
    Fault::Restart,
    Fault::Hang,
    Fault::ShortPause,
    Fault::LongPause,
    Fault::Terminate,
    Fault::Stop,
];

/// What a round's calls may add to a failover: reading the group and the record,
/// probing a member the tick did not, terminating, switching (each at most the end of
/// [`AWS_CALL`], a probe's answer at most the end of [`ANSWER`]).
pub const CALLS: Duration = ms(1_000);
/// A round after a tick: the interval, the probes' timeout and the calls. What a
/// throttled switch costs, and what a watcher back from a crash needs to act.
pub const ROUND: Duration =
    ms(INTERVAL.as_millis() as u64 + TIMEOUT.as_millis() as u64 + CALLS.as_millis() as u64);
/// What the turn of the minute may add: the first watcher's last tick is [`RUN_FOR`]
/// minus one interval into its invocation, and the next invocation starts a minute
/// after the last began.
pub const TURN: Duration =
    ms(SCHEDULE.as_millis() as u64 - RUN_FOR.as_millis() as u64 + INTERVAL.as_millis() as u64);

impl Fault {
    /// The time from a fault at `at` to the record switched that a schedule without
    /// throttling or crashed watchers must keep to when a standby stays healthy: the
    /// bound the decision holds the fault to (the refused bound for an engine that
    /// exited, the grace for one that hangs, pauses or restarts, nothing for a node
    /// gone), one interval for the tick the fault falls between, the probe's timeout
    /// where only a timeout shows the fault, and [`CALLS`]; plus [`TURN`] only when the
    /// first watcher's minute turns in that time. A batch that waits on another
    /// member's timeout adds that timeout (see [`run`]).
    pub fn bound(self, at: Duration) -> Duration {
        // The bound held to, and the timeout where only a timeout shows the fault.
        let (held, timeout) = match self {
            Self::Exit => (REFUSED, Duration::ZERO),
            Self::Hang | Self::LongPause | Self::Restart => (GRACE, TIMEOUT),
            Self::Terminate | Self::Stop | Self::ShortPause => (Duration::ZERO, Duration::ZERO),
        };
        let span = held + INTERVAL + timeout + CALLS;
        if turns_within(at, span) {
            span + TURN
        } else {
            span
        }
    }
}

/// Whether the first watcher's invocation (at the schedule, [`INVOKE_DELAY`] in) ends
/// between `at` and `at + span`, or ended just before `at`: from an interval before
/// its last tick to an interval after the next invocation starts.
fn turns_within(at: Duration, span: Duration) -> bool {
    let first = START - SCHEDULE + INVOKE_DELAY;
    let minute = SCHEDULE.as_millis() as u64;
    let k = (at.saturating_sub(first)).as_millis() as u64 / minute;
    (k.saturating_sub(1)..=k).any(|k| {
        let start = first + ms(k * minute);
        let (from, to) = (start + RUN_FOR - INTERVAL * 2, start + SCHEDULE + INTERVAL);
        at <= to && at + span >= from
    })
}

/// A watcher process: one invocation a minute at `phase` into the minute.
#[derive(Debug)]
struct Watcher {
    phase: Duration,
    memory: Memory,
    /// The members its ticks probe: none at an invocation's first tick.
    targets: Vec<Coordinator>,
    /// The next tick, and when the invocation it belongs to ends.
    next_tick: Duration,
    until: Duration,
    in_flight: VecDeque<Batch>,
    /// When the round it is in has taken its last step.
    busy_until: Duration,
    /// Steps under way: when each completes.
    effects: VecDeque<(Duration, Step)>,
    /// Whether its process died in this invocation: it then does nothing until the
    /// next, which starts cold and recalls its memory from the note.
    crashed: bool,
}

impl Watcher {
    /// When its next invocation starts: a minute after this one began.
    fn next_invocation(&self) -> Duration {
        self.until - RUN_FOR + SCHEDULE
    }
}

pub struct World {
    pub now: Duration,
    pub nodes: Vec<Node>,
    /// Instances the group is bringing in: when they appear, and when their engine
    /// would first serve.
    pub launches: Vec<(Duration, Duration)>,
    /// The warm pool: when each prepared instance is (or will be) ready to start.
    pub pool: Vec<Duration>,
    pub record: Option<ARecord>,
    pub next_ip: u8,
    /// The addresses of instances gone, which EC2 may give a new one: every other
    /// launch takes the oldest of them, as a subnet reuses what it freed.
    pub freed: VecDeque<u8>,
    /// How many launches got an address an earlier instance had.
    pub reused: usize,
    pub switches: Vec<(Duration, Option<ARecord>, ARecord)>,
    /// Terminations a watcher asked for: when, and the node.
    pub terminations: Vec<(Duration, InstanceId)>,
    /// The watchers' note of their memory (a TXT record in the zone), as last written.
    pub note: String,
}

impl World {
    pub fn new(count: usize, warm_pool: usize) -> Self {
        let mut world = Self {
            now: START,
            nodes: Vec::new(),
            launches: Vec::new(),
            pool: vec![START - SCHEDULE; warm_pool],
            record: None,
            next_ip: 10,
            freed: VecDeque::new(),
            reused: 0,
            switches: Vec::new(),
            terminations: Vec::new(),
            note: String::new(),
        };
        for _ in 0..count {
            let launched = START - STARTUP_ALLOWANCE - ms(1_000);
            world.launch(launched, launched + INSTALL + ENGINE_START);
            world.nodes.last_mut().expect("launched").in_service = true;
        }
        world.record = Some(ARecord::single(world.nodes[0].ip, 5));
        world
    }

    pub fn launch(&mut self, at: Duration, ready_at: Duration) {
        let octet = match self.freed.front() {
            Some(_) if (at.as_millis() / 7).is_multiple_of(2) => {
                self.reused += 1;
                self.freed.pop_front().expect("a freed address")
            }
            _ => {
                self.next_ip = self.next_ip.wrapping_add(1).max(11);
                self.next_ip
            }
        };
        self.nodes.push(Node {
            id: InstanceId::new(format!("i-{at:?}-{octet}")),
            ip: Ipv4Addr::new(10, 0, 0, octet),
            launched: at,
            ready_at,
            in_service: false,
            running: true,
            stopped: false,
            engine: Engine::Up,
            fault: None,
        });
    }

    pub fn active(&self) -> Option<&Node> {
        let ip = self.record.as_ref().and_then(ARecord::ip)?;
        self.nodes.iter().find(|n| n.ip == ip && n.serving())
    }

    fn node(&self, id: &InstanceId) -> Option<&Node> {
        self.nodes.iter().find(|n| &n.id == id)
    }

    /// Terminates `id` (if it still runs); the group launches a replacement.
    pub fn terminate(&mut self, id: &InstanceId) -> bool {
        match self.nodes.iter_mut().find(|n| &n.id == id && n.running) {
            Some(node) => {
                node.running = false;
                self.replace();
                true
            }
            None => false,
        }
    }

    /// The group replaces a member: from the warm pool when a prepared instance is
    /// there (the pool then prepares another), else with a fresh launch.
    fn replace(&mut self) {
        let now = self.now;
        let fresh = now + LAUNCH_DELAY + INSTALL + ENGINE_START;
        match self.pool.iter().position(|ready| *ready <= now) {
            Some(prepared) => {
                self.pool.remove(prepared);
                self.pool.push(fresh);
                self.launches
                    .push((now + WARM_START, now + WARM_START + ENGINE_START));
            }
            None => self.launches.push((now + LAUNCH_DELAY, fresh)),
        }
    }

    /// The group's replacements that are due at `now`; members whose engine serves
    /// go in service, and those whose engine never did are abandoned and replaced.
    fn launch_due(&mut self) {
        let now = self.now;
        let due: Vec<(Duration, Duration)> = self
            .launches
            .iter()
            .copied()
            .filter(|(at, _)| *at <= now)
            .collect();
        self.launches.retain(|(at, _)| *at > now);
        for (at, ready_at) in due {
            self.launch(at, ready_at);
        }
        let mut abandoned = 0;
        for node in self.nodes.iter_mut().filter(|n| n.running && !n.in_service) {
            if now >= node.ready_at && node.answer(now, TIMEOUT).0 == Health::Healthy {
                node.in_service = true;
            } else if now >= node.ready_at + READY_WAIT || node.stopped {
                node.running = false;
                abandoned += 1;
            }
        }
        for _ in 0..abandoned {
            self.replace();
        }
        for gone in self.nodes.iter().filter(|n| !n.running) {
            self.freed.push_back(gone.ip.octets()[3]);
        }
        self.nodes.retain(|n| n.running);
    }

    pub fn members(&self) -> Vec<Coordinator> {
        self.nodes
            .iter()
            .filter(|n| n.running)
            .map(|n| Coordinator {
                instance_id: n.id.clone(),
                private_ip: Some(n.ip),
                in_service: n.in_service,
                state: if n.stopped {
                    InstanceState::Gone
                } else {
                    InstanceState::Running
                },
                launch_time: Some(UNIX_EPOCH + n.launched),
                protected: false,
            })
            .collect()
    }

    /// Probes sent at `sent` to the serving `members`, and when the last comes back.
    fn probe(&self, members: &[Coordinator], sent: Duration) -> Batch {
        let mut done = sent;
        let probes = members
            .iter()
            .filter(|m| m.serving_ip().is_some())
            .filter_map(|m| {
                let node = self.node(&m.instance_id).filter(|n| n.serving())?;
                let (health, back) = node.answer(sent, TIMEOUT);
                done = done.max(back);
                Some(Probed {
                    coordinator: m.clone(),
                    health,
                })
            })
            .collect();
        Batch { sent, done, probes }
    }

    /// Whether `id` was, in truth, failing near `at`, or could not serve: what makes
    /// a termination of it or a switch away from it right.
    fn may_replace(&self, id: &InstanceId, at: Duration) -> bool {
        // One that went in service since the watcher looked (on an address it got
        // back from an instance gone) was not what the watcher acted on.
        self.node(id).is_none_or(|node| {
            !node.serving()
                || node.faulty_within(at.saturating_sub(SEEN_WITHIN), at)
                || node.ready_at + SEEN_WITHIN >= at
        })
    }

    fn healthy_exists(&self) -> bool {
        self.nodes.iter().any(|n| n.healthy(self.now))
    }
}

/// How far back a watcher's view can reach when it acts: a probe sent up to a
/// timeout and an interval before, and the calls since.
const SEEN_WITHIN: Duration = ms(5_000);

pub struct Scenario {
    pub seed: u64,
    pub tuning: Tuning,
    pub coordinators: usize,
    /// Prepared coordinators in the warm pool.
    pub warm_pool: usize,
    pub watchers: usize,
    /// When, what, and to whom (0: the active coordinator then; others: any member).
    pub faults: Vec<(Duration, Fault, usize)>,
    pub crash_percent: u64,
    pub throttle_percent: u64,
    /// Every fault is a pause shorter than the grace, spaced so none add up.
    pub spaced_short_pauses: bool,
    /// How long each AWS call takes, in milliseconds: [`AWS_CALL`], or
    /// [`SLOW_AWS_CALL`] in some troubled schedules.
    pub aws_call: RangeInclusive<u64>,
    /// A broken watcher, to show the checks catch it: a cold start ignores the note.
    pub forget_notes: bool,
    /// A broken watcher, to show the checks catch it: its look drops the batches that
    /// came back before the newest one instead of deciding them for the memory.
    pub look_at_newest_only: bool,
}

impl Scenario {
    /// One fault of `kind` on the active coordinator at a random moment, nothing else
    /// going wrong.
    pub fn single(seed: u64, kind: Fault) -> Self {
        let mut rng = Rng::new(seed);
        Self {
            seed,
            tuning: tuning(),
            coordinators: 1 + rng.below(3) as usize,
            warm_pool: rng.below(2) as usize,
            watchers: 1 + rng.below(2) as usize,
            faults: vec![(START + rng.between(Duration::ZERO, FAULT_WINDOW), kind, 0)],
            crash_percent: 0,
            throttle_percent: 0,
            aws_call: AWS_CALL,
            spaced_short_pauses: false,
            forget_notes: false,
            look_at_newest_only: false,
        }
    }

    /// What slow AWS calls add to a bound: a round that takes every call it may (the
    /// read, two steps, the note) and a probe's timeout, twice (a batch that waits for
    /// one such round, then its own).
    pub fn slow_rounds(&self) -> Duration {
        if self.aws_call == AWS_CALL {
            return Duration::ZERO;
        }
        (ms(*self.aws_call.end()) * 4 + TIMEOUT) * 2
    }

    /// A round after a tick, at this schedule's calls: what a throttled switch costs,
    /// and what a watcher back from a crash needs to act.
    pub fn round(&self) -> Duration {
        ROUND + self.slow_rounds()
    }

    fn clean(&self) -> bool {
        self.crash_percent == 0 && self.throttle_percent == 0 && self.aws_call == AWS_CALL
    }
}

pub fn scenario(seed: u64) -> Scenario {
    let mut rng = Rng::new(seed);
    let coordinators = 1 + rng.below(3) as usize;
    let watchers = 1 + rng.below(2) as usize;
    let warm_pool = rng.below(2) as usize;
    let only_short_pauses = rng.chance(15);
    let mut faults: Vec<(Duration, Fault, usize)> = (0..1 + rng.below(4))
        .map(|i| {
            let target = rng.below(3) as usize;
            if only_short_pauses {
                // Spaced so that two short pauses never add up to a long one.
                let at = START + ms(i * 60_000) + rng.between(Duration::ZERO, ms(30_000));
                (at, Fault::ShortPause, target)
            } else {
                let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
                (
                    START + rng.between(Duration::ZERO, FAULT_WINDOW),
                    kind,
                    target,
                )
            }
        })
        .collect();
    faults.sort_by_key(|f| f.0);
    // Half the schedules have no throttling and no crashed watcher: the failover bound
    // is checked in those.
    let troubled = rng.chance(50);
    Scenario {
        seed,
        tuning: tuning(),
        coordinators,
        warm_pool,
        watchers,
        faults,
        crash_percent: if troubled { rng.below(20) } else { 0 },
        throttle_percent: if troubled { rng.below(20) } else { 0 },
        aws_call: if troubled && rng.chance(25) {
            SLOW_AWS_CALL
        } else {
            AWS_CALL
        },
        spaced_short_pauses: only_short_pauses,
        forget_notes: false,
        look_at_newest_only: false,
    }
}

#[derive(Default)]
pub struct Tally {
    /// Fault kind, coordinators, and the time from the fault to the record's switch.
    pub failovers: Vec<(Fault, usize, Duration)>,
    /// How many failovers the bound was checked on.
    pub bounded: usize,
    /// How many batches came back while a round was acting and were decided for the
    /// memory only, by the watcher's own `look`.
    pub caught_up: usize,
}

/// A fault on the active coordinator that the record has not left yet.
struct Pending {
    at: Duration,
    ip: Ipv4Addr,
    id: InstanceId,
    kind: Fault,
    /// When the record must have left it, by the bounds of every fault it had.
    deadline: Duration,
    /// Whether some other member was healthy from the fault on, so far.
    standby_throughout: bool,
    /// Whether another member left a probe unanswered meanwhile (the batch holding
    /// the failing member's probe then came back only with that probe's timeout), or
    /// joined (a round probes a member the tick did not, and counts the failure from
    /// then): either adds a timeout.
    waited_on_a_timeout: bool,
    /// The latest a watcher that crashed since the fault (or before it, still out) may
    /// switch once back: its next invocation and a round when the note it recalls
    /// holds the failure; else, starting cold, the fault's whole bound from then. A
    /// crash moves the bound to that at the latest, and no further.
    back: Duration,
    /// What throttled switches add: a round each.
    troubles: Duration,
}

/// Whether `memory`, after a round that took `batches` (oldest first), counts each
/// failure that began in them from its first failing probe (of the latest unbroken
/// run of failures), whichever batch brought it: the earlier batches count as much as
/// the newest. Failures the memory held `before` the round are left out (a round's
/// own probe may have been sent after a batch it decides later), and so are members
/// within the start-up allowance (their failures do not count yet).
fn counted_from_the_first_failing_probe(
    (before, memory): (&Memory, &Memory),
    tuning: &Tuning,
    batches: &[Batch],
    members: &[Coordinator],
    at: Duration,
) -> Result<(), String> {
    let Some(oldest) = batches.first() else {
        return Ok(());
    };
    for member in members {
        let launched = member
            .launch_time
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        if oldest.sent.saturating_sub(launched) <= tuning.startup_allowance
            || before.failing_for(&member.instance_id, at).is_some()
        {
            continue;
        }
        let mut first_failing = None;
        for batch in batches {
            let (probes, _) = match_probes(&batch.probes, members);
            if let Some(probed) = probes
                .iter()
                .find(|p| p.coordinator.instance_id == member.instance_id)
            {
                first_failing = match probed.health {
                    Health::Healthy => None,
                    _ => first_failing.or(Some(batch.sent)),
                };
            }
        }
        if let (Some(sent), Some(failing_for)) =
            (first_failing, memory.failing_for(&member.instance_id, at))
            && at.saturating_sub(failing_for) > sent
        {
            return Err(format!(
                "{} counted failing from {:?}, after its first failing probe of {sent:?} in the batches of one round",
                member.instance_id,
                at.saturating_sub(failing_for)
            ));
        }
    }
    Ok(())
}

/// Runs a schedule, panicking on the first broken invariant; returns the world at
/// its end.
pub fn run(s: &Scenario, tally: &mut Tally) -> World {
    let mut world = World::new(s.coordinators, s.warm_pool);
    let mut rng = Rng::new(s.seed ^ 0xA5A5);
    let mut watchers: Vec<Watcher> = (0..s.watchers)
        .map(|w| {
            // The first at the schedule, a second one (a manual invoke, a stack
            // update) anywhere in the minute.
            let phase = if w == 0 {
                INVOKE_DELAY
            } else {
                rng.between(Duration::ZERO, SCHEDULE)
            };
            let start = START - SCHEDULE + phase;
            Watcher {
                phase,
                memory: Memory::default(),
                targets: Vec::new(),
                next_tick: start,
                until: start + RUN_FOR,
                in_flight: VecDeque::new(),
                busy_until: start,
                effects: VecDeque::new(),
                crashed: false,
            }
        })
        .collect();
    let mut faults: VecDeque<(Duration, Fault, usize)> = s.faults.iter().copied().collect();
    let mut stray_since: Option<Duration> = None;
    // Until when a watcher whose process died may leave the record stray: its next
    // invocation and that invocation's first round.
    let mut crashed_until = Duration::ZERO;
    let mut pending: Option<Pending> = None;
    let mut active_hits = 0;
    // The last fault of each address, for a member hit as it takes the record.
    let mut last_fault: std::collections::BTreeMap<InstanceId, Duration> = Default::default();
    let end = START + RUN;
    let context = |world: &World| {
        format!(
            "seed {} at {:?}: record {:?}, nodes {:?}",
            s.seed, world.now, world.record, world.nodes
        )
    };

    while world.now < end {
        let now = world.now;
        world.launch_due();
        while let Some((at, fault, target)) = faults.front().copied() {
            if at > now {
                break;
            }
            faults.pop_front();
            let index = match (target, world.active()) {
                (0, Some(active)) => world.nodes.iter().position(|n| n.id == active.id),
                _ if !world.nodes.is_empty() => Some(target % world.nodes.len()),
                _ => None,
            };
            let Some(index) = index else { continue };
            let hits_active = world
                .active()
                .is_some_and(|a| a.id == world.nodes[index].id);
            if hits_active && fault != Fault::ShortPause {
                active_hits += 1;
                match &mut pending {
                    None => {
                        // A watcher whose process died earlier sits out until its
                        // next invocation.
                        let back = watchers
                            .iter()
                            .filter(|w| w.crashed)
                            .map(|w| w.next_invocation() + s.round() + fault.bound(at))
                            .max()
                            .unwrap_or_default();
                        pending = Some(Pending {
                            at,
                            ip: world.nodes[index].ip,
                            id: world.nodes[index].id.clone(),
                            kind: fault,
                            deadline: at + fault.bound(at) + s.slow_rounds(),
                            standby_throughout: true,
                            waited_on_a_timeout: false,
                            back,
                            troubles: Duration::ZERO,
                        })
                    }
                    // Another fault of the same failing coordinator (a hang after an
                    // exit) may hold it longer.
                    Some(p) => p.deadline = p.deadline.max(at + fault.bound(at) + s.slow_rounds()),
                }
            }
            last_fault.insert(world.nodes[index].id.clone(), at);
            let mut rng = Rng::new(s.seed ^ at.as_millis() as u64);
            let node = &mut world.nodes[index];
            let ends = match fault {
                Fault::Exit => {
                    node.engine = Engine::Exited;
                    None
                }
                Fault::Hang => {
                    node.engine = Engine::Hung;
                    None
                }
                Fault::Restart => {
                    let refuses_until = at + rng.between(ms(1_000), ms(6_000));
                    let starting_until = refuses_until + rng.between(ms(10_000), ms(40_000));
                    node.engine = Engine::Restarting {
                        refuses_until,
                        starting_until,
                    };
                    Some(starting_until)
                }
                // Pauses across the whole range: a short one up to the grace itself,
                // a long one from the grace on.
                Fault::ShortPause => {
                    let until = at + rng.between(ms(500), GRACE);
                    node.engine = Engine::PausedUntil(until);
                    Some(until)
                }
                Fault::LongPause => {
                    let until = at + rng.between(GRACE, GRACE + ms(30_000));
                    node.engine = Engine::PausedUntil(until);
                    Some(until)
                }
                Fault::Terminate => {
                    let id = node.id.clone();
                    world.terminate(&id);
                    None
                }
                Fault::Stop => {
                    node.stopped = true;
                    None
                }
            };
            if let Some(node) = world.nodes.get_mut(index) {
                node.fault = Some((at, ends));
            }
        }

        // Steps under way that complete now.
        for watcher in &mut watchers {
            while let Some((at, step)) = watcher.effects.front().cloned() {
                if at > now {
                    break;
                }
                watcher.effects.pop_front();
                match step {
                    Step::Terminate { instance, .. } => {
                        assert!(
                            world.may_replace(&instance, now),
                            "terminated {instance} while it served: {}",
                            context(&world)
                        );
                        if world.terminate(&instance) {
                            world.terminations.push((now, instance));
                        }
                    }
                    Step::Switch {
                        from, to, instance, ..
                    } => {
                        let throttled = rng.chance(s.throttle_percent);
                        if throttled && let Some(p) = &mut pending {
                            p.troubles += s.round();
                        }
                        // Route 53's batch: applies only if the record still holds `from`.
                        if !throttled && world.record == from {
                            let old = from
                                .as_ref()
                                .and_then(ARecord::ip)
                                .and_then(|ip| world.nodes.iter().find(|n| n.ip == ip))
                                .map(|n| n.id.clone());
                            assert!(
                                old.is_none_or(|old| world.may_replace(&old, now)),
                                "switched to {instance} away from a serving coordinator: {}",
                                context(&world)
                            );
                            // A member hit just before it took the record (the watcher
                            // saw it healthy) counts as a fault of the active.
                            let hit_as_it_took = to
                                .ip()
                                .and_then(|ip| world.nodes.iter().find(|n| n.ip == ip && n.running))
                                .and_then(|n| last_fault.get(&n.id))
                                .is_some_and(|at| now.saturating_sub(*at) <= SEEN_WITHIN);
                            if hit_as_it_took {
                                active_hits += 1;
                            }
                            world.switches.push((now, from, to.clone()));
                            world.record = Some(to);
                        }
                    }
                }
            }
        }

        // Ticks: probes leave whatever the rounds are doing.
        for watcher in &mut watchers {
            if watcher.next_tick <= now {
                if now + RUN_FOR == watcher.until {
                    watcher.targets.clear();
                    // A cold start after a crash: what the dead process knew is what
                    // its note says, if the note is fresh.
                    if std::mem::take(&mut watcher.crashed) && !s.forget_notes {
                        watcher.memory = Memory::from_note(&world.note, now);
                    }
                }
                if now < watcher.until && !watcher.crashed {
                    let batch = world.probe(&watcher.targets, now);
                    watcher.in_flight.push_back(batch);
                }
                if now + INTERVAL < watcher.until {
                    watcher.next_tick = now + INTERVAL;
                } else {
                    // The next invocation, a minute after this one began.
                    let start = watcher.next_invocation();
                    watcher.next_tick = start;
                    watcher.until = start + RUN_FOR;
                }
            }
        }

        // Rounds: a watcher that is free takes the batches that are back, in order.
        for watcher in &mut watchers {
            if watcher.crashed || watcher.busy_until > now || watcher.effects.front().is_some() {
                continue;
            }
            let mut taken = Vec::new();
            while watcher.in_flight.front().is_some_and(|b| b.done <= now) {
                taken.extend(watcher.in_flight.pop_front());
            }
            let Some(latest) = taken.pop() else { continue };
            // Reading the group and the record, at once.
            let members = world.members();
            let record = world.record.clone();
            let mut at = now + rng.aws_call(&s.aws_call);
            watcher.targets = members.clone();
            tally.caught_up += taken.len();
            let before = watcher.memory.clone();
            // The watcher's own look: the earlier batches for the memory only, then
            // the newest one's observation.
            let earlier = if s.look_at_newest_only {
                &[][..]
            } else {
                &taken
            };
            let (mut observation, unprobed) = look(
                &mut watcher.memory,
                &s.tuning,
                (earlier, &latest),
                members,
                record,
            );
            if !unprobed.is_empty() {
                let extra = world.probe(&unprobed, at);
                at = extra.done;
                add_probes(&mut observation, &mut watcher.memory, &s.tuning, extra);
            }
            let steps = plan(&observation, &mut watcher.memory, &s.tuning);
            taken.push(latest);
            counted_from_the_first_failing_probe(
                (&before, &watcher.memory),
                &s.tuning,
                &taken,
                &watcher.targets,
                observation.at,
            )
            .unwrap_or_else(|e| panic!("{e}: {}", context(&world)));
            // A process may die anywhere in a round: before its steps, between them
            // (after a termination, before the switch), or before its note.
            let crash = rng
                .chance(s.crash_percent)
                .then(|| rng.below(steps.len() as u64 + 2));
            let mut done = at;
            for (n, step) in steps.into_iter().enumerate() {
                if crash == Some(n as u64) {
                    break;
                }
                done += rng.aws_call(&s.aws_call);
                watcher.effects.push_back((done, step));
            }
            // The note, and the protection or member records after a switch.
            if crash.is_none() && (watcher.memory != before || watcher.memory != Memory::default())
            {
                done += rng.aws_call(&s.aws_call);
                world.note = watcher.memory.to_note(done);
            }
            if crash.is_some() {
                watcher.crashed = true;
                watcher.in_flight.clear();
                watcher.memory = Memory::default();
                let back = watcher.next_invocation() + s.round();
                crashed_until = crashed_until.max(back);
                if let Some(p) = &mut pending {
                    let restart = watcher.next_invocation();
                    let noted = Memory::from_note(&world.note, restart) != Memory::default()
                        && world.note.contains(&format!(" {}=", p.id));
                    let cold = if noted {
                        Duration::ZERO
                    } else {
                        p.kind.bound(restart)
                    };
                    p.back = p.back.max(back + cold);
                }
            }
            watcher.busy_until = done;
        }

        // Invariants at this moment.
        if let Some(p) = &mut pending {
            // Moved, or on the failed coordinator's address but another instance,
            // serving: a replacement that got the address back.
            let switched = world.record.as_ref().and_then(ARecord::ip) != Some(p.ip)
                || world.active().is_some_and(|a| a.id != p.id);
            // It came back before it was replaced (a restart, a pause that ended),
            // long enough ago that no watcher still acts on having seen it fail.
            let came_back = !switched
                && world.active().is_some_and(|a| {
                    a.id == p.id
                        && a.fault
                            .is_some_and(|(_, ended)| ended.is_some_and(|e| e + SEEN_WITHIN < now))
                });
            if !switched && !came_back {
                let standby = world.nodes.iter().any(|n| n.id != p.id && n.healthy(now));
                p.standby_throughout &= standby;
                p.waited_on_a_timeout |= world.nodes.iter().any(|n| {
                    n.id != p.id
                        && n.serving()
                        && (n.answer(now, TIMEOUT).0 == Health::Down(ProbeFailure::TimedOut)
                            || n.ready_at + INTERVAL + TIMEOUT >= p.at)
                });
            }
            // Checked while it waits and at the switch itself (the switch may be the
            // first moment past the bound).
            if !came_back {
                let deadline = p.deadline
                    + if p.waited_on_a_timeout {
                        TIMEOUT
                    } else {
                        Duration::ZERO
                    };
                // A fault that ends (a restart, a pause) may be over before it counts.
                let over = world
                    .nodes
                    .iter()
                    .find(|n| n.id == p.id)
                    .and_then(|n| n.fault)
                    .is_some_and(|(_, ended)| ended.is_some_and(|e| e <= now));
                let bound = deadline.max(p.back) + p.troubles;
                assert!(
                    over || !(p.standby_throughout && now > bound),
                    "{:?} of the active not replaced by {:?} with a healthy standby: {}",
                    p.kind,
                    bound,
                    context(&world)
                );
            }
            if switched {
                tally.failovers.push((p.kind, s.coordinators, now - p.at));
                if s.clean() && p.standby_throughout {
                    tally.bounded += 1;
                }
                pending = None;
            } else if came_back {
                pending = None;
            }
        }
        if world.active().is_none() && world.healthy_exists() {
            let since = *stray_since.get_or_insert(now);
            assert!(
                now - since <= 8 * INTERVAL + s.slow_rounds()
                    || now <= crashed_until + 8 * INTERVAL + s.slow_rounds(),
                "record on no coordinator for {:?} while one is healthy: {}",
                now - since,
                context(&world)
            );
        } else {
            stray_since = None;
        }

        // The next moment anything happens.
        let mut next = end;
        for watcher in &watchers {
            next = next.min(watcher.next_tick);
            if let Some((at, _)) = watcher.effects.front() {
                next = next.min(*at);
            }
            if let Some(batch) = watcher.in_flight.front() {
                next = next.min(batch.done.max(watcher.busy_until));
            }
        }
        if let Some((at, _, _)) = faults.front() {
            next = next.min(*at);
        }
        for (at, ready_at) in &world.launches {
            next = next.min(*at).min(*ready_at);
        }
        for node in world
            .nodes
            .iter()
            .filter(|n| !n.in_service && n.ready_at > now)
        {
            next = next.min(node.ready_at);
        }
        world.now = next.max(now + ms(1));
    }

    assert!(
        world.switches.len() <= active_hits,
        "{} switches for {active_hits} faults of the active coordinator: {:?}; {}",
        world.switches.len(),
        world.switches,
        context(&world)
    );
    if s.spaced_short_pauses {
        assert!(
            world.switches.is_empty() && world.terminations.is_empty(),
            "switched or terminated for a pause shorter than the grace: {:?}; {}",
            world.terminations,
            context(&world)
        );
    }
    // Settled: the record points at a healthy coordinator.
    assert!(
        world.active().is_some_and(|a| a.healthy(world.now)),
        "did not settle on a healthy coordinator: {}; launches {:?} terminations {:?}",
        context(&world),
        world.launches,
        world.terminations
    );
    world
}
