//! The coordinator record: the `Custom::CoordinatorDns` resource that owns it, and the
//! statements that let the Lambdas read the coordinator group and change the record.

use super::*;

/// Statements both Lambdas need: read the coordinators; read the stack's zone and
/// change in it only the coordinator record and its notes, of the types and by the
/// actions `actions` (what the Lambda's code sends).
/// Listing the coordinator group's members and their addresses.
pub(super) fn read_coordinators_statement() -> Value {
    json!({
        "Sid": "ReadCoordinators",
        "Effect": "Allow",
        // These describe calls support no resource-level scoping.
        "Action": ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"],
        "Resource": "*",
    })
}

pub(super) fn coordinator_dns_statements(actions: &[&str]) -> Vec<Value> {
    let record = record_fqdn();
    let names: Vec<Value> = [
        record.clone(),
        format!("{}.{record}", notes::MEMORY_PREFIX),
        format!("{}.{record}", notes::LAST_FAILOVER_PREFIX),
    ]
    .into_iter()
    .chain(limits::COORDINATORS.map(|slot| notes::member_name(slot, &record)))
    .map(|name| sub(&name))
    .collect();
    let zone = sub("arn:${AWS::Partition}:route53:::hostedzone/${HostedZone}");
    vec![
        read_coordinators_statement(),
        json!({
            "Sid": "ReadTheZone",
            "Effect": "Allow",
            "Action": "route53:ListResourceRecordSets",
            "Resource": zone,
        }),
        json!({
            "Sid": "CoordinatorRecordAndNotes",
            "Effect": "Allow",
            "Action": "route53:ChangeResourceRecordSets",
            "Resource": zone,
            "Condition": { "ForAllValues:StringEquals": {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
                "route53:ChangeResourceRecordSetsRecordTypes": ["A", "TXT"],
                "route53:ChangeResourceRecordSetsActions": actions,
            } },
        }),
    ]
}

/// Moving the protection from scale-in to the active coordinator.
pub(super) fn protect_statement() -> Value {
    json!({
        "Sid": "ProtectActiveCoordinator",
        "Effect": "Allow",
        "Action": "autoscaling:SetInstanceProtection",
        "Resource": coordinator_group_arn(),
    })
}

/// The coordinator group's ARN; its UUID part cannot be known, hence the `*`.
pub(super) fn coordinator_group_arn() -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:autoscaling:${{AWS::Region}}:${{AWS::AccountId}}:autoScalingGroup:*:autoScalingGroupName/{}",
        placeholder(ids::COORDINATOR_GROUP)
    ))
}

pub(super) fn coordinator_dns() -> (&'static str, Value) {
    (
        ids::COORDINATOR_DNS,
        json!({
            "Type": dns_resource::TYPE,
            // Created after, and deleted before, the permissions it uses.
            "DependsOn": ids::GROUP_AND_WATCHER_POLICY,
            "Properties": {
                "ServiceToken": get_att(ids::CUSTOM_RESOURCE_FUNCTION, "Arn"),
                "ServiceTimeout": CUSTOM_RESOURCE_SERVICE_TIMEOUT_SECONDS,
                dns_resource::HOSTED_ZONE_ID: r#ref(ids::HOSTED_ZONE),
                dns_resource::RECORD_NAME: sub(&record_fqdn()),
                dns_resource::TTL: RECORD_TTL_SECONDS,
                dns_resource::COORDINATOR_GROUP: r#ref(ids::COORDINATOR_GROUP),
                dns_resource::PRESTO_PORT: r#ref(param::PRESTO_HTTP_PORT),
                dns_resource::PROBE_TIMEOUT_SECONDS: r#ref(param::PROBE_TIMEOUT_SECONDS),
                dns_resource::PROBE_INTERVAL_SECONDS: r#ref(param::PROBE_INTERVAL_SECONDS),
                dns_resource::GRACE_SECONDS: r#ref(param::FAILOVER_GRACE_SECONDS),
                dns_resource::WATCHER_FUNCTION: r#ref(ids::WATCHER_FUNCTION),
                dns_resource::WATCHER_TIMEOUT_SECONDS: WATCHER_TIMEOUT_SECONDS,
                dns_resource::DRAIN_SECONDS: r#ref(param::COORDINATOR_DRAIN_SECONDS),
                dns_resource::CLIENT_PORT: client_port(),
                dns_resource::CLIENT_AUTHORITY: when(CLIENT_TLS, json!({ "Fn::If": [
                    CERTIFICATE_GIVEN,
                    dns_resource::SYSTEM_AUTHORITY,
                    get_att(ids::TLS_CERTIFICATE, tls_resource::CA_CERTIFICATE),
                ] })),
                dns_resource::ADMIN_SECRET: when(CLIENT_TLS, r#ref(ids::ADMIN_PASSWORD_SECRET)),
            },
        }),
    )
}
