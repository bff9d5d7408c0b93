//! The real custom-resource binary, driven through the Lambda Runtime API, against
//! the stack template deployed into the AWS emulator (the custom resource itself left
//! out: the emulator cannot run it), with coordinators played by HTTP servers on the
//! instances' private IPs and the ResponseURL pointing at a local capture server.
//!
//! Each case asserts the exact answer that was PUT and the record's state in the
//! emulator. Compare-and-swap conflicts and throttling are covered by the unit tests
//! against the faithful in-memory model and mocked SDK responses: the emulator
//! enforces neither.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use presto_ha_contract::dns_resource as property;
use presto_ha_test_support::aws::SdkConfig;
use presto_ha_test_support::aws::{
    Member, Sandbox, a_record, config, in_service_members as members, protected_members,
    replacement_group,
};
use presto_ha_test_support::capture::{CapturedPut, ResponseCapture};
use presto_ha_test_support::lambda::{Invocation, LambdaProcess};
use presto_ha_test_support::presto::{Behaviour, FakePresto};
use presto_ha_test_support::stack::{DeployedStack, deploy};
use presto_ha_test_support::templates::{generate, without_custom_resources};
use serde_json::{Value, json};

/// A malformed event: request type, properties, physical id, old properties, and the
/// start of the Reason it must be answered with.
type MalformedCase<'a> = (&'a str, Value, Option<&'a str>, Option<Value>, String);

const PORT: u16 = 28080;
const RECORD: &str = "coordinator.presto.internal";
const DEADLINE: Duration = Duration::from_secs(60);

/// The id of the stack named `name` in the events, and the one the function serves.
fn stack_id(name: &str) -> String {
    format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/0000")
}

struct Fixture {
    config: SdkConfig,
    stack: DeployedStack,
    /// Coordinators by instance id: private IP and launch time.
    coordinators: Vec<Member>,
    presto: HashMap<Ipv4Addr, FakePresto>,
    lambda: LambdaProcess,
    capture: ResponseCapture,
    route53: aws_sdk_route53::Client,
    requests: u32,
}

impl Fixture {
    /// A stack with `behaviours.len()` coordinators, the first (by launch time, then
    /// instance id) behaving as `behaviours[0]`, and so on; `None` serves nothing.
    async fn new(name: &str, behaviours: &[Option<Behaviour>]) -> Self {
        let config = config().await;
        let sandbox = Sandbox::create(&config, name).await.expect("sandbox");
        let count = behaviours.len().to_string();
        let (template, _) = without_custom_resources(&generate(&[]));
        let mut parameters = sandbox.parameters();
        parameters.push(("HACoordinatorsCount", count));
        parameters.push(("PrestoHttpPort", PORT.to_string()));
        let stack = deploy(&config, &sandbox.name, &template, &parameters)
            .await
            .expect("stack");
        let coordinators = members(&config, &stack.outputs["CoordinatorGroupName"]).await;
        let mut presto = HashMap::new();
        for ((_, ip, _), behaviour) in coordinators.iter().zip(behaviours) {
            if let Some(behaviour) = behaviour {
                presto.insert(*ip, FakePresto::start(*ip, PORT, *behaviour).await);
            }
        }
        let binary = Path::new(env!("CARGO_BIN_EXE_presto-ha-custom-resource"));
        let capture = ResponseCapture::start().await;
        let served = capture.custom_resource_env(&stack_id(&stack.name));
        Self {
            route53: aws_sdk_route53::Client::new(&config),
            config,
            stack,
            coordinators,
            presto,
            lambda: LambdaProcess::start(binary, name, &served).await,
            capture,
            requests: 0,
        }
    }

    fn zone(&self) -> &str {
        &self.stack.outputs["HostedZoneId"]
    }

    fn group(&self) -> &str {
        &self.stack.outputs["CoordinatorGroupName"]
    }

    fn physical_id(&self, record: &str) -> String {
        format!("{}/{record}", self.zone())
    }

