//! The AWS emulator the test command starts on loopback, and sandboxes in it.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

use anyhow::{Context, Result};
pub use aws_config::SdkConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudformation::config::Credentials;
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
}

/// The highest third octet in use in the emulator when this process started.
static BASE_OCTET: tokio::sync::OnceCell<u8> = tokio::sync::OnceCell::const_new();
/// Sandboxes this process has made; each takes its own 127.0.x.0/24.
static NEXT_OCTET: AtomicU8 = AtomicU8::new(0);

impl Sandbox {
    /// Creates the sandbox. `name`, made unique with the sandbox's octet, names its
    /// resources.
    pub async fn create(config: &SdkConfig, name: &str) -> Result<Self> {
        let ec2 = aws_sdk_ec2::Client::new(config);
        let octet = Self::free_octet(&ec2).await?;
        let name = &format!("{name}-{octet}");
        let tags = |kind: ResourceType| {
            TagSpecification::builder()
                .resource_type(kind)
                .tags(Tag::builder().key("Name").value(name).build())
                .build()
        };
        let vpc_id = ec2
            .create_vpc()
            .cidr_block("127.0.0.0/16")
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
                .cidr_block(format!("127.0.{octet}.{half}/25"))
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
        ec2.create_key_pair()
            .key_name(&key_name)
            .send()
            .await
            .context("failed to create the sandbox key pair")?;
        let code_bucket = format!("{name}-code").to_lowercase();
        let s3 = aws_sdk_s3::Client::new(config);
        s3.create_bucket()
            .bucket(&code_bucket)
            .send()
            .await
            .context("failed to create the sandbox code bucket")?;
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
                            s.cidr_block()?
                                .strip_prefix("127.0.")?
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
            .context("the emulator has no free 127.0.x.0/24 left; restart it")
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
    groups.auto_scaling_groups()[0].instances().to_vec()
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
