//! The real engines, booted by the stack's own user data: Trino and prestodb from the
//! tarballs Maven Central publishes (see `presto_ha_test_support::engines`), each node
//! a host of its own on a test network (`testnet`), booted in the node sandbox with a
//! real JDK for the Corretto package and its engine started from the unit the boot
//! wrote, as that unit's user. The configuration is exactly what the boot wrote.
//! Clients are the engines' own: their Python clients from PyPI and their JVM
//! command-line clients from Maven Central, resolving the coordinator record through
//! the network's DNS server (TTL 5 s, as the private zone answers).
//!
//! Only the AWS calls are stand-ins (the instance metadata, Secrets Manager, S3, the
//! lifecycle hooks, cfn-signal), as in `node_boot.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use presto_ha_contract::{RECORD_TTL_SECONDS, notes, parameters as param};
use presto_ha_generator::settings::ClientSecurity;
use presto_ha_test_support::engines::{self, Engine};
use presto_ha_test_support::needs;
use presto_ha_test_support::sandbox::{Boot, Sandbox};
use presto_ha_test_support::templates::stack_secrets::{
    ADMIN_PASSWORD, ADMIN_SECRET_ID, SHARED_SECRET, SHARED_SECRET_ID, TLS_SECRET_ID,
};
use presto_ha_test_support::templates::user_data;
use presto_ha_test_support::testnet::{Host, TestNet};

const RECORD: &str = "coordinator.presto.internal";
const HTTP_PORT: u16 = 8080;
const HTTPS_PORT: u16 = 8443;
/// Each node's memory: the boot gives the engine seven tenths of it, so that three
/// coordinators and two workers of both engines fit the test machine with a build.
const NODE_MEMORY_MIB: u64 = 2048;
/// `SELECT count(*) FROM tpch.tiny.lineitem`, as both engines' tpch connector has it.
const TINY_LINEITEMS: u64 = 60_175;
const COUNT: &str = "SELECT count(*) FROM tpch.tiny.lineitem";
/// The rows of `tpch.sf1.lineitem`.
const SF1_LINEITEMS: u64 = 6_001_215;
/// `WorkerDrainSeconds` at the template's default.
const DRAIN_SECONDS: u64 = 300;

const USERS_SECRET_ID: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:analysts-AbCdEf";
const ANALYST: &str = "analyst";
const ANALYST_PASSWORD: &str = "an4lyst-Passw0rd";

/// The authority clients trust (`PrestoCACertificate`) and the chain and key it
/// issued for the record, as PEM texts, made by openssl.
struct Authority {
    dir: tempfile::TempDir,
    chain: String,
    key: String,
}

impl Authority {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let run = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl runs");
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &["-days", "2", "-subj", "/CN=presto-ha test authority"],
        ]
        .concat()
        .iter()
        .chain(&["-keyout", "ca.key", "-out", "ca.pem"])
        .copied()
        .collect::<Vec<_>>());
        run(&[
            &["req"][..],
            &ec,
            &[
                "-subj",
                &format!("/CN={RECORD}"),
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat());
        std::fs::write(
            dir.path().join("san.ext"),
            format!("subjectAltName=DNS:{RECORD}\n"),
        )
        .expect("extensions");
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "leaf.pem",
        ]);
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect("PEM");
        let chain = read("leaf.pem") + &read("ca.pem");
        let key = read("key.pem");
        // The JVM clients trust the authority from a PKCS12 trust store.
        let keytool = engines::java(&engines::jdk("java-17-amazon-corretto-headless"))
            .with_file_name("keytool");
        let status = Command::new(keytool)
            .args([
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-file",
                "ca.pem",
            ])
            .args([
                "-keystore",
                "ca.p12",
                "-storetype",
                "PKCS12",
                "-storepass",
                "changeit",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .status()
            .expect("keytool runs");
        assert!(status.success());
        Self { dir, chain, key }
    }

    fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn trust_store(&self) -> PathBuf {
        self.dir.path().join("ca.p12")
    }
}

/// How clients reach a cluster.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Security {
    TlsAndPasswords,
    None,
}

