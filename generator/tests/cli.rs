//! The `generate` binary as a user runs it: exit codes, stdout and stderr.

use std::process::{Command, Output};

fn generate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_generate"))
        .args(args)
        .output()
        .expect("generate runs")
}

#[test]
fn prints_a_template_with_the_defaults() {
    let output = generate(&[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stderr.is_empty());
    let template: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(template["Parameters"]["HACoordinatorsCount"]["Default"], 2);
}

#[test]
fn coordinators_flag_sets_the_parameter_default() {
    let output = generate(&["--coordinators", "3", "--format", "yaml"]);
    assert!(output.status.success());
    let template: serde_json::Value =
        serde_yaml_ng::from_slice(&output.stdout).expect("YAML on stdout");
    assert_eq!(template["Parameters"]["HACoordinatorsCount"]["Default"], 3);
}

#[test]
fn help_explains_every_flag_and_its_default() {
    let output = generate(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).expect("UTF-8");
    for flag in [
        "--coordinators",
        "--workers",
        "--coordinator-instance-type",
        "--worker-instance-type",
        "--key-name",
        "--presto-version",
        "--presto-port",
        "--zone-name",
        "--record-name",
        "--client-cidr",
        "--ssh-cidr",
        "--code-bucket",
        "--custom-resource-code-key",
        "--watcher-code-key",
        "--probe-interval",
        "--probe-timeout",
        "--grace",
        "--format",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
    assert!(
        help.contains("[default: 2]") && help.contains("HACoordinatorsCount"),
        "{help}"
    );
}

#[test]
fn bad_input_prints_one_line_on_stderr_and_nothing_on_stdout() {
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["--coordinators", "0"],
            2,
            "error: invalid value '0' for '--coordinators <N>': 0 is not in 1..=5",
        ),
        (
            &["--coordinators", "9"],
            2,
            "error: invalid value '9' for '--coordinators <N>': 9 is not in 1..=5",
        ),
        (
            &["--client-cidr", "10.0.0.0/33"],
            2,
            "error: invalid value '10.0.0.0/33' for '--client-cidr <CIDR>': expected an IPv4 CIDR like 10.0.0.0/16",
        ),
        (
            &["--presto-port", "0"],
            2,
            "error: invalid value '0' for '--presto-port <PORT>': 0 is not in 1024..=65535",
        ),
        (
            &["--replicas", "2"],
            2,
            "error: unexpected argument '--replicas' found; see 'generate --help' for the flags",
        ),
        (
            &["--grace", "10", "--probe-timeout", "10"],
            2,
            "error: --probe-timeout (10s) must be shorter than --grace (10s)",
        ),
        (
            &["--workers", "5", "--workers-max", "5"],
            2,
            "error: --workers-max (5) must exceed --workers (5): a rolling update needs one worker above the minimum",
        ),
        (
            &["--fault-tolerant-execution", "task"],
            2,
            "error: --fault-tolerant-execution task needs --engine trino: prestodb has no fault-tolerant execution",
        ),
        (
            &["--worker-spot-percent", "55"],
            2,
            "error: invalid value '55' for '--worker-spot-percent <PERCENT>': 55 is not a percentage from 0 to 100 in steps of 10",
        ),
        (
            &["--worker-other-instance-types", "m5.2xlarge,m6i.2xlarge"],
            2,
            "error: --worker-other-instance-types (m5.2xlarge,m6i.2xlarge) must name at most 3 types, each once and none of them --worker-instance-type",
        ),
        (
            &[
                "--worker-other-instance-types",
                "m5.2xlarge,m6a.2xlarge,m7i.2xlarge,r6i.xlarge",
            ],
            2,
            "error: --worker-other-instance-types (m5.2xlarge,m6a.2xlarge,m7i.2xlarge,r6i.xlarge) must name at most 3 types, each once and none of them --worker-instance-type",
        ),
    ];
    for (args, code, message) in cases {
        let output = generate(args);
        assert_eq!(output.status.code(), Some(*code), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?} printed on stdout");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!("{message}\n"),
            "{args:?}"
        );
    }
}
