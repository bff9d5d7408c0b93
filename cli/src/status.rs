//! `status`: the coordinator record and the instance it points at, every coordinator
//! with its health, the standbys, the watcher's last failover, the worker group and
//! the stack's alarms; as a table for people or JSON for scripts.
//!
//! The probes go from where the command runs, as a client's would: to each instance's
//! client port, over HTTPS with the certificate checked for the record's name when TLS
//! is on. When none answers, as outside the VPC, the stack's probe function probes
//! them from inside it ([`crate::reach`]); the report says which path it took.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use presto_ha_coordinators::group::{Coordinators, InstanceState};
use presto_ha_coordinators::notes::{LastFailover, Note, Route53Note, WatchNote};
use presto_ha_coordinators::record::CoordinatorRecord;
use serde::Serialize;

use crate::args::StatusArgs;
use crate::aws::{self, Profile};
use crate::operations::{self, AlarmStatus, WorkerGroupStatus};
use crate::reach::{Path, ProbeMembers, Reach};
use crate::stack::ClusterStack;

/// What `status` found.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The stack's name.
    pub stack: String,
    /// The stack's status.
    pub stack_status: String,
    /// The coordinator record's name.
    pub record_name: String,
    /// The addresses the record holds (empty when it does not exist).
    pub record_ips: Vec<String>,
    /// The record's TTL in seconds.
    pub record_ttl: Option<u32>,
    /// The group member the record points at, if it points at one.
    pub active: Option<String>,
    /// Every member of the coordinator group.
    pub coordinators: Vec<CoordinatorStatus>,
    /// Members other than the active one that could take the record now.
    pub healthy_standbys: Vec<String>,
    /// The watcher's last switch of the record, if it noted one.
    pub last_failover: Option<FailoverStatus>,
    /// The worker group, when it could be read.
    pub workers: Option<WorkerGroupStatus>,
    /// The stack's alarms, when they could be read.
    pub alarms: Option<Vec<AlarmStatus>>,
    /// Where the coordinators were probed from.
    pub probed_from: String,
    /// What could not be read, and why: the report is complete without these.
    pub not_read: Vec<String>,
}

/// One coordinator.
#[derive(Debug, Clone, Serialize)]
pub struct CoordinatorStatus {
    /// The instance.
    pub instance_id: String,
    /// Its private IP.
    pub private_ip: Option<String>,
    /// `active` (the record points at it) or `standby`.
    pub role: &'static str,
    /// The probe's finding, or why it was not probed.
    pub health: String,
    /// Whether the probe found it healthy.
    pub healthy: bool,
    /// Whether the Auto Scaling group counts it as InService.
    pub in_service: bool,
    /// Its EC2 state.
    pub state: &'static str,
    /// When it was launched (RFC 3339).
    pub launch_time: Option<String>,
}

/// The watcher's last switch of the record.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverStatus {
    /// When (RFC 3339).
    pub at: String,
    /// The coordinator it left, if it was a member.
    pub from: Option<String>,
    /// The coordinator it moved to.
    pub to: String,
    /// The address the record got.
    pub ip: String,
    /// Why, as the watcher names it.
    pub why: String,
    /// How long the old coordinator had failed before the switch, in seconds.
    pub failing_seconds: Option<f64>,
}

fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    DateTime::from_secs(since.as_secs() as i64)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| format!("{}s after the epoch", since.as_secs()))
}

fn state_name(state: InstanceState) -> &'static str {
    match state {
        InstanceState::Pending => "pending",
        InstanceState::Running => "running",
        InstanceState::Gone => "stopped or terminated",
        InstanceState::Unknown => "unknown to EC2",
    }
}

impl StatusArgs {
    /// Opens the stack, gathers its report and prints it as a table or JSON.
    pub async fn run(self, profile: &Profile, out: &mut impl Write) -> anyhow::Result<()> {
        let (aws, cluster, config) = aws::open_stack(profile, &self.stack_name).await?;
        let lambda = aws_sdk_lambda::Client::new(&config);
        // Without the admin secret, the coordinators are probed without a login, and
        // the report says why.
        let mut no_login = None;
        let here = match cluster
            .client_probe(&aws_sdk_secretsmanager::Client::new(&config))
            .await
        {
            Ok(here) => here,
            Err(error) => {
                no_login = Some(format!("{error:#} (probed without logging in)"));
                cluster.probe_without_login()?
            }
        };
        let probe = Reach::new(&cluster, here, lambda, self.probe_from)?;
        let (coordinators, record) = (aws.coordinators(), aws.record());
        let note = Route53Note::new(aws.route53.clone());
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
        // The workers and alarms are read while the coordinators are probed.
        let (report, workers, alarms) = tokio::join!(
            gather(&cluster, &coordinators, &probe, &record, &note),
            operations::worker_group(&aws.autoscaling, &cluster.workers),
            operations::alarms(&cloudwatch, &cluster.name),
        );
        let mut report = report?;
        report.not_read.extend(no_login);
        if let Some(path) = probe.path() {
            report.probed_from = path.to_string();
        }
        report.workers = workers
            .map_err(|e| report.not_read.push(format!("{e:#}")))
            .ok();
        report.alarms = alarms
            .map_err(|e| report.not_read.push(format!("{e:#}")))
            .ok();
        if self.json {
            write_json(&report, out)
        } else {
            write_table(&report, out)
        }
    }
}

