//! The coordinator A record, read and changed only by compare-and-swap.
//!
//! A Route 53 change batch is applied all or nothing, and its DELETE must name the
//! record's exact current values. So one batch of [DELETE what was read, CREATE the
//! new value] succeeds only if nobody changed the record in between: two writers can
//! never both switch it, and neither overwrites the other's switch (an UPSERT would).

use std::fmt;
use std::future::Future;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;

use crate::aws::AwsCallError;
use aws_sdk_route53::types::error::InvalidChangeBatch;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};

/// A hosted zone id, without the `/hostedzone/` prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ZoneId(String);

impl FromStr for ZoneId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let id = s.strip_prefix("/hostedzone/").unwrap_or(s);
        if (1..=32).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            Ok(Self(id.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a hosted zone id (expected uppercase letters and digits, like Z0123456789ABC)"
            ))
        }
    }
}

impl fmt::Display for ZoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fully qualified record name in lowercase, without the final dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordName(String);

impl FromStr for RecordName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if name.len() <= 253 && name.contains('.') && name.split('.').all(label_ok) {
            Ok(Self(name))
        } else {
            Err(format!(
                "{s:?} is not a fully qualified DNS name (expected labels of letters, digits and '-', like coordinator.presto.internal)"
            ))
        }
    }
}

impl fmt::Display for RecordName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a record lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordAddress {
    /// The hosted zone.
    pub zone: ZoneId,
    /// The record's name.
    pub name: RecordName,
}

impl fmt::Display for RecordAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in zone {}", self.name, self.zone)
    }
}

/// An A record's value: its addresses and TTL, exactly as Route 53 holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ARecord {
    /// The addresses, in Route 53's order.
    pub ips: Vec<Ipv4Addr>,
    /// The TTL in seconds.
    pub ttl: u32,
}

impl ARecord {
    /// A record pointing at one coordinator.
    pub fn single(ip: Ipv4Addr, ttl: u32) -> Self {
        Self { ips: vec![ip], ttl }
    }

    /// The one address this record points at, if it holds exactly one.
    pub fn ip(&self) -> Option<Ipv4Addr> {
        match self.ips.as_slice() {
            [ip] => Some(*ip),
            _ => None,
        }
    }
}

impl fmt::Display for ARecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ips: Vec<String> = self.ips.iter().map(ToString::to_string).collect();
        write!(f, "{} (TTL {})", ips.join(","), self.ttl)
    }
}

/// Route 53's id for an accepted change, to follow it until it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeId(pub String);

/// Reading or changing the record failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The change batch was refused: the record no longer holds what the DELETE named
    /// (another writer got there first), or the change is not allowed in the zone.
    /// Re-read before deciding again.
    #[error("the change to {address} was refused: {message}")]
    Conflict {
        /// The record.
        address: RecordAddress,
        /// Route 53's explanation.
        message: String,
    },
    /// The hosted zone does not exist.
    #[error("hosted zone {0} does not exist")]
    NoSuchZone(ZoneId),
    /// An AWS call failed for another reason, after retries where AWS asked for them.
    #[error(transparent)]
    Aws(#[from] AwsCallError),
}

/// The coordinator record.
pub trait CoordinatorRecord {
    /// The record's current value, `None` if there is no A record by that name.
    fn read(
        &self,
        at: &RecordAddress,
    ) -> impl Future<Output = Result<Option<ARecord>, RecordError>> + Send;

    /// Replaces `from` (exactly what [`read`](Self::read) returned; `None` when the
    /// record was absent) by `to` (`None` deletes it) in one atomic change. Fails with
    /// [`RecordError::Conflict`] if the record no longer holds `from`. Returns the
    /// change to follow, or `None` when `from` and `to` are equal and nothing was sent.
    fn swap(
        &self,
        at: &RecordAddress,
        from: Option<&ARecord>,
        to: Option<&ARecord>,
    ) -> impl Future<Output = Result<Option<ChangeId>, RecordError>> + Send;

