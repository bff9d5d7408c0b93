//! The probe function: the same binary, deployed a second time, answering
//! `{"action": "probe"}` with the health of every serving coordinator as the watcher
//! sees it (see [`presto_ha_contract::probe_function`]). It reads the group and
//! probes; it changes nothing, and probes no address but the group's members.

use std::time::Duration;

use presto_ha_contract::{limits, probe_function, watcher_env as env};
use presto_ha_coordinators::choice::probe_serving;
use presto_ha_coordinators::group::{Coordinators, GroupError};
use presto_ha_coordinators::probe::{HealthProbe, MemberHealth, ProbeReport};
use serde_json::Value;

use crate::settings::{SettingsError, required, whole_number};

/// What the probe function needs: the group, the port and the probe's timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSettings {
    /// The coordinators' Auto Scaling group.
    pub group: String,
    /// Presto's HTTP port.
    pub port: u16,
    /// Time one probe may take.
    pub timeout: Duration,
}

impl ProbeSettings {
    /// Reads the settings through `var`; `None` when [`probe_function::ONLY_PROBES`]
    /// is not `true`, so the binary watches instead.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, SettingsError> {
        match var(probe_function::ONLY_PROBES).as_deref() {
            None => return Ok(None),
            Some("true") => {}
            Some(other) => {
                return Err(SettingsError::new(
                    probe_function::ONLY_PROBES,
                    format!("must be true when set, not {other:?}"),
                ));
            }
        }
        let seconds: u16 = whole_number(
            &var,
            env::PROBE_TIMEOUT_SECONDS,
            limits::PROBE_TIMEOUT_SECONDS,
        )?;
        Ok(Some(Self {
            group: required(&var, env::COORDINATOR_GROUP)?,
            port: whole_number(&var, env::PRESTO_PORT, limits::PRESTO_PORT)?,
            timeout: Duration::from_secs(seconds.into()),
        }))
    }
}

/// A request the probe function does not answer, or a group it could not read.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Not `{"action": "probe"}`.
    #[error(
        "the probe function answers only {{\"{action}\": \"{probe}\"}}, not {0}",
        action = probe_function::ACTION,
        probe = probe_function::PROBE
    )]
    UnknownRequest(Value),
    /// The group could not be read.
    #[error("failed to list coordinator group {group}: {source}")]
    Group {
        /// The group.
        group: String,
        /// Why.
        #[source]
        source: GroupError,
    },
}

/// Answers one request: probes every serving member of the group, all at once.
pub async fn answer(
    request: &Value,
    settings: &ProbeSettings,
    coordinators: &impl Coordinators,
    probe: &impl HealthProbe,
) -> Result<ProbeReport, ProbeError> {
    if request.get(probe_function::ACTION).and_then(Value::as_str) != Some(probe_function::PROBE) {
        return Err(ProbeError::UnknownRequest(request.clone()));
    }
    let members = coordinators
        .members(&settings.group)
        .await
        .map_err(|source| ProbeError::Group {
            group: settings.group.clone(),
            source,
        })?;
    let probed = probe_serving(probe, &members, settings.port, settings.timeout).await;
    Ok(ProbeReport {
        group: settings.group.clone(),
        port: settings.port,
        probed: probed
            .into_iter()
            .filter_map(|p| {
                Some(MemberHealth {
                    ip: p.coordinator.serving_ip()?,
                    instance_id: p.coordinator.instance_id.to_string(),
                    health: p.health,
                })
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use presto_ha_coordinators::fakes::{FakeGroups, FakeProbe, member};
    use presto_ha_coordinators::probe::{Health, ProbeFailure};
    use serde_json::json;

    use super::*;

    fn settings() -> ProbeSettings {
        ProbeSettings {
            group: "g".into(),
            port: 8080,
            timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn reports_every_serving_member_in_the_documented_form() {
        let groups = FakeGroups::default();
        groups.set(
            "g",
            vec![member(1, true), member(2, true), member(3, false)],
        );
        let probe = FakeProbe::default();
        probe.set(Ipv4Addr::new(10, 0, 0, 1), Health::Healthy);
        probe.set(
            Ipv4Addr::new(10, 0, 0, 2),
            Health::Down(ProbeFailure::Status(500)),
        );
        let report = answer(&json!({"action": "probe"}), &settings(), &groups, &probe)
            .await
            .expect("an answer");
        assert_eq!(
            serde_json::to_value(&report).expect("JSON"),
            json!({
                "group": "g",
                "port": 8080,
                "probed": [
                    {"instance_id": "i-1", "ip": "10.0.0.1", "health": "healthy"},
                    {"instance_id": "i-2", "ip": "10.0.0.2", "health": {"down": {"status": 500}}},
                ],
            })
        );
    }

    #[tokio::test]
    async fn refuses_other_requests_and_names_the_group_it_cannot_read() {
        let (groups, probe) = (FakeGroups::default(), FakeProbe::default());
        let unknown = answer(&json!({"action": "switch"}), &settings(), &groups, &probe)
            .await
            .expect_err("refused");
        assert_eq!(
            unknown.to_string(),
            r#"the probe function answers only {"action": "probe"}, not {"action":"switch"}"#
        );
        let missing = answer(&json!({"action": "probe"}), &settings(), &groups, &probe)
            .await
            .expect_err("no group");
        assert_eq!(
            missing.to_string(),
            "failed to list coordinator group g: coordinator group g does not exist"
        );
    }
}
