//! The user data every node boots with: the stack's settings as shell variables, then
//! the boot script (its parts in `templates/node-boot/`, joined), which installs,
//! verifies, configures and starts the engine.
//!
//! The settings are an `Fn::Sub` text (CloudFormation fills in the parameters); the
//! script follows as a literal, gzipped and in base64 to stay well inside EC2's 16 KB,
//! so its shell `${...}` needs no escaping and the file in the repository is exactly
//! what runs, less its comments.

use std::io::Write;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use presto_ha_contract::{
    RECORD_TTL_SECONDS, exchange_resource, limits, notes, parameters as param, tls_resource,
    tls_secret,
};

use crate::settings::Engine;
use crate::template::{CLIENT_TLS, FAULT_TOLERANT, ids, placeholder, record_fqdn};

/// The boot script, as kept in the repository: its parts in `templates/node-boot/`,
/// in the order of their names, joined.
pub const BOOT_SCRIPT: &str = concat!(
    include_str!("../../templates/node-boot/10-prelude.sh"),
    include_str!("../../templates/node-boot/20-readiness.sh"),
    include_str!("../../templates/node-boot/30-install.sh"),
    include_str!("../../templates/node-boot/40-engine.sh"),
    include_str!("../../templates/node-boot/50-tls-and-users.sh"),
    include_str!("../../templates/node-boot/60-catalogs.sh"),
    include_str!("../../templates/node-boot/70-extra-configuration.sh"),
    include_str!("../../templates/node-boot/80-service.sh"),
    include_str!("../../templates/node-boot/90-drain.sh"),
    include_str!("../../templates/node-boot/95-start.sh"),
);

/// EC2's limit on user data, before base64.
pub const USER_DATA_LIMIT_BYTES: usize = 16 * 1024;

/// Condition: the stack runs Trino.
pub const IS_TRINO: &str = "IsTrino";
/// Condition: `PrestoVersion` is set.
pub const VERSION_GIVEN: &str = "EngineVersionGiven";

/// The `Fn::Sub` variable holding the release to install.
const ENGINE_VERSION_VARIABLE: &str = "EngineVersion";
/// The `Fn::Sub` variable holding `tls` or `none`.
const SECURITY_VARIABLE: &str = "Security";
/// The `Fn::Sub` variable holding the exchange bucket's name, or nothing.
const EXCHANGE_BUCKET_VARIABLE: &str = "ExchangeBucketName";

/// Which kind of node a launch template starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A coordinator, active or hot standby.
    Coordinator,
    /// A worker.
    Worker,
}

impl Role {
    /// The name the boot script and the bootstrap script are given.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coordinator => "coordinator",
            Self::Worker => "worker",
        }
    }

    /// The parameter naming this role's extra configuration.
    pub fn extra_configuration_parameter(self) -> &'static str {
        match self {
            Self::Coordinator => param::ADDITIONAL_COORDINATOR_CONFIGURATION_URI,
            Self::Worker => param::ADDITIONAL_WORKERS_CONFIGURATION_URI,
        }
    }
}

