//! Where `status` and `switchover` probe the coordinators from. From this machine
//! first, as a client would (over HTTPS with the certificate checked, when TLS is on);
//! when no coordinator answers at all, as from outside the VPC, from the stack's probe
//! function inside it, which probes them as the watcher does and changes nothing. The
//! commands say which path they used.

use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_lambda::primitives::Blob;
use presto_ha_contract::{outputs, probe_function};
use presto_ha_coordinators::choice::{Probed, probe_serving};
use presto_ha_coordinators::group::Coordinator;
use presto_ha_coordinators::probe::{
    Health, HealthProbe, HttpProbe, ProbeFailure, ProbeReport, QueryLoad,
};

use crate::args::ProbeFrom;
use crate::aws::AwsContext;
use crate::stack::ClusterStack;

/// How long one probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Probes every serving member of a group, all at once.
pub trait ProbeMembers {
    /// What each serving member's probe found; members that cannot serve are left out.
    fn probe_members(
        &self,
        members: &[Coordinator],
        port: u16,
    ) -> impl Future<Output = Vec<Probed>> + Send;

    /// The path the last probes took, when there was a choice.
    fn path(&self) -> Option<Path> {
        None
    }
}

impl<T: HealthProbe + Sync> ProbeMembers for T {
    async fn probe_members(&self, members: &[Coordinator], port: u16) -> Vec<Probed> {
        probe_serving(self, members, port, PROBE_TIMEOUT).await
    }
}

/// Whether any probe got an answer from Presto itself, bad or good: then this machine
/// reaches the coordinators, and what it found stands.
pub fn any_answered(probed: &[Probed]) -> bool {
    probed.iter().any(|p| {
        !matches!(
            p.health,
            Health::Down(
                ProbeFailure::TimedOut | ProbeFailure::Refused | ProbeFailure::Unreachable(_)
            )
        )
    })
}

/// The path the probes took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// This machine.
    Here,
    /// The probe function of this name, inside the VPC.
    Function(String),
    /// This machine, which reached no coordinator; asking the function failed so.
    HereFunctionFailed(String, String),
    /// Only the probe function, which failed so.
    FunctionFailed(String, String),
    /// This machine, which reached no coordinator; the stack has no probe function.
    HereNoFunction,
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Here => f.write_str("from this machine"),
            Self::Function(name) => write!(
                f,
                "by probe function {name} inside the VPC, as the watcher probes"
            ),
            Self::HereFunctionFailed(name, error) => write!(
                f,
                "from this machine, which reached no coordinator; asking probe function {name} failed: {error}"
            ),
            Self::FunctionFailed(name, error) => {
                write!(f, "by probe function {name}, which failed: {error}")
            }
            Self::HereNoFunction => f.write_str(
                "from this machine, which reached no coordinator; the stack has no probe function (update it to this version's template)",
            ),
        }
    }
}

/// The stack's probe function, asked through Lambda's `Invoke`.
#[derive(Debug, Clone)]
pub struct FunctionProbe {
    lambda: aws_sdk_lambda::Client,
    name: String,
}

impl FunctionProbe {
    /// The function `name`.
    pub fn new(lambda: aws_sdk_lambda::Client, name: String) -> Self {
        Self { lambda, name }
    }

    /// Asks the function to probe the group's serving members.
    pub async fn report(&self) -> anyhow::Result<ProbeReport> {
        let request = serde_json::json!({ probe_function::ACTION: probe_function::PROBE });
        let output = self
            .lambda
            .invoke()
            .function_name(&self.name)
            .payload(Blob::new(request.to_string()))
            .send()
            .await
            .aws("Invoke", format_args!("probe function {}", self.name))?;
        let payload = output
            .payload()
            .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
            .unwrap_or_default();
        if let Some(kind) = output.function_error() {
            let message = serde_json::from_str::<serde_json::Value>(&payload)
                .ok()
                .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
                .unwrap_or(payload);
            bail!("probe function {} failed ({kind}): {message}", self.name);
        }
        serde_json::from_str(&payload).with_context(|| {
            format!(
                "probe function {} answered what is not a probe report: {payload}",
                self.name
            )
        })
    }
}

/// What each serving member's entry in `report` says; a member the report lacks (one
/// that began serving after the function listed the group) is marked so.
pub fn match_report(report: &ProbeReport, members: &[Coordinator]) -> Vec<Probed> {
    members
        .iter()
        .filter_map(|member| {
            let ip = member.serving_ip()?;
            let health = report
                .probed
                .iter()
                .find(|p| p.instance_id == member.instance_id.as_str() && p.ip == ip)
                .map_or_else(
                    || {
                        Health::Down(ProbeFailure::Unreachable(
                            "not in the probe function's report".into(),
                        ))
                    },
                    |p| p.health.clone(),
                );
            Some(Probed {
                coordinator: member.clone(),
                health,
            })
        })
        .collect()
}

/// Probes from this machine, the probe function, or the first and then the second.
#[derive(Debug)]
pub struct Reach {
    here: HttpProbe,
    function: Option<FunctionProbe>,
    from: ProbeFrom,
    path: Mutex<Option<Path>>,
}

