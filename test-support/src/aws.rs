//! The AWS emulator the test command starts on loopback, and sandboxes in it.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

use anyhow::{Context, Result};
pub use aws_config::SdkConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudformation::config::Credentials;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use presto_ha_contract::parameters;

/// The variable holding the emulator's endpoint, as the SDK reads it.
pub const ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL";
/// The region every test works in.
pub const REGION: &str = "us-east-1";

/// A group member: instance id, private IP, launch time.
pub type Member = (String, Ipv4Addr, SystemTime);

/// The emulator's endpoint. Panics unless it is a loopback address: a test never
/// talks to anything else, real AWS least of all.
pub fn endpoint() -> String {
    let Ok(endpoint) = std::env::var(ENDPOINT_VAR) else {
        panic!(
            "{ENDPOINT_VAR} is not set: run the tests with scripts/test.sh, which starts the AWS emulator"
        );
    };
    let host = endpoint
        .strip_prefix("http://")
        .and_then(|rest| rest.split([':', '/']).next())
        .unwrap_or_default();
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    assert!(
        loopback,
        "{ENDPOINT_VAR}={endpoint} is not an http:// loopback address"
    );
    endpoint
}

/// SDK configuration for the emulator: its endpoint, dummy credentials and a fixed
/// region, so nothing in the environment (profiles, instance metadata) is consulted.
pub async fn config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "testing", "testing", None, None, "emulator",
        ))
        .load()
        .await
}

/// A VPC of its own in the emulator, with two subnets in two AZs whose instances get
/// private IPs in 127.0.0.0/8: on this machine those are loopback addresses, so an
/// HTTP server bound to an instance's private IP plays that instance.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// A name unique in the emulator, for the stack and whatever else needs one.
    pub name: String,
    /// The VPC.
    pub vpc_id: String,
    /// Two subnets, in `us-east-1a` and `us-east-1b`.
    pub subnet_ids: Vec<String>,
    /// An EC2 key pair.
    pub key_name: String,
    /// A bucket holding placeholder Lambda zips at the template's default keys.
    pub code_bucket: String,
    /// The /24 the two subnets split between them (`x.y.z.0`).
    pub network: Ipv4Addr,
}

/// The highest third octet in use in the emulator when this process started.
static BASE_OCTET: tokio::sync::OnceCell<u8> = tokio::sync::OnceCell::const_new();
/// Sandboxes this process has made; each takes its own 127.0.x.0/24.
static NEXT_OCTET: AtomicU8 = AtomicU8::new(0);

impl Sandbox {
    /// Creates the sandbox. `name`, made unique with the sandbox's octet, names its
    /// resources.
    pub async fn create(config: &SdkConfig, name: &str) -> Result<Self> {
        Self::create_in(config, name, [127, 0]).await
    }

    /// A sandbox whose instances get addresses in 198.18.x.0/24, for a test network
    /// ([`crate::testnet::TestNet::on`] its `network`) whose hosts play them.
    pub async fn create_on_test_network(config: &SdkConfig, name: &str) -> Result<Self> {
        Self::create_in(config, name, [198, 18]).await
    }

