//! The watcher's settings, read once from the environment the template gives it.

use std::ops::RangeInclusive;
use std::time::Duration;

use presto_ha_contract::{check_timing, limits, watcher_env as env, widen};
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

/// How long one invocation watches; the schedule starts the next one a minute later.
pub const RUN_FOR: Duration = Duration::from_secs(58);

/// How long after launch a coordinator may still be starting Presto: installing Java
/// and Presto and starting it takes a few minutes.
pub const STARTUP_ALLOWANCE: Duration = Duration::from_secs(600);

impl Settings {
    /// Reads the settings through `var` (the process environment in the Lambda).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let text = |name| required(&var, name);
        let number = |name, range| whole_number(&var, name, range);
        let zone: ZoneId = text(env::HOSTED_ZONE_ID)?
            .parse()
            .map_err(|problem| SettingsError {
                name: env::HOSTED_ZONE_ID,
                problem,
            })?;
        let name: RecordName =
            text(env::RECORD_NAME)?
                .parse()
                .map_err(|problem| SettingsError {
                    name: env::RECORD_NAME,
                    problem,
                })?;
        let seconds = |name, range| number(name, range).map(|n: u16| Duration::from_secs(n.into()));
        let interval = seconds(env::PROBE_INTERVAL_SECONDS, limits::PROBE_INTERVAL_SECONDS)?;
        let probe_timeout = seconds(env::PROBE_TIMEOUT_SECONDS, limits::PROBE_TIMEOUT_SECONDS)?;
        let grace = seconds(env::GRACE_SECONDS, limits::GRACE_SECONDS)?;
        let refused = seconds(env::REFUSED_SECONDS, limits::REFUSED_SECONDS)?;
        check_timing(interval, probe_timeout, grace).map_err(|_| SettingsError {
            name: env::GRACE_SECONDS,
            problem: format!(
                "must be longer than the probe interval and timeout, not {}",
                grace.as_secs()
            ),
        })?;
        Ok(Self {
            address: RecordAddress { zone, name },
            group: text(env::COORDINATOR_GROUP)?,
            port: number(env::PRESTO_PORT, limits::PRESTO_PORT)?,
            interval,
            probe_timeout,
            tuning: Tuning {
                grace,
                refused: refused.min(grace),
                startup_allowance: STARTUP_ALLOWANCE,
                ttl: whole_number(&var, env::RECORD_TTL, limits::RECORD_TTL_SECONDS)?,
            },
        })
    }
}

impl SettingsError {
    /// Variable `name` is unusable because of `problem`.
    pub(crate) fn new(name: &'static str, problem: String) -> Self {
        Self { name, problem }
    }
}

/// A variable that must be set and not empty.
pub(crate) fn required(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, SettingsError> {
    var(name).filter(|v| !v.is_empty()).ok_or(SettingsError {
        name,
        problem: "is missing".into(),
    })
}

/// A variable holding a whole number within `range`.
pub(crate) fn whole_number<T>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    range: RangeInclusive<T>,
) -> Result<T, SettingsError>
where
    T: Copy + Into<u64> + TryFrom<u64>,
{
    let value = required(var, name)?;
    value
        .parse::<u64>()
        .ok()
        .filter(|n| widen(&range).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or(SettingsError {
            name,
            problem: format!(
                "must be a whole number from {} to {}, not {value:?}",
                (*range.start()).into(),
                (*range.end()).into()
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(overrides: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut all: Vec<(String, String)> = [
            (env::HOSTED_ZONE_ID, "Z0123"),
            (env::RECORD_NAME, "coordinator.presto.internal"),
            (env::RECORD_TTL, "5"),
            (env::COORDINATOR_GROUP, "stack-CoordinatorGroup-1"),
            (env::PRESTO_PORT, "8080"),
            (env::PROBE_INTERVAL_SECONDS, "2"),
            (env::PROBE_TIMEOUT_SECONDS, "2"),
            (env::GRACE_SECONDS, "15"),
            (env::REFUSED_SECONDS, "4"),
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
        assert_eq!(settings.tuning.refused, Duration::from_secs(4));
        // A refused bound past the grace is the grace.
        let settings = Settings::from_vars(vars(&[(env::REFUSED_SECONDS, "60")])).expect("valid");
        assert_eq!(settings.tuning.refused, Duration::from_secs(15));
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
                "environment variable PRESTO_PORT: must be a whole number from 1024 to 65535, not \"http\"",
            ),
            (
                ("GRACE_SECONDS", "2"),
                "environment variable GRACE_SECONDS: must be a whole number from 5 to 300, not \"2\"",
            ),
            (
                ("PROBE_INTERVAL_SECONDS", "20"),
                "environment variable GRACE_SECONDS: must be longer than the probe interval and timeout, not 15",
            ),
            (
                ("REFUSED_SECONDS", "0"),
                "environment variable REFUSED_SECONDS: must be a whole number from 1 to 300, not \"0\"",
            ),
            (
                ("PRESTO_PORT", "80"),
                "environment variable PRESTO_PORT: must be a whole number from 1024 to 65535, not \"80\"",
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
