//! Presto's configuration files and the instance user data that writes them,
//! rendered from the handlebars templates in `templates/`.
//!
//! The same templates serve two callers: the stack template renders them with
//! CloudFormation `${Parameter}` references and shell variables as values (resolved at
//! deploy and boot time), and tests render them with concrete values to check what a
//! node really gets.

use handlebars::Handlebars;
use serde::Serialize;

/// The templates, by the name they are registered under.
const TEMPLATES: [(&str, &str); 5] = [
    (
        "config_properties",
        include_str!("../../templates/config.properties.hbs"),
    ),
    (
        "node_properties",
        include_str!("../../templates/node.properties.hbs"),
    ),
    ("jvm_config", include_str!("../../templates/jvm.config.hbs")),
    (
        "tpch_properties",
        include_str!("../../templates/tpch.properties.hbs"),
    ),
    (
        "user_data",
        include_str!("../../templates/user-data.sh.hbs"),
    ),
];

/// A file rendered from `templates/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrestoFile {
    /// `etc/config.properties`.
    ConfigProperties,
    /// `etc/node.properties`.
    NodeProperties,
    /// `etc/jvm.config`.
    JvmConfig,
    /// The instance user data script that installs Presto and writes the files above.
    UserData,
}

impl PrestoFile {
    fn template_name(self) -> &'static str {
        match self {
            Self::ConfigProperties => "config_properties",
            Self::NodeProperties => "node_properties",
            Self::JvmConfig => "jvm_config",
            Self::UserData => "user_data",
        }
    }
}

/// The values a node's files are rendered with. Each is text, so the stack template
/// can pass `${PrestoHttpPort}` or `$INSTANCE_ID` where a test passes `8080` or `i-0abc`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeValues {
    /// Whether this node is a coordinator (active or standby) or a worker.
    pub coordinator: bool,
    /// Presto's HTTP port.
    pub http_port: String,
    /// The coordinator record's name, which workers announce to.
    pub coordinator_host: String,
    /// Presto's `node.environment`, the same on every node of a cluster.
    pub environment: String,
    /// Presto's `node.id`, unique per node.
    pub node_id: String,
    /// The JVM's `-Xmx`.
    pub heap_size: String,
    /// Seconds the JVM caches a DNS answer; at most the record's TTL so that a switch
    /// reaches the workers within one TTL.
    pub dns_cache_ttl: u32,
    /// Presto's data directory.
    pub data_dir: String,
    /// The Presto release to install.
    pub presto_version: String,
    /// The stack a coordinator signals when it is ready.
    pub stack_name: String,
    /// The logical id of the resource a coordinator signals.
    pub signal_resource: String,
    /// The stack's region.
    pub region: String,
}

/// A template failed to render; only a defect in `templates/` or in the values
/// passed can cause it.
#[derive(Debug, thiserror::Error)]
#[error("failed to render {template}")]
pub struct RenderError {
    template: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Renders one file for one node.
pub fn render(file: PrestoFile, values: &NodeValues) -> Result<String, RenderError> {
    let template = file.template_name();
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    for (name, text) in TEMPLATES {
        registry
            .register_template_string(name, text)
            .map_err(|source| RenderError {
                template: name,
                source: source.into(),
            })?;
    }
    registry
        .render(template, values)
        .map_err(|source| RenderError {
            template,
            source: source.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(coordinator: bool) -> NodeValues {
        NodeValues {
            coordinator,
            http_port: "8080".into(),
            coordinator_host: "coordinator.presto.internal".into(),
            environment: "production".into(),
            node_id: "i-0123456789abcdef0".into(),
            heap_size: "11468M".into(),
            dns_cache_ttl: 5,
            data_dir: "/var/presto/data".into(),
            presto_version: "0.293".into(),
            stack_name: "analytics".into(),
            signal_resource: "CoordinatorGroup".into(),
            region: "eu-west-1".into(),
        }
    }

    fn render_ok(file: PrestoFile, coordinator: bool) -> String {
        render(file, &values(coordinator)).expect("renders")
    }

    #[test]
    fn coordinator_config_runs_its_own_discovery_server() {
        assert_eq!(
            render_ok(PrestoFile::ConfigProperties, true),
            "coordinator=true\n\
             node-scheduler.include-coordinator=false\n\
             http-server.http.port=8080\n\
             discovery-server.enabled=true\n\
             discovery.uri=http://localhost:8080\n"
        );
    }

    #[test]
    fn worker_config_announces_to_the_coordinator_record() {
        assert_eq!(
            render_ok(PrestoFile::ConfigProperties, false),
            "coordinator=false\n\
             http-server.http.port=8080\n\
             discovery.uri=http://coordinator.presto.internal:8080\n"
        );
    }

    #[test]
    fn node_properties_name_the_node() {
        assert_eq!(
            render_ok(PrestoFile::NodeProperties, false),
            "node.environment=production\n\
             node.id=i-0123456789abcdef0\n\
             node.data-dir=/var/presto/data\n"
        );
    }

    #[test]
    fn jvm_caches_dns_no_longer_than_the_record_ttl() {
        let jvm = render_ok(PrestoFile::JvmConfig, false);
        let lines: Vec<&str> = jvm.lines().collect();
        assert_eq!(lines.first(), Some(&"-server"));
        assert!(lines.contains(&"-Xmx11468M"));
        assert!(lines.contains(&"-Dsun.net.inetaddr.ttl=5"));
        assert!(lines.contains(&"-XX:+ExitOnOutOfMemoryError"));
        assert!(lines.iter().all(|line| line.starts_with('-')), "{jvm}");
    }

    #[test]
    fn user_data_embeds_the_rendered_files() {
        for coordinator in [true, false] {
            let script = render_ok(PrestoFile::UserData, coordinator);
            assert!(script.starts_with("#!/bin/bash\n"));
            for file in [
                PrestoFile::ConfigProperties,
                PrestoFile::NodeProperties,
                PrestoFile::JvmConfig,
            ] {
                let body = render_ok(file, coordinator);
                assert!(
                    script.contains(&format!("<<PROPERTIES\n{body}PROPERTIES\n")),
                    "{file:?} is not embedded whole in:\n{script}"
                );
            }
            assert_eq!(script.contains("cfn-signal"), coordinator);
        }
    }

    #[test]
    fn user_data_is_valid_shell() {
        for coordinator in [true, false] {
            let script = render_ok(PrestoFile::UserData, coordinator);
            let status = std::process::Command::new("bash")
                .args(["-n", "-c", &script])
                .status()
                .expect("bash runs");
            assert!(status.success(), "bash -n rejected:\n{script}");
        }
    }
}
