//! The templates under test, generated in-process with the real command line.

use clap::Parser;
use presto_ha_contract::{exchange_resource, image_resource, tls_resource};
use presto_ha_generator::cli::{self, Args};
use serde_json::{Map, Value, json};

/// The text `generate ARGS` prints.
pub fn generate_text(args: &[&str]) -> String {
    let args = Args::try_parse_from(std::iter::once("generate").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("generate {args:?}: {}", cli::one_line(&e)));
    let mut out = Vec::new();
    cli::run(&args, &mut out).unwrap_or_else(|e| panic!("generate failed: {e}"));
    String::from_utf8(out).expect("the template is UTF-8")
}

/// The template `generate ARGS` prints, parsed.
pub fn generate(args: &[&str]) -> Value {
    serde_json::from_str(&generate_text(args)).expect("generate prints JSON")
}

/// The parameter that stands in for `Custom::PinnedImage` in the emulator.
pub const IMAGE_STAND_IN: &str = "PinnedImageStandIn";

/// The parameter that stands in for the authority `Custom::TlsCertificate` hands out,
/// in the output that shows it: a test sets it to its own authority's PEM.
pub const AUTHORITY_STAND_IN: &str = "CaCertificateStandIn";

/// The parameter that stands in for the secret `id`, which the emulator's
/// CloudFormation cannot create: a test sets it to a secret it made itself.
pub fn secret_stand_in(id: &str) -> String {
    format!("{id}StandIn")
}

/// The template without what the emulator cannot create, and without what refers to
/// it: its `Custom::` resources (the emulator needs Docker for a Lambda-backed custom
/// resource) and its `AWS::SecretsManager::Secret`s (it has no CloudFormation support
/// for them). Returns the logical ids removed, resources and outputs alike.
///
/// What every node needs is stood in for instead: the pinned image's attribute by a
/// parameter [`IMAGE_STAND_IN`] of the SSM parameter type, which the emulator resolves
/// from the same SSM parameter the custom resource reads; the certificate's secret by
/// the stack's own certificate secret; each secret by a parameter
/// ([`secret_stand_in`]) holding an ARN; the authority in the outputs by
/// [`AUTHORITY_STAND_IN`].
pub fn without_custom_resources(template: &Value) -> (Value, Vec<String>) {
    let mut template = template.clone();
    stand_in_for_the_pinned_image(&mut template);
    stand_in_for_the_certificate(&mut template);
    stand_in_for_the_exchange_cleanup(&mut template);
    let secrets = stand_in_for_the_secrets(&mut template);
    let mut removed: Vec<String> = secrets;
    let resources = template["Resources"].as_object_mut().expect("Resources");
    loop {
        let doomed: Vec<String> = resources
            .iter()
            .filter(|(_, resource)| {
                resource["Type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Custom::"))
                    || refers_to_any(&resource["Properties"], &removed)
            })
            .map(|(id, _)| id.clone())
            .collect();
        if doomed.is_empty() {
            break;
        }
        for id in doomed {
            resources.remove(&id);
            removed.push(id);
        }
    }
    for resource in resources.values_mut().filter_map(Value::as_object_mut) {
        let Some(depends_on) = resource.remove("DependsOn") else {
            continue;
        };
        let kept: Vec<Value> = match depends_on {
            Value::Array(ids) => ids,
            id => vec![id],
        }
        .into_iter()
        .filter(|id| {
            !id.as_str()
                .is_some_and(|id| removed.iter().any(|r| r == id))
        })
        .collect();
        if !kept.is_empty() {
            resource.insert("DependsOn".into(), Value::Array(kept));
        }
    }
    if let Some(outputs) = template["Outputs"].as_object_mut() {
        let doomed: Vec<String> = outputs
            .iter()
            .filter(|(_, output)| refers_to_any(output, &removed))
            .map(|(id, _)| id.clone())
            .collect();
        for id in doomed {
            outputs.remove(&id);
            removed.push(id);
        }
    }
    (template, removed)
}

