//! The custom resource reads the properties the template gives `Custom::CoordinatorDns`
//! by the names the template spells: the template's properties parse, and each one,
//! made invalid, is refused by name. A property spelled differently on either side
//! fails here, long before an end-to-end run would.

use presto_ha_custom_resource::event::DnsProperties;
use presto_ha_generator::settings::StackSettings;
use presto_ha_generator::template::{self, ids};
use presto_ha_test_support::templates::resolve;
use serde_json::{Map, Value};

/// The properties CloudFormation itself reads, not the handler.
const CLOUDFORMATION_OWN: [&str; 2] = ["ServiceToken", "ServiceTimeout"];

#[test]
fn the_custom_resource_reads_every_property_the_template_gives_it() {
    let template = template::build(&StackSettings::default()).expect("template");
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
    for name in properties.keys() {
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
}
