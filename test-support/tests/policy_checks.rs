//! The stack's security promises as policy as code: the Guard rules in
//! `policy/presto-ha.guard` hold for every template `generate` prints and each
//! fails on a template broken on purpose; `parliament` finds nothing in any policy
//! a role of the stack holds.
//!
//! cfn-guard-rs 0.3.3 returns only the last 4 KiB of a long report (its own
//! `run_checks` then fails to parse it), so the runner below reads the two lists
//! that end every report: `not_applicable` and `compliant`. A rule counts as met
//! only when it is listed as compliant.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use presto_ha_contract::limits::COORDINATORS;
use presto_ha_contract::parameters as param;
use presto_ha_test_support::needs;
use presto_ha_test_support::templates::{Stack, VARIANTS, generate, generate_text};
use presto_ha_test_support::tools::run_offline;
use serde_json::{Value, json};

const GUARD_RUNNER: &str = r#"
import json, re, sys
from cfn_guard_rs.cfn_guard_rs import run_checks_rs
rules = open(sys.argv[1]).read()
names = re.findall(r"^rule (\w+)", rules, re.M)
ending = re.compile(r'"not_applicable":\s*(\[[^\]]*\]),\s*"compliant":\s*(\[[^\]]*\])\s*\}\s*$')
report = {}
for path in sys.argv[2:]:
    out = run_checks_rs(open(path).read(), rules, False)
    found = ending.search(out)
    if not found:
        report[path] = {"unreadable": out[-500:]}
        continue
    compliant = json.loads(found.group(2))
    report[path] = {rule: "PASS" if rule in compliant else "NOT PASS" for rule in names}
print(json.dumps(report))
"#;

fn rules_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/presto-ha.guard")
}

