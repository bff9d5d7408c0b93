//! The world the failover decision is simulated in: coordinators whose Presto can
//! crash, hang or pause, an Auto Scaling group that replaces what is terminated or
//! stopped, and a record changed only by compare-and-swap. Shared by the simulation
//! tests and the failover benchmark.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::time::{Duration, UNIX_EPOCH};

use presto_ha_coordinators::choice::Probed;
use presto_ha_coordinators::group::{Coordinator, InstanceId, InstanceState};
use presto_ha_coordinators::probe::{Health, ProbeFailure};
use presto_ha_coordinators::record::ARecord;
use presto_ha_watcher::decide::{Memory, Observation, Step, Tuning, plan};

pub const INTERVAL: Duration = Duration::from_secs(2);
pub const GRACE: Duration = Duration::from_secs(15);
pub const LAUNCH_DELAY: Duration = Duration::from_secs(40);
pub const BOOT: Duration = Duration::from_secs(60);
pub const FAULT_WINDOW: u64 = 400;
pub const RUN: Duration = Duration::from_secs(900);

pub fn tuning() -> Tuning {
    Tuning {
        grace: GRACE,
        startup_allowance: Duration::from_secs(300),
        ttl: 5,
    }
}

/// A small deterministic generator (xorshift64*), so a seed names a schedule.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Presto {
    Up,
    Crashed,
    Hung,
    PausedUntil(Duration),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: InstanceId,
    pub ip: Ipv4Addr,
    pub launched: Duration,
    pub running: bool,
    pub stopped: bool,
    pub presto: Presto,
}

impl Node {
    pub fn serving(&self) -> bool {
        self.running && !self.stopped
    }

