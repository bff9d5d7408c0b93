//! The `presto-ha` binary against the AWS emulator on loopback: package to S3,
//! deploy (create, update through a change set, no change), status with loopback
//! coordinators, switchover, and the errors a user meets first.

use std::collections::{BTreeMap, HashMap};
use std::process::Output;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use presto_ha_contract::{alarms, metrics, outputs, probe_function, watcher_env};
use presto_ha_coordinators::group::InstanceId;
use presto_ha_coordinators::notes::{LastFailover, Note, Route53Note, WatchNote};
use presto_ha_coordinators::record::{ARecord, CoordinatorRecord, RecordAddress, Route53Record};
use presto_ha_generator::settings::LambdaArchitecture;
use presto_ha_test_support::aws::{
    Member, Sandbox, SdkConfig, a_record, config, in_service_members, protected_members,
};
use presto_ha_test_support::lambda::{InvokeEndpoint, LambdaProcess, workspace_binary};
use presto_ha_test_support::presto::{Behaviour, FakePresto};
use presto_ha_test_support::stack::deploy;
use presto_ha_test_support::templates::{
    AUTHORITY_STAND_IN, generate, secret_stand_in, without_custom_resources,
};
use presto_ha_test_support::tls::TestAuthority;
use serde_json::Value;

const PORT: u16 = 28082;
const ADMIN_PASSWORD: &str = "AdminPassword0123456789abcdefghi";
const RECORD: &str = "coordinator.presto.internal";

async fn presto_ha(args: &[&str]) -> Output {
    presto_ha_with(args, &[]).await
}

/// Runs the binary with `env` set; a variable set to "" is removed instead.
async fn presto_ha_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    presto_ha_test_support::aws::endpoint();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_presto-ha"));
    for (key, value) in env {
        if value.is_empty() {
            command.env_remove(key);
        } else {
            command.env(key, value);
        }
    }
    command.args(args).output().await.expect("run presto-ha")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

/// The command failed (exit 1) with one line on stderr that says `says`.
fn assert_fails_saying(output: &Output, says: &str) {
    assert_exits_saying(output, 1, says);
}

/// The command exited with `code` and one line on stderr that says `says`.
fn assert_exits_saying(output: &Output, code: i32, says: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{}", describe(output));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
}

/// A template the emulator can deploy (no `Custom::` resources), in a file.
fn template_file() -> tempfile::NamedTempFile {
    let (template, _) = without_custom_resources(&generate(&[]));
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), template.to_string()).expect("write template");
    file
}

/// A PATH with the test command's virtualenv (where `cargo-zigbuild` and zig are)
/// first when `tools`, then this machine's; without `tools`, no folder that holds
/// `cargo-zigbuild`. The host's C compiler stays: build scripts run on the host.
fn build_path(tools: bool) -> String {
    let zigbuild = presto_ha_cli::package::ZIGBUILD;
    let mut folders: Vec<std::path::PathBuf> =
        std::env::split_paths(&std::env::var_os("PATH").expect("a PATH"))
            .filter(|folder| !folder.join(zigbuild).is_file())
            .collect();
    if tools {
        let tool = presto_ha_test_support::tools::tool(zigbuild);
        folders.insert(0, tool.parent().expect("the tools' folder").into());
    }
    std::env::join_paths(folders)
        .expect("a PATH")
        .into_string()
        .expect("a UTF-8 PATH")
}

/// The ELF machine of `binary`: 62 for x86_64, 183 for aarch64.
fn elf_machine(binary: &[u8]) -> u16 {
    assert!(binary.starts_with(b"\x7fELF"), "not an ELF binary");
    u16::from_le_bytes([binary[18], binary[19]])
}

/// The `bootstrap` inside a Lambda zip.
fn bootstrap_of(zip: Vec<u8>) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
    assert_eq!(archive.len(), 1);
    let mut bootstrap = archive.by_name("bootstrap").expect("bootstrap");
    assert_eq!(bootstrap.unix_mode().map(|m| m & 0o777), Some(0o755));
    let mut binary = Vec::new();
    std::io::Read::read_to_end(&mut bootstrap, &mut binary).expect("unzip");
    binary
}

async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key} is not in the bucket: {e}"))
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// The profile the package tests build with: the release profile unoptimised (see the
/// workspace's Cargo.toml), so that the test command does not build the AWS SDK a third
/// time with full optimisation.
const PACKAGE_TEST_PROFILE: &str = "package-test";

