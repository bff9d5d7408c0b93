//! A cluster of real engines on a test network, each node booted by the stack's user
//! data, and the clients that reach it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use presto_ha_contract::{RECORD_TTL_SECONDS, notes, parameters as param};
use presto_ha_generator::settings::ClientSecurity;
use presto_ha_test_support::engines::{self, Engine};
use presto_ha_test_support::sandbox::{Boot, Sandbox};
use presto_ha_test_support::templates::stack_secrets::{
    ADMIN_PASSWORD, ADMIN_SECRET_ID, SHARED_SECRET, SHARED_SECRET_ID, TLS_SECRET_ID,
};
use presto_ha_test_support::templates::user_data;
use presto_ha_test_support::testnet::{Host, TestNet};

pub(crate) const RECORD: &str = "coordinator.presto.internal";
pub(crate) const HTTP_PORT: u16 = 8080;
pub(crate) const HTTPS_PORT: u16 = 8443;
/// Each node's memory: the boot gives the engine seven tenths of it, so that three
/// coordinators and two workers of both engines fit the test machine with a build.
pub(crate) const NODE_MEMORY_MIB: u64 = 2048;
/// `SELECT count(*) FROM tpch.tiny.lineitem`, as both engines' tpch connector has it.
pub(crate) const TINY_LINEITEMS: u64 = 60_175;
pub(crate) const COUNT: &str = "SELECT count(*) FROM tpch.tiny.lineitem";
/// The extra configuration every test cluster is given (both roles' URI parameters),
/// as a user gives one: the [`SLOW_CATALOG`], and what a test adds.
const EXTRA_CONFIGURATION_URI: &str = "s3://presto-ha-configuration/extra.zip";
/// A `blackhole` catalog, whose tables' reads wait a given time per page: the long
/// queries' (a drain's, a lost worker's, an update's) last as long as a test needs
/// while leaving the cores to the engines' own work, where scans of `tpch.sf1` took
/// both cores for minutes.
const SLOW_CATALOG: (&str, &str) = (
    "etc/catalog/blackhole.properties",
    "connector.name=blackhole\n",
);
/// The rows of each page of a slow table.
const SLOW_ROWS_PER_PAGE: u64 = 1000;
/// `WorkerDrainSeconds` at the template's default.
pub(crate) const DRAIN_SECONDS: u64 = 300;

pub(crate) const USERS_SECRET_ID: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:analysts-AbCdEf";
pub(crate) const ANALYST: &str = "analyst";
pub(crate) const ANALYST_PASSWORD: &str = "an4lyst-Passw0rd";

/// The authority clients trust (`PrestoCACertificate`) and the chain and key it
/// issued for the record, as PEM texts, made by openssl.
pub(crate) struct Authority {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) chain: String,
    pub(crate) key: String,
}

impl Authority {
    pub(crate) fn new() -> Self {
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

    pub(crate) fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub(crate) fn trust_store(&self) -> PathBuf {
        self.dir.path().join("ca.p12")
    }
}

/// A table of the [`SLOW_CATALOG`] ([`Cluster::slow_table`]).
pub(crate) struct SlowTable {
    /// Its count, which lasts as long as the table was made to.
    pub(crate) query: String,
    /// What the count counts.
    pub(crate) rows: u64,
}

/// How clients reach a cluster.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Security {
    TlsAndPasswords,
    None,
}

/// A cluster on a test network, every node booted by the stack's user data.
pub(crate) struct Cluster {
    pub(crate) engine: Engine,
    pub(crate) security: Security,
    pub(crate) authority: Authority,
    pub(crate) coordinators: Vec<Node>,
    pub(crate) workers: Vec<Node>,
    pub(crate) net: TestNet,
    /// Each role's user data.
    user_data: BTreeMap<Role, String>,
    tarball: PathBuf,
    /// The S3 objects (URI, bytes) every boot may read.
    objects: Vec<(String, Vec<u8>)>,
}

/// The launch template a node is launched from.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Role {
    Coordinator,
    Worker,
}

impl Role {
    pub(crate) fn launch_template(self) -> &'static str {
        match self {
            Self::Coordinator => "CoordinatorLaunchTemplate",
            Self::Worker => "WorkerLaunchTemplate",
        }
    }
}

pub(crate) struct Node {
    pub(crate) sandbox: Sandbox,
    pub(crate) host: Host,
    /// The instance it is, and the engine's `node.id`.
    pub(crate) instance_id: String,
}