/// The variables the boot script reads, each with its `Fn::Sub` value. Every value is
/// a parameter whose pattern or allowed values keep quotes out, or a fixed text, so
/// single quotes hold it safely.
pub fn settings(role: Role, signal_resource: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ROLE", role.as_str().to_owned()),
        ("ENGINE", placeholder(param::ENGINE)),
        ("ENGINE_VERSION", placeholder(ENGINE_VERSION_VARIABLE)),
        ("TARBALL_SHA256", placeholder(param::PRESTO_TARBALL_SHA256)),
        ("HTTP_PORT", placeholder(param::PRESTO_HTTP_PORT)),
        ("SECURITY", placeholder(SECURITY_VARIABLE)),
        ("HTTPS_PORT", placeholder(param::PRESTO_HTTPS_PORT)),
        ("RECORD_NAME", record_fqdn()),
        (
            "CREDENTIALS_REVISION",
            placeholder(param::CREDENTIALS_REVISION),
        ),
        ("SHARED_SECRET_ARN", placeholder(ids::SHARED_SECRET)),
        // Only coordinators read the certificate and the users.
        (
            "TLS_SECRET_ARN",
            coordinator_only(
                role,
                placeholder(&format!(
                    "{}.{}",
                    ids::TLS_CERTIFICATE,
                    tls_resource::CERTIFICATE_SECRET
                )),
            ),
        ),
        (
            "USERS_SECRET_ARNS",
            coordinator_only(
                role,
                format!(
                    "{} {}",
                    placeholder(ids::ADMIN_PASSWORD_SECRET),
                    placeholder(param::USERS_SECRET_ARN)
                ),
            ),
        ),
        ("TLS_CERTIFICATE_FIELD", tls_secret::CERTIFICATE.to_owned()),
        ("TLS_KEY_FIELD", tls_secret::PRIVATE_KEY.to_owned()),
        ("NODE_ENVIRONMENT", placeholder(param::PRESTO_ENVIRONMENT)),
        // Where the node announces itself: a coordinator to its own discovery
        // service; a worker to the coordinator record and, where the engine takes
        // several, to every coordinator's member record too.
        ("ANNOUNCE_HOSTS", announce_hosts(role)),
        ("DNS_CACHE_SECONDS", RECORD_TTL_SECONDS.to_string()),
        ("METASTORE_TYPE", placeholder(param::METASTORE_TYPE)),
        (
            "METASTORE_HOST",
            placeholder(param::EXTERNAL_METASTORE_HOST),
        ),
        (
            "METASTORE_PORT",
            placeholder(param::EXTERNAL_METASTORE_PORT),
        ),
        // Trino's retry policy (`None`, `Task`, `Query`) and where it spools.
        ("RETRY_POLICY", placeholder(param::FAULT_TOLERANT_EXECUTION)),
        ("EXCHANGE_BUCKET", placeholder(EXCHANGE_BUCKET_VARIABLE)),
        (
            "EXTRA_CONFIG_URI",
            placeholder(role.extra_configuration_parameter()),
        ),
        (
            "BOOTSTRAP_SCRIPT_URI",
            placeholder(param::BOOTSTRAP_SCRIPT_URI),
        ),
        // Only workers drain: a coordinator's replacement is the watcher's job.
        ("DRAIN_HOOK", worker_only(role, DRAIN_HOOK.to_owned())),
        (
            "DRAIN_SECONDS",
            worker_only(role, placeholder(param::WORKER_DRAIN_SECONDS)),
        ),
        // Only coordinators wait in Pending:Wait until they serve, so that a booting
        // one is never taken for a failed one, and a warm pool can prepare them.
        (
            "LAUNCH_HOOK",
            coordinator_only(role, LAUNCH_HOOK.to_owned()),
        ),
        ("STACK_NAME", "${AWS::StackName}".to_owned()),
        ("SIGNAL_RESOURCE", signal_resource.to_owned()),
        ("REGION", "${AWS::Region}".to_owned()),
    ]
}

/// `value` on a worker, empty on a coordinator.
fn worker_only(role: Role, value: String) -> String {
    match role {
        Role::Coordinator => String::new(),
        Role::Worker => value,
    }
}

/// The worker group's termination lifecycle hook, which each worker completes once
/// it has drained.
pub const DRAIN_HOOK: &str = "presto-ha-drain";

/// The coordinator group's launch lifecycle hook, which each coordinator completes
/// once its engine serves, at its first boot and at every start from the warm pool.
pub const LAUNCH_HOOK: &str = "presto-ha-launch";

/// `value` on a coordinator, empty on a worker.
fn coordinator_only(role: Role, value: String) -> String {
    match role {
        Role::Coordinator => value,
        Role::Worker => String::new(),
    }
}

