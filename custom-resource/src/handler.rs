//! What each request does to the record.
//!
//! Create and Update share one rule: the record is left alone while it points at a
//! serving member of the coordinator group (a stack update must not cause a needless
//! switch; whether that member is healthy is the watcher's call, with its grace
//! period); otherwise it is seeded with the longest-running healthy member, or, when
//! none turns healthy in time, the longest-running serving one. A TTL change is
//! applied in place. Every write is a compare-and-swap; a lost race re-reads and
//! decides again. Delete removes the record named by the physical id if it is there.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use presto_ha_contract::dns_resource as attribute;
use presto_ha_coordinators::choice::{first_serving, healthiest, probe_serving};
use presto_ha_coordinators::error_chain;
use presto_ha_coordinators::group::{
    Coordinator, Coordinators, GroupError, InstanceId, move_protection,
};
use presto_ha_coordinators::notes::{Note, WatchNote};
use presto_ha_coordinators::probe::HealthProbe;
use presto_ha_coordinators::record::{ARecord, CoordinatorRecord, RecordAddress, RecordError};
use tokio::time::Instant;

use crate::ANSWER_RESERVE;
use crate::drain::{QueryCounting, drain_replaced};
use crate::event::{DnsProperties, Request, WatcherRef, address_of, physical_id};
use crate::watcher::WatcherControl;

/// The AWS-facing services a request uses.
#[derive(Debug)]
pub struct Services<C, P, R, W, Q> {
    /// The coordinator group's members.
    pub coordinators: C,
    /// Presto's health.
    pub probe: P,
    /// The coordinator record and the watcher's notes beside it.
    pub record: R,
    /// The stack and the watcher, for a Delete.
    pub watcher: W,
    /// The old coordinators' queries, for an update's drain.
    pub queries: Q,
}

/// What a successful request tells CloudFormation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    /// The resource's id.
    pub physical_id: String,
    /// Attributes for `Fn::GetAtt`.
    pub data: BTreeMap<String, String>,
    /// A note for the stack's events, when something deserves one.
    pub reason: Option<String>,
}

/// Why a Create or Update failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The group has nothing to point the record at.
    #[error("coordinator group {0} has no InService instance with a private IP")]
    NoCoordinator(String),
    /// Reading the group failed.
    #[error(transparent)]
    Group(#[from] GroupError),
    /// Reading or writing the record failed.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// How often coordinators are probed while waiting for one to turn healthy.
const HEALTH_POLL: Duration = Duration::from_secs(2);
/// The longest wait for a healthy coordinator before choosing among the others.
const HEALTH_WAIT_MAX: Duration = Duration::from_secs(120);
/// Time kept after the wait for writing the record and answering.
const WRITE_RESERVE: Duration = Duration::from_secs(20);
/// The longest wait for a change to reach every Route 53 server.
const SYNC_WAIT_MAX: Duration = Duration::from_secs(30);
/// Compare-and-swap attempts before a Create or Update gives up on a busy record.
const SWAP_ATTEMPTS: u32 = 3;
/// Time kept after an update's drain for its last count (at most a probe timeout)
/// and the answer.
const DRAIN_RESERVE: Duration = Duration::from_secs(35);
/// Time a Delete keeps after waiting out the watcher, for removing and answering.
const DELETE_RESERVE: Duration = Duration::from_secs(30);

/// The coordinator the record points at.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    instance_id: InstanceId,
    ip: Ipv4Addr,
}

/// Carries out `request`, finishing before `deadline` or being cut off by the caller.
pub async fn handle<C, P, R, W, Q>(
    services: &Services<C, P, R, W, Q>,
    request: Request,
    deadline: Instant,
) -> Result<Success, HandlerError>
where
    C: Coordinators,
    P: HealthProbe + Sync,
    R: CoordinatorRecord + WatchNote,
    W: WatcherControl,
    Q: QueryCounting,
{
    match request {
        // An Update whose zone or name changed derives a new id: CloudFormation takes
        // that as a replacement and deletes the old record afterwards.
        Request::Create(properties) => ensured(services, properties, None, deadline).await,
        Request::Update {
            properties,
            replaced_group,
            ..
        } => ensured(services, properties, replaced_group, deadline).await,
        Request::Delete {
            physical_id,
            stack_id,
            watcher,
            group,
        } => Ok(delete(services, physical_id, &stack_id, watcher, group, deadline).await),
    }
}