/// Builds through zig for x86_64, targeting glibc 2.34 explicitly, with the packaging
/// tool the test command installs.
#[tokio::test(flavor = "multi_thread")]
async fn package_uploads_content_addressed_zips_once() {
    presto_ha_test_support::needs!(Emulator);
    presto_ha_test_support::needs!(Tools);
    let config = config().await;
    let sandbox = Sandbox::create(&config, "package").await.expect("sandbox");
    let s3 = aws_sdk_s3::Client::new(&config);
    let args = [
        "package",
        "--bucket",
        &sandbox.code_bucket,
        "--prefix",
        "builds/",
        "--coordinators",
        "3",
        "--lambda-architecture",
        "x86_64",
        "--cargo-profile",
        PACKAGE_TEST_PROFILE,
    ];
    let path = build_path(true);
    let env = [("PATH", path.as_str())];

    let first = presto_ha_with(&args, &env).await;
    assert!(first.status.success(), "{}", describe(&first));
    let template: Value = serde_json::from_slice(&first.stdout).expect("a JSON template");
    let parameters = &template["Parameters"];
    assert_eq!(
        parameters["LambdaCodeBucket"]["Default"],
        sandbox.code_bucket.as_str()
    );
    assert_eq!(parameters["HACoordinatorsCount"]["Default"], 3);
    let report = text(&first.stderr);
    for (stem, parameter) in [
        ("custom-resource", "CustomResourceCodeKey"),
        ("watcher", "WatcherCodeKey"),
    ] {
        let key = parameters[parameter]["Default"]
            .as_str()
            .expect("a key default");
        assert!(
            key.starts_with(&format!("builds/{stem}-")) && key.ends_with(".zip"),
            "{key}"
        );
        let zip = object(&s3, &sandbox.code_bucket, key).await;
        // The key names the zip's content.
        assert!(
            key.contains(&presto_ha_cli::package::sha256_hex(&zip)),
            "{key}"
        );
        // The report gives each zip's exact size and where it went.
        let line = report
            .lines()
            .find(|l| l.starts_with(stem) && l.contains(key))
            .unwrap_or_else(|| panic!("no report line for {key}:\n{report}"));
        assert!(line.contains(&format!(" {} bytes", zip.len())), "{line}");
        assert!(line.ends_with("uploaded"), "{line}");
        // One executable `bootstrap`: the release binary for the Lambda runtime, for
        // x86_64, needing no glibc newer than 2.34 whatever this machine has.
        let binary = bootstrap_of(zip);
        assert_eq!(elf_machine(&binary), 62);
        let glibc = presto_ha_cli::package::glibc_needed(&binary)
            .expect("a binary linked against glibc names the versions it needs");
        assert!(glibc <= presto_ha_cli::package::AL2023_GLIBC, "{glibc:?}");
        // Mark the object: an upload would replace it, and the mark with it.
        s3.put_object_tagging()
            .bucket(&sandbox.code_bucket)
            .key(key)
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .tag_set(
                        aws_sdk_s3::types::Tag::builder()
                            .key("seen")
                            .value("1")
                            .build()
                            .expect("tag"),
                    )
                    .build()
                    .expect("tagging"),
            )
            .send()
            .await
            .expect("tag the zip");
    }

    let second = presto_ha_with(&args, &env).await;
    assert!(second.status.success(), "{}", describe(&second));
    assert_eq!(
        second.stdout, first.stdout,
        "an unchanged build prints the same template"
    );
    let report = text(&second.stderr);
    assert_eq!(
        report.matches("unchanged, not uploaded").count(),
        2,
        "{report}"
    );
    for parameter in ["CustomResourceCodeKey", "WatcherCodeKey"] {
        let key = parameters[parameter]["Default"].as_str().expect("key");
        let tags = s3
            .get_object_tagging()
            .bucket(&sandbox.code_bucket)
            .key(key)
            .send()
            .await
            .expect("tags");
        assert_eq!(tags.tag_set().len(), 1, "{key} was uploaded again");
    }
    let listed = s3
        .list_objects_v2()
        .bucket(&sandbox.code_bucket)
        .prefix("builds/")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.contents().len(), 2);
}