    async fn create_in(config: &SdkConfig, name: &str, vpc: [u8; 2]) -> Result<Self> {
        let ec2 = aws_sdk_ec2::Client::new(config);
        let octet = Self::free_octet(&ec2).await?;
        let [a, b] = vpc;
        let name = &format!("{name}-{octet}");
        let tags = |kind: ResourceType| {
            TagSpecification::builder()
                .resource_type(kind)
                .tags(Tag::builder().key("Name").value(name).build())
                .build()
        };
        let vpc_id = ec2
            .create_vpc()
            .cidr_block(format!("{a}.{b}.0.0/16"))
            .tag_specifications(tags(ResourceType::Vpc))
            .send()
            .await
            .context("failed to create the sandbox VPC")?
            .vpc
            .and_then(|vpc| vpc.vpc_id)
            .context("CreateVpc returned no id")?;
        let mut subnet_ids = Vec::new();
        for (half, zone) in [(0, "us-east-1a"), (128, "us-east-1b")] {
            let subnet = ec2
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(format!("{a}.{b}.{octet}.{half}/25"))
                .availability_zone(zone)
                .tag_specifications(tags(ResourceType::Subnet))
                .send()
                .await
                .context("failed to create a sandbox subnet")?;
            subnet_ids.push(
                subnet
                    .subnet
                    .and_then(|s| s.subnet_id)
                    .context("CreateSubnet returned no id")?,
            );
        }
        let key_name = format!("{name}-key");
        // The names below are this sandbox's own: one that exists already is one an
        // earlier attempt of the same call created (the SDK retries a call the emulator
        // took but answered too late).
        let created = ec2.create_key_pair().key_name(&key_name).send().await;
        if let Err(error) = created
            && error.code() != Some("InvalidKeyPair.Duplicate")
        {
            return Err(error).context("failed to create the sandbox key pair");
        }
        let code_bucket = format!("{name}-code").to_lowercase();
        let s3 = aws_sdk_s3::Client::new(config);
        let created = s3.create_bucket().bucket(&code_bucket).send().await;
        if let Err(error) = created
            && !error
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you())
        {
            return Err(error).context("failed to create the sandbox code bucket");
        }
        let defaults = presto_ha_generator::settings::StackSettings::default();
        for key in [defaults.custom_resource_code_key, defaults.watcher_code_key] {
            s3.put_object()
                .bucket(&code_bucket)
                .key(key.as_str())
                .body(aws_sdk_s3::primitives::ByteStream::from_static(
                    b"placeholder",
                ))
                .send()
                .await
                .with_context(|| format!("failed to upload {key}"))?;
        }
        Ok(Self {
            name: name.clone(),
            vpc_id,
            subnet_ids,
            key_name,
            code_bucket,
            network: Ipv4Addr::new(a, b, octet, 0),
        })
    }

    /// A third octet no subnet in the emulator uses yet. Test binaries run one after
    /// another against one emulator, so the highest octet in use when this process
    /// first asks is the base, and the tests of this process count up from it.
    async fn free_octet(ec2: &aws_sdk_ec2::Client) -> Result<u8> {
        let base = *BASE_OCTET
            .get_or_try_init(|| async {
                let subnets = ec2
                    .describe_subnets()
                    .send()
                    .await
                    .context("failed to list subnets")?;
                anyhow::Ok(
                    subnets
                        .subnets()
                        .iter()
                        .filter_map(|s| {
                            let cidr = s.cidr_block()?;
                            cidr.strip_prefix("127.0.")
                                .or_else(|| cidr.strip_prefix("198.18."))?
                                .split('.')
                                .next()?
                                .parse::<u8>()
                                .ok()
                        })
                        .max()
                        .unwrap_or(0),
                )
            })
            .await?;
        let octet = u16::from(base) + 1 + u16::from(NEXT_OCTET.fetch_add(1, Ordering::SeqCst));
        u8::try_from(octet)
            .ok()
            .filter(|octet| *octet < 255)
            .context("the emulator has no free third octet left for a sandbox's /24; restart it")
    }

    /// The stack parameters that place a stack in this sandbox.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let subnets = self.subnet_ids.join(",");
        vec![
            (parameters::VPC_ID, self.vpc_id.clone()),
            (parameters::COORDINATOR_SUBNET_IDS, subnets.clone()),
            (parameters::WORKER_SUBNET_IDS, subnets),
            (parameters::CLIENT_CIDR, "127.0.0.0/8".into()),
            (parameters::SSH_CIDR, "127.0.0.0/8".into()),
            (parameters::KEY_NAME, self.key_name.clone()),
            (parameters::LAMBDA_CODE_BUCKET, self.code_bucket.clone()),
        ]
    }
}

