//! The custom resource reads the properties the template gives `Custom::CoordinatorDns`
//! by the names the template spells: the template's properties parse, and each one,
//! made invalid, is refused by name. A property spelled differently on either side
//! fails here, long before an end-to-end run would.

use std::time::Duration;

use presto_ha_contract::dns_resource as property;
use presto_ha_custom_resource::event::{DnsProperties, Request, WatcherRef};
use presto_ha_generator::settings::StackSettings;
use presto_ha_generator::template::{self, ids};
use presto_ha_test_support::templates::resolve;
use serde_json::{Map, Value, json};

/// The properties CloudFormation itself reads, not the handler.
const CLOUDFORMATION_OWN: [&str; 2] = ["ServiceToken", "ServiceTimeout"];
/// The properties only a Delete reads (leniently: a Delete is carried out whatever
/// they hold).
const READ_ON_DELETE: [&str; 2] = [
    property::WATCHER_FUNCTION,
    property::WATCHER_TIMEOUT_SECONDS,
];

#[test]
fn the_custom_resource_reads_every_property_the_template_gives_it() {
    let template = template::build(&StackSettings::default());
    let resource = &template["Resources"][ids::COORDINATOR_DNS];
    // CloudFormation delivers every scalar as a string.
    let properties: Map<String, Value> = resource["Properties"]
        .as_object()
        .expect("properties")
        .iter()
        .filter(|(name, _)| !CLOUDFORMATION_OWN.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), Value::String(resolve(&template, value))))
        .collect();
    let parsed = DnsProperties::parse(&Value::Object(properties.clone()))
        .unwrap_or_else(|e| panic!("the template's properties are refused: {e}"));
    assert_eq!(
        parsed.address.name.to_string(),
        "coordinator.presto.internal"
    );
    assert_eq!(parsed.port, StackSettings::default().presto_port);
    for name in properties
        .keys()
        .filter(|name| !READ_ON_DELETE.contains(&name.as_str()))
    {
        let mut broken = properties.clone();
        broken.insert(name.clone(), Value::String(String::new()));
        let error = DnsProperties::parse(&Value::Object(broken))
            .expect_err("an invalid value is refused")
            .to_string();
        assert!(
            error.starts_with(&format!("property {name}:")),
            "{name} is not read by that name: {error}"
        );
    }
    let delete = json!({
        "RequestType": "Delete",
        "ResponseURL": "http://127.0.0.1:1/answer",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        "RequestId": "r",
        "ResourceType": "Custom::CoordinatorDns",
        "LogicalResourceId": ids::COORDINATOR_DNS,
        "PhysicalResourceId": "Z0123456789ABCDEFGHIJ/coordinator.presto.internal",
        "ResourceProperties": properties,
    });
    let Ok(Request::Delete { watcher, .. }) = Request::parse(delete) else {
        panic!("the template's Delete does not parse");
    };
    assert_eq!(
        watcher,
        Some(WatcherRef {
            function: resolve(&template, &json!({ "Ref": ids::WATCHER_FUNCTION })),
            timeout: Duration::from_secs(presto_ha_contract::WATCHER_TIMEOUT_SECONDS.into()),
        }),
        "the Delete does not find the watcher the template names"
    );
}

#[test]
fn the_custom_resource_reads_every_property_of_the_pinned_image() {
    use presto_ha_custom_resource::image::{ImageRequest, Wanted};
    use presto_ha_generator::settings::LATEST_IMAGE_PARAMETER;

    let template = template::build(&StackSettings::default());
    let resource = &template["Resources"][ids::PINNED_IMAGE];
    assert_eq!(resource["Type"], presto_ha_contract::image_resource::TYPE);
    let properties: Map<String, Value> = resource["Properties"]
        .as_object()
        .expect("properties")
        .iter()
        .filter(|(name, _)| !CLOUDFORMATION_OWN.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), Value::String(resolve(&template, value))))
        .collect();
    let create = |properties: &Map<String, Value>| {
        json!({
            "RequestType": "Create",
            "ResourceType": resource["Type"],
            "ResourceProperties": properties,
        })
    };
    assert_eq!(
        ImageRequest::parse(&create(&properties)).expect("the template's properties"),
        ImageRequest::Pin {
            pinned: None,
            wanted: Wanted::Pinned,
            latest_parameter: LATEST_IMAGE_PARAMETER.to_owned(),
        }
    );
    for name in properties.keys() {
        let mut broken = properties.clone();
        broken.insert(name.clone(), Value::String("?not valid?".into()));
        let error = ImageRequest::parse(&create(&broken))
            .expect_err("an invalid value is refused")
            .to_string();
        assert!(
            error.starts_with(&format!("property {name}:")),
            "{name} is not read by that name: {error}"
        );
    }
}

#[test]
fn the_custom_resource_reads_every_property_of_the_certificate() {
    use presto_ha_custom_resource::tls::{Source, TlsRequest};

    let template = template::build(&StackSettings::default());
    let resource = &template["Resources"][ids::TLS_CERTIFICATE];
    assert_eq!(resource["Type"], presto_ha_contract::tls_resource::TYPE);
    let properties: Map<String, Value> = resource["Properties"]
        .as_object()
        .expect("properties")
        .iter()
        .filter(|(name, _)| !CLOUDFORMATION_OWN.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), Value::String(resolve(&template, value))))
        .collect();
    let create = |properties: &Map<String, Value>| {
        json!({
            "RequestType": "Create",
            "ResourceType": resource["Type"],
            "ResourceProperties": properties,
        })
    };
    let secret = |id: &str| resolve(&template, &json!({ "Ref": id }));
    assert_eq!(
        TlsRequest::parse(&create(&properties)).expect("the template's properties"),
        TlsRequest::Certify {
            record_name: "coordinator.presto.internal".into(),
            source: Source::Made {
                certificate_secret: secret(ids::MADE_CERTIFICATE_SECRET),
                authority_secret: secret(ids::AUTHORITY_SECRET),
            },
            revision: "1".into(),
        }
    );
    for name in properties.keys() {
        let mut broken = properties.clone();
        broken.insert(name.clone(), Value::String("?not valid?".into()));
        let error = TlsRequest::parse(&create(&broken))
            .expect_err("an invalid value is refused")
            .to_string();
        assert!(
            error.starts_with(&format!("property {name}:")),
            "{name} is not read by that name: {error}"
        );
    }
}
