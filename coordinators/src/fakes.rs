//! In-memory stand-ins for the three traits, for the Lambdas' tests.
//!
//! [`FakeRoute53`] is faithful where the emulator used in the end-to-end tests is not:
//! a batch is atomic, a DELETE must name the exact current value, and a CREATE fails
//! when the record exists. Those are the rules compare-and-swap rests on. A change
//! can stay pending for a while, as Route 53's do. [`FakeProbe`] can hang a host, so
//! that each probe of it takes its whole timeout, on tokio's clock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::aws::AwsCallError;
use crate::group::{Coordinator, Coordinators, GroupError, InstanceId};
use crate::notes::{Note, WatchNote};
use crate::probe::{Health, HealthProbe, ProbeFailure, QueryLoad};
use crate::record::{ARecord, ChangeId, CoordinatorRecord, RecordAddress, RecordError, ZoneId};

/// Route 53 in memory.
#[derive(Debug, Default)]
pub struct FakeRoute53 {
    state: Mutex<Route53State>,
}

#[derive(Debug, Default)]
struct Route53State {
    zones: HashSet<ZoneId>,
    records: HashMap<RecordAddress, ARecord>,
    notes: HashMap<String, String>,
    changes: Vec<(RecordAddress, Option<ARecord>, Option<ARecord>)>,
    read_failures: Vec<RecordError>,
    swap_failures: Vec<RecordError>,
    /// Another writer's change, made just before the next swap is checked.
    interleaved: Option<(RecordAddress, Option<ARecord>)>,
    /// How long each change stays pending after it is accepted.
    pending_for: Duration,
    /// When each accepted change is applied everywhere, by change id.
    applied_at: HashMap<String, Instant>,
}

