//! What `status` shows beside the coordinators: the worker group's size and the
//! workers draining out of it, and the states of the stack's alarms.

use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleState};
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use aws_smithy_types::date_time::Format;
use presto_ha_contract::alarms;
use serde::Serialize;

use crate::aws::AwsContext;

/// The worker group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerGroupStatus {
    /// The group's name.
    pub name: String,
    /// Its minimum (`WorkersCount`), desired and maximum (`WorkersMaxCount`) sizes.
    pub min: i32,
    /// What scaling asks for now.
    pub desired: i32,
    /// The most it may grow to.
    pub max: i32,
    /// Workers in service.
    pub in_service: usize,
    /// Workers launching (not yet in service).
    pub launching: usize,
    /// Workers leaving: finishing their tasks (the drain hook) or terminating.
    pub draining: usize,
}

impl WorkerGroupStatus {
    /// Counts `group`'s instances by where they are in their lifecycle.
    pub fn of(group: &AutoScalingGroup) -> Self {
        let count = |wanted: fn(&LifecycleState) -> bool| {
            group
                .instances()
                .iter()
                .filter(|i| i.lifecycle_state().is_some_and(wanted))
                .count()
        };
        Self {
            name: group
                .auto_scaling_group_name()
                .unwrap_or_default()
                .to_owned(),
            min: group.min_size().unwrap_or_default(),
            desired: group.desired_capacity().unwrap_or_default(),
            max: group.max_size().unwrap_or_default(),
            in_service: count(|s| *s == LifecycleState::InService),
            launching: count(|s| s.as_str().starts_with("Pending")),
            draining: count(|s| s.as_str().starts_with("Terminating")),
        }
    }
}

/// Reads worker group `name`.
pub async fn worker_group(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
) -> anyhow::Result<WorkerGroupStatus> {
    let described = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .aws("DescribeAutoScalingGroups", format_args!("group {name}"))?;
    match described.auto_scaling_groups().first() {
        Some(group) => Ok(WorkerGroupStatus::of(group)),
        None => anyhow::bail!("worker group {name} does not exist"),
    }
}

/// One of the stack's alarms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmStatus {
    /// Its name.
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// Since when (RFC 3339).
    pub since: Option<String>,
    /// Why, as CloudWatch says.
    pub reason: String,
}

impl AlarmStatus {
    fn of(alarm: &MetricAlarm) -> Self {
        Self {
            name: alarm.alarm_name().unwrap_or_default().to_owned(),
            state: alarm
                .state_value()
                .map_or("unknown", StateValue::as_str)
                .to_owned(),
            since: alarm
                .state_updated_timestamp()
                .and_then(|t| t.fmt(Format::DateTime).ok()),
            reason: alarm.state_reason().unwrap_or_default().to_owned(),
        }
    }

    /// Whether it is firing.
    pub fn firing(&self) -> bool {
        self.state == StateValue::Alarm.as_str()
    }
}

/// Reads the alarms of stack `stack`, in the contract's order. An alarm the stack
/// does not have (no standbys to count with one coordinator) is left out.
pub async fn alarms(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    stack: &str,
) -> anyhow::Result<Vec<AlarmStatus>> {
    let names: Vec<String> = alarms::ALL.map(|which| alarms::name(stack, which)).into();
    let described = cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names.clone()))
        .send()
        .await
        .aws(
            "DescribeAlarms",
            format_args!("the alarms of stack {stack}"),
        )?;
    let found: Vec<AlarmStatus> = described
        .metric_alarms()
        .iter()
        .map(AlarmStatus::of)
        .collect();
    Ok(names
        .iter()
        .filter_map(|name| found.iter().find(|a| &a.name == name).cloned())
        .collect())
}

#[cfg(test)]
mod tests {
    use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
    use aws_sdk_autoscaling::types::Instance;
    use aws_sdk_cloudwatch::error::ErrorMetadata;
    use aws_sdk_cloudwatch::operation::describe_alarms::{
        DescribeAlarmsError, DescribeAlarmsOutput,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    #[tokio::test]
    async fn alarms_are_this_stacks_in_the_contracts_order() {
        let alarm = |name: &str| {
            MetricAlarm::builder()
                .alarm_name(name)
                .state_value(StateValue::Ok)
                .build()
        };
        let described = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .match_requests(|r| {
                r.alarm_names().len() == alarms::ALL.len() && r.alarm_names()[0] == "s-failover"
            })
            .then_output(move || {
                DescribeAlarmsOutput::builder()
                    .metric_alarms(alarm("s-watcher-errors"))
                    .metric_alarms(alarm("s-failover"))
                    .build()
            });
        let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&described]);
        let found = alarms(&client, "s").await.expect("alarms");
        let names: Vec<&str> = found.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["s-failover", "s-watcher-errors"]);
    }

    #[tokio::test]
    async fn an_unreadable_alarm_names_the_call_and_the_stack() {
        let denied = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_error(|| {
            DescribeAlarmsError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized to perform: cloudwatch:DescribeAlarms")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&denied]);
        let error = alarms(&client, "s").await.expect_err("denied");
        let message = format!("{error:#}");
        assert!(
            message.contains("DescribeAlarms failed for the alarms of stack s"),
            "{message}"
        );
        assert!(message.contains("cloudwatch:DescribeAlarms"), "{message}");
    }

    #[tokio::test]
    async fn a_missing_worker_group_is_named() {
        let none = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
            .then_output(|| DescribeAutoScalingGroupsOutput::builder().build());
        let client = mock_client!(aws_sdk_autoscaling, RuleMode::MatchAny, [&none]);
        let error = worker_group(&client, "workers").await.expect_err("missing");
        assert_eq!(error.to_string(), "worker group workers does not exist");
    }

    #[test]
    fn workers_are_counted_by_lifecycle_state() {
        let instance = |id: &str, state: LifecycleState| {
            Instance::builder()
                .instance_id(id)
                .lifecycle_state(state)
                .build()
        };
        let group = AutoScalingGroup::builder()
            .auto_scaling_group_name("workers")
            .min_size(2)
            .max_size(10)
            .desired_capacity(4)
            .instances(instance("i-1", LifecycleState::InService))
            .instances(instance("i-2", LifecycleState::InService))
            .instances(instance("i-3", LifecycleState::TerminatingWait))
            .instances(instance("i-4", LifecycleState::Terminating))
            .instances(instance("i-5", LifecycleState::Pending))
            .instances(instance("i-6", LifecycleState::PendingWait))
            .instances(instance("i-7", LifecycleState::Standby))
            .build();
        assert_eq!(
            WorkerGroupStatus::of(&group),
            WorkerGroupStatus {
                name: "workers".into(),
                min: 2,
                desired: 4,
                max: 10,
                in_service: 2,
                launching: 2,
                draining: 2,
            }
        );
    }

    #[test]
    fn an_alarm_keeps_its_state_since_and_reason() {
        let alarm = MetricAlarm::builder()
            .alarm_name("s-failover")
            .state_value(StateValue::Alarm)
            .state_updated_timestamp(aws_smithy_types::DateTime::from_secs(1_795_000_000))
            .state_reason("Threshold Crossed: 1 datapoint [1.0] >= 1.0")
            .build();
        let status = AlarmStatus::of(&alarm);
        assert!(status.firing());
        assert_eq!(status.since.as_deref(), Some("2026-11-18T11:06:40Z"));
        assert_eq!(status.state, "ALARM");
    }
}
