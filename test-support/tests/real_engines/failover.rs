//! Failover as a client sees it: three coordinators and two workers on real engines,
//! the stack deployed in the AWS emulator with its instances' addresses on the test
//! network, the real watcher binary invoked back to back through the Lambda Runtime
//! API as the schedule invokes it, and clients in the hub resolving the record's name
//! through the network's DNS server.
//!
//! The DNS server answers from the emulator's private zone, read again every record
//! TTL: the VPC's resolver caches an answer that long. Each instance the group launches
//! gets a host at its address, booted by the stack's user data; each instance the
//! group no longer has loses its host (the address may come back, as EC2 reuses it).
//!
//! Each fault hits the active coordinator: `kill -9` of its engine (the unit restarts
//! it, as systemd would), `SIGSTOP` of its JVM (a hang), its host's link cut. From the
//! fault, a Python client and the engine's JVM client (a new JVM each try, with the
//! README's DNS setting) each try `SELECT count(*) FROM tpch.tiny.lineitem` through the
//! record's name until one succeeds (a Python try given 5 s and tried again 250 ms
//! after a failure, a JVM one 10 s and 1 s after); the scan runs on workers only
//! (`node-scheduler.include-coordinator=false`), so a success means a worker took
//! part. Prints one line per client and fault, which
//! `scripts/bench.sh` reads; runs each fault `PRESTO_HA_FAILOVER_RUNS` times (1 by
//! default).
//!
//! Then an update replaces the coordinator group while both clients run a long query
//! (a count of a slow table, [`UPDATE_QUERY_TIME`]) on the active coordinator, as
//! CloudFormation carries it out: the new group beside the old, the watcher pointed at
//! it, the real custom-resource binary's Update, and the old group deleted after its
//! answer.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use presto_ha_contract::{
    CLIENT_CACHE_SECONDS, CUSTOM_RESOURCE_TIMEOUT_SECONDS, RECORD_TTL_SECONDS, dns_resource,
    dns_resource as property, outputs, parameters as param, users, watcher_env,
};
use presto_ha_coordinators::drain::DRAIN_POLL;
use presto_ha_generator::template::ids;
use presto_ha_test_support::aws::{self as emulator, SdkConfig, in_service_members};
use presto_ha_test_support::capture::ResponseCapture;
use presto_ha_test_support::engines::Engine;
use presto_ha_test_support::lambda::{Invocation, LambdaProcess, workspace_binary};
use presto_ha_test_support::stack::deploy;
use presto_ha_test_support::templates::stack_secrets::ADMIN_PASSWORD;
use presto_ha_test_support::templates::{Stack, generate, without_custom_resources};
use presto_ha_test_support::testnet::{Host, TestNet};
use serde_json::json;

use crate::cluster::*;

/// The variable that sets how many times each fault is run.
const RUNS_VAR: &str = "PRESTO_HA_FAILOVER_RUNS";
/// How long one try of the Python client may take.
const PYTHON_TRY: Duration = Duration::from_secs(5);
/// How long one try of the JVM client may take: a new JVM each time, which alone takes
/// seconds on a busy machine.
const JVM_TRY: Duration = Duration::from_secs(10);
/// The pause after a Python client's try that failed.
const PYTHON_PAUSE: Duration = Duration::from_millis(250);
/// The pause after a JVM client's try that failed: longer, since each try starts a
/// JVM, seconds of a core that the engines' own failover needs on a busy machine.
const JVM_PAUSE: Duration = Duration::from_secs(1);
/// How long a fault may take to be survived before the test fails: far beyond the
/// README's bounds, which the benchmark reports against on a quiet machine; the test
/// command runs beside other tests.
const GIVE_UP: Duration = Duration::from_secs(300);
/// The workers' addresses: above any the emulator gives out to the coordinators'
/// replacements in a test.
const WORKER_HOSTS: [u8; 2] = [120, 121];
/// How long a client's process may take to exit after its query's last page.
const CLIENT_EXIT: Duration = Duration::from_secs(5);
/// How long a long query's client may take, through an update.
const QUERY_LIMIT: Duration = Duration::from_secs(600);
/// How long the update's query lasts (a count of a slow table): well over the wait for
/// clients to follow the record after the move, so that the drain counts it.
const UPDATE_QUERY_TIME: Duration = Duration::from_secs(80);
/// The watcher's timeout as the update's custom resource is told it. The test stops
/// the old watcher's schedule before pointing the watcher at the new group, so no
/// run of it is in flight; the wait for one (the real 90 s) is the handler's unit
/// tests'. This keeps the drain's count within the query's time.
const WATCHER_RUNS_WAITED: u64 = 5;

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// `kill -9` of the engine.
    Kill,
    /// `SIGSTOP` of the engine's JVM.
    Stop,
    /// The host's link cut.
    Cut,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Self::Kill => "exited",
            Self::Stop => "hung",
            Self::Cut => "cut-off",
        }
    }
}

