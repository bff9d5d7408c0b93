//! The nodes: their launch templates (the boot script behind the stack's settings),
//! roles and policies, the coordinator and worker groups with their warm pool,
//! lifecycle hooks and scaling, and the pinned image.

use super::*;

pub(super) fn launch_template(role: Role) -> Value {
    let (instance_type, security_group, group, profile) = match role {
        Role::Coordinator => (
            param::COORDINATOR_INSTANCE_TYPE,
            "CoordinatorSecurityGroup",
            ids::COORDINATOR_GROUP,
            "CoordinatorInstanceProfile",
        ),
        Role::Worker => (
            param::WORKER_INSTANCE_TYPE,
            "WorkerSecurityGroup",
            ids::WORKER_GROUP,
            "WorkerInstanceProfile",
        ),
    };
    json!({
        "Type": "AWS::EC2::LaunchTemplate",
        "Properties": {
            "LaunchTemplateData": {
                "ImageId": get_att(ids::PINNED_IMAGE, image_resource::PINNED_IMAGE_ID),
                "InstanceType": r#ref(instance_type),
                "KeyName": { "Fn::If": [KEY_GIVEN, r#ref(param::KEY_NAME), { "Ref": "AWS::NoValue" }] },
                "IamInstanceProfile": { "Arn": get_att(profile, "Arn") },
                // Only through an interface can a launch template refuse a public
                // address, whatever the subnet's auto-assign setting.
                "NetworkInterfaces": [{
                    "DeviceIndex": 0,
                    "AssociatePublicIpAddress": false,
                    "Groups": [get_att(security_group, "GroupId")],
                    "DeleteOnTermination": true,
                }],
                "MetadataOptions": {
                    "HttpEndpoint": "enabled",
                    "HttpTokens": "required",
                    "HttpPutResponseHopLimit": 1,
                },
                "BlockDeviceMappings": [{
                    "DeviceName": "/dev/xvda",
                    "Ebs": {
                        "VolumeSize": ROOT_VOLUME_GIB,
                        "VolumeType": "gp3",
                        "Encrypted": true,
                        "DeleteOnTermination": true,
                    },
                }],
                "Monitoring": { "Enabled": true },
                "UserData": node::user_data(role, group),
                "TagSpecifications": [{
                    "ResourceType": "volume",
                    "Tags": [{ "Key": "Name", "Value": sub(&format!("${{AWS::StackName}}-{}", role.as_str())) }],
                }],
            },
        },
    })
}

/// The secrets a node of `role` reads at boot: the nodes' shared secret; on a
/// coordinator also its certificate and the users.
pub(super) fn stack_secrets_policy(role: Role) -> Value {
    let mut secrets = vec![r#ref(ids::SHARED_SECRET)];
    if role == Role::Coordinator {
        secrets.extend([
            get_att(ids::TLS_CERTIFICATE, tls_resource::CERTIFICATE_SECRET),
            r#ref(ids::ADMIN_PASSWORD_SECRET),
            json!({ "Fn::If": [USERS_GIVEN, r#ref(param::USERS_SECRET_ARN), { "Ref": "AWS::NoValue" }] }),
        ]);
    }
    json!({
        "PolicyName": "stack-secrets",
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "StackSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secrets,
            }],
        },
    })
}

/// What a node needs to complete its group's lifecycle hook (a worker's drain, a
/// coordinator's launch): to learn its group and to complete the hook. The group is
/// named by its CloudFormation tags, not its name: the name would make a cycle (the
/// group's launch template names this role's profile), and a pattern of it would
/// break on long stack names.
pub(super) fn lifecycle_policy(role: Role) -> Value {
    // A worker that cannot serve has no launch to abandon: it marks itself unhealthy.
    let (name, sid, group, actions) = match role {
        Role::Worker => (
            "drain",
            "LeaveWhenDrained",
            ids::WORKER_GROUP,
            json!([
                "autoscaling:CompleteLifecycleAction",
                "autoscaling:SetInstanceHealth"
            ]),
        ),
        Role::Coordinator => (
            "launch",
            "ServeWhenReady",
            ids::COORDINATOR_GROUP,
            json!("autoscaling:CompleteLifecycleAction"),
        ),
    };
    json!({
        "PolicyName": name,
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "FindOwnGroup",
                    "Effect": "Allow",
                    // It supports no resource-level permissions.
                    "Action": "autoscaling:DescribeAutoScalingInstances",
                    "Resource": "*",
                },
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Action": actions,
                    "Resource": sub("arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*"),
                    "Condition": { "StringEquals": {
                        "autoscaling:ResourceTag/aws:cloudformation:stack-id": r#ref("AWS::StackId"),
                        "autoscaling:ResourceTag/aws:cloudformation:logical-id": group,
                    } },
                },
            ],
        },
    })
}