impl Reach {
    /// Probes `from` where asked; `vpc` needs the stack's probe function.
    pub fn new(
        stack: &ClusterStack,
        here: HttpProbe,
        lambda: aws_sdk_lambda::Client,
        from: ProbeFrom,
    ) -> anyhow::Result<Self> {
        let function = stack
            .probe_function
            .clone()
            .map(|name| FunctionProbe::new(lambda, name));
        if from == ProbeFrom::Vpc && function.is_none() {
            bail!(
                "stack {} has no output {}: update it to this version's template to probe from the VPC",
                stack.name,
                outputs::PROBE_FUNCTION_NAME
            );
        }
        Ok(Self {
            here,
            function,
            from,
            path: Mutex::new(None),
        })
    }

    fn took(&self, path: Path) {
        if let Ok(mut taken) = self.path.lock() {
            *taken = Some(path);
        }
    }

    async fn ask_function(
        &self,
        function: &FunctionProbe,
        members: &[Coordinator],
    ) -> anyhow::Result<Vec<Probed>> {
        let report = function.report().await?;
        self.took(Path::Function(function.name.clone()));
        Ok(match_report(&report, members))
    }
}

impl ProbeMembers for Reach {
    fn path(&self) -> Option<Path> {
        self.path.lock().ok()?.clone()
    }

    async fn probe_members(&self, members: &[Coordinator], port: u16) -> Vec<Probed> {
        let function = self.function.as_ref();
        if self.from != ProbeFrom::Vpc {
            let probed = self.here.probe_members(members, port).await;
            if self.from == ProbeFrom::Here || probed.is_empty() || any_answered(&probed) {
                self.took(Path::Here);
                return probed;
            }
            let Some(function) = function else {
                self.took(Path::HereNoFunction);
                return probed;
            };
            return match self.ask_function(function, members).await {
                Ok(found) => found,
                Err(error) => {
                    let why = format!("{error:#}");
                    self.took(Path::HereFunctionFailed(function.name.clone(), why));
                    probed
                }
            };
        }
        let Some(function) = function else {
            // `new` refuses `vpc` without a function.
            return Vec::new();
        };
        match self.ask_function(function, members).await {
            Ok(found) => found,
            Err(error) => {
                let why = format!("{error:#}");
                self.took(Path::FunctionFailed(function.name.clone(), why.clone()));
                members
                    .iter()
                    .filter_map(|member| {
                        member.serving_ip()?;
                        Some(Probed {
                            coordinator: member.clone(),
                            health: Health::Down(ProbeFailure::Unreachable(why.clone())),
                        })
                    })
                    .collect()
            }
        }
    }
}

impl QueryLoad for Reach {
    /// From this machine; after probes through the function, the queries cannot be
    /// counted (the function only probes health), which a drain takes as work that
    /// may be unfinished.
    async fn unfinished_queries(
        &self,
        ip: Ipv4Addr,
        port: u16,
        timeout: Duration,
    ) -> Result<usize, ProbeFailure> {
        if let Some(Path::Function(name)) = self.path() {
            return Err(ProbeFailure::Unreachable(format!(
                "this machine cannot reach it, and probe function {name} only probes health"
            )));
        }
        self.here.unfinished_queries(ip, port, timeout).await
    }
}

#[cfg(test)]
mod tests {
    use presto_ha_coordinators::fakes::member;
    use presto_ha_coordinators::probe::MemberHealth;

    use super::*;

    fn probed(member: &Coordinator, health: Health) -> Probed {
        Probed {
            coordinator: member.clone(),
            health,
        }
    }

    #[test]
    fn this_machine_reaches_the_coordinators_when_presto_answers_any_probe() {
        let one = member(1, true);
        let silent = [
            Health::Down(ProbeFailure::TimedOut),
            Health::Down(ProbeFailure::Refused),
            Health::Down(ProbeFailure::Unreachable("no route".into())),
        ];
        assert!(!any_answered(&silent.map(|h| probed(&one, h))));
        for answer in [
            Health::Healthy,
            Health::Starting,
            Health::NotCoordinator,
            Health::Down(ProbeFailure::Status(500)),
            Health::Down(ProbeFailure::BadBody("not JSON".into())),
        ] {
            assert!(any_answered(&[probed(&one, answer.clone())]), "{answer}");
        }
    }

    #[test]
    fn the_report_is_matched_by_instance_and_address() {
        let members = [
            member(1, true),
            member(2, true),
            member(3, true),
            member(4, false),
        ];
        let report = ProbeReport {
            group: "g".into(),
            port: 8080,
            probed: vec![
                MemberHealth {
                    instance_id: "i-1".into(),
                    ip: Ipv4Addr::new(10, 0, 0, 1),
                    health: Health::Healthy,
                },
                // The same instance with another address is not this member.
                MemberHealth {
                    instance_id: "i-2".into(),
                    ip: Ipv4Addr::new(10, 9, 9, 9),
                    health: Health::Healthy,
                },
            ],
        };
        let matched = match_report(&report, &members);
        let health: Vec<String> = matched.iter().map(|p| p.health.to_string()).collect();
        assert_eq!(
            health,
            [
                "healthy",
                "unreachable (not in the probe function's report)",
                "unreachable (not in the probe function's report)",
            ]
        );
    }

    #[test]
    fn probing_from_the_vpc_needs_the_stack_s_probe_function() {
        let stack = crate::stack::tests::stack();
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::Config::builder()
                .behavior_version_latest()
                .build(),
        );
        let here = HttpProbe::new().expect("a probe");
        let error =
            Reach::new(&stack, here.clone(), lambda.clone(), ProbeFrom::Vpc).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "stack s has no output ProbeFunctionName: update it to this version's template to probe from the VPC"
        );
        assert!(Reach::new(&stack, here, lambda, ProbeFrom::Auto).is_ok());
    }
}
