//! The watcher's loop: observe, decide, act, once per probe interval until the run's
//! time is up. The decision is [`crate::decide::plan`]; this module only gathers what
//! it needs and carries out what it returns.

use std::future::Future;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use presto_ha_coordinators::aws::AwsCallError;
use presto_ha_coordinators::choice::{Probed, probe_serving};
use presto_ha_coordinators::error_chain;
use presto_ha_coordinators::group::{
    Coordinator, Coordinators, GroupError, InstanceId, move_protection,
};
use presto_ha_coordinators::probe::HealthProbe;
use presto_ha_coordinators::record::{ARecord, CoordinatorRecord, RecordAddress, RecordError};
use tokio::time::{Instant, MissedTickBehavior};

use crate::decide::{Memory, Observation, Step, Tuning, plan};
use crate::settings::Settings;
use presto_ha_contract::metrics;
use presto_ha_coordinators::notes::{LastFailover, Note, WatchNote, member_slots};

/// Terminating a coordinator so the group replaces it.
pub trait Fence {
    /// Terminates `instance` through its Auto Scaling group without lowering the
    /// desired capacity. An instance already gone from the group is not an error.
    fn terminate(
        &self,
        instance: &InstanceId,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// [`Fence`] through the Auto Scaling API.
#[derive(Debug, Clone)]
pub struct AsgFence {
    client: aws_sdk_autoscaling::Client,
}

impl AsgFence {
    /// Wraps a client.
    pub fn new(client: aws_sdk_autoscaling::Client) -> Self {
        Self { client }
    }
}

impl Fence for AsgFence {
    async fn terminate(&self, instance: &InstanceId) -> Result<(), AwsCallError> {
        let result = self
            .client
            .terminate_instance_in_auto_scaling_group()
            .instance_id(instance.as_str())
            .should_decrement_desired_capacity(false)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                use aws_sdk_autoscaling::error::ProvideErrorMetadata;
                // "Instance Id not found": already terminated and gone from the group.
                if error.code() == Some("ValidationError") {
                    tracing::info!(instance = %instance, "instance already gone from the group");
                    Ok(())
                } else {
                    Err(AwsCallError::sdk(
                        "TerminateInstanceInAutoScalingGroup",
                        format_args!("instance {instance}"),
                        error,
                    ))
                }
            }
        }
    }
}

/// What the watcher works with.
#[derive(Debug)]
pub struct Services<C, P, R, F, N> {
    /// The coordinator group's members.
    pub coordinators: C,
    /// Presto's health.
    pub probe: P,
    /// The coordinator record.
    pub record: R,
    /// Replacing a coordinator.
    pub fence: F,
    /// The memory kept across cold starts.
    pub note: N,
}

fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// One tick's probes of the members known at the time.
#[derive(Debug, Clone)]
pub struct Batch {
    /// When they were sent (wall clock).
    pub sent: Duration,
    /// When the last of them came back.
    pub done: Duration,
    /// What each found.
    pub probes: Vec<Probed>,
}

/// Probes the serving `members` at once: a batch, timed by the wall clock.
async fn probe_batch(
    probe: &impl HealthProbe,
    members: &[Coordinator],
    settings: &Settings,
) -> Batch {
    let sent = wall_clock();
    let probes = probe_serving(probe, members, settings.port, settings.probe_timeout).await;
    Batch {
        sent,
        done: wall_clock(),
        probes,
    }
}

