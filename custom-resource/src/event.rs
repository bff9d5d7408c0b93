//! The CloudFormation event, read in two steps: first, leniently, where the answer
//! goes (so that even a malformed event is answered); then strictly, the request and
//! its properties, with errors that name what is wrong.

use std::ops::RangeInclusive;
use std::time::Duration;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use presto_ha_contract::{
    ProbeSetting, RECORD_TTL_SECONDS, check_timing, dns_resource as property, limits, widen,
};
use presto_ha_coordinators::record::{RecordAddress, RecordName, ZoneId};
use serde_json::Value;

/// Where the answer goes and what it must echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    /// The pre-signed URL the answer is PUT to.
    pub response_url: String,
    /// Echoed from the request.
    pub stack_id: String,
    /// Echoed from the request.
    pub request_id: String,
    /// Echoed from the request.
    pub logical_resource_id: String,
    /// The resource's id on Update and Delete.
    pub physical_resource_id: Option<String>,
}

impl ReplyTo {
    /// Reads the reply fields from any JSON; `None` without a string `ResponseURL`.
    pub fn from_event(event: &Value) -> Option<Self> {
        let text = |key: &str| event.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            response_url: text("ResponseURL").filter(|url| !url.is_empty())?,
            stack_id: text("StackId").unwrap_or_default(),
            request_id: text("RequestId").unwrap_or_default(),
            logical_resource_id: text("LogicalResourceId").unwrap_or_default(),
            physical_resource_id: text("PhysicalResourceId").filter(|id| !id.is_empty()),
        })
    }
}

/// The properties of `Custom::CoordinatorDns`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsProperties {
    /// The record and its zone.
    pub address: RecordAddress,
    /// The record's TTL in seconds.
    pub ttl: u32,
    /// The coordinators' Auto Scaling group.
    pub group: String,
    /// Presto's HTTP port on the coordinators.
    pub port: u16,
    /// How long one probe may take.
    pub probe_timeout: Duration,
    /// The watcher's probe interval and grace, when the template passes them (it
    /// does since they are checked here; older templates did not).
    pub watch: Option<WatchTimings>,
    /// How an update that replaces the coordinator group drains the old one; `None`
    /// when it does not (`CoordinatorDrainSeconds` 0, or a template without it).
    pub drain: Option<DrainSettings>,
    /// The watcher that writes next to the record, when the properties name it.
    pub watcher: Option<WatcherRef>,
}

/// How the old coordinator group's queries are waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainSettings {
    /// The longest wait, from the record's move.
    pub limit: Duration,
    /// The port clients reach the coordinators on.
    pub port: u16,
    /// With client security on, how the queries are listed over HTTPS.
    pub tls: Option<ClientTls>,
}

/// How a client reaches a coordinator with client security on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// The authority the certificate is checked against (PEM); `None` for the
    /// system's roots.
    pub authority: Option<String>,
    /// The secret of the admin user's password.
    pub admin_secret: String,
}

/// The watcher's timings that must fit the probe timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchTimings {
    /// Time between two probes.
    pub interval: Duration,
    /// How long the active coordinator must fail before it is replaced.
    pub grace: Duration,
}

/// A request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The stack is being created (or this resource replaced).
    Create(DnsProperties),
    /// The stack is being updated, or an update rolled back.
    Update {
        /// The resource's id.
        physical_id: String,
        /// The new properties.
        properties: DnsProperties,
        /// The coordinator group the old properties named, when it was another (the
        /// group was replaced): its members are released from scale-in protection
        /// once the record has moved, so that the old group can be deleted.
        replaced_group: Option<String>,
    },
    /// The stack is being deleted, or this resource replaced or rolled back. The
    /// physical id names what was created; of the properties only the watcher's are
    /// read, leniently, so that a Delete is carried out whatever else they hold.
    Delete {
        /// The resource's id.
        physical_id: String,
        /// The stack, to ask whether it is being deleted.
        stack_id: String,
        /// The watcher that writes next to the record, when the properties name it.
        watcher: Option<WatcherRef>,
        /// The coordinator group, when the properties name it: when the stack goes
        /// away its members are released from scale-in protection, which would
        /// otherwise keep CloudFormation from emptying and deleting the group.
        group: Option<String>,
    },
}

