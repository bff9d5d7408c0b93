//! Draining coordinators that are to go: waiting until they run no query, or until a
//! time limit has passed. `switchover --terminate-old` drains the old active
//! coordinator this way, and the DNS custom resource drains a replaced group's.

use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::time::Instant;

use crate::group::{Coordinator, InstanceId};
use crate::probe::{Health, ProbeFailure, QueryLoad};

/// How often the queries are counted while draining.
pub const DRAIN_POLL: Duration = Duration::from_secs(2);

/// What to do about a coordinator, given its unfinished queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drain {
    /// Nothing is left to finish.
    Done,
    /// Queries are unfinished (or cannot be counted yet): ask again shortly.
    Wait,
    /// The time limit passed with work unfinished.
    TimedOut,
}

/// Decides from one count of a coordinator's queries, `waited` into a drain of at
/// most `limit`. A coordinator that refuses connections runs nothing; one that cannot
/// be reached or read is waited for, since what it runs is unknown.
pub fn drain_step(
    unfinished: &Result<usize, ProbeFailure>,
    waited: Duration,
    limit: Duration,
) -> Drain {
    match unfinished {
        Ok(0) | Err(ProbeFailure::Refused) => Drain::Done,
        _ if waited >= limit => Drain::TimedOut,
        _ => Drain::Wait,
    }
}

/// One count, as a person reads it: "2 unfinished queries".
pub fn describe_load(unfinished: &Result<usize, ProbeFailure>) -> String {
    match unfinished {
        Ok(1) => "1 unfinished query".to_owned(),
        Ok(n) => format!("{n} unfinished queries"),
        Err(failure) => format!(
            "queries that cannot be counted ({})",
            Health::Down(failure.clone())
        ),
    }
}

/// Each coordinator still draining, and what its last count found.
pub type Unfinished = Vec<(InstanceId, String)>;

/// Waits until none of `coordinators` (those with a private IP) has an unfinished
/// query on `port`, or until `limit` has passed; each count is given `probe_timeout`.
/// `waiting` hears what is still unfinished each time that changes. Returns what was
/// unfinished when the limit passed: empty when everything finished.
pub async fn drain(
    load: &impl QueryLoad,
    coordinators: &[Coordinator],
    port: u16,
    probe_timeout: Duration,
    limit: Duration,
    mut waiting: impl FnMut(&Unfinished),
) -> Unfinished {
    let started = Instant::now();
    let mut left: Vec<(&Coordinator, Ipv4Addr)> = coordinators
        .iter()
        .filter_map(|c| Some((c, c.private_ip?)))
        .collect();
    let mut said = Unfinished::new();
    loop {
        let mut now = Unfinished::new();
        let mut timed_out = false;
        let mut still = Vec::new();
        for (coordinator, ip) in left {
            let unfinished = load.unfinished_queries(ip, port, probe_timeout).await;
            match drain_step(&unfinished, started.elapsed(), limit) {
                Drain::Done => continue,
                Drain::TimedOut => timed_out = true,
                Drain::Wait => {}
            }
            now.push((coordinator.instance_id.clone(), describe_load(&unfinished)));
            still.push((coordinator, ip));
        }
        if now.is_empty() || timed_out {
            return now;
        }
        if now != said {
            waiting(&now);
            said = now;
        }
        left = still;
        let next = (Instant::now() + DRAIN_POLL).min(started + limit);
        tokio::time::sleep_until(next).await;
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::fakes::FakeQueries;
    use crate::group::InstanceState;

    #[test]
    fn a_step_ends_when_nothing_is_left_or_the_limit_passes() {
        let s = Duration::from_secs;
        let limit = s(600);
        let cases = [
            (Ok(0), s(0), Drain::Done),
            (Ok(2), s(10), Drain::Wait),
            (Ok(2), s(600), Drain::TimedOut),
            (Err(ProbeFailure::Refused), s(1), Drain::Done),
            (Err(ProbeFailure::Status(401)), s(1), Drain::Wait),
            // Not reached (a TLS failure, no route from outside the VPC) is not idle.
            (
                Err(ProbeFailure::Unreachable("no route".into())),
                s(1),
                Drain::Wait,
            ),
            (Err(ProbeFailure::TimedOut), s(700), Drain::TimedOut),
        ];
        for (unfinished, waited, expected) in cases {
            assert_eq!(
                drain_step(&unfinished, waited, limit),
                expected,
                "{unfinished:?} {waited:?}"
            );
        }
    }

    fn coordinator(n: u8) -> Coordinator {
        Coordinator {
            instance_id: InstanceId::new(format!("i-{n}")),
            private_ip: Some(Ipv4Addr::new(10, 0, 0, n)),
            in_service: true,
            state: InstanceState::Running,
            launch_time: None,
            protected: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_waits_for_every_coordinator_and_says_what_changes() {
        let load = FakeQueries::default();
        load.set(Ipv4Addr::new(10, 0, 0, 1), 2);
        let mut heard = Vec::new();
        let started = Instant::now();
        let left = drain(
            &load,
            &[coordinator(1), coordinator(2)],
            8080,
            Duration::from_secs(1),
            Duration::from_secs(600),
            |now| heard.push(now.clone()),
        )
        .await;
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(started.elapsed(), 2 * DRAIN_POLL);
        let id = InstanceId::new("i-1");
        assert_eq!(
            heard,
            [
                vec![(id.clone(), "2 unfinished queries".to_owned())],
                vec![(id, "1 unfinished query".to_owned())],
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_ends_at_its_limit_naming_what_is_left() {
        let load = FakeQueries::default();
        load.set(Ipv4Addr::new(10, 0, 0, 1), 1000);
        let started = Instant::now();
        let left = drain(
            &load,
            &[coordinator(1)],
            8080,
            Duration::from_secs(1),
            Duration::from_secs(9),
            |_| {},
        )
        .await;
        assert_eq!(started.elapsed(), Duration::from_secs(9));
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, InstanceId::new("i-1"));
    }
}