/// arm64 builds through zig like x86_64 when the toolchain has the target; without it,
/// one line names the rustup command, before any build.
#[tokio::test(flavor = "multi_thread")]
async fn package_for_arm64_builds_it_or_names_the_rustup_command() {
    presto_ha_test_support::needs!(Emulator);
    presto_ha_test_support::needs!(Tools);
    let triple = presto_ha_cli::package::rust_target(LambdaArchitecture::Arm64);
    let installed = std::process::Command::new("rustc")
        .args(["--print", "target-libdir", "--target", triple])
        .output()
        .ok()
        .map(|o| std::path::PathBuf::from(text(&o.stdout).trim()))
        .is_some_and(|dir| dir.is_dir());
    let config = config().await;
    let sandbox = Sandbox::create(&config, "arm64").await.expect("sandbox");
    let path = build_path(true);
    let output = presto_ha_with(
        &[
            "package",
            "--bucket",
            &sandbox.code_bucket,
            "--lambda-architecture",
            "arm64",
            "--cargo-profile",
            PACKAGE_TEST_PROFILE,
        ],
        &[("PATH", &path)],
    )
    .await;
    if !installed {
        assert_fails_saying(
            &output,
            &format!("lacks its standard library; run: rustup target add {triple}"),
        );
        return;
    }
    assert!(output.status.success(), "{}", describe(&output));
    let template: Value = serde_json::from_slice(&output.stdout).expect("a JSON template");
    for function in ["WatcherFunction", "CoordinatorDnsFunction", "ProbeFunction"] {
        assert_eq!(
            template["Resources"][function]["Properties"]["Architectures"],
            serde_json::json!(["arm64"]),
            "{function}"
        );
    }
    let s3 = aws_sdk_s3::Client::new(&config);
    for parameter in ["CustomResourceCodeKey", "WatcherCodeKey"] {
        let key = template["Parameters"][parameter]["Default"]
            .as_str()
            .expect("a key default");
        let binary = bootstrap_of(object(&s3, &sandbox.code_bucket, key).await);
        assert_eq!(elf_machine(&binary), 183, "{key} is not an aarch64 binary");
        let glibc = presto_ha_cli::package::glibc_needed(&binary).expect("glibc versions");
        assert!(glibc <= presto_ha_cli::package::AL2023_GLIBC, "{glibc:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn package_without_the_packaging_tool_says_how_to_install_it() {
    presto_ha_test_support::needs!(Emulator);
    let path = build_path(false);
    let output = presto_ha_with(
        &[
            "package",
            "--bucket",
            "b-k-t",
            "--lambda-architecture",
            "x86_64",
        ],
        &[("PATH", &path)],
    )
    .await;
    assert_fails_saying(
        &output,
        "error: this machine cannot build the Lambdas: cargo-zigbuild is not on PATH; package links with zig, so install both with: pip install cargo-zigbuild",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn package_refuses_the_code_flags_it_sets_itself() {
    presto_ha_test_support::needs!(Emulator);
    let output = presto_ha(&["package", "--bucket", "b-k-t", "--code-bucket", "other"]).await;
    assert_exits_saying(&output, 2, "package sets the code location itself");
}

/// Flags that are each valid but do not fit together are bad arguments: exit 2, one
/// line, before any AWS call (none of these needs a stack or credentials).
#[tokio::test(flavor = "multi_thread")]
async fn flags_that_do_not_fit_together_exit_2() {
    presto_ha_test_support::needs!(Emulator);
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "package",
                "--bucket",
                "b-k-t",
                "--probe-interval",
                "20",
                "--grace",
                "15",
            ],
            "--probe-interval (20s) must be shorter than --grace (15s)",
        ),
        (
            &[
                "deploy",
                "--stack-name",
                "s",
                "--parameter",
                "VpcId=a",
                "--parameter",
                "VpcId=b",
            ],
            "--parameter VpcId is given twice",
        ),
        (
            &[
                "deploy",
                "--stack-name",
                "s",
                "--coordinators",
                "3",
                "--parameter",
                "HACoordinatorsCount=2",
            ],
            "--coordinators and --parameter HACoordinatorsCount both set the coordinator count",
        ),
        (
            &[
                "package",
                "--bucket",
                "b-k-t",
                "--workers",
                "4",
                "--workers-max",
                "3",
            ],
            "--workers-max (3) must exceed --workers (4)",
        ),
    ];
    for (args, says) in cases {
        let output = presto_ha_with(args, &[("AWS_REGION", ""), ("AWS_ACCESS_KEY_ID", "")]).await;
        assert_exits_saying(&output, 2, says);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_creates_the_stack_and_follows_it_to_the_end() {
    presto_ha_test_support::needs!(Emulator);
    let config = config().await;
    let sandbox = Sandbox::create(&config, "deploy").await.expect("sandbox");
    let template = template_file();
    let mut args = vec![
        "deploy",
        "--stack-name",
        &sandbox.name,
        "--template",
        template.path().to_str().expect("path"),
        "--coordinators",
        "3",
    ];
    let parameters: Vec<String> = sandbox
        .parameters()
        .into_iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    for parameter in &parameters {
        args.extend(["--parameter", parameter]);
    }
    let created = presto_ha(&args).await;
    assert!(created.status.success(), "{}", describe(&created));
    let printed = text(&created.stdout);
    assert!(
        printed.contains(&format!("Creating stack {}", sandbox.name)),
        "{printed}"
    );
    assert!(
        printed.contains("CREATE_IN_PROGRESS") && printed.contains("User Initiated"),
        "{printed}"
    );
    assert!(
        printed
            .trim_end()
            .ends_with(&format!("Stack {}: CREATE_COMPLETE", sandbox.name)),
        "{printed}"
    );
    let group = stack_output(&config, &sandbox.name, "CoordinatorGroupName").await;
    assert_eq!(in_service_members(&config, &group).await.len(), 3);
    let parameters = stack_parameters(&config, &sandbox.name).await;
    assert_eq!(parameters["HACoordinatorsCount"], "3");
    assert_eq!(parameters["VpcId"], sandbox.vpc_id);
}

/// A small template for the update path. The emulator cannot update the full stack:
/// it fails on UsePreviousValue for list and SSM parameters, and on changes to an
/// Auto Scaling group, all of which CloudFormation supports.
fn small_template(version: &str) -> tempfile::NamedTempFile {
    let template = serde_json::json!({
        "Parameters": {
            "Setting": { "Type": "String" },
            "Owner": { "Type": "String" },
            "WatcherCodeKey": { "Type": "String", "Default": format!("presto-ha/watcher-{version}.zip") },
        },
        "Resources": {
            "SettingParameter": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": { "Fn::Sub": "/${AWS::StackName}/setting" },
                    "Type": "String",
                    "Description": format!("template {version}"),
                    "Value": { "Fn::Sub": "${Setting} ${Owner} ${WatcherCodeKey}" },
                },
            },
        },
    });
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), template.to_string()).expect("write template");
    file
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_updates_through_a_change_set_it_prints_first() {
    presto_ha_test_support::needs!(Emulator);
    let config = config().await;
    let name = Sandbox::create(&config, "update")
        .await
        .expect("sandbox")
        .name;
    let v1 = small_template("v1");
    let v2 = small_template("v2");
    let deploy = |template: &tempfile::NamedTempFile, extra: &[&str]| {
        let mut args: Vec<String> = ["deploy", "--stack-name", &name, "--template"]
            .map(String::from)
            .to_vec();
        args.push(template.path().to_str().expect("path").to_owned());
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            presto_ha(&args).await
        }
    };

    let created = deploy(
        &v1,
        &["--parameter", "Setting=one", "--parameter", "Owner=ops"],
    )
    .await;
    assert!(created.status.success(), "{}", describe(&created));

    // Owner is not given: it keeps its value. The code key follows the new template.
    let updated = deploy(&v2, &["--parameter", "Setting=two"]).await;
    assert!(updated.status.success(), "{}", describe(&updated));
    let printed = text(&updated.stdout);
    let changes_at = printed
        .find(&format!("Changes to stack {name} (presto-ha-"))
        .unwrap_or_else(|| panic!("{printed}"));
    let updating_at = printed
        .find(&format!("Updating stack {name}"))
        .unwrap_or_else(|| panic!("{printed}"));
    assert!(changes_at < updating_at, "{printed}");
    let changes = &printed[changes_at..updating_at];
    assert!(
        changes
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["Modify", "SettingParameter", "AWS::SSM::Parameter"]),
        "{printed}"
    );
    assert!(
        !printed.contains("CREATE_COMPLETE"),
        "events of the create are not replayed:\n{printed}"
    );
    assert!(printed.contains("UPDATE_IN_PROGRESS"), "{printed}");
    assert!(
        printed
            .trim_end()
            .ends_with(&format!("Stack {name}: UPDATE_COMPLETE")),
        "{printed}"
    );
    let parameters = stack_parameters(&config, &name).await;
    assert_eq!(parameters["Setting"], "two");
    assert_eq!(
        parameters["Owner"], "ops",
        "a parameter not given keeps its value"
    );
    assert_eq!(
        parameters["WatcherCodeKey"], "presto-ha/watcher-v2.zip",
        "the code follows the template"
    );

    let again = deploy(&v2, &["--parameter", "Setting=two"]).await;
    assert!(again.status.success(), "{}", describe(&again));
    assert!(
        text(&again.stdout).contains(&format!("No changes: stack {name} is up to date")),
        "{}",
        describe(&again)
    );

    let no_wait = deploy(&v1, &["--parameter", "Setting=three", "--no-wait"]).await;
    assert!(no_wait.status.success(), "{}", describe(&no_wait));
    assert!(
        text(&no_wait.stdout).contains("not following it (--no-wait)"),
        "{}",
        describe(&no_wait)
    );
    assert!(
        !text(&no_wait.stdout).contains("UPDATE_COMPLETE"),
        "{}",
        describe(&no_wait)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_cloudformation_refuses_fails_with_the_operation_named() {
    presto_ha_test_support::needs!(Emulator);
    let config = config().await;
    let sandbox = Sandbox::create(&config, "refused").await.expect("sandbox");
    let template = template_file();
    let path = template.path().to_str().expect("path");
    // Nothing given for the parameters without defaults: refused before any call.
    let missing = presto_ha(&["deploy", "--stack-name", &sandbox.name, "--template", path]).await;
    assert_eq!(missing.status.code(), Some(1), "{}", describe(&missing));
    let stderr = text(&missing.stderr);
    assert!(
        stderr.contains("VpcId") && stderr.contains("have no default"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // A parameter the template does not have.
    let unknown = presto_ha(&[
        "deploy",
        "--stack-name",
        &sandbox.name,
        "--template",
        path,
        "--parameter",
        "Colour=blue",
    ])
    .await;
    assert_fails_saying(&unknown, "no parameter Colour");
    // A resource that cannot be created: its subnet does not exist. (The emulator fails
    // the CreateStack call itself; CloudFormation would roll back, which the mocked
    // tests of `deploy_rollback.rs` cover.)
    let mut args = vec!["deploy", "--stack-name", &sandbox.name, "--template", path];
    let parameters: Vec<String> = sandbox
        .parameters()
        .into_iter()
        .map(|(key, value)| match key {
            "CoordinatorSubnetIds" => "CoordinatorSubnetIds=subnet-0000000000000dead".to_owned(),
            _ => format!("{key}={value}"),
        })
        .collect();
    for parameter in &parameters {
        args.extend(["--parameter", parameter]);
    }
    let rejected = presto_ha(&args).await;
    assert_eq!(rejected.status.code(), Some(1), "{}", describe(&rejected));
    let stderr = text(&rejected.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: CreateStack failed for stack {}",
            sandbox.name
        )),
        "{stderr}"
    );
    assert!(stderr.contains("subnet-0000000000000dead"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // A template file that is not there.
    let absent = presto_ha(&[
        "deploy",
        "--stack-name",
        "s",
        "--template",
        "/nonexistent/stack.json",
    ])
    .await;
    assert_fails_saying(&absent, "/nonexistent/stack.json");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_region_or_credentials_is_one_clear_line() {
    presto_ha_test_support::needs!(Emulator);
    let isolated = [
        ("AWS_CONFIG_FILE", "/nonexistent/config"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let cases: [(&[(&str, &str)], &str); 2] = [
        (
            &[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "")],
            "no AWS region",
        ),
        (
            &[
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", ""),
                ("AWS_PROFILE", ""),
            ],
            "no AWS credentials",
        ),
    ];
    for (missing, says) in cases {
        let env: Vec<(&str, &str)> = isolated.iter().chain(missing).copied().collect();
        let output = presto_ha_with(&["status", "--stack-name", "s"], &env).await;
        assert_fails_saying(&output, &format!("error: {says}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_of_a_stack_that_is_not_there_names_it() {
    presto_ha_test_support::needs!(Emulator);
    let output = presto_ha(&["status", "--stack-name", "no-such-stack-anywhere"]).await;
    assert_fails_saying(&output, "stack no-such-stack-anywhere does not exist");
}

async fn described_stack(config: &SdkConfig, name: &str) -> aws_sdk_cloudformation::types::Stack {
    let described = aws_sdk_cloudformation::Client::new(config)
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .expect("DescribeStacks");
    described.stacks()[0].clone()
}

async fn stack_parameters(config: &SdkConfig, name: &str) -> HashMap<String, String> {
    described_stack(config, name)
        .await
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_owned(),
                p.parameter_value()?.to_owned(),
            ))
        })
        .collect()
}

async fn stack_output(config: &SdkConfig, name: &str, key: &str) -> String {
    described_stack(config, name)
        .await
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some(key))
        .and_then(|o| o.output_value())
        .unwrap_or_else(|| panic!("no output {key}"))
        .to_owned()
}

/// A deployed stack of `count` coordinators with fake Presto on each (behaving as
/// `behaviours` says, in launch order) and the record on the first. The fakes serve
/// HTTPS on the client port with certificates from the stack's authority (the
/// `impostor`, if any, with one for another name) and list their queries only to the
/// admin, whose password is in the stack's admin secret.
struct Cluster {
    config: SdkConfig,
    name: String,
    outputs: BTreeMap<String, String>,
    address: RecordAddress,
    members: Vec<Member>,
    presto: Vec<FakePresto>,
}

/// Where the fake coordinators can be reached from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reachable {
    /// From this machine, over HTTPS on the client port.
    FromHere,
    /// From inside the VPC only: over plain HTTP on the nodes' own port, which the
    /// watcher and the probe function use. The client port takes connections and
    /// never answers, as a VPC's private address seen from outside drops them.
    OnlyInTheVpc,
}

/// Takes connections on `ip:port` and holds them without a byte in answer.
async fn black_hole(ip: std::net::Ipv4Addr, port: u16) {
    let listener = tokio::net::TcpListener::bind((ip, port))
        .await
        .expect("bind the black hole");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
}

impl Cluster {
    async fn new(name: &str, behaviours: &[Behaviour], impostor: Option<usize>) -> Self {
        Self::reachable(name, behaviours, impostor, Reachable::FromHere).await
    }

    async fn reachable(
        name: &str,
        behaviours: &[Behaviour],
        impostor: Option<usize>,
        reachable: Reachable,
    ) -> Self {
        let config = config().await;
        let sandbox = Sandbox::create(&config, name).await.expect("sandbox");
        let (template, _) = without_custom_resources(&generate(&[]));
        let authority = TestAuthority::new();
        let admin_secret = aws_sdk_secretsmanager::Client::new(&config)
            .create_secret()
            .name(format!("{name}-admin"))
            .secret_string(format!("{{\"admin\":\"{ADMIN_PASSWORD}\"}}"))
            .send()
            .await
            .expect("the admin secret")
            .arn
            .expect("an ARN");
        let mut parameters = sandbox.parameters();
        parameters.push(("HACoordinatorsCount", behaviours.len().to_string()));
        parameters.push(("PrestoHttpsPort", PORT.to_string()));
        parameters.push(("PrestoHttpPort", (PORT + 1).to_string()));
        parameters.push((AUTHORITY_STAND_IN, authority.pem().to_owned()));
        let admin_stand_in = secret_stand_in("AdminPasswordSecret");
        parameters.push((admin_stand_in.as_str(), admin_secret));
        let stack = deploy(&config, &sandbox.name, &template, &parameters)
            .await
            .expect("stack");
        assert_eq!(stack.outputs["CoordinatorRecordName"], RECORD);
        let members = in_service_members(&config, &stack.outputs["CoordinatorGroupName"]).await;
        assert_eq!(members.len(), behaviours.len());
        let mut presto = Vec::new();
        for (n, ((_, ip, _), behaviour)) in members.iter().zip(behaviours).enumerate() {
            let name = if impostor == Some(n) {
                "impostor.presto.internal"
            } else {
                RECORD
            };
            if reachable == Reachable::OnlyInTheVpc {
                black_hole(*ip, PORT).await;
                presto.push(FakePresto::start(*ip, PORT + 1, *behaviour).await);
                continue;
            }
            let identity = authority.issue(name);
            let login = ("admin", ADMIN_PASSWORD);
            presto.push(FakePresto::start_https(*ip, PORT, *behaviour, identity, login).await);
        }
        let address = RecordAddress {
            zone: stack.outputs["HostedZoneId"].parse().expect("zone"),
            name: RECORD.parse().expect("name"),
        };
        Route53Record::new(aws_sdk_route53::Client::new(&config))
            .swap(&address, None, Some(&ARecord::single(members[0].1, 5)))
            .await
            .expect("seed the record");
        Self {
            config,
            name: sandbox.name,
            outputs: stack.outputs,
            address,
            members,
            presto,
        }
    }

    /// The stack's probe function, run by the watcher's binary and served through a
    /// stand-in of Lambda's Invoke API.
    async fn probe_function(&self) -> InvokeEndpoint {
        let name = &self.outputs[outputs::PROBE_FUNCTION_NAME];
        let environment = [
            (probe_function::ONLY_PROBES, "true".to_owned()),
            (
                watcher_env::COORDINATOR_GROUP,
                self.outputs[outputs::COORDINATOR_GROUP_NAME].clone(),
            ),
            (watcher_env::PRESTO_PORT, (PORT + 1).to_string()),
            (watcher_env::PROBE_TIMEOUT_SECONDS, "2".to_owned()),
        ];
        let binary = workspace_binary("presto-ha-watcher");
        let process =
            LambdaProcess::start(&binary, &format!("{}-probe", self.name), &environment).await;
        InvokeEndpoint::start(name, process).await
    }

    async fn record(&self) -> Option<String> {
        let (ips, _) = a_record(&self.config, &self.address.zone.to_string(), RECORD).await?;
        ips.first().cloned()
    }

    fn ip(&self, member: usize) -> String {
        self.members[member].1.to_string()
    }

    fn id(&self, member: usize) -> &str {
        &self.members[member].0
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_the_record_every_coordinator_and_the_last_failover() {
    presto_ha_test_support::needs!(Emulator);
    let cluster = Cluster::new(
        "status",
        &[
            Behaviour::Healthy,
            Behaviour::Failing,
            Behaviour::Healthy,
            Behaviour::Healthy,
        ],
        Some(3),
    )
    .await;
    let failover = LastFailover {
        at: Duration::from_secs(1_795_000_000),
        from: Some(InstanceId::new("i-0123456789abcdef0")),
        to: InstanceId::new(cluster.id(0)),
        ip: cluster.members[0].1,
        why: "ActiveFailed".into(),
        failing_for: Some(Duration::from_millis(16_200)),
    };
    Route53Note::new(aws_sdk_route53::Client::new(&cluster.config))
        .write(&cluster.address, Note::LastFailover, &failover.to_string())
        .await
        .expect("note a failover");

    // The emulator's CloudFormation does not create AWS::CloudWatch::Alarm: two of
    // the stack's alarms are put under the names its template gives them, one
    // firing; status reads them by those names.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&cluster.config);
    let alarm = |which: &str| alarms::name(&cluster.name, which);
    for which in [alarms::WATCHER_NOT_RUNNING, alarms::FAILOVER] {
        cloudwatch
            .put_metric_alarm()
            .alarm_name(alarm(which))
            .namespace(metrics::NAMESPACE)
            .metric_name(metrics::FAILOVER_SECONDS)
            .statistic(Statistic::SampleCount)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .send()
            .await
            .expect("put an alarm");
    }
    for (which, state) in [
        (alarms::FAILOVER, StateValue::Alarm),
        (alarms::WATCHER_NOT_RUNNING, StateValue::Ok),
    ] {
        cloudwatch
            .set_alarm_state()
            .alarm_name(alarm(which))
            .state_value(state)
            .state_reason("Threshold Crossed: 1 datapoint [16.2] >= 1.0")
            .send()
            .await
            .expect("set an alarm's state");
    }

    let table = presto_ha(&["status", "--stack-name", &cluster.name]).await;
    assert!(table.status.success(), "{}", describe(&table));
    let printed = text(&table.stdout);
    assert!(
        printed.contains(&format!(
            "Record:      {RECORD} -> {} ({}), TTL 5 s",
            cluster.ip(0),
            cluster.id(0)
        )),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("Standbys:    {}", cluster.id(2))),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("from i-0123456789abcdef0 to {} ({}) because ActiveFailed, 16.2 s after it began failing", cluster.id(0), cluster.ip(0))),
        "{printed}"
    );
    let row = |member: usize| {
        printed
            .lines()
            .find(|l| l.starts_with(cluster.id(member)))
            .unwrap_or_else(|| panic!("no row for {}:\n{printed}", cluster.id(member)))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row(0)[1..5],
        [cluster.ip(0).as_str(), "active", "yes", "running"],
        "{printed}"
    );
    assert_eq!(row(0).last(), Some(&"healthy"));
    assert_eq!(
        row(1)[1..3],
        [cluster.ip(1).as_str(), "standby"],
        "{printed}"
    );
    assert!(row(1).ends_with(&["HTTP", "500"]), "{printed}");
    assert_eq!(row(2).last(), Some(&"healthy"));
    // A coordinator whose certificate is not for the record is not healthy, however
    // well its engine runs: clients would refuse it.
    assert!(row(3).join(" ").contains("certificate"), "{printed}");
    assert!(
        printed.contains(
            "Workers:     2 in service, 0 launching, 0 draining (desired 2, from 2 to 10)"
        ),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "Alarms:      1 firing: {}",
            alarm(alarms::FAILOVER)
        )),
        "{printed}"
    );
    let alarm_row = |which: &str| {
        printed
            .lines()
            .find(|l| l.trim_start().starts_with(&alarm(which)))
            .unwrap_or_else(|| panic!("no row for alarm {which}:\n{printed}"))
            .split_whitespace()
            .nth(1)
    };
    assert_eq!(alarm_row(alarms::FAILOVER), Some("ALARM"));
    assert_eq!(alarm_row(alarms::WATCHER_NOT_RUNNING), Some("OK"));
    assert!(!printed.contains("Not read:"), "{printed}");

    let json = presto_ha(&["status", "--stack-name", &cluster.name, "--json"]).await;
    assert!(json.status.success(), "{}", describe(&json));
    let report: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(report["record_name"], RECORD);
    assert_eq!(report["record_ips"], serde_json::json!([cluster.ip(0)]));
    assert_eq!(report["record_ttl"], 5);
    assert_eq!(report["active"], cluster.id(0));
    assert_eq!(
        report["healthy_standbys"],
        serde_json::json!([cluster.id(2)])
    );
    let coordinators = report["coordinators"].as_array().expect("coordinators");
    assert_eq!(coordinators.len(), 4);
    let unhealthy = coordinators
        .iter()
        .find(|c| c["instance_id"] == cluster.id(1))
        .expect("member");
    assert_eq!(
        (
            &unhealthy["healthy"],
            &unhealthy["health"],
            &unhealthy["in_service"]
        ),
        (
            &Value::Bool(false),
            &Value::from("HTTP 500"),
            &Value::Bool(true)
        )
    );
    assert!(
        unhealthy["launch_time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(report["last_failover"]["to"], cluster.id(0));
    assert_eq!(report["last_failover"]["failing_seconds"], 16.2);
    assert_eq!(report["last_failover"]["at"], "2026-11-18T11:06:40Z");
    assert_eq!(report["workers"]["in_service"], 2);
    assert_eq!(report["workers"]["max"], 10);
    let listed: Vec<(&str, &str)> = report["alarms"]
        .as_array()
        .expect("alarms")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().expect("name"),
                a["state"].as_str().expect("state"),
            )
        })
        .collect();
    // In the contract's order, which puts a failover first.
    assert_eq!(
        listed,
        [
            (alarm(alarms::FAILOVER).as_str(), "ALARM"),
            (alarm(alarms::WATCHER_NOT_RUNNING).as_str(), "OK"),
        ]
    );
    assert_eq!(report["not_read"], serde_json::json!([]));
}