/// Gathers the report for `stack`. A failed read of the group or the record is an
/// error; an unreadable failover note only leaves `last_failover` empty.
pub async fn gather(
    stack: &ClusterStack,
    coordinators: &impl Coordinators,
    probe: &(impl ProbeMembers + Sync),
    record: &impl CoordinatorRecord,
    note: &impl WatchNote,
) -> anyhow::Result<StatusReport> {
    let (members, value) = stack.members_and_record(coordinators, record).await?;
    let probed = probe.probe_members(&members, stack.port).await;
    let mut coordinators: Vec<CoordinatorStatus> = members
        .iter()
        .map(|member| {
            let health = probed
                .iter()
                .find(|p| p.coordinator.instance_id == member.instance_id)
                .map(|p| &p.health);
            let active = member.is_target_of(value.as_ref());
            CoordinatorStatus {
                instance_id: member.instance_id.to_string(),
                private_ip: member.private_ip.map(|ip| ip.to_string()),
                role: if active { "active" } else { "standby" },
                health: health.map_or_else(
                    || "not probed (not in service and running)".to_owned(),
                    ToString::to_string,
                ),
                healthy: health.is_some_and(|h| h.is_healthy()),
                in_service: member.in_service,
                state: state_name(member.state),
                launch_time: member.launch_time.map(rfc3339),
            }
        })
        .collect();
    // The active one first, then the standbys in the order the watcher prefers them.
    coordinators.sort_by(|a, b| {
        (a.role != "active", &a.launch_time, &a.instance_id).cmp(&(
            b.role != "active",
            &b.launch_time,
            &b.instance_id,
        ))
    });
    let last_failover = match note.read(&stack.record, Note::LastFailover).await {
        Ok(text) => text.as_deref().and_then(LastFailover::from_note),
        Err(_) => None,
    };
    Ok(StatusReport {
        stack: stack.name.clone(),
        stack_status: stack.status.clone(),
        record_name: stack.record.name.to_string(),
        record_ips: value
            .as_ref()
            .map(|v| v.ips.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        record_ttl: value.as_ref().map(|v| v.ttl),
        active: coordinators
            .iter()
            .find(|c| c.role == "active")
            .map(|c| c.instance_id.clone()),
        healthy_standbys: coordinators
            .iter()
            .filter(|c| c.role == "standby" && c.healthy)
            .map(|c| c.instance_id.clone())
            .collect(),
        last_failover: last_failover.map(|f| FailoverStatus {
            at: rfc3339(UNIX_EPOCH + f.at),
            from: f.from.map(|i| i.to_string()),
            to: f.to.to_string(),
            ip: f.ip.to_string(),
            why: f.why,
            failing_seconds: f.failing_for.map(|d| d.as_secs_f64()),
        }),
        coordinators,
        workers: None,
        alarms: None,
        probed_from: Path::Here.to_string(),
        not_read: Vec::new(),
    })
}

/// Writes the report as pretty JSON.
pub fn write_json(report: &StatusReport, out: &mut impl Write) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)?;
    Ok(())
}

/// A probe failure's innermost cause, which is what a person needs in a table
/// (`unreachable (Connection refused (os error 111))`); JSON keeps the whole chain.
fn short_health(health: &str) -> String {
    match health
        .strip_prefix("unreachable (")
        .and_then(|chain| chain.strip_suffix(')'))
    {
        Some(chain) => format!(
            "unreachable ({})",
            chain.rsplit(": ").next().unwrap_or(chain)
        ),
        None => health.to_owned(),
    }
}