    /// The properties CloudFormation sends, every scalar a string.
    fn properties(&self) -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:dns",
            "ServiceTimeout": "360",
            property::HOSTED_ZONE_ID: self.zone(),
            property::RECORD_NAME: RECORD,
            property::TTL: "5",
            property::COORDINATOR_GROUP: self.group(),
            property::PRESTO_PORT: PORT.to_string(),
            property::PROBE_TIMEOUT_SECONDS: "1",
            property::PROBE_INTERVAL_SECONDS: "1",
            property::GRACE_SECONDS: "5",
        })
    }

    fn event(
        &mut self,
        request_type: &str,
        properties: Value,
        physical_id: Option<&str>,
        old: Option<Value>,
    ) -> Value {
        self.requests += 1;
        let mut event = json!({
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:dns",
            "ResponseURL": self.capture.url(),
            "StackId": stack_id(&self.stack.name),
            "RequestId": format!("request-{}", self.requests),
            "LogicalResourceId": "CoordinatorDns",
            "ResourceType": "Custom::CoordinatorDns",
            "ResourceProperties": properties,
        });
        if let Some(id) = physical_id {
            event["PhysicalResourceId"] = id.into();
        }
        if let Some(old) = old {
            event["OldResourceProperties"] = old;
        }
        event
    }

    /// Invokes the function and returns the one answer it PUT.
    async fn answer(&mut self, event: &Value, deadline: Duration) -> CapturedPut {
        let invocation = self.lambda.invoke(event, deadline).await;
        assert_eq!(
            invocation,
            Invocation::Response(Value::Null),
            "log:\n{}",
            self.lambda.log_text()
        );
        let mut puts = self.capture.take();
        assert_eq!(puts.len(), 1, "exactly one answer per event: {puts:?}");
        let put = puts.remove(0);
        assert_eq!(
            put.content_type.as_deref(),
            Some(""),
            "the pre-signed URL needs an empty Content-Type"
        );
        assert!(put.length <= 4096);
        put
    }

    /// The record's addresses and TTL in the emulator.
    async fn record(&self, name: &str) -> Option<(Vec<String>, i64)> {
        a_record(&self.config, self.zone(), name).await
    }

    /// The coordinator every caller should choose among `candidates`: the longest
    /// running, ties broken by instance id.
    fn first_of(&self, candidates: impl Fn(&Ipv4Addr) -> bool) -> &Member {
        self.coordinators
            .iter()
            .filter(|(_, ip, _)| candidates(ip))
            .min_by_key(|(id, _, launched)| (*launched, id.clone()))
            .expect("a candidate")
    }

    fn success(
        &self,
        put: &CapturedPut,
        request_id: u32,
        physical_id: &str,
        coordinator: &Member,
        record: &str,
    ) {
        assert_eq!(
            put.body,
            json!({
                "Status": "SUCCESS",
                "Reason": null,
                "PhysicalResourceId": physical_id,
                "StackId": stack_id(&self.stack.name),
                "RequestId": format!("request-{request_id}"),
                "LogicalResourceId": "CoordinatorDns",
                "NoEcho": false,
                "Data": {
                    "CoordinatorInstanceId": coordinator.0,
                    "CoordinatorIp": coordinator.1.to_string(),
                    "RecordName": record,
                },
            })
        );
    }
}

#[tokio::test]
async fn create_update_and_delete_keep_the_record_right() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-lifecycle", &[Some(Behaviour::Healthy); 3]).await;
    let id = f.physical_id(RECORD);

    // Create, with the first two PUTs of the answer refused: it is retried.
    f.capture.fail_next(2);
    let event = f.event("Create", f.properties(), None, None);
    let put = f.answer(&event, DEADLINE).await;
    let chosen = f.first_of(|_| true).clone();
    f.success(&put, 1, &id, &chosen, RECORD);
    assert_eq!(
        f.record(RECORD).await,
        Some((vec![chosen.1.to_string()], 5))
    );
    // Exactly the coordinator the record points at is protected from scale-in.
    assert_eq!(
        protected_members(&f.config, f.group()).await,
        std::slice::from_ref(&chosen.0)
    );

    // The same event delivered again (Lambda's async retry) changes nothing.
    let put = f.answer(&event, DEADLINE).await;
    f.success(&put, 1, &id, &chosen, RECORD);

    // An update that changes nothing of the record keeps it, even when another
    // member would now look better.
    f.presto[&chosen.1].set(Behaviour::Starting);
    let event = f.event("Update", f.properties(), Some(&id), Some(f.properties()));
    let put = f.answer(&event, DEADLINE).await;
    f.success(&put, 2, &id, &chosen, RECORD);
    assert_eq!(
        f.record(RECORD).await,
        Some((vec![chosen.1.to_string()], 5))
    );

    // A TTL change is applied in place.
    let mut longer = f.properties();
    longer[property::TTL] = "30".into();
    let event = f.event("Update", longer, Some(&id), Some(f.properties()));
    let put = f.answer(&event, DEADLINE).await;
    f.success(&put, 3, &id, &chosen, RECORD);
    assert_eq!(
        f.record(RECORD).await,
        Some((vec![chosen.1.to_string()], 30))
    );

    // Delete removes it; a second Delete finds nothing and still succeeds.
    for request in [4, 5] {
        let event = f.event("Delete", f.properties(), Some(&id), None);
        let put = f.answer(&event, DEADLINE).await;
        assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
        assert_eq!(put.body["PhysicalResourceId"], id.as_str());
        assert_eq!(put.body["RequestId"], format!("request-{request}"));
        assert_eq!(f.record(RECORD).await, None);
    }
}

