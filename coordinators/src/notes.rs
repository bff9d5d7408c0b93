//! What the watcher writes down next to the coordinator record, in the stack's own
//! zone (which the watcher's role may already change): as TXT records its memory across
//! cold starts (`_presto-ha-watcher.<record>`) and its last failover
//! (`_presto-ha-failover.<record>`, which `presto-ha status` shows); as A records one
//! name per coordinator (`member-<slot>.<record>`), which Trino's workers announce to.
//! Notes are advisory, so they are written with UPSERT; the coordinator record itself
//! only ever changes by compare-and-swap. The custom resource removes every note in
//! [`Note::ALL`] when the stack is deleted, so that the zone can go.

use std::fmt;
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::Duration;

use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use presto_ha_contract::{RECORD_TTL_SECONDS, limits, notes};

use crate::aws::AwsCallError;
use crate::group::InstanceId;
use crate::record::{RecordAddress, Route53Record};

/// Which note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// Since when each member has been failing ([`crate::decide::Memory`]).
    Memory,
    /// The last switch the watcher made ([`LastFailover`]).
    LastFailover,
    /// The private IP of one coordinator, by slot from 1 (see [`member_slots`]).
    Member(u8),
}

impl Note {
    /// Every note the watcher writes: what a stack's deletion removes.
    pub const ALL: [Self; 2 + *limits::COORDINATORS.end() as usize] = [
        Self::Memory,
        Self::LastFailover,
        Self::Member(1),
        Self::Member(2),
        Self::Member(3),
        Self::Member(4),
        Self::Member(5),
    ];

    /// The note's record name for the coordinator record `at`.
    pub fn name(self, at: &RecordAddress) -> String {
        match self {
            Self::Memory => format!("{}.{}.", notes::MEMORY_PREFIX, at.name),
            Self::LastFailover => format!("{}.{}.", notes::LAST_FAILOVER_PREFIX, at.name),
            Self::Member(slot) => format!("{}.", notes::member_name(slot, &at.name.to_string())),
        }
    }

    /// The record type: text for the watcher's own notes, an address for a member.
    pub fn record_type(self) -> RrType {
        match self {
            Self::Memory | Self::LastFailover => RrType::Txt,
            Self::Member(_) => RrType::A,
        }
    }

    /// The record's value for the note's text: TXT strings are quoted.
    fn value(self, text: &str) -> String {
        match self.record_type() {
            RrType::Txt => format!("\"{text}\""),
            _ => text.to_owned(),
        }
    }

    /// Seconds resolvers may cache the note: a member moves as fast as the record.
    fn ttl(self) -> i64 {
        match self {
            Self::Member(_) => i64::from(RECORD_TTL_SECONDS),
            _ => 60,
        }
    }

    /// The note and its zone, for errors.
    fn describe(self, at: &RecordAddress) -> String {
        format!("note {} in zone {}", self.name(at), at.zone)
    }
}

/// Reading and writing the watcher's notes.
pub trait WatchNote {
    /// The note's text, `None` when there is none.
    fn read(
        &self,
        at: &RecordAddress,
        note: Note,
    ) -> impl Future<Output = Result<Option<String>, AwsCallError>> + Send;
    /// Replaces the note.
    fn write(
        &self,
        at: &RecordAddress,
        note: Note,
        text: &str,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
    /// Removes the note; `false` when there was none.
    fn remove(
        &self,
        at: &RecordAddress,
        note: Note,
    ) -> impl Future<Output = Result<bool, AwsCallError>> + Send;
}

/// The last switch of the record the watcher made, as its note keeps it:
/// `at=<ms since epoch> to=<instance> ip=<ip> why=<reason>`, then `from=<instance>`
/// and `failing_ms=<ms>` when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastFailover {
    /// When the record was switched, since the Unix epoch.
    pub at: Duration,
    /// The coordinator it was switched away from, if the record pointed at a member.
    pub from: Option<InstanceId>,
    /// The coordinator it was switched to.
    pub to: InstanceId,
    /// The address the record got.
    pub ip: Ipv4Addr,
    /// Why, as the watcher's log names it (`ActiveFailed`, `RecordStray`, ...).
    pub why: String,
    /// How long the old coordinator had been failing when the record moved.
    pub failing_for: Option<Duration>,
}

impl fmt::Display for LastFailover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at={} to={} ip={} why={}",
            self.at.as_millis(),
            self.to,
            self.ip,
            self.why
        )?;
        if let Some(from) = &self.from {
            write!(f, " from={from}")?;
        }
        if let Some(failing) = self.failing_for {
            write!(f, " failing_ms={}", failing.as_millis())?;
        }
        Ok(())
    }
}