/// The instance role of the nodes of `role`.
pub(super) fn node_role(role: Role) -> Value {
    let description = match role {
        Role::Coordinator => {
            "Presto coordinators: their certificate, the users, the nodes' shared secret, and the Glue catalog, data buckets, configuration objects and secrets the stack names."
        }
        Role::Worker => {
            "Presto workers: the nodes' shared secret, and the Glue catalog, data buckets, configuration objects and secrets the stack names; leaving their group once drained."
        }
    };
    let policies = vec![
        node_policy(),
        stack_secrets_policy(role),
        lifecycle_policy(role),
    ];
    let mut role = service_role("ec2.amazonaws.com", description, json!(policies));
    // Session Manager: a shell on any node without a key or an open port.
    role["Properties"]["ManagedPolicyArns"] = json!([sub(
        "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
    )]);
    role["Metadata"] = guard_suppression(&[
        INLINE_POLICIES,
        (
            "IAM_POLICYDOCUMENT_NO_WILDCARD_RESOURCE",
            "Only DescribeAutoScalingInstances, which supports no resource-level permissions, has Resource * (a node finds its group with it to complete the group's lifecycle hook).",
        ),
    ]);
    role
}

/// The nodes' own permissions: what the stack's catalogs and extra configuration
/// need, each statement present only when its parameter asks for it. The first
/// statement is always there: nodes never call AWS without TLS.
pub(super) fn node_policy() -> Value {
    let partition_arn =
        |service_and_rest: &str| sub(&format!("arn:${{AWS::Partition}}:{service_and_rest}"));
    // IAM matches any partition for `*`; an `Fn::Join` delimiter cannot hold
    // `${AWS::Partition}`, and a list parameter can only be turned into ARNs by one.
    let bucket_arns = |suffix: &str| {
        json!({ "Fn::Split": [",", { "Fn::Join": ["", [
            "arn:*:s3:::",
            { "Fn::Join": [format!("{suffix},arn:*:s3:::"), r#ref(param::DATA_BUCKET_NAMES)] },
            suffix,
        ]] }] })
    };
    let object_arn = |name: &str| {
        json!({ "Fn::If": [
            object_given(name),
            { "Fn::Join": ["", [
                partition_arn("s3:::"),
                { "Fn::Select": [1, { "Fn::Split": ["s3://", r#ref(name)] }] },
            ]] },
            { "Ref": "AWS::NoValue" },
        ] })
    };
    json!({
        "PolicyName": "catalogs-and-configuration",
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyOverTls",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": { "Bool": { "aws:SecureTransport": "false" } },
                },
                when(USES_GLUE, json!({
                    "Sid": "GlueDataCatalog",
                    "Effect": "Allow",
                    "Action": [
                        "glue:GetCatalogImportStatus", "glue:GetDatabase", "glue:GetDatabases",
                        "glue:CreateDatabase", "glue:UpdateDatabase", "glue:DeleteDatabase",
                        "glue:GetTable", "glue:GetTables", "glue:GetTableVersions",
                        "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable",
                        "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition",
                        "glue:CreatePartition", "glue:BatchCreatePartition", "glue:UpdatePartition",
                        "glue:BatchUpdatePartition", "glue:DeletePartition", "glue:BatchDeletePartition",
                        "glue:GetColumnStatisticsForTable", "glue:UpdateColumnStatisticsForTable",
                        "glue:DeleteColumnStatisticsForTable", "glue:GetColumnStatisticsForPartition",
                        "glue:UpdateColumnStatisticsForPartition", "glue:DeleteColumnStatisticsForPartition",
                    ],
                    "Resource": [
                        partition_arn("glue:${AWS::Region}:${AWS::AccountId}:catalog"),
                        partition_arn("glue:${AWS::Region}:${AWS::AccountId}:database/*"),
                        partition_arn("glue:${AWS::Region}:${AWS::AccountId}:table/*/*"),
                        // Dropping a database drops its functions.
                        partition_arn("glue:${AWS::Region}:${AWS::AccountId}:userDefinedFunction/*/*"),
                    ],
                })),
                when(HAS_DATA_BUCKETS, json!({
                    "Sid": "DataBuckets",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                    "Resource": bucket_arns(""),
                })),
                when(HAS_DATA_BUCKETS, json!({
                    "Sid": "DataObjects",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                    "Resource": bucket_arns("/*"),
                })),
                when(HAS_NODE_OBJECTS, json!({
                    "Sid": "ConfigurationObjects",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": NODE_OBJECTS.map(object_arn),
                })),
                when(HAS_CONFIGURATION_SECRETS, json!({
                    "Sid": "ConfigurationSecrets",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": r#ref(param::CONFIGURATION_SECRET_ARNS),
                })),
                when(FAULT_TOLERANT, json!({
                    "Sid": "ExchangeBucket",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                    "Resource": get_att(ids::EXCHANGE_BUCKET, "Arn"),
                })),
                when(FAULT_TOLERANT, json!({
                    "Sid": "ExchangeObjects",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                    "Resource": exchange_objects(),
                })),
            ],
        },
    })
}

pub(super) fn group_tags(role: &str) -> Value {
    json!([
        { "Key": "Name", "Value": sub(&format!("${{AWS::StackName}}-{role}")), "PropagateAtLaunch": true },
        { "Key": "presto-ha:role", "Value": role, "PropagateAtLaunch": true },
    ])
}

/// Launch templates, Auto Scaling groups and the instance role of the Presto nodes.
pub(super) fn nodes() -> Vec<(&'static str, Value)> {
    let launch_template_ref = |id: &str| {
        json!({
            "LaunchTemplateId": r#ref(id),
            "Version": get_att(id, "LatestVersionNumber"),
        })
    };
    vec![
        ("CoordinatorRole", node_role(Role::Coordinator)),
        (
            "CoordinatorInstanceProfile",
            json!({
                "Type": "AWS::IAM::InstanceProfile",
                "Properties": { "Roles": [r#ref("CoordinatorRole")] },
            }),
        ),
        ("WorkerRole", node_role(Role::Worker)),
        (
            "WorkerInstanceProfile",
            json!({
                "Type": "AWS::IAM::InstanceProfile",
                "Properties": { "Roles": [r#ref("WorkerRole")] },
            }),
        ),
        (
            "CoordinatorLaunchTemplate",
            launch_template(Role::Coordinator),
        ),
        (
            ids::COORDINATOR_GROUP,
            json!({
                "Type": "AWS::AutoScaling::AutoScalingGroup",
                // Creation waits until every coordinator's Presto is serving.
                "CreationPolicy": {
                    "ResourceSignal": {
                        "Count": r#ref(param::HA_COORDINATORS_COUNT),
                        "Timeout": NODE_READY_TIMEOUT,
                    },
                },
                // A change to the coordinators builds a whole new group next to the
                // old one; the custom resource then moves the record to it, and only
                // then is the old group removed.
                "UpdatePolicy": {
                    "AutoScalingReplacingUpdate": { "WillReplace": true },
                },
                "Properties": {
                    // A coordinator stays in Pending:Wait until its engine serves, at
                    // its first boot and at every start from the warm pool; one that
                    // never does is abandoned, and the group launches another.
                    "LifecycleHookSpecificationList": [{
                        "LifecycleHookName": node::LAUNCH_HOOK,
                        "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
                        "HeartbeatTimeout": LAUNCH_HOOK_SECONDS,
                        "DefaultResult": "ABANDON",
                    }],
                    "LaunchTemplate": launch_template_ref("CoordinatorLaunchTemplate"),
                    "MinSize": r#ref(param::HA_COORDINATORS_COUNT),
                    "MaxSize": r#ref(param::HA_COORDINATORS_COUNT),
                    "DesiredCapacity": r#ref(param::HA_COORDINATORS_COUNT),
                    "VPCZoneIdentifier": r#ref(param::COORDINATOR_SUBNET_IDS),
                    "HealthCheckType": "EC2",
                    "Tags": group_tags("coordinator"),
                },
            }),
        ),
        (
            "CoordinatorWarmPool",
            json!({
                "Type": "AWS::AutoScaling::WarmPool",
                "Condition": HAS_WARM_POOL,
                // Stopped instances that ran their whole boot: a replacement starts
                // from one, its engine starting from its enabled service. The pool
                // belongs to the group: a change to the coordinators replaces both,
                // so no prepared instance outlives the template that made it.
                "Properties": {
                    "AutoScalingGroupName": r#ref(ids::COORDINATOR_GROUP),
                    "MinSize": r#ref(param::COORDINATOR_WARM_POOL_SIZE),
                    "PoolState": "Stopped",
                    "InstanceReusePolicy": { "ReuseOnScaleIn": false },
                },
            }),
        ),
        ("WorkerLaunchTemplate", launch_template(Role::Worker)),
        (
            "WorkerScaling",
            json!({
                "Type": "AWS::AutoScaling::ScalingPolicy",
                "Properties": {
                    "AutoScalingGroupName": r#ref(ids::WORKER_GROUP),
                    "PolicyType": "TargetTrackingScaling",
                    "TargetTrackingConfiguration": {
                        "PredefinedMetricSpecification": { "PredefinedMetricType": "ASGAverageCPUUtilization" },
                        "TargetValue": r#ref(param::WORKERS_TARGET_CPU_PERCENT),
                    },
                },
            }),
        ),
        (
            ids::WORKER_GROUP,
            json!({
                "Type": "AWS::AutoScaling::AutoScalingGroup",
                // Creation waits until every worker's engine is serving.
                "CreationPolicy": {
                    "ResourceSignal": {
                        "Count": r#ref(param::WORKERS_COUNT),
                        "Timeout": NODE_READY_TIMEOUT,
                    },
                },
                // A new worker launch template (another engine, version, catalog,
                // instance type or image) replaces the workers one at a time, each new
                // one first and serving before an old one goes, so that the count in
                // service never drops below WorkersCount; a new worker that fails its
                // boot rolls the update back.
                "UpdatePolicy": {
                    "AutoScalingRollingUpdate": {
                        "MaxBatchSize": 1,
                        "MinInstancesInService": r#ref(param::WORKERS_COUNT),
                        "WaitOnResourceSignals": true,
                        "PauseTime": NODE_READY_TIMEOUT,
                    },
                },
                "Properties": {
                    // A removed worker drains first: it stops taking tasks, finishes
                    // its running ones (at most WorkerDrainSeconds), then completes
                    // the hook; if it never does, the removal goes on anyway.
                    "LifecycleHookSpecificationList": [{
                        "LifecycleHookName": node::DRAIN_HOOK,
                        "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
                        "HeartbeatTimeout": r#ref(param::WORKER_DRAIN_SECONDS),
                        "DefaultResult": "CONTINUE",
                    }],
                    "MixedInstancesPolicy": worker_instances(launch_template_ref("WorkerLaunchTemplate")),
                    // A spot worker at risk of interruption is replaced early, and
                    // the old one leaves through the drain like any removed worker.
                    "CapacityRebalance": { "Fn::If": [WORKERS_ON_SPOT, true, false] },
                    // No DesiredCapacity: the scaling policy owns it, and an update
                    // would reset it. The group starts at its minimum.
                    "MinSize": r#ref(param::WORKERS_COUNT),
                    "MaxSize": r#ref(param::WORKERS_MAX_COUNT),
                    "VPCZoneIdentifier": r#ref(param::WORKER_SUBNET_IDS),
                    "HealthCheckType": "EC2",
                    "Tags": group_tags("worker"),
                },
            }),
        ),
    ]
}

/// How the worker group mixes instances: on demand on `WorkerInstanceType` first,
/// the spot share in whichever of the types' pools is least likely to be
/// interrupted.
pub(super) fn worker_instances(launch_template: Value) -> Value {
    let ty = |value: Value| json!({ "InstanceType": value });
    let other = |index: usize| json!({ "Fn::Select": [index, { "Fn::Split": [",", r#ref(param::WORKER_OTHER_INSTANCE_TYPES)] }] });
    let primary = ty(r#ref(param::WORKER_INSTANCE_TYPE));
    // One list for each number of other types given, the longest first.
    let mut overrides = json!([primary.clone()]);
    for count in 1..=limits::WORKER_OTHER_INSTANCE_TYPES {
        let mut longer = vec![primary.clone()];
        longer.extend((0..count).map(|i| ty(other(i))));
        overrides = json!({ "Fn::If": [other_worker_types(count), longer, overrides] });
    }
    json!({
        "InstancesDistribution": {
            "OnDemandAllocationStrategy": "prioritized",
            "OnDemandBaseCapacity": 0,
            "OnDemandPercentageAboveBaseCapacity": {
                "Fn::FindInMap": [ON_DEMAND_BY_SPOT, r#ref(param::WORKER_SPOT_PERCENT), "OnDemand"],
            },
            "SpotAllocationStrategy": "capacity-optimized",
        },
        "LaunchTemplate": {
            "LaunchTemplateSpecification": launch_template,
            "Overrides": overrides,
        },
    })
}

/// The image every node boots, resolved by the custom-resource Lambda and kept.
pub(super) fn pinned_image() -> (&'static str, Value) {
    (
        ids::PINNED_IMAGE,
        json!({
            "Type": image_resource::TYPE,
            "Properties": {
                "ServiceToken": get_att(ids::CUSTOM_RESOURCE_FUNCTION, "Arn"),
                "ServiceTimeout": CUSTOM_RESOURCE_SERVICE_TIMEOUT_SECONDS,
                image_resource::IMAGE_ID: r#ref(param::IMAGE_ID),
                image_resource::LATEST_PARAMETER: LATEST_IMAGE_PARAMETER,
            },
        }),
    )
}