    /// Waits up to `budget` for a change to reach every Route 53 server; `true` once
    /// it has.
    fn wait_applied(
        &self,
        change: &ChangeId,
        budget: Duration,
    ) -> impl Future<Output = Result<bool, RecordError>> + Send;
}

/// [`CoordinatorRecord`] in Route 53.
#[derive(Debug, Clone)]
pub struct Route53Record {
    client: aws_sdk_route53::Client,
}

impl Route53Record {
    /// Wraps a client.
    pub fn new(client: aws_sdk_route53::Client) -> Self {
        Self { client }
    }

    /// The client, for the notes kept beside the record.
    pub(crate) fn client(&self) -> &aws_sdk_route53::Client {
        &self.client
    }
}

fn record_set(at: &RecordAddress, record: &ARecord) -> Result<ResourceRecordSet, RecordError> {
    let records = record
        .ips
        .iter()
        .map(|ip| ResourceRecord::builder().value(ip.to_string()).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AwsCallError::other("ChangeResourceRecordSets", at, &e))?;
    ResourceRecordSet::builder()
        .name(format!("{}.", at.name))
        .r#type(RrType::A)
        .ttl(i64::from(record.ttl))
        .set_resource_records(Some(records))
        .build()
        .map_err(|e| AwsCallError::other("ChangeResourceRecordSets", at, &e).into())
}

/// Route 53's reasons for refusing a batch: a list of messages, or one.
fn refused_because(refused: &InvalidChangeBatch) -> String {
    match refused.messages() {
        [] => refused
            .message()
            .unwrap_or("invalid change batch")
            .to_owned(),
        messages => messages.join("; "),
    }
}

