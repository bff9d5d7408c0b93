//! An update that replaces the coordinator group drains the old one: once the record
//! has moved into the new group, the old group is kept (CloudFormation deletes it
//! only after this resource answers) until none of its coordinators runs a query, or
//! `CoordinatorDrainSeconds` has passed, as `switchover --terminate-old` drains the
//! old active coordinator. The queries are counted as a client lists them: over
//! HTTPS as the stack's admin with client security on (Trino refuses the listing
//! over plain HTTP then), else over HTTP.

use std::future::Future;
use std::time::Duration;

use presto_ha_contract::CLIENT_CACHE_SECONDS;
use presto_ha_coordinators::drain::{Unfinished, drain};
use presto_ha_coordinators::error_chain;
use presto_ha_coordinators::group::{Coordinators, GroupError};
use presto_ha_coordinators::probe::{Credentials, HttpProbe, ProbeFailure, QueryLoad};
use tokio::time::Instant;

use crate::event::{ClientTls, DnsProperties, DrainSettings};
use crate::tls::SecretStore;

/// Opens a coordinator's query listing as a client does.
pub trait QueryCounting {
    /// What counts the queries.
    type Load: QueryLoad + Sync;
    /// A counter for coordinators whose certificate is for `record_name`, logged in
    /// as `tls` says; an error says why none can be had.
    fn counter(
        &self,
        record_name: &str,
        tls: Option<&ClientTls>,
    ) -> impl Future<Output = Result<Self::Load, String>> + Send;
}

/// [`QueryCounting`] over HTTP(S), the admin's password read from Secrets Manager.
#[derive(Debug, Clone)]
pub struct ClientQueries<S> {
    secrets: S,
}

impl<S> ClientQueries<S> {
    /// Counts with the admin password from `secrets`.
    pub fn new(secrets: S) -> Self {
        Self { secrets }
    }
}

impl<S: SecretStore + Sync> QueryCounting for ClientQueries<S> {
    type Load = HttpProbe;

    async fn counter(
        &self,
        record_name: &str,
        tls: Option<&ClientTls>,
    ) -> Result<HttpProbe, String> {
        let Some(tls) = tls else {
            return HttpProbe::new().map_err(|e| error_chain(&e));
        };
        let text = self
            .secrets
            .read(&tls.admin_secret)
            .await
            .map_err(|e| e.to_string())?;
        let admin = Credentials::admin(&text)
            .ok_or_else(|| format!("secret {} holds no admin password", tls.admin_secret))?;
        HttpProbe::https(record_name, tls.authority.as_deref())
            .map(|probe| probe.with_credentials(admin))
            .map_err(|e| {
                format!(
                    "the coordinators' authority cannot be read: {}",
                    error_chain(&e)
                )
            })
    }
}

/// What counts the old coordinators' queries: the counter, or why none could be had,
/// in which case every count fails with that, and the drain waits its whole time,
/// since what the coordinators run is unknown.
enum Counter<L> {
    Open(L),
    Uncountable(String),
}

impl<L: QueryLoad + Sync> QueryLoad for Counter<L> {
    async fn unfinished_queries(
        &self,
        ip: std::net::Ipv4Addr,
        port: u16,
        timeout: Duration,
    ) -> Result<usize, ProbeFailure> {
        match self {
            Self::Open(load) => load.unfinished_queries(ip, port, timeout).await,
            Self::Uncountable(why) => Err(ProbeFailure::Unreachable(why.clone())),
        }
    }
}

/// Drains the coordinators of `group` that still serve, until `stop_at` at the
/// latest; what it waited for, for the answer's reason.
pub async fn drain_replaced(
    coordinators: &impl Coordinators,
    queries: &impl QueryCounting,
    properties: &DnsProperties,
    settings: &DrainSettings,
    group: &str,
    stop_at: Instant,
) -> Option<String> {
    let (record_name, probe_timeout) = (
        properties.address.name.to_string(),
        properties.probe_timeout,
    );
    let members = match coordinators.members(group).await {
        Ok(members) => members,
        Err(GroupError::NoSuchGroup(_)) => return None,
        Err(error) => {
            let why = error_chain(&error);
            tracing::error!(
                group,
                why,
                "the replaced group cannot be listed; not drained"
            );
            return Some(format!("coordinator group {group} not drained: {why}"));
        }
    };
    let serving: Vec<_> = members
        .into_iter()
        .filter(|m| m.serving_ip().is_some())
        .collect();
    if serving.is_empty() {
        return None;
    }
    let started = Instant::now();
    let stop_at = stop_at.min(started + settings.limit);
    // Clients that resolved the name before the move may still start queries there.
    let follow = Duration::from_secs(u64::from(properties.ttl + CLIENT_CACHE_SECONDS));
    tracing::info!(
        group,
        follow_seconds = follow.as_secs(),
        limit_seconds = settings.limit.as_secs(),
        "draining the replaced coordinator group: waiting for clients to follow the record"
    );
    tokio::time::sleep_until((started + follow).min(stop_at)).await;
    let load = match queries.counter(&record_name, settings.tls.as_ref()).await {
        Ok(load) => Counter::Open(load),
        Err(why) => {
            tracing::error!(
                group,
                why,
                "the old coordinators' queries cannot be counted; waiting the whole drain time"
            );
            Counter::Uncountable(why)
        }
    };
    let left = drain(
        &load,
        &serving,
        settings.port,
        probe_timeout,
        stop_at.saturating_duration_since(Instant::now()),
        |now| tracing::info!(group, waiting_for = %describe(now), "draining the replaced coordinator group"),
    )
    .await;
    let waited = started.elapsed().as_secs();
    let reason = if left.is_empty() {
        format!("drained coordinator group {group}: no query left after {waited} s")
    } else {
        let cut = if stop_at < started + settings.limit {
            "the custom resource's time left"
        } else {
            "CoordinatorDrainSeconds"
        };
        format!(
            "stopped draining coordinator group {group} after {waited} s ({cut}) with {}; those queries fail as the group is deleted",
            describe(&left)
        )
    };
    tracing::info!(group, reason, "drain over");
    Some(reason)
}

fn describe(unfinished: &Unfinished) -> String {
    unfinished
        .iter()
        .map(|(id, load)| format!("{load} on {id}"))
        .collect::<Vec<_>>()
        .join(", ")
}
