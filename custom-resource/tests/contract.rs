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

/// The properties of the resource `id` as CloudFormation delivers them to the handler:
/// every scalar as a string, without the ones CloudFormation reads itself.
fn delivered(template: &Value, id: &str) -> Map<String, Value> {
    template["Resources"][id]["Properties"]
        .as_object()
        .expect("properties")
        .iter()
        .filter(|(name, _)| !CLOUDFORMATION_OWN.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), Value::String(resolve(template, value))))
        .collect()
}

/// Each of `properties` but `skipped`, set to `invalid`, is refused by `parse` with
/// an error that names it.
fn each_is_refused_by_name<E: std::fmt::Display, T: std::fmt::Debug>(
    properties: &Map<String, Value>,
    skipped: &[&str],
    invalid: &str,
    parse: impl Fn(&Map<String, Value>) -> Result<T, E>,
) {
    for name in properties.keys().filter(|n| !skipped.contains(&n.as_str())) {
        let mut broken = properties.clone();
        broken.insert(name.clone(), Value::String(invalid.to_owned()));
        let error = parse(&broken)
            .expect_err("an invalid value is refused")
            .to_string();
        assert!(
            error.starts_with(&format!("property {name}:")),
            "{name} is not read by that name: {error}"
        );
    }
}

#[test]
fn the_custom_resource_reads_every_property_the_template_gives_it() {
    let template = template::build(&StackSettings::default());
    let properties = delivered(&template, ids::COORDINATOR_DNS);
    let parsed = DnsProperties::parse(&Value::Object(properties.clone()))
        .unwrap_or_else(|e| panic!("the template's properties are refused: {e}"));
    assert_eq!(
        parsed.address.name.to_string(),
        "coordinator.presto.internal"
    );
    assert_eq!(parsed.port, StackSettings::default().presto_port);
    each_is_refused_by_name(&properties, &READ_ON_DELETE, "", |broken| {
        DnsProperties::parse(&Value::Object(broken.clone()))
    });
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
    let properties = delivered(&template, ids::PINNED_IMAGE);
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
    each_is_refused_by_name(&properties, &[], "?not valid?", |broken| {
        ImageRequest::parse(&create(broken))
    });
}

#[test]
fn the_custom_resource_reads_every_property_of_the_certificate() {
    use presto_ha_custom_resource::tls::{Source, TlsRequest};

    let template = template::build(&StackSettings::default());
    let resource = &template["Resources"][ids::TLS_CERTIFICATE];
    assert_eq!(resource["Type"], presto_ha_contract::tls_resource::TYPE);
    let properties = delivered(&template, ids::TLS_CERTIFICATE);
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
    each_is_refused_by_name(&properties, &[], "?not valid?", |broken| {
        TlsRequest::parse(&create(broken))
    });
}