/// A cluster on a test network, every node booted by the stack's user data.
struct Cluster {
    engine: Engine,
    security: Security,
    authority: Authority,
    coordinators: Vec<Node>,
    workers: Vec<Node>,
    records: BTreeMap<String, (std::net::Ipv4Addr, u32)>,
    net: TestNet,
}

struct Node {
    sandbox: Sandbox,
    host: Host,
}

impl Cluster {
    /// `coordinators` coordinators and `workers` workers of `engine`, booted at once,
    /// each boot asserted to have completed (launch hook CONTINUE on a coordinator,
    /// SUCCESS to CloudFormation).
    fn boot(
        engine: Engine,
        security: Security,
        coordinators: usize,
        workers: usize,
        given: &[(&str, &str)],
    ) -> Self {
        let mut net = TestNet::new();
        let authority = Authority::new();
        let mut parameters = vec![
            (param::ENGINE, engine.name()),
            (param::PRESTO_VERSION, engine.release()),
            (param::USERS_SECRET_ARN, USERS_SECRET_ID),
        ];
        if security == Security::None {
            parameters.push((param::CLIENT_SECURITY, ClientSecurity::None.as_str()));
        }
        parameters.extend_from_slice(given);
        let tarball = engine.tarball();
        let hosts: Vec<(bool, Host)> = (0..coordinators)
            .map(|_| true)
            .chain((0..workers).map(|_| false))
            .map(|coordinator| (coordinator, net.host()))
            .collect();
        // The record on the first coordinator, each coordinator's member record on it.
        let mut records = BTreeMap::new();
        records.insert(
            format!("{RECORD}."),
            (hosts[0].1.address, RECORD_TTL_SECONDS),
        );
        for (slot, (_, host)) in hosts.iter().filter(|(c, _)| *c).enumerate() {
            let slot = u8::try_from(slot + 1).expect("few coordinators");
            records.insert(
                format!("{}.", notes::member_name(slot, RECORD)),
                (host.address, RECORD_TTL_SECONDS),
            );
        }
        net.set_records(&records);
        let nodes: Vec<(bool, Node)> = std::thread::scope(|scope| {
            let booting: Vec<_> = hosts
                .into_iter()
                .enumerate()
                .map(|(n, (coordinator, host))| {
                    let template = if coordinator {
                        "CoordinatorLaunchTemplate"
                    } else {
                        "WorkerLaunchTemplate"
                    };
                    let data = user_data(template, &parameters);
                    let (authority, tarball) = (&authority, &tarball);
                    scope.spawn(move || {
                        let node = Node::boot(engine, &host, n, authority, tarball, &data);
                        (coordinator, node)
                    })
                })
                .collect();
            booting
                .into_iter()
                .map(|b| b.join().expect("a boot"))
                .collect()
        });
        let (coordinators, workers): (Vec<_>, Vec<_>) = nodes.into_iter().partition(|(c, _)| *c);
        Self {
            engine,
            security,
            authority,
            coordinators: coordinators.into_iter().map(|(_, n)| n).collect(),
            workers: workers.into_iter().map(|(_, n)| n).collect(),
            records,
            net,
        }
    }

    /// Moves the coordinator record to `address`, its TTL unchanged, the member
    /// records as they were.
    fn move_record(&self, address: std::net::Ipv4Addr) {
        let mut records = self.records.clone();
        records.insert(format!("{RECORD}."), (address, RECORD_TTL_SECONDS));
        self.net.set_records(&records);
    }

    /// The URL clients use: the record's name.
    fn url(&self) -> String {
        match self.security {
            Security::TlsAndPasswords => format!("https://{RECORD}:{HTTPS_PORT}"),
            Security::None => format!("http://{RECORD}:{HTTP_PORT}"),
        }
    }

    /// `sql` through the engine's Python client as `user`: the rows as JSON, or the
    /// client's error (a query that waits, for workers say, fails after a minute).
    fn python(&self, user: &str, password: &str, sql: &str) -> Result<serde_json::Value, String> {
        self.python_within(Duration::from_secs(60), user, password, sql)
    }

