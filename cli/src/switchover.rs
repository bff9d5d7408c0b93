//! `switchover`: a planned move of the coordinator record to a healthy standby, for
//! maintenance of the active coordinator. It changes the record by the same
//! compare-and-swap as the watcher, so it cannot undo a failover that happens at the
//! same moment, and it terminates nothing unless asked.
//!
//! Health is probed from where the command runs or, when no coordinator answers
//! there, by the stack's probe function inside the VPC ([`crate::reach`]); a standby
//! neither path finds healthy is refused.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use presto_ha_coordinators::choice::{Probed, healthiest};
use presto_ha_coordinators::drain;
use presto_ha_coordinators::error_chain;
use presto_ha_coordinators::group::{
    Coordinator, Coordinators, InstanceId, InstanceState, move_protection,
};
use presto_ha_coordinators::probe::{Health, QueryLoad};
use presto_ha_coordinators::record::{ARecord, CoordinatorRecord, RecordError};
use presto_ha_watcher::watch::{AsgFence, Fence};

use crate::args::SwitchoverArgs;
use crate::aws::{self, Profile};
use crate::reach::{PROBE_TIMEOUT, ProbeMembers, Reach};
use crate::stack::ClusterStack;

/// How long to wait for Route 53 to apply the change before reporting it as accepted.
pub const APPLY_BUDGET: Duration = Duration::from_secs(60);

/// What to switch to, and how the old coordinator leaves.
#[derive(Debug, Clone)]
pub struct SwitchoverRequest {
    /// The standby to move to; `None` picks the longest-running healthy standby.
    pub to: Option<InstanceId>,
    /// Terminate the old coordinator after the switch, so the group replaces it.
    pub terminate_old: bool,
    /// How long clients may keep a resolved address beyond the record's TTL (a JVM
    /// caches lookups for 30 s by default).
    pub client_cache: Duration,
    /// The longest wait for the old coordinator's queries to finish.
    pub drain_timeout: Duration,
}

impl SwitchoverArgs {
    /// Opens the stack and moves its record as the flags ask.
    pub async fn run(self, profile: &Profile, out: &mut impl Write) -> anyhow::Result<()> {
        let (aws, cluster, config) = aws::open_stack(profile, &self.stack_name).await?;
        // Listing the old coordinator's queries needs a user who may see them all.
        let here = cluster
            .client_probe(&aws_sdk_secretsmanager::Client::new(&config))
            .await?;
        let lambda = aws_sdk_lambda::Client::new(&config);
        let probe = Reach::new(&cluster, here, lambda, self.probe_from)?;
        let request = SwitchoverRequest {
            to: self.to.map(InstanceId::new),
            terminate_old: self.terminate_old,
            client_cache: self.client_cache,
            drain_timeout: self.drain_timeout,
        };
        switchover(
            &cluster,
            &request,
            &aws.coordinators(),
            &probe,
            &aws.record(),
            &AsgFence::new(aws.autoscaling.clone()),
            out,
        )
        .await
    }
}

/// Why the record is not moved; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The named instance is not in the coordinator group.
    #[error(
        "refusing to switch: {wanted} is not a member of coordinator group {group} (members: {members})"
    )]
    NotMember {
        /// The instance asked for.
        wanted: InstanceId,
        /// The group.
        group: String,
        /// The group's members, comma-separated.
        members: String,
    },
    /// The named instance already holds the record.
    #[error("refusing to switch: {wanted} already holds the record {record}")]
    AlreadyActive {
        /// The instance asked for.
        wanted: InstanceId,
        /// The record's name.
        record: String,
    },
    /// The named instance cannot serve (not in service, or not running).
    #[error(
        "refusing to switch: {wanted} is not serving (in service: {in_service}, state: {state:?})"
    )]
    NotServing {
        /// The instance asked for.
        wanted: InstanceId,
        /// Whether the group counts it in service.
        in_service: bool,
        /// Its EC2 state.
        state: InstanceState,
    },
    /// The named instance's probe failed.
    #[error("refusing to switch: {wanted} is not healthy (probe of {address}: {health})")]
    NotHealthy {
        /// The instance asked for.
        wanted: InstanceId,
        /// The address probed, `ip:port`.
        address: String,
        /// What the probe found.
        health: Health,
    },
    /// No standby is healthy.
    #[error(
        "refusing to switch: no healthy standby in coordinator group {group} (standbys: {standbys})"
    )]
    NoHealthyStandby {
        /// The group.
        group: String,
        /// Each serving standby and its health, or "none serving".
        standbys: String,
    },
}