/// The hosts a node of `role` announces to, space-separated, the coordinator record
/// first.
fn announce_hosts(role: Role) -> String {
    match role {
        Role::Coordinator => "localhost".to_owned(),
        Role::Worker => {
            let record = record_fqdn();
            let members =
                (1..=*limits::COORDINATORS.end()).map(|slot| notes::member_name(slot, &record));
            std::iter::once(record.clone())
                .chain(members)
                .collect::<Vec<_>>()
                .join(" ")
        }
    }
}

/// The boot script without its comment lines, which only the repository needs.
pub fn boot_script_body() -> String {
    BOOT_SCRIPT
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// [`boot_script_body`] gzipped and in base64: the script is nearly as long as EC2's
/// 16 KB limit on user data, and a third of that packed.
pub fn packed_boot_script() -> String {
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(boot_script_body().as_bytes())
        .and_then(|()| gzip.finish())
        .map(|packed| BASE64.encode(packed))
        .expect("gzip into memory does not fail")
}

/// The launch template's `UserData` for `role`: the settings, then the boot script,
/// unpacked and run in the same shell so that it sees them.
pub fn user_data(role: Role, signal_resource: &str) -> Value {
    let mut header = String::from("#!/bin/bash\n");
    for (variable, value) in settings(role, signal_resource) {
        header.push_str(&format!("{variable}='{value}'\n"));
    }
    let version = json!({
        "Fn::If": [
            VERSION_GIVEN,
            { "Ref": param::PRESTO_VERSION },
            { "Fn::If": [IS_TRINO, Engine::Trino.default_version(), Engine::Presto.default_version()] },
        ],
    });
    let body = format!(
        "source <(printf '%s' '{}' | base64 -d | gunzip)\n",
        packed_boot_script()
    );
    json!({
        "Fn::Base64": {
            "Fn::Join": ["", [
                { "Fn::Sub": [header, {
                    ENGINE_VERSION_VARIABLE: version,
                    SECURITY_VARIABLE: { "Fn::If": [CLIENT_TLS, "tls", "none"] },
                    EXCHANGE_BUCKET_VARIABLE: { "Fn::If": [
                        FAULT_TOLERANT,
                        { "Fn::GetAtt": [ids::EXCHANGE_BUCKET_CLEANUP, exchange_resource::BUCKET_NAME] },
                        "",
                    ] },
                }] },
                body,
            ]],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables the script insists on, from its `: "${NAME:?}"` lines.
    fn required_by_script() -> Vec<String> {
        let mut names = Vec::new();
        for line in BOOT_SCRIPT.lines().filter(|l| l.starts_with(": ")) {
            for part in line.split("\"${").skip(1) {
                let end = part.find(['?', ':']).expect("a ${NAME?} check");
                names.push(part[..end].to_owned());
            }
        }
        names
    }

    #[test]
    fn the_user_data_sets_exactly_what_the_script_requires() {
        for role in [Role::Coordinator, Role::Worker] {
            let set: Vec<&str> = settings(role, "Group").iter().map(|(v, _)| *v).collect();
            assert_eq!(set, required_by_script(), "{role:?}");
        }
    }

    #[test]
    fn the_body_keeps_every_command_and_drops_only_comments() {
        let body = boot_script_body();
        assert!(!body.lines().any(|l| l.trim_start().starts_with('#')));
        let commands = |text: &str| {
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .count()
        };
        assert_eq!(commands(&body), commands(BOOT_SCRIPT));
    }

    #[test]
    fn the_packed_script_unpacks_to_the_body() {
        use std::io::Read;
        let packed = BASE64.decode(packed_boot_script()).expect("base64");
        let mut unpacked = String::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut unpacked)
            .expect("gzip");
        assert_eq!(unpacked, boot_script_body());
    }

    #[test]
    fn no_setting_value_can_break_out_of_its_quotes() {
        for (variable, value) in settings(Role::Worker, "WorkerGroup") {
            assert!(!value.contains('\''), "{variable}={value}");
        }
    }
}