/// The group's InService members, longest-running first (ties by instance id):
/// the order in which the Lambdas prefer coordinators.
pub async fn in_service_members(config: &SdkConfig, group: &str) -> Vec<Member> {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let ids: Vec<String> = group_instances(config, group)
        .await
        .iter()
        .filter(|i| {
            i.lifecycle_state()
                .is_some_and(|s| s.as_str() == "InService")
        })
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let described = ec2
        .describe_instances()
        .set_instance_ids(Some(ids))
        .send()
        .await
        .expect("DescribeInstances");
    let mut members: Vec<_> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                i.instance_id().expect("id").to_owned(),
                i.private_ip_address().expect("ip").parse().expect("IPv4"),
                SystemTime::try_from(*i.launch_time().expect("launch time")).expect("time"),
            )
        })
        .collect();
    members.sort_by_key(|(id, _, launched)| (*launched, id.clone()));
    members
}

/// The record sets of `zone`, as the emulator holds them.
async fn record_sets(
    config: &SdkConfig,
    zone: &str,
) -> Vec<aws_sdk_route53::types::ResourceRecordSet> {
    aws_sdk_route53::Client::new(config)
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .expect("ListResourceRecordSets")
        .resource_record_sets()
        .to_vec()
}

/// The record sets of `zone`, as `(name, type)`.
pub async fn zone_records(config: &SdkConfig, zone: &str) -> Vec<(String, String)> {
    record_sets(config, zone)
        .await
        .iter()
        .map(|set| (set.name().to_owned(), set.r#type().as_str().to_owned()))
        .collect()
}

/// The A records of `zone` whose name starts with `prefix`, as `(name, values)`.
pub async fn a_records(config: &SdkConfig, zone: &str, prefix: &str) -> Vec<(String, Vec<String>)> {
    record_sets(config, zone)
        .await
        .iter()
        .filter(|set| set.r#type().as_str() == "A" && set.name().starts_with(prefix))
        .map(|set| (set.name().to_owned(), values(set)))
        .collect()
}

/// The TXT values of the record `name` (with its final dot) in `zone`, quotes and all.
pub async fn txt_values(config: &SdkConfig, zone: &str, name: &str) -> Vec<String> {
    record_sets(config, zone)
        .await
        .iter()
        .filter(|set| set.r#type().as_str() == "TXT" && set.name() == name)
        .flat_map(values)
        .collect()
}

/// The values of a record set.
fn values(set: &aws_sdk_route53::types::ResourceRecordSet) -> Vec<String> {
    set.resource_records()
        .iter()
        .map(|r| r.value().to_owned())
        .collect()
}

/// The reserved concurrency of `function`, `None` when none is reserved.
pub async fn reserved_concurrency(config: &SdkConfig, function: &str) -> Option<i32> {
    aws_sdk_lambda::Client::new(config)
        .get_function_concurrency()
        .function_name(function)
        .send()
        .await
        .expect("GetFunctionConcurrency")
        .reserved_concurrent_executions()
}

/// The instances `group` holds, as Auto Scaling describes them.
async fn group_instances(
    config: &SdkConfig,
    group: &str,
) -> Vec<aws_sdk_autoscaling::types::Instance> {
    let groups = aws_sdk_autoscaling::Client::new(config)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .expect("DescribeAutoScalingGroups");
    // A group that is gone has no instances.
    groups
        .auto_scaling_groups()
        .first()
        .map(|g| g.instances().to_vec())
        .unwrap_or_default()
}

/// The members of `group` that Auto Scaling protects from scale-in, sorted.
pub async fn protected_members(config: &SdkConfig, group: &str) -> Vec<String> {
    let mut protected: Vec<String> = group_instances(config, group)
        .await
        .iter()
        .filter(|i| i.protected_from_scale_in() == Some(true))
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect();
    protected.sort();
    protected
}

/// The A record `name` (without the final dot) in `zone`, as the emulator holds it:
/// its values and TTL.
pub async fn a_record(config: &SdkConfig, zone: &str, name: &str) -> Option<(Vec<String>, i64)> {
    record_sets(config, zone)
        .await
        .iter()
        .find(|set| set.name().trim_end_matches('.') == name && set.r#type().as_str() == "A")
        .map(|set| (values(set), set.ttl().unwrap_or_default()))
}

/// Every A record of `zone`, as the emulator holds it: its name (with the final dot),
/// values and TTL.
pub async fn a_records_with_ttl(
    config: &SdkConfig,
    zone: &str,
) -> Vec<(String, Vec<Ipv4Addr>, u32)> {
    record_sets(config, zone)
        .await
        .iter()
        .filter(|set| set.r#type().as_str() == "A")
        .map(|set| {
            let ips = values(set).iter().filter_map(|v| v.parse().ok()).collect();
            let ttl = u32::try_from(set.ttl().unwrap_or_default()).unwrap_or_default();
            (set.name().to_owned(), ips, ttl)
        })
        .collect()
}

/// Creates or replaces the A record `name` (without the final dot) in `zone` with
/// `ip`, at the record's TTL: the record as the custom resource seeds it.
pub async fn set_a_record(config: &SdkConfig, zone: &str, name: &str, ip: Ipv4Addr) {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    let set = ResourceRecordSet::builder()
        .name(format!("{name}."))
        .r#type(RrType::A)
        .ttl(i64::from(presto_ha_contract::RECORD_TTL_SECONDS))
        .resource_records(
            ResourceRecord::builder()
                .value(ip.to_string())
                .build()
                .expect("record"),
        )
        .build()
        .expect("set");
    let change = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(set)
        .build()
        .expect("change");
    aws_sdk_route53::Client::new(config)
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(change)
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("ChangeResourceRecordSets");
}

/// The environment and timeout of `function`, as the emulator's stack created it.
/// Read as raw JSON: the emulator gives a number where the template's value is one
/// (a `Ref` to a number parameter), which Lambda itself would have turned into a
/// string, and the SDK refuses.
pub async fn function_environment(function: &str) -> (Vec<(String, String)>, std::time::Duration) {
    let url = format!(
        "{}/2015-03-31/functions/{function}/configuration",
        endpoint()
    );
    // The emulator tells services apart by the credential scope of the signature.
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/lambda/aws4_request, SignedHeaders=host, Signature=0"
    );
    let body = reqwest::Client::new()
        .get(&url)
        .header("Authorization", scope)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("GetFunctionConfiguration")
        .bytes()
        .await
        .expect("a function configuration");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let environment = body["Environment"]["Variables"]
        .as_object()
        .expect("the function's environment")
        .iter()
        .map(|(k, v)| {
            let value = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            (k.clone(), value)
        })
        .collect();
    let timeout = body["Timeout"].as_u64().expect("the function's timeout");
    (environment, std::time::Duration::from_secs(timeout))
}

/// Creates `replacement`, a group of `size` instances launched from `group`'s launch
/// template in its subnets, as CloudFormation builds one beside the old for an
/// `AutoScalingReplacingUpdate`.
pub async fn replacement_group(config: &SdkConfig, group: &str, replacement: &str, size: i32) {
    let asg = aws_sdk_autoscaling::Client::new(config);
    let described = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .expect("DescribeAutoScalingGroups");
    let old = &described.auto_scaling_groups()[0];
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(replacement)
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .set_launch_template_id(
                    old.launch_template()
                        .and_then(|t| t.launch_template_id())
                        .map(str::to_owned),
                )
                .version("$Latest")
                .build(),
        )
        .min_size(size)
        .max_size(size)
        .desired_capacity(size)
        .vpc_zone_identifier(old.vpc_zone_identifier().unwrap_or_default())
        .send()
        .await
        .expect("CreateAutoScalingGroup");
}

/// Deletes `group` and its instances, as CloudFormation deletes a replaced group.
pub async fn delete_group(config: &SdkConfig, group: &str) {
    aws_sdk_autoscaling::Client::new(config)
        .delete_auto_scaling_group()
        .auto_scaling_group_name(group)
        .force_delete(true)
        .send()
        .await
        .expect("DeleteAutoScalingGroup");
}

/// Creates the secret `name` holding `value`; its ARN.
pub async fn create_secret(config: &SdkConfig, name: &str, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("CreateSecret")
        .arn
        .expect("the secret's ARN")
}