/// The watcher Lambda that writes next to the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherRef {
    /// Its function name.
    pub function: String,
    /// Its timeout: no run lasts longer.
    pub timeout: Duration,
}

impl WatcherRef {
    /// The watcher the properties name, if they name one usably.
    fn from_properties(properties: &Value) -> Option<Self> {
        let function = properties
            .get(property::WATCHER_FUNCTION)?
            .as_str()
            .filter(|f| !f.is_empty())?;
        let timeout = number(
            properties,
            property::WATCHER_TIMEOUT_SECONDS,
            None,
            1..=900u16,
        )
        .ok()?;
        Some(Self {
            function: function.to_owned(),
            timeout: Duration::from_secs(timeout.into()),
        })
    }
}

/// The probe timeout when an event names none (events from templates that predate
/// the property).
const DEFAULT_PROBE_TIMEOUT_SECONDS: u16 = 2;

/// Why an event is not a request this resource can handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not the shape of a CloudFormation custom-resource request.
    #[error("malformed event: {0}")]
    Shape(String),
    /// The watcher's timings do not fit together: the stack would deploy a watcher
    /// that refuses to start.
    #[error(
        "property {setting}: {value} s must be shorter than {grace_name} ({grace} s): a grace no longer than one probe would fail a coordinator on a single slow answer"
    )]
    Timing {
        /// The property that is too long.
        setting: &'static str,
        /// Its value in seconds.
        value: u64,
        /// The grace's property.
        grace_name: &'static str,
        /// The grace in seconds.
        grace: u64,
    },
    /// A property is missing or has a value this resource cannot use.
    #[error("property {name}: {problem}")]
    Property {
        /// The property.
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

impl Request {
    /// Checks an event.
    pub fn parse(event: Value) -> Result<Self, EventError> {
        let request: CloudFormationCustomResourceRequest<Value, Value> =
            serde_json::from_value(event).map_err(|e| EventError::Shape(e.to_string()))?;
        match request {
            CloudFormationCustomResourceRequest::Create(create) => Ok(Self::Create(
                DnsProperties::parse(&create.resource_properties)?,
            )),
            CloudFormationCustomResourceRequest::Update(update) => {
                let properties = DnsProperties::parse(&update.resource_properties)?;
                let replaced_group = group_of(&update.old_resource_properties)
                    .filter(|old| *old != properties.group);
                Ok(Self::Update {
                    physical_id: non_empty_id(update.physical_resource_id)?,
                    properties,
                    replaced_group,
                })
            }
            CloudFormationCustomResourceRequest::Delete(delete) => Ok(Self::Delete {
                physical_id: non_empty_id(delete.physical_resource_id)?,
                stack_id: delete.stack_id,
                watcher: WatcherRef::from_properties(&delete.resource_properties),
                group: group_of(&delete.resource_properties),
            }),
            _ => Err(EventError::Shape("unknown request type".into())),
        }
    }
}

/// The coordinator group properties name, read leniently.
fn group_of(properties: &Value) -> Option<String> {
    properties
        .get(property::COORDINATOR_GROUP)?
        .as_str()
        .filter(|group| !group.is_empty())
        .map(str::to_owned)
}

fn non_empty_id(id: String) -> Result<String, EventError> {
    if id.is_empty() {
        Err(EventError::Shape("PhysicalResourceId is empty".into()))
    } else {
        Ok(id)
    }
}

impl DnsProperties {
    /// Checks the properties. CloudFormation sends every scalar as a string; a JSON
    /// number is taken too.
    pub fn parse(properties: &Value) -> Result<Self, EventError> {
        if !properties.is_object() {
            return Err(EventError::Shape(format!(
                "ResourceProperties must be an object, not {properties}"
            )));
        }
        let zone = parsed(properties, property::HOSTED_ZONE_ID, |s| {
            s.parse::<ZoneId>()
        })?;
        let name = parsed(properties, property::RECORD_NAME, |s| {
            s.parse::<RecordName>()
        })?;
        let ttl = number(
            properties,
            property::TTL,
            Some(RECORD_TTL_SECONDS),
            limits::RECORD_TTL_SECONDS,
        )?;
        let group = parsed(properties, property::COORDINATOR_GROUP, |s| {
            if s.is_empty() || s.len() > 255 {
                Err("must be an Auto Scaling group name of 1 to 255 characters".to_owned())
            } else {
                Ok(s.to_owned())
            }
        })?;
        let port = number(properties, property::PRESTO_PORT, None, limits::PRESTO_PORT)?;
        let probe_timeout = number(
            properties,
            property::PROBE_TIMEOUT_SECONDS,
            Some(DEFAULT_PROBE_TIMEOUT_SECONDS),
            limits::PROBE_TIMEOUT_SECONDS,
        )?;
        let probe_timeout = Duration::from_secs(probe_timeout.into());
        let seconds = |name, range: RangeInclusive<u16>| {
            optional_number(properties, name, range)
                .map(|n| n.map(|n| Duration::from_secs(n.into())))
        };
        let interval = seconds(
            property::PROBE_INTERVAL_SECONDS,
            limits::PROBE_INTERVAL_SECONDS,
        )?;
        let grace = seconds(property::GRACE_SECONDS, limits::GRACE_SECONDS)?;
        let watch = match (interval, grace) {
            (Some(interval), Some(grace)) => {
                check_timing(interval, probe_timeout, grace).map_err(|e| EventError::Timing {
                    setting: match e.setting {
                        ProbeSetting::Interval => property::PROBE_INTERVAL_SECONDS,
                        ProbeSetting::Timeout => property::PROBE_TIMEOUT_SECONDS,
                    },
                    value: e.value.as_secs(),
                    grace_name: property::GRACE_SECONDS,
                    grace: grace.as_secs(),
                })?;
                Some(WatchTimings { interval, grace })
            }
            (None, None) => None,
            (Some(_), None) => return Err(property_error(property::GRACE_SECONDS, "is missing")),
            (None, Some(_)) => {
                return Err(property_error(
                    property::PROBE_INTERVAL_SECONDS,
                    "is missing",
                ));
            }
        };
        let drain = DrainSettings::parse(properties, port)?;
        Ok(Self {
            address: RecordAddress { zone, name },
            ttl,
            group,
            port,
            probe_timeout,
            watch,
            drain,
            watcher: WatcherRef::from_properties(properties),
        })
    }
}

impl DrainSettings {
    /// The drain the properties ask for: none without `CoordinatorDrainSeconds` or
    /// with 0; the client port defaults to the HTTP port `port`.
    fn parse(properties: &Value, port: u16) -> Result<Option<Self>, EventError> {
        let limit = optional_number(
            properties,
            property::DRAIN_SECONDS,
            limits::COORDINATOR_DRAIN_SECONDS,
        )?;
        let Some(limit) = limit.filter(|seconds| *seconds > 0) else {
            return Ok(None);
        };
        let port = number(
            properties,
            property::CLIENT_PORT,
            Some(port),
            limits::PRESTO_PORT,
        )?;
        let tls = match properties.get(property::CLIENT_AUTHORITY) {
            None | Some(Value::Null) => None,
            Some(_) => {
                let authority = parsed(properties, property::CLIENT_AUTHORITY, |pem| {
                    match pem.trim() {
                        property::SYSTEM_AUTHORITY => Ok(None),
                        pem if pem.starts_with("-----BEGIN CERTIFICATE-----") => {
                            Ok(Some(pem.to_owned()))
                        }
                        _ => Err(format!(
                            "must be a PEM certificate or {:?}, not {:?}",
                            property::SYSTEM_AUTHORITY,
                            pem.chars().take(40).collect::<String>()
                        )),
                    }
                })?;
                let admin_secret = parsed(properties, property::ADMIN_SECRET, |arn| {
                    if arn.starts_with("arn:") {
                        Ok(arn.to_owned())
                    } else {
                        Err(format!("must be a secret's ARN, not {arn:?}"))
                    }
                })?;
                Some(ClientTls {
                    authority,
                    admin_secret,
                })
            }
        };
        Ok(Some(Self {
            limit: Duration::from_secs(limit.into()),
            port,
            tls,
        }))
    }
}

fn property_error(name: &'static str, problem: impl Into<String>) -> EventError {
    EventError::Property {
        name,
        problem: problem.into(),
    }
}

/// A required string property, checked by `check`.
fn parsed<T>(
    properties: &Value,
    name: &'static str,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, EventError> {
    match properties.get(name) {
        None | Some(Value::Null) => Err(property_error(name, "is missing")),
        Some(Value::String(text)) => check(text).map_err(|problem| property_error(name, problem)),
        Some(other) => Err(property_error(
            name,
            format!("must be a string, not {other}"),
        )),
    }
}

/// A whole-number property within `range`, as a string or a number; `default` when
/// absent, if it has one.
fn number<T>(
    properties: &Value,
    name: &'static str,
    default: Option<T>,
    range: RangeInclusive<T>,
) -> Result<T, EventError>
where
    T: Copy + Into<u64> + TryFrom<u64>,
{
    let wide = widen(&range);
    let expected = || {
        format!(
            "must be a whole number from {} to {}",
            wide.start(),
            wide.end()
        )
    };
    let value = match properties.get(name) {
        None | Some(Value::Null) => {
            return default.ok_or_else(|| property_error(name, "is missing"));
        }
        Some(Value::String(text)) => text
            .trim()
            .parse::<u64>()
            .map_err(|_| property_error(name, format!("{}, not {text:?}", expected())))?,
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| property_error(name, format!("{}, not {n}", expected())))?,
        Some(other) => return Err(property_error(name, format!("{}, not {other}", expected()))),
    };
    wide.contains(&value)
        .then(|| T::try_from(value).ok())
        .flatten()
        .ok_or_else(|| property_error(name, format!("{}, not {value}", expected())))
}