/// Replaces every `Fn::GetAtt` of a `Custom::PinnedImage` by a parameter resolved from
/// the SSM parameter that resource would read.
fn stand_in_for_the_pinned_image(template: &mut Value) {
    let pinned: Vec<(String, Value)> = template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == image_resource::TYPE)
        .map(|(id, r)| {
            (
                id.clone(),
                r["Properties"][image_resource::LATEST_PARAMETER].clone(),
            )
        })
        .collect();
    for (id, parameter) in pinned {
        template["Parameters"][IMAGE_STAND_IN] = json!({
            "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
            "Default": parameter,
        });
        replace_get_att(
            &mut template["Resources"],
            &id,
            &json!({ "Ref": IMAGE_STAND_IN }),
        );
    }
}

/// Replaces every secret by a parameter holding an ARN, and removes it; returns the
/// secrets' ids.
fn stand_in_for_the_secrets(template: &mut Value) -> Vec<String> {
    let secrets: Vec<String> = template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::SecretsManager::Secret")
        .map(|(id, _)| id.clone())
        .collect();
    for id in &secrets {
        let stand_in = secret_stand_in(id);
        template["Parameters"][&stand_in] = json!({
            "Type": "String",
            "Default": format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:{id}-StandIn"),
        });
        template["Resources"]
            .as_object_mut()
            .expect("Resources")
            .remove(id);
        for part in ["Resources", "Outputs"] {
            replace_ref(&mut template[part], id, &stand_in);
            replace_sub_text(
                &mut template[part],
                &format!("${{{id}}}"),
                &format!("${{{stand_in}}}"),
            );
        }
    }
    secrets
}

fn replace_ref(value: &mut Value, id: &str, by: &str) {
    match value {
        Value::Object(map) if map.len() == 1 && map.get("Ref") == Some(&Value::from(id)) => {
            map.insert("Ref".into(), by.into());
        }
        Value::Object(map) => map.values_mut().for_each(|v| replace_ref(v, id, by)),
        Value::Array(items) => items.iter_mut().for_each(|v| replace_ref(v, id, by)),
        _ => {}
    }
}

/// Replaces the secret a `Custom::TlsCertificate` hands the coordinators by the
/// stack's own certificate secret, which that resource would have filled, and the
/// authority it hands out by [`AUTHORITY_STAND_IN`].
fn stand_in_for_the_certificate(template: &mut Value) {
    let certificates: Vec<(String, Value)> = template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == tls_resource::TYPE)
        .map(|(id, r)| {
            (
                id.clone(),
                r["Properties"][tls_resource::MADE_SECRET].clone(),
            )
        })
        .collect();
    for (id, made) in certificates {
        let attribute = format!("${{{id}.{}}}", tls_resource::CERTIFICATE_SECRET);
        let made_name = made["Ref"]
            .as_str()
            .expect("a Ref of the secret")
            .to_owned();
        replace_sub_text(
            &mut template["Resources"],
            &attribute,
            &format!("${{{made_name}}}"),
        );
        replace_get_att(&mut template["Resources"], &id, &made);
        template["Parameters"][AUTHORITY_STAND_IN] = json!({ "Type": "String", "Default": "" });
        replace_get_att(
            &mut template["Outputs"],
            &id,
            &json!({ "Ref": AUTHORITY_STAND_IN }),
        );
    }
}

/// Replaces the bucket name a `Custom::ExchangeBucket` hands the launch templates by a
/// `Ref` of the bucket it names, which is what that resource answers.
fn stand_in_for_the_exchange_cleanup(template: &mut Value) {
    let cleanups: Vec<(String, Value)> = template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == exchange_resource::TYPE)
        .map(|(id, r)| {
            (
                id.clone(),
                r["Properties"][exchange_resource::BUCKET_NAME].clone(),
            )
        })
        .collect();
    for (id, bucket) in cleanups {
        replace_get_att(&mut template["Resources"], &id, &bucket);
    }
}