impl LastFailover {
    /// Reads a note written by [`Display`](fmt::Display); `None` if it is not one.
    pub fn from_note(note: &str) -> Option<Self> {
        let field = |key: &str| {
            note.split_whitespace()
                .find_map(|field| field.strip_prefix(key)?.strip_prefix('='))
        };
        let millis = |key: &str| field(key)?.parse().ok().map(Duration::from_millis);
        Some(Self {
            at: millis("at")?,
            from: field("from").map(InstanceId::new),
            to: InstanceId::new(field("to")?),
            ip: field("ip")?.parse().ok()?,
            why: field("why")?.to_owned(),
            failing_for: millis("failing_ms"),
        })
    }
}

/// [`WatchNote`] in Route 53.
#[derive(Debug, Clone)]
pub struct Route53Note {
    client: aws_sdk_route53::Client,
}

impl Route53Note {
    /// Wraps a client.
    pub fn new(client: aws_sdk_route53::Client) -> Self {
        Self { client }
    }
}

impl Route53Note {
    /// The note's TXT record set as Route 53 holds it, `None` when absent.
    async fn current(
        &self,
        at: &RecordAddress,
        note: Note,
    ) -> Result<Option<ResourceRecordSet>, AwsCallError> {
        let name = note.name(at);
        let listed = match self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(at.zone.to_string())
            .start_record_name(&name)
            .start_record_type(note.record_type())
            .max_items(1)
            .send()
            .await
        {
            Ok(listed) => listed,
            // No zone, no note.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_no_such_hosted_zone()) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(AwsCallError::sdk(
                    "ListResourceRecordSets",
                    note.describe(at),
                    e,
                ));
            }
        };
        Ok(listed
            .resource_record_sets()
            .first()
            .filter(|set| {
                set.r#type() == &note.record_type() && set.name().eq_ignore_ascii_case(&name)
            })
            .cloned())
    }

    /// Sends one change of the note's record set; `false` when Route 53 refused the
    /// batch (a DELETE that no longer matches).
    async fn change(
        &self,
        at: &RecordAddress,
        note: Note,
        action: ChangeAction,
        set: ResourceRecordSet,
    ) -> Result<bool, AwsCallError> {
        let failed = |e: &dyn std::error::Error| {
            AwsCallError::other("ChangeResourceRecordSets", note.describe(at), e)
        };
        let change = Change::builder()
            .action(action)
            .resource_record_set(set)
            .build()
            .map_err(|e| failed(&e))?;
        let batch = ChangeBatch::builder()
            .changes(change)
            .build()
            .map_err(|e| failed(&e))?;
        match self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(at.zone.to_string())
            .change_batch(batch)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(ChangeResourceRecordSetsError::InvalidChangeBatch(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsCallError::sdk(
                "ChangeResourceRecordSets",
                note.describe(at),
                e,
            )),
        }
    }
}

/// Which coordinator each member slot names: those that can serve, oldest first (so a
/// slot keeps its coordinator while the group changes around it), repeated in turn
/// until every slot has one; empty when none can serve, and the slots are then left as
/// they are.
pub fn member_slots(members: &[crate::group::Coordinator]) -> Vec<Ipv4Addr> {
    let mut serving: Vec<&crate::group::Coordinator> = members
        .iter()
        .filter(|m| m.serving_ip().is_some())
        .collect();
    serving.sort_by(|a, b| (a.launch_time, &a.instance_id).cmp(&(b.launch_time, &b.instance_id)));
    let ips: Vec<Ipv4Addr> = serving.iter().filter_map(|m| m.serving_ip()).collect();
    if ips.is_empty() {
        return Vec::new();
    }
    (0..usize::from(*limits::COORDINATORS.end()))
        .map(|slot| ips[slot % ips.len()])
        .collect()
}

/// The notes beside the record, through the record's own client: the custom resource
/// removes both with one.
impl WatchNote for Route53Record {
    async fn read(&self, at: &RecordAddress, note: Note) -> Result<Option<String>, AwsCallError> {
        Route53Note::new(self.client().clone()).read(at, note).await
    }

    async fn write(&self, at: &RecordAddress, note: Note, text: &str) -> Result<(), AwsCallError> {
        Route53Note::new(self.client().clone())
            .write(at, note, text)
            .await
    }

    async fn remove(&self, at: &RecordAddress, note: Note) -> Result<bool, AwsCallError> {
        Route53Note::new(self.client().clone())
            .remove(at, note)
            .await
    }
}

impl WatchNote for Route53Note {
    async fn read(&self, at: &RecordAddress, note: Note) -> Result<Option<String>, AwsCallError> {
        Ok(self
            .current(at, note)
            .await?
            .as_ref()
            .and_then(|set| set.resource_records().first())
            .map(|record| record.value().trim_matches('"').to_owned()))
    }