/// Create and Update: the record ensured, then the protection moved to its target
/// and, when the group was replaced, lifted from the old group's members, which are
/// then drained.
async fn ensured<C, P, R, W, Q>(
    services: &Services<C, P, R, W, Q>,
    properties: DnsProperties,
    replaced_group: Option<String>,
    deadline: Instant,
) -> Result<Success, HandlerError>
where
    C: Coordinators,
    P: HealthProbe + Sync,
    R: CoordinatorRecord,
    Q: QueryCounting,
{
    if let (Some(_), Some(watcher)) = (&replaced_group, &properties.watcher) {
        // The watcher's function now names the new group, and a run that started
        // before that still watches the old one: it would move the record back.
        // Runs are one at a time and end within the timeout, so after it every run
        // watches the new group (and may itself move the record there first).
        tracing::info!(
            "the coordinator group was replaced: waiting out watcher runs that still watch the old one"
        );
        wait_out(watcher, deadline, WRITE_RESERVE + HEALTH_WAIT_MAX).await;
    }
    let target = ensure_record(services, &properties, deadline).await?;
    let coordinators = &services.coordinators;
    let protected =
        set_protection(coordinators, &properties.group, Some(&target.instance_id)).await;
    let mut reasons: Vec<String> = protected.into_iter().collect();
    if let Some(old) = replaced_group {
        reasons.extend(set_protection(coordinators, &old, None).await);
        if let Some(settings) = &properties.drain {
            let stop_at = deadline
                .checked_sub(ANSWER_RESERVE + DRAIN_RESERVE)
                .unwrap_or_else(Instant::now);
            let drain = drain_replaced(
                coordinators,
                &services.queries,
                &properties,
                settings,
                &old,
                stop_at,
            );
            // A count started just before the stop may take its probe timeout; past
            // that, the answer still goes out, saying so.
            let hard_stop = stop_at + DRAIN_RESERVE - Duration::from_secs(1);
            reasons.extend(match tokio::time::timeout_at(hard_stop, drain).await {
                Ok(reason) => reason,
                Err(_) => Some(format!(
                    "stopped draining coordinator group {old} at the custom resource's deadline"
                )),
            });
        }
    }
    let data = BTreeMap::from([
        (attribute::COORDINATOR_IP.to_owned(), target.ip.to_string()),
        (
            attribute::COORDINATOR_INSTANCE_ID.to_owned(),
            target.instance_id.to_string(),
        ),
        (
            attribute::RECORD_NAME.to_owned(),
            properties.address.name.to_string(),
        ),
    ]);
    Ok(Success {
        physical_id: physical_id(&properties.address),
        data,
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
    })
}

/// Waits until every run of `watcher` that may have started before now has ended (its
/// timeout), or until `reserve` before `deadline`, whichever comes first.
async fn wait_out(watcher: &WatcherRef, deadline: Instant, reserve: Duration) {
    let until = (Instant::now() + watcher.timeout)
        .min(deadline.checked_sub(reserve).unwrap_or_else(Instant::now));
    tracing::info!(
        wait_seconds = until.saturating_duration_since(Instant::now()).as_secs(),
        function = watcher.function,
        "waiting out the watcher's runs"
    );
    tokio::time::sleep_until(until).await;
}

/// Leaves exactly `active` protected from scale-in among the members of `group`, or
/// none when `active` is `None`. A failure does not fail the request: it is logged and
/// returned as a reason for the answer. After a switch the record is right and the
/// watcher repairs protection every round; a group being released that is already
/// gone protects nothing.
async fn set_protection(
    coordinators: &impl Coordinators,
    group: &str,
    active: Option<&InstanceId>,
) -> Option<String> {
    let failed = match coordinators.members(group).await {
        Ok(members) => move_protection(coordinators, group, &members, active).await,
        Err(GroupError::NoSuchGroup(_)) if active.is_none() => Vec::new(),
        Err(error) => vec![error],
    };
    if failed.is_empty() {
        if active.is_none() {
            tracing::info!(group, "scale-in protection lifted from the group");
        }
        return None;
    }
    let errors = failed
        .iter()
        .map(|e| error_chain(e))
        .collect::<Vec<_>>()
        .join("; ");
    let reason = match active {
        Some(target) => {
            format!("scale-in protection not moved to {target} (the watcher repairs it): {errors}")
        }
        None => format!("scale-in protection of coordinator group {group} not lifted: {errors}"),
    };
    tracing::error!(group, reason, "scale-in protection not set");
    Some(reason)
}