fn replace_sub_text(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(text) if text.contains(from) => *text = text.replace(from, to),
        Value::Object(map) => map.values_mut().for_each(|v| replace_sub_text(v, from, to)),
        Value::Array(items) => items.iter_mut().for_each(|v| replace_sub_text(v, from, to)),
        _ => {}
    }
}

fn replace_get_att(value: &mut Value, id: &str, by: &Value) {
    match value {
        Value::Object(map) => {
            let names = |parts: &Value| parts.get(0).and_then(Value::as_str) == Some(id);
            if map.len() == 1 && map.get("Fn::GetAtt").is_some_and(names) {
                *value = by.clone();
                return;
            }
            for inner in map.values_mut() {
                replace_get_att(inner, id, by);
            }
        }
        Value::Array(items) => {
            for item in items {
                replace_get_att(item, id, by);
            }
        }
        _ => {}
    }
}

/// Whether `value` holds a `Ref`, `Fn::GetAtt` or `Fn::Sub` naming one of `ids`.
fn refers_to_any(value: &Value, ids: &[String]) -> bool {
    let names = |name: &str| ids.iter().any(|id| id == name);
    match value {
        Value::Object(map) => map.iter().any(|(key, inner)| match (key.as_str(), inner) {
            ("Ref", Value::String(name)) => names(name),
            ("Fn::GetAtt", Value::Array(parts)) => {
                parts.first().and_then(Value::as_str).is_some_and(names)
            }
            ("Fn::Sub", Value::String(text)) => ids.iter().any(|id| {
                text.contains(&format!("${{{id}}}")) || text.contains(&format!("${{{id}."))
            }),
            _ => refers_to_any(inner, ids),
        }),
        Value::Array(items) => items.iter().any(|item| refers_to_any(item, ids)),
        _ => false,
    }
}

/// Flag sets beyond the coordinator count that the linters and policy checks see.
pub const VARIANTS: &[&[&str]] = &[
    &[
        "--client-cidr=10.0.0.0/16",
        "--ssh-cidr=10.0.1.0/24",
        "--data-source-cidr=10.8.0.0/16",
        "--code-bucket=my-presto-code",
        "--key-name=ops",
    ],
    &[
        "--presto-port=8443",
        "--https-port=9443",
        "--zone-name=analytics.corp",
        "--record-name=presto",
        "--probe-interval=5",
        "--probe-timeout=3",
        "--grace=30",
        "--lambda-architecture=arm64",
    ],
    &[
        "--engine=trino",
        "--metastore=glue",
        "--fault-tolerant-execution=task",
    ],
    &[
        "--engine=presto",
        "--metastore=external",
        "--presto-version=0.296",
    ],
    &["--engine=trino", "--presto-version=478"],
    &["--metastore=glue"],
    &["--engine=trino", "--metastore=external"],
    &["--no-tls", "--engine=trino"],
    &[
        "--notification-email=ops@example.com",
        "--worker-spot-percent=70",
        "--worker-other-instance-types=m5.2xlarge,m6a.2xlarge,m7i.2xlarge",
    ],
];

/// What CloudFormation would hand a Lambda for `value` in a stack created with the
/// template's defaults: `Ref` of a parameter is its default, `Ref` of a resource a
/// physical id shaped like the real one (a hosted zone's `Z...` id, a name for the
/// rest), `Fn::Sub` substitutes both, and numbers arrive as strings as they do in a
/// custom resource's properties.
pub fn resolve(template: &Value, value: &Value) -> String {
    Stack::new(template, &[]).text(value)
}