/// Runs rounds until `until`. `memory` is `None` in a process that has not watched
/// yet: it then starts from the note an earlier process left, if that is fresh.
///
/// The probes leave on every tick of the probe interval, whatever the rounds are
/// doing: a tick's probes may time out while the previous round still switches the
/// record, and the next tick's leave on time all the same. Each round takes the
/// probes that came back (in the order they were sent), reads the group and the
/// record, decides and acts.
pub async fn watch<C, P, R, F, N>(
    services: &Services<C, P, R, F, N>,
    settings: &Settings,
    memory: &mut Option<Memory>,
    until: Instant,
) where
    C: Coordinators,
    P: HealthProbe + Sync,
    R: CoordinatorRecord,
    F: Fence,
    N: WatchNote,
{
    let memory = match memory {
        Some(memory) => memory,
        None => {
            let recalled = match services.note.read(&settings.address, Note::Memory).await {
                Ok(note) => Memory::from_note(note.as_deref().unwrap_or_default(), wall_clock()),
                Err(error) => {
                    tracing::warn!(
                        error = %error,
                        "could not read the watcher's note; starting with no memory"
                    );
                    Memory::default()
                }
            };
            tracing::info!(note = recalled.to_note(wall_clock()), "memory recalled");
            memory.insert(recalled)
        }
    };
    // The members the next tick probes: none until the first round has read them (that
    // round probes them itself).
    let (targets, known) = tokio::sync::watch::channel(Vec::<Coordinator>::new());
    let (batches, mut arrived) = tokio::sync::mpsc::unbounded_channel::<Batch>();
    let prober = async move {
        let mut ticks = tokio::time::interval(settings.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut in_flight = FuturesOrdered::new();
        let mut ticking = true;
        loop {
            tokio::select! {
                tick = ticks.tick(), if ticking => {
                    // The last tick is the one after which the next would be too late.
                    ticking = tick + settings.interval < until;
                    let members = known.borrow().clone();
                    in_flight.push_back(async move {
                        probe_batch(&services.probe, &members, settings).await
                    });
                }
                Some(batch) = in_flight.next(), if !in_flight.is_empty() => {
                    if batches.send(batch).is_err() {
                        break;
                    }
                }
                else => break,
            }
        }
        // Dropping the sender ends the rounds once they have taken every batch.
        drop(batches);
    };
    let rounds = async {
        let mut healthy_standbys = None;
        let mut member_notes = MemberNotes::default();
        // The longest stretch of this run with the record on no healthy coordinator.
        let mut without_active = Duration::ZERO;
        let mut active_lost_at: Option<Instant> = None;
        while let Some(first) = arrived.recv().await {
            // Batches that came back while the last round was acting are decided on
            // too, oldest first, so that the memory misses no recovery; only the
            // newest one's steps are taken.
            let (mut earlier, mut latest) = (Vec::new(), first);
            while let Ok(next) = arrived.try_recv() {
                earlier.push(std::mem::replace(&mut latest, next));
            }
            let started = Instant::now();
            let before = memory.clone();
            let result = round(
                services,
                settings,
                memory,
                &mut member_notes,
                (earlier, latest),
                &targets,
            )
            .await;
            match result {
                Ok(view) => {
                    healthy_standbys = Some(view.healthy_standbys);
                    if view.active_healthy {
                        active_lost_at = None;
                    } else {
                        let since = *active_lost_at.get_or_insert(started);
                        without_active = without_active.max(started - since);
                    }
                }
                Err(error) => tracing::error!(
                    error = error_chain(&error),
                    "watch round failed; trying again next round"
                ),
            }
            // Keep the note current while anyone is failing, so that a cold start
            // resumes the grace where it was; one more write when the last failure
            // clears.
            if *memory != before || *memory != Memory::default() {
                let note = memory.to_note(wall_clock());
                if let Err(error) = services
                    .note
                    .write(&settings.address, Note::Memory, &note)
                    .await
                {
                    tracing::warn!(error = %error, "could not save the watcher's note");
                }
            }
        }
        // One reading per run (about a minute) is enough for the alarms.
        if let Some(healthy) = healthy_standbys {
            emit_metric(
                &settings.group,
                metrics::HEALTHY_STANDBYS,
                "Count",
                healthy as f64,
            );
            emit_metric(
                &settings.group,
                metrics::SECONDS_WITHOUT_HEALTHY_ACTIVE,
                "Seconds",
                without_active.as_secs_f64(),
            );
        }
    };
    tokio::join!(prober, rounds);
}

/// What a round saw, for the run's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RoundView {
    /// Healthy coordinators the record does not point at.
    healthy_standbys: usize,
    /// Whether the record pointed at a healthy coordinator.
    active_healthy: bool,
}

