//! The Lambdas: the custom resource, the watcher and the probe function, their roles,
//! log groups, failure destination, and the rules that start the watcher.

use super::*;

/// The role of a Lambda that logs to `log_group`: `statements`, and what every one
/// of them needs: its own log group, the network interfaces of a function in a VPC,
/// and the queue of failed invocations.
pub(super) fn lambda_role(description: &str, log_group: &str, mut statements: Vec<Value>) -> Value {
    let ec2_arn = |kind: &str| {
        sub(&format!(
            "arn:${{AWS::Partition}}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/*"
        ))
    };
    statements.extend([
        json!({
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": get_att(log_group, "Arn"),
        }),
        json!({
            "Sid": "DescribeVpcNetwork",
            "Effect": "Allow",
            // Describe calls support no resource-level scoping.
            "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            "Resource": "*",
        }),
        // Every interface, subnet and group of the account and region: Lambda
        // checks these permissions when it creates the function, before the
        // interfaces it will make have ids.
        json!({
            "Sid": "CreateVpcNetworkInterfaces",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterface",
            "Resource": [ec2_arn("network-interface"), ec2_arn("subnet"), ec2_arn("security-group")],
        }),
        json!({
            "Sid": "ManageVpcNetworkInterfaces",
            "Effect": "Allow",
            "Action": [
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": ec2_arn("network-interface"),
        }),
        json!({
            "Sid": "RecordFailedInvocations",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": get_att(FAILED_INVOCATIONS_QUEUE, "Arn"),
        }),
    ]);
    let mut role = service_role(
        "lambda.amazonaws.com",
        description,
        json!([{
            "PolicyName": "coordinator-record",
            "PolicyDocument": { "Version": "2012-10-17", "Statement": statements },
        }]),
    );
    role["Metadata"] = guard_suppression(&[
        INLINE_POLICIES,
        (
            "IAM_POLICYDOCUMENT_NO_WILDCARD_RESOURCE",
            "Only the describe calls, which support no resource-level permissions, have Resource *.",
        ),
    ]);
    role
}

pub(super) fn log_group() -> Value {
    const UNENCRYPTED: &str = "Logs hold instance ids, private IPs and probe results, no secrets; CloudWatch Logs encrypts them at rest with its own key.";
    json!({
        "Type": "AWS::Logs::LogGroup",
        "Metadata": suppressed(
            &[("CKV_AWS_158", UNENCRYPTED)],
            &[("CLOUDWATCH_LOG_GROUP_ENCRYPTED", UNENCRYPTED)],
        ),
        "Properties": { "RetentionInDays": LOG_RETENTION_DAYS },
    })
}

/// Why the stack's roles carry inline policies.
pub(super) const INLINE_POLICIES: (&str, &str) = (
    "IAM_NO_INLINE_POLICY_CHECK",
    "Each policy belongs to one role of this stack and goes with it; a managed policy could be attached to other principals.",
);

/// Why the Lambdas have no dead-letter queue.
pub(super) const ON_FAILURE_DESTINATION: &str = "Failed asynchronous invocations go to the FailedInvocations queue through the function's EventInvokeConfig on-failure destination, which records the error with the event.";

pub(super) const LAMBDA_SKIPS: [(&str, &str); 2] = [
    ("CKV_AWS_116", ON_FAILURE_DESTINATION),
    (
        "CKV_AWS_173",
        "The environment holds only resource names and timings, no secrets.",
    ),
];

/// How many runs of a function may overlap.
pub(super) enum Concurrency {
    /// At most this many, reserved from the account's capacity.
    Reserved(u32),
    /// As many as the account allows, for the reason given.
    Unreserved(&'static str),
}

pub(super) fn function(
    architecture: LambdaArchitecture,
    description: &str,
    code_key: &str,
    role: &str,
    log_group: &str,
    timeout: u32,
    concurrency: Concurrency,
) -> Value {
    let mut skips = LAMBDA_SKIPS.to_vec();
    let mut guard = vec![("LAMBDA_DLQ_CHECK", ON_FAILURE_DESTINATION)];
    if let Concurrency::Unreserved(why) = concurrency {
        skips.push(("CKV_AWS_115", why));
        guard.push(("LAMBDA_CONCURRENCY_CHECK", why));
    }
    let mut function = json!({
        "Type": "AWS::Lambda::Function",
        "Metadata": suppressed(&skips, &guard),
        "Properties": {
            "Description": description,
            "Runtime": "provided.al2023",
            "Handler": "bootstrap",
            "Architectures": [architecture.as_str()],
            "MemorySize": 128,
            "Timeout": timeout,
            "Code": { "S3Bucket": r#ref(param::LAMBDA_CODE_BUCKET), "S3Key": r#ref(code_key) },
            "Role": get_att(role, "Arn"),
            "VpcConfig": {
                "SubnetIds": r#ref(param::COORDINATOR_SUBNET_IDS),
                "SecurityGroupIds": [get_att("LambdaSecurityGroup", "GroupId")],
            },
            "LoggingConfig": { "LogGroup": r#ref(log_group), "LogFormat": "JSON" },
        },
    });
    if let Concurrency::Reserved(reserved) = concurrency {
        function["Properties"]["ReservedConcurrentExecutions"] = reserved.into();
    }
    function
}

/// Why the custom resource reserves no concurrency.
pub(super) const UNRESERVED: &str = "Runs only during stack operations; reserving concurrency for it would take capacity from the account for nothing.";

/// Why the probe function reserves no concurrency.
pub(super) const PROBES_UNRESERVED: &str = "Runs only when an operator asks; a reserved limit would throttle two operators at once, and reserving capacity for it would take it from the account for nothing.";

/// Seconds the probe function may take: reading the group and one probe.
pub(super) const PROBE_FUNCTION_TIMEOUT_SECONDS: u32 = 30;

/// Why the queue of failed invocations has no KMS key.
pub(super) const SQS_MANAGED_KEYS: &str = "Encrypted with SQS-managed keys (SqsManagedSseEnabled), which need no key policy for Lambda to send; the messages hold events, no secrets.";

/// Where failed asynchronous invocations of both Lambdas are kept, 14 days.
pub(super) const FAILED_INVOCATIONS_QUEUE: &str = "FailedInvocations";

/// The asynchronous invocations of `function`: at most `limits` (retries, age in
/// seconds) when given, Lambda's defaults otherwise, and every failure recorded.
pub(super) fn invoke_config(function: &str, limits: Option<(u32, u32)>) -> Value {
    let mut properties = json!({
        "FunctionName": r#ref(function),
        "Qualifier": "$LATEST",
        "DestinationConfig": { "OnFailure": { "Destination": get_att(FAILED_INVOCATIONS_QUEUE, "Arn") } },
    });
    if let Some((retries, age)) = limits {
        properties["MaximumRetryAttempts"] = retries.into();
        properties["MaximumEventAgeInSeconds"] = age.into();
    }
    json!({ "Type": "AWS::Lambda::EventInvokeConfig", "Properties": properties })
}

/// The two Lambdas, their roles and logs, and what starts the watcher.
pub(super) fn lambdas(architecture: LambdaArchitecture) -> Vec<(&'static str, Value)> {
    let mut dns_statements = coordinator_dns_statements(&["CREATE", "DELETE"]);
    dns_statements.extend([
        json!({
            "Sid": "ChangeStatus",
            "Effect": "Allow",
            "Action": "route53:GetChange",
            "Resource": sub("arn:${AWS::Partition}:route53:::change/*"),
        }),
        json!({
            "Sid": "ReadTheLatestImage",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            // AWS's public parameters have no account in their ARNs; `*` matches
            // that, and only AWS may create parameters under /aws.
            "Resource": sub(&format!(
                "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:*:parameter{LATEST_IMAGE_PARAMETER}"
            )),
        }),
        json!({
            "Sid": "StackCertificate",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
            "Resource": [r#ref(ids::AUTHORITY_SECRET), r#ref(ids::MADE_CERTIFICATE_SECRET)],
        }),
        when(
            CLIENT_TLS,
            json!({
                "Sid": "CountTheOldCoordinatorsQueries",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": r#ref(ids::ADMIN_PASSWORD_SECRET),
            }),
        ),
        when(
            CERTIFICATE_GIVEN,
            json!({
                "Sid": "CheckTheGivenCertificate",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": r#ref(param::TLS_CERTIFICATE_SECRET_ARN),
            }),
        ),
        when(
            FAULT_TOLERANT,
            json!({
                "Sid": "EmptyTheExchangeBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": get_att(ids::EXCHANGE_BUCKET, "Arn"),
            }),
        ),
        when(
            FAULT_TOLERANT,
            json!({
                "Sid": "EmptyTheExchangeBucketObjects",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:AbortMultipartUpload"],
                "Resource": exchange_objects(),
            }),
        ),
        json!({
            "Sid": "KnowWhetherTheStackIsBeingDeleted",
            "Effect": "Allow",
            "Action": "cloudformation:DescribeStacks",
            "Resource": r#ref("AWS::StackId"),
        }),
    ]);
    let mut watcher_statements = coordinator_dns_statements(&["CREATE", "DELETE", "UPSERT"]);
    watcher_statements.push(protect_statement());
    watcher_statements.push(json!({
        "Sid": "ReplaceFailedCoordinator",
        "Effect": "Allow",
        "Action": "autoscaling:TerminateInstanceInAutoScalingGroup",
        "Resource": coordinator_group_arn(),
    }));
    let watcher_environment = json!({
        watcher_env::HOSTED_ZONE_ID: r#ref(ids::HOSTED_ZONE),
        watcher_env::RECORD_NAME: sub(&record_fqdn()),
        watcher_env::RECORD_TTL: RECORD_TTL_SECONDS.to_string(),
        watcher_env::COORDINATOR_GROUP: r#ref(ids::COORDINATOR_GROUP),
        watcher_env::PRESTO_PORT: r#ref(param::PRESTO_HTTP_PORT),
        watcher_env::PROBE_INTERVAL_SECONDS: r#ref(param::PROBE_INTERVAL_SECONDS),
        watcher_env::PROBE_TIMEOUT_SECONDS: r#ref(param::PROBE_TIMEOUT_SECONDS),
        watcher_env::GRACE_SECONDS: r#ref(param::FAILOVER_GRACE_SECONDS),
        watcher_env::REFUSED_SECONDS: r#ref(param::FAILOVER_REFUSED_SECONDS),
    });
    let mut watcher = function(
        architecture,
        "Probes the Presto coordinators and moves the coordinator record to a healthy standby when the active one fails.",
        param::WATCHER_CODE_KEY,
        "WatcherRole",
        "WatcherLogGroup",
        WATCHER_TIMEOUT_SECONDS,
        // One watcher at a time; compare-and-swap keeps two safe anyway.
        Concurrency::Reserved(1),
    );
    watcher["Properties"]["Environment"] = json!({ "Variables": watcher_environment });
    let watcher_arn = get_att(ids::WATCHER_FUNCTION, "Arn");
    let invoke_permission = |rule: &str| {
        json!({
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": watcher_arn,
                "Principal": "events.amazonaws.com",
                "SourceArn": get_att(rule, "Arn"),
            },
        })
    };
    // The watcher starts only once the record exists, so it never races the
    // custom resource for the first write.
    let rule = |description: &str, trigger: (&str, Value)| {
        let mut properties = json!({
            "Description": description,
            "State": "ENABLED",
            "Targets": [{ "Id": "watcher", "Arn": watcher_arn }],
        });
        properties[trigger.0] = trigger.1;
        json!({
            "Type": "AWS::Events::Rule",
            "DependsOn": ids::COORDINATOR_DNS,
            "Properties": properties,
        })
    };
    let mut custom_resource = function(
        architecture,
        "Seeds, keeps and removes the coordinator DNS record (Custom::CoordinatorDns), pins the nodes' image (Custom::PinnedImage) and makes or checks the coordinators' certificate (Custom::TlsCertificate) for CloudFormation.",
        param::CUSTOM_RESOURCE_CODE_KEY,
        "CoordinatorDnsRole",
        "CoordinatorDnsLogGroup",
        CUSTOM_RESOURCE_TIMEOUT_SECONDS,
        Concurrency::Unreserved(UNRESERVED),
    );
    let mut probe = function(
        architecture,
        "Probes the Presto coordinators from inside the VPC for presto-ha status and switchover run outside it; changes nothing.",
        param::WATCHER_CODE_KEY,
        "ProbeRole",
        "ProbeLogGroup",
        PROBE_FUNCTION_TIMEOUT_SECONDS,
        Concurrency::Unreserved(PROBES_UNRESERVED),
    );
    probe["Properties"]["Environment"] = json!({ "Variables": {
        probe_function::ONLY_PROBES: "true",
        watcher_env::COORDINATOR_GROUP: r#ref(ids::COORDINATOR_GROUP),
        watcher_env::PRESTO_PORT: r#ref(param::PRESTO_HTTP_PORT),
        watcher_env::PROBE_TIMEOUT_SECONDS: r#ref(param::PROBE_TIMEOUT_SECONDS),
    } });
    // Whom it answers: events of this stack only, answered on AWS's own hosts.
    custom_resource["Properties"]["Environment"] = json!({ "Variables": {
        custom_resource_env::STACK_ID: r#ref("AWS::StackId"),
        custom_resource_env::RESPONSE_DOMAIN: r#ref("AWS::URLSuffix"),
    } });
    vec![
        (
            "CoordinatorDnsRole",
            lambda_role(
                "Custom resources: read the coordinators, write the coordinator record (and when the stack is deleted, stop the watcher); pin the image; make or check the coordinators' certificate.",
                "CoordinatorDnsLogGroup",
                dns_statements,
            ),
        ),
        ("CoordinatorDnsLogGroup", log_group()),
        (
            ids::GROUP_AND_WATCHER_POLICY,
            json!({
                "Type": "AWS::IAM::Policy",
                "Metadata": guard_suppression(&[INLINE_POLICIES]),
                "Properties": {
                    "PolicyName": "coordinator-group-and-watcher",
                    "Roles": [r#ref("CoordinatorDnsRole")],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            protect_statement(),
                            {
                                "Sid": "StopTheWatcherWhenTheStackIsDeleted",
                                "Effect": "Allow",
                                "Action": "lambda:PutFunctionConcurrency",
                                "Resource": get_att(ids::WATCHER_FUNCTION, "Arn"),
                            },
                        ],
                    },
                },
            }),
        ),
        (ids::CUSTOM_RESOURCE_FUNCTION, custom_resource),
        (
            "CoordinatorDnsInvokeConfig",
            invoke_config(ids::CUSTOM_RESOURCE_FUNCTION, None),
        ),
        (
            "WatcherRole",
            lambda_role(
                "Coordinator watcher: probe the coordinators, replace a failed one, move the record.",
                "WatcherLogGroup",
                watcher_statements,
            ),
        ),
        ("WatcherLogGroup", log_group()),
        (ids::WATCHER_FUNCTION, watcher),
        (
            "ProbeRole",
            lambda_role(
                "Coordinator probe for the command line: read the coordinator group, probe its members.",
                "ProbeLogGroup",
                vec![read_coordinators_statement()],
            ),
        ),
        ("ProbeLogGroup", log_group()),
        (ids::PROBE_FUNCTION, probe),
        // Its callers wait for the answer; an asynchronous request has no one to
        // answer, so it is not retried.
        (
            "ProbeInvokeConfig",
            invoke_config(ids::PROBE_FUNCTION, Some((0, 60))),
        ),
        // A watcher event older than a minute has been overtaken by the next
        // scheduled run; retrying it would only queue stale work.
        (
            "WatcherInvokeConfig",
            invoke_config(ids::WATCHER_FUNCTION, Some((0, 60))),
        ),
        (
            FAILED_INVOCATIONS_QUEUE,
            json!({
                "Type": "AWS::SQS::Queue",
                "Metadata": suppressed(
                    &[("CKV_AWS_27", SQS_MANAGED_KEYS)],
                    &[("SQS_QUEUE_KMS_MASTER_KEY_ID_RULE", SQS_MANAGED_KEYS)],
                ),
                "Properties": {
                    "SqsManagedSseEnabled": true,
                    "MessageRetentionPeriod": 14 * 24 * 3600,
                },
            }),
        ),
        (
            "WatcherSchedule",
            rule(
                "Starts the coordinator watcher every minute; each run probes for a minute.",
                ("ScheduleExpression", WATCHER_SCHEDULE.into()),
            ),
        ),
        (
            "WatcherSchedulePermission",
            invoke_permission("WatcherSchedule"),
        ),
        (
            "WatcherInstanceStateRule",
            rule(
                "Starts the coordinator watcher at once when an instance stops or terminates.",
                (
                    "EventPattern",
                    json!({
                        "source": ["aws.ec2"],
                        "detail-type": ["EC2 Instance State-change Notification"],
                        "detail": { "state": ["stopping", "stopped", "shutting-down", "terminated"] },
                    }),
                ),
            ),
        ),
        (
            "WatcherInstanceStatePermission",
            invoke_permission("WatcherInstanceStateRule"),
        ),
    ]
}