/// Writes the report as a table for people.
pub fn write_table(report: &StatusReport, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "Stack:       {} ({})",
        report.stack, report.stack_status
    )?;
    let target = match (&report.active, report.record_ips.as_slice()) {
        (_, []) => "does not exist".to_owned(),
        (Some(active), ips) => format!("{} ({active})", ips.join(",")),
        (None, ips) => format!("{} (no coordinator of the group)", ips.join(",")),
    };
    let ttl = report
        .record_ttl
        .map(|t| format!(", TTL {t} s"))
        .unwrap_or_default();
    writeln!(out, "Record:      {} -> {target}{ttl}", report.record_name)?;
    let standbys = if report.healthy_standbys.is_empty() {
        "none healthy".to_owned()
    } else {
        report.healthy_standbys.join(", ")
    };
    writeln!(out, "Standbys:    {standbys}")?;
    writeln!(out, "Probed:      {}", report.probed_from)?;
    match &report.last_failover {
        Some(f) => {
            let from = f
                .from
                .as_deref()
                .unwrap_or("a coordinator no longer in the group");
            let after = f
                .failing_seconds
                .map(|s| format!(", {s:.1} s after it began failing"))
                .unwrap_or_default();
            writeln!(
                out,
                "Last switch: {} from {from} to {} ({}) because {}{after}",
                f.at, f.to, f.ip, f.why
            )?;
        }
        None => writeln!(out, "Last switch: none noted by the watcher")?,
    }
    writeln!(out)?;
    let rows: Vec<[String; 7]> = report
        .coordinators
        .iter()
        .map(|c| {
            [
                c.instance_id.clone(),
                c.private_ip.clone().unwrap_or_else(|| "-".into()),
                c.role.to_owned(),
                if c.in_service { "yes" } else { "no" }.to_owned(),
                c.state.to_owned(),
                c.launch_time.clone().unwrap_or_else(|| "-".into()),
                short_health(&c.health),
            ]
        })
        .collect();
    let header = [
        "INSTANCE",
        "PRIVATE IP",
        "ROLE",
        "IN SERVICE",
        "STATE",
        "LAUNCHED",
        "HEALTH",
    ]
    .map(String::from);
    let mut widths = [0usize; 7];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    if report.coordinators.is_empty() {
        writeln!(out, "(the coordinator group has no instances)")?;
    }
    writeln!(out)?;
    if let Some(w) = &report.workers {
        writeln!(
            out,
            "Workers:     {} in service, {} launching, {} draining (desired {}, from {} to {})",
            w.in_service, w.launching, w.draining, w.desired, w.min, w.max
        )?;
    }
    if let Some(alarms) = &report.alarms {
        let firing: Vec<&str> = alarms
            .iter()
            .filter(|a| a.firing())
            .map(|a| a.name.as_str())
            .collect();
        let summary = match firing.len() {
            0 => "none firing".to_owned(),
            n => format!("{n} firing: {}", firing.join(", ")),
        };
        writeln!(out, "Alarms:      {summary}")?;
        let width = alarms.iter().map(|a| a.name.len()).max().unwrap_or(0);
        for a in alarms {
            let since = a.since.as_deref().unwrap_or("-");
            let line = format!(
                "  {:<width$}  {:<17}  {since}  {}",
                a.name, a.state, a.reason
            );
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    for problem in &report.not_read {
        writeln!(out, "Not read:    {problem}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_shows_the_workers_the_alarms_and_what_was_not_read() {
        let report = StatusReport {
            stack: "s".into(),
            stack_status: "UPDATE_COMPLETE".into(),
            record_name: "coordinator.presto.internal".into(),
            record_ips: vec![],
            record_ttl: None,
            active: None,
            coordinators: vec![],
            healthy_standbys: vec![],
            last_failover: None,
            workers: Some(WorkerGroupStatus {
                name: "w".into(),
                min: 2,
                desired: 5,
                max: 10,
                in_service: 3,
                launching: 1,
                draining: 1,
            }),
            alarms: None,
            probed_from: Path::Function("s-probe".into()).to_string(),
            not_read: vec!["DescribeAlarms failed for the alarms of stack s: AccessDenied".into()],
        };
        let mut out = Vec::new();
        write_table(&report, &mut out).expect("table");
        let table = String::from_utf8(out).expect("UTF-8");
        assert!(
            table.contains(
                "Workers:     3 in service, 1 launching, 1 draining (desired 5, from 2 to 10)"
            ),
            "{table}"
        );
        assert!(!table.contains("Alarms:"), "{table}");
        assert!(
            table.contains(
                "Probed:      by probe function s-probe inside the VPC, as the watcher probes"
            ),
            "{table}"
        );
        assert!(
            table.contains(
                "Not read:    DescribeAlarms failed for the alarms of stack s: AccessDenied"
            ),
            "{table}"
        );
    }

    #[test]
    fn a_table_names_the_innermost_cause_of_a_failed_probe() {
        assert_eq!(
            short_health(
                "unreachable (error sending request for url (http://10.0.1.4:8080/v1/info): client error (Connect): tcp connect error: Connection refused (os error 111))"
            ),
            "unreachable (Connection refused (os error 111))"
        );
        for kept in ["healthy", "timed out", "HTTP 500", "starting"] {
            assert_eq!(short_health(kept), kept);
        }
    }
}