    async fn write(&self, at: &RecordAddress, note: Note, text: &str) -> Result<(), AwsCallError> {
        let failed = |e: &dyn std::error::Error| {
            AwsCallError::other("ChangeResourceRecordSets", note.describe(at), e)
        };
        // One TXT string holds at most 255 characters; a longer note keeps its start.
        let text: String = text.chars().take(255).collect();
        let record = ResourceRecord::builder()
            .value(note.value(&text))
            .build()
            .map_err(|e| failed(&e))?;
        let set = ResourceRecordSet::builder()
            .name(note.name(at))
            .r#type(note.record_type())
            .ttl(note.ttl())
            .resource_records(record)
            .build()
            .map_err(|e| failed(&e))?;
        if self.change(at, note, ChangeAction::Upsert, set).await? {
            Ok(())
        } else {
            Err(AwsCallError {
                operation: "ChangeResourceRecordSets",
                resource: note.describe(at),
                detail: "InvalidChangeBatch: Route 53 refused the note".into(),
            })
        }
    }

    async fn remove(&self, at: &RecordAddress, note: Note) -> Result<bool, AwsCallError> {
        // A DELETE must name the exact current values; a note rewritten in between is
        // read again.
        let mut attempt = 1;
        loop {
            let Some(set) = self.current(at, note).await? else {
                return Ok(false);
            };
            if self.change(at, note, ChangeAction::Delete, set).await? {
                return Ok(true);
            }
            if attempt == 3 {
                return Err(AwsCallError {
                    operation: "ChangeResourceRecordSets",
                    resource: note.describe(at),
                    detail: "InvalidChangeBatch: the note kept changing while being deleted".into(),
                });
            }
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::group::{Coordinator, InstanceState};

    fn member(id: &str, launched: u64, state: InstanceState) -> Coordinator {
        Coordinator {
            instance_id: InstanceId::new(id),
            private_ip: Some(Ipv4Addr::new(10, 0, 0, launched as u8)),
            in_service: true,
            state,
            launch_time: Some(UNIX_EPOCH + Duration::from_secs(launched)),
            protected: false,
        }
    }

    #[test]
    fn member_slots_name_the_serving_coordinators_oldest_first_in_turn() {
        let ip = |n: u8| Ipv4Addr::new(10, 0, 0, n);
        let members = [
            member("i-c", 3, InstanceState::Running),
            member("i-a", 1, InstanceState::Running),
            member("i-gone", 2, InstanceState::Gone),
        ];
        assert_eq!(member_slots(&members), [ip(1), ip(3), ip(1), ip(3), ip(1)]);
        assert_eq!(member_slots(&members[..1]), [ip(3); 5]);
        assert_eq!(member_slots(&members[2..]), Vec::<Ipv4Addr>::new());
    }

    #[test]
    fn every_member_slot_is_a_note_the_deletion_removes() {
        let at = RecordAddress {
            zone: "Z1".parse().expect("zone"),
            name: "coordinator.presto.internal".parse().expect("name"),
        };
        let members: Vec<String> = Note::ALL
            .iter()
            .filter(|n| n.record_type() == RrType::A)
            .map(|n| n.name(&at))
            .collect();
        let expected: Vec<String> = (1..=*limits::COORDINATORS.end())
            .map(|slot| format!("member-{slot}.coordinator.presto.internal."))
            .collect();
        assert_eq!(members, expected);
        assert_eq!(Note::Member(2).value("10.0.0.2"), "10.0.0.2");
        assert_eq!(Note::Memory.value("a=1"), "\"a=1\"");
    }

    #[test]
    fn last_failover_reads_back_what_it_writes() {
        let full = LastFailover {
            at: Duration::from_millis(1_700_000_000_123),
            from: Some(InstanceId::new("i-0aaa")),
            to: InstanceId::new("i-0bbb"),
            ip: Ipv4Addr::new(10, 0, 1, 7),
            why: "ActiveFailed".into(),
            failing_for: Some(Duration::from_millis(16_250)),
        };
        let text = full.to_string();
        assert_eq!(
            text,
            "at=1700000000123 to=i-0bbb ip=10.0.1.7 why=ActiveFailed from=i-0aaa failing_ms=16250"
        );
        assert_eq!(LastFailover::from_note(&text), Some(full.clone()));
        let bare = LastFailover {
            from: None,
            failing_for: None,
            ..full
        };
        assert_eq!(LastFailover::from_note(&bare.to_string()), Some(bare));
        for unreadable in [
            "",
            "at=1 to=i-1",
            "at=x to=i-1 ip=10.0.0.1 why=A",
            "at=1 to=i-1 ip=nope why=A",
        ] {
            assert_eq!(LastFailover::from_note(unreadable), None, "{unreadable:?}");
        }
    }
}