/// From outside the VPC no coordinator answers the command's own probes; `status` and
/// `switchover` then ask the stack's probe function (the watcher's binary, inside
/// the VPC), say so, and decide exactly as from inside.
#[tokio::test(flavor = "multi_thread")]
async fn outside_the_vpc_status_and_switchover_ask_the_probe_function() {
    presto_ha_test_support::needs!(Emulator);
    let cluster = Cluster::reachable(
        "outside",
        &[Behaviour::Healthy, Behaviour::Failing, Behaviour::Healthy],
        None,
        Reachable::OnlyInTheVpc,
    )
    .await;
    let function = cluster.probe_function().await;
    let name = cluster.outputs[outputs::PROBE_FUNCTION_NAME].clone();
    let lambda = [("AWS_ENDPOINT_URL_LAMBDA", function.url.as_str())];
    let status = |more: &'static [&'static str]| {
        let mut args = vec!["status", "--stack-name", cluster.name.as_str()];
        args.extend_from_slice(more);
        async move { presto_ha_with(&args, &lambda).await }
    };

    let table = status(&[]).await;
    assert!(table.status.success(), "{}", describe(&table));
    let printed = text(&table.stdout);
    assert!(
        printed.contains(&format!(
            "Probed:      by probe function {name} inside the VPC, as the watcher probes"
        )),
        "{printed}"
    );
    let health = |member: usize| {
        printed
            .lines()
            .find(|l| l.starts_with(cluster.id(member)))
            .unwrap_or_else(|| panic!("no row for {}:\n{printed}", cluster.id(member)))
            .split_whitespace()
            .skip(6)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        [health(0), health(1), health(2)],
        ["healthy", "HTTP 500", "healthy"],
        "{printed}"
    );
    assert!(
        printed.contains(&format!("Standbys:    {}", cluster.id(2))),
        "{printed}"
    );
    assert_eq!(function.invocations(), 1);

    // Asked to probe from here only, it reports what this machine sees.
    let here = status(&["--probe-from", "here", "--json"]).await;
    assert!(here.status.success(), "{}", describe(&here));
    let report: Value = serde_json::from_slice(&here.stdout).expect("JSON");
    assert_eq!(report["probed_from"], "from this machine");
    assert_eq!(report["healthy_standbys"], serde_json::json!([]));
    for coordinator in report["coordinators"].as_array().expect("coordinators") {
        assert_eq!(coordinator["health"], "timed out", "{coordinator}");
    }
    assert_eq!(function.invocations(), 1);

    // A function that cannot be asked is reported, with what this machine saw.
    let unasked = presto_ha_with(
        &["status", "--stack-name", &cluster.name, "--json"],
        &[("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:1")],
    )
    .await;
    assert!(unasked.status.success(), "{}", describe(&unasked));
    let report: Value = serde_json::from_slice(&unasked.stdout).expect("JSON");
    let path = report["probed_from"].as_str().expect("a path");
    assert!(
        path.starts_with(&format!(
            "from this machine, which reached no coordinator; asking probe function {name} failed: "
        )) && path.contains("Invoke"),
        "{path}"
    );

    // The same refusals as from inside: the failing standby is not healthy.
    let refused = presto_ha_with(
        &[
            "switchover",
            "--stack-name",
            &cluster.name,
            "--to",
            cluster.id(1),
        ],
        &lambda,
    )
    .await;
    assert_fails_saying(
        &refused,
        &format!(
            "refusing to switch: {} is not healthy (probe of {}:{PORT}: HTTP 500)",
            cluster.id(1),
            cluster.ip(1)
        ),
    );
    assert_eq!(cluster.record().await, Some(cluster.ip(0)));

    let switched = presto_ha_with(&["switchover", "--stack-name", &cluster.name], &lambda).await;
    assert!(switched.status.success(), "{}", describe(&switched));
    let printed = text(&switched.stdout);
    assert!(
        printed.starts_with(&format!(
            "probed the coordinators by probe function {name} inside the VPC"
        )),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "switched {RECORD} from {} ({}) to {} ({})",
            cluster.ip(0),
            cluster.id(0),
            cluster.ip(2),
            cluster.id(2)
        )),
        "{printed}"
    );
    assert_eq!(cluster.record().await, Some(cluster.ip(2)));
    assert_eq!(function.invocations(), 3);
}

