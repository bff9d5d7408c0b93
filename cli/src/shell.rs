//! `ssh`: a shell on the active coordinator, or on a standby. The instance is found
//! from the coordinator record and the group, not from DNS (the zone is private), and
//! reached over Session Manager when it is registered there, else over SSH with the
//! stack's key pair.

use std::io::Write;

use anyhow::{Context, bail};
use presto_ha_coordinators::group::{Coordinator, Coordinators};
use presto_ha_coordinators::record::CoordinatorRecord;

use crate::args::{ShellArgs, Via};
use crate::aws::{self, AwsContext, Profile};
use crate::stack::ClusterStack;

/// The user Amazon Linux gives the key pair's holder.
const SSH_USER: &str = "ec2-user";

/// The coordinator to log on to: the one the record points at, or with `standby` the
/// longest-running member in service that it does not point at (the one the watcher
/// would switch to first).
pub async fn target(
    stack: &ClusterStack,
    coordinators: &impl Coordinators,
    record: &impl CoordinatorRecord,
    standby: bool,
) -> anyhow::Result<Coordinator> {
    let (members, value) = stack.members_and_record(coordinators, record).await?;
    let is_active = |c: &Coordinator| c.is_target_of(value.as_ref());
    if standby {
        let mut standbys: Vec<&Coordinator> = members
            .iter()
            .filter(|c| c.serving_ip().is_some() && !is_active(c))
            .collect();
        standbys.sort_by_key(|c| (c.launch_time, c.instance_id.clone()));
        return standbys.first().map(|c| (*c).clone()).with_context(|| {
            format!(
                "coordinator group {} has no standby in service and running",
                stack.group
            )
        });
    }
    match members.iter().find(|c| is_active(c)) {
        Some(active) => Ok(active.clone()),
        None => bail!(
            "record {} points at {}, which is no member of coordinator group {}",
            stack.record.name,
            value
                .as_ref()
                .and_then(|v| v.ip())
                .map_or_else(|| "nothing".to_owned(), |ip| ip.to_string()),
            stack.group
        ),
    }
}

/// The command that opens the shell on `target`: Session Manager when `managed`,
/// else SSH with the stack's key pair.
pub fn command(
    target: &Coordinator,
    managed: bool,
    key_name: Option<&str>,
    profile: &Profile,
) -> anyhow::Result<Vec<String>> {
    let id = target.instance_id.to_string();
    if managed {
        let mut command = ["aws", "ssm", "start-session", "--target", &id]
            .map(String::from)
            .to_vec();
        for (flag, value) in [
            ("--profile", &profile.profile),
            ("--region", &profile.region),
        ] {
            if let Some(value) = value {
                command.extend([flag.to_owned(), value.clone()]);
            }
        }
        return Ok(command);
    }
    let Some(key) = key_name else {
        bail!(
            "{id} is not registered with Session Manager and the stack has no KeyName: wait for its SSM agent to register, or check that the node role's AmazonSSMManagedInstanceCore and the HTTPS egress are in place"
        );
    };
    let ip = target
        .private_ip
        .with_context(|| format!("{id} has no private IP yet"))?;
    Ok(vec![
        "ssh".into(),
        "-i".into(),
        format!("{key}.pem"),
        format!("{SSH_USER}@{ip}"),
    ])
}

/// Whether Session Manager knows `instance` and its agent answers.
pub async fn managed(ssm: &aws_sdk_ssm::Client, instance: &str) -> anyhow::Result<bool> {
    use aws_sdk_ssm::types::{InstanceInformationStringFilter, PingStatus};
    let filter = InstanceInformationStringFilter::builder()
        .key("InstanceIds")
        .values(instance)
        .build()
        .context("an instance filter")?;
    let described = ssm
        .describe_instance_information()
        .filters(filter)
        .send()
        .await
        .aws(
            "DescribeInstanceInformation",
            format_args!("instance {instance}"),
        )?;
    Ok(described
        .instance_information_list()
        .iter()
        .any(|i| i.instance_id() == Some(instance) && i.ping_status() == Some(&PingStatus::Online)))
}