    /// [`Cluster::python`], given up after `limit`.
    fn python_within(
        &self,
        limit: Duration,
        user: &str,
        password: &str,
        sql: &str,
    ) -> Result<serde_json::Value, String> {
        let python = PathBuf::from(
            std::env::var_os(presto_ha_test_support::tools::TOOLS_VAR).expect("the tools"),
        )
        .join("python");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/client.py");
        let output = self
            .net
            .in_hub("timeout")
            .arg(limit.as_secs().to_string())
            .arg(python)
            .arg(script)
            .args([self.engine.name(), &self.url(), user, password])
            .arg(self.authority.ca_pem())
            .arg(sql)
            .output()
            .expect("the Python client runs");
        if output.status.success() {
            Ok(serde_json::from_slice(&output.stdout).expect("rows as JSON"))
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// `sql` through the engine's own JVM command-line client as `user`: its CSV
    /// output, or its error.
    fn cli(&self, user: &str, password: &str, sql: &str) -> Result<String, String> {
        let java = engines::java(&self.engine.cli_java_home());
        let mut command = self.net.in_hub(java);
        command
            .arg("-jar")
            .arg(self.engine.cli_jar())
            .args(["--server", &self.url(), "--user", user, "--execute", sql])
            .args(["--output-format", "CSV"]);
        if self.security == Security::TlsAndPasswords {
            let variable = match self.engine {
                Engine::Presto => "PRESTO_PASSWORD",
                Engine::Trino => "TRINO_PASSWORD",
            };
            command
                .arg("--password")
                .arg("--truststore-path")
                .arg(self.authority.trust_store())
                .args(["--truststore-password", "changeit"])
                .env(variable, password);
        }
        let output = command.stdin(Stdio::null()).output().expect("the CLI runs");
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        if output.status.success() {
            Ok(text(&output.stdout))
        } else {
            Err(text(&output.stderr) + &text(&output.stdout))
        }
    }

    /// Waits (up to two minutes) until the active coordinator lists `workers` active
    /// workers in `system.runtime.nodes`, and returns their addresses.
    fn wait_for_workers(&self, workers: usize) -> Vec<String> {
        let sql = "SELECT http_uri FROM system.runtime.nodes WHERE coordinator = false AND state = 'active' ORDER BY 1";
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let seen = self.python("admin", ADMIN_PASSWORD, sql);
            if let Ok(rows) = &seen {
                let uris: Vec<String> = rows
                    .as_array()
                    .expect("rows")
                    .iter()
                    .map(|r| r[0].as_str().expect("a URI").to_owned())
                    .collect();
                if uris.len() == workers {
                    return uris;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{workers} workers never appeared: {seen:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// What every node's engine printed, for a failure's message.
    fn logs(&self) -> String {
        let service = format!("{}.service", self.engine.name());
        self.coordinators
            .iter()
            .chain(&self.workers)
            .map(|n| {
                let log = n.sandbox.unit_log(&service);
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                format!(
                    "--- {} ---\n{}",
                    n.host.address,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Node {
    /// Boots `user_data` on `host` as the `n`-th instance, with the stack's secrets.
    /// `objects` are S3 objects (URI, bytes) the boot may read.
    fn start(
        engine: Engine,
        host: &Host,
        n: usize,
        authority: &Authority,
        tarball: &Path,
        user_data: &str,
        objects: &[(&str, &[u8])],
    ) -> (Sandbox, Boot) {
        let sandbox = Sandbox::on_host(host, &format!("i-0000000000000000{n}"), NODE_MEMORY_MIB);
        sandbox.put_secret(SHARED_SECRET_ID, SHARED_SECRET);
        sandbox.put_secret(
            ADMIN_SECRET_ID,
            &format!("{{\"admin\":\"{ADMIN_PASSWORD}\"}}"),
        );
        sandbox.put_secret(
            USERS_SECRET_ID,
            &format!("{{\"{ANALYST}\":\"{ANALYST_PASSWORD}\"}}"),
        );
        sandbox.put_secret(
            TLS_SECRET_ID,
            &serde_json::json!({ "certificate": authority.chain, "privateKey": authority.key })
                .to_string(),
        );
        for package in [
            "java-11-amazon-corretto-headless",
            "java-17-amazon-corretto-headless",
            "java-25-amazon-corretto-headless",
        ] {
            sandbox.provide_jdk(package, &engines::jdk(package));
        }
        sandbox.publish_file(&engine.tarball_url(), tarball);
        let sha1 = tarball.with_file_name(format!(
            "{}.sha1",
            tarball.file_name().expect("a name").to_string_lossy()
        ));
        sandbox.publish_file(&format!("{}.sha1", engine.tarball_url()), &sha1);
        for (uri, bytes) in objects {
            sandbox.put_object(uri, bytes);
        }
        let boot = sandbox.boot(user_data);
        (sandbox, boot)
    }

    fn boot(
        engine: Engine,
        host: &Host,
        n: usize,
        authority: &Authority,
        tarball: &Path,
        user_data: &str,
    ) -> Self {
        let (sandbox, boot) = Self::start(engine, host, n, authority, tarball, user_data, &[]);
        let service = format!("{}.service", engine.name());
        assert!(
            boot.succeeded,
            "the boot of {} failed:\n{}\n{}",
            host.address,
            boot.stderr,
            sandbox.unit_log(&service)
        );
        assert_eq!(
            sandbox
                .calls_of("cfn-signal")
                .first()
                .map(|s| s.starts_with("--exit-code 0 ")),
            Some(true),
            "{:?}",
            sandbox.calls_of("cfn-signal")
        );
        Self {
            sandbox,
            host: host.clone(),
        }
    }

    fn hooks(&self) -> Vec<String> {
        self.sandbox
            .calls_of("aws")
            .into_iter()
            .filter(|c| c.starts_with("autoscaling complete-lifecycle-action"))
            .collect()
    }
}

fn tiny_count(rows: &serde_json::Value) -> u64 {
    rows[0][0]
        .as_u64()
        .unwrap_or_else(|| panic!("a count: {rows}"))
}

/// What each engine must show with the stack's defaults (TLS and passwords): the
/// coordinator completes its launch hook on the ready script's own checks, both
/// workers join, `admin` and a user of `UsersSecretArn` log in from the Python
/// client and the JVM client trusting only the stack's authority, and a wrong
/// password and an unknown user are refused.
fn serves_its_users(engine: Engine) {
    let cluster = Cluster::boot(engine, Security::TlsAndPasswords, 1, 2, &[]);
    let hooks = cluster.coordinators[0].hooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert!(
        hooks[0].ends_with("--lifecycle-action-result CONTINUE"),
        "{hooks:?}"
    );
    let workers = cluster.wait_for_workers(2);
    for worker in &cluster.workers {
        assert!(
            workers
                .iter()
                .any(|uri| uri.contains(&worker.host.address.to_string())),
            "{} is not among {workers:?}",
            worker.host.address
        );
    }
    for (user, password) in [("admin", ADMIN_PASSWORD), (ANALYST, ANALYST_PASSWORD)] {
        let rows = cluster
            .python(user, password, COUNT)
            .unwrap_or_else(|e| panic!("{user} through the Python client: {e}"));
        assert_eq!(tiny_count(&rows), TINY_LINEITEMS, "{user}");
        let csv = cluster
            .cli(user, password, COUNT)
            .unwrap_or_else(|e| panic!("{user} through the JVM client: {e}"));
        assert_eq!(
            csv.trim().trim_matches('"'),
            TINY_LINEITEMS.to_string(),
            "{user}"
        );
    }
    for (user, password) in [("admin", "not-the-password"), ("nobody", ADMIN_PASSWORD)] {
        let python = cluster
            .python(user, password, COUNT)
            .map(|rows| rows.to_string());
        for (client, answer) in [
            ("Python", python),
            ("JVM", cluster.cli(user, password, COUNT)),
        ] {
            let refused = answer.expect_err("a wrong password or an unknown user is refused");
            assert!(
                refused.contains("401")
                    || refused.to_lowercase().contains("invalid credentials")
                    || refused.contains("Unauthorized"),
                "{user} through the {client} client: {refused}"
            );
        }
    }
    drains_a_worker(&cluster);
}

#[test]
fn trino_serves_its_users_over_tls() {
    needs!(Sandbox);
    needs!(Tools);
    serves_its_users(Engine::Trino);
}

#[test]
fn prestodb_serves_its_users_over_tls() {
    needs!(Sandbox);
    needs!(Tools);
    serves_its_users(Engine::Presto);
}

/// A worker the group removes drains: with a query's tasks running on it, the real
/// drain script asks the engine to shut down gracefully, the engine accepts, the
/// query completes with the right result, and the engine is gone (and the hook
/// completed) well before `WorkerDrainSeconds`.
fn drains_a_worker(cluster: &Cluster) {
    let sql = "SELECT count(*) FROM tpch.sf1.lineitem WHERE quantity > 0";
    let started = Instant::now();
    std::thread::scope(|scope| {
        let query = scope.spawn(|| cluster.python("admin", ADMIN_PASSWORD, sql));
        // Its tasks run on both workers once it runs.
        let running = "SELECT count(*) FROM system.runtime.tasks WHERE state = 'RUNNING'";
        let deadline = Instant::now() + Duration::from_secs(60);
        while cluster
            .python("admin", ADMIN_PASSWORD, running)
            .map_or(true, |rows| tiny_count(&rows) < 2)
        {
            assert!(Instant::now() < deadline, "the query's tasks never ran");
            std::thread::sleep(Duration::from_millis(500));
        }
        let worker = &cluster.workers[0];
        worker.sandbox.set("lifecycle-state", "Terminated");
        let drained = Instant::now();
        let rows = query
            .join()
            .expect("the query")
            .expect("the query completes");
        assert_eq!(tiny_count(&rows), SF1_LINEITEMS);
        let deadline = Instant::now() + Duration::from_secs(DRAIN_SECONDS);
        while !worker
            .hooks()
            .iter()
            .any(|h| h.ends_with("--lifecycle-action-result CONTINUE"))
        {
            assert!(
                Instant::now() < deadline,
                "the drain never completed its hook: {:?}\n{}",
                worker.sandbox.calls(),
                cluster.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let took = drained.elapsed();
        assert!(
            worker.sandbox.pids("java").is_empty(),
            "the engine still runs after the drain"
        );
        let refused: Vec<String> = worker
            .sandbox
            .calls_of("logger")
            .into_iter()
            .filter(|l| l.contains("refused"))
            .collect();
        assert!(refused.is_empty(), "{refused:?}");
        eprintln!(
            "{}: drained in {:.1} s, the query ran {:.1} s",
            cluster.engine.name(),
            took.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    });
}

/// With `ClientSecurity` off (labs only), clients reach the engine over HTTP with no
/// password, and the workers still join.
fn serves_without_client_security(engine: Engine) {
    let cluster = Cluster::boot(engine, Security::None, 1, 2, &[]);
    cluster.wait_for_workers(2);
    let rows = cluster
        .python("analyst", "", COUNT)
        .unwrap_or_else(|e| panic!("the Python client over HTTP: {e}"));
    assert_eq!(tiny_count(&rows), TINY_LINEITEMS);
    let csv = cluster
        .cli("analyst", "", COUNT)
        .unwrap_or_else(|e| panic!("the JVM client over HTTP: {e}"));
    assert_eq!(csv.trim().trim_matches('"'), TINY_LINEITEMS.to_string());
}

#[test]
fn trino_serves_without_client_security() {
    needs!(Sandbox);
    needs!(Tools);
    serves_without_client_security(Engine::Trino);
}

#[test]
fn prestodb_serves_without_client_security() {
    needs!(Sandbox);
    needs!(Tools);
    serves_without_client_security(Engine::Presto);
}

/// A property the engine does not know, in the user's extra configuration.
const UNKNOWN_PROPERTY: &str = "presto-ha.no-such-property";

/// A node whose engine refuses its configuration (here an extra configuration with a
/// property the engine does not know) stops its boot at once with the engine's own
/// error line as the reason to CloudFormation, and is replaced: a coordinator
/// abandons its launch, a worker marks itself unhealthy.
fn a_node_the_engine_refuses_is_replaced(engine: Engine) {
    let mut net = TestNet::new();
    let authority = Authority::new();
    let tarball = engine.tarball();
    let zip_uri = "s3://user-configuration/etc.zip";
    let zip = presto_ha_test_support::sandbox::zip(&[(
        "etc/config.properties",
        &format!("{UNKNOWN_PROPERTY}=true\n"),
    )]);
    for (n, (template, extra)) in [
        (
            "CoordinatorLaunchTemplate",
            param::ADDITIONAL_COORDINATOR_CONFIGURATION_URI,
        ),
        (
            "WorkerLaunchTemplate",
            param::ADDITIONAL_WORKERS_CONFIGURATION_URI,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let host = net.host();
        let data = user_data(
            template,
            &[
                (param::ENGINE, engine.name()),
                (param::PRESTO_VERSION, engine.release()),
                (param::USERS_SECRET_ARN, USERS_SECRET_ID),
                (extra, zip_uri),
            ],
        );
        let objects = [(zip_uri, zip.as_slice())];
        let (sandbox, boot) = Node::start(engine, &host, n, &authority, &tarball, &data, &objects);
        assert!(!boot.succeeded, "{template}: the boot went on");
        let signals = sandbox.calls_of("cfn-signal");
        assert_eq!(signals.len(), 1, "{signals:?}");
        assert!(
            signals[0].starts_with("--exit-code 1 ") && signals[0].contains(UNKNOWN_PROPERTY),
            "{template}: the reason is not the engine's own line: {signals:?}"
        );
        let replaced = sandbox.calls_of("aws");
        let expected = if template.starts_with("Coordinator") {
            "--lifecycle-action-result ABANDON"
        } else {
            "--health-status Unhealthy --no-should-respect-grace-period"
        };
        assert!(
            replaced.iter().any(|c| c.ends_with(expected)),
            "{template}: not replaced: {replaced:?}"
        );
    }
}

#[test]
fn a_trino_node_the_engine_refuses_is_replaced() {
    needs!(Sandbox);
    needs!(Tools);
    a_node_the_engine_refuses_is_replaced(Engine::Trino);
}

#[test]
fn a_prestodb_node_the_engine_refuses_is_replaced() {
    needs!(Sandbox);
    needs!(Tools);
    a_node_the_engine_refuses_is_replaced(Engine::Presto);
}

/// Workers follow the record: with two coordinators, the first one's host cut off
/// (as when the watcher terminates it) and the record moved to the second (as its
/// compare-and-swap moves it), both workers are active on the second, and a client's
/// query through the record's name runs there with a worker taking part. Prints how
/// long that took, from the move.
fn workers_follow_a_moved_record(engine: Engine) {
    let cluster = Cluster::boot(engine, Security::TlsAndPasswords, 2, 2, &[]);
    cluster.wait_for_workers(2);
    cluster.net.cut(&cluster.coordinators[0].host);
    let moved = Instant::now();
    let second = cluster.coordinators[1].host.address;
    cluster.move_record(second);
    // The first query through the record's name that succeeds (each given 5 s: one
    // that waits for workers is tried again), as a client retrying would see it.
    let deadline = moved + Duration::from_secs(180);
    let followed = loop {
        let tried = cluster.python_within(Duration::from_secs(5), "admin", ADMIN_PASSWORD, COUNT);
        if let Ok(rows) = &tried {
            assert_eq!(tiny_count(rows), TINY_LINEITEMS);
            break moved.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "no query succeeded after the move: {tried:?}\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    // It ran on the second coordinator, with a worker taking part.
    let on_second = format!(
        "SELECT count(*) FROM system.runtime.nodes WHERE coordinator = true AND http_uri LIKE '%{second}%'"
    );
    let here = cluster
        .python("admin", ADMIN_PASSWORD, &on_second)
        .expect("the nodes of the new coordinator");
    assert_eq!(
        tiny_count(&here),
        1,
        "the record's name does not reach the second coordinator"
    );
    let workers =
        "SELECT count(*) FROM system.runtime.nodes WHERE coordinator = false AND state = 'active'";
    let workers = cluster
        .python("admin", ADMIN_PASSWORD, workers)
        .expect("its workers");
    assert!(tiny_count(&workers) >= 1, "{workers}");
    eprintln!(
        "{}: the first query through the record succeeded {:.1} s after the move",
        engine.name(),
        followed.as_secs_f64()
    );
}

#[test]
fn trino_workers_follow_a_moved_record() {
    needs!(Sandbox);
    needs!(Tools);
    workers_follow_a_moved_record(Engine::Trino);
}

#[test]
fn prestodb_workers_follow_a_moved_record() {
    needs!(Sandbox);
    needs!(Tools);
    workers_follow_a_moved_record(Engine::Presto);
}