#[tokio::test]
async fn the_active_coordinator_survives_a_scale_in() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-scale-in", &[Some(Behaviour::Healthy); 3]).await;
    let event = f.event("Create", f.properties(), None, None);
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
    let active = put.body["Data"]["CoordinatorInstanceId"]
        .as_str()
        .expect("the active coordinator")
        .to_owned();
    // HACoordinatorsCount lowered to 1: the group scales in to one member. Unprotected,
    // the emulator (like Auto Scaling's default policy here) would remove the oldest
    // first, which is the active one.
    aws_sdk_autoscaling::Client::new(&f.config)
        .update_auto_scaling_group()
        .auto_scaling_group_name(f.group())
        .min_size(1)
        .max_size(1)
        .desired_capacity(1)
        .send()
        .await
        .expect("UpdateAutoScalingGroup");
    let left: Vec<String> = members(&f.config, f.group())
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(left, [active]);
}

#[tokio::test]
async fn the_image_is_pinned_at_create_and_kept_until_asked_otherwise() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-image", &[Some(Behaviour::Healthy)]).await;
    let latest = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
    let image_event =
        |f: &mut Fixture, kind: &str, image: &str, parameter: &str, physical: Option<&str>| {
            let properties = json!({
                "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:dns",
                "ImageId": image,
                "LatestImageParameter": parameter,
            });
            let mut event = f.event(
                kind,
                properties.clone(),
                physical,
                (kind == "Update").then_some(properties),
            );
            event["ResourceType"] = "Custom::PinnedImage".into();
            event["LogicalResourceId"] = "PinnedImage".into();
            event
        };
    // Create: the image the SSM parameter names now, as the physical id and attribute.
    let event = image_event(&mut f, "Create", "", latest, None);
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
    let pinned = put.body["PhysicalResourceId"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(pinned.starts_with("ami-"), "{pinned}");
    assert_eq!(put.body["Data"]["ImageId"], pinned.as_str());
    // An update that asks nothing keeps it, whatever the parameter says now.
    let event = image_event(
        &mut f,
        "Update",
        "",
        "/aws/service/no/such/parameter",
        Some(&pinned),
    );
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
    assert_eq!(put.body["PhysicalResourceId"], pinned.as_str());
    // An image named is taken.
    let event = image_event(
        &mut f,
        "Update",
        "ami-0123456789abcdef0",
        latest,
        Some(&pinned),
    );
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["PhysicalResourceId"], "ami-0123456789abcdef0");
    assert_eq!(put.body["Data"]["ImageId"], "ami-0123456789abcdef0");
    // Asking for the latest looks again; a parameter that is not there is named.
    let event = image_event(
        &mut f,
        "Update",
        "latest",
        "/aws/service/no/such/parameter",
        Some(&pinned),
    );
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["Status"], "FAILED", "{}", put.body);
    let reason = put.body["Reason"].as_str().expect("reason");
    assert!(
        reason.starts_with(
            "GetParameter failed for parameter /aws/service/no/such/parameter: ParameterNotFound"
        ),
        "{reason}"
    );
    assert_eq!(put.body["PhysicalResourceId"], pinned.as_str());
    let event = image_event(&mut f, "Create", "ubuntu-22", latest, None);
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["Status"], "FAILED", "{}", put.body);
    assert!(
        put.body["Reason"].as_str().is_some_and(
            |r| r.starts_with("property ImageId: must be empty, 'latest' or an AMI id")
        ),
        "{}",
        put.body
    );
    // Delete releases it; nothing is removed.
    let event = image_event(&mut f, "Delete", "", latest, Some(&pinned));
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
}