impl Cluster {
    /// A cluster of `engine` on `net` with the stack's parameters `given`, and no node
    /// yet.
    pub(crate) fn on(
        engine: Engine,
        security: Security,
        net: TestNet,
        given: &[(&str, &str)],
    ) -> Self {
        let mut parameters = vec![
            (param::ENGINE, engine.name()),
            (param::PRESTO_VERSION, engine.release()),
            (param::USERS_SECRET_ARN, USERS_SECRET_ID),
        ];
        if security == Security::None {
            parameters.push((param::CLIENT_SECURITY, ClientSecurity::None.as_str()));
        }
        for extra in [
            param::ADDITIONAL_COORDINATOR_CONFIGURATION_URI,
            param::ADDITIONAL_WORKERS_CONFIGURATION_URI,
        ] {
            parameters.push((extra, EXTRA_CONFIGURATION_URI));
        }
        parameters.extend_from_slice(given);
        Self {
            engine,
            security,
            authority: Authority::new(),
            coordinators: Vec::new(),
            workers: Vec::new(),
            net,
            user_data: [Role::Coordinator, Role::Worker]
                .into_iter()
                .map(|role| (role, user_data(role.launch_template(), &parameters)))
                .collect(),
            tarball: engine.tarball(),
            objects: Vec::new(),
        }
        .with_configuration(&[])
    }

    /// The cluster, its extra configuration (coordinators' and workers' alike) holding
    /// `files` (paths under `etc/`, texts) beside the [`SLOW_CATALOG`].
    pub(crate) fn with_configuration(mut self, files: &[(&str, String)]) -> Self {
        let mut entries: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        entries.push(SLOW_CATALOG);
        self.objects
            .retain(|(uri, _)| uri != EXTRA_CONFIGURATION_URI);
        self.objects.push((
            EXTRA_CONFIGURATION_URI.to_owned(),
            presto_ha_test_support::sandbox::zip(&entries),
        ));
        self
    }

    /// `coordinators` coordinators and `workers` workers of `engine`, booted at once,
    /// each boot asserted to have completed (launch hook CONTINUE on a coordinator,
    /// SUCCESS to CloudFormation).
    pub(crate) fn boot(
        engine: Engine,
        security: Security,
        coordinators: usize,
        workers: usize,
        given: &[(&str, &str)],
    ) -> Self {
        Self::on(engine, security, TestNet::new(), given).booted(coordinators, workers)
    }

    /// The cluster with `coordinators` coordinators and `workers` workers booted at
    /// once, each boot asserted to have completed.
    pub(crate) fn booted(mut self, coordinators: usize, workers: usize) -> Self {
        let hosts: Vec<(Role, Host, String)> = std::iter::repeat_n(Role::Coordinator, coordinators)
            .chain(std::iter::repeat_n(Role::Worker, workers))
            .enumerate()
            .map(|(n, role)| (role, self.net.host(), format!("i-{n:017}")))
            .collect();
        // The record on the first coordinator, each coordinator's member record on it.
        let mut records = BTreeMap::new();
        records.insert(
            format!("{RECORD}."),
            (hosts[0].1.address, RECORD_TTL_SECONDS),
        );
        for (slot, (_, host, _)) in hosts
            .iter()
            .filter(|(role, ..)| *role == Role::Coordinator)
            .enumerate()
        {
            let slot = u8::try_from(slot + 1).expect("few coordinators");
            records.insert(
                format!("{}.", notes::member_name(slot, RECORD)),
                (host.address, RECORD_TTL_SECONDS),
            );
        }
        self.net.set_records(&records);
        for (role, node) in self.boot_all(hosts) {
            match role {
                Role::Coordinator => self.coordinators.push(node),
                Role::Worker => self.workers.push(node),
            }
        }
        self
    }

    /// Boots a node on each (role, host, instance id) at once, each boot asserted to
    /// have completed.
    pub(crate) fn boot_all(&self, nodes: Vec<(Role, Host, String)>) -> Vec<(Role, Node)> {
        std::thread::scope(|scope| {
            let booting: Vec<_> = nodes
                .into_iter()
                .map(|(role, host, id)| {
                    scope.spawn(move || (role, self.boot_node(role, &host, &id)))
                })
                .collect();
            booting
                .into_iter()
                .map(|b| b.join().expect("a boot"))
                .collect()
        })
    }

