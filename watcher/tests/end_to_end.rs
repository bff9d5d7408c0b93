//! The real watcher binary, driven through the Lambda Runtime API with the events
//! EventBridge sends, against the stack deployed in the AWS emulator, with
//! coordinators played by HTTP servers on the instances' loopback private IPs.
//! Replacements the group launches get a healthy fake Presto as they appear.

mod fixture;

use std::time::Duration;

use fixture::*;
use presto_ha_test_support::aws::in_service_members;
use presto_ha_test_support::presto::Behaviour;

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
}

#[tokio::test]
async fn a_pause_shorter_than_the_grace_changes_nothing() {
    presto_ha_test_support::needs!(Emulator);
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
    assert!(f.watcher.log_text().contains("memory recalled"));
}