/// `presto-ha ssh --stack-name <name> --dry-run` with `more`.
async fn ssh_dry_run(name: &str, more: &[&str]) -> Output {
    let mut args = vec!["ssh", "--stack-name", name, "--dry-run"];
    args.extend(more);
    presto_ha(&args).await
}

/// `ssh --dry-run` prints the command for either path; the instance comes from the
/// record (the active one) or the group (the standby), never from DNS. Whether an
/// instance is registered with Session Manager (`--via auto`) is asked of SSM, which
/// the emulator does not model: the unit tests cover that with mocks.
#[tokio::test(flavor = "multi_thread")]
async fn ssh_finds_the_active_coordinator_or_a_standby_from_the_record() {
    presto_ha_test_support::needs!(Emulator);
    let cluster = Cluster::new("shell", &[Behaviour::Healthy, Behaviour::Healthy], None).await;
    let key = stack_parameters(&cluster.config, &cluster.name).await["KeyName"].clone();
    assert!(!key.is_empty(), "the sandbox stack has a key pair");

    let active = ssh_dry_run(&cluster.name, &["--via", "ssm", "--region", "us-east-1"]).await;
    assert!(active.status.success(), "{}", describe(&active));
    assert_eq!(
        text(&active.stdout),
        format!(
            "aws ssm start-session --target {} --region us-east-1\n",
            cluster.id(0)
        )
    );
    assert!(
        text(&active.stderr).contains(&format!(
            "active coordinator {}, over Session Manager",
            cluster.id(0)
        )),
        "{}",
        describe(&active)
    );

    let standby = ssh_dry_run(&cluster.name, &["--standby", "--via", "ssh"]).await;
    assert!(standby.status.success(), "{}", describe(&standby));
    assert_eq!(
        text(&standby.stdout),
        format!("ssh -i {key}.pem ec2-user@{}\n", cluster.ip(1))
    );

    // With the record on no member, there is no active coordinator to log on to.
    Route53Record::new(aws_sdk_route53::Client::new(&cluster.config))
        .swap(
            &cluster.address,
            Some(&ARecord::single(cluster.members[0].1, 5)),
            Some(&ARecord::single("10.9.9.9".parse().expect("ip"), 5)),
        )
        .await
        .expect("point the record elsewhere");
    let lost = ssh_dry_run(&cluster.name, &["--via", "ssm"]).await;
    assert_fails_saying(
        &lost,
        "points at 10.9.9.9, which is no member of coordinator group",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn switchover_moves_to_a_healthy_standby_and_refuses_what_it_cannot_vouch_for() {
    presto_ha_test_support::needs!(Emulator);
    let cluster = Cluster::new(
        "switchover",
        &[
            Behaviour::Healthy,
            Behaviour::Failing,
            Behaviour::Healthy,
            Behaviour::Healthy,
            Behaviour::Healthy,
        ],
        Some(2),
    )
    .await;
    let run = |extra: &[&str]| {
        let mut args = vec!["switchover", "--stack-name", &cluster.name];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            presto_ha(&args).await
        }
    };

    let unhealthy = run(&["--to", cluster.id(1)]).await;
    assert_eq!(unhealthy.status.code(), Some(1), "{}", describe(&unhealthy));
    let stderr = text(&unhealthy.stderr);
    assert!(
        stderr.contains(&format!(
            "refusing to switch: {} is not healthy",
            cluster.id(1)
        )) && stderr.contains("HTTP 500"),
        "{stderr}"
    );
    let impostor = run(&["--to", cluster.id(2)]).await;
    let stderr = text(&impostor.stderr);
    assert!(
        stderr.contains(&format!(
            "refusing to switch: {} is not healthy",
            cluster.id(2)
        )) && stderr.contains("certificate"),
        "{}",
        describe(&impostor)
    );
    let stranger = run(&["--to", "i-0fedcba9876543210"]).await;
    assert_fails_saying(
        &stranger,
        "i-0fedcba9876543210 is not a member of coordinator group",
    );
    let already = run(&["--to", cluster.id(0)]).await;
    assert_fails_saying(&already, "already holds the record");
    assert_eq!(
        cluster.record().await,
        Some(cluster.ip(0)),
        "a refused switchover changes nothing"
    );

    // No target given: the healthy standby launched first, passing over the one whose
    // certificate is for another name; nothing is terminated.
    let moved = run(&[]).await;
    assert!(moved.status.success(), "{}", describe(&moved));
    assert!(
        text(&moved.stdout).contains(&format!(
            "from {} ({}) to {} ({}), TTL 5 s",
            cluster.ip(0),
            cluster.id(0),
            cluster.ip(3),
            cluster.id(3)
        )),
        "{}",
        describe(&moved)
    );
    assert_eq!(cluster.record().await, Some(cluster.ip(3)));
    let group = stack_output(&cluster.config, &cluster.name, "CoordinatorGroupName").await;
    let members: Vec<String> = in_service_members(&cluster.config, &group)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert!(
        members.iter().any(|m| m == cluster.id(0)),
        "the old coordinator was left alone: {members:?}"
    );
    // The protection from scale-in moved with the record.
    assert!(
        text(&moved.stdout).contains(&format!(
            "{} is the coordinator protected from scale-in",
            cluster.id(3)
        )),
        "{}",
        describe(&moved)
    );
    assert_eq!(
        protected_members(&cluster.config, &group).await,
        [cluster.id(3).to_owned()]
    );

    // On to the last, retiring the one it leaves once its two running queries have
    // finished. (Not back to the first: the emulator refuses a CREATE it has journalled
    // before even when the same batch deletes the record first, which Route 53 allows.)
    let old = cluster.presto[3].control();
    old.set_running_queries(2);
    let ec2 = aws_sdk_ec2::Client::new(&cluster.config);
    let state = |id: String| {
        let ec2 = ec2.clone();
        async move {
            let described = ec2
                .describe_instances()
                .instance_ids(id)
                .send()
                .await
                .expect("DescribeInstances");
            described.reservations()[0].instances()[0]
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default()
        }
    };
    let finish_later = async {
        // Past the record's TTL (5 s) and a few counts of the queries.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let during = state(cluster.id(3).to_owned()).await;
        old.set_running_queries(0);
        during
    };
    let (on, during) = tokio::join!(
        run(&[
            "--to",
            cluster.id(4),
            "--terminate-old",
            "--client-cache",
            "0s"
        ]),
        finish_later
    );
    assert!(on.status.success(), "{}", describe(&on));
    assert_eq!(during, "running", "terminated before its queries finished");
    assert_eq!(cluster.record().await, Some(cluster.ip(4)));
    let stdout = text(&on.stdout);
    let said = [
        "waiting 5 s for clients to follow the record (TTL 5 s + client cache allowance 0 s)"
            .to_owned(),
        format!(
            "waiting for {} to finish: 2 unfinished queries (drain timeout 600 s)",
            cluster.id(3)
        ),
        format!("{} has no unfinished queries", cluster.id(3)),
        format!("terminated {}", cluster.id(3)),
    ];
    let mut at = 0;
    for line in &said {
        let found = stdout[at..]
            .find(line.as_str())
            .unwrap_or_else(|| panic!("{line:?} missing or out of order in:\n{stdout}"));
        at += found + line.len();
    }
    let members: Vec<String> = in_service_members(&cluster.config, &group)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert!(!members.iter().any(|m| m == cluster.id(3)), "{members:?}");
}