/// `Custom::ExchangeBucket`: a Delete empties the bucket (more than one listing's page
/// of objects, and an upload under way) so that CloudFormation can delete it; a bucket
/// already gone is no error.
#[tokio::test]
async fn the_exchange_bucket_is_emptied_for_its_deletion() {
    use presto_ha_contract::exchange_resource;
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-exchange", &[Some(Behaviour::Healthy)]).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&f.config)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("{}-exchangebucket", f.stack.name);
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    const SPOOLED: usize = 1_005;
    // Sixteen at a time: a thousand at once time out connecting on a busy machine.
    use futures_util::StreamExt;
    let puts = futures_util::stream::iter(0..SPOOLED)
        .map(|n| {
            s3.put_object()
                .bucket(&bucket)
                .key(format!("0a/{n:04}/exchange.data"))
                .body(b"spooled".to_vec().into())
                .send()
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    for put in puts {
        put.expect("an object");
    }
    s3.create_multipart_upload()
        .bucket(&bucket)
        .key("0b/exchange.data")
        .send()
        .await
        .expect("an upload under way");
    let exchange_event = |f: &mut Fixture, kind: &str| {
        let properties = json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:dns",
            exchange_resource::BUCKET_NAME: bucket,
        });
        let mut event = f.event(
            kind,
            properties,
            (kind != "Create").then_some(&bucket),
            None,
        );
        event["ResourceType"] = exchange_resource::TYPE.into();
        event["LogicalResourceId"] = "ExchangeBucketCleanup".into();
        event
    };
    // Create names the bucket and leaves it as it is.
    let event = exchange_event(&mut f, "Create");
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
    assert_eq!(put.body["PhysicalResourceId"], bucket.as_str());
    assert_eq!(
        put.body["Data"][exchange_resource::BUCKET_NAME],
        bucket.as_str()
    );
    // The keys of the bucket's first listing page.
    let listed = || async {
        let page = s3.list_objects_v2().bucket(&bucket).send().await;
        page.expect("listed").key_count().unwrap_or_default()
    };
    assert_eq!(listed().await, 1_000, "a full first page before the Delete");
    // Delete empties it, and says so in the stack's events.
    let event = exchange_event(&mut f, "Delete");
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
    assert_eq!(
        put.body["Reason"],
        format!("emptied s3://{bucket} for its deletion: {SPOOLED} objects, 1 uploads under way")
    );
    assert_eq!(listed().await, 0);
    let uploads = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .expect("uploads");
    assert!(uploads.uploads().is_empty(), "{uploads:?}");
    s3.delete_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("an empty bucket goes");
    // A Delete again (CloudFormation retrying) finds the bucket gone: nothing to do.
    let event = exchange_event(&mut f, "Delete");
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
    assert_eq!(put.body["Reason"], Value::Null);
}

#[tokio::test]
async fn create_prefers_a_healthy_coordinator_over_a_starting_one() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new(
        "cr-starting",
        &[Some(Behaviour::Starting), Some(Behaviour::Healthy)],
    )
    .await;
    let event = f.event("Create", f.properties(), None, None);
    let put = f.answer(&event, DEADLINE).await;
    let healthy = f.coordinators[1].clone();
    f.success(&put, 1, &f.physical_id(RECORD), &healthy, RECORD);
    assert_eq!(
        f.record(RECORD).await,
        Some((vec![healthy.1.to_string()], 5))
    );
}

#[tokio::test]
async fn create_with_no_coordinator_answering_still_seeds_the_first() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-silent", &[None, None]).await;
    let event = f.event("Create", f.properties(), None, None);
    // A short deadline bounds the wait for a healthy coordinator (deadline less the
    // time kept for writing): the choice then falls on the longest-running member.
    let put = f.answer(&event, Duration::from_secs(26)).await;
    let first = f.coordinators[0].clone();
    f.success(&put, 1, &f.physical_id(RECORD), &first, RECORD);
    assert_eq!(f.record(RECORD).await, Some((vec![first.1.to_string()], 5)));
}

#[tokio::test]
async fn create_with_an_empty_group_fails_and_the_following_delete_succeeds() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-empty", &[Some(Behaviour::Healthy)]).await;
    let asg = aws_sdk_autoscaling::Client::new(&f.config);
    asg.update_auto_scaling_group()
        .auto_scaling_group_name(f.group())
        .min_size(0)
        .send()
        .await
        .expect("allow an empty group");
    let ids: Vec<String> = f.coordinators.iter().map(|(id, _, _)| id.clone()).collect();
    asg.detach_instances()
        .auto_scaling_group_name(f.group())
        .set_instance_ids(Some(ids))
        .should_decrement_desired_capacity(true)
        .send()
        .await
        .expect("empty the group");
    assert!(
        members(&f.config, f.group()).await.is_empty(),
        "the emulator kept instances"
    );

    let event = f.event("Create", f.properties(), None, None);
    let put = f.answer(&event, DEADLINE).await;
    let id = f.physical_id(RECORD);
    assert_eq!(put.body["Status"], "FAILED");
    assert_eq!(put.body["PhysicalResourceId"], id.as_str());
    assert_eq!(
        put.body["Reason"],
        format!(
            "coordinator group {} has no InService instance with a private IP",
            f.group()
        )
    );
    assert_eq!(f.record(RECORD).await, None);

    let event = f.event("Delete", f.properties(), Some(&id), None);
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["Status"], "SUCCESS");
    assert_eq!(f.record(RECORD).await, None);
}