    /// Boots one node of `role` on `host` as the instance `instance_id`, asserted to
    /// have completed.
    pub(crate) fn boot_node(&self, role: Role, host: &Host, instance_id: &str) -> Node {
        Node::boot(
            self.engine,
            host,
            instance_id,
            &self.authority,
            &self.tarball,
            &self.user_data[&role],
            &self
                .objects
                .iter()
                .map(|(uri, bytes)| (uri.as_str(), bytes.as_slice()))
                .collect::<Vec<_>>(),
        )
    }

    /// The URL clients use: the record's name.
    pub(crate) fn url(&self) -> String {
        match self.security {
            Security::TlsAndPasswords => format!("https://{RECORD}:{HTTPS_PORT}"),
            Security::None => format!("http://{RECORD}:{HTTP_PORT}"),
        }
    }

    /// `sql` through the engine's Python client as `user`: the rows as JSON, or the
    /// client's error (a query that waits, for workers say, fails after a minute).
    pub(crate) fn python(
        &self,
        user: &str,
        password: &str,
        sql: &str,
    ) -> Result<serde_json::Value, String> {
        self.python_within(Duration::from_secs(60), user, password, sql)
    }

    /// [`Cluster::python`], given up after `limit`.
    pub(crate) fn python_within(
        &self,
        limit: Duration,
        user: &str,
        password: &str,
        sql: &str,
    ) -> Result<serde_json::Value, String> {
        let python = presto_ha_test_support::tools::tool("python");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/client.py");
        let output = self
            .net
            .in_hub("timeout")
            // SIGTERM at the limit (the client cancels its query), SIGKILL 3 s later.
            .args(["-k", "3"])
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
    pub(crate) fn cli(&self, user: &str, password: &str, sql: &str) -> Result<String, String> {
        self.cli_within(Duration::from_secs(120), user, password, sql)
    }

    /// [`Cluster::cli`], given up after `limit`. The JVM caches a name for as long as
    /// the README tells JVM clients to: one record TTL.
    pub(crate) fn cli_within(
        &self,
        limit: Duration,
        user: &str,
        password: &str,
        sql: &str,
    ) -> Result<String, String> {
        let java = engines::java(&self.engine.cli_java_home());
        let mut command = self.net.in_hub("timeout");
        command
            .arg(limit.as_secs().to_string())
            .arg(java)
            .env(
                "JAVA_TOOL_OPTIONS",
                format!("-Dsun.net.inetaddr.ttl={RECORD_TTL_SECONDS}"),
            )
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

    /// Makes the `blackhole` table `name`, on the active coordinator, whose every read
    /// lasts about `lasting`: one split (prestodb 0.287 reads only one of a table's
    /// identical splits, Trino every one), which waits a second per page.
    /// `SELECT count(*)` of it counts the table's rows.
    pub(crate) fn slow_table(&self, name: &str, lasting: Duration) -> SlowTable {
        let pages = lasting.as_secs().max(1);
        let sql = format!(
            "CREATE TABLE blackhole.default.{name} (n bigint) WITH (split_count = 1, \
             pages_per_split = {pages}, rows_per_page = {SLOW_ROWS_PER_PAGE}, \
             page_processing_delay = '1s')"
        );
        self.python("admin", ADMIN_PASSWORD, &sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}\n{}", self.logs()));
        SlowTable {
            query: format!("SELECT count(*) FROM blackhole.default.{name}"),
            rows: pages * SLOW_ROWS_PER_PAGE,
        }
    }

    /// Waits (up to two minutes) until a worker runs a task of `query`, and returns it.
    pub(crate) fn worker_running(&self, query: &str) -> &Node {
        let sql = format!(
            "SELECT DISTINCT node_id FROM system.runtime.tasks WHERE state = 'RUNNING' AND query_id IN \
             (SELECT query_id FROM system.runtime.queries WHERE query = '{query}')"
        );
        self.wait_for(
            &sql,
            Duration::from_secs(120),
            Duration::from_millis(500),
            &format!("no worker ran a task of {query}"),
            |rows| {
                self.workers.iter().find(|w| {
                    rows.as_array()
                        .is_some_and(|rows| rows.iter().any(|r| r[0] == w.instance_id.as_str()))
                })
            },
        )
    }

    /// Waits (up to two minutes) until the active coordinator lists `workers` active
    /// workers in `system.runtime.nodes`, and returns their addresses.
    pub(crate) fn wait_for_workers(&self, workers: usize) -> Vec<String> {
        self.wait_for(
            "SELECT http_uri FROM system.runtime.nodes WHERE coordinator = false AND state = 'active' ORDER BY 1",
            Duration::from_secs(120),
            Duration::from_secs(2),
            &format!("{workers} workers never appeared"),
            |rows| {
                let uris: Vec<String> = rows
                    .as_array()
                    .expect("rows")
                    .iter()
                    .map(|r| r[0].as_str().expect("a URI").to_owned())
                    .collect();
                (uris.len() == workers).then_some(uris)
            },
        )
    }

    /// Waits (up to `limit`) until `sql` (a `count(*)` of `system.runtime.tasks`) counts
    /// at least `tasks` running tasks: those of a query started beside it.
    pub(crate) fn wait_for_running_tasks(&self, sql: &str, tasks: u64, limit: Duration) {
        self.wait_for(
            sql,
            limit,
            Duration::from_millis(300),
            &format!("the query never ran {tasks} tasks: {sql}"),
            |rows| (tiny_count(rows) >= tasks).then_some(()),
        );
    }

    /// Asks `sql` as `admin` every `every` until `found` finds what is waited for in
    /// its rows, and returns it; after `limit`, fails with `never`, the last answer
    /// and the nodes' logs.
    fn wait_for<T>(
        &self,
        sql: &str,
        limit: Duration,
        every: Duration,
        never: &str,
        found: impl Fn(&serde_json::Value) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            let answer = self.python("admin", ADMIN_PASSWORD, sql);
            if let Some(found) = answer.as_ref().ok().and_then(&found) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{never}: {answer:?}\n{}",
                self.logs()
            );
            std::thread::sleep(every);
        }
    }

