//! The members of the coordinator Auto Scaling group, as the ASG and EC2 see them.

use std::fmt;
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::SystemTime;

use aws_sdk_autoscaling::types::LifecycleState;
use aws_sdk_ec2::types::{Filter, InstanceStateName};

use crate::aws::AwsCallError;

/// An EC2 instance id such as `i-0123456789abcdef0`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    /// Wraps an id as EC2 reported it.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The EC2 state of an instance, reduced to what failover cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// Launching.
    Pending,
    /// Running.
    Running,
    /// Stopping, stopped, shutting down or terminated: it will not serve again.
    Gone,
    /// EC2 no longer knows the instance at all.
    Unknown,
}

/// One member of the coordinator group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    /// The instance.
    pub instance_id: InstanceId,
    /// Its private IP, which the record points at; `None` before EC2 assigns one.
    pub private_ip: Option<Ipv4Addr>,
    /// Whether the ASG counts it as `InService`.
    pub in_service: bool,
    /// Its EC2 state.
    pub state: InstanceState,
    /// When it was launched.
    pub launch_time: Option<SystemTime>,
}

impl Coordinator {
    /// The IP it can serve on: in service, running, with a private IP.
    pub fn serving_ip(&self) -> Option<Ipv4Addr> {
        (self.in_service && self.state == InstanceState::Running)
            .then_some(self.private_ip)
            .flatten()
    }
}

/// Reading the coordinator group failed.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// No Auto Scaling group has that name.
    #[error("coordinator group {0} does not exist")]
    NoSuchGroup(String),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsCallError),
}

/// Lists the members of a coordinator group.
pub trait Coordinators {
    /// Every instance the group holds, in any lifecycle state, sorted by instance id.
    fn members(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Vec<Coordinator>, GroupError>> + Send;
}

/// [`Coordinators`] backed by Auto Scaling and EC2.
#[derive(Debug, Clone)]
pub struct AwsCoordinators {
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
}

impl AwsCoordinators {
    /// Wraps the two clients.
    pub fn new(autoscaling: aws_sdk_autoscaling::Client, ec2: aws_sdk_ec2::Client) -> Self {
        Self { autoscaling, ec2 }
    }
}

impl Coordinators for AwsCoordinators {
    async fn members(&self, group: &str) -> Result<Vec<Coordinator>, GroupError> {
        let groups = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(group)
            .send()
            .await
            .map_err(|e| {
                AwsCallError::sdk(
                    "DescribeAutoScalingGroups",
                    format_args!("coordinator group {group}"),
                    e,
                )
            })?;
        let Some(found) = groups.auto_scaling_groups().first() else {
            return Err(GroupError::NoSuchGroup(group.to_owned()));
        };
        let mut members: Vec<Coordinator> = found
            .instances()
            .iter()
            .filter_map(|instance| {
                Some(Coordinator {
                    instance_id: InstanceId::new(instance.instance_id()?),
                    private_ip: None,
                    in_service: instance.lifecycle_state() == Some(&LifecycleState::InService),
                    state: InstanceState::Unknown,
                    launch_time: None,
                })
            })
            .collect();
        if members.is_empty() {
            return Ok(members);
        }
        let ids: Vec<String> = members.iter().map(|m| m.instance_id.to_string()).collect();
        // A filter, not InstanceIds: EC2 refuses a whole InstanceIds request when one id
        // is unknown to it (a replacement launched a moment ago may not be visible yet,
        // EC2 being eventually consistent), while a filter just leaves that one out; it
        // then stays `Unknown` and cannot serve until EC2 shows it.
        let described = self
            .ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("instance-id")
                    .set_values(Some(ids))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                AwsCallError::sdk(
                    "DescribeInstances",
                    format_args!("the members of coordinator group {group}"),
                    e,
                )
            })?;
        for instance in described.reservations().iter().flat_map(|r| r.instances()) {
            let Some(member) = members
                .iter_mut()
                .find(|m| Some(m.instance_id.as_str()) == instance.instance_id())
            else {
                continue;
            };
            member.private_ip = instance.private_ip_address().and_then(|ip| ip.parse().ok());
            member.launch_time = instance
                .launch_time()
                .and_then(|t| SystemTime::try_from(*t).ok());
            member.state = match instance.state().and_then(|s| s.name()) {
                Some(InstanceStateName::Pending) => InstanceState::Pending,
                Some(InstanceStateName::Running) => InstanceState::Running,
                Some(_) => InstanceState::Gone,
                None => InstanceState::Unknown,
            };
        }
        members.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        Ok(members)
    }
}
