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

mod cluster;
mod failover;
mod lake;
mod lost_workers;

use std::time::{Duration, Instant};

use cluster::*;
use lake::Lake;
use presto_ha_contract::parameters as param;
use presto_ha_generator::settings::Metastore;
use presto_ha_test_support::engines::Engine;
use presto_ha_test_support::needs;
use presto_ha_test_support::templates::stack_secrets::ADMIN_PASSWORD;
use presto_ha_test_support::templates::{Stack, generate, user_data};
use presto_ha_test_support::testnet::TestNet;

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
    probes_read_the_engine(&cluster);
}

/// The probes read the real engine right: the Lambdas' (the watcher's, the custom
/// resource's, the probe function's: plain HTTP on the nodes' port) and `status`'s
/// (HTTPS to the instance as a client sees it, logged in as the admin). A serving
/// coordinator is healthy, a worker is no coordinator, a frozen JVM (`SIGSTOP`) times
/// out, a killed engine refuses, and as the unit starts it again, it is starting
/// before it is healthy.
fn probes_read_the_engine(cluster: &Cluster) {
    use presto_ha_coordinators::probe::{
        Credentials, Health, HealthProbe, HttpProbe, ProbeFailure,
    };
    cluster.net.reach_from_here();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let lambdas = HttpProbe::new().expect("a probe");
    let ca = std::fs::read_to_string(cluster.authority.ca_pem()).expect("the authority");
    let anonymous = HttpProbe::https(RECORD, Some(&ca)).expect("a probe");
    let status = anonymous.clone().with_credentials(Credentials {
        user: "admin".to_owned(),
        password: ADMIN_PASSWORD.to_owned(),
    });
    let timeout = Duration::from_secs(2);
    let probe = |probe: &HttpProbe, node: &Node, port: u16| {
        runtime.block_on(probe.probe(node.host.address, port, timeout))
    };
    let coordinator = &cluster.coordinators[0];
    assert_eq!(probe(&lambdas, coordinator, HTTP_PORT), Health::Healthy);
    assert_eq!(probe(&status, coordinator, HTTPS_PORT), Health::Healthy);
    // Without a login, prestodb refuses even /v1/info over HTTPS; Trino answers it.
    let expected = match cluster.engine {
        Engine::Presto => Health::Down(ProbeFailure::Status(401)),
        Engine::Trino => Health::Healthy,
    };
    assert_eq!(probe(&anonymous, coordinator, HTTPS_PORT), expected);
    // A worker the drain left running.
    let worker = cluster
        .workers
        .iter()
        .find(|w| !w.sandbox.jvms().is_empty())
        .expect("a worker still running");
    assert_eq!(probe(&lambdas, worker, HTTP_PORT), Health::NotCoordinator);
    coordinator.signal_engine("-STOP");
    let hung =
        [(&lambdas, HTTP_PORT), (&status, HTTPS_PORT)].map(|(p, port)| probe(p, coordinator, port));
    coordinator.signal_engine("-CONT");
    assert_eq!(hung, [const { Health::Down(ProbeFailure::TimedOut) }; 2]);
    coordinator.signal_engine("-KILL");
    let mut seen: Vec<Health> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while seen.last() != Some(&Health::Healthy) {
        assert!(Instant::now() < deadline, "never healthy again: {seen:?}");
        let health = probe(&lambdas, coordinator, HTTP_PORT);
        if seen.last() != Some(&health) {
            seen.push(health);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Between them the engine may reset a connection as it dies, or time out while it
    // starts on a busy machine.
    let refused = seen
        .iter()
        .position(|h| *h == Health::Down(ProbeFailure::Refused));
    let starting = seen.iter().position(|h| *h == Health::Starting);
    assert!(
        refused.is_some() && starting.is_some() && refused < starting,
        "killed, then started again by its unit: {seen:?}"
    );
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
    // Past the workers' first shutdown grace (30 s), so that the drain waits for tasks.
    let table = cluster.slow_table("drained", Duration::from_secs(45));
    let started = Instant::now();
    std::thread::scope(|scope| {
        let query = scope.spawn(|| {
            cluster.python_within(
                Duration::from_secs(DRAIN_SECONDS),
                "admin",
                ADMIN_PASSWORD,
                &table.query,
            )
        });
        let worker = cluster.worker_running(&table.query);
        worker.sandbox.set("lifecycle-state", "Terminated");
        let drained = Instant::now();
        let rows = query
            .join()
            .expect("the query")
            .expect("the query completes");
        assert_eq!(tiny_count(&rows), table.rows);
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
        let jvms = worker.sandbox.jvms();
        let processes: Vec<String> = jvms
            .iter()
            .map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
            .collect();
        assert!(
            jvms.is_empty(),
            "the engine still runs after the drain: {processes:?}\n{:?}\n{}",
            worker.sandbox.calls_of("systemctl"),
            worker.sandbox.unit_log("presto-ha-drain.service")
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
    let net = TestNet::new();
    let lake = Lake::start(&net);
    let given = [(param::METASTORE_TYPE, Metastore::Glue.as_str())];
    let cluster = Cluster::on(engine, Security::None, net, &given)
        .with_configuration(&lake.configuration(engine))
        .booted(1, 2);
    cluster.wait_for_workers(2);
    let rows = cluster
        .python("analyst", "", COUNT)
        .unwrap_or_else(|e| panic!("the Python client over HTTP: {e}"));
    assert_eq!(tiny_count(&rows), TINY_LINEITEMS);
    let csv = cluster
        .cli("analyst", "", COUNT)
        .unwrap_or_else(|e| panic!("the JVM client over HTTP: {e}"));
    assert_eq!(csv.trim().trim_matches('"'), TINY_LINEITEMS.to_string());
    keeps_tables_in_glue(&cluster, &lake);
    // Without fault-tolerant execution, a worker lost under a query fails it.
    let (answer, _) =
        lost_workers::lose_a_worker_mid_query(&cluster, "lost", lost_workers::Loss::Killed);
    assert!(
        answer.is_err(),
        "a query outlived a killed worker without fault-tolerant execution: {answer:?}"
    );
    eprintln!(
        "{}, no fault tolerance: a killed worker failed the query: {answer:?}",
        engine.name()
    );
    // The nodes' roles allow every Glue action the engine called.
    let template = generate(&[]);
    let stack = Stack::new(&template, &given);
    for role in ["CoordinatorRole", "WorkerRole"] {
        let policies = stack
            .resolved(&template["Resources"][role]["Properties"]["Policies"])
            .expect("the role's policies");
        let allowed: Vec<serde_json::Value> = policies
            .as_array()
            .expect("policies")
            .iter()
            .flat_map(|p| {
                p["PolicyDocument"]["Statement"]
                    .as_array()
                    .expect("statements")
            })
            .filter(|s| s["Effect"] == "Allow")
            .flat_map(|s| match &s["Action"] {
                serde_json::Value::Array(actions) => actions.clone(),
                action => vec![action.clone()],
            })
            .collect();
        for action in lake.glue_actions() {
            assert!(
                allowed.contains(&serde_json::Value::from(action.as_str())),
                "{role} does not allow {action}, which {} called",
                engine.name()
            );
        }
    }
}

/// The `hive` and `iceberg` catalogs the stack writes for `MetastoreType` `AWS Glue
/// Data Catalog`, given the lake's endpoints by an extra configuration as a user
/// would: each makes a schema and a table from tpch in Glue and S3, and reads the
/// exact rows back.
fn keeps_tables_in_glue(cluster: &Cluster, lake: &Lake) {
    let run = |sql: &str| {
        cluster
            .python("analyst", "", sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}\n{}", cluster.logs()))
    };
    let nations = run("SELECT nationkey, name, regionkey FROM tpch.tiny.nation ORDER BY 1");
    assert_eq!(nations.as_array().map(Vec::len), Some(25), "{nations}");
    for catalog in ["hive", "iceberg"] {
        let schema = format!("{catalog}_lake");
        run(&format!(
            "CREATE SCHEMA {catalog}.{schema} WITH (location = 's3://{}/{schema}')",
            lake::BUCKET
        ));
        let created = run(&format!(
            "CREATE TABLE {catalog}.{schema}.nation AS \
             SELECT nationkey, name, regionkey FROM tpch.tiny.nation"
        ));
        assert_eq!(created, serde_json::json!([[25]]), "{catalog}");
        let read = run(&format!(
            "SELECT nationkey, name, regionkey FROM {catalog}.{schema}.nation ORDER BY 1"
        ));
        assert_eq!(read, nations, "{catalog}");
        let table = lake.glue_table(&cluster.net, &schema, "nation");
        let location = table["StorageDescriptor"]["Location"]
            .as_str()
            .unwrap_or_default();
        assert!(
            location.starts_with(&format!("s3://{}/{schema}/", lake::BUCKET)),
            "{catalog}: {table}"
        );
        let objects = lake.objects(&cluster.net, lake::BUCKET, &schema);
        assert!(!objects.is_empty(), "{catalog} wrote nothing to S3");
    }
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
    let net = TestNet::new();
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
        let (sandbox, boot) = Node::start(
            engine,
            &host,
            &format!("i-{n:017}"),
            &authority,
            &tarball,
            &data,
            &objects,
        );
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

#[test]
fn trino_fails_over_and_is_updated_as_a_client_sees_it() {
    needs!(Sandbox);
    needs!(Tools);
    needs!(Emulator);
    failover::fails_over_as_a_client_sees_it(Engine::Trino);
}

#[test]
fn prestodb_fails_over_and_is_updated_as_a_client_sees_it() {
    needs!(Sandbox);
    needs!(Tools);
    needs!(Emulator);
    failover::fails_over_as_a_client_sees_it(Engine::Presto);
}
