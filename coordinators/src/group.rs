//! The members of the coordinator Auto Scaling group, as the ASG and EC2 see them.

use std::fmt;
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::SystemTime;

use aws_sdk_autoscaling::types::LifecycleState;
use aws_sdk_ec2::types::{Filter, InstanceStateName};

use crate::aws::AwsCallError;
use crate::record::ARecord;

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
    /// Whether the group protects it from scale-in.
    pub protected: bool,
}

impl Coordinator {
    /// Whether the record's value `record` (a single address) is this member's
    /// private IP, serving or not.
    pub fn is_target_of(&self, record: Option<&ARecord>) -> bool {
        let ip = record.and_then(ARecord::ip);
        ip.is_some() && self.private_ip == ip
    }

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

/// Lists the members of a coordinator group and protects them from scale-in.
pub trait Coordinators {
    /// Every instance the group holds, in any lifecycle state, sorted by instance id.
    fn members(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Vec<Coordinator>, GroupError>> + Send;

    /// Protects `instance` from scale-in, or lifts its protection.
    fn protect(
        &self,
        group: &str,
        instance: &InstanceId,
        protected: bool,
    ) -> impl Future<Output = Result<(), GroupError>> + Send;
}

/// The protection changes that leave exactly `active` protected from scale-in among
/// the in-service members, in the order to make them: the active one first, so that a
/// crash half-way leaves two members protected at worst, never none.
pub fn protection_changes(
    members: &[Coordinator],
    active: Option<&InstanceId>,
) -> Vec<(InstanceId, bool)> {
    let in_service = members.iter().filter(|m| m.in_service);
    let protect = in_service
        .clone()
        .filter(|m| Some(&m.instance_id) == active && !m.protected);
    let release = in_service.filter(|m| Some(&m.instance_id) != active && m.protected);
    protect
        .map(|m| (m.instance_id.clone(), true))
        .chain(release.map(|m| (m.instance_id.clone(), false)))
        .collect()
}

/// Makes [`protection_changes`] through `coordinators`, one instance at a time, so that
/// one refused change (an instance terminating meanwhile) does not stop the others.
/// Returns what failed.
pub async fn move_protection(
    coordinators: &impl Coordinators,
    group: &str,
    members: &[Coordinator],
    active: Option<&InstanceId>,
) -> Vec<GroupError> {
    let mut failed = Vec::new();
    for (instance, protected) in protection_changes(members, active) {
        match coordinators.protect(group, &instance, protected).await {
            Ok(()) => tracing::info!(%instance, protected, "scale-in protection set"),
            Err(error) => failed.push(error),
        }
    }
    failed
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
                    protected: instance.protected_from_scale_in().unwrap_or(false),
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

    async fn protect(
        &self,
        group: &str,
        instance: &InstanceId,
        protected: bool,
    ) -> Result<(), GroupError> {
        self.autoscaling
            .set_instance_protection()
            .auto_scaling_group_name(group)
            .instance_ids(instance.as_str())
            .protected_from_scale_in(protected)
            .send()
            .await
            .map_err(|e| {
                AwsCallError::sdk(
                    "SetInstanceProtection",
                    format_args!("instance {instance} of coordinator group {group}"),
                    e,
                )
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
    use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance as GroupInstance};
    use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
    use aws_sdk_ec2::types::{Instance, InstanceState as Ec2State, Reservation};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    /// The group `coordinators` holding `members` (id, lifecycle state, protected).
    fn group_output(members: &[(&str, LifecycleState, bool)]) -> DescribeAutoScalingGroupsOutput {
        let mut group = AutoScalingGroup::builder()
            .auto_scaling_group_name("coordinators")
            .min_size(3)
            .max_size(3)
            .desired_capacity(3)
            .default_cooldown(300)
            .availability_zones("us-east-1a")
            .health_check_type("EC2")
            .created_time(aws_smithy_types::DateTime::from_secs(0));
        for (id, lifecycle, protected) in members {
            group = group.instances(
                GroupInstance::builder()
                    .instance_id(*id)
                    .availability_zone("us-east-1a")
                    .lifecycle_state(lifecycle.clone())
                    .health_status("Healthy")
                    .protected_from_scale_in(*protected)
                    .build(),
            );
        }
        DescribeAutoScalingGroupsOutput::builder()
            .auto_scaling_groups(group.build())
            .build()
    }

    fn ec2_instance(id: &str, ip: &str, state: InstanceStateName, launched: i64) -> Instance {
        Instance::builder()
            .instance_id(id)
            .private_ip_address(ip)
            .state(Ec2State::builder().name(state).build())
            .launch_time(aws_smithy_types::DateTime::from_secs(launched))
            .build()
    }

    #[tokio::test]
    async fn members_join_both_services_and_one_ec2_does_not_show_yet_stays_unknown() {
        let group = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
            .match_requests(|request| request.auto_scaling_group_names() == ["coordinators"])
            .then_output(|| {
                group_output(&[
                    ("i-3", LifecycleState::InService, false),
                    ("i-1", LifecycleState::InService, true),
                    ("i-2", LifecycleState::Pending, false),
                ])
            });
        // By filter, not InstanceIds, which EC2 refuses whole when it does not know
        // one of them yet: i-2, launched a moment ago, is left out of the answer.
        let instances = mock!(aws_sdk_ec2::Client::describe_instances)
            .match_requests(|request| {
                let filter = request.filters().first();
                request.instance_ids().is_empty()
                    && filter.and_then(|f| f.name()) == Some("instance-id")
                    && filter.map(|f| f.values())
                        == Some(&["i-3".to_owned(), "i-1".to_owned(), "i-2".to_owned()][..])
            })
            .then_output(|| {
                DescribeInstancesOutput::builder()
                    .reservations(
                        Reservation::builder()
                            .instances(ec2_instance(
                                "i-1",
                                "10.0.0.1",
                                InstanceStateName::Running,
                                100,
                            ))
                            .instances(ec2_instance(
                                "i-3",
                                "10.0.0.3",
                                InstanceStateName::Stopping,
                                50,
                            ))
                            .build(),
                    )
                    .build()
            });
        let coordinators = AwsCoordinators::new(
            mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, [&group]),
            mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&instances]),
        );
        let members = coordinators.members("coordinators").await.expect("members");
        let seconds = |s: u64| Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(
            members,
            [
                Coordinator {
                    instance_id: InstanceId::new("i-1"),
                    private_ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
                    in_service: true,
                    state: InstanceState::Running,
                    launch_time: seconds(100),
                    protected: true,
                },
                Coordinator {
                    instance_id: InstanceId::new("i-2"),
                    private_ip: None,
                    in_service: false,
                    state: InstanceState::Unknown,
                    launch_time: None,
                    protected: false,
                },
                Coordinator {
                    instance_id: InstanceId::new("i-3"),
                    private_ip: Some(Ipv4Addr::new(10, 0, 0, 3)),
                    in_service: true,
                    state: InstanceState::Gone,
                    launch_time: seconds(50),
                    protected: false,
                },
            ]
        );
        let serving: Vec<_> = members.iter().filter_map(Coordinator::serving_ip).collect();
        assert_eq!(serving, [Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!((group.num_calls(), instances.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_missing_group_and_a_failed_call_are_named() {
        let none = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
            .then_output(|| DescribeAutoScalingGroupsOutput::builder().build());
        let unused = mock!(aws_sdk_ec2::Client::describe_instances)
            .then_output(|| DescribeInstancesOutput::builder().build());
        let coordinators = AwsCoordinators::new(
            mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, [&none]),
            mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&unused]),
        );
        let error = coordinators
            .members("gone")
            .await
            .expect_err("no such group");
        assert_eq!(error.to_string(), "coordinator group gone does not exist");
        assert_eq!(unused.num_calls(), 0);

        let group = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
            .then_output(|| group_output(&[("i-1", LifecycleState::InService, false)]));
        let refused = mock!(aws_sdk_ec2::Client::describe_instances).then_error(|| {
            aws_sdk_ec2::operation::describe_instances::DescribeInstancesError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("UnauthorizedOperation")
                    .message("not authorized")
                    .build(),
            )
        });
        let coordinators = AwsCoordinators::new(
            mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, [&group]),
            mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&refused]),
        );
        let error = coordinators
            .members("coordinators")
            .await
            .expect_err("refused");
        let text = error.to_string();
        assert!(
            text.starts_with("DescribeInstances failed for the members of coordinator group coordinators: UnauthorizedOperation"),
            "{text}"
        );
    }

    fn member(n: u8, in_service: bool, protected: bool) -> Coordinator {
        Coordinator {
            protected,
            ..crate::fakes::member(n, in_service)
        }
    }

    #[test]
    fn protection_goes_to_the_active_member_first_then_leaves_the_others() {
        let id = |n: u8| InstanceId::new(format!("i-{n}"));
        // (members, the active one, the changes expected: instance and protection)
        type Case = (Vec<Coordinator>, Option<u8>, Vec<(u8, bool)>);
        let cases: [Case; 5] = [
            // A switch from 1 to 2: protect 2 before releasing 1.
            (
                vec![
                    member(1, true, true),
                    member(2, true, false),
                    member(3, true, false),
                ],
                Some(2),
                vec![(2, true), (1, false)],
            ),
            // Already right: nothing to do.
            (
                vec![member(1, true, true), member(2, true, false)],
                Some(1),
                vec![],
            ),
            // Two protected after a crash half-way: release the stale one.
            (
                vec![member(1, true, true), member(2, true, true)],
                Some(2),
                vec![(1, false)],
            ),
            // No active member: release everyone (scale-in may pick any).
            (vec![member(1, true, true)], None, vec![(1, false)]),
            // Members not in service are left alone: Auto Scaling refuses them.
            (
                vec![member(1, false, true), member(2, true, false)],
                Some(2),
                vec![(2, true)],
            ),
        ];
        for (members, active, expected) in cases {
            let expected: Vec<(InstanceId, bool)> =
                expected.into_iter().map(|(n, p)| (id(n), p)).collect();
            assert_eq!(
                protection_changes(&members, active.map(id).as_ref()),
                expected,
                "active {active:?}"
            );
        }
    }
}
