//! The network: the private hosted zone and the security groups, each rule saying
//! what it lets through.

use super::*;

/// The private zone and the three security groups. Nothing is open to the world
/// inbound; outbound, the world gets only HTTPS, and the cluster's own port passes
/// only between its groups.
pub(super) fn network() -> Vec<(&'static str, Value)> {
    let on_port = |port: Value, description: &str, peer: (&str, Value)| {
        let mut rule = json!({
            "Description": description,
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
        });
        rule[peer.0] = peer.1;
        rule
    };
    let presto_port = || r#ref(param::PRESTO_HTTP_PORT);
    let client_port = client_port();
    // Rules between two of the stack's groups are resources of their own: inline,
    // the groups would refer to each other.
    let between = |direction: Direction, group: &str, description: &str, peer: &str| {
        let (kind, peer_key) = match direction {
            Direction::In => ("AWS::EC2::SecurityGroupIngress", "SourceSecurityGroupId"),
            Direction::Out => (
                "AWS::EC2::SecurityGroupEgress",
                "DestinationSecurityGroupId",
            ),
        };
        let mut rule = on_port(
            presto_port(),
            description,
            (peer_key, get_att(peer, "GroupId")),
        );
        rule["GroupId"] = get_att(group, "GroupId");
        json!({ "Type": kind, "Properties": rule })
    };
    // Rules the user opens with a parameter are resources of their own, present
    // under its condition.
    let ssh = |group: &str| {
        let mut rule = on_port(
            22.into(),
            "SSH from the SSH CIDR",
            ("CidrIp", r#ref(param::SSH_CIDR)),
        );
        rule["GroupId"] = get_att(group, "GroupId");
        json!({ "Type": "AWS::EC2::SecurityGroupIngress", "Condition": SSH_OPEN, "Properties": rule })
    };
    let data_sources = |group: &str| {
        json!({
            "Type": "AWS::EC2::SecurityGroupEgress",
            "Condition": DATA_SOURCE_OPEN,
            "Metadata": guard_suppression(&[(
                "SECURITY_GROUP_EGRESS_PORT_RANGE_RULE",
                "Data sources listen on ports the stack cannot know; the user names the network, which may not be /0.",
            )]),
            "Properties": {
                "GroupId": get_att(group, "GroupId"),
                "Description": "Data sources in the data source CIDR, any TCP port",
                "IpProtocol": "tcp",
                "FromPort": 0,
                "ToPort": 65535,
                "CidrIp": r#ref(param::DATA_SOURCE_CIDR),
            },
        })
    };
    let https_out =
        |description: &str| on_port(443.into(), description, ("CidrIp", "0.0.0.0/0".into()));
    let node_egress = json!([https_out(
        "HTTPS: package repositories, the engine's download, S3, Glue, Secrets Manager, Session Manager and other AWS APIs"
    ),]);
    let open_egress = guard_suppression(&[(
        "EC2_SECURITY_GROUP_EGRESS_OPEN_TO_WORLD_RULE",
        "Only HTTPS goes to the world: AWS APIs and the engine's downloads have no fixed addresses and the stack cannot assume VPC endpoints.",
    )]);
    let group = |description: &str, ingress: Option<Value>, egress: Value| {
        let mut group = json!({
            "Type": "AWS::EC2::SecurityGroup",
            "Metadata": open_egress,
            "Properties": {
                "GroupDescription": description,
                "VpcId": r#ref(param::VPC_ID),
                "SecurityGroupEgress": egress,
            },
        });
        if let Some(ingress) = ingress {
            group["Properties"]["SecurityGroupIngress"] = ingress;
        }
        group
    };
    vec![
        (
            ids::HOSTED_ZONE,
            json!({
                "Type": "AWS::Route53::HostedZone",
                "Properties": {
                    "Name": r#ref(param::HOSTED_ZONE_NAME),
                    "HostedZoneConfig": { "Comment": sub("Presto coordinator record of stack ${AWS::StackName}") },
                    "VPCs": [{ "VPCId": r#ref(param::VPC_ID), "VPCRegion": r#ref("AWS::Region") }],
                },
            }),
        ),
        (
            "CoordinatorSecurityGroup",
            group(
                "Presto coordinators: in, HTTPS (HTTP with client security off) from clients, HTTP from workers and the Lambdas, SSH from the SSH CIDR; out, HTTPS, HTTP to workers, the data source CIDR",
                Some(json!([on_port(
                    client_port,
                    "Presto clients from the client CIDR",
                    ("CidrIp", r#ref(param::CLIENT_CIDR))
                )])),
                node_egress.clone(),
            ),
        ),
        ("CoordinatorSsh", ssh("CoordinatorSecurityGroup")),
        (
            "CoordinatorToDataSources",
            data_sources("CoordinatorSecurityGroup"),
        ),
        (
            "CoordinatorFromWorkers",
            between(
                Direction::In,
                "CoordinatorSecurityGroup",
                "Presto from the workers (discovery announcements, results)",
                "WorkerSecurityGroup",
            ),
        ),
        (
            "CoordinatorFromLambdas",
            between(
                Direction::In,
                "CoordinatorSecurityGroup",
                "Presto health probes from the watcher and the DNS custom resource",
                "LambdaSecurityGroup",
            ),
        ),
        (
            "CoordinatorFromLambdasOverHttps",
            https_between_lambdas_and_coordinators(Direction::In),
        ),
        (
            "LambdasToCoordinatorsOverHttps",
            https_between_lambdas_and_coordinators(Direction::Out),
        ),
        (
            "CoordinatorToWorkers",
            between(
                Direction::Out,
                "CoordinatorSecurityGroup",
                "Presto to the workers (task scheduling)",
                "WorkerSecurityGroup",
            ),
        ),
        (
            "WorkerSecurityGroup",
            group(
                "Presto workers: in, HTTP from the coordinators and other workers, SSH from the SSH CIDR; out, HTTPS, HTTP to coordinators and workers, the data source CIDR",
                None,
                node_egress,
            ),
        ),
        ("WorkerSsh", ssh("WorkerSecurityGroup")),
        ("WorkerToDataSources", data_sources("WorkerSecurityGroup")),
        (
            "WorkerFromCoordinators",
            between(
                Direction::In,
                "WorkerSecurityGroup",
                "Presto from the coordinators (task scheduling)",
                "CoordinatorSecurityGroup",
            ),
        ),
        (
            "WorkerFromWorkers",
            between(
                Direction::In,
                "WorkerSecurityGroup",
                "Presto between workers (exchanges)",
                "WorkerSecurityGroup",
            ),
        ),
        (
            "WorkerToCoordinators",
            between(
                Direction::Out,
                "WorkerSecurityGroup",
                "Presto to the coordinators (announcements, results)",
                "CoordinatorSecurityGroup",
            ),
        ),
        (
            "WorkerToWorkers",
            between(
                Direction::Out,
                "WorkerSecurityGroup",
                "Presto between workers (exchanges)",
                "WorkerSecurityGroup",
            ),
        ),
        (
            "LambdaSecurityGroup",
            group(
                "Watcher and DNS custom resource: no inbound; HTTPS to AWS APIs, Presto port to the coordinators",
                None,
                json!([
                    https_out("AWS APIs and the CloudFormation response URL"),
                    on_port(
                        presto_port(),
                        "Presto health probes to the coordinators",
                        (
                            "DestinationSecurityGroupId",
                            get_att("CoordinatorSecurityGroup", "GroupId")
                        )
                    ),
                ]),
            ),
        ),
    ]
}

/// With TLS on, the DNS custom resource counts the queries of the coordinators an
/// update replaces as a client does, over HTTPS: the rule on the coordinators' side
/// (`In`) or the Lambdas' (`Out`).
pub(super) fn https_between_lambdas_and_coordinators(direction: Direction) -> Value {
    let (kind, group, peer_key, peer) = match direction {
        Direction::In => (
            "AWS::EC2::SecurityGroupIngress",
            "CoordinatorSecurityGroup",
            "SourceSecurityGroupId",
            "LambdaSecurityGroup",
        ),
        Direction::Out => (
            "AWS::EC2::SecurityGroupEgress",
            "LambdaSecurityGroup",
            "DestinationSecurityGroupId",
            "CoordinatorSecurityGroup",
        ),
    };
    json!({
        "Type": kind,
        "Condition": CLIENT_TLS,
        "Properties": {
            "GroupId": get_att(group, "GroupId"),
            "Description": "Presto HTTPS between the DNS custom resource and the coordinators: an update's drain counts the old ones' queries",
            "IpProtocol": "tcp",
            "FromPort": r#ref(param::PRESTO_HTTPS_PORT),
            "ToPort": r#ref(param::PRESTO_HTTPS_PORT),
            peer_key: get_att(peer, "GroupId"),
        },
    })
}

/// Which way a rule between two security groups goes.
#[derive(Clone, Copy)]
pub(super) enum Direction {
    In,
    Out,
}