impl CoordinatorRecord for Route53Record {
    async fn read(&self, at: &RecordAddress) -> Result<Option<ARecord>, RecordError> {
        let listed = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(at.zone.to_string())
            .start_record_name(format!("{}.", at.name))
            .start_record_type(RrType::A)
            .max_items(1)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(service) if service.is_no_such_hosted_zone() => {
                    RecordError::NoSuchZone(at.zone.clone())
                }
                _ => AwsCallError::sdk("ListResourceRecordSets", at, e).into(),
            })?;
        // The listing starts at the name; the first set is ours only if it matches.
        let Some(set) = listed.resource_record_sets().first().filter(|set| {
            set.r#type() == &RrType::A
                && set.set_identifier().is_none()
                && set
                    .name()
                    .strip_suffix('.')
                    .unwrap_or(set.name())
                    .eq_ignore_ascii_case(&at.name.0)
        }) else {
            return Ok(None);
        };
        let ips = set
            .resource_records()
            .iter()
            .map(|r| r.value().parse::<Ipv4Addr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AwsCallError::other("ListResourceRecordSets", at, &e))?;
        let ttl = set
            .ttl()
            .and_then(|ttl| u32::try_from(ttl).ok())
            .unwrap_or_default();
        Ok(Some(ARecord { ips, ttl }))
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
        let mut changes = Vec::new();
        for (action, record) in [(ChangeAction::Delete, from), (ChangeAction::Create, to)] {
            if let Some(record) = record {
                let change = Change::builder()
                    .action(action)
                    .resource_record_set(record_set(at, record)?)
                    .build()
                    .map_err(|e| AwsCallError::other("ChangeResourceRecordSets", at, &e))?;
                changes.push(change);
            }
        }
        let batch = ChangeBatch::builder()
            .comment("presto-ha coordinator switch")
            .set_changes(Some(changes))
            .build()
            .map_err(|e| AwsCallError::other("ChangeResourceRecordSets", at, &e))?;
        let changed = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(at.zone.to_string())
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(ChangeResourceRecordSetsError::InvalidChangeBatch(refused)) => {
                    RecordError::Conflict {
                        address: at.clone(),
                        message: refused_because(refused),
                    }
                }
                Some(service) if service.is_no_such_hosted_zone() => {
                    RecordError::NoSuchZone(at.zone.clone())
                }
                _ => AwsCallError::sdk("ChangeResourceRecordSets", at, e).into(),
            })?;
        Ok(changed
            .change_info()
            .map(|info| ChangeId(info.id().to_owned())))
    }

    async fn wait_applied(&self, change: &ChangeId, budget: Duration) -> Result<bool, RecordError> {
        // Tokio's clock, so that a test can run the budget out on a paused clock.
        let deadline = tokio::time::Instant::now() + budget;
        loop {
            let status = self
                .client
                .get_change()
                .id(&change.0)
                .send()
                .await
                .map_err(|e| {
                    AwsCallError::sdk("GetChange", format_args!("change {}", change.0), e)
                })?;
            if status.change_info().map(|info| info.status()) == Some(&ChangeStatus::Insync) {
                return Ok(true);
            }
            if tokio::time::Instant::now() + Duration::from_secs(1) > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_route53::Client;
    use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput;
    use aws_sdk_route53::operation::list_resource_record_sets::{
        ListResourceRecordSetsError, ListResourceRecordSetsOutput,
    };
    use aws_sdk_route53::types::ChangeInfo;
    use aws_sdk_route53::types::error::{NoSuchHostedZone, PriorRequestNotComplete};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    fn address() -> RecordAddress {
        RecordAddress {
            zone: "/hostedzone/Z0123ABC".parse().expect("zone"),
            name: "Coordinator.Presto.Internal.".parse().expect("name"),
        }
    }

    fn accepted() -> ChangeResourceRecordSetsOutput {
        ChangeResourceRecordSetsOutput::builder()
            .change_info(
                ChangeInfo::builder()
                    .id("/change/C1")
                    .status(ChangeStatus::Pending)
                    .submitted_at(aws_smithy_types::DateTime::from_secs(0))
                    .build()
                    .expect("change info"),
            )
            .build()
    }

    #[test]
    fn names_and_zone_ids_are_normalised_once() {
        let at = address();
        assert_eq!(at.zone.to_string(), "Z0123ABC");
        assert_eq!(at.name.to_string(), "coordinator.presto.internal");
        for bad in ["coordinator", "", "a..b", "-a.b", "a b.c"] {
            assert!(bad.parse::<RecordName>().is_err(), "{bad:?}");
        }
        for bad in ["", "z123", "Z12/3"] {
            assert!(bad.parse::<ZoneId>().is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_swap_is_one_batch_deleting_the_exact_old_value_and_creating_the_new() {
        let rule = mock!(Client::change_resource_record_sets)
            .match_requests(|request| {
                let Some(batch) = request.change_batch() else {
                    return false;
                };
                let summary: Vec<(String, String, i64, Vec<String>)> = batch
                    .changes()
                    .iter()
                    .map(|c| {
                        let set = c.resource_record_set().expect("set");
                        (
                            c.action().as_str().to_owned(),
                            set.name().to_owned(),
                            set.ttl().unwrap_or_default(),
                            set.resource_records()
                                .iter()
                                .map(|r| r.value().to_owned())
                                .collect(),
                        )
                    })
                    .collect();
                request.hosted_zone_id() == Some("Z0123ABC")
                    && summary
                        == [
                            (
                                "DELETE".into(),
                                "coordinator.presto.internal.".into(),
                                5,
                                vec!["10.0.0.1".into()],
                            ),
                            (
                                "CREATE".into(),
                                "coordinator.presto.internal.".into(),
                                5,
                                vec!["10.0.0.2".into()],
                            ),
                        ]
            })
            .then_output(accepted);
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&rule]);
        let record = Route53Record::new(client);
        let old = ARecord::single(Ipv4Addr::new(10, 0, 0, 1), 5);
        let new = ARecord::single(Ipv4Addr::new(10, 0, 0, 2), 5);
        let change = record
            .swap(&address(), Some(&old), Some(&new))
            .await
            .expect("swapped");
        assert_eq!(change, Some(ChangeId("/change/C1".into())));
        assert_eq!(rule.num_calls(), 1);
    }

    fn change_status(
        status: ChangeStatus,
    ) -> aws_sdk_route53::operation::get_change::GetChangeOutput {
        aws_sdk_route53::operation::get_change::GetChangeOutput::builder()
            .change_info(
                ChangeInfo::builder()
                    .id("/change/C1")
                    .status(status)
                    .submitted_at(aws_smithy_types::DateTime::from_secs(0))
                    .build()
                    .expect("change info"),
            )
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_change_is_polled_until_in_sync() {
        let pending = mock!(Client::get_change)
            // The SDK strips the `/change/` prefix.
            .match_requests(|request| request.id() == Some("C1"))
            .sequence()
            .output(|| change_status(ChangeStatus::Pending))
            .times(2)
            .output(|| change_status(ChangeStatus::Insync))
            .build();
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&pending]);
        let started = tokio::time::Instant::now();
        let applied = Route53Record::new(client)
            .wait_applied(&ChangeId("/change/C1".into()), Duration::from_secs(60))
            .await
            .expect("polled");
        assert!(applied);
        assert_eq!(pending.num_calls(), 3);
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(2),
            "one poll a second"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_still_pending_at_the_end_of_its_budget_is_reported() {
        let pending =
            mock!(Client::get_change).then_output(|| change_status(ChangeStatus::Pending));
        let client = mock_client!(aws_sdk_route53, RuleMode::MatchAny, [&pending]);
        let started = tokio::time::Instant::now();
        let applied = Route53Record::new(client)
            .wait_applied(&ChangeId("/change/C1".into()), Duration::from_secs(5))
            .await
            .expect("polled");
        assert!(!applied);
        // A poll a second, the last one at the end of the budget, none after it.
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(pending.num_calls(), 6);
    }

    #[tokio::test]
    async fn an_unreadable_change_names_the_call_and_the_change() {
        let refused = mock!(Client::get_change).then_error(|| {
            aws_sdk_route53::operation::get_change::GetChangeError::NoSuchChange(
                aws_sdk_route53::types::error::NoSuchChange::builder()
                    .message("no change C1")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&refused]);
        let error = Route53Record::new(client)
            .wait_applied(&ChangeId("/change/C1".into()), Duration::from_secs(5))
            .await
            .expect_err("refused");
        let text = crate::error_chain(&error);
        assert!(
            text.contains("GetChange") && text.contains("/change/C1"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_unchanged_value_sends_nothing() {
        let rule = mock!(Client::change_resource_record_sets).then_output(accepted);
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&rule]);
        let same = ARecord::single(Ipv4Addr::new(10, 0, 0, 1), 5);
        let change = Route53Record::new(client)
            .swap(&address(), Some(&same), Some(&same))
            .await
            .expect("no-op");
        assert_eq!((change, rule.num_calls()), (None, 0));
    }

    #[tokio::test]
    async fn a_stale_delete_is_a_conflict_not_an_overwrite() {
        let rule = mock!(Client::change_resource_record_sets).then_error(|| {
            ChangeResourceRecordSetsError::InvalidChangeBatch(
                InvalidChangeBatch::builder()
                    .messages("Tried to delete resource record set [name='coordinator.presto.internal.', type='A'] but the values provided do not match the current values")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&rule]);
        let old = ARecord::single(Ipv4Addr::new(10, 0, 0, 1), 5);
        let new = ARecord::single(Ipv4Addr::new(10, 0, 0, 2), 5);
        let error = Route53Record::new(client)
            .swap(&address(), Some(&old), Some(&new))
            .await
            .expect_err("refused");
        assert!(matches!(error, RecordError::Conflict { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("do not match the current values"),
            "{error}"
        );
        assert_eq!(rule.num_calls(), 1, "a conflict is not retried blindly");
    }

    /// Errors as the SDK decodes them from the wire, with their code in the metadata.
    fn throttled() -> ChangeResourceRecordSetsError {
        ChangeResourceRecordSetsError::generic(
            ErrorMetadata::builder()
                .code("Throttling")
                .message("Rate exceeded")
                .build(),
        )
    }

    fn zone_busy() -> ChangeResourceRecordSetsError {
        let meta = ErrorMetadata::builder()
            .code("PriorRequestNotComplete")
            .message("busy")
            .build();
        ChangeResourceRecordSetsError::PriorRequestNotComplete(
            PriorRequestNotComplete::builder()
                .message("busy")
                .meta(meta)
                .build(),
        )
    }

    #[tokio::test]
    async fn throttling_and_a_busy_zone_are_retried_until_accepted() {
        let rule = mock!(Client::change_resource_record_sets)
            .sequence()
            .error(throttled)
            .error(zone_busy)
            .output(accepted)
            .build();
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&rule]);
        let new = ARecord::single(Ipv4Addr::new(10, 0, 0, 2), 5);
        let change = Route53Record::new(client)
            .swap(&address(), None, Some(&new))
            .await
            .expect("accepted in the end");
        assert!(change.is_some());
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn endless_throttling_gives_up_with_the_operation_named() {
        let rule = mock!(Client::change_resource_record_sets)
            .sequence()
            .error(zone_busy)
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&rule]);
        let new = ARecord::single(Ipv4Addr::new(10, 0, 0, 2), 5);
        let error = Route53Record::new(client)
            .swap(&address(), None, Some(&new))
            .await
            .expect_err("gives up");
        assert!(
            matches!(
                error,
                RecordError::Aws(AwsCallError {
                    operation: "ChangeResourceRecordSets",
                    ..
                })
            ),
            "{error:?}"
        );
        assert!(rule.num_calls() > 1, "retried");
    }

    #[tokio::test]
    async fn a_missing_zone_is_named_for_reads_and_writes() {
        let write = mock!(Client::change_resource_record_sets).then_error(|| {
            ChangeResourceRecordSetsError::NoSuchHostedZone(
                NoSuchHostedZone::builder()
                    .message("No hosted zone found")
                    .build(),
            )
        });
        let read = mock!(Client::list_resource_record_sets).then_error(|| {
            ListResourceRecordSetsError::NoSuchHostedZone(
                NoSuchHostedZone::builder()
                    .message("No hosted zone found")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_route53, RuleMode::MatchAny, [&write, &read]);
        let record = Route53Record::new(client);
        let error = record.read(&address()).await.expect_err("no zone");
        assert_eq!(error.to_string(), "hosted zone Z0123ABC does not exist");
        let error = record
            .swap(
                &address(),
                None,
                Some(&ARecord::single(Ipv4Addr::LOCALHOST, 5)),
            )
            .await
            .expect_err("no zone");
        assert!(matches!(error, RecordError::NoSuchZone(_)), "{error:?}");
    }

    #[tokio::test]
    async fn read_finds_only_the_record_by_that_name() {
        let set = |name: &str, ip: &str| {
            ResourceRecordSet::builder()
                .name(name)
                .r#type(RrType::A)
                .ttl(5)
                .resource_records(ResourceRecord::builder().value(ip).build().expect("record"))
                .build()
                .expect("set")
        };
        let listing = |sets: Vec<ResourceRecordSet>| {
            move || {
                ListResourceRecordSetsOutput::builder()
                    .set_resource_record_sets(Some(sets.clone()))
                    .is_truncated(false)
                    .max_items(1)
                    .build()
                    .expect("listing")
            }
        };
        let ours = mock!(Client::list_resource_record_sets).then_output(listing(vec![set(
            "coordinator.presto.internal.",
            "10.0.0.7",
        )]));
        let next = mock!(Client::list_resource_record_sets)
            .then_output(listing(vec![set("db.presto.internal.", "10.0.0.9")]));
        let client = mock_client!(aws_sdk_route53, RuleMode::Sequential, [&ours, &next]);
        let record = Route53Record::new(client);
        assert_eq!(
            record.read(&address()).await.expect("read"),
            Some(ARecord::single(Ipv4Addr::new(10, 0, 0, 7), 5))
        );
        assert_eq!(record.read(&address()).await.expect("read"), None);
    }
}
