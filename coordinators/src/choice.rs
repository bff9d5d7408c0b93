//! Which coordinator should hold the record: probe the group's members, then choose
//! among them the same way every time, so that two callers who see the same group
//! choose the same coordinator.

use std::time::Duration;

use crate::group::Coordinator;
use crate::probe::{Health, HealthProbe};

/// A serving member of the group and what its probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    /// The member.
    pub coordinator: Coordinator,
    /// Its health.
    pub health: Health,
}

/// Probes, all at once, every member that can serve (in service, running, with a
/// private IP); the others are left out.
pub async fn probe_serving(
    probe: &impl HealthProbe,
    members: &[Coordinator],
    port: u16,
    timeout: Duration,
) -> Vec<Probed> {
    let probes = members.iter().filter_map(|member| {
        let ip = member.serving_ip()?;
        Some(async move {
            Probed {
                coordinator: member.clone(),
                health: probe.probe(ip, port, timeout).await,
            }
        })
    });
    futures_util::future::join_all(probes).await
}

/// The coordinator to point the record at: the longest-running healthy one, ties
/// broken by instance id. `None` when no one is healthy.
pub fn healthiest(probed: &[Probed]) -> Option<&Coordinator> {
    probed
        .iter()
        .filter(|p| p.health.is_healthy())
        .map(|p| &p.coordinator)
        .min_by_key(|c| (c.launch_time, c.instance_id.clone()))
}

/// The same order among members that merely can serve, for when none is healthy yet.
pub fn first_serving(members: &[Coordinator]) -> Option<&Coordinator> {
    members
        .iter()
        .filter(|c| c.serving_ip().is_some())
        .min_by_key(|c| (c.launch_time, c.instance_id.clone()))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::group::{InstanceId, InstanceState};
    use crate::probe::ProbeFailure;

    fn member(id: &str, launched: u64) -> Coordinator {
        Coordinator {
            instance_id: InstanceId::new(id),
            private_ip: Some(Ipv4Addr::new(10, 0, 0, launched as u8)),
            in_service: true,
            state: InstanceState::Running,
            launch_time: Some(UNIX_EPOCH + Duration::from_secs(launched)),
            protected: false,
        }
    }

    fn probed(coordinator: Coordinator, health: Health) -> Probed {
        Probed {
            coordinator,
            health,
        }
    }

    #[test]
    fn the_longest_running_healthy_member_wins() {
        let all = [
            probed(member("i-c", 1), Health::Down(ProbeFailure::TimedOut)),
            probed(member("i-b", 3), Health::Healthy),
            probed(member("i-a", 2), Health::Starting),
            probed(member("i-d", 3), Health::Healthy),
        ];
        assert_eq!(
            healthiest(&all).map(|c| c.instance_id.as_str()),
            Some("i-b")
        );
        assert_eq!(healthiest(&all[..1]), None);
    }

    #[test]
    fn without_a_healthy_member_the_same_order_applies_to_serving_ones() {
        let mut stopped = member("i-a", 1);
        stopped.state = InstanceState::Gone;
        let mut leaving = member("i-b", 1);
        leaving.in_service = false;
        let members = [stopped, leaving, member("i-d", 2), member("i-c", 2)];
        assert_eq!(
            first_serving(&members).map(|c| c.instance_id.as_str()),
            Some("i-c")
        );
        assert_eq!(first_serving(&members[..2]), None);
    }
}