    /// What every node's engine printed, for a failure's message.
    pub(crate) fn logs(&self) -> String {
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
    /// Boots `user_data` on `host` as the instance `instance_id`, with the stack's
    /// secrets.
    /// `objects` are S3 objects (URI, bytes) the boot may read.
    pub(crate) fn start(
        engine: Engine,
        host: &Host,
        instance_id: &str,
        authority: &Authority,
        tarball: &Path,
        user_data: &str,
        objects: &[(&str, &[u8])],
    ) -> (Sandbox, Boot) {
        let sandbox = Sandbox::on_host(host, instance_id, NODE_MEMORY_MIB);
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

    pub(crate) fn boot(
        engine: Engine,
        host: &Host,
        instance_id: &str,
        authority: &Authority,
        tarball: &Path,
        user_data: &str,
        objects: &[(&str, &[u8])],
    ) -> Self {
        let (sandbox, boot) = Self::start(
            engine,
            host,
            instance_id,
            authority,
            tarball,
            user_data,
            objects,
        );
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
            instance_id: instance_id.to_owned(),
        }
    }

    /// Sends `signal` (`-STOP`, `-KILL`, ...) to the node's engine: its one JVM. A
    /// `-STOP` returns once every thread of the JVM has stopped: the kernel stops the
    /// others only when the one it woke for the signal runs, and on a busy machine
    /// the engine can answer a request before that.
    pub(crate) fn signal_engine(&self, signal: &str) {
        let java = self.sandbox.jvms();
        assert_eq!(
            java.len(),
            1,
            "the engine's JVM on {}: {java:?}",
            self.host.address
        );
        let sent = Command::new("kill")
            .args([signal, &java[0].to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill {signal} {}", java[0]);
        if signal == "-STOP" {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !stopped(java[0]) {
                assert!(Instant::now() < deadline, "{} never stopped", java[0]);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    pub(crate) fn hooks(&self) -> Vec<String> {
        self.sandbox
            .calls_of("aws")
            .into_iter()
            .filter(|c| c.starts_with("autoscaling complete-lifecycle-action"))
            .collect()
    }
}

/// Whether every thread of the process `pid` is stopped by a signal.
fn stopped(pid: u32) -> bool {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    threads.flatten().all(|thread| {
        std::fs::read_to_string(thread.path().join("status")).is_ok_and(|status| {
            status
                .lines()
                .any(|line| line.starts_with("State:") && line.contains("(stopped)"))
        })
    })
}

pub(crate) fn tiny_count(rows: &serde_json::Value) -> u64 {
    rows[0][0]
        .as_u64()
        .unwrap_or_else(|| panic!("a count: {rows}"))
}
