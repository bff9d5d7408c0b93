//! The real watcher binary, driven through the Lambda Runtime API with the events
//! EventBridge sends, against the stack deployed in the AWS emulator, with
//! coordinators played by HTTP servers on the instances' loopback private IPs.
//! Replacements the group launches get a healthy fake Presto as they appear.

mod fixture;

use std::collections::BTreeSet;
use std::time::Duration;

use fixture::*;
use presto_ha_contract::{dns_resource as property, metrics};
use presto_ha_test_support::aws::{
    a_records, in_service_members, protected_members, reserved_concurrency, txt_values,
    zone_records,
};
use presto_ha_test_support::capture::ResponseCapture;
use presto_ha_test_support::lambda::{Invocation, LambdaProcess, workspace_binary};
use presto_ha_test_support::presto::Behaviour;
use presto_ha_test_support::route53::CompareAndSwap;
use presto_ha_test_support::templates::generate;
use serde_json::{Value, json};
use tokio::time::Instant;

#[tokio::test]
async fn a_coordinator_that_refuses_connections_is_replaced() {
    presto_ha_test_support::needs!(Emulator);
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
    // Nothing listened: replaced at the refused bound, not after the grace.
    let log = f.watcher.log_text();
    assert!(
        log.lines()
            .any(|line| line.contains("coordinator record switched")
                && line.contains("ActiveRefused")),
        "{log}"
    );
    // The member records follow the group: the replaced coordinator is in none, the
    // coordinators serving now in all five slots between them, the oldest first.
    let members = a_records(&f.config, &f.zone, "member-").await;
    assert_eq!(members.len(), 5, "{members:?}");
    let named: std::collections::BTreeSet<String> =
        members.iter().flat_map(|(_, ips)| ips.clone()).collect();
    let serving: std::collections::BTreeSet<String> = in_service_members(&f.config, &f.group)
        .await
        .iter()
        .map(|(_, ip, _)| ip.to_string())
        .collect();
    assert_eq!(named, serving, "{members:?}");
    assert!(!named.contains(&old.1.to_string()), "{members:?}");
    assert_eq!(
        members[0].1,
        [f.coordinators[1].1.to_string()],
        "{members:?}"
    );
    let log = f.watcher.log_text();
    assert!(
        log.contains(r#""Metrics":[{"Name":"FailoverSeconds","Unit":"Seconds"}]"#),
        "{log}"
    );
    assert!(
        log.contains(r#""Metrics":[{"Name":"HealthyStandbys","Unit":"Count"}]"#),
        "{log}"
    );
}

#[tokio::test]
async fn a_hung_coordinator_is_replaced() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("watch-hung", 2).await;
    let old = f.coordinators[0].clone();
    f.presto[&old.1].set(Behaviour::Hung);
    f.run(scheduled(), GRACE_SECONDS + 6).await;
    f.assert_failed_over(&old, 2).await;
    // Every alarm on the watcher's own metrics reads a metric this run emitted, by
    // namespace, name and dimensions, and it emitted each of them.
    let emitted = emitted_metrics(&f.watcher.log_text());
    let template = generate(&[]);
    let alarms: BTreeSet<(String, String, Vec<String>)> = template["Resources"]
        .as_object()
        .expect("resources")
        .values()
        .filter(|r| {
            r["Type"] == "AWS::CloudWatch::Alarm"
                && r["Properties"]["Namespace"] == metrics::NAMESPACE
        })
        .map(|r| {
            let p = &r["Properties"];
            let dimensions = p["Dimensions"]
                .as_array()
                .expect("dimensions")
                .iter()
                .map(|d| d["Name"].as_str().expect("a name").to_owned())
                .collect();
            (
                metrics::NAMESPACE.to_owned(),
                p["MetricName"].as_str().expect("a name").to_owned(),
                dimensions,
            )
        })
        .collect();
    assert_eq!(alarms.len(), 3, "{alarms:?}");
    assert_eq!(alarms, emitted, "alarms against what the watcher emitted");
}

/// (namespace, metric, dimension names) of every metric in the embedded-metric-format
/// lines of a watcher's log.
fn emitted_metrics(log: &str) -> BTreeSet<(String, String, Vec<String>)> {
    let mut found = BTreeSet::new();
    for line in log.lines() {
        let Ok(value) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        for declared in value["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let namespace = declared["Namespace"]
                .as_str()
                .expect("a namespace")
                .to_owned();
            let dimensions: Vec<String> = declared["Dimensions"][0]
                .as_array()
                .expect("a dimension set")
                .iter()
                .map(|d| d.as_str().expect("a name").to_owned())
                .collect();
            for metric in declared["Metrics"].as_array().expect("metrics") {
                let name = metric["Name"].as_str().expect("a name").to_owned();
                assert!(value[&name].is_number(), "{name} has no value: {line}");
                for dimension in &dimensions {
                    assert!(
                        value[dimension].is_string(),
                        "{dimension} has no value: {line}"
                    );
                }
                found.insert((namespace.clone(), name, dimensions.clone()));
            }
        }
    }
    found
}

/// Two runs at once (a stack update's or a manual invoke overlapping the scheduled
/// one) see the same hung coordinator in the same rounds. Route 53 here is the
/// compare-and-swap proxy in front of the emulator, which refuses a stale `DELETE`
/// as Route 53 does (the emulator alone would let both writes through), and holds
/// the first swap back a second so that the other run's swap is certain to race it.
#[tokio::test]
async fn two_watchers_at_once_switch_the_record_once_for_one_failure() {
    presto_ha_test_support::needs!(Emulator);
    let cas = CompareAndSwap::start(&presto_ha_test_support::aws::config().await).await;
    let mut f = Fixture::with("watch-two", 3, TEST_TIMINGS, &[cas.env()]).await;
    let old = f.coordinators[0].clone();
    f.presto[&old.1].set(Behaviour::Hung);
    let mut second = f.another_watcher("watch-two-second").await;
    cas.hold_next_swap(Duration::from_secs(1));
    let seconds = GRACE_SECONDS + 6;
    let other = f
        .run_with(
            scheduled(),
            seconds,
            second.invoke(&scheduled(), Duration::from_secs(seconds + 5)),
        )
        .await;
    assert_eq!(
        other,
        Invocation::Response(Value::Null),
        "{}",
        second.log_text()
    );
    f.assert_failed_over(&old, 3).await;
    let record = format!("{RECORD}.");
    let swaps: Vec<_> = cas
        .batches()
        .await
        .into_iter()
        .filter(|b| {
            b.changes
                .iter()
                .any(|c| c.name == record && c.kind == "A" && c.action == "DELETE")
        })
        .collect();
    let applied = swaps.iter().filter(|b| b.applied).count();
    assert_eq!(applied, 1, "{swaps:?}");
    assert!(swaps.len() > 1, "the two runs did not race: {swaps:?}");
    let logs = [f.watcher.log_text(), second.log_text()];
    let switched = logs
        .iter()
        .flat_map(|log| log.lines())
        .filter(|line| line.contains("coordinator record switched"))
        .count();
    assert_eq!(switched, 1, "{logs:?}");
    // The run whose swap lost says so rather than failing.
    assert!(
        logs.iter().any(|log| log.contains("another writer acted")),
        "{logs:?}"
    );
}

/// How many runs the watcher's log at `log` shows begun.
fn watching(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches(" watching ")
        .count()
}

#[tokio::test]
async fn a_pause_shorter_than_the_grace_changes_nothing() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("watch-pause", 2).await;
    let active = f.coordinators[0].clone();
    let control = f.presto[&active.1].control();
    let (config, zone) = (f.config.clone(), f.zone.clone());
    let memory = format!("_presto-ha-watcher.{RECORD}.");
    let log = f.watcher.log_path().to_owned();
    let runs_before = watching(&log);
    // The pause begins once the run has (a process may take seconds to start on a
    // busy machine) and lasts two seconds less than the grace. Midway through it the
    // watcher's memory holds the active coordinator as failing: it saw the probes
    // time out, and let the grace run.
    let during = async move {
        while watching(&log) == runs_before {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        control.set(Behaviour::Hung);
        tokio::time::sleep(Duration::from_secs(GRACE_SECONDS - 2)).await;
        let seen = txt_values(&config, &zone, &memory).await;
        control.set(Behaviour::Healthy);
        seen
    };
    let seen = f.run_with(scheduled(), GRACE_SECONDS + 6, during).await;
    assert!(
        seen.iter()
            .any(|note| note.contains(&format!(" {}=", active.0))),
        "the watcher never saw the active coordinator fail: {seen:?}; log:\n{}",
        f.watcher.log_text()
    );
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
    presto_ha_test_support::needs!(Emulator);
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
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("watch-single", 1).await;
    let old = f.coordinators[0].clone();
    f.presto.get_mut(&old.1).expect("fake").stop();
    f.run(scheduled(), GRACE_SECONDS + 8).await;
    f.assert_failed_over(&old, 1).await;
}

#[tokio::test]
async fn a_cold_start_resumes_the_grace_where_the_last_watcher_left_it() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("watch-cold", 2).await;
    let old = f.coordinators[0].clone();
    f.presto[&old.1].set(Behaviour::Hung);
    // The first process sees 3 s of a 5 s grace: no switch yet.
    f.run(scheduled(), 3).await;
    assert_eq!(
        f.record().await,
        Some(old.1.to_string()),
        "switched before the grace was over"
    );
    // A new process watches for 4 s. Starting the grace again it would need 5 s; with
    // the note the earlier process left, it switches within the 2 s or so left.
    f.cold_start().await;
    f.run(scheduled(), 4).await;
    f.assert_failed_over(&old, 2).await;
    // What the new process recalled names the failing active coordinator (every first
    // invocation logs a recall; only one from the note names it).
    let log = f.watcher.log_text();
    assert!(
        log.lines()
            .any(|line| line.contains("memory recalled") && line.contains(&old.0)),
        "the cold start did not recall {}:\n{log}",
        old.0
    );
}

