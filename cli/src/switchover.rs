//! `switchover`: a planned move of the coordinator record to a healthy standby, for
//! maintenance of the active coordinator. It changes the record by the same
//! compare-and-swap as the watcher, so it cannot undo a failover that happens at the
//! same moment, and it terminates nothing unless asked.
//!
//! Health is probed from where the command runs, so run it inside the VPC (or over a
//! VPN into it): a standby it cannot reach is refused as unhealthy.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use presto_ha_coordinators::choice::{healthiest, probe_serving};
use presto_ha_coordinators::error_chain;
use presto_ha_coordinators::group::{Coordinators, InstanceId};
use presto_ha_coordinators::probe::HealthProbe;
use presto_ha_coordinators::record::{ARecord, CoordinatorRecord, RecordError};
use presto_ha_watcher::watch::Fence;

use crate::stack::ClusterStack;
use crate::status::PROBE_TIMEOUT;

/// How long to wait for Route 53 to apply the change before reporting it as accepted.
pub const APPLY_BUDGET: Duration = Duration::from_secs(60);

/// What to switch to.
#[derive(Debug, Clone, Default)]
pub struct SwitchoverRequest {
    /// The standby to move to; `None` picks the longest-running healthy standby.
    pub to: Option<InstanceId>,
    /// Terminate the old coordinator after the switch, so the group replaces it.
    pub terminate_old: bool,
}

/// Moves the record of `stack` as `request` asks and reports what it did on `out`.
pub async fn switchover(
    stack: &ClusterStack,
    request: &SwitchoverRequest,
    coordinators: &impl Coordinators,
    probe: &(impl HealthProbe + Sync),
    record: &impl CoordinatorRecord,
    fence: &impl Fence,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let members = coordinators
        .members(&stack.group)
        .await
        .with_context(|| format!("failed to list coordinator group {}", stack.group))?;
    let current = record
        .read(&stack.record)
        .await
        .with_context(|| format!("failed to read record {}", stack.record))?
        .with_context(|| {
            format!(
                "record {} does not exist; the stack's custom resource creates it",
                stack.record
            )
        })?;
    let active = members
        .iter()
        .find(|m| m.private_ip.is_some() && m.private_ip == current.ip());
    let probed = probe_serving(probe, &members, stack.port, PROBE_TIMEOUT).await;
    let listing = || {
        members
            .iter()
            .map(|m| m.instance_id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };

    let target = match &request.to {
        Some(wanted) => {
            let Some(member) = members.iter().find(|m| &m.instance_id == wanted) else {
                bail!(
                    "refusing to switch: {wanted} is not a member of coordinator group {} (members: {})",
                    stack.group,
                    listing()
                );
            };
            if active.is_some_and(|a| a.instance_id == *wanted) {
                bail!(
                    "refusing to switch: {wanted} already holds the record {}",
                    stack.record.name
                );
            }
            let Some(found) = probed.iter().find(|p| &p.coordinator.instance_id == wanted) else {
                bail!(
                    "refusing to switch: {wanted} is not serving (in service: {}, state: {:?})",
                    member.in_service,
                    member.state
                );
            };
            if !found.health.is_healthy() {
                bail!(
                    "refusing to switch: {wanted} is not healthy (probe of {}:{}: {})",
                    member
                        .private_ip
                        .map(|ip| ip.to_string())
                        .unwrap_or_default(),
                    stack.port,
                    found.health
                );
            }
            member
        }
        None => {
            let standbys: Vec<_> = probed
                .iter()
                .filter(|p| Some(&p.coordinator.instance_id) != active.map(|a| &a.instance_id))
                .cloned()
                .collect();
            let Some(best) = healthiest(&standbys) else {
                let found: Vec<String> = standbys
                    .iter()
                    .map(|p| format!("{} {}", p.coordinator.instance_id, p.health))
                    .collect();
                bail!(
                    "refusing to switch: no healthy standby in coordinator group {} (standbys: {})",
                    stack.group,
                    if found.is_empty() {
                        "none serving".to_owned()
                    } else {
                        found.join(", ")
                    }
                );
            };
            members
                .iter()
                .find(|m| m.instance_id == best.instance_id)
                .context("the chosen standby left the member list")?
        }
    };
    let ip = target
        .serving_ip()
        .context("the chosen standby has no private IP")?;
    let new = ARecord::single(ip, current.ttl);
    let started = Instant::now();
    let change = match record.swap(&stack.record, Some(&current), Some(&new)).await {
        Ok(change) => change,
        Err(RecordError::Conflict { message, .. }) => bail!(
            "the record changed while switching ({message}): another writer, most likely the watcher, moved it first; nothing was changed; run status and decide again"
        ),
        Err(error) => {
            return Err(error).with_context(|| format!("failed to switch record {}", stack.record));
        }
    };
    let from = active.map_or_else(
        || "no coordinator of the group".to_owned(),
        |a| a.instance_id.to_string(),
    );
    let old_ips: Vec<String> = current.ips.iter().map(ToString::to_string).collect();
    writeln!(
        out,
        "switched {} from {} ({from}) to {ip} ({}), TTL {} s",
        stack.record.name,
        old_ips.join(","),
        target.instance_id,
        new.ttl
    )?;
    if let Some(change) = change {
        match record.wait_applied(&change, APPLY_BUDGET).await {
            Ok(true) => writeln!(
                out,
                "Route 53 applied the change in {:.1} s; clients follow within the record's TTL",
                started.elapsed().as_secs_f64()
            )?,
            Ok(false) => writeln!(
                out,
                "Route 53 accepted the change; it is still propagating after {} s",
                APPLY_BUDGET.as_secs()
            )?,
            Err(error) => writeln!(
                out,
                "Route 53 accepted the change; following it failed: {}",
                error_chain(&error)
            )?,
        }
    }
    if request.terminate_old {
        match active {
            Some(old) => {
                fence
                    .terminate(&old.instance_id)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))
                    .with_context(|| {
                        format!(
                            "the record moved, but terminating {} failed",
                            old.instance_id
                        )
                    })?;
                writeln!(
                    out,
                    "terminated {}; the Auto Scaling group launches a new standby",
                    old.instance_id
                )?;
            }
            None => writeln!(out, "nothing to terminate: the record pointed at no member")?,
        }
    }
    Ok(())
}