/// The stack in the emulator, the cluster playing its instances, and what keeps the
/// two together while the test runs.
struct Failover {
    runtime: tokio::runtime::Runtime,
    config: SdkConfig,
    stack_name: String,
    outputs: BTreeMap<String, String>,
    zone: String,
    group: String,
    cluster: Arc<Cluster>,
    /// The coordinators' nodes, by instance id.
    nodes: Arc<Mutex<BTreeMap<String, Node>>>,
    workers: Vec<(Role, Node)>,
    /// Each value the record took, as the network's DNS server came to answer it.
    record: Arc<Mutex<Vec<(Instant, Ipv4Addr)>>>,
    /// What went wrong in the background: a boot, an invocation.
    trouble: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    watcher: Option<(tokio::task::JoinHandle<()>, std::path::PathBuf)>,
}

impl Failover {
    /// Deploys the stack (three coordinators), seeds the record on the oldest one as
    /// the custom resource does, boots a node for each instance and the two workers,
    /// and starts the watcher's schedule.
    fn start(engine: Engine) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let (config, network, stack) = runtime.block_on(async {
            let config = emulator::config().await;
            let name = format!("failover-{}", engine.name());
            let sandbox = emulator::Sandbox::create_on_test_network(&config, &name)
                .await
                .expect("sandbox");
            let (template, _) = without_custom_resources(&generate(&[]));
            let mut parameters = sandbox.parameters();
            parameters.push((param::HA_COORDINATORS_COUNT, "3".to_owned()));
            let stack = deploy(&config, &sandbox.name, &template, &parameters)
                .await
                .expect("stack");
            (config, sandbox.network, stack)
        });
        let net = TestNet::on(network);
        net.reach_from_here();
        let mut failover = Self {
            runtime,
            config,
            stack_name: stack.name.clone(),
            outputs: stack.outputs.clone(),
            zone: stack.outputs["HostedZoneId"].clone(),
            group: stack.outputs["CoordinatorGroupName"].clone(),
            cluster: Arc::new(Cluster::on(engine, Security::TlsAndPasswords, net, &[])),
            nodes: Arc::default(),
            workers: Vec::new(),
            record: Arc::default(),
            trouble: Arc::default(),
            stop: Arc::default(),
            threads: Vec::new(),
            watcher: None,
        };
        let members = failover.members();
        assert_eq!(members.len(), 3, "{members:?}");
        failover.runtime.block_on(emulator::set_a_record(
            &failover.config,
            &failover.zone,
            RECORD,
            members[0].1,
        ));
        failover.mirror_the_zone();
        failover.follow(failover.group.clone());
        let [a, b, c, _] = network.octets();
        let workers: Vec<(Role, Host, String)> = WORKER_HOSTS
            .iter()
            .enumerate()
            .map(|(n, last)| {
                let host = failover.cluster.net.host_at(Ipv4Addr::new(a, b, c, *last));
                (Role::Worker, host, format!("i-worker{n:010}"))
            })
            .collect();
        failover.workers = failover.cluster.boot_all(workers);
        failover.wait_until_ready();
        failover.schedule_the_watcher(&stack.outputs["WatcherFunctionName"]);
        failover
    }

    /// The group's in-service members, oldest first.
    fn members(&self) -> Vec<emulator::Member> {
        self.runtime
            .block_on(in_service_members(&self.config, &self.group))
    }

    /// Serves the emulator's zone from the network's DNS server, read again every
    /// record TTL, as the VPC's resolver caches it.
    fn mirror_the_zone(&mut self) {
        let (config, zone, cluster) =
            (self.config.clone(), self.zone.clone(), self.cluster.clone());
        let (record, stop) = (self.record.clone(), self.stop.clone());
        let handle = self.runtime.handle().clone();
        let read = move || {
            let records = handle.block_on(emulator::a_records_with_ttl(&config, &zone));
            let answered: BTreeMap<String, (Ipv4Addr, u32)> = records
                .into_iter()
                .filter_map(|(name, ips, ttl)| Some((name, (*ips.first()?, ttl))))
                .collect();
            cluster.net.set_records(&answered);
            if let Some((ip, _)) = answered.get(&format!("{RECORD}.")) {
                let mut seen = record.lock().expect("record");
                if seen.last().map(|(_, last)| last) != Some(ip) {
                    seen.push((Instant::now(), *ip));
                }
            }
        };
        read();
        self.threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(u64::from(RECORD_TTL_SECONDS)));
                read();
            }
        }));
    }

    /// Gives each instance `group` launches a host at its address, booted as a
    /// coordinator, and takes the host of each instance the group no longer has.
    fn follow(&mut self, group: String) {
        let (config, cluster) = (self.config.clone(), self.cluster.clone());
        let (nodes, trouble, stop) = (self.nodes.clone(), self.trouble.clone(), self.stop.clone());
        let handle = self.runtime.handle().clone();
        self.threads.push(std::thread::spawn(move || {
            let booting: Arc<Mutex<BTreeSet<String>>> = Arc::default();
            // The instances of this group that have a node (other groups' nodes are
            // in `nodes` too).
            let mine: Arc<Mutex<BTreeSet<String>>> = Arc::default();
            while !stop.load(Ordering::Relaxed) {
                let members = handle.block_on(in_service_members(&config, &group));
                let serving: BTreeSet<&String> = members.iter().map(|(id, ..)| id).collect();
                let mut ours = mine.lock().expect("mine");
                nodes.lock().expect("nodes").retain(|id, node| {
                    let kept = serving.contains(id) || !ours.contains(id);
                    if !kept {
                        cluster.net.remove(&node.host);
                    }
                    if !kept {
                        ours.remove(id);
                    }
                    kept
                });
                drop(ours);
                for (id, ip, _) in &members {
                    let known = nodes.lock().expect("nodes").contains_key(id);
                    if known || !booting.lock().expect("booting").insert(id.clone()) {
                        continue;
                    }
                    let (cluster, nodes, trouble, booting, mine) = (
                        cluster.clone(),
                        nodes.clone(),
                        trouble.clone(),
                        booting.clone(),
                        mine.clone(),
                    );
                    let (id, ip) = (id.clone(), *ip);
                    std::thread::spawn(move || {
                        let host = cluster.net.host_at(ip);
                        let booted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            cluster.boot_node(Role::Coordinator, &host, &id)
                        }));
                        match booted {
                            Ok(node) => {
                                mine.lock().expect("mine").insert(id.clone());
                                nodes.lock().expect("nodes").insert(id.clone(), node);
                            }
                            Err(_) => {
                                trouble
                                    .lock()
                                    .expect("trouble")
                                    .push(format!("the boot of {id} at {ip} failed"));
                                cluster.net.remove(&host);
                            }
                        }
                        booting.lock().expect("booting").remove(&id);
                    });
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }));
    }

    /// Invokes the watcher binary back to back, each invocation with the function's
    /// own timeout and environment as the emulator's stack has them (watching
    /// `self.group`), as its schedule does; a schedule already running is stopped
    /// first.
    fn schedule_the_watcher(&mut self, function: &str) {
        if let Some((task, _)) = self.watcher.take() {
            task.abort();
        }
        let (environment, timeout) = self
            .runtime
            .block_on(emulator::function_environment(function));
        let environment: Vec<(&str, String)> = environment
            .iter()
            .map(|(k, v)| match k.as_str() {
                watcher_env::COORDINATOR_GROUP => (k.as_str(), self.group.clone()),
                _ => (k.as_str(), v.clone()),
            })
            .collect();
        let binary = workspace_binary("presto-ha-watcher");
        let name = format!("watcher-{}", self.cluster.engine.name());
        let mut watcher = self
            .runtime
            .block_on(LambdaProcess::start(&binary, &name, &environment));
        let log = watcher.log_path().to_owned();
        let (trouble, stop) = (self.trouble.clone(), self.stop.clone());
        let event = json!({
            "version": "0",
            "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-12-06T12:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/WatcherSchedule"],
            "detail": {},
        });
        let task = self.runtime.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let result = watcher.invoke(&event, timeout).await;
                if result != Invocation::Response(serde_json::Value::Null) {
                    trouble
                        .lock()
                        .expect("trouble")
                        .push(format!("a watcher invocation ended with {result:?}"));
                }
            }
        });
        self.watcher = Some((task, log));
    }

    /// Waits until every member has a node, the record is on one of them, and both
    /// workers are active on it.
    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            self.assert_no_trouble();
            let members = self.members();
            let booted = {
                let nodes = self.nodes.lock().expect("nodes");
                members.len() == 3 && members.iter().all(|(id, ..)| nodes.contains_key(id))
            };
            let on_a_node = self
                .record
                .lock()
                .expect("record")
                .last()
                .is_some_and(|(_, ip)| members.iter().any(|(_, member, _)| member == ip));
            if booted && on_a_node {
                self.cluster.wait_for_workers(2);
                return;
            }
            assert!(Instant::now() < deadline, "the cluster never became ready");
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn assert_no_trouble(&self) {
        let trouble = self.trouble.lock().expect("trouble");
        assert!(trouble.is_empty(), "{trouble:?}\n{}", self.watcher_log());
    }

    fn watcher_log(&self) -> String {
        self.watcher
            .as_ref()
            .and_then(|(_, log)| std::fs::read_to_string(log).ok())
            .unwrap_or_default()
    }

    /// Hits the active coordinator with `fault`, and returns how long each client took
    /// to get the first right answer through the record's name, from the fault.
    fn survive(&self, fault: Fault) -> [(&'static str, Duration); 2] {
        let active = self
            .record
            .lock()
            .expect("record")
            .last()
            .expect("a record")
            .1;
        {
            let nodes = self.nodes.lock().expect("nodes");
            let node = nodes
                .values()
                .find(|n| n.host.address == active)
                .expect("the active coordinator's node");
            match fault {
                Fault::Kill => node.signal_engine("-KILL"),
                Fault::Stop => node.signal_engine("-STOP"),
                Fault::Cut => self.cluster.net.cut(&node.host),
            }
        }
        let fault_at = Instant::now();
        let cluster = &self.cluster;
        let first_success = |client: &'static str| {
            let deadline = fault_at + GIVE_UP;
            loop {
                let tried = match client {
                    "python" => cluster
                        .python_within(PYTHON_TRY, "admin", ADMIN_PASSWORD, COUNT)
                        .map(|rows| rows[0][0].as_u64() == Some(TINY_LINEITEMS)),
                    _ => cluster
                        .cli_within(JVM_TRY, "admin", ADMIN_PASSWORD, COUNT)
                        .map(|csv| csv.trim().trim_matches('"') == TINY_LINEITEMS.to_string()),
                };
                match tried {
                    Ok(true) => return (client, fault_at.elapsed()),
                    Ok(false) => panic!("{client}: a wrong count after the {fault:?}"),
                    Err(_) => {}
                }
                assert!(
                    Instant::now() < deadline,
                    "{client}: no query succeeded within {GIVE_UP:?} of the {fault:?}; the watcher's log:\n{}",
                    self.watcher_log()
                );
                std::thread::sleep(match client {
                    "python" => PYTHON_PAUSE,
                    _ => JVM_PAUSE,
                });
            }
        };
        let took = std::thread::scope(|scope| {
            let clients = ["python", "jvm"].map(|c| scope.spawn(move || first_success(c)));
            clients.map(|c| c.join().expect("a client"))
        });
        // Served by another coordinator, not by the old one come back: the record had
        // moved before either success.
        let moved = self
            .record
            .lock()
            .expect("record")
            .iter()
            .find(|(at, ip)| *at > fault_at && *ip != active)
            .map(|(at, _)| *at - fault_at);
        for (client, seconds) in &took {
            assert!(
                moved.is_some_and(|moved| moved <= *seconds),
                "{client} succeeded {seconds:?} after the {fault:?}, the record moved after {moved:?}"
            );
        }
        took
    }
}