/// The stack is deleted while a watcher run is writing: the real custom-resource
/// binary stops the watcher, waits out every run that may still write, then removes
/// the record and the notes, so the zone holds only SOA and NS and can be deleted.
#[tokio::test]
async fn a_stack_deleted_during_a_watcher_run_leaves_the_zone_empty() {
    presto_ha_test_support::needs!(Emulator);
    // A hung active coordinator keeps the run writing its memory note every round; a
    // long grace keeps it from being replaced meanwhile. (A failing standby would
    // not: one launched minutes ago is still booting, whatever it answers.)
    let timings = Timings {
        grace: 60,
        ..TEST_TIMINGS
    };
    let mut f = Fixture::with("watch-delete", 2, timings, &[]).await;
    let active = f.coordinators[0].clone();
    f.presto[&active.1].set(Behaviour::Hung);
    // A stack CloudFormation no longer knows: it is going away.
    let stack_id = "arn:aws:cloudformation:us-east-1:123456789012:stack/watch-delete-gone/0000";
    let capture = ResponseCapture::start().await;
    let mut dns = LambdaProcess::start(
        &workspace_binary("presto-ha-custom-resource"),
        "watch-delete-dns",
        &capture.custom_resource_env(stack_id),
    )
    .await;
    let watcher_timeout = 12;
    let event = json!({
        "RequestType": "Delete",
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:dns",
        "ResponseURL": capture.url(),
        "StackId": stack_id,
        "RequestId": "request-delete",
        "LogicalResourceId": "CoordinatorDns",
        "ResourceType": "Custom::CoordinatorDns",
        "PhysicalResourceId": format!("{}/{RECORD}", f.zone),
        "ResourceProperties": {
            property::HOSTED_ZONE_ID: f.zone,
            property::RECORD_NAME: RECORD,
            property::TTL: "5",
            property::COORDINATOR_GROUP: f.group,
            property::PRESTO_PORT: PORT.to_string(),
            property::PROBE_TIMEOUT_SECONDS: "1",
            property::WATCHER_FUNCTION: f.watcher_function,
            property::WATCHER_TIMEOUT_SECONDS: watcher_timeout.to_string(),
        },
    });
    let zone = f.zone.clone();
    let config = f.config.clone();
    let (invocation, waited, notes_during) = f
        .run_with(scheduled(), 8, async {
            // The Delete comes once the run has written its note (its first rounds
            // take longer on a busy machine), while the run goes on writing.
            let noted = |records: &[(String, String)]| {
                records
                    .iter()
                    .any(|(name, kind)| kind == "TXT" && name.starts_with("_presto-ha-watcher."))
            };
            let mut notes_during = zone_records(&config, &zone).await;
            let waiting = Instant::now();
            while !noted(&notes_during) && waiting.elapsed() < Duration::from_secs(6) {
                tokio::time::sleep(Duration::from_millis(250)).await;
                notes_during = zone_records(&config, &zone).await;
            }
            let started = Instant::now();
            let invocation = dns.invoke(&event, Duration::from_secs(120)).await;
            (invocation, started.elapsed(), notes_during)
        })
        .await;
    assert!(
        notes_during
            .iter()
            .any(|(name, kind)| kind == "TXT" && name.starts_with("_presto-ha-watcher.")),
        "the run had written its note before the Delete (waited up to 6 s): {notes_during:?}"
    );
    for slot in 1..=5 {
        assert!(
            notes_during
                .iter()
                .any(|(name, kind)| kind == "A" && name == &format!("member-{slot}.{RECORD}.")),
            "the run had named every member slot before the Delete: {notes_during:?}"
        );
    }
    assert_eq!(
        invocation,
        Invocation::Response(Value::Null),
        "{}",
        dns.log_text()
    );
    assert!(
        waited >= Duration::from_secs(watcher_timeout),
        "answered after {waited:?}, before every run could have ended"
    );
    let puts = capture.take();
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(puts[0].body["Status"], "SUCCESS", "{}", puts[0].body);
    assert!(
        puts[0].body.get("Reason").is_none_or(Value::is_null),
        "{}",
        puts[0].body
    );
    let left = zone_records(&f.config, &f.zone).await;
    assert!(
        left.iter().all(|(_, kind)| kind == "SOA" || kind == "NS"),
        "the zone still holds records of ours: {left:?}; log:\n{}",
        dns.log_text()
    );
    assert_eq!(
        reserved_concurrency(&f.config, &f.watcher_function).await,
        Some(0),
        "the watcher was not stopped"
    );
    // The run had protected the active coordinator; a protected member would keep
    // CloudFormation from emptying the group.
    assert_eq!(
        protected_members(&f.config, &f.group).await,
        Vec::<String>::new(),
        "scale-in protection left on the group"
    );
    // What the stack's deletion does next, and what a leftover record would refuse
    // (HostedZoneNotEmpty, which the emulator reproduces).
    aws_sdk_route53::Client::new(&f.config)
        .delete_hosted_zone()
        .id(&f.zone)
        .send()
        .await
        .expect("the empty zone deletes");
}