#[tokio::test]
async fn a_renamed_record_is_a_replacement_and_the_old_one_goes_with_its_delete() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-rename", &[Some(Behaviour::Healthy)]).await;
    let old_id = f.physical_id(RECORD);
    let event = f.event("Create", f.properties(), None, None);
    f.answer(&event, DEADLINE).await;

    let mut renamed = f.properties();
    renamed[property::RECORD_NAME] = "presto.presto.internal".into();
    let event = f.event(
        "Update",
        renamed.clone(),
        Some(&old_id),
        Some(f.properties()),
    );
    let put = f.answer(&event, DEADLINE).await;
    let only = f.coordinators[0].clone();
    f.success(
        &put,
        2,
        &f.physical_id("presto.presto.internal"),
        &only,
        "presto.presto.internal",
    );
    assert_eq!(
        f.record("presto.presto.internal").await,
        Some((vec![only.1.to_string()], 5))
    );
    assert!(
        f.record(RECORD).await.is_some(),
        "the old record stays until its Delete"
    );

    // CloudFormation then deletes the old resource, with the old properties.
    let event = f.event("Delete", f.properties(), Some(&old_id), None);
    assert_eq!(f.answer(&event, DEADLINE).await.body["Status"], "SUCCESS");
    assert_eq!(f.record(RECORD).await, None);
    assert!(
        f.record("presto.presto.internal").await.is_some(),
        "the new record is untouched"
    );
}

#[tokio::test]
async fn an_update_moves_a_record_whose_target_was_terminated() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new(
        "cr-terminated",
        &[Some(Behaviour::Healthy), Some(Behaviour::Healthy)],
    )
    .await;
    let id = f.physical_id(RECORD);
    let event = f.event("Create", f.properties(), None, None);
    f.answer(&event, DEADLINE).await;
    let (gone, standby) = (f.coordinators[0].clone(), f.coordinators[1].clone());
    assert_eq!(f.record(RECORD).await, Some((vec![gone.1.to_string()], 5)));

    let ec2 = aws_sdk_ec2::Client::new(&f.config);
    ec2.terminate_instances()
        .instance_ids(&gone.0)
        .send()
        .await
        .expect("terminate");
    f.presto.remove(&gone.1);

    let event = f.event("Update", f.properties(), Some(&id), Some(f.properties()));
    let put = f.answer(&event, DEADLINE).await;
    f.success(&put, 2, &id, &standby, RECORD);
    assert_eq!(
        f.record(RECORD).await,
        Some((vec![standby.1.to_string()], 5))
    );
}

#[tokio::test]
async fn an_update_to_a_replaced_coordinator_group_moves_the_record_into_it() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-replaced", &[Some(Behaviour::Healthy)]).await;
    let id = f.physical_id(RECORD);
    let event = f.event("Create", f.properties(), None, None);
    f.answer(&event, DEADLINE).await;

    // A new group, as CloudFormation builds for an AutoScalingReplacingUpdate.
    let new_group = format!("{}-replacement", f.group());
    replacement_group(&f.config, f.group(), &new_group, 1).await;
    let replacement = members(&f.config, &new_group).await;
    assert_eq!(replacement.len(), 1);
    let new_member = replacement[0].clone();
    f.presto.insert(
        new_member.1,
        FakePresto::start(new_member.1, PORT, Behaviour::Healthy).await,
    );
    f.coordinators.push(new_member.clone());

    let mut properties = f.properties();
    properties[property::COORDINATOR_GROUP] = new_group.as_str().into();
    let event = f.event("Update", properties, Some(&id), Some(f.properties()));
    let put = f.answer(&event, DEADLINE).await;
    f.success(&put, 2, &id, &new_member, RECORD);
    assert_eq!(
        f.record(RECORD).await,
        Some((vec![new_member.1.to_string()], 5))
    );
}

