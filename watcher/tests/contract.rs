//! The watcher and the probe function read exactly the environment the template gives
//! them: every variable the template sets is one they read, and every one they read is
//! set, with values they accept. A name spelled differently on either side fails here, long
//! before an end-to-end run would.

use std::cell::RefCell;
use std::collections::BTreeMap;

use presto_ha_contract::probe_function;
use presto_ha_generator::settings::StackSettings;
use presto_ha_generator::template::{self, ids};
use presto_ha_test_support::templates::resolve;
use presto_ha_watcher::probes::ProbeSettings;
use presto_ha_watcher::settings::Settings;

/// The environment the template gives function `id`, resolved as CloudFormation
/// would, and what `read` makes of it; fails unless `read` asks for exactly the
/// variables given and accepts their values.
fn read_exactly<T, E: std::fmt::Display>(
    template: &serde_json::Value,
    id: &str,
    read: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, E>,
) -> T {
    let given: BTreeMap<String, String> =
        template["Resources"][id]["Properties"]["Environment"]["Variables"]
            .as_object()
            .unwrap_or_else(|| panic!("{id} has no environment variables"))
            .iter()
            .map(|(name, value)| (name.clone(), resolve(template, value)))
            .collect();
    let asked = RefCell::new(Vec::new());
    let settings = read(&|name| {
        asked.borrow_mut().push(name.to_owned());
        given.get(name).cloned()
    })
    .unwrap_or_else(|e| {
        panic!("{id}: the template's environment is refused: {e}; given {given:?}")
    });
    let mut asked = asked.into_inner();
    asked.sort();
    asked.dedup();
    assert_eq!(
        asked,
        given.keys().cloned().collect::<Vec<_>>(),
        "{id}: read vs set by the template"
    );
    settings
}

#[test]
fn the_watcher_reads_exactly_the_environment_the_template_gives_it() {
    let template = template::build(&StackSettings::default());
    let settings = read_exactly(&template, ids::WATCHER_FUNCTION, |var| {
        Settings::from_vars(var)
    });
    let defaults = StackSettings::default();
    assert_eq!(settings.port, defaults.presto_port);
    assert_eq!(
        settings.tuning.grace.as_secs(),
        u64::from(defaults.grace_seconds)
    );
    assert_eq!(
        settings.address.name.to_string(),
        "coordinator.presto.internal"
    );
}

#[test]
fn the_probe_function_reads_exactly_the_environment_the_template_gives_it() {
    let template = template::build(&StackSettings::default());
    let settings = read_exactly(&template, ids::PROBE_FUNCTION, |var| {
        ProbeSettings::from_vars(var)
    })
    .expect("the template makes it answer probes");
    let defaults = StackSettings::default();
    assert_eq!(settings.port, defaults.presto_port);
    assert_eq!(
        settings.timeout.as_secs(),
        u64::from(defaults.probe_timeout_seconds)
    );
    // The same code, the same network, without the watcher's limit of one run.
    let function = |id: &str| &template["Resources"][id]["Properties"];
    let (probe, watcher) = (
        function(ids::PROBE_FUNCTION),
        function(ids::WATCHER_FUNCTION),
    );
    assert_eq!(probe["Code"], watcher["Code"]);
    assert_eq!(probe["VpcConfig"], watcher["VpcConfig"]);
    assert!(probe.get("ReservedConcurrentExecutions").is_none());
    // The watcher does not answer probes.
    assert_eq!(
        watcher["Environment"]["Variables"].get(probe_function::ONLY_PROBES),
        None
    );
}

#[test]
fn the_probe_function_refuses_a_mode_it_does_not_know() {
    let error = ProbeSettings::from_vars(|name| {
        (name == probe_function::ONLY_PROBES).then(|| "yes".to_owned())
    })
    .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "environment variable ONLY_PROBES: must be true when set, not \"yes\""
    );
    assert_eq!(ProbeSettings::from_vars(|_| None), Ok(None));
}
