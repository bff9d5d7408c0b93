//! The real watcher binary, driven through the Lambda Runtime API with the events
//! EventBridge sends, against the stack deployed in the AWS emulator, with
//! coordinators played by HTTP servers on the instances' loopback private IPs.
//! Replacements the group launches get a healthy fake Presto as they appear.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use presto_ha_generator::template::watcher_env as env;
use presto_ha_tests::aws::SdkConfig;
use presto_ha_tests::aws::{Member, Sandbox, config, in_service_members};
use presto_ha_tests::lambda::{Invocation, LambdaProcess};
use presto_ha_tests::presto::{Behaviour, FakePresto};
use presto_ha_tests::stack::deploy;
use presto_ha_tests::templates::{generate, without_custom_resources};
use serde_json::{Value, json};

const PORT: u16 = 28081;
const RECORD: &str = "coordinator.presto.internal";
const GRACE_SECONDS: u64 = 5;

struct Fixture {
    config: SdkConfig,
    group: String,
    zone: String,
    coordinators: Vec<Member>,
    presto: HashMap<Ipv4Addr, FakePresto>,
    watcher: LambdaProcess,
}

impl Fixture {
    /// A stack of `count` coordinators, all healthy, the record on the first.
    async fn new(name: &str, count: u8) -> Self {
        let config = config().await;
        let sandbox = Sandbox::create(&config, name).await.expect("sandbox");
        let (template, _) = without_custom_resources(&generate(&[]));
        let mut parameters = sandbox.parameters();
        parameters.push(("HACoordinatorsCount", count.to_string()));
        parameters.push(("PrestoHttpPort", PORT.to_string()));
        let stack = deploy(&config, &sandbox.name, &template, &parameters)
            .await
            .expect("stack");
        let group = stack.outputs["CoordinatorGroupName"].clone();
        let zone = stack.outputs["HostedZoneId"].clone();
        let coordinators = in_service_members(&config, &group).await;
        let mut presto = HashMap::new();
        for (_, ip, _) in &coordinators {
            presto.insert(*ip, FakePresto::start(*ip, PORT, Behaviour::Healthy).await);
        }
        let route53 = aws_sdk_route53::Client::new(&config);
        let set = aws_sdk_route53::types::ResourceRecordSet::builder()
            .name(format!("{RECORD}."))
            .r#type(aws_sdk_route53::types::RrType::A)
            .ttl(5)
            .resource_records(
                aws_sdk_route53::types::ResourceRecord::builder()
                    .value(coordinators[0].1.to_string())
                    .build()
                    .expect("record"),
            )
            .build()
            .expect("set");
        let change = aws_sdk_route53::types::Change::builder()
            .action(aws_sdk_route53::types::ChangeAction::Create)
            .resource_record_set(set)
            .build()
            .expect("change");
        route53
            .change_resource_record_sets()
            .hosted_zone_id(&zone)
            .change_batch(
                aws_sdk_route53::types::ChangeBatch::builder()
                    .changes(change)
                    .build()
                    .expect("batch"),
            )
            .send()
            .await
            .expect("seed the record");
        let environment = [
            (env::HOSTED_ZONE_ID, zone.clone()),
            (env::RECORD_NAME, RECORD.to_owned()),
            (env::RECORD_TTL, "5".to_owned()),
            (env::COORDINATOR_GROUP, group.clone()),
            (env::PRESTO_PORT, PORT.to_string()),
            (env::PROBE_INTERVAL_SECONDS, "1".to_owned()),
            (env::PROBE_TIMEOUT_SECONDS, "1".to_owned()),
            (env::GRACE_SECONDS, GRACE_SECONDS.to_string()),
        ];
        let binary = Path::new(env!("CARGO_BIN_EXE_presto-ha-watcher"));
        Self {
            watcher: LambdaProcess::start(binary, name, &environment).await,
            config,
            group,
            zone,
            coordinators,
            presto,
        }
    }

    async fn record(&self) -> Option<String> {
        let route53 = aws_sdk_route53::Client::new(&self.config);
        let listed = route53
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone)
            .send()
            .await
            .expect("list");
        listed
            .resource_record_sets()
            .iter()
            .find(|s| s.name().trim_end_matches('.') == RECORD && s.r#type().as_str() == "A")
            .and_then(|s| s.resource_records().first().map(|r| r.value().to_owned()))
    }