/// The text of `command` as one could paste it into a POSIX shell.
pub fn shell_line(command: &[String]) -> String {
    let quoted: Vec<String> = command
        .iter()
        .map(|word| {
            if !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./@:=,+".contains(c))
            {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect();
    quoted.join(" ")
}

impl ShellArgs {
    /// Finds the coordinator and opens the shell on it, or prints the command.
    pub async fn run(self, profile: &Profile, out: &mut impl Write) -> anyhow::Result<()> {
        let (aws, cluster, config) = aws::open_stack(profile, &self.stack_name).await?;
        let target = target(&cluster, &aws.coordinators(), &aws.record(), self.standby).await?;
        let id = target.instance_id.to_string();
        let managed = match self.via {
            Via::Ssm => true,
            Via::Ssh => false,
            Via::Auto => managed(&aws_sdk_ssm::Client::new(&config), &id).await?,
        };
        let command = command(&target, managed, cluster.key_name.as_deref(), profile)?;
        let path = if managed { "Session Manager" } else { "SSH" };
        let role = if self.standby {
            "standby"
        } else {
            "active coordinator"
        };
        eprintln!("{role} {id}, over {path}");
        if self.dry_run {
            writeln!(out, "{}", shell_line(&command))?;
            return Ok(());
        }
        let status = std::process::Command::new(&command[0])
            .args(&command[1..])
            .status()
            .with_context(|| format!("failed to run {}", command[0]))?;
        if !status.success() {
            bail!("{} ended with {status}", shell_line(&command));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput;
    use aws_sdk_ssm::types::{InstanceInformation, PingStatus};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use presto_ha_coordinators::group::{InstanceId, InstanceState};

    use super::*;

    fn coordinator() -> Coordinator {
        Coordinator {
            instance_id: InstanceId::new("i-0123456789abcdef0"),
            private_ip: Some(Ipv4Addr::new(10, 0, 1, 23)),
            in_service: true,
            state: InstanceState::Running,
            launch_time: None,
            protected: true,
        }
    }

    #[test]
    fn session_manager_names_the_instance_and_the_profile() {
        let profile = Profile {
            profile: Some("ops".into()),
            region: Some("eu-west-1".into()),
        };
        let command = command(&coordinator(), true, Some("key"), &profile).expect("a command");
        assert_eq!(
            shell_line(&command),
            "aws ssm start-session --target i-0123456789abcdef0 --profile ops --region eu-west-1"
        );
    }

    #[test]
    fn ssh_needs_the_stacks_key_pair() {
        let profile = Profile::default();
        let ssh = command(&coordinator(), false, Some("ops key"), &profile).expect("a command");
        assert_eq!(shell_line(&ssh), "ssh -i 'ops key.pem' ec2-user@10.0.1.23");
        let error = command(&coordinator(), false, None, &profile).expect_err("refused");
        assert!(format!("{error:#}").contains("no KeyName"), "{error:#}");
    }

    #[tokio::test]
    async fn only_an_online_agent_counts_as_managed() {
        let info = |status: PingStatus| {
            InstanceInformation::builder()
                .instance_id("i-0123456789abcdef0")
                .ping_status(status)
                .build()
        };
        let answers = mock!(aws_sdk_ssm::Client::describe_instance_information)
            .sequence()
            .output(move || {
                DescribeInstanceInformationOutput::builder()
                    .instance_information_list(info(PingStatus::Online))
                    .build()
            })
            .output(move || {
                DescribeInstanceInformationOutput::builder()
                    .instance_information_list(info(PingStatus::ConnectionLost))
                    .build()
            })
            .output(|| DescribeInstanceInformationOutput::builder().build())
            .build();
        let client = mock_client!(aws_sdk_ssm, RuleMode::Sequential, [&answers]);
        for expected in [true, false, false] {
            assert_eq!(
                managed(&client, "i-0123456789abcdef0")
                    .await
                    .expect("answered"),
                expected
            );
        }
    }
}
