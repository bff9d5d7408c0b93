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
//!
//! The emulator's CloudFormation silently skips the types it has no model for:
//! [`SKIPPED_BY_THE_EMULATOR`] lists the template's, and a test keeps the list true.
//! Those are judged by cfn-lint, checkov and the Guard rules only; the alarms' names
//! are put into the emulator's CloudWatch by the `status` test instead.

use std::collections::BTreeSet;

use presto_ha_contract::outputs;
use presto_ha_generator::template::ids;
use presto_ha_test_support::aws::{Sandbox, config, in_service_members};
use presto_ha_test_support::stack::deploy;
use presto_ha_test_support::templates::{generate, without_custom_resources};
use presto_ha_test_support::tools::run_offline;

/// The template's resource types that the emulator's CloudFormation does not create
/// (it skips them without an error).
/// `AWS::AutoScaling::WarmPool` among them: its warm start is tested in the node's
/// sandbox (`node_boot.rs`) and in the simulation's model.
const SKIPPED_BY_THE_EMULATOR: [&str; 8] = [
    "AWS::AutoScaling::ScalingPolicy",
    "AWS::AutoScaling::WarmPool",
    "AWS::CloudWatch::Alarm",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SecretsManager::Secret",
];

/// Deploys `coordinators` and `workers` (with the flags `more`) and checks that they
/// came up, the workers on the instance types `worker_types`.
async fn deploys_with(coordinators: u8, workers: u16, more: &[&str], worker_types: &[&str]) {
    let config = config().await;
    let name = format!("deploy-{coordinators}c-{workers}w");
    let sandbox = Sandbox::create(&config, &name).await.expect("sandbox");
    let coordinators_flag = format!("--coordinators={coordinators}");
    let workers_flag = format!("--workers={workers}");
    let mut args = vec![coordinators_flag.as_str(), workers_flag.as_str()];
    args.extend(more);
    let template = generate(&args);
    let (deployable, mut removed) = without_custom_resources(&template);
    removed.sort();
    assert_eq!(
        removed,
        [
            ids::ADMIN_PASSWORD_SECRET,
            ids::AUTHORITY_SECRET,
            ids::COORDINATOR_DNS,
            ids::EXCHANGE_BUCKET_CLEANUP,
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
    let described = aws_sdk_autoscaling::Client::new(&config)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&stack.outputs["WorkerGroupName"])
        .send()
        .await
        .expect("the worker group");
    let mix = described.auto_scaling_groups()[0]
        .mixed_instances_policy()
        .and_then(|m| m.launch_template())
        .expect("a mixed instances policy");
    let types: Vec<&str> = mix
        .overrides()
        .iter()
        .filter_map(|o| o.instance_type())
        .collect();
    assert_eq!(types, worker_types);

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
    deploys_with(3, 2, &[], &["m6i.2xlarge"]).await;
}

#[tokio::test]
async fn a_single_coordinator_and_one_worker_come_up() {
    presto_ha_test_support::needs!(Emulator);
    deploys_with(1, 1, &[], &["m6i.2xlarge"]).await;
}

#[tokio::test]
async fn spot_workers_of_several_types_and_a_mailed_topic_come_up() {
    presto_ha_test_support::needs!(Emulator);
    // The emulator truncates both shares, losing a worker when they do not divide
    // the count evenly (AWS rounds the on-demand share up): 60 % of 5 divides. Trino
    // with fault-tolerant execution, as spot workers call for: the exchange bucket
    // comes up too.
    deploys_with(
        2,
        5,
        &[
            "--engine=trino",
            "--fault-tolerant-execution=task",
            "--worker-spot-percent=60",
            "--worker-other-instance-types=m5.2xlarge,m6a.2xlarge",
            "--notification-email=ops@example.com",
        ],
        &["m6i.2xlarge", "m5.2xlarge", "m6a.2xlarge"],
    )
    .await;
}

#[test]
fn the_emulator_skips_exactly_the_types_this_file_says() {
    presto_ha_test_support::needs!(Tools);
    let template = generate(&["--data-source-cidr=10.8.0.0/16", "--ssh-cidr=10.0.1.0/24"]);
    let types: BTreeSet<&str> = template["Resources"]
        .as_object()
        .expect("resources")
        .values()
        .filter_map(|r| r["Type"].as_str())
        .filter(|t| !t.starts_with("Custom::"))
        .collect();
    let script = "import sys\nfrom moto.cloudformation.parsing import resource_class_from_type\nfor t in sys.argv[1:]:\n    if not resource_class_from_type(t): print(t)";
    let mut args = vec![std::ffi::OsStr::new("-c"), std::ffi::OsStr::new(script)];
    args.extend(types.iter().map(std::ffi::OsStr::new));
    let output = run_offline("python", &args);
    assert!(output.status.success(), "{output:?}");
    let skipped: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.starts_with("AWS::"))
        .map(str::to_owned)
        .collect();
    assert_eq!(skipped, SKIPPED_BY_THE_EMULATOR);
}