/// A whole-number property within `range`, `None` when absent.
fn optional_number<T>(
    properties: &Value,
    name: &'static str,
    range: RangeInclusive<T>,
) -> Result<Option<T>, EventError>
where
    T: Copy + Into<u64> + TryFrom<u64>,
{
    match properties.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => number(properties, name, None, range).map(Some),
    }
}

/// The physical id of the resource managing `address`: stable across updates that
/// keep the zone and name, and different when either changes (which CloudFormation
/// takes as a replacement and answers with a Delete of the old id).
pub fn physical_id(address: &RecordAddress) -> String {
    format!("{}/{}", address.zone, address.name)
}

/// The record a physical id names; `None` for ids this resource did not derive (the
/// id of a Create that failed before its properties could be read).
pub fn address_of(physical_id: &str) -> Option<RecordAddress> {
    let (zone, name) = physical_id.split_once('/')?;
    Some(RecordAddress {
        zone: zone.parse().ok()?,
        name: name.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn properties() -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:dns",
            "ServiceTimeout": "360",
            "HostedZoneId": "Z0123456789ABC",
            "RecordName": "coordinator.presto.internal",
            "Ttl": "5",
            "CoordinatorGroupName": "stack-CoordinatorGroup-ABC",
            "PrestoHttpPort": "8080",
            "ProbeTimeoutSeconds": "2",
        })
    }

    #[test]
    fn the_fixture_events_parse() {
        let create: Value =
            serde_json::from_str(include_str!("../tests/fixtures/create.json")).expect("JSON");
        let Request::Create(properties) = Request::parse(create.clone()).expect("valid") else {
            panic!("not a Create");
        };
        assert_eq!(
            properties,
            DnsProperties::parse(&self::properties()).expect("valid")
        );
        let reply = ReplyTo::from_event(&create).expect("reply");
        assert_eq!(reply.logical_resource_id, "CoordinatorDns");
        assert_eq!(reply.physical_resource_id, None);

        let update: Value =
            serde_json::from_str(include_str!("../tests/fixtures/update.json")).expect("JSON");
        assert!(matches!(
            Request::parse(update).expect("valid"),
            Request::Update { .. }
        ));
        let delete: Value =
            serde_json::from_str(include_str!("../tests/fixtures/delete.json")).expect("JSON");
        assert_eq!(
            Request::parse(delete).expect("valid"),
            Request::Delete {
                physical_id: "Z0123456789ABC/coordinator.presto.internal".into(),
                stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/analytics/5b6f2c10-1234-11ef-9a4b-0a1b2c3d4e5f".into(),
                watcher: None,
                group: Some("stack-CoordinatorGroup-ABC".into()),
            }
        );
    }

    #[test]
    fn properties_are_typed_once() {
        let properties = DnsProperties::parse(&properties()).expect("valid");
        assert_eq!(properties.address.zone.to_string(), "Z0123456789ABC");
        assert_eq!(
            properties.address.name.to_string(),
            "coordinator.presto.internal"
        );
        assert_eq!((properties.ttl, properties.port), (5, 8080));
        assert_eq!(properties.probe_timeout, Duration::from_secs(2));
        let mut numbers = self::properties();
        numbers["Ttl"] = json!(30);
        numbers["PrestoHttpPort"] = json!(8443);
        numbers
            .as_object_mut()
            .expect("object")
            .remove("ProbeTimeoutSeconds");
        let properties = DnsProperties::parse(&numbers).expect("numbers are fine too");
        assert_eq!((properties.ttl, properties.port), (30, 8443));
        assert_eq!(properties.probe_timeout, Duration::from_secs(2));
    }

    #[test]
    fn the_watchers_timings_must_fit_the_grace() {
        let with = |pairs: &[(&str, &str)]| {
            let mut properties = properties();
            for (key, value) in pairs {
                properties[*key] = json!(value);
            }
            DnsProperties::parse(&properties).map_err(|e| e.to_string())
        };
        let fits = with(&[
            ("ProbeIntervalSeconds", "2"),
            ("FailoverGraceSeconds", "15"),
        ])
        .expect("fits");
        assert_eq!(
            fits.watch,
            Some(WatchTimings {
                interval: Duration::from_secs(2),
                grace: Duration::from_secs(15)
            })
        );
        let refused = [
            (
                [
                    ("ProbeIntervalSeconds", "15"),
                    ("FailoverGraceSeconds", "15"),
                ],
                "property ProbeIntervalSeconds: 15 s must be shorter than FailoverGraceSeconds (15 s)",
            ),
            (
                [("ProbeIntervalSeconds", "2"), ("FailoverGraceSeconds", "5")],
                "",
            ),
            (
                [("ProbeTimeoutSeconds", "9"), ("FailoverGraceSeconds", "8")],
                "property ProbeIntervalSeconds: is missing",
            ),
        ];
        for (pairs, expected) in refused {
            let result = with(&pairs);
            if expected.is_empty() {
                assert!(result.is_ok(), "{pairs:?}: {result:?}");
            } else {
                let error = result.expect_err("refused");
                assert!(error.starts_with(expected), "{pairs:?}: {error}");
            }
        }
        let timeout = with(&[
            ("ProbeIntervalSeconds", "1"),
            ("ProbeTimeoutSeconds", "8"),
            ("FailoverGraceSeconds", "8"),
        ]);
        assert!(timeout.expect_err("refused").starts_with(
            "property ProbeTimeoutSeconds: 8 s must be shorter than FailoverGraceSeconds (8 s)"
        ));
        assert_eq!(
            DnsProperties::parse(&properties())
                .expect("old events")
                .watch,
            None
        );
    }

    #[test]
    fn physical_ids_round_trip_and_foreign_ids_name_nothing() {
        let properties = DnsProperties::parse(&properties()).expect("valid");
        let id = physical_id(&properties.address);
        assert_eq!(id, "Z0123456789ABC/coordinator.presto.internal");
        assert_eq!(address_of(&id), Some(properties.address));
        for foreign in [
            "",
            "invalid-request-1234",
            "2024/05/01/[$LATEST]abcdef",
            "z1/coordinator.presto.internal",
        ] {
            assert_eq!(address_of(foreign), None, "{foreign:?}");
        }
    }
}