#[tokio::test]
async fn an_update_to_a_replaced_group_keeps_the_old_one_until_its_queries_finish() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-drain", &[Some(Behaviour::Healthy)]).await;
    let id = f.physical_id(RECORD);
    let event = f.event("Create", f.properties(), None, None);
    f.answer(&event, DEADLINE).await;
    let old_active = f.coordinators[0].clone();
    let new_group = format!("{}-replacement", f.group());
    replacement_group(&f.config, f.group(), &new_group, 1).await;
    let new_member = members(&f.config, &new_group).await[0].clone();
    f.presto.insert(
        new_member.1,
        FakePresto::start(new_member.1, PORT, Behaviour::Healthy).await,
    );
    // Two queries on the old active coordinator, finishing 45 s after the update
    // starts: after the 35 s clients are given to follow the record.
    let old = f.presto[&old_active.1].control();
    old.set_running_queries(2);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(45)).await;
        old.set_running_queries(0);
    });

    let drained = |group: &str| {
        let mut properties = f.properties();
        properties[property::COORDINATOR_GROUP] = group.into();
        properties[property::DRAIN_SECONDS] = "120".into();
        properties[property::CLIENT_PORT] = PORT.to_string().into();
        properties
    };
    let (new, old) = (drained(&new_group), drained(f.group()));
    let event = f.event("Update", new, Some(&id), Some(old));
    let started = std::time::Instant::now();
    let put = f.answer(&event, Duration::from_secs(300)).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(45), "answered after {took:?}");
    assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
    let reason = put.body["Reason"].as_str().unwrap_or_default();
    let expected = format!(
        "drained coordinator group {}: no query left after 4",
        f.group()
    );
    assert!(reason.starts_with(&expected), "{reason}");
    assert_eq!(
        f.record(RECORD).await,
        Some((vec![new_member.1.to_string()], 5))
    );
}

#[tokio::test]
async fn a_delete_after_the_zone_is_gone_succeeds() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-zone-gone", &[Some(Behaviour::Healthy)]).await;
    let id = f.physical_id(RECORD);
    let event = f.event("Create", f.properties(), None, None);
    f.answer(&event, DEADLINE).await;

    // Someone removed the record and the zone behind the stack's back.
    let event = f.event("Delete", f.properties(), Some(&id), None);
    f.answer(&event, DEADLINE).await;
    f.route53
        .delete_hosted_zone()
        .id(f.zone())
        .send()
        .await
        .expect("delete zone");

    let event = f.event("Delete", f.properties(), Some(&id), None);
    let put = f.answer(&event, DEADLINE).await;
    assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
    assert_eq!(put.body["Reason"], Value::Null);
}

#[tokio::test]
async fn a_coordinator_that_never_answers_gets_failed_before_the_deadline() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-deadline", &[Some(Behaviour::Hung)]).await;
    let mut properties = f.properties();
    // The longest probe timeout allowed, far past the deadline.
    properties[property::PROBE_TIMEOUT_SECONDS] = "30".into();
    properties[property::GRACE_SECONDS] = "300".into();
    let event = f.event("Create", properties, None, None);
    let deadline = Duration::from_secs(8);
    let deadline_at = SystemTime::now() + deadline;
    let put = f.answer(&event, deadline).await;
    assert!(
        SystemTime::now() < deadline_at,
        "the answer came after the Lambda deadline"
    );
    assert_eq!(put.body["Status"], "FAILED");
    let reason = put.body["Reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("gave up after ")
            && reason
                .ends_with("to answer before the Lambda deadline (coordinators or AWS too slow)"),
        "{reason}"
    );
    assert_eq!(f.record(RECORD).await, None);
}