/// Why a round could not look at the coordinators.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// The group's members could not be read.
    #[error("failed to read the coordinators")]
    Group(#[from] GroupError),
    /// The record could not be read or changed.
    #[error("failed to read or switch the coordinator record")]
    Record(#[from] RecordError),
}

/// What a round sees, given the batches that came back since the last one and the
/// group and record it read: each `earlier` batch decided for the memory only, oldest
/// first, so that the memory misses no recovery; then the newest batch's observation,
/// judged as of when its probes came back, not when the round got to them (a round
/// slowed by its calls must not count a failure past its evidence), and the serving
/// members it has no probe of, which the round probes itself ([`add_probes`]). The
/// failover model runs the same.
pub fn look(
    memory: &mut Memory,
    tuning: &Tuning,
    (earlier, latest): (&[Batch], &Batch),
    members: Vec<Coordinator>,
    record: Option<ARecord>,
) -> (Observation, Vec<Coordinator>) {
    for batch in earlier {
        let (probes, _) = match_probes(&batch.probes, &members);
        let observation = Observation {
            at: batch.done,
            sent: batch.sent,
            record: record.clone(),
            members: members.clone(),
            probes,
        };
        let skipped = plan(&observation, memory, tuning);
        tracing::debug!(steps = ?skipped, "an older batch, decided for the memory only");
    }
    let (probes, unprobed) = match_probes(&latest.probes, &members);
    let observation = Observation {
        at: latest.done,
        sent: latest.sent,
        record,
        members,
        probes,
    };
    (observation, unprobed)
}

/// Adds to `observation` the probes a round made itself (`extra`) of the members the
/// newest batch had none of. Without probes of its own, the observation becomes the
/// extra probes', as of their return. Else the batch's probes are first decided for
/// the memory, and the observation stays judged as of the batch's return, the extra
/// probes' failures counted from when they left: neither is counted past its
/// evidence.
pub fn add_probes(
    observation: &mut Observation,
    memory: &mut Memory,
    tuning: &Tuning,
    extra: Batch,
) {
    if observation.probes.is_empty() {
        observation.at = extra.done;
    } else {
        let decided = plan(observation, memory, tuning);
        tracing::debug!(steps = ?decided, "the tick's batch, decided for the memory before the round's own probes");
    }
    observation.sent = extra.sent;
    observation.probes.extend(extra.probes);
}

/// The probes of `probed` that are of `members` as they are now (the same instance
/// at the same address, still serving), and the serving members they have none for.
pub fn match_probes(probed: &[Probed], members: &[Coordinator]) -> (Vec<Probed>, Vec<Coordinator>) {
    let mut probes = Vec::new();
    let mut unprobed = Vec::new();
    for member in members.iter().filter(|m| m.serving_ip().is_some()) {
        let found = probed.iter().find(|p| {
            p.coordinator.instance_id == member.instance_id
                && p.coordinator.serving_ip() == member.serving_ip()
        });
        match found {
            Some(probed) => probes.push(Probed {
                coordinator: member.clone(),
                health: probed.health.clone(),
            }),
            None => unprobed.push(member.clone()),
        }
    }
    (probes, unprobed)
}

async fn round<C, P, R, F, N>(
    services: &Services<C, P, R, F, N>,
    settings: &Settings,
    memory: &mut Memory,
    member_notes: &mut MemberNotes,
    (earlier, latest): (Vec<Batch>, Batch),
    targets: &tokio::sync::watch::Sender<Vec<Coordinator>>,
) -> Result<RoundView, RoundError>
where
    C: Coordinators,
    P: HealthProbe + Sync,
    R: CoordinatorRecord,
    F: Fence,
    N: WatchNote,
{
    let (members, record) = tokio::join!(
        services.coordinators.members(&settings.group),
        services.record.read(&settings.address)
    );
    let (members, record) = (members?, record?);
    targets.send_replace(members.clone());
    let (mut observation, unprobed) = look(
        memory,
        &settings.tuning,
        (&earlier, &latest),
        members,
        record,
    );
    // Members the tick did not know (the first round's, a replacement just launched)
    // are probed now.
    if !unprobed.is_empty() {
        let extra = probe_batch(&services.probe, &unprobed, settings).await;
        add_probes(&mut observation, memory, &settings.tuning, extra);
    }
    let steps = plan(&observation, memory, &settings.tuning);
    let summary: Vec<String> = observation
        .probes
        .iter()
        .map(|p| format!("{} {}", p.coordinator.instance_id, p.health))
        .collect();
    let record_ip = observation.record.as_ref().and_then(|r| r.ip());
    let view = RoundView {
        healthy_standbys: observation
            .probes
            .iter()
            .filter(|p| p.health.is_healthy() && p.coordinator.serving_ip() != record_ip)
            .count(),
        active_healthy: observation.probes.iter().any(|p| {
            p.health.is_healthy() && record_ip.is_some() && p.coordinator.serving_ip() == record_ip
        }),
    };
    let record_text = observation.record.as_ref().map(ToString::to_string);
    if steps.is_empty() {
        tracing::debug!(record = record_text, probes = ?summary, "all well");
    } else {
        tracing::info!(record = record_text, probes = ?summary, steps = ?steps, "acting");
    }
    // What the record points at once the steps are taken, and who was terminated.
    let mut record_now = observation.record.clone();
    let mut terminated = Vec::new();
    let mut record_known = true;
    for step in steps {
        match step {
            Step::Terminate { instance, why } => {
                terminated.push(instance.clone());
                match services.fence.terminate(&instance).await {
                    Ok(()) => {
                        tracing::info!(instance = %instance, why = ?why, "coordinator terminated for replacement")
                    }
                    // The switch goes ahead: a live coordinator for the clients matters
                    // more than fencing, which the next round tries again.
                    Err(error) => {
                        tracing::error!(instance = %instance, why = ?why, error = %error, "failed to terminate")
                    }
                }
            }
            Step::Switch {
                from,
                to,
                instance,
                why,
            } => {
                match services
                    .record
                    .swap(&settings.address, from.as_ref(), Some(&to))
                    .await
                {
                    Ok(_) => {
                        record_now = Some(to.clone());
                        // The member the record pointed at, serving or not any more.
                        let old = from.as_ref().and_then(|f| f.ip()).and_then(|ip| {
                            observation
                                .members
                                .iter()
                                .find(|m| m.private_ip == Some(ip))
                        });
                        let failing =
                            old.and_then(|m| memory.failing_for(&m.instance_id, observation.at));
                        tracing::info!(
                            from = from.as_ref().map(ToString::to_string),
                            to = %to,
                            instance = %instance,
                            why = ?why,
                            failing_seconds = failing.map(|d| d.as_secs_f64()),
                            "coordinator record switched"
                        );
                        let seconds = failing.unwrap_or_default().as_secs_f64();
                        emit_metric(
                            &settings.group,
                            metrics::FAILOVER_SECONDS,
                            "Seconds",
                            seconds,
                        );
                        if let Some(ip) = to.ip() {
                            let last = LastFailover {
                                at: wall_clock(),
                                from: old.map(|m| m.instance_id.clone()),
                                to: instance,
                                ip,
                                why: format!("{why:?}"),
                                failing_for: failing,
                            };
                            let written = services
                                .note
                                .write(&settings.address, Note::LastFailover, &last.to_string())
                                .await;
                            if let Err(error) = written {
                                tracing::warn!(error = %error, "could not note the failover");
                            }
                        }
                    }
                    Err(RecordError::Conflict { message, .. }) => {
                        record_known = false;
                        tracing::warn!(
                            message,
                            "record changed since it was read; another writer acted; reading again next round"
                        );
                    }
                    Err(error) => return Err(error.into()),
                }
            }
        }
    }
    // Exactly the active coordinator is protected from scale-in: moved after a
    // switch, and repaired when it drifted (a crash between record and protection, or
    // a change by hand). Not after a lost race: the record's value is then unknown
    // until the next round reads it.
    if !record_known {
        return Ok(view);
    }
    let staying: Vec<Coordinator> = observation
        .members
        .iter()
        .filter(|m| !terminated.contains(&m.instance_id))
        .cloned()
        .collect();
    let active_now = record_now
        .as_ref()
        .and_then(ARecord::ip)
        .and_then(|ip| staying.iter().find(|m| m.serving_ip() == Some(ip)))
        .map(|m| m.instance_id.clone());
    for error in move_protection(
        &services.coordinators,
        &settings.group,
        &staying,
        active_now.as_ref(),
    )
    .await
    {
        tracing::warn!(error = %error, "could not move the scale-in protection; trying again next round");
    }
    member_notes
        .sync(&services.note, &settings.address, &staying)
        .await;
    Ok(view)
}

/// The member notes (`member-<slot>.<record>`) as far as this run knows them: read
/// once, then kept, so that a write happens only when a coordinator comes or goes.
#[derive(Debug, Default)]
struct MemberNotes {
    known: Option<Vec<Option<Ipv4Addr>>>,
}

impl MemberNotes {
    /// Points each member slot at the coordinator [`member_slots`] gives it. Advisory,
    /// like every note: a failure is logged and tried again next round, and never
    /// holds up a failover (this runs after the round's steps).
    async fn sync<N: WatchNote>(&mut self, note: &N, at: &RecordAddress, staying: &[Coordinator]) {
        let wanted = member_slots(staying);
        if wanted.is_empty() {
            return;
        }
        if self.known.is_none() {
            let mut read = Vec::new();
            for slot in (1..).take(wanted.len()) {
                let ip = note.read(at, Note::Member(slot)).await;
                read.push(ip.ok().flatten().and_then(|ip| ip.parse().ok()));
            }
            self.known = Some(read);
        }
        let Some(known) = &mut self.known else {
            return;
        };
        for ((slot, ip), known) in (1..).zip(wanted).zip(known) {
            if *known == Some(ip) {
                continue;
            }
            let slot = Note::Member(slot);
            match note.write(at, slot, &ip.to_string()).await {
                Ok(()) => {
                    tracing::info!(member = slot.name(at), ip = %ip, "member record set");
                    *known = Some(ip);
                }
                Err(error) => {
                    tracing::warn!(error = %error, "could not set a member record; trying again next round")
                }
            }
        }
    }
}

/// A CloudWatch metric in the embedded metric format: a JSON line on stdout that
/// CloudWatch Logs turns into a metric, with no API call.
fn emit_metric(group: &str, name: &str, unit: &str, value: f64) {
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": wall_clock().as_millis() as u64,
            "CloudWatchMetrics": [{
                "Namespace": metrics::NAMESPACE,
                "Dimensions": [[metrics::DIMENSION]],
                "Metrics": [{ "Name": name, "Unit": unit }],
            }],
        },
        metrics::DIMENSION: group,
        name: value,
    });
    println!("{line}");
}