/// The coordinator group's replacement in an update, and how it went.
struct Update {
    /// What each client's query counts.
    rows: u64,
    /// The custom resource's answer.
    answer: serde_json::Value,
    /// The group replaced.
    old_group: String,
    /// The new group's coordinator.
    new_coordinator: Ipv4Addr,
    /// From the record's move to the answer.
    answered: Duration,
    /// From the record's move to each client's answer, and the answer.
    queries: [(&'static str, Duration, Result<u64, String>); 2],
}

impl Failover {
    /// An update that replaces the coordinator group, as CloudFormation carries it
    /// out (`AutoScalingReplacingUpdate`) while a Python and a JVM client each run
    /// a count of a slow table on the active coordinator: a new group of one from the same
    /// launch template, its coordinator booted; the watcher's function pointed at the
    /// new group (its runs move the record there); and the custom resource's Update,
    /// the real binary with the properties the template gives it (the emulator's
    /// zone, groups, function and admin secret, and the test's authority, put in).
    /// The old group is deleted when the custom resource has answered.
    fn replace_the_coordinators(&mut self) -> Update {
        let old_group = self.group.clone();
        let new_group = format!("{old_group}-replacement");
        self.runtime.block_on(emulator::replacement_group(
            &self.config,
            &old_group,
            &new_group,
            1,
        ));
        self.follow(new_group.clone());
        let new_member = loop {
            let members = self
                .runtime
                .block_on(in_service_members(&self.config, &new_group));
            if let Some((id, ..)) = members.first()
                && self.nodes.lock().expect("nodes").contains_key(id)
            {
                break members[0].clone();
            }
            self.assert_no_trouble();
            std::thread::sleep(Duration::from_secs(1));
        };
        // The admin's password in Secrets Manager, as the nodes have it.
        let admin_secret = self.runtime.block_on(emulator::create_secret(
            &self.config,
            &format!("{}-admin", self.stack_name),
            &json!({ users::ADMIN: ADMIN_PASSWORD }).to_string(),
        ));
        let template = generate(&[]);
        let resolved = Stack::new(&template, &[])
            .resolved(&template["Resources"][ids::COORDINATOR_DNS]["Properties"]);
        let mut properties = resolved.expect("the properties");
        let function = self.outputs[outputs::WATCHER_FUNCTION_NAME].clone();
        for (name, value) in [
            (property::HOSTED_ZONE_ID, self.zone.clone()),
            (property::WATCHER_FUNCTION, function.clone()),
            (
                property::WATCHER_TIMEOUT_SECONDS,
                WATCHER_RUNS_WAITED.to_string(),
            ),
            (property::ADMIN_SECRET, admin_secret),
            (
                property::CLIENT_AUTHORITY,
                std::fs::read_to_string(self.cluster.authority.ca_pem()).expect("the authority"),
            ),
        ] {
            assert!(
                properties.get(name).is_some(),
                "the template gives no {name}"
            );
            properties[name] = value.into();
        }
        let old_properties = {
            let mut old = properties.clone();
            old[property::COORDINATOR_GROUP] = old_group.as_str().into();
            old
        };
        properties[property::COORDINATOR_GROUP] = new_group.as_str().into();
        let stack_id = format!(
            "arn:aws:cloudformation:us-east-1:123456789012:stack/{}/0000",
            self.stack_name
        );
        let (capture, mut custom_resource) = self.runtime.block_on(async {
            let capture = ResponseCapture::start().await;
            let binary = workspace_binary("presto-ha-custom-resource");
            let name = format!("custom-resource-{}", self.cluster.engine.name());
            let process =
                LambdaProcess::start(&binary, &name, &capture.custom_resource_env(&stack_id)).await;
            (capture, process)
        });
        let event = json!({
            "RequestType": "Update",
            "ServiceToken": properties["ServiceToken"],
            "ResponseURL": capture.url(),
            "StackId": stack_id,
            "RequestId": "update-1",
            "LogicalResourceId": ids::COORDINATOR_DNS,
            "ResourceType": dns_resource::TYPE,
            "PhysicalResourceId": format!("{}/{RECORD}", self.zone),
            "ResourceProperties": properties,
            "OldResourceProperties": old_properties,
        });

        let cluster = self.cluster.clone();
        let table = cluster.slow_table("updated", UPDATE_QUERY_TIME);
        let query = &table.query;
        let running = format!(
            "SELECT count(*) FROM system.runtime.queries WHERE state = 'RUNNING' AND query = '{query}'"
        );
        std::thread::scope(|scope| {
            let python = scope.spawn(|| {
                let rows = cluster.python_within(QUERY_LIMIT, "admin", ADMIN_PASSWORD, query);
                (Instant::now(), rows.map(|rows| tiny_count(&rows)))
            });
            let jvm = scope.spawn(|| {
                let csv = cluster.cli_within(QUERY_LIMIT, "admin", ADMIN_PASSWORD, query);
                let count = csv.and_then(|csv| {
                    csv.trim()
                        .trim_matches('"')
                        .parse()
                        .map_err(|_| format!("not a count: {csv}"))
                });
                (Instant::now(), count)
            });
            cluster.wait_for_running_tasks(&running, 2, Duration::from_secs(120));
            self.group = new_group.clone();
            self.schedule_the_watcher(&function);
            let moved_from = Instant::now();
            let invocation = self.runtime.block_on(custom_resource.invoke(
                &event,
                Duration::from_secs(u64::from(CUSTOM_RESOURCE_TIMEOUT_SECONDS)),
            ));
            let answered = moved_from.elapsed();
            // What the drain waited for, each time that changed.
            for line in custom_resource.log_text().lines() {
                if line.contains("waiting_for") {
                    eprintln!("update engine={} drain: {line}", cluster.engine.name());
                }
            }
            assert_eq!(
                invocation,
                Invocation::Response(serde_json::Value::Null),
                "{}",
                custom_resource.log_text()
            );
            let mut puts = capture.take();
            assert_eq!(puts.len(), 1, "{puts:?}");
            // CloudFormation deletes the old group once the update's resources are done.
            self.runtime
                .block_on(emulator::delete_group(&self.config, &old_group));
            let query = |client: &'static str, joined: (Instant, Result<u64, String>)| {
                (
                    client,
                    joined.0.saturating_duration_since(moved_from),
                    joined.1,
                )
            };
            Update {
                rows: table.rows,
                answer: puts.remove(0).body,
                old_group,
                new_coordinator: new_member.1,
                answered,
                queries: [
                    query("python", python.join().expect("the Python client")),
                    query("jvm", jvm.join().expect("the JVM client")),
                ],
            }
        })
    }
}

impl Drop for Failover {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some((task, _)) = self.watcher.take() {
            task.abort();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        self.nodes.lock().map(|mut n| n.clear()).ok();
        self.workers.clear();
    }
}

/// How many times each fault is run.
fn runs() -> usize {
    std::env::var(RUNS_VAR)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{RUNS_VAR}={v} is not a count"))
        })
        .unwrap_or(1)
}