#[tokio::test]
async fn malformed_events_are_answered_failed_naming_what_is_wrong() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-malformed", &[Some(Behaviour::Healthy)]).await;
    let good = f.properties();
    let with = |key: &str, value: Value| {
        let mut properties = good.clone();
        properties[key] = value;
        properties
    };
    let without = |key: &str| {
        let mut properties = good.clone();
        properties.as_object_mut().expect("object").remove(key);
        properties
    };
    let id = f.physical_id(RECORD);
    let invalid_id = |n: u32| format!("invalid-request-request-{n}");
    // (request type, properties, physical id, old properties, expected reason start)
    let cases: Vec<MalformedCase> = vec![
        ("Create", without(property::HOSTED_ZONE_ID), None, None, "property HostedZoneId: is missing".into()),
        ("Create", with(property::HOSTED_ZONE_ID, "".into()), None, None, "property HostedZoneId: \"\" is not a hosted zone id".into()),
        ("Create", with(property::HOSTED_ZONE_ID, json!(["Z1"])), None, None, "property HostedZoneId: must be a string, not [\"Z1\"]".into()),
        ("Create", without(property::RECORD_NAME), None, None, "property RecordName: is missing".into()),
        ("Create", with(property::RECORD_NAME, "coordinator".into()), None, None, "property RecordName: \"coordinator\" is not a fully qualified DNS name".into()),
        ("Create", with(property::RECORD_NAME, "bad name!.presto.internal".into()), None, None, "property RecordName: \"bad name!.presto.internal\" is not".into()),
        ("Create", with(property::TTL, "five".into()), None, None, "property Ttl: must be a whole number from 1 to 3600, not \"five\"".into()),
        ("Create", with(property::TTL, "0".into()), None, None, "property Ttl: must be a whole number from 1 to 3600, not 0".into()),
        ("Create", with(property::TTL, "-5".into()), None, None, "property Ttl: must be a whole number from 1 to 3600, not \"-5\"".into()),
        ("Create", with(property::TTL, json!({"Seconds": 5})), None, None, "property Ttl: must be a whole number from 1 to 3600, not {\"Seconds\":5}".into()),
        ("Create", without(property::COORDINATOR_GROUP), None, None, "property CoordinatorGroupName: is missing".into()),
        ("Create", with(property::COORDINATOR_GROUP, "".into()), None, None, "property CoordinatorGroupName: must be an Auto Scaling group name".into()),
        ("Create", without(property::PRESTO_PORT), None, None, "property PrestoHttpPort: is missing".into()),
        ("Create", with(property::PRESTO_PORT, "http".into()), None, None, "property PrestoHttpPort: must be a whole number from 1024 to 65535, not \"http\"".into()),
        ("Create", with(property::PRESTO_PORT, "70000".into()), None, None, "property PrestoHttpPort: must be a whole number from 1024 to 65535, not 70000".into()),
        ("Create", with(property::PROBE_TIMEOUT_SECONDS, "0".into()), None, None, "property ProbeTimeoutSeconds: must be a whole number from 1 to 30, not 0".into()),
        ("Create", with(property::PROBE_TIMEOUT_SECONDS, "fast".into()), None, None, "property ProbeTimeoutSeconds: must be a whole number from 1 to 30, not \"fast\"".into()),
        // The watcher's timings, refused here so that the console user sees why in the
        // stack's events and the stack rolls back, rather than getting a watcher that
        // refuses to start.
        ("Create", with(property::PROBE_INTERVAL_SECONDS, "10".into()), None, None, "property ProbeIntervalSeconds: 10 s must be shorter than FailoverGraceSeconds (5 s)".into()),
        ("Create", with(property::PROBE_TIMEOUT_SECONDS, "5".into()), None, None, "property ProbeTimeoutSeconds: 5 s must be shorter than FailoverGraceSeconds (5 s)".into()),
        ("Create", with(property::GRACE_SECONDS, "2".into()), None, None, "property FailoverGraceSeconds: must be a whole number from 5 to 300, not 2".into()),
        ("Create", with(property::PROBE_INTERVAL_SECONDS, "0".into()), None, None, "property ProbeIntervalSeconds: must be a whole number from 1 to 30, not 0".into()),
        ("Create", without(property::GRACE_SECONDS), None, None, "property FailoverGraceSeconds: is missing".into()),
        ("Update", with(property::PROBE_INTERVAL_SECONDS, "30".into()), Some(id.as_str()), Some(good.clone()), "property ProbeIntervalSeconds: 30 s must be shorter than FailoverGraceSeconds (5 s)".into()),
        ("Create", json!("HostedZoneId=Z1"), None, None, "malformed event: ResourceProperties must be an object".into()),
        ("Upsert", good.clone(), None, None, "malformed event: unknown variant `Upsert`, expected one of `Create`, `Update`, `Delete`".into()),
        ("Update", good.clone(), Some(id.as_str()), None, "malformed event: missing field `OldResourceProperties`".into()),
        ("Update", good.clone(), None, Some(good.clone()), "malformed event: missing field `PhysicalResourceId`".into()),
        ("Update", with(property::TTL, "lots".into()), Some(id.as_str()), Some(good.clone()), "property Ttl: must be a whole number".into()),
        ("Delete", good.clone(), None, None, "malformed event: missing field `PhysicalResourceId`".into()),
        ("Delete", good.clone(), Some(""), None, "malformed event: PhysicalResourceId is empty".into()),
    ];
    assert!(cases.len() >= 20);
    let first_request = f.requests + 1;
    for (n, (request_type, properties, physical_id, old, reason)) in cases.into_iter().enumerate() {
        let request = first_request + n as u32;
        let event = f.event(request_type, properties, physical_id, old);
        let put = f.answer(&event, DEADLINE).await;
        let body = &put.body;
        assert_eq!(body["Status"], "FAILED", "case {n}: {body}");
        let got = body["Reason"].as_str().unwrap_or_default();
        assert!(
            got.starts_with(&reason),
            "case {n}: expected {reason:?}, got {got:?}"
        );
        assert_eq!(body["RequestId"], format!("request-{request}"), "case {n}");
        // The request's own id where it has one; else the id valid properties derive
        // (so the Delete after a failed Create cleans up); else one naming nothing.
        let properties_valid =
            !reason.starts_with("property") && !reason.contains("ResourceProperties");
        let expected_id = match physical_id {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ if properties_valid => id.clone(),
            _ => invalid_id(request),
        };
        assert_eq!(body["PhysicalResourceId"], expected_id, "case {n}");
    }
    assert_eq!(
        f.record(RECORD).await,
        None,
        "no malformed event wrote anything"
    );

    // Missing the other required fields of the request.
    for field in ["RequestId", "LogicalResourceId", "ResourceType"] {
        let mut event = f.event("Create", good.clone(), None, None);
        event.as_object_mut().expect("object").remove(field);
        let put = f.answer(&event, DEADLINE).await;
        assert_eq!(put.body["Status"], "FAILED");
        assert_eq!(
            put.body["Reason"],
            format!("malformed event: missing field `{field}`")
        );
    }

    // An event of another stack, or of none, is refused before any work.
    for other in [
        Some("arn:aws:cloudformation:us-east-1:123456789012:stack/other/0000"),
        None,
    ] {
        let mut event = f.event("Create", good.clone(), None, None);
        match other {
            Some(id) => event["StackId"] = id.into(),
            None => drop(event.as_object_mut().expect("object").remove("StackId")),
        }
        let put = f.answer(&event, DEADLINE).await;
        assert_eq!(put.body["Status"], "FAILED");
        let expected = match other {
            Some(id) => format!(
                "the event is from stack {id:?}, but this function serves only {}",
                stack_id(&f.stack.name)
            ),
            None => format!(
                "the event names no stack (StackId), but this function serves only {}",
                stack_id(&f.stack.name)
            ),
        };
        assert_eq!(put.body["Reason"], expected);
    }
    assert_eq!(
        f.record(RECORD).await,
        None,
        "no foreign event wrote anything"
    );

    // A ResponseURL CloudFormation would not give gets nothing: not the answer, not
    // a connection. The invocation fails and logs why.
    let https = f.capture.url().to_owned();
    for (url, reason) in [
        (https.replacen("https://", "http://", 1), "is not https://"),
        (
            https.replacen("localhost", "127.0.0.1", 1),
            "is not on a host in localhost",
        ),
        (
            https.replacen("localhost", "localhost.attacker.example", 1),
            "is not on a host in localhost",
        ),
        (
            https.replacen("https://", "https://user:pw@", 1),
            "carries credentials",
        ),
    ] {
        let mut event = f.event("Create", good.clone(), None, None);
        event["ResponseURL"] = url.clone().into();
        let invocation = f.lambda.invoke(&event, DEADLINE).await;
        assert!(
            matches!(&invocation, Invocation::Error(error) if error.to_string().contains(reason)),
            "{url}: {invocation:?}"
        );
        assert!(
            !error_text(&invocation).contains("X-Amz-Signature"),
            "the signature is not shown"
        );
    }
    assert!(f.capture.take().is_empty());
    assert!(f.lambda.log_text().contains("refused the ResponseURL"));
    assert_eq!(
        f.record(RECORD).await,
        None,
        "no refused event wrote anything"
    );

    // Without a ResponseURL there is nowhere to answer: the invocation fails and logs.
    let mut event = f.event("Create", good.clone(), None, None);
    event.as_object_mut().expect("object").remove("ResponseURL");
    let invocation = f.lambda.invoke(&event, DEADLINE).await;
    assert!(
        matches!(&invocation, Invocation::Error(error) if error.to_string().contains("no ResponseURL")),
        "{invocation:?}"
    );
    let invocation = f
        .lambda
        .invoke_raw(b"{\"RequestType\": \"Create\", ".to_vec(), DEADLINE)
        .await;
    assert!(matches!(invocation, Invocation::Error(_)), "{invocation:?}");
    assert!(f.capture.take().is_empty());
    assert!(f.lambda.log_text().contains("event without a ResponseURL"));

    // The function is still serving after all that.
    let event = f.event("Create", good, None, None);
    assert_eq!(f.answer(&event, DEADLINE).await.body["Status"], "SUCCESS");
}

fn error_text(invocation: &Invocation) -> String {
    match invocation {
        Invocation::Error(error) => error.to_string(),
        other => format!("{other:?}"),
    }
}