/// Each template's rules and whether each passed.
fn guard(templates: &[PathBuf]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut args: Vec<&OsStr> = vec![OsStr::new("-c"), OsStr::new(GUARD_RUNNER)];
    let rules = rules_file();
    args.push(rules.as_os_str());
    args.extend(templates.iter().map(|t| t.as_os_str()));
    let output = run_offline("python", &args);
    assert!(
        output.status.success(),
        "the Guard runner failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the Guard runner printed no report ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn every_generated_template_keeps_every_promise() {
    needs!(Tools);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut paths = Vec::new();
    let counts: Vec<String> = COORDINATORS
        .map(|n| format!("--coordinators={n}"))
        .collect();
    let flag_sets = counts
        .iter()
        .map(|flag| vec![flag.as_str()])
        .chain(VARIANTS.iter().map(|variant| variant.to_vec()));
    for (i, flags) in flag_sets.enumerate() {
        let path = dir.path().join(format!("template-{i}.json"));
        std::fs::write(&path, generate_text(&flags)).expect("write");
        paths.push(path);
    }
    let report = guard(&paths);
    assert_eq!(report.len(), paths.len());
    for (path, rules) in &report {
        assert!(rules.len() >= 8, "{path}: {rules:?}");
        for (rule, status) in rules {
            assert_eq!(status, "PASS", "{path}: {rule}");
        }
    }
}

/// Makes `template` break one promise.
type Breakage = fn(&mut Value);

#[test]
fn each_rule_fails_on_a_template_broken_on_purpose() {
    needs!(Tools);
    let breakages: &[(&str, Breakage)] = &[
        ("PRESTO_HA_NO_PUBLIC_IP", |t| {
            t["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["NetworkInterfaces"]
                [0]["AssociatePublicIpAddress"] = true.into();
        }),
        ("PRESTO_HA_NODES_IMDSV2_ENCRYPTED", |t| {
            t["Resources"]["CoordinatorLaunchTemplate"]["Properties"]["LaunchTemplateData"]["MetadataOptions"]
                ["HttpTokens"] = "optional".into();
        }),
        ("PRESTO_HA_NO_WORLD_INGRESS", |t| {
            t["Resources"]["CoordinatorSsh"]["Properties"]["CidrIp"] = "0.0.0.0/0".into();
        }),
        ("PRESTO_HA_WORLD_EGRESS_HTTPS_ONLY", |t| {
            t["Resources"]["WorkerSecurityGroup"]["Properties"]["SecurityGroupEgress"] =
                json!([{ "IpProtocol": "-1", "CidrIp": "0.0.0.0/0" }]);
        }),
        ("PRESTO_HA_ROUTE53_WRITES_NARROWED", |t| {
            let statements = t["Resources"]["WatcherRole"]["Properties"]["Policies"][0]
                ["PolicyDocument"]["Statement"]
                .as_array_mut()
                .expect("statements");
            for statement in statements {
                if statement["Action"] == "route53:ChangeResourceRecordSets" {
                    statement
                        .as_object_mut()
                        .expect("object")
                        .remove("Condition");
                }
            }
        }),
        ("PRESTO_HA_NO_MANAGED_LAMBDA_POLICY", |t| {
            t["Resources"]["WatcherRole"]["Properties"]["ManagedPolicyArns"] =
                json!(["arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"]);
        }),
        ("PRESTO_HA_LAMBDAS_CONTAINED", |t| {
            t["Resources"]["CoordinatorDnsFunction"]["Properties"]["Environment"]["Variables"]
                .as_object_mut()
                .expect("variables")
                .remove("STACK_ID");
        }),
        ("PRESTO_HA_PROBE_FUNCTION_READS_ONLY", |t| {
            t["Resources"]["ProbeRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                .as_array_mut()
                .expect("statements")
                .push(json!({
                    "Effect": "Allow",
                    "Action": "autoscaling:TerminateInstanceInAutoScalingGroup",
                    "Resource": "*",
                }));
        }),
        ("PRESTO_HA_TLS_ON", |t| {
            t["Resources"]["CoordinatorSecurityGroup"]["Properties"]["SecurityGroupIngress"][0]["FromPort"] =
                json!({ "Ref": "PrestoHttpPort" });
        }),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut paths = Vec::new();
    for (rule, breakage) in breakages {
        let mut template = generate(&[]);
        breakage(&mut template);
        let path = dir.path().join(format!("{rule}.json"));
        std::fs::write(&path, template.to_string()).expect("write");
        paths.push(path);
    }
    let report = guard(&paths);
    for ((broken, _), path) in breakages.iter().zip(&paths) {
        let rules = &report[&path.display().to_string()];
        assert_eq!(
            rules.len(),
            breakages.len(),
            "one breakage per rule: {rules:?}"
        );
        for (rule, status) in rules {
            let expected = if rule == broken { "NOT PASS" } else { "PASS" };
            assert_eq!(status, expected, "{rule} on the template breaking {broken}");
        }
    }
}

const PARLIAMENT_RUNNER: &str = r#"
import json, sys
from parliament import analyze_policy_string
found = {}
for name, document in json.load(sys.stdin).items():
    policy = analyze_policy_string(json.dumps(document), include_community_auditors=True)
    found[name] = [f"{f.issue}: {f.detail} {f.location}" for f in policy.findings]
print(json.dumps(found))
"#;

/// Every identity policy of the stack's roles (inline and `AWS::IAM::Policy`),
/// resolved as CloudFormation would with `given` parameters, by `<resource>/<policy>`.
/// Trust policies are left out: parliament reads every document as an identity
/// policy and reports a trust policy's `Principal` as malformed.
fn identity_policies(template: &Value, given: &[(&str, &str)]) -> BTreeMap<String, Value> {
    let stack = Stack::new(template, given);
    let mut found = BTreeMap::new();
    for (id, resource) in template["Resources"].as_object().expect("resources") {
        let properties = &resource["Properties"];
        match resource["Type"].as_str() {
            Some("AWS::IAM::Role") => {
                let policies = stack.resolved(&properties["Policies"]).unwrap_or_default();
                for policy in policies.as_array().into_iter().flatten() {
                    let name = policy["PolicyName"].as_str().expect("a name");
                    found.insert(format!("{id}/{name}"), policy["PolicyDocument"].clone());
                }
            }
            Some("AWS::IAM::Policy") => {
                let document = stack
                    .resolved(&properties["PolicyDocument"])
                    .expect("a document");
                found.insert(id.clone(), document);
            }
            _ => {}
        }
    }
    found
}

#[test]
fn parliament_finds_nothing_in_any_policy() {
    needs!(Tools);
    let secret =
        |name: &str| format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf");
    let (users, certificate, configuration) =
        (secret("users"), secret("certificate"), secret("catalog"));
    // Every optional statement present, then none of them.
    let everything: Vec<(&str, &str)> = vec![
        (param::ENGINE, "trino"),
        (param::FAULT_TOLERANT_EXECUTION, "Task"),
        (param::METASTORE_TYPE, "AWS Glue Data Catalog"),
        (param::DATA_BUCKET_NAMES, "presto-data,presto-scratch"),
        (param::CONFIGURATION_SECRET_ARNS, &configuration),
        (
            param::ADDITIONAL_COORDINATOR_CONFIGURATION_URI,
            "s3://presto-config/coordinator.zip",
        ),
        (
            param::ADDITIONAL_WORKERS_CONFIGURATION_URI,
            "s3://presto-config/workers.zip",
        ),
        (
            param::BOOTSTRAP_SCRIPT_URI,
            "s3://presto-config/bootstrap.sh",
        ),
        (param::USERS_SECRET_ARN, &users),
        (param::TLS_CERTIFICATE_SECRET_ARN, &certificate),
    ];
    let template = generate(&[]);
    let mut documents = BTreeMap::new();
    for (label, given) in [("everything", everything.as_slice()), ("defaults", &[])] {
        for (name, document) in identity_policies(&template, given) {
            documents.insert(format!("{label}: {name}"), document);
        }
    }
    assert!(documents.len() >= 14, "{:?}", documents.keys());
    let input = serde_json::to_vec(&Value::Object(documents.into_iter().collect())).expect("JSON");
    let output = presto_ha_test_support::tools::run_offline_with_input(
        "python",
        &[OsStr::new("-c"), OsStr::new(PARLIAMENT_RUNNER)],
        &input,
    );
    assert!(
        output.status.success(),
        "parliament failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let found: BTreeMap<String, Vec<String>> =
        serde_json::from_slice(&output.stdout).expect("parliament's report");
    assert!(found.len() >= 14, "{found:?}");
    let findings: Vec<String> = found
        .iter()
        .flat_map(|(policy, findings)| findings.iter().map(move |f| format!("{policy}: {f}")))
        .collect();
    assert!(findings.is_empty(), "parliament:\n{}", findings.join("\n"));
}