/// Each fault, `runs()` times, on a cluster of `engine`: each survived, with the
/// record moved to another coordinator, the old instance replaced and the cluster
/// back to three booted coordinators and two workers before the next. Then the
/// coordinators are replaced by an update.
pub(crate) fn fails_over_as_a_client_sees_it(engine: Engine) {
    let failover = Failover::start(engine);
    for run in 0..runs() {
        for fault in [Fault::Kill, Fault::Stop, Fault::Cut] {
            failover.wait_until_ready();
            // The watcher has probed the cluster as it stands.
            std::thread::sleep(Duration::from_secs(6));
            for (client, took) in failover.survive(fault) {
                eprintln!(
                    "failover engine={} fault={} client={client} run={run} seconds={:.1}",
                    engine.name(),
                    fault.name(),
                    took.as_secs_f64()
                );
            }
        }
    }
    failover.wait_until_ready();
    failover.assert_no_trouble();
    an_update_keeps_the_old_coordinators_queries(failover);
}

/// The coordinator group replaced by an update while a Python and a JVM client run a
/// long query on the active coordinator: both queries complete with the right count,
/// the custom resource answers only after they have (having counted them on the old
/// group over HTTPS as the admin), the record is on the new group's coordinator, and
/// once the old group is gone both clients' queries and both workers are on it.
fn an_update_keeps_the_old_coordinators_queries(mut failover: Failover) {
    let engine = failover.cluster.engine;
    let update = failover.replace_the_coordinators();
    assert_eq!(update.answer["Status"], "SUCCESS", "{}", update.answer);
    let reason = update.answer["Reason"].as_str().unwrap_or_default();
    let drained = format!(
        "drained coordinator group {}: no query left after ",
        update.old_group
    );
    assert!(reason.contains(&drained), "{reason}");
    // It counted queries past its wait for clients to follow the record: a count
    // that found none at once would have ended it then.
    let waited: u64 = reason
        .split(&drained)
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no drain time in {reason:?}"));
    assert!(
        waited >= u64::from(RECORD_TTL_SECONDS + CLIENT_CACHE_SECONDS) + DRAIN_POLL.as_secs(),
        "{reason}"
    );
    // The drain counted the queries on the old coordinator: they outlasted the wait
    // for clients to follow the record.
    let follow = Duration::from_secs(
        WATCHER_RUNS_WAITED + u64::from(RECORD_TTL_SECONDS + CLIENT_CACHE_SECONDS),
    );
    for (client, took, count) in &update.queries {
        assert_eq!(
            count,
            &Ok(update.rows),
            "{client}: the long query through the update"
        );
        assert!(
            *took > follow,
            "{client}'s query ended {took:?} after the move, before the drain counted ({follow:?}): make it longer"
        );
        // A client's process may still be exiting (a JVM's shutdown) after the last
        // page, which is when the coordinator counts the query as finished.
        assert!(
            *took <= update.answered + CLIENT_EXIT,
            "{client}'s query ended {took:?} after the move, the custom resource answered after {:?}",
            update.answered
        );
        eprintln!(
            "update engine={} client={client} query_done_after_move_seconds={:.1} answered_after_move_seconds={:.1}",
            engine.name(),
            took.as_secs_f64(),
            update.answered.as_secs_f64()
        );
    }
    let on = failover
        .record
        .lock()
        .expect("record")
        .last()
        .map(|(_, ip)| *ip);
    assert_eq!(
        on,
        Some(update.new_coordinator),
        "the record after the update"
    );
    failover.cluster.wait_for_workers(2);
    // A coordinator schedules on the workers of its node manager, refreshed every few
    // seconds after they show in `system.runtime.nodes` (prestodb answered "No worker
    // nodes available" once in between): the client tries again, as after a failover.
    let deadline = Instant::now() + Duration::from_secs(60);
    let counted = loop {
        let counted = failover
            .cluster
            .cli("admin", ADMIN_PASSWORD, COUNT)
            .map(|csv| csv.trim().trim_matches('"').to_owned());
        if counted.is_ok() || Instant::now() > deadline {
            break counted;
        }
        std::thread::sleep(JVM_PAUSE);
    };
    assert_eq!(counted, Ok(TINY_LINEITEMS.to_string()));
    eprintln!("update engine={} reason={reason:?}", engine.name());
    failover.assert_no_trouble();
}