/// One round in process, against fakes as strict as Route 53 where it matters: the
/// paths the end-to-end tests cannot force (another writer between read and swap, a
/// termination that fails).
#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::UNIX_EPOCH;

    use presto_ha_coordinators::fakes::{FakeGroups, FakeProbe, FakeRoute53};
    use presto_ha_coordinators::group::InstanceState;
    use presto_ha_coordinators::probe::{Health, ProbeFailure};

    use super::*;
    use crate::decide::Tuning;

    const GROUP: &str = "coordinators";

    /// Terminations asked for; each fails when `fails` is set.
    #[derive(Debug, Default)]
    struct FakeFence {
        fails: bool,
        asked: Mutex<Vec<InstanceId>>,
    }

    impl Fence for FakeFence {
        async fn terminate(&self, instance: &InstanceId) -> Result<(), AwsCallError> {
            self.asked.lock().expect("lock").push(instance.clone());
            if self.fails {
                return Err(AwsCallError {
                    operation: "TerminateInstanceInAutoScalingGroup",
                    resource: format!("instance {instance}"),
                    detail: "Throttling: Rate exceeded".into(),
                });
            }
            Ok(())
        }
    }

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }

    fn record(n: u8) -> Option<ARecord> {
        Some(ARecord::single(ip(n), 5))
    }

    type Fakes = Services<FakeGroups, FakeProbe, FakeRoute53, FakeFence, FakeRoute53>;

    /// Three coordinators, the record and the protection on i-1, which has been
    /// failing (timed out) for a minute; i-2 (older) and i-3 are healthy.
    fn cluster(fence_fails: bool) -> (Fakes, Settings, Option<Memory>) {
        let settings = Settings {
            address: RecordAddress {
                zone: "Z1".parse().expect("zone"),
                name: "coordinator.presto.internal".parse().expect("name"),
            },
            group: GROUP.into(),
            port: 8080,
            interval: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(1),
            tuning: Tuning {
                grace: Duration::from_secs(15),
                refused: Duration::from_secs(4),
                startup_allowance: Duration::from_secs(600),
                ttl: 5,
            },
        };
        let members = (1..=3)
            .map(|n: u8| Coordinator {
                instance_id: InstanceId::new(format!("i-{n}")),
                private_ip: Some(ip(n)),
                in_service: true,
                state: InstanceState::Running,
                launch_time: Some(UNIX_EPOCH + Duration::from_secs(1_000 + u64::from(n))),
                protected: n == 1,
            })
            .collect();
        let coordinators = FakeGroups::default();
        coordinators.set(GROUP, members);
        let probe = FakeProbe::default();
        probe.set(ip(1), Health::Down(ProbeFailure::TimedOut));
        probe.set(ip(2), Health::Healthy);
        probe.set(ip(3), Health::Healthy);
        let route53 = FakeRoute53::with_zones(&[&settings.address.zone]);
        route53.put(&settings.address, record(1));
        let now = wall_clock();
        let note = format!(
            "at={} i-1={}",
            now.as_millis(),
            (now - Duration::from_secs(60)).as_millis()
        );
        let memory = Some(Memory::from_note(&note, now));
        let services = Services {
            coordinators,
            probe,
            record: route53,
            fence: FakeFence {
                fails: fence_fails,
                ..FakeFence::default()
            },
            note: FakeRoute53::with_zones(&[&settings.address.zone]),
        };
        (services, settings, memory)
    }

    fn failover_noted(services: &Fakes, settings: &Settings) -> bool {
        services
            .note
            .note_names(&settings.address.zone)
            .iter()
            .any(|name| name.contains("_presto-ha-failover."))
    }

    #[tokio::test]
    async fn a_lost_race_keeps_the_other_writers_value_and_leaves_protection_alone() {
        let (services, settings, mut memory) = cluster(false);
        // Another watcher moves the record to i-3 between this round's read and swap.
        services
            .record
            .interleave_next_swap(&settings.address, record(3));
        watch(&services, &settings, &mut memory, Instant::now()).await;
        assert_eq!(services.record.get(&settings.address), record(3));
        assert!(
            !services
                .record
                .changes()
                .iter()
                .any(|(_, _, to)| to == &record(2)),
            "the stale swap went through: {:?}",
            services.record.changes()
        );
        assert_eq!(
            *services.fence.asked.lock().expect("lock"),
            [InstanceId::new("i-1")]
        );
        assert_eq!(
            services.coordinators.protected(GROUP),
            [InstanceId::new("i-1")]
        );
        assert!(
            !failover_noted(&services, &settings),
            "a switch that did not happen was noted"
        );
    }

    #[tokio::test]
    async fn a_failed_termination_does_not_hold_up_the_switch() {
        let (services, settings, mut memory) = cluster(true);
        watch(&services, &settings, &mut memory, Instant::now()).await;
        assert_eq!(
            *services.fence.asked.lock().expect("lock"),
            [InstanceId::new("i-1")]
        );
        assert_eq!(services.record.get(&settings.address), record(2));
        assert!(
            services
                .coordinators
                .protected(GROUP)
                .contains(&InstanceId::new("i-2"))
        );
        assert!(failover_noted(&services, &settings));
        // The member records name the coordinators that stay, oldest first.
        let mut slots = Vec::new();
        for n in 1..=3 {
            let read = WatchNote::read(&services.note, &settings.address, Note::Member(n)).await;
            slots.push(read.expect("read").unwrap_or_default());
        }
        assert_eq!(slots, ["10.0.0.2", "10.0.0.3", "10.0.0.2"]);
    }
}