    pub fn health(&self, now: Duration) -> Health {
        match self.presto {
            _ if now < self.launched + BOOT => Health::Starting,
            Presto::Up => Health::Healthy,
            Presto::PausedUntil(until) if now >= until => Health::Healthy,
            Presto::PausedUntil(_) | Presto::Hung => Health::Down(ProbeFailure::TimedOut),
            Presto::Crashed => Health::Down(ProbeFailure::Unreachable("connection refused".into())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    Crash,
    Hang,
    ShortPause,
    LongPause,
    Terminate,
    Stop,
}

pub struct World {
    pub now: Duration,
    pub nodes: Vec<Node>,
    pub launches: Vec<Duration>,
    pub record: Option<ARecord>,
    pub next_ip: u8,
    pub switches: Vec<(Duration, Option<ARecord>, ARecord)>,
    pub terminations: usize,
}

impl World {
    pub fn new(count: usize) -> Self {
        let mut world = Self {
            now: Duration::from_secs(1_000),
            nodes: Vec::new(),
            launches: Vec::new(),
            record: None,
            next_ip: 10,
            switches: Vec::new(),
            terminations: 0,
        };
        for _ in 0..count {
            world.launch(Duration::from_secs(1_000) - BOOT);
        }
        world.record = Some(ARecord::single(world.nodes[0].ip, 5));
        world
    }

    pub fn launch(&mut self, at: Duration) {
        self.next_ip += 1;
        self.nodes.push(Node {
            id: InstanceId::new(format!("i-{:03}", self.next_ip)),
            ip: Ipv4Addr::new(10, 0, 0, self.next_ip),
            launched: at,
            running: true,
            stopped: false,
            presto: Presto::Up,
        });
    }

    pub fn active(&self) -> Option<&Node> {
        let ip = self.record.as_ref().and_then(ARecord::ip)?;
        self.nodes.iter().find(|n| n.ip == ip && n.serving())
    }

    pub fn terminate(&mut self, id: &InstanceId) {
        if let Some(node) = self.nodes.iter_mut().find(|n| &n.id == id && n.running) {
            node.running = false;
            self.terminations += 1;
            self.launches.push(self.now + LAUNCH_DELAY);
        }
    }

    /// The group's replacements that are due.
    pub fn advance(&mut self, to: Duration) {
        self.now = to;
        let due: Vec<Duration> = self
            .launches
            .iter()
            .copied()
            .filter(|at| *at <= to)
            .collect();
        self.launches.retain(|at| *at > to);
        for at in due {
            self.launch(at);
        }
        self.nodes.retain(|n| n.running);
    }

    pub fn observe(&self) -> Observation {
        let members: Vec<Coordinator> = self
            .nodes
            .iter()
            .filter(|n| n.running)
            .map(|n| Coordinator {
                instance_id: n.id.clone(),
                private_ip: Some(n.ip),
                in_service: true,
                state: if n.stopped {
                    InstanceState::Gone
                } else {
                    InstanceState::Running
                },
                launch_time: Some(UNIX_EPOCH + n.launched),
                protected: false,
            })
            .collect();
        let probes = members
            .iter()
            .filter(|m| m.serving_ip().is_some())
            .map(|m| {
                let node = self
                    .nodes
                    .iter()
                    .find(|n| n.id == m.instance_id)
                    .expect("node");
                Probed {
                    coordinator: m.clone(),
                    health: node.health(self.now),
                }
            })
            .collect();
        Observation {
            at: self.now,
            record: self.record.clone(),
            members,
            probes,
        }
    }

    /// Takes the steps; `crash_after_terminate` drops what follows a termination, as
    /// when the Lambda dies between the two; `throttled` refuses the switch.
    pub fn apply(&mut self, steps: &[Step], crash_after_terminate: bool, throttled: bool) {
        for step in steps {
            match step {
                Step::Terminate { instance, .. } => {
                    self.terminate(instance);
                    if crash_after_terminate {
                        return;
                    }
                }
                Step::Switch { from, to, .. } => {
                    // Route 53's batch: applies only if the record still holds `from`.
                    if !throttled && &self.record == from {
                        self.switches.push((self.now, from.clone(), to.clone()));
                        self.record = Some(to.clone());
                    }
                }
            }
        }
    }
}

pub struct Scenario {
    pub seed: u64,
    pub coordinators: usize,
    pub watchers: usize,
    pub faults: Vec<(Duration, Fault, usize)>,
    pub crash_percent: u64,
    pub throttle_percent: u64,
    /// Every fault is a pause shorter than the grace, spaced so none add up.
    pub spaced_short_pauses: bool,
}

pub fn scenario(seed: u64) -> Scenario {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let coordinators = 1 + rng.below(3) as usize;
    let watchers = 1 + rng.below(2) as usize;
    let kinds = [
        Fault::Crash,
        Fault::Hang,
        Fault::ShortPause,
        Fault::LongPause,
        Fault::Terminate,
        Fault::Stop,
    ];
    let only_short_pauses = rng.chance(15);
    let mut faults: Vec<(Duration, Fault, usize)> = (0..1 + rng.below(4))
        .map(|i| {
            // Target 0 is the active coordinator at the time; others are any member.
            let target = rng.below(3) as usize;
            if only_short_pauses {
                // Spaced so that two short pauses never add up to a long one.
                let at = 1_000 + i * 60 + rng.below(30);
                (Duration::from_secs(at), Fault::ShortPause, target)
            } else {
                let kind = kinds[rng.below(kinds.len() as u64) as usize];
                (
                    Duration::from_secs(1_000 + rng.below(FAULT_WINDOW)),
                    kind,
                    target,
                )
            }
        })
        .collect();
    faults.sort_by_key(|f| f.0);
    Scenario {
        seed,
        coordinators,
        watchers,
        faults,
        crash_percent: rng.below(20),
        throttle_percent: rng.below(20),
        spaced_short_pauses: only_short_pauses,
    }
}

#[derive(Default)]
pub struct Tally {
    /// Fault kind and the time from the fault to the record's switch.
    pub failovers: Vec<(Fault, Duration)>,
}

pub fn run(s: &Scenario, tally: &mut Tally) {
    let mut world = World::new(s.coordinators);
    let mut rng = Rng(s.seed | 1);
    let mut memories = vec![Memory::default(); s.watchers];
    let mut faults = s.faults.iter().peekable();
    let mut stray_since: Option<Duration> = None;
    // A fault that hit the active coordinator: when, its IP, and the kind.
    let mut pending_failover: Option<(Duration, Ipv4Addr, Fault)> = None;
    let context = |world: &World| {
        format!(
            "seed {} at {:?}: record {:?}, nodes {:?}",
            s.seed, world.now, world.record, world.nodes
        )
    };

    let end = world.now + RUN;
    while world.now < end {
        let now = world.now;
        while let Some((at, fault, target)) = faults.peek().copied().copied() {
            if at > now {
                break;
            }
            faults.next();
            let index = match (target, world.active()) {
                (0, Some(active)) => world.nodes.iter().position(|n| n.id == active.id),
                _ if !world.nodes.is_empty() => Some(target % world.nodes.len()),
                _ => None,
            };
            let Some(index) = index else { continue };
            let hits_active = world
                .active()
                .is_some_and(|a| a.id == world.nodes[index].id);
            if hits_active && fault != Fault::ShortPause && pending_failover.is_none() {
                pending_failover = Some((at, world.nodes[index].ip, fault));
            }
            let node = &mut world.nodes[index];
            match fault {
                Fault::Crash => node.presto = Presto::Crashed,
                Fault::Hang => node.presto = Presto::Hung,
                Fault::ShortPause => {
                    node.presto =
                        Presto::PausedUntil(at + GRACE - 2 * INTERVAL - Duration::from_secs(1))
                }
                Fault::LongPause => {
                    node.presto = Presto::PausedUntil(at + GRACE + Duration::from_secs(30))
                }
                Fault::Terminate => {
                    let id = node.id.clone();
                    world.terminate(&id);
                    world.terminations -= 1;
                }
                Fault::Stop => node.stopped = true,
            }
        }

        // Every watcher looks first, then acts: the later ones act on a stale view.
        let observations: Vec<Observation> = (0..s.watchers).map(|_| world.observe()).collect();
        for (memory, observation) in memories.iter_mut().zip(&observations) {
            let steps = plan(observation, memory, &tuning());
            let crash = rng.chance(s.crash_percent);
            let throttled = rng.chance(s.throttle_percent);
            world.apply(&steps, crash, throttled);
        }

        if let Some((at, ip, fault)) = pending_failover
            && world.record.as_ref().and_then(ARecord::ip) != Some(ip)
        {
            tally.failovers.push((fault, world.now - at));
            pending_failover = None;
        }

        // The record must not point at a member that cannot serve for long while a
        // healthy one exists. Throttling and crashes may each cost a probe interval.
        let healthy_exists = world.observe().probes.iter().any(|p| p.health.is_healthy());
        if world.active().is_none() && healthy_exists {
            let since = *stray_since.get_or_insert(now);
            let bound = 8 * INTERVAL;
            assert!(
                now - since <= bound,
                "record stray for {:?}: {}",
                now - since,
                context(&world)
            );
        } else {
            stray_since = None;
        }

        world.advance(now + INTERVAL);
    }

    // One switch per record value: no two switches from the same value.
    let mut froms: Vec<&Option<ARecord>> = world.switches.iter().map(|(_, from, _)| from).collect();
    let total = froms.len();
    froms.dedup();
    assert_eq!(
        froms.len(),
        total,
        "two switches from one record value: {:?}; {}",
        world.switches,
        context(&world)
    );

    if s.spaced_short_pauses {
        assert!(
            world.switches.is_empty(),
            "switched for a pause shorter than the grace: {}",
            context(&world)
        );
        assert_eq!(
            world.terminations,
            0,
            "terminated for a pause shorter than the grace: {}",
            context(&world)
        );
    }

    // Settled: the record points at a healthy coordinator.
    let settled = world.observe();
    let active = world.active().map(|a| a.id.clone());
    assert!(
        settled
            .probes
            .iter()
            .any(|p| Some(&p.coordinator.instance_id) == active.as_ref() && p.health.is_healthy()),
        "did not settle on a healthy coordinator: {}",
        context(&world)
    );
}
