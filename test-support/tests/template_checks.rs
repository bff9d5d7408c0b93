//! The generated template judged by AWS's own linter and by checkov, and compared
//! with the golden files in `test-support/tests/golden/`.
//!
//! Re-bless the golden files after an intended change with
//! `PRESTO_HA_BLESS=1 scripts/test.sh` (or the same variable on
//! `cargo test -p presto-ha-test-support --test template_checks`), then review the diff.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use presto_ha_contract::limits::COORDINATORS;
use presto_ha_test_support::templates::{VARIANTS, generate_text};
use presto_ha_test_support::tools::run_offline;
use serde_json::Value;

fn write_templates(dir: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for format in ["json", "yaml"] {
        for n in COORDINATORS {
            let path = dir.join(format!("coordinators-{n}.{format}"));
            let text = generate_text(&[
                &format!("--coordinators={n}"),
                &format!("--format={format}"),
            ]);
            std::fs::write(&path, text).expect("write template");
            paths.push(path);
        }
        for (i, variant) in VARIANTS.iter().enumerate() {
            let path = dir.join(format!("variant-{i}.{format}"));
            let format_flag = format!("--format={format}");
            let args: Vec<&str> = variant
                .iter()
                .copied()
                .chain([format_flag.as_str()])
                .collect();
            std::fs::write(&path, generate_text(&args)).expect("write template");
            paths.push(path);
        }
    }
    paths
}

#[test]
fn cfn_lint_finds_nothing_for_any_coordinator_count_in_either_format() {
    presto_ha_test_support::needs!(Tools);
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = write_templates(dir.path());
    assert_eq!(paths.len(), 2 * (COORDINATORS.count() + VARIANTS.len()));
    let args: Vec<&OsStr> = paths.iter().map(|p| p.as_os_str()).collect();
    let output = run_offline("cfn-lint", &args);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // cfn-lint exits 0 only when it found no error, warning or informational finding.
    assert!(
        output.status.success() && printed.trim().is_empty(),
        "cfn-lint ({}):\n{printed}",
        output.status
    );
}

#[test]
fn checkov_fails_nothing_that_is_not_skipped_with_a_reason() {
    presto_ha_test_support::needs!(Tools);
    let dir = tempfile::tempdir().expect("temp dir");
    for (i, variant) in VARIANTS.iter().enumerate() {
        std::fs::write(
            dir.path().join(format!("variant-{i}.json")),
            generate_text(variant),
        )
        .expect("write");
    }
    let output = run_offline(
        "checkov",
        &[
            OsStr::new("--directory"),
            dir.path().as_os_str(),
            OsStr::new("--framework=cloudformation"),
            OsStr::new("--output=json"),
            OsStr::new("--skip-download"),
            OsStr::new("--quiet"),
        ],
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let summary = &report["summary"];
    let results = &report["results"];
    let failed: Vec<String> = results["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} {} {}", c["check_id"], c["resource"], c["check_name"]))
        .collect();
    assert!(failed.is_empty(), "checkov failed checks: {failed:#?}");
    assert_eq!(summary["parsing_errors"], 0, "{summary}");
    assert!(
        summary["passed"].as_u64() > Some(50),
        "checkov checked too little: {summary}"
    );
    for skipped in results["skipped_checks"].as_array().into_iter().flatten() {
        let reason = skipped["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        assert!(
            reason.len() > 20,
            "{} on {} is skipped without a reason",
            skipped["check_id"],
            skipped["resource"]
        );
    }
}

/// The golden cases: name and flags.
const GOLDEN: &[(&str, &[&str])] = &[
    ("default.json", &[]),
    (
        "three-coordinators.json",
        &[
            "--coordinators=3",
            "--client-cidr=10.0.0.0/16",
            "--ssh-cidr=10.0.1.0/24",
            "--code-bucket=my-presto-code",
            "--key-name=ops",
        ],
    ),
    (
        "one-coordinator.yaml",
        &[
            "--coordinators=1",
            "--format=yaml",
            "--presto-port=8081",
            "--no-tls",
            "--zone-name=analytics.corp",
            "--record-name=presto",
            "--grace=30",
        ],
    ),
    (
        "trino-glue.json",
        &[
            "--engine=trino",
            "--metastore=glue",
            "--fault-tolerant-execution=task",
        ],
    ),
];

#[test]
fn templates_match_the_golden_files() {
    let golden_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("PRESTO_HA_BLESS").is_some();
    let mut mismatches = Vec::new();
    for (name, args) in GOLDEN {
        let path = golden_dir.join(name);
        let actual = generate_text(args);
        if bless {
            std::fs::create_dir_all(&golden_dir).expect("create golden dir");
            std::fs::write(&path, &actual).expect("write golden file");
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; bless it with PRESTO_HA_BLESS=1", path.display()));
        if expected != actual {
            let diff = similar::TextDiff::from_lines(&expected, &actual);
            mismatches.push(format!(
                "{}",
                diff.unified_diff()
                    .context_radius(3)
                    .header(&format!("golden/{name}"), "generated")
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "generated templates differ from the golden files (re-bless with PRESTO_HA_BLESS=1 if intended):\n{}",
        mismatches.join("\n")
    );
}

/// The worker group's instances as CloudFormation would make them of the parameters:
/// the on-demand share is what the spot share leaves, and the instance types are the
/// worker type first, then each other type given, in order.
#[test]
fn the_worker_mix_follows_the_spot_share_and_the_other_types() {
    use presto_ha_contract::parameters as param;
    use presto_ha_generator::template::ids;
    use presto_ha_test_support::templates::{Stack, generate};

    let template = generate(&[]);
    let group = &template["Resources"][ids::WORKER_GROUP]["Properties"];
    let cases: [(&str, &str, u64, &[&str], bool); 4] = [
        ("0", "", 100, &["m6i.2xlarge"], false),
        ("30", "m5.2xlarge", 70, &["m6i.2xlarge", "m5.2xlarge"], true),
        (
            "100",
            "m5.2xlarge,m6a.2xlarge",
            0,
            &["m6i.2xlarge", "m5.2xlarge", "m6a.2xlarge"],
            true,
        ),
        (
            "50",
            "m5.2xlarge,m6a.2xlarge,m7i.2xlarge",
            50,
            &["m6i.2xlarge", "m5.2xlarge", "m6a.2xlarge", "m7i.2xlarge"],
            true,
        ),
    ];
    for (spot, others, on_demand, types, rebalance) in cases {
        let stack = Stack::new(
            &template,
            &[
                (param::WORKER_SPOT_PERCENT, spot),
                (param::WORKER_OTHER_INSTANCE_TYPES, others),
            ],
        );
        let mix = stack
            .resolved(&group["MixedInstancesPolicy"])
            .expect("a mix");
        let distribution = &mix["InstancesDistribution"];
        assert_eq!(
            distribution["OnDemandPercentageAboveBaseCapacity"],
            on_demand.to_string(),
            "spot {spot}"
        );
        assert_eq!(distribution["SpotAllocationStrategy"], "capacity-optimized");
        let overrides: Vec<&str> = mix["LaunchTemplate"]["Overrides"]
            .as_array()
            .expect("overrides")
            .iter()
            .map(|o| o["InstanceType"].as_str().expect("a type"))
            .collect();
        assert_eq!(overrides, types, "others {others:?}");
        assert_eq!(
            stack.resolved(&group["CapacityRebalance"]),
            Some(Value::Bool(rebalance)),
            "spot {spot}"
        );
    }
}
