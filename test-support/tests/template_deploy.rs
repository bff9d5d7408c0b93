//! The generated template deployed into the emulator's CloudFormation.
//!
//! The emulator runs a Lambda-backed custom resource only through Docker, which this
//! machine does not have, so `Custom::CoordinatorDns`, `Custom::PinnedImage` and
//! `Custom::TlsCertificate` (and nothing else) are removed before deploying, the image
//! standing in as an SSM-typed parameter and the certificate as the stack's own
//! certificate secret; the custom resource's own tests drive its Lambda directly.
//! The emulator has no CloudFormation support for `AWS::SecretsManager::Secret`: the
//! secrets are stood in for by parameters holding ARNs, their properties are checked
//! against AWS's own schema by cfn-lint, and their use by the nodes in the sandbox
//! boot tests.

use presto_ha_contract::outputs;
use presto_ha_generator::template::ids;
use presto_ha_test_support::aws::{Sandbox, config, in_service_members};
use presto_ha_test_support::stack::deploy;
use presto_ha_test_support::templates::{generate, without_custom_resources};

async fn deploys_with(coordinators: u8, workers: u16) {
    let config = config().await;
    let name = format!("deploy-{coordinators}c-{workers}w");
    let sandbox = Sandbox::create(&config, &name).await.expect("sandbox");
    let template = generate(&[
        &format!("--coordinators={coordinators}"),
        &format!("--workers={workers}"),
    ]);
    let (deployable, mut removed) = without_custom_resources(&template);
    removed.sort();
    assert_eq!(
        removed,
        [
            ids::ADMIN_PASSWORD_SECRET,
            ids::AUTHORITY_SECRET,
            ids::COORDINATOR_DNS,
            ids::SHARED_SECRET,
            ids::PINNED_IMAGE,
            ids::TLS_CERTIFICATE,
            ids::MADE_CERTIFICATE_SECRET,
        ],
        "only the custom resources and the secrets are left out"
    );

    let stack = deploy(&config, &sandbox.name, &deployable, &sandbox.parameters())
        .await
        .expect("CREATE_COMPLETE");

    let coordinator_group = &stack.outputs["CoordinatorGroupName"];
    let coordinators_up = in_service_members(&config, coordinator_group).await;
    assert_eq!(
        coordinators_up.len(),
        usize::from(coordinators),
        "{coordinators_up:?}"
    );
    for (id, ip, _) in &coordinators_up {
        assert!(
            ip.is_loopback(),
            "{id} has private IP {ip}, not a loopback one"
        );
    }
    let workers_up = in_service_members(&config, &stack.outputs["WorkerGroupName"]).await;
    assert_eq!(workers_up.len(), usize::from(workers), "{workers_up:?}");

    assert_eq!(
        stack.outputs["PrestoCoordinatorURL"],
        "https://coordinator.presto.internal:8443"
    );
    assert_eq!(
        stack.outputs["PrestoSSH"],
        format!(
            "ssh -i {}.pem ec2-user@coordinator.presto.internal",
            sandbox.key_name
        )
    );
    for key in [
        "HostedZoneId",
        "WatcherFunctionName",
        outputs::ADMIN_PASSWORD_SECRET,
    ] {
        assert!(!stack.outputs[key].is_empty(), "output {key} is empty");
    }
}

#[tokio::test]
async fn three_coordinators_and_two_workers_come_up() {
    presto_ha_test_support::needs!(Emulator);
    deploys_with(3, 2).await;
}

#[tokio::test]
async fn a_single_coordinator_and_one_worker_come_up() {
    presto_ha_test_support::needs!(Emulator);
    deploys_with(1, 1).await;
}