async fn ensure_record<C, P, R, W, Q>(
    services: &Services<C, P, R, W, Q>,
    properties: &DnsProperties,
    deadline: Instant,
) -> Result<Target, HandlerError>
where
    C: Coordinators,
    P: HealthProbe + Sync,
    R: CoordinatorRecord,
{
    let address = &properties.address;
    let mut attempt = 1;
    loop {
        let members = services.coordinators.members(&properties.group).await?;
        if first_serving(&members).is_none() {
            return Err(HandlerError::NoCoordinator(properties.group.clone()));
        }
        let current = services.record.read(address).await?;
        let current_member = current
            .as_ref()
            .and_then(ARecord::ip)
            .and_then(|ip| members.iter().find(|m| m.serving_ip() == Some(ip)));
        let (target, kept) = match current_member {
            Some(member) => (Some(member.clone()), true),
            None => (
                choose(services, properties, &members, deadline).await,
                false,
            ),
        };
        let Some((target, ip)) = target.and_then(|t| Some((t.clone(), t.serving_ip()?))) else {
            return Err(HandlerError::NoCoordinator(properties.group.clone()));
        };
        let desired = ARecord::single(ip, properties.ttl);
        match services
            .record
            .swap(address, current.as_ref(), Some(&desired))
            .await
        {
            Ok(change) => {
                tracing::info!(
                    record = %address,
                    coordinator = %ip,
                    instance = %target.instance_id,
                    previous = current.as_ref().map(ToString::to_string),
                    changed = change.is_some(),
                    kept,
                    "coordinator record ensured"
                );
                if let Some(change) = change {
                    let budget = SYNC_WAIT_MAX.min(
                        deadline
                            .saturating_duration_since(Instant::now())
                            .saturating_sub(WRITE_RESERVE / 4),
                    );
                    if !services.record.wait_applied(&change, budget).await? {
                        tracing::warn!(record = %address, change = change.0, "change accepted but not yet applied everywhere");
                    }
                }
                return Ok(Target {
                    instance_id: target.instance_id,
                    ip,
                });
            }
            Err(RecordError::Conflict { message, .. }) if attempt < SWAP_ATTEMPTS => {
                tracing::warn!(record = %address, attempt, message, "record changed while deciding; reading it again");
                attempt += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// The member to seed the record with: the healthiest, waiting for one to turn
/// healthy while time allows, else the first serving one.
async fn choose<C, P, R, W, Q>(
    services: &Services<C, P, R, W, Q>,
    properties: &DnsProperties,
    members: &[Coordinator],
    deadline: Instant,
) -> Option<Coordinator>
where
    P: HealthProbe + Sync,
{
    let wait_until = (Instant::now() + HEALTH_WAIT_MAX).min(
        deadline
            .checked_sub(WRITE_RESERVE)
            .unwrap_or_else(Instant::now),
    );
    loop {
        let probed = probe_serving(
            &services.probe,
            members,
            properties.port,
            properties.probe_timeout,
        )
        .await;
        if let Some(healthy) = healthiest(&probed) {
            return Some(healthy.clone());
        }
        if Instant::now() + HEALTH_POLL >= wait_until {
            let summary: Vec<String> = probed
                .iter()
                .map(|p| format!("{} {}", p.coordinator.instance_id, p.health))
                .collect();
            tracing::warn!(group = properties.group, probes = ?summary, "no coordinator turned healthy in time; choosing the longest-running one");
            return first_serving(members).cloned();
        }
        tokio::time::sleep(HEALTH_POLL).await;
    }
}

/// Removes the record and the watcher's notes named by `physical_id`, after making
/// sure no watcher run can write them again (see [`crate::watcher`]). Never fails:
/// what cannot be done is said in the reason, and the stack goes on.
async fn delete<C, P, R, W, Q>(
    services: &Services<C, P, R, W, Q>,
    physical_id: String,
    stack_id: &str,
    watcher: Option<WatcherRef>,
    group: Option<String>,
    deadline: Instant,
) -> Success
where
    C: Coordinators,
    R: CoordinatorRecord + WatchNote,
    W: WatcherControl,
{
    let done = |reasons: Vec<String>| Success {
        physical_id: physical_id.clone(),
        data: BTreeMap::new(),
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
    };
    let Some(address) = address_of(&physical_id) else {
        tracing::info!(
            physical_id,
            "no record was created under this id; nothing to delete"
        );
        return done(Vec::new());
    };
    let mut reasons = Vec::new();
    if let Some(watcher) = watcher {
        // Stopping the watcher on a mere replacement would end failover for good, so
        // when in doubt it is left running; the wait below still covers every run
        // that started before the stack's triggers were removed.
        let going_away = match services.watcher.stack_going_away(stack_id).await {
            Ok(going_away) => going_away,
            Err(error) => {
                tracing::warn!(error = %error, "could not tell whether the stack is being deleted; leaving the watcher running");
                false
            }
        };
        if going_away {
            match services.watcher.stop_watcher(&watcher.function).await {
                Ok(()) => tracing::info!(function = watcher.function, "watcher stopped"),
                Err(error) => {
                    tracing::error!(error = %error, "could not stop the watcher");
                    reasons.push(format!("watcher not stopped: {error}"));
                }
            }
        }
        tracing::info!(
            going_away,
            "waiting out watcher runs that may still write next to the record"
        );
        wait_out(&watcher, deadline, DELETE_RESERVE).await;
        // CloudFormation empties a group by lowering its size, which spares protected
        // members: lift the protection, now that no watcher run can set it again.
        if let (true, Some(group)) = (going_away, &group) {
            reasons.extend(set_protection(&services.coordinators, group, None).await);
        }
    }
    reasons.extend(remove_record(&services.record, &address).await);
    for note in Note::ALL {
        match services.record.remove(&address, note).await {
            Ok(removed) => tracing::info!(note = note.name(&address), removed, "note removed"),
            Err(error) => {
                tracing::error!(error = %error, "failed to delete a note");
                reasons.push(format!(
                    "note {} left in place: {error}",
                    note.name(&address)
                ));
            }
        }
    }
    done(reasons)
}

/// Removes the record; what could not be removed, as a reason.
async fn remove_record(record: &impl CoordinatorRecord, address: &RecordAddress) -> Option<String> {
    // A Delete never blocks the stack: what cannot be removed is reported, not failed.
    let left_in_place = |error: &dyn std::error::Error| {
        tracing::error!(record = %address, error = %error_chain(error), "failed to delete the coordinator record");
        Some(format!(
            "record {address} left in place: {}",
            error_chain(error)
        ))
    };
    let mut attempt = 1;
    loop {
        let current = match record.read(address).await {
            Ok(Some(current)) => current,
            Ok(None) => {
                tracing::info!(record = %address, "record already absent");
                return None;
            }
            Err(RecordError::NoSuchZone(_)) => {
                tracing::info!(record = %address, "hosted zone already gone");
                return None;
            }
            Err(error) => return left_in_place(&error),
        };
        match record.swap(address, Some(&current), None).await {
            Ok(_) | Err(RecordError::NoSuchZone(_)) => {
                tracing::info!(record = %address, previous = %current, "record deleted");
                return None;
            }
            Err(RecordError::Conflict { message, .. }) if attempt < SWAP_ATTEMPTS => {
                tracing::warn!(record = %address, attempt, message, "record changed while deleting; reading it again");
                attempt += 1;
            }
            Err(error) => return left_in_place(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use crate::event::WatcherRef;
    use presto_ha_coordinators::aws::AwsCallError;
    use presto_ha_coordinators::fakes::{FakeGroups, FakeProbe, FakeQueries, FakeRoute53};
    use presto_ha_coordinators::group::InstanceState;
    use presto_ha_coordinators::probe::{Health, ProbeFailure};
    use presto_ha_coordinators::record::RecordAddress;

    use super::*;

    const GROUP: &str = "coordinators";

    fn address(name: &str) -> RecordAddress {
        RecordAddress {
            zone: "Z1".parse().expect("zone"),
            name: name.parse().expect("name"),
        }
    }

    fn properties() -> DnsProperties {
        DnsProperties {
            address: address("coordinator.presto.internal"),
            ttl: 5,
            group: GROUP.into(),
            port: 8080,
            probe_timeout: Duration::from_secs(2),
            watch: None,
            drain: None,
            watcher: None,
        }
    }

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }

    /// Member `n`: instance `i-n`, IP 10.0.0.n, launched at second `launched`.
    fn member(n: u8, launched: u64) -> Coordinator {
        Coordinator {
            instance_id: InstanceId::new(format!("i-{n}")),
            private_ip: Some(ip(n)),
            in_service: true,
            state: InstanceState::Running,
            launch_time: Some(UNIX_EPOCH + Duration::from_secs(launched)),
            protected: false,
        }
    }

    type Fakes = Services<FakeGroups, FakeProbe, FakeRoute53, FakeWatcher, Counting>;

    /// The coordinators' queries, or why none can be counted.
    #[derive(Debug, Default)]
    struct Counting {
        queries: FakeQueries,
        refused: Option<String>,
    }

    impl QueryCounting for Counting {
        type Load = FakeQueries;

        async fn counter(
            &self,
            _record_name: &str,
            _tls: Option<&crate::event::ClientTls>,
        ) -> Result<FakeQueries, String> {
            match &self.refused {
                Some(why) => Err(why.clone()),
                None => Ok(self.queries.clone()),
            }
        }
    }

    /// The stack and the watcher: whether the stack is going away, and which watchers
    /// were stopped.
    #[derive(Debug, Default)]
    struct FakeWatcher {
        going_away: bool,
        stopped: std::sync::Mutex<Vec<String>>,
    }

    impl WatcherControl for FakeWatcher {
        async fn stack_going_away(&self, _stack_id: &str) -> Result<bool, AwsCallError> {
            Ok(self.going_away)
        }

        async fn stop_watcher(&self, function: &str) -> Result<(), AwsCallError> {
            self.stopped
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(function.to_owned());
            Ok(())
        }
    }

    fn services(members: Vec<Coordinator>, healthy: &[u8]) -> Fakes {
        let services = Services {
            coordinators: FakeGroups::default(),
            probe: FakeProbe::default(),
            record: FakeRoute53::with_zones(&[&"Z1".parse().expect("zone")]),
            watcher: FakeWatcher::default(),
            queries: Counting::default(),
        };
        for m in &members {
            let n = m.private_ip.expect("ip").octets()[3];
            let health = if healthy.contains(&n) {
                Health::Healthy
            } else {
                Health::Starting
            };
            services.probe.set(ip(n), health);
        }
        services.coordinators.set(GROUP, members);
        services
    }

    fn later(seconds: u64) -> Instant {
        Instant::now() + Duration::from_secs(seconds)
    }

    async fn create(services: &Fakes) -> Result<Success, HandlerError> {
        handle(services, Request::Create(properties()), later(300)).await
    }

    fn record_ip(services: &Fakes) -> Option<Ipv4Addr> {
        services
            .record
            .get(&properties().address)
            .and_then(|r| r.ip())
    }

    #[tokio::test(start_paused = true)]
    async fn create_seeds_the_longest_running_healthy_coordinator() {
        let services = services(vec![member(3, 20), member(1, 30), member(2, 10)], &[1, 3]);
        let success = create(&services).await.expect("created");
        assert_eq!(success.physical_id, "Z1/coordinator.presto.internal");
        assert_eq!(
            success.data,
            BTreeMap::from([
                ("CoordinatorIp".to_owned(), "10.0.0.3".to_owned()),
                ("CoordinatorInstanceId".to_owned(), "i-3".to_owned()),
                (
                    "RecordName".to_owned(),
                    "coordinator.presto.internal".to_owned()
                ),
            ])
        );
        assert_eq!(
            services.record.get(&properties().address),
            Some(ARecord::single(ip(3), 5))
        );
        assert_eq!(services.record.changes().len(), 1);
        assert_eq!(
            services.coordinators.protected("coordinators"),
            [InstanceId::new("i-3")]
        );
        assert_eq!(success.reason, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_replaced_group_is_released_once_the_record_moved_into_the_new_one() {
        let services = services(vec![member(2, 20)], &[2]);
        let mut old_active = member(1, 10);
        old_active.protected = true;
        services
            .coordinators
            .set("old-coordinators", vec![old_active]);
        services
            .record
            .put(&properties().address, Some(ARecord::single(ip(1), 5)));
        let update = Request::Update {
            physical_id: "Z1/coordinator.presto.internal".into(),
            properties: properties(),
            replaced_group: Some("old-coordinators".into()),
        };
        let success = handle(&services, update, later(300))
            .await
            .expect("updated");
        assert_eq!(record_ip(&services), Some(ip(2)));
        assert_eq!(
            services.coordinators.protected(GROUP),
            [InstanceId::new("i-2")]
        );
        assert!(
            services
                .coordinators
                .protected("old-coordinators")
                .is_empty()
        );
        assert_eq!(success.reason, None);
    }

    /// An update with `services` that replaced the group `old-coordinators` (whose
    /// active, i-1, is running `queries`, and whose standby, i-4, none) by one of
    /// healthy i-2, drained for up to `limit` seconds, the invocation's deadline
    /// `deadline` seconds away: its reason and how long it took.
    async fn drained_update(
        services: Fakes,
        queries: usize,
        limit: u64,
        deadline: u64,
    ) -> (Option<String>, Duration) {
        services
            .coordinators
            .set("old-coordinators", vec![member(1, 10), member(4, 11)]);
        services
            .record
            .put(&properties().address, Some(ARecord::single(ip(1), 5)));
        services.queries.queries.set(ip(1), queries);
        let mut properties = properties();
        properties.drain = Some(crate::event::DrainSettings {
            limit: Duration::from_secs(limit),
            port: 8443,
            tls: None,
        });
        let update = Request::Update {
            physical_id: "Z1/coordinator.presto.internal".into(),
            properties,
            replaced_group: Some("old-coordinators".into()),
        };
        let started = Instant::now();
        let success = handle(&services, update, later(deadline))
            .await
            .expect("updated");
        assert_eq!(record_ip(&services), Some(ip(2)));
        (success.reason, started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn an_update_keeps_the_replaced_group_until_its_queries_finish() {
        let (reason, took) =
            drained_update(services(vec![member(2, 20)], &[2]), 20, 600, 900).await;
        // The TTL and the clients' cache, then a count every 2 s down from 20.
        assert_eq!(took, Duration::from_secs(5 + 30 + 2 * 20));
        assert_eq!(
            reason.as_deref(),
            Some("drained coordinator group old-coordinators: no query left after 75 s")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_update_stops_draining_at_the_drain_time_and_says_what_was_left() {
        let (reason, took) =
            drained_update(services(vec![member(2, 20)], &[2]), 1000, 60, 900).await;
        assert_eq!(took, Duration::from_secs(60));
        assert_eq!(
            reason.as_deref(),
            Some(
                "stopped draining coordinator group old-coordinators after 60 s (CoordinatorDrainSeconds) with 987 unfinished queries on i-1; those queries fail as the group is deleted"
            )
        );
    }

    #[tokio::test(start_paused = true)]
    async fn queries_that_cannot_be_counted_are_waited_for_the_whole_drain_time() {
        let mut services = services(vec![member(2, 20)], &[2]);
        services.queries.refused = Some("secret s holds no admin password".into());
        let (reason, took) = drained_update(services, 0, 100, 900).await;
        assert_eq!(took, Duration::from_secs(100));
        let reason = reason.expect("a reason");
        assert!(reason.contains("queries that cannot be counted (unreachable (secret s holds no admin password)) on i-1"), "{reason}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_update_that_replaces_the_group_moves_the_record_after_the_old_watchers_runs() {
        let services = services(vec![member(2, 20)], &[2]);
        services
            .coordinators
            .set("old-coordinators", vec![member(1, 10)]);
        services
            .record
            .put(&properties().address, Some(ARecord::single(ip(1), 5)));
        let mut properties = properties();
        properties.watcher = Some(WatcherRef {
            function: "watcher".into(),
            timeout: Duration::from_secs(90),
        });
        let update = |properties: DnsProperties, replaced_group: Option<&str>| Request::Update {
            physical_id: "Z1/coordinator.presto.internal".into(),
            properties,
            replaced_group: replaced_group.map(str::to_owned),
        };
        let started = Instant::now();
        handle(
            &services,
            update(properties.clone(), Some("old-coordinators")),
            later(900),
        )
        .await
        .expect("updated");
        assert_eq!(started.elapsed(), Duration::from_secs(90));
        assert_eq!(record_ip(&services), Some(ip(2)));
        // The same group: the watcher watched it all along.
        let started = Instant::now();
        handle(&services, update(properties, None), later(900))
            .await
            .expect("updated");
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[test]
    fn the_longest_drain_fits_one_invocation_after_the_wait_and_the_move() {
        use presto_ha_contract::{
            CUSTOM_RESOURCE_TIMEOUT_SECONDS, WATCHER_TIMEOUT_SECONDS, limits,
        };
        let s = |seconds: u32| Duration::from_secs(seconds.into());
        let longest = s(WATCHER_TIMEOUT_SECONDS)
            + HEALTH_WAIT_MAX
            + SYNC_WAIT_MAX
            + s((*limits::COORDINATOR_DRAIN_SECONDS.end()).into())
            + DRAIN_RESERVE
            + ANSWER_RESERVE;
        assert!(longest <= s(CUSTOM_RESOURCE_TIMEOUT_SECONDS), "{longest:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_never_outlasts_the_custom_resources_deadline() {
        let services = services(vec![member(2, 20)], &[2]);
        let (reason, took) = drained_update(services, 10_000, 600, 300).await;
        assert_eq!(
            took,
            Duration::from_secs(300) - ANSWER_RESERVE - DRAIN_RESERVE
        );
        let reason = reason.expect("a reason");
        assert!(
            reason.contains("(the custom resource's time left)"),
            "{reason}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_update_that_moves_the_record_moves_the_protection_after_it() {
        let mut old = member(1, 10);
        old.protected = true;
        let mut gone = member(9, 5);
        gone.in_service = false;
        gone.protected = true;
        let services = services(vec![old, member(2, 20), gone], &[2]);
        services
            .record
            .put(&properties().address, Some(ARecord::single(ip(7), 5)));
        let update = Request::Update {
            physical_id: "Z1/coordinator.presto.internal".into(),
            properties: properties(),
            replaced_group: None,
        };
        let success = handle(&services, update, later(300))
            .await
            .expect("updated");
        assert_eq!(record_ip(&services), Some(ip(2)));
        // Only in-service members are touched: Auto Scaling refuses the others.
        assert_eq!(
            services.coordinators.protected("coordinators"),
            [InstanceId::new("i-2"), InstanceId::new("i-9")]
        );
        assert_eq!(success.reason, None);
    }

    #[tokio::test(start_paused = true)]
    async fn create_waits_for_a_starting_coordinator_then_falls_back_to_the_first() {
        let services = services(vec![member(1, 20), member(2, 10)], &[]);
        let started = Instant::now();
        create(&services).await.expect("created");
        assert_eq!(
            record_ip(&services),
            Some(ip(2)),
            "longest-running when none is healthy"
        );
        assert!(
            started.elapsed() >= HEALTH_WAIT_MAX - HEALTH_POLL,
            "waited {:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn create_takes_a_coordinator_as_soon_as_it_turns_healthy() {
        let services = std::sync::Arc::new(services(vec![member(1, 20), member(2, 10)], &[]));
        let later_services = services.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(7)).await;
            later_services.probe.set(ip(1), Health::Healthy);
        });
        let started = Instant::now();
        create(&services).await.expect("created");
        assert_eq!(record_ip(&services), Some(ip(1)));
        // The next poll after the turn takes it.
        assert!(
            started.elapsed() <= Duration::from_secs(7) + HEALTH_POLL,
            "took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_coordinator_costs_each_poll_its_probe_timeout_and_no_more() {
        // Member 1 hangs: every probe of it takes the whole timeout. Member 2 turns
        // healthy 7 s in, and is taken at the first poll after that.
        let services = std::sync::Arc::new(services(vec![member(1, 10), member(2, 20)], &[]));
        services.probe.hang(ip(1));
        let later_services = services.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(7)).await;
            later_services.probe.set(ip(2), Health::Healthy);
        });
        let started = Instant::now();
        create(&services).await.expect("created");
        assert_eq!(record_ip(&services), Some(ip(2)));
        let timeout = properties().probe_timeout;
        assert!(
            started.elapsed() <= Duration::from_secs(7) + HEALTH_POLL + timeout,
            "took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn hung_coordinators_do_not_hold_the_choice_past_the_deadline() {
        // Nobody answers and the deadline is 40 s away: the wait for a healthy one
        // ends 20 s before it (the write's reserve), even though every poll costs a
        // probe timeout, and the longest-running member is taken.
        let services = services(vec![member(1, 10), member(2, 20)], &[]);
        services.probe.hang(ip(1));
        services.probe.hang(ip(2));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(40);
        handle(&services, Request::Create(properties()), deadline)
            .await
            .expect("created");
        assert_eq!(record_ip(&services), Some(ip(1)), "the longest-running");
        let timeout = properties().probe_timeout;
        assert!(
            started.elapsed() <= Duration::from_secs(40) - WRITE_RESERVE + timeout,
            "took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_change_is_waited_for_within_its_budget() {
        // Applied everywhere 10 s after it is accepted: the Create waits for it.
        let waits = services(vec![member(1, 10)], &[1]);
        waits.record.keep_changes_pending(Duration::from_secs(10));
        let started = Instant::now();
        create(&waits).await.expect("created");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        // Still pending long after: the Create answers once the wait's cap is spent.
        let capped = services(vec![member(1, 10)], &[1]);
        capped.record.keep_changes_pending(SYNC_WAIT_MAX * 10);
        let started = Instant::now();
        create(&capped).await.expect("created");
        assert_eq!(started.elapsed(), SYNC_WAIT_MAX);
        // With the deadline 25 s away, the wait leaves a quarter of the write's
        // reserve for the answer: 20 s.
        let near = services(vec![member(1, 10)], &[1]);
        near.record.keep_changes_pending(SYNC_WAIT_MAX * 10);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(25);
        handle(&near, Request::Create(properties()), deadline)
            .await
            .expect("created");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(25) - WRITE_RESERVE / 4
        );
        assert_eq!(
            record_ip(&near),
            Some(ip(1)),
            "accepted, even if not yet applied"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn create_with_no_serving_coordinator_fails_naming_the_group() {
        let mut stopped = member(1, 10);
        stopped.state = InstanceState::Gone;
        for members in [vec![], vec![stopped]] {
            let services = services(members, &[]);
            let error = create(&services).await.expect_err("nothing to point at");
            assert_eq!(
                error.to_string(),
                "coordinator group coordinators has no InService instance with a private IP"
            );
            assert_eq!(record_ip(&services), None);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeated_create_changes_nothing() {
        let services = services(vec![member(1, 10), member(2, 20)], &[1, 2]);
        let first = create(&services).await.expect("created");
        services
            .probe
            .set(ip(1), Health::Down(ProbeFailure::TimedOut));
        let second = create(&services).await.expect("created again");
        assert_eq!(first, second);
        assert_eq!(
            services.record.changes().len(),
            1,
            "the duplicate wrote nothing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn update_keeps_a_member_target_and_applies_a_ttl_change_in_place() {
        let services = services(vec![member(1, 10), member(2, 20)], &[2]);
        services
            .record
            .put(&properties().address, Some(ARecord::single(ip(1), 60)));
        let request = Request::Update {
            physical_id: "Z1/coordinator.presto.internal".into(),
            properties: properties(),
            replaced_group: None,
        };
        let success = handle(&services, request, later(300))
            .await
            .expect("updated");
        assert_eq!(
            success.data["CoordinatorIp"], "10.0.0.1",
            "no switch for an update, even to a healthier member"
        );
        assert_eq!(
            services.record.get(&properties().address),
            Some(ARecord::single(ip(1), 5))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn update_reseeds_a_record_whose_target_left_the_group() {
        let services = services(vec![member(1, 10), member(2, 20)], &[2]);
        services
            .record
            .put(&properties().address, Some(ARecord::single(ip(9), 5)));
        let request = Request::Update {
            physical_id: "Z1/coordinator.presto.internal".into(),
            properties: properties(),
            replaced_group: None,
        };
        handle(&services, request, later(300))
            .await
            .expect("updated");
        assert_eq!(record_ip(&services), Some(ip(2)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_renamed_record_is_created_under_a_new_id_and_the_old_one_left_for_delete() {
        let services = services(vec![member(1, 10)], &[1]);
        services
            .record
            .put(&properties().address, Some(ARecord::single(ip(1), 5)));
        let mut renamed = properties();
        renamed.address = address("presto.presto.internal");
        let request = Request::Update {
            physical_id: "Z1/coordinator.presto.internal".into(),
            properties: renamed.clone(),
            replaced_group: None,
        };
        let success = handle(&services, request, later(300))
            .await
            .expect("updated");
        assert_eq!(success.physical_id, "Z1/presto.presto.internal");
        assert_eq!(
            services.record.get(&renamed.address),
            Some(ARecord::single(ip(1), 5))
        );
        assert_eq!(
            record_ip(&services),
            Some(ip(1)),
            "the old record waits for its Delete"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_race_reads_again_instead_of_overwriting() {
        // Another writer (a watcher) points the record at member 2 between this
        // Create's read and its swap: on an absent record the CREATE then finds it
        // there; on a stray value the DELETE no longer matches. Either way the swap is
        // refused by the fake's own checks, the handler reads again, finds a serving
        // member and keeps the other writer's value.
        for before in [None, Some(ARecord::single(ip(7), 5))] {
            let services = services(vec![member(1, 10), member(2, 20)], &[1, 2]);
            let address = properties().address;
            services.record.put(&address, before.clone());
            services
                .record
                .interleave_next_swap(&address, Some(ARecord::single(ip(2), 5)));
            let success = create(&services).await.expect("created after re-reading");
            assert_eq!(record_ip(&services), Some(ip(2)), "from {before:?}");
            assert_eq!(success.data["CoordinatorIp"], "10.0.0.2", "from {before:?}");
            assert!(services.record.changes().is_empty(), "from {before:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn delete_removes_the_record_and_is_content_when_there_is_nothing_to_remove() {
        let services = services(vec![member(1, 10)], &[1]);
        services
            .record
            .put(&properties().address, Some(ARecord::single(ip(1), 5)));
        let delete = |id: &str| Request::Delete {
            physical_id: id.into(),
            stack_id: "stack".into(),
            watcher: None,
            group: None,
        };
        let success = handle(
            &services,
            delete("Z1/coordinator.presto.internal"),
            later(300),
        )
        .await
        .expect("deleted");
        assert_eq!(
            (success.physical_id.as_str(), success.reason),
            ("Z1/coordinator.presto.internal", None)
        );
        assert_eq!(record_ip(&services), None);
        // Already absent, a failed Create's id, and a zone that is gone.
        for id in [
            "Z1/coordinator.presto.internal",
            "invalid-request-1",
            "Z2/coordinator.presto.internal",
        ] {
            let success = handle(&services, delete(id), later(300))
                .await
                .expect("nothing to do");
            assert_eq!(success.reason, None, "{id}");
        }
        assert_eq!(services.record.changes().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_delete_that_cannot_remove_the_record_still_succeeds_and_says_so() {
        let services = services(vec![member(1, 10)], &[1]);
        services
            .record
            .put(&properties().address, Some(ARecord::single(ip(1), 5)));
        services
            .record
            .fail_next_reads(vec![RecordError::Aws(AwsCallError {
                operation: "ListResourceRecordSets",
                resource: properties().address.to_string(),
                detail: "AccessDenied: not allowed".into(),
            })]);
        let request = Request::Delete {
            physical_id: "Z1/coordinator.presto.internal".into(),
            stack_id: "stack".into(),
            watcher: None,
            group: None,
        };
        let success = handle(&services, request, later(300))
            .await
            .expect("never fails");
        assert_eq!(
            success.reason.as_deref(),
            Some(
                "record coordinator.presto.internal in zone Z1 left in place: ListResourceRecordSets failed for coordinator.presto.internal in zone Z1: AccessDenied: not allowed"
            )
        );
    }

    /// A watcher run that started before the Delete and goes on for `run` as a real
    /// one would: every two seconds it finds the record absent, seeds it again (a
    /// CREATE, which Route 53 accepts once the record is gone; the emulator would
    /// refuse a value it has journalled) and rewrites its memory note.
    async fn watcher_run(services: std::sync::Arc<Fakes>, run: Duration) {
        let address = properties().address;
        let until = Instant::now() + run;
        while Instant::now() < until {
            let current = CoordinatorRecord::read(&services.record, &address)
                .await
                .expect("read");
            if current.is_none() {
                let _ = services
                    .record
                    .swap(&address, None, Some(&ARecord::single(ip(1), 5)))
                    .await;
            }
            services
                .record
                .write(&address, Note::Memory, "at=1 i-1=1")
                .await
                .expect("note");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stack_deletion_stops_the_watcher_waits_out_its_runs_then_leaves_nothing() {
        let mut active = member(1, 10);
        active.protected = true;
        let mut services = services(vec![active], &[1]);
        services.watcher.going_away = true;
        let services = std::sync::Arc::new(services);
        let address = properties().address;
        services
            .record
            .put(&address, Some(ARecord::single(ip(1), 5)));
        for note in Note::ALL {
            services
                .record
                .write(&address, note, "x")
                .await
                .expect("note");
        }
        let in_flight = tokio::spawn(watcher_run(services.clone(), Duration::from_secs(58)));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let started = Instant::now();
        let request = Request::Delete {
            physical_id: "Z1/coordinator.presto.internal".into(),
            stack_id: "stack".into(),
            watcher: Some(WatcherRef {
                function: "stack-WatcherFunction-1".into(),
                timeout: Duration::from_secs(90),
            }),
            group: Some(GROUP.into()),
        };
        let success = handle(&services, request, later(300))
            .await
            .expect("never fails");
        assert_eq!(success.reason, None);
        assert!(
            in_flight.is_finished(),
            "answered while a run could still write"
        );
        assert!(
            started.elapsed() >= Duration::from_secs(90),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(services.record.get(&address), None);
        assert_eq!(
            services.record.note_names(&address.zone),
            Vec::<String>::new()
        );
        assert_eq!(
            *services.watcher.stopped.lock().expect("lock"),
            ["stack-WatcherFunction-1"]
        );
        // Nothing keeps CloudFormation from emptying the group now.
        assert!(services.coordinators.protected(GROUP).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_replacement_leaves_the_watcher_running_but_still_waits_out_old_runs() {
        let mut active = member(1, 10);
        active.protected = true;
        let services = std::sync::Arc::new(services(vec![active], &[1]));
        let address = properties().address;
        let in_flight = tokio::spawn(watcher_run(services.clone(), Duration::from_secs(40)));
        let request = Request::Delete {
            physical_id: "Z1/coordinator.presto.internal".into(),
            stack_id: "stack".into(),
            watcher: Some(WatcherRef {
                function: "stack-WatcherFunction-1".into(),
                timeout: Duration::from_secs(90),
            }),
            group: Some(GROUP.into()),
        };
        handle(&services, request, later(300))
            .await
            .expect("never fails");
        assert!(in_flight.is_finished());
        assert_eq!(services.record.get(&address), None);
        assert_eq!(
            services.record.note_names(&address.zone),
            Vec::<String>::new()
        );
        assert!(services.watcher.stopped.lock().expect("lock").is_empty());
        assert_eq!(
            services.coordinators.protected(GROUP),
            [InstanceId::new("i-1")]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_the_wait_a_run_in_flight_would_leave_the_zone_unclean() {
        // The same race with no watcher named: the Delete answers at once, and the run
        // writes the record and its note again. This is what the wait prevents.
        let services = std::sync::Arc::new(services(vec![member(1, 10)], &[1]));
        let address = properties().address;
        let in_flight = tokio::spawn(watcher_run(services.clone(), Duration::from_secs(20)));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let request = Request::Delete {
            physical_id: "Z1/coordinator.presto.internal".into(),
            stack_id: "stack".into(),
            watcher: None,
            group: None,
        };
        handle(&services, request, later(300))
            .await
            .expect("never fails");
        in_flight.await.expect("run");
        assert_eq!(
            services.record.get(&address),
            Some(ARecord::single(ip(1), 5))
        );
        assert_eq!(services.record.note_names(&address.zone).len(), 1);
    }
}
