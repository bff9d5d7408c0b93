//! Monitoring: the alarm topic and its key, the alarms, and the dashboard.

use super::*;

/// The topic every alarm notifies, its key, and the dashboard.
pub(super) const ALARM_TOPIC: &str = "AlarmTopic";

pub(super) const ALARM_KEY: &str = "AlarmTopicKey";

pub(super) const DASHBOARD: &str = "Dashboard";

/// An alarm on one metric that notifies the alarm topic when it fires and when it
/// clears.
pub(super) struct Alarm<'a> {
    /// Which of the contract's alarms.
    name: &'a str,
    description: &'a str,
    /// Namespace, name and dimensions.
    metric: (&'a str, &'a str, &'a Value),
    statistic: &'a str,
    period: u32,
    periods: u32,
    /// Comparison operator and threshold.
    breaches: (&'a str, Value),
    missing_data: &'a str,
}

impl Alarm<'_> {
    fn resource(self) -> Value {
        json!({
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": sub(&alarms::name("${AWS::StackName}", self.name)),
                "AlarmDescription": self.description,
                "Namespace": self.metric.0,
                "MetricName": self.metric.1,
                "Dimensions": self.metric.2,
                "Statistic": self.statistic,
                "Period": self.period,
                "EvaluationPeriods": self.periods,
                "ComparisonOperator": self.breaches.0,
                "Threshold": self.breaches.1,
                "TreatMissingData": self.missing_data,
                "AlarmActions": [r#ref(ALARM_TOPIC)],
                "OKActions": [r#ref(ALARM_TOPIC)],
            },
        })
    }
}

/// The alarm topic and its key, the alarms, and the dashboard. Each alarm's
/// description says what happened and what to do.
pub(super) fn monitoring() -> Vec<(&'static str, Value)> {
    let group = json!([{ "Name": metrics::DIMENSION, "Value": r#ref(ids::COORDINATOR_GROUP) }]);
    let watcher = json!([{ "Name": "FunctionName", "Value": r#ref(ids::WATCHER_FUNCTION) }]);
    let mut standbys = Alarm {
        name: alarms::STANDBYS,
        description: "Fewer healthy standby coordinators than HACoordinatorsCount - 1 for 3 minutes: the next failure will wait for a new coordinator to boot (minutes), or find none. Look at the coordinator group's activity (a launch failing?) and the watcher's log.",
        metric: (metrics::NAMESPACE, metrics::HEALTHY_STANDBYS, &group),
        statistic: "Minimum",
        period: 60,
        periods: 3,
        breaches: ("LessThanThreshold", json!({ "Fn::FindInMap": [STANDBYS_BY_COUNT, r#ref(param::HA_COORDINATORS_COUNT), "Standbys"] })),
        missing_data: "missing",
    }
    .resource();
    standbys["Condition"] = HAS_STANDBYS.into();
    vec![
        (
            ALARM_KEY,
            json!({
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "Description": sub("Encrypts the alarm topic of stack ${AWS::StackName}"),
                    "EnableKeyRotation": true,
                    "KeyPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "TheAccountManagesTheKey",
                                "Effect": "Allow",
                                "Principal": { "AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root") },
                                "Action": "kms:*",
                                "Resource": "*",
                            },
                            {
                                "Sid": "CloudWatchPublishesAlarms",
                                "Effect": "Allow",
                                "Principal": { "Service": "cloudwatch.amazonaws.com" },
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Resource": "*",
                                "Condition": { "StringEquals": { "aws:SourceAccount": r#ref("AWS::AccountId") } },
                            },
                        ],
                    },
                },
            }),
        ),
        (
            ALARM_TOPIC,
            json!({
                "Type": "AWS::SNS::Topic",
                "Properties": {
                    // At most 100 characters: a stack name may be 128.
                    "DisplayName": "Presto HA alarms",
                    // The AWS-managed SNS key would refuse CloudWatch.
                    "KmsMasterKeyId": r#ref(ALARM_KEY),
                },
            }),
        ),
        (
            "AlarmEmail",
            json!({
                "Type": "AWS::SNS::Subscription",
                "Condition": EMAIL_GIVEN,
                "Properties": {
                    "TopicArn": r#ref(ALARM_TOPIC),
                    "Protocol": "email",
                    "Endpoint": r#ref(param::NOTIFICATION_EMAIL),
                },
            }),
        ),
        (
            "FailoverAlarm",
            Alarm {
                name: alarms::FAILOVER,
                description: "The watcher moved the coordinator record to a standby: the active coordinator failed and was replaced (queries running on it failed). presto-ha status shows the last failover; the watcher's log says why.",
                metric: (metrics::NAMESPACE, metrics::FAILOVER_SECONDS, &group),
                statistic: "SampleCount",
                period: 60,
                periods: 1,
                breaches: ("GreaterThanOrEqualToThreshold", 1.into()),
                missing_data: "notBreaching",
            }
            .resource(),
        ),
        ("StandbysAlarm", standbys),
        (
            "NoHealthyActiveAlarm",
            Alarm {
                name: alarms::NO_HEALTHY_ACTIVE,
                description: "The coordinator record pointed at no healthy coordinator for longer than the failover grace: clients cannot run queries and no failover has fixed it. Check presto-ha status, the watcher's log and the coordinator group.",
                metric: (metrics::NAMESPACE, metrics::SECONDS_WITHOUT_HEALTHY_ACTIVE, &group),
                statistic: "Maximum",
                period: 60,
                periods: 1,
                breaches: ("GreaterThanThreshold", r#ref(param::FAILOVER_GRACE_SECONDS)),
                missing_data: "notBreaching",
            }
            .resource(),
        ),
        (
            "WatcherNotRunningAlarm",
            Alarm {
                name: alarms::WATCHER_NOT_RUNNING,
                description: "The watcher has not run for 3 minutes: nothing would fail over. Check its reserved concurrency (0 stops it), the WatcherSchedule rule and the FailedInvocations queue.",
                metric: ("AWS/Lambda", "Invocations", &watcher),
                statistic: "Sum",
                period: 60,
                periods: 3,
                breaches: ("LessThanThreshold", 1.into()),
                missing_data: "breaching",
            }
            .resource(),
        ),
        (
            "WatcherErrorsAlarm",
            Alarm {
                name: alarms::WATCHER_ERRORS,
                description: "A watcher run failed (a crash or a timeout): failover may be late. Read the watcher's log and the FailedInvocations queue.",
                metric: ("AWS/Lambda", "Errors", &watcher),
                statistic: "Sum",
                period: 60,
                periods: 1,
                breaches: ("GreaterThanOrEqualToThreshold", 1.into()),
                missing_data: "notBreaching",
            }
            .resource(),
        ),
        (
            "WatcherThrottlesAlarm",
            Alarm {
                name: alarms::WATCHER_THROTTLES,
                description: "The watcher was throttled 10 times in 5 minutes. An instance state-change event that arrives while a run is going is throttled by design (one run at a time); this many means runs themselves are refused, or the account's Lambda concurrency is exhausted.",
                metric: ("AWS/Lambda", "Throttles", &watcher),
                statistic: "Sum",
                period: 300,
                periods: 1,
                breaches: ("GreaterThanOrEqualToThreshold", 10.into()),
                missing_data: "notBreaching",
            }
            .resource(),
        ),
        (
            DASHBOARD,
            json!({
                "Type": "AWS::CloudWatch::Dashboard",
                "Properties": { "DashboardBody": sub(&dashboard_body()) },
            }),
        ),
    ]
}

/// The dashboard, as the text of an `Fn::Sub`: failovers and their duration,
/// standbys, the active coordinator's health, the watcher's runs, errors and
/// throttles, the nodes' CPU and the worker group's size.
pub(super) fn dashboard_body() -> String {
    let group = placeholder(ids::COORDINATOR_GROUP);
    let watcher = placeholder(ids::WATCHER_FUNCTION);
    let workers = placeholder(ids::WORKER_GROUP);
    let ours = |name: &str, stat: &str| json!([metrics::NAMESPACE, name, metrics::DIMENSION, group, { "stat": stat }]);
    let lambda =
        |name: &str| json!(["AWS/Lambda", name, "FunctionName", watcher, { "stat": "Sum" }]);
    let cpu = |asg: &str| json!(["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", asg, { "stat": "Average" }]);
    let size = |name: &str| json!(["AWS/AutoScaling", name, "AutoScalingGroupName", workers, { "stat": "Maximum" }]);
    let widget = |index: u32, title: &str, metrics: Value| {
        json!({
            "type": "metric",
            "x": (index % 2) * 12,
            "y": (index / 2) * 6,
            "width": 12,
            "height": 6,
            "properties": { "title": title, "region": "${AWS::Region}", "period": 60, "view": "timeSeries", "metrics": metrics },
        })
    };
    json!({
        "widgets": [
            widget(0, "Failovers, and how long the old coordinator had failed (s)", json!([ours(metrics::FAILOVER_SECONDS, "SampleCount"), ours(metrics::FAILOVER_SECONDS, "Maximum")])),
            widget(1, "Healthy standbys; seconds without a healthy active", json!([ours(metrics::HEALTHY_STANDBYS, "Minimum"), ours(metrics::SECONDS_WITHOUT_HEALTHY_ACTIVE, "Maximum")])),
            widget(2, "Watcher runs, errors and throttles", json!([lambda("Invocations"), lambda("Errors"), lambda("Throttles")])),
            widget(3, "CPU of coordinators and workers (%)", json!([cpu(&group), cpu(&workers)])),
            widget(4, "Workers in the group", json!([size("GroupInServiceInstances"), size("GroupDesiredCapacity")])),
        ],
    })
    .to_string()
}