impl FakeRoute53 {
    /// A Route 53 holding the given zones, all empty.
    pub fn with_zones(zones: &[&ZoneId]) -> Self {
        let fake = Self::default();
        fake.lock().zones = zones.iter().map(|z| (*z).clone()).collect();
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Route53State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets a record directly, as another writer (a person, another watcher) would.
    pub fn put(&self, at: &RecordAddress, record: Option<ARecord>) {
        let mut state = self.lock();
        match record {
            Some(record) => state.records.insert(at.clone(), record),
            None => state.records.remove(at),
        };
    }

    /// The record's value.
    pub fn get(&self, at: &RecordAddress) -> Option<ARecord> {
        self.lock().records.get(at).cloned()
    }

    /// The names of the notes the zone `zone` holds, sorted.
    pub fn note_names(&self, zone: &ZoneId) -> Vec<String> {
        let state = self.lock();
        let mut names: Vec<String> = state
            .notes
            .keys()
            .filter(|key| key.starts_with(&format!("{zone}/")))
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Every change accepted so far: address, old value, new value.
    pub fn changes(&self) -> Vec<(RecordAddress, Option<ARecord>, Option<ARecord>)> {
        self.lock().changes.clone()
    }

    /// Makes the next reads fail with these errors, one read each, in order.
    pub fn fail_next_reads(&self, errors: Vec<RecordError>) {
        self.lock().read_failures = errors.into_iter().rev().collect();
    }

    /// Lets another writer set the record to `record` between the caller's read and
    /// its next swap, which Route 53 then checks against that value.
    pub fn interleave_next_swap(&self, at: &RecordAddress, record: Option<ARecord>) {
        self.lock().interleaved = Some((at.clone(), record));
    }

    /// Keeps every change accepted from now on pending for `duration` before it is
    /// applied everywhere (`INSYNC`).
    pub fn keep_changes_pending(&self, duration: Duration) {
        self.lock().pending_for = duration;
    }

    /// Makes the next swaps fail with these errors, one swap each, in order, as when
    /// another writer changed the record or Route 53 refused.
    pub fn fail_next_swaps(&self, errors: Vec<RecordError>) {
        self.lock().swap_failures = errors.into_iter().rev().collect();
    }
}

impl CoordinatorRecord for FakeRoute53 {
    async fn read(&self, at: &RecordAddress) -> Result<Option<ARecord>, RecordError> {
        let mut state = self.lock();
        if let Some(error) = state.read_failures.pop() {
            return Err(error);
        }
        if !state.zones.contains(&at.zone) {
            return Err(RecordError::NoSuchZone(at.zone.clone()));
        }
        Ok(state.records.get(at).cloned())
    }

    async fn swap(
        &self,
        at: &RecordAddress,
        from: Option<&ARecord>,
        to: Option<&ARecord>,
    ) -> Result<Option<ChangeId>, RecordError> {
        if from == to {
            return Ok(None);
        }
        let mut state = self.lock();
        if let Some((other, record)) = state.interleaved.take() {
            match record {
                Some(record) => state.records.insert(other, record),
                None => state.records.remove(&other),
            };
        }
        if let Some(error) = state.swap_failures.pop() {
            return Err(error);
        }
        if !state.zones.contains(&at.zone) {
            return Err(RecordError::NoSuchZone(at.zone.clone()));
        }
        let current = state.records.get(at);
        let conflict = |message: &str| RecordError::Conflict {
            address: at.clone(),
            message: message.to_owned(),
        };
        // The batch is checked whole before anything is applied.
        match (from, current) {
            (Some(from), Some(current)) if from != current => {
                return Err(conflict(
                    "Tried to delete resource record set but the values provided do not match the current values",
                ));
            }
            (Some(_), None) => {
                return Err(conflict(
                    "Tried to delete resource record set but it was not found",
                ));
            }
            (None, Some(_)) if to.is_some() => {
                return Err(conflict(
                    "Tried to create resource record set but it already exists",
                ));
            }
            _ => {}
        }
        match to {
            Some(to) => state.records.insert(at.clone(), to.clone()),
            None => state.records.remove(at),
        };
        state.changes.push((at.clone(), from.cloned(), to.cloned()));
        let change = ChangeId(format!("/change/C{}", state.changes.len()));
        let applied_at = Instant::now() + state.pending_for;
        state.applied_at.insert(change.0.clone(), applied_at);
        Ok(Some(change))
    }

    /// Waits on tokio's clock until the change is applied or `budget` is spent,
    /// whichever comes first, as the real adapter's polling does.
    async fn wait_applied(&self, change: &ChangeId, budget: Duration) -> Result<bool, RecordError> {
        let applied_at = self.lock().applied_at.get(&change.0).copied();
        let Some(applied_at) = applied_at else {
            return Err(RecordError::Aws(AwsCallError {
                operation: "GetChange",
                resource: format!("change {}", change.0),
                detail: "NoSuchChange: the fake accepted no such change".into(),
            }));
        };
        let give_up = Instant::now() + budget;
        if applied_at <= give_up {
            tokio::time::sleep_until(applied_at).await;
            Ok(true)
        } else {
            tokio::time::sleep_until(give_up).await;
            Ok(false)
        }
    }
}

impl WatchNote for FakeRoute53 {
    async fn read(&self, at: &RecordAddress, note: Note) -> Result<Option<String>, AwsCallError> {
        Ok(self.lock().notes.get(&note_key(at, note)).cloned())
    }

    async fn write(&self, at: &RecordAddress, note: Note, text: &str) -> Result<(), AwsCallError> {
        self.lock()
            .notes
            .insert(note_key(at, note), text.to_owned());
        Ok(())
    }

    async fn remove(&self, at: &RecordAddress, note: Note) -> Result<bool, AwsCallError> {
        Ok(self.lock().notes.remove(&note_key(at, note)).is_some())
    }
}

/// Where the fake keeps a note: zone and name.
fn note_key(at: &RecordAddress, note: Note) -> String {
    format!("{}/{}", at.zone, note.name(at))
}

/// Member `n` of a test group: instance `i-n` at 10.0.0.n, running, in service or not,
/// unprotected, launched at no known time.
pub fn member(n: u8, in_service: bool) -> Coordinator {
    Coordinator {
        instance_id: InstanceId::new(format!("i-{n}")),
        private_ip: Some(Ipv4Addr::new(10, 0, 0, n)),
        in_service,
        state: crate::group::InstanceState::Running,
        launch_time: None,
        protected: false,
    }
}

/// Auto Scaling groups in memory.
#[derive(Debug, Default)]
pub struct FakeGroups {
    groups: Mutex<BTreeMap<String, Vec<Coordinator>>>,
}

impl FakeGroups {
    /// Sets a group's members.
    pub fn set(&self, group: &str, members: Vec<Coordinator>) {
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(group.to_owned(), members);
    }
}

impl Coordinators for FakeGroups {
    async fn members(&self, group: &str) -> Result<Vec<Coordinator>, GroupError> {
        let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let mut members = groups
            .get(group)
            .cloned()
            .ok_or_else(|| GroupError::NoSuchGroup(group.to_owned()))?;
        members.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        Ok(members)
    }

    async fn protect(
        &self,
        group: &str,
        instance: &InstanceId,
        protected: bool,
    ) -> Result<(), GroupError> {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let members = groups
            .get_mut(group)
            .ok_or_else(|| GroupError::NoSuchGroup(group.to_owned()))?;
        let member = members
            .iter_mut()
            .find(|m| &m.instance_id == instance && m.in_service)
            .ok_or_else(|| {
                // What Auto Scaling answers for an instance it does not hold in service.
                GroupError::Aws(AwsCallError {
                    operation: "SetInstanceProtection",
                    resource: format!("instance {instance} of coordinator group {group}"),
                    detail: "ValidationError: The instance is not part of the group or is not in service"
                        .into(),
                })
            })?;
        member.protected = protected;
        Ok(())
    }
}

impl FakeGroups {
    /// The members the group protects from scale-in.
    pub fn protected(&self, group: &str) -> Vec<InstanceId> {
        let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups
            .get(group)
            .into_iter()
            .flatten()
            .filter(|m| m.protected)
            .map(|m| m.instance_id.clone())
            .collect()
    }
}

/// Presto's health by IP; an IP not set is unreachable, a hung one answers nothing
/// until the probe's timeout.
#[derive(Debug, Default)]
pub struct FakeProbe {
    health: Mutex<HashMap<Ipv4Addr, Option<Health>>>,
}

impl FakeProbe {
    /// Sets what probes of `ip` find, at once.
    pub fn set(&self, ip: Ipv4Addr, health: Health) {
        self.lock().insert(ip, Some(health));
    }

    /// Makes `ip` hang: each probe takes its whole timeout and then times out.
    pub fn hang(&self, ip: Ipv4Addr) {
        self.lock().insert(ip, None);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Ipv4Addr, Option<Health>>> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl HealthProbe for FakeProbe {
    async fn probe(&self, ip: Ipv4Addr, _port: u16, timeout: Duration) -> Health {
        let found = self.lock().get(&ip).cloned();
        match found {
            Some(Some(health)) => health,
            Some(None) => {
                tokio::time::sleep(timeout).await;
                Health::Down(ProbeFailure::TimedOut)
            }
            None => Health::Down(ProbeFailure::Refused),
        }
    }
}

/// Unfinished queries by IP, one fewer at each count (an IP not set has none), as a
/// coordinator draining its queries; clones share the counts.
#[derive(Debug, Default, Clone)]
pub struct FakeQueries {
    counts: std::sync::Arc<Mutex<HashMap<Ipv4Addr, usize>>>,
}

impl FakeQueries {
    /// `ip` has `count` unfinished queries from now.
    pub fn set(&self, ip: Ipv4Addr, count: usize) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ip, count);
    }
}

impl QueryLoad for FakeQueries {
    async fn unfinished_queries(
        &self,
        ip: Ipv4Addr,
        _port: u16,
        _timeout: Duration,
    ) -> Result<usize, ProbeFailure> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        Ok(counts.get_mut(&ip).map_or(0, |left| {
            let now = *left;
            *left = left.saturating_sub(1);
            now
        }))
    }
}