/// The member to move the record to: the one `wanted`, if it is a healthy member that
/// does not hold the record already, or else the longest-running healthy standby.
/// Decides from what was observed and does nothing.
pub fn choose_target<'a>(
    stack: &ClusterStack,
    wanted: Option<&InstanceId>,
    members: &'a [Coordinator],
    active: Option<&Coordinator>,
    probed: &[Probed],
) -> Result<&'a Coordinator, Refusal> {
    let Some(wanted) = wanted else {
        let standbys: Vec<Probed> = probed
            .iter()
            .filter(|p| Some(&p.coordinator.instance_id) != active.map(|a| &a.instance_id))
            .cloned()
            .collect();
        let refusal = || {
            let found: Vec<String> = standbys
                .iter()
                .map(|p| format!("{} {}", p.coordinator.instance_id, p.health))
                .collect();
            Refusal::NoHealthyStandby {
                group: stack.group.clone(),
                standbys: if found.is_empty() {
                    "none serving".to_owned()
                } else {
                    found.join(", ")
                },
            }
        };
        let best = healthiest(&standbys).ok_or_else(refusal)?;
        return members
            .iter()
            .find(|m| m.instance_id == best.instance_id)
            .ok_or_else(refusal);
    };
    let Some(member) = members.iter().find(|m| &m.instance_id == wanted) else {
        return Err(Refusal::NotMember {
            wanted: wanted.clone(),
            group: stack.group.clone(),
            members: members
                .iter()
                .map(|m| m.instance_id.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    if active.is_some_and(|a| a.instance_id == *wanted) {
        return Err(Refusal::AlreadyActive {
            wanted: wanted.clone(),
            record: stack.record.name.to_string(),
        });
    }
    let Some(found) = probed.iter().find(|p| &p.coordinator.instance_id == wanted) else {
        return Err(Refusal::NotServing {
            wanted: wanted.clone(),
            in_service: member.in_service,
            state: member.state,
        });
    };
    if !found.health.is_healthy() {
        return Err(Refusal::NotHealthy {
            wanted: wanted.clone(),
            address: format!(
                "{}:{}",
                member
                    .private_ip
                    .map(|ip| ip.to_string())
                    .unwrap_or_default(),
                stack.port
            ),
            health: found.health.clone(),
        });
    }
    Ok(member)
}

/// Moves the record of `stack` as `request` asks and reports what it did on `out`.
pub async fn switchover(
    stack: &ClusterStack,
    request: &SwitchoverRequest,
    coordinators: &impl Coordinators,
    probe: &(impl ProbeMembers + QueryLoad + Sync),
    record: &impl CoordinatorRecord,
    fence: &impl Fence,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (members, current) = stack.members_and_record(coordinators, record).await?;
    let current = current.with_context(|| {
        format!(
            "record {} does not exist; the stack's custom resource creates it",
            stack.record
        )
    })?;
    let active = members.iter().find(|m| m.is_target_of(Some(&current)));
    let probed = probe.probe_members(&members, stack.port).await;
    if let Some(path) = probe.path() {
        writeln!(out, "probed the coordinators {path}")?;
    }
    let target = choose_target(stack, request.to.as_ref(), &members, active, &probed)?;
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
    let failed = move_protection(
        coordinators,
        &stack.group,
        &members,
        Some(&target.instance_id),
    )
    .await;
    if failed.is_empty() {
        writeln!(
            out,
            "{} is the coordinator protected from scale-in",
            target.instance_id
        )?;
    }
    for error in failed {
        writeln!(
            out,
            "scale-in protection not moved ({}); the watcher repairs it within a probe interval",
            error_chain(&error)
        )?;
    }
    if request.terminate_old {
        match active {
            Some(old) => {
                drain(stack, request, probe, old, new.ttl, out).await?;
                fence.terminate(&old.instance_id).await.with_context(|| {
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

/// Waits until clients have followed the record and `old` has finished its queries, or
/// the drain timeout has passed, saying what it waits for.
async fn drain(
    stack: &ClusterStack,
    request: &SwitchoverRequest,
    load: &impl QueryLoad,
    old: &Coordinator,
    ttl: u32,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let follow = Duration::from_secs(ttl.into()) + request.client_cache;
    writeln!(
        out,
        "waiting {} s for clients to follow the record (TTL {ttl} s + client cache allowance {} s)",
        follow.as_secs(),
        request.client_cache.as_secs()
    )?;
    out.flush()?;
    tokio::time::sleep(follow).await;
    let timeout = request.drain_timeout.as_secs();
    let mut said = Ok(());
    let left = drain::drain(
        load,
        std::slice::from_ref(old),
        stack.port,
        PROBE_TIMEOUT,
        request.drain_timeout,
        |now| {
            for (id, load) in now {
                if said.is_ok() {
                    said = writeln!(
                        out,
                        "waiting for {id} to finish: {load} (drain timeout {timeout} s)"
                    )
                    .and_then(|()| out.flush());
                }
            }
        },
    )
    .await;
    said?;
    match left.first() {
        None => writeln!(out, "{} has no unfinished queries", old.instance_id)?,
        Some((id, load)) => writeln!(
            out,
            "drain timeout ({timeout} s) reached with {load} on {id}; terminating anyway"
        )?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::{Duration, UNIX_EPOCH};

    use presto_ha_coordinators::probe::ProbeFailure;

    use super::*;

    use crate::stack::tests::stack;

    /// Member `n` (instance `i-0000000n`, IP 10.0.0.n), launched `n` minutes in.
    fn member(n: u8, in_service: bool, state: InstanceState) -> Coordinator {
        Coordinator {
            instance_id: InstanceId::new(format!("i-0000000{n}")),
            private_ip: Some(Ipv4Addr::new(10, 0, 0, n)),
            in_service,
            state,
            launch_time: Some(UNIX_EPOCH + Duration::from_secs(60 * u64::from(n))),
            protected: false,
        }
    }

    fn probed(member: &Coordinator, health: Health) -> Probed {
        Probed {
            coordinator: member.clone(),
            health,
        }
    }

    #[test]
    fn the_choice_takes_only_a_healthy_member_that_is_not_active() {
        let members = [
            member(1, true, InstanceState::Running),
            member(2, true, InstanceState::Running),
            member(3, true, InstanceState::Running),
            member(4, false, InstanceState::Pending),
        ];
        let probes = [
            probed(&members[0], Health::Healthy),
            probed(&members[1], Health::Down(ProbeFailure::Status(500))),
            probed(&members[2], Health::Healthy),
        ];
        let active = Some(&members[0]);
        let choose = |wanted: Option<&str>| {
            let wanted = wanted.map(InstanceId::new);
            choose_target(&stack(), wanted.as_ref(), &members, active, &probes)
                .map(|c| c.instance_id.to_string())
                .map_err(|e| e.to_string())
        };
        let cases: [(Option<&str>, Result<&str, &str>); 6] = [
            (None, Ok("i-00000003")),
            (Some("i-00000003"), Ok("i-00000003")),
            (
                Some("i-00000009"),
                Err(
                    "refusing to switch: i-00000009 is not a member of coordinator group g (members: i-00000001, i-00000002, i-00000003, i-00000004)",
                ),
            ),
            (
                Some("i-00000001"),
                Err(
                    "refusing to switch: i-00000001 already holds the record coordinator.presto.internal",
                ),
            ),
            (
                Some("i-00000002"),
                Err(
                    "refusing to switch: i-00000002 is not healthy (probe of 10.0.0.2:8080: HTTP 500)",
                ),
            ),
            (
                Some("i-00000004"),
                Err(
                    "refusing to switch: i-00000004 is not serving (in service: false, state: Pending)",
                ),
            ),
        ];
        for (wanted, expected) in cases {
            assert_eq!(
                choose(wanted),
                expected.map(str::to_owned).map_err(str::to_owned),
                "{wanted:?}"
            );
        }
    }

    #[test]
    fn without_a_healthy_standby_the_choice_lists_what_it_saw() {
        let members = [
            member(1, true, InstanceState::Running),
            member(2, true, InstanceState::Running),
        ];
        let probes = [
            probed(&members[0], Health::Healthy),
            probed(&members[1], Health::Starting),
        ];
        let refused = choose_target(&stack(), None, &members, Some(&members[0]), &probes)
            .expect_err("no healthy standby");
        assert_eq!(
            refused.to_string(),
            "refusing to switch: no healthy standby in coordinator group g (standbys: i-00000002 starting)"
        );
        let alone = choose_target(
            &stack(),
            None,
            &members[..1],
            Some(&members[0]),
            &probes[..1],
        )
        .expect_err("no standby");
        assert!(
            alone.to_string().ends_with("(standbys: none serving)"),
            "{alone}"
        );
    }
}