    /// Invokes the watcher with `event` for a run of `seconds`, giving every
    /// replacement the group launches meanwhile a healthy Presto.
    async fn run(&mut self, event: Value, seconds: u64) {
        // The run lasts until five seconds before the deadline.
        let invocation = self
            .watcher
            .invoke(&event, Duration::from_secs(seconds + 5));
        let supervise = async {
            let mut started: HashMap<Ipv4Addr, FakePresto> = HashMap::new();
            for _ in 0..(seconds * 4) {
                for (_, ip, _) in in_service_members(&self.config, &self.group).await {
                    if !self.presto.contains_key(&ip) && !started.contains_key(&ip) {
                        started.insert(ip, FakePresto::start(ip, PORT, Behaviour::Healthy).await);
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            started
        };
        let (result, started) = tokio::join!(invocation, supervise);
        assert_eq!(
            result,
            Invocation::Response(Value::Null),
            "log:\n{}",
            self.watcher.log_text()
        );
        self.presto.extend(started);
    }

    async fn state(&self, instance: &str) -> String {
        let ec2 = aws_sdk_ec2::Client::new(&self.config);
        let described = ec2
            .describe_instances()
            .instance_ids(instance)
            .send()
            .await
            .expect("describe");
        described.reservations()[0].instances()[0]
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default()
    }

    /// The old active coordinator is terminated, the group is back to full size, and
    /// the record points at a healthy member other than the old one.
    async fn assert_failed_over(&self, old: &Member, count: usize) {
        assert!(
            matches!(
                self.state(&old.0).await.as_str(),
                "terminated" | "shutting-down"
            ),
            "old coordinator not terminated; log:\n{}",
            self.watcher.log_text()
        );
        let members = in_service_members(&self.config, &self.group).await;
        assert_eq!(
            members.len(),
            count,
            "group not back to full size: {members:?}"
        );
        let record = self.record().await.expect("record");
        assert_ne!(
            record,
            old.1.to_string(),
            "record still on the old coordinator; log:\n{}",
            self.watcher.log_text()
        );
        assert!(
            members.iter().any(|(_, ip, _)| ip.to_string() == record),
            "record {record} not on a member {members:?}"
        );
    }
}

fn scheduled() -> Value {
    json!({
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-25T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/WatcherSchedule"],
        "detail": {},
    })
}

fn state_change(instance: &str, state: &str) -> Value {
    json!({
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2026-11-25T12:00:00Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:ec2:us-east-1:123456789012:instance/{instance}")],
        "detail": { "instance-id": instance, "state": state },
    })
}

#[tokio::test]
async fn a_coordinator_that_refuses_connections_is_replaced() {
    let mut f = Fixture::new("watch-refused", 2).await;
    let old = f.coordinators[0].clone();
    f.presto.get_mut(&old.1).expect("fake").stop();
    f.run(scheduled(), GRACE_SECONDS + 6).await;
    f.assert_failed_over(&old, 2).await;
    assert_eq!(
        f.record().await,
        Some(f.coordinators[1].1.to_string()),
        "the standby takes over"
    );
}

#[tokio::test]
async fn a_hung_coordinator_is_replaced() {
    let mut f = Fixture::new("watch-hung", 2).await;
    let old = f.coordinators[0].clone();
    f.presto[&old.1].set(Behaviour::Hung);
    f.run(scheduled(), GRACE_SECONDS + 6).await;
    f.assert_failed_over(&old, 2).await;
}

#[tokio::test]
async fn a_pause_shorter_than_the_grace_changes_nothing() {
    let mut f = Fixture::new("watch-pause", 2).await;
    let active = f.coordinators[0].clone();
    let control = f.presto[&active.1].control();
    control.set(Behaviour::Hung);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(GRACE_SECONDS - 3)).await;
        control.set(Behaviour::Healthy);
    });
    f.run(scheduled(), GRACE_SECONDS + 6).await;
    assert_eq!(
        f.state(&active.0).await,
        "running",
        "log:\n{}",
        f.watcher.log_text()
    );
    assert_eq!(f.record().await, Some(active.1.to_string()));
    assert_eq!(in_service_members(&f.config, &f.group).await.len(), 2);
}

#[tokio::test]
async fn a_terminated_coordinator_is_replaced_on_the_state_change_event() {
    let mut f = Fixture::new("watch-terminated", 2).await;
    let old = f.coordinators[0].clone();
    let ec2 = aws_sdk_ec2::Client::new(&f.config);
    ec2.terminate_instances()
        .instance_ids(&old.0)
        .send()
        .await
        .expect("terminate");
    f.presto.get_mut(&old.1).expect("fake").stop();
    f.run(state_change(&old.0, "terminated"), 3).await;
    // The first round switches: no grace for a node that is gone. (The emulator
    // launches the replacement at once, so it may be the one chosen.)
    f.assert_failed_over(&old, 2).await;
}

#[tokio::test]
async fn with_one_coordinator_the_record_moves_to_the_healthy_replacement() {
    let mut f = Fixture::new("watch-single", 1).await;
    let old = f.coordinators[0].clone();
    f.presto.get_mut(&old.1).expect("fake").stop();
    f.run(scheduled(), GRACE_SECONDS + 8).await;
    f.assert_failed_over(&old, 1).await;
}
