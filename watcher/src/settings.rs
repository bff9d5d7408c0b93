//! The watcher's settings, read once from the environment the template gives it.

use std::time::Duration;

use presto_ha_coordinators::record::{RecordAddress, RecordName, ZoneId};

use crate::decide::Tuning;

/// Everything the watcher needs to know about its stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The record and its zone.
    pub address: RecordAddress,
    /// The coordinators' Auto Scaling group.
    pub group: String,
    /// Presto's HTTP port.
    pub port: u16,
    /// Time between two probes.
    pub interval: Duration,
    /// Time one probe may take.
    pub probe_timeout: Duration,
    /// The decision's tuning.
    pub tuning: Tuning,
}

/// A variable that is missing or unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct SettingsError {
    name: &'static str,
    problem: String,
}

/// How long after launch a coordinator may still be starting Presto: installing Java
/// and Presto and starting it takes a few minutes.
pub const STARTUP_ALLOWANCE: Duration = Duration::from_secs(600);

impl Settings {
    /// Reads the settings through `var` (the process environment in the Lambda).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let text = |name: &'static str| {
            var(name).filter(|v| !v.is_empty()).ok_or(SettingsError {
                name,
                problem: "is missing".into(),
            })
        };
        let number = |name: &'static str, range: std::ops::RangeInclusive<u64>| {
            let value = text(name)?;
            value
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or(SettingsError {
                    name,
                    problem: format!(
                        "must be a whole number from {} to {}, not {value:?}",
                        range.start(),
                        range.end()
                    ),
                })
        };
        let zone: ZoneId = text("HOSTED_ZONE_ID")?
            .parse()
            .map_err(|problem| SettingsError {
                name: "HOSTED_ZONE_ID",
                problem,
            })?;
        let name: RecordName = text("RECORD_NAME")?
            .parse()
            .map_err(|problem| SettingsError {
                name: "RECORD_NAME",
                problem,
            })?;
        let interval = Duration::from_secs(number("PROBE_INTERVAL_SECONDS", 1..=30)?);
        let probe_timeout = Duration::from_secs(number("PROBE_TIMEOUT_SECONDS", 1..=30)?);
        let grace = Duration::from_secs(number("GRACE_SECONDS", 1..=300)?);
        if probe_timeout >= grace || interval >= grace {
            return Err(SettingsError {
                name: "GRACE_SECONDS",
                problem: format!(
                    "must be longer than the probe interval and timeout, not {}",
                    grace.as_secs()
                ),
            });
        }
        Ok(Self {
            address: RecordAddress { zone, name },
            group: text("COORDINATOR_GROUP")?,
            port: number("PRESTO_PORT", 1..=65535)? as u16,
            interval,
            probe_timeout,
            tuning: Tuning {
                grace,
                startup_allowance: STARTUP_ALLOWANCE,
                ttl: number("RECORD_TTL", 1..=3600)? as u32,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(overrides: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut all: Vec<(String, String)> = [
            ("HOSTED_ZONE_ID", "Z0123"),
            ("RECORD_NAME", "coordinator.presto.internal"),
            ("RECORD_TTL", "5"),
            ("COORDINATOR_GROUP", "stack-CoordinatorGroup-1"),
            ("PRESTO_PORT", "8080"),
            ("PROBE_INTERVAL_SECONDS", "2"),
            ("PROBE_TIMEOUT_SECONDS", "2"),
            ("GRACE_SECONDS", "15"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in overrides {
            all.retain(|(name, _)| name != k);
            if !v.is_empty() {
                all.push((k.to_string(), v.to_string()));
            }
        }
        move |name| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_template_contract_parses() {
        let settings = Settings::from_vars(vars(&[])).expect("valid");
        assert_eq!(
            settings.address.to_string(),
            "coordinator.presto.internal in zone Z0123"
        );
        assert_eq!((settings.port, settings.tuning.ttl), (8080, 5));
        assert_eq!(settings.tuning.grace, Duration::from_secs(15));
    }

    #[test]
    fn bad_settings_name_the_variable() {
        let cases = [
            (
                ("GRACE_SECONDS", ""),
                "environment variable GRACE_SECONDS: is missing",
            ),
            (
                ("PRESTO_PORT", "http"),
                "environment variable PRESTO_PORT: must be a whole number from 1 to 65535, not \"http\"",
            ),
            (
                ("GRACE_SECONDS", "2"),
                "environment variable GRACE_SECONDS: must be longer than the probe interval and timeout, not 2",
            ),
            (
                ("HOSTED_ZONE_ID", "zone"),
                "environment variable HOSTED_ZONE_ID: \"zone\" is not a hosted zone id",
            ),
        ];
        for ((name, value), expected) in cases {
            let error = Settings::from_vars(vars(&[(name, value)])).expect_err("invalid");
            assert!(error.to_string().starts_with(expected), "{error}");
        }
    }
}