/// A stack made from a template with some parameters given, for resolving what
/// CloudFormation would: `Ref`, `Fn::Sub` (with or without variables), `Fn::Join`,
/// `Fn::If` over the template's conditions, `Fn::Select`, `Fn::Split`,
/// `Fn::FindInMap`, `Fn::Base64` (the text before encoding).
pub struct Stack<'a> {
    template: &'a Value,
    given: Vec<(String, String)>,
}

/// The stack name and region every resolved value sees.
pub const STACK_NAME: &str = "sandbox-stack";
/// The region every resolved value sees.
pub const REGION: &str = "us-east-1";

impl<'a> Stack<'a> {
    /// `template` with the parameters `given`, the others at their defaults.
    pub fn new(template: &'a Value, given: &[(&str, &str)]) -> Self {
        for (name, _) in given {
            assert!(
                template["Parameters"].get(*name).is_some(),
                "{name} is not a parameter of the template"
            );
        }
        let given = given
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        Self { template, given }
    }

    fn reference(&self, name: &str, variables: &Map<String, Value>) -> String {
        if let Some(value) = variables.get(name) {
            return self.text(value);
        }
        if let Some((_, value)) = self.given.iter().find(|(n, _)| n == name) {
            return value.clone();
        }
        match name {
            "AWS::StackName" => return STACK_NAME.to_owned(),
            "AWS::Region" => return REGION.to_owned(),
            "AWS::Partition" => return "aws".to_owned(),
            "AWS::AccountId" => return "123456789012".to_owned(),
            "AWS::URLSuffix" => return "amazonaws.com".to_owned(),
            "AWS::StackId" => {
                return format!(
                    "arn:aws:cloudformation:{REGION}:123456789012:stack/{STACK_NAME}/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
                );
            }
            _ => {}
        }
        if let Some(default) = self.template["Parameters"][name].get("Default") {
            return match default {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
        }
        if let Some((resource, attribute)) = name.split_once('.') {
            return self.attribute(resource, attribute);
        }
        match self.template["Resources"][name]["Type"].as_str() {
            Some("AWS::Route53::HostedZone") => "Z0123456789ABCDEFGHIJ".to_owned(),
            Some("AWS::SecretsManager::Secret") => {
                format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:stack-{name}-1A2B3C")
            }
            // Bucket names are lowercase.
            Some("AWS::S3::Bucket") => format!("stack-{}-1a2b3c", name.to_lowercase()),
            Some(_) => format!("stack-{name}-1A2B3C"),
            None => panic!("{name} is neither a parameter with a default nor a resource"),
        }
    }

    /// `Fn::GetAtt` of `resource`: an ARN shaped like the real one for the `Arn` of
    /// the types whose ARNs policies name, `stack-<resource>-<attribute>` otherwise.
    fn attribute(&self, resource: &str, attribute: &str) -> String {
        let kind = self.template["Resources"][resource]["Type"]
            .as_str()
            .unwrap_or_else(|| panic!("{resource} is not a resource"));
        let physical = format!("stack-{resource}-1A2B3C");
        let account = "123456789012";
        match (kind, attribute) {
            ("AWS::Logs::LogGroup", "Arn") => {
                format!("arn:aws:logs:{REGION}:{account}:log-group:{physical}:*")
            }
            ("AWS::SQS::Queue", "Arn") => format!("arn:aws:sqs:{REGION}:{account}:{physical}"),
            ("AWS::Lambda::Function", "Arn") => {
                format!("arn:aws:lambda:{REGION}:{account}:function:{physical}")
            }
            ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::{account}:role/{physical}"),
            ("AWS::S3::Bucket", "Arn") => {
                format!("arn:aws:s3:::{}", self.reference(resource, &Map::new()))
            }
            // A certificate, shaped as the resource gives it.
            (tls_resource::TYPE, tls_resource::CA_CERTIFICATE) => {
                "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n".to_owned()
            }
            (exchange_resource::TYPE, exchange_resource::BUCKET_NAME) => self.text(
                &self.template["Resources"][resource]["Properties"][exchange_resource::BUCKET_NAME],
            ),
            ("AWS::IAM::InstanceProfile", "Arn") => {
                format!("arn:aws:iam::{account}:instance-profile/{physical}")
            }
            (custom, secret) if custom.starts_with("Custom::") && secret.ends_with("SecretArn") => {
                format!(
                    "arn:aws:secretsmanager:{REGION}:{account}:secret:stack-{resource}-{secret}-1A2B3C"
                )
            }
            _ => format!("stack-{resource}-{attribute}"),
        }
    }

    /// Whether `name` is a list parameter, which a `Ref` gives as a list.
    fn is_list_parameter(&self, name: &str) -> bool {
        self.template["Parameters"][name]["Type"]
            .as_str()
            .is_some_and(|kind| kind == "CommaDelimitedList" || kind.starts_with("List<"))
    }

    /// The items CloudFormation makes of `value` where a list is expected.
    fn items(&self, value: &Value) -> Vec<String> {
        match self.resolved(value) {
            Some(Value::Array(items)) => items.iter().map(|item| self.text(item)).collect(),
            Some(other) => vec![self.text(&other)],
            None => Vec::new(),
        }
    }

    /// `value` with every intrinsic function resolved as CloudFormation would, its
    /// shape kept: a list parameter's `Ref` and `Fn::Split` give lists, and
    /// `AWS::NoValue` is `None`, dropped from the list or object holding it.
    pub fn resolved(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .filter_map(|item| self.resolved(item))
                    .collect(),
            )),
            Value::Object(map) if map.len() == 1 => {
                let (key, argument) = map.iter().next().expect("one entry");
                match (key.as_str(), argument) {
                    ("Ref", Value::String(name)) if name == "AWS::NoValue" => None,
                    ("Ref", Value::String(name)) if self.is_list_parameter(name) => {
                        let joined = self.reference(name, &Map::new());
                        let items = joined
                            .split(',')
                            .filter(|item| !item.is_empty())
                            .map(|item| Value::String(item.to_owned()));
                        Some(Value::Array(items.collect()))
                    }
                    ("Fn::If", Value::Array(parts)) => {
                        let name = parts[0].as_str().expect("a condition name");
                        self.resolved(&parts[if self.condition(name) { 1 } else { 2 }])
                    }
                    ("Fn::Split", Value::Array(parts)) => {
                        let delimiter = parts[0].as_str().expect("a literal delimiter");
                        let text = self.text(&parts[1]);
                        Some(Value::Array(
                            text.split(delimiter)
                                .map(|item| Value::String(item.to_owned()))
                                .collect(),
                        ))
                    }
                    ("Fn::Select", Value::Array(parts)) => {
                        let index: usize = self.text(&parts[0]).parse().expect("an index");
                        let items = self.items(&parts[1]);
                        Some(Value::String(items[index].clone()))
                    }
                    (function, _) if function == "Ref" || function.starts_with("Fn::") => {
                        Some(Value::String(self.text(value)))
                    }
                    _ => Some(Value::Object(self.resolved_entries(map))),
                }
            }
            Value::Object(map) => Some(Value::Object(self.resolved_entries(map))),
            other => Some(other.clone()),
        }
    }

    fn resolved_entries(&self, map: &Map<String, Value>) -> Map<String, Value> {
        map.iter()
            .filter_map(|(key, value)| self.resolved(value).map(|value| (key.clone(), value)))
            .collect()
    }

    fn substitute(&self, text: &str, variables: &Map<String, Value>) -> String {
        let mut resolved = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let end = start + rest[start..].find('}').expect("closed ${");
            resolved.push_str(&rest[..start]);
            resolved.push_str(&self.reference(&rest[start + 2..end], variables));
            rest = &rest[end + 1..];
        }
        resolved.push_str(rest);
        resolved
    }

    /// Whether the template's condition `name` holds in this stack.
    pub fn condition(&self, name: &str) -> bool {
        let condition = &self.template["Conditions"][name];
        assert!(!condition.is_null(), "no condition {name}");
        self.holds(condition)
    }

    fn holds(&self, value: &Value) -> bool {
        let Some((function, arguments)) = value.as_object().and_then(|m| m.iter().next()) else {
            panic!("not a condition: {value}");
        };
        let all = || arguments.as_array().expect("arguments").iter();
        match function.as_str() {
            "Condition" => self.condition(arguments.as_str().expect("a condition name")),
            "Fn::Equals" => {
                let sides: Vec<String> = all().map(|side| self.text(side)).collect();
                sides[0] == sides[1]
            }
            "Fn::Not" => !self.holds(&arguments[0]),
            "Fn::Or" => all().any(|inner| self.holds(inner)),
            "Fn::And" => all().all(|inner| self.holds(inner)),
            other => panic!("cannot evaluate {other}"),
        }
    }

    /// The text CloudFormation makes of `value` in this stack.
    pub fn text(&self, value: &Value) -> String {
        match value {
            Value::String(text) => text.clone(),
            Value::Number(n) => n.to_string(),
            Value::Object(map) => match map.iter().next() {
                Some((key, Value::String(name))) if key == "Ref" => {
                    self.reference(name, &Map::new())
                }
                Some((key, Value::String(text))) if key == "Fn::Sub" => {
                    self.substitute(text, &Map::new())
                }
                Some((key, Value::Array(parts))) if key == "Fn::Sub" => {
                    let variables = parts[1].as_object().expect("Fn::Sub variables");
                    self.substitute(parts[0].as_str().expect("Fn::Sub text"), variables)
                }
                Some((key, Value::Array(parts))) if key == "Fn::Join" => {
                    let delimiter = parts[0].as_str().expect("a literal delimiter");
                    self.items(&parts[1]).join(delimiter)
                }
                Some((key, Value::Array(parts))) if key == "Fn::GetAtt" => self.attribute(
                    parts[0].as_str().expect("a resource"),
                    parts[1].as_str().expect("an attribute"),
                ),
                Some((key, Value::Array(_))) if key == "Fn::Select" => {
                    self.text(&self.resolved(value).expect("a value"))
                }
                Some((key, Value::Array(parts))) if key == "Fn::If" => {
                    let name = parts[0].as_str().expect("a condition name");
                    self.text(&parts[if self.condition(name) { 1 } else { 2 }])
                }
                Some((key, inner)) if key == "Fn::Base64" => self.text(inner),
                Some((key, Value::Array(keys))) if key == "Fn::FindInMap" => {
                    let [map, top, second] = [0, 1, 2].map(|i| self.text(&keys[i]));
                    let found = &self.template["Mappings"][&map][&top][&second];
                    assert!(!found.is_null(), "mapping {map} has no {top}.{second}");
                    self.text(found)
                }
                _ => panic!("cannot resolve {value}"),
            },
            other => panic!("cannot resolve {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_references_and_substitutions_as_cloudformation_would() {
        let template = json!({
            "Parameters": { "Port": { "Type": "Number", "Default": 8080 }, "Zone": { "Type": "String", "Default": "presto.internal" } },
            "Resources": { "HostedZone": { "Type": "AWS::Route53::HostedZone" }, "Group": { "Type": "AWS::AutoScaling::AutoScalingGroup" } },
        });
        let cases = [
            (json!({ "Ref": "Port" }), "8080"),
            (json!({ "Ref": "HostedZone" }), "Z0123456789ABCDEFGHIJ"),
            (json!({ "Ref": "Group" }), "stack-Group-1A2B3C"),
            (
                json!({ "Fn::Sub": "c.${Zone}:${Port}" }),
                "c.presto.internal:8080",
            ),
            (json!(5), "5"),
        ];
        for (value, expected) in cases {
            assert_eq!(resolve(&template, &value), expected, "{value}");
        }
    }

    #[test]
    fn the_pinned_image_has_a_stand_in_and_the_nodes_keep_their_image() {
        let template = json!({
            "Parameters": {},
            "Resources": {
                "Image": { "Type": "Custom::PinnedImage", "Properties": { "LatestImageParameter": "/aws/latest" } },
                "Nodes": { "Type": "AWS::EC2::LaunchTemplate", "Properties": { "ImageId": { "Fn::GetAtt": ["Image", "ImageId"] } } },
            },
        });
        let (kept, removed) = without_custom_resources(&template);
        assert_eq!(removed, ["Image"]);
        assert_eq!(
            kept["Resources"]["Nodes"]["Properties"]["ImageId"],
            json!({ "Ref": IMAGE_STAND_IN })
        );
        assert_eq!(kept["Parameters"][IMAGE_STAND_IN]["Default"], "/aws/latest");
    }

    #[test]
    fn removes_custom_resources_and_what_refers_to_them() {
        let template = json!({
            "Resources": {
                "Dns": { "Type": "Custom::CoordinatorDns", "Properties": { "ServiceToken": { "Ref": "Fn" } } },
                "Fn": { "Type": "AWS::Lambda::Function", "Properties": {} },
                "UsesDns": { "Type": "AWS::SSM::Parameter", "Properties": { "Value": { "Fn::GetAtt": ["Dns", "Ip"] } } },
                "UsesUser": { "Type": "AWS::SSM::Parameter", "Properties": { "Value": { "Fn::Sub": "${UsesDns}" } } },
                "Waits": { "Type": "AWS::Events::Rule", "DependsOn": ["Dns", "Fn"], "Properties": {} },
                "WaitsOne": { "Type": "AWS::Events::Rule", "DependsOn": "Dns", "Properties": {} },
            },
            "Outputs": {
                "Ip": { "Value": { "Fn::GetAtt": ["Dns", "Ip"] } },
                "Fn": { "Value": { "Ref": "Fn" } },
            },
        });
        let (kept, removed) = without_custom_resources(&template);
        assert_eq!(removed, ["Dns", "UsesDns", "UsesUser", "Ip"]);
        assert_eq!(
            kept,
            json!({
                "Resources": {
                    "Fn": { "Type": "AWS::Lambda::Function", "Properties": {} },
                    "Waits": { "Type": "AWS::Events::Rule", "DependsOn": ["Fn"], "Properties": {} },
                    "WaitsOne": { "Type": "AWS::Events::Rule", "Properties": {} },
                },
                "Outputs": { "Fn": { "Value": { "Ref": "Fn" } } },
            })
        );
    }
}

/// The user data of `launch_template` in the template `generate` prints with no
/// flags, in a stack created with the parameters `given`, as a node receives it.
pub fn user_data(launch_template: &str, given: &[(&str, &str)]) -> String {
    let template = generate(&[]);
    Stack::new(&template, given).text(
        &template["Resources"][launch_template]["Properties"]["LaunchTemplateData"]["UserData"],
    )
}

/// The secrets the stack makes, as the nodes' stand-in Secrets Manager holds them
/// (their ARNs as [`Stack`] resolves them).
pub mod stack_secrets {
    /// The nodes' shared secret's ARN.
    pub const SHARED_SECRET_ID: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:stack-InternalSharedSecret-1A2B3C";
    /// The nodes' shared secret.
    pub const SHARED_SECRET: &str =
        "4f6c2d8e9a0b1c3d5e7f9a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";
    /// The admin password secret's ARN.
    pub const ADMIN_SECRET_ID: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:stack-AdminPasswordSecret-1A2B3C";
    /// The admin password.
    pub const ADMIN_PASSWORD: &str = "AdminPassword0123456789abcdefghi";
    /// The coordinators' certificate secret's ARN.
    pub const TLS_SECRET_ID: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stack-TlsCertificate-CertificateSecretArn-1A2B3C";
}
