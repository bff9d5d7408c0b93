//! The nodes' user data, executed: generated from the template, resolved as
//! CloudFormation would with the parameters a user picks, and run as root in a
//! sandbox (see `presto_ha_test_support::sandbox`) whose stand-ins play Maven Central,
//! S3, Secrets Manager, the instance metadata service, dnf, systemd and cfn-signal.
//! Each test asserts what the boot wrote, with owners and modes, and what it called;
//! each failure must stop the boot with FAILURE signalled and nothing started.

use std::io::Write;
use std::process::{Command, Stdio};

use presto_ha_contract::parameters as param;
use presto_ha_test_support::needs;
use presto_ha_test_support::sandbox::{self, Sandbox};
use presto_ha_test_support::templates::stack_secrets::{
    ADMIN_PASSWORD, ADMIN_SECRET_ID, SHARED_SECRET, SHARED_SECRET_ID, TLS_SECRET_ID,
};
use presto_ha_test_support::templates::{REGION, user_data};

const PRESTO_URL: &str = "https://repo1.maven.org/maven2/com/facebook/presto/presto-server/0.297/presto-server-0.297.tar.gz";
const TRINO_URL: &str =
    "https://repo1.maven.org/maven2/io/trino/trino-server/479/trino-server-479.tar.gz";
const RECORD: &str = "coordinator.presto.internal";

fn coordinator(given: &[(&str, &str)]) -> String {
    user_data("CoordinatorLaunchTemplate", given)
}

fn worker(given: &[(&str, &str)]) -> String {
    user_data("WorkerLaunchTemplate", given)
}

/// A self-signed certificate for `name` and its key, as PEM texts, made by openssl.
fn certificate(name: &str) -> (String, String) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName=DNS:{name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    let read = |path| std::fs::read_to_string(path).expect("PEM");
    (read(&cert), read(&key))
}

/// The certificate secret for `certificate` and `key`, in the stack's form.
fn tls_secret(certificate: &str, key: &str) -> String {
    serde_json::json!({ "certificate": certificate, "privateKey": key }).to_string()
}

/// A sandbox holding the secrets the stack makes: the nodes' shared secret, the
/// admin password, and a certificate for the coordinator record.
fn stack_sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.put_secret(SHARED_SECRET_ID, SHARED_SECRET);
    sandbox.put_secret(
        ADMIN_SECRET_ID,
        &format!("{{\"admin\":\"{ADMIN_PASSWORD}\"}}"),
    );
    let (cert, key) = certificate(RECORD);
    sandbox.put_secret(TLS_SECRET_ID, &tls_secret(&cert, &key));
    sandbox
}

/// A stand-in engine tarball: `<server>/bin/launcher` and a jar, as the real ones
/// are laid out.
fn tarball(server: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let bin = dir.path().join(server).join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::write(bin.join("launcher"), "#!/bin/sh\nexec java \"$@\"\n").expect("launcher");
    std::fs::create_dir_all(dir.path().join(server).join("lib")).expect("lib");
    std::fs::write(dir.path().join(server).join("lib/engine.jar"), "jar").expect("jar");
    let output = Command::new("tar")
        .args(["-czf", "-", "-C"])
        .arg(dir.path())
        .arg(server)
        .output()
        .expect("tar runs");
    assert!(output.status.success());
    output.stdout
}

/// `bytes` through `tool` (`sha512sum`, `sha1sum`, `sha256sum`): the hex digest.
fn digest(tool: &str, bytes: &[u8]) -> String {
    let mut child = Command::new(tool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("digest tool runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let output = child.wait_with_output().expect("digest");
    String::from_utf8(output.stdout)
        .expect("hex")
        .split_whitespace()
        .next()
        .expect("digest")
        .to_owned()
}

/// Publishes `tarball` at `url` with its SHA-512, as Maven Central does for new
/// uploads.
fn publish_with_sha512(sandbox: &Sandbox, url: &str, tarball: &[u8]) {
    sandbox.publish(url, tarball);
    sandbox.publish(
        &format!("{url}.sha512"),
        digest("sha512sum", tarball).as_bytes(),
    );
}

/// The boot stopped: FAILURE signalled with `reason` in it, the reason in the system
/// log, and no engine started.
fn assert_stopped(sandbox: &Sandbox, boot: &presto_ha_test_support::sandbox::Boot, reason: &str) {
    assert!(!boot.succeeded, "the boot went on:\n{}", boot.stderr);
    assert!(
        boot.stderr.contains(reason),
        "stderr lacks {reason:?}:\n{}",
        boot.stderr
    );
    let signals = sandbox.calls_of("cfn-signal");
    assert_eq!(signals.len(), 1, "{signals:?}");
    assert!(
        signals[0].starts_with("--exit-code 1 --reason ") && signals[0].contains(reason),
        "{signals:?}"
    );
    assert!(
        sandbox
            .calls_of("logger")
            .iter()
            .any(|l| l.contains(reason)),
        "the system log lacks {reason:?}: {:?}",
        sandbox.calls_of("logger")
    );
    assert!(
        sandbox.calls_of("systemctl").is_empty(),
        "an engine was started"
    );
    // A coordinator's launch is abandoned, so that its group replaces it at once; a
    // worker's group has no launch hook.
    let hooks = sandbox.calls_of("aws");
    let hooks: Vec<&String> = hooks
        .iter()
        .filter(|c| c.starts_with("autoscaling complete-lifecycle-action"))
        .collect();
    if sandbox
        .file("/etc/presto-ha/ready.env")
        .is_some_and(|env| env.contains("LAUNCH_HOOK=presto-ha-launch"))
    {
        assert_eq!(hooks.len(), 1, "{hooks:?}");
        assert!(
            hooks[0].ends_with("--lifecycle-action-result ABANDON"),
            "{hooks:?}"
        );
    } else {
        assert!(hooks.is_empty(), "{hooks:?}");
    }
    // A worker marks itself unhealthy instead, so that its group replaces it (once
    // the script that knows how is in place).
    let unhealthy: Vec<String> = sandbox
        .calls_of("aws")
        .into_iter()
        .filter(|c| c.starts_with("autoscaling set-instance-health"))
        .collect();
    let worker = sandbox
        .file("/etc/presto-ha/ready.env")
        .is_some_and(|env| env.contains("ROLE=worker"));
    if worker
        && sandbox
            .written("/usr/local/lib/presto-ha/lifecycle.sh")
            .is_some()
    {
        assert_eq!(
            unhealthy,
            [format!(
                "autoscaling set-instance-health --region {REGION} --instance-id i-0123456789abcdef0 \
                 --health-status Unhealthy --no-should-respect-grace-period"
            )]
        );
    } else {
        assert!(unhealthy.is_empty(), "{unhealthy:?}");
    }
}

/// The launch hook completed as the coordinator group's, with `result`.
fn launch_hook(result: &str) -> String {
    format!(
        "autoscaling complete-lifecycle-action --region {REGION} --lifecycle-hook-name presto-ha-launch \
         --auto-scaling-group-name sandbox-group --instance-id i-0123456789abcdef0 --lifecycle-action-result {result}"
    )
}

#[test]
fn a_presto_coordinator_boots_verified_with_tpch_and_its_own_discovery() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    let boot = sandbox.boot(&coordinator(&[]));
    assert!(boot.succeeded, "{}", boot.stderr);

    assert_eq!(
        sandbox.calls_of("dnf"),
        ["install -y java-17-amazon-corretto-headless python3 tar gzip openssl aws-cfn-bootstrap"]
    );
    let downloads = sandbox.calls_of("curl");
    let https_only = "--proto =https --proto-redir =https -fsSL --retry 5 -o ";
    for url in [PRESTO_URL.to_owned(), format!("{PRESTO_URL}.sha512")] {
        assert!(
            downloads
                .iter()
                .any(|d| d.starts_with(https_only) && d.ends_with(&url)),
            "{url} not fetched over HTTPS only: {downloads:?}"
        );
    }
    let etc = "/opt/presto-server-0.297/etc";
    let config = sandbox
        .file(&format!("{etc}/config.properties"))
        .expect("config");
    let (config, keystore_key) = config
        .split_once("http-server.https.keystore.key=")
        .expect("a keystore password");
    assert_eq!(
        config,
        format!(
            "coordinator=true\nnode-scheduler.include-coordinator=false\ndiscovery-server.enabled=true\n\
             http-server.http.port=8080\ndiscovery.uri=http://localhost:8080\n\
             internal-communication.jwt.enabled=true\ninternal-communication.shared-secret={SHARED_SECRET}\n\
             http-server.https.enabled=true\nhttp-server.https.port=8443\n\
             http-server.https.keystore.path=/opt/presto/etc/tls/keystore.p12\n"
        )
    );
    let (keystore_key, rest) = keystore_key.split_once('\n').expect("a line");
    assert_eq!(keystore_key.len(), 48, "{keystore_key}");
    assert_eq!(rest, "http-server.authentication.type=PASSWORD\n");
    assert_eq!(
        sandbox.file(&format!("{etc}/node.properties")).as_deref(),
        Some(
            "node.environment=production\nnode.id=i-0123456789abcdef0\nnode.data-dir=/var/presto/data\n"
        )
    );
    let jvm = sandbox
        .file(&format!("{etc}/jvm.config"))
        .expect("jvm.config");
    assert!(
        jvm.lines().any(|l| l == "-Dsun.net.inetaddr.ttl=5"),
        "{jvm}"
    );
    assert!(
        !jvm.contains("--add-modules"),
        "prestodb needs no vector module: {jvm}"
    );
    assert_eq!(
        sandbox
            .file(&format!("{etc}/catalog/tpch.properties"))
            .as_deref(),
        Some("connector.name=tpch\n")
    );
    assert!(
        sandbox
            .file(&format!("{etc}/catalog/hive.properties"))
            .is_none()
    );
    assert_eq!(
        sandbox.access(&format!("{etc}/config.properties")),
        "root:presto 0640"
    );
    assert_the_engine_writes_only_its_data("presto", "presto-server-0.297", &sandbox);
    assert_eq!(
        sandbox.calls_of("systemctl"),
        [
            "daemon-reload",
            "enable --now presto.service",
            "enable presto-ha-ready.service"
        ]
    );
    let signals = sandbox.calls_of("cfn-signal");
    assert_eq!(
        signals,
        [format!(
            "--exit-code 0 --reason presto 0.297 serves on i-0123456789abcdef0 --stack sandbox-stack --resource CoordinatorGroup --region {REGION}"
        )]
    );
    // The group's launch hook first: CloudFormation's next step (the record) needs
    // the coordinator in service.
    let calls = sandbox.calls();
    let position = |program: &str, text: &str| {
        calls
            .iter()
            .position(|c| c[0] == program && c[1..].join(" ") == text)
            .unwrap_or_else(|| panic!("no {program} {text}: {calls:?}"))
    };
    assert!(
        position("aws", &launch_hook("CONTINUE")) < position("cfn-signal", &signals[0]),
        "{calls:?}"
    );
}

/// A coordinator the group launches into its warm pool boots the whole way and
/// completes its launch hook, but signals nothing: CloudFormation waits for the
/// group's serving members, and the group stops this one now. Started from the pool
/// later, the ready unit finds the engine serving and completes the hook again,
/// installing and downloading nothing.
#[test]
fn a_coordinator_prepared_for_the_warm_pool_starts_again_with_nothing_to_install() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    sandbox.set("lifecycle-state", "Warmed:Stopped");
    let boot = sandbox.boot(&coordinator(&[]));
    assert!(boot.succeeded, "{}", boot.stderr);
    assert_eq!(sandbox.calls_of("cfn-signal"), Vec::<String>::new());
    let hooks: Vec<String> = sandbox
        .calls_of("aws")
        .into_iter()
        .filter(|c| c.starts_with("autoscaling complete-lifecycle-action"))
        .collect();
    assert_eq!(hooks, [launch_hook("CONTINUE")]);
    let unit = sandbox
        .file("/etc/systemd/system/presto-ha-ready.service")
        .expect("the ready unit");
    assert!(
        unit.contains("Type=oneshot\nExecStart=/bin/bash /usr/local/sbin/presto-ha-ready\n")
            && unit.contains("After=presto.service\n")
            && unit.contains("WantedBy=multi-user.target\n"),
        "{unit}"
    );
    assert_eq!(
        sandbox.access("/usr/local/sbin/presto-ha-ready"),
        "root:root 0755"
    );

    // The warm start: the unit runs at boot, the engine already starting from its
    // own enabled service.
    let from = sandbox.calls().len();
    sandbox.set("lifecycle-state", "InService");
    let start = sandbox.run("/usr/local/sbin/presto-ha-ready");
    assert!(start.succeeded, "{}", start.stderr);
    let since: Vec<Vec<String>> = sandbox.calls()[from..].to_vec();
    let programs: std::collections::BTreeSet<&str> = since.iter().map(|c| c[0].as_str()).collect();
    assert_eq!(programs, ["aws", "curl"].into_iter().collect(), "{since:?}");
    // The metadata service, and the engine on this node (over HTTPS as the record's
    // name, resolved to 127.0.0.1).
    let local_only = since.iter().filter(|c| c[0] == "curl").all(|c| {
        c.iter().any(|a| {
            a.starts_with("http://169.254.169.254/")
                || a.starts_with("http://127.0.0.1:")
                || a.ends_with(":127.0.0.1")
        })
    });
    assert!(local_only, "a warm start downloaded something: {since:?}");
    let hooks: Vec<String> = since
        .iter()
        .filter(|c| c[0] == "aws" && c[1] == "autoscaling" && c[2] == "complete-lifecycle-action")
        .map(|c| c[1..].join(" "))
        .collect();
    assert_eq!(hooks, [launch_hook("CONTINUE")]);
}

/// A coordinator whose engine does not serve when it starts (from the warm pool, or
/// at its first boot) gives up after 15 minutes of waiting: it says so in the system
/// log and abandons its launch, so that the group launches another.
#[test]
fn a_coordinator_whose_engine_never_serves_abandons_its_launch() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    let boot = sandbox.boot(&coordinator(&[]));
    assert!(boot.succeeded, "{}", boot.stderr);
    let from = sandbox.calls().len();
    sandbox.set("engine-answers", "0");
    let start = sandbox.run("/usr/local/sbin/presto-ha-ready");
    assert!(!start.succeeded, "{}", start.stderr);
    let since = |program: &str| -> Vec<String> {
        sandbox.calls()[from..]
            .iter()
            .filter(|call| call[0] == program)
            .map(|call| call[1..].join(" "))
            .collect()
    };
    assert_eq!(since("sleep").len(), 180, "waited 180 times 5 s");
    let hooks: Vec<String> = since("aws")
        .into_iter()
        .filter(|c| c.starts_with("autoscaling complete-lifecycle-action"))
        .collect();
    assert_eq!(hooks, [launch_hook("ABANDON")]);
    assert!(
        since("logger")
            .iter()
            .any(|l| l.contains("the engine did not serve within 15 minutes")),
        "{:?}",
        since("logger")
    );
}

/// The install tree of `server` is root's and writable by root alone; the engine's
/// user owns its data directory alone; and the
/// service runs as that user, hardened, with only the data directory writable.
fn assert_the_engine_writes_only_its_data(engine: &str, server: &str, sandbox: &Sandbox) {
    let tree = sandbox.tree_access(&format!("/opt/{server}"));
    assert!(tree.len() > 5, "{tree:?}");
    for (path, access) in &tree {
        assert!(access.starts_with("root:"), "{path} is {access}");
        let mode = u32::from_str_radix(&access[access.len() - 4..], 8).expect("octal mode");
        assert_eq!(mode & 0o022, 0, "{path} is writable beyond root: {access}");
    }
    for (path, access) in sandbox.tree_access(&format!("/var/{engine}")) {
        assert!(
            access.starts_with(&format!("{engine}:{engine} ")),
            "{path} is {access}"
        );
    }
    let unit = sandbox
        .file(&format!("/etc/systemd/system/{engine}.service"))
        .expect("unit");
    let service = unit.split_once("[Service]\n").expect("a service section").1;
    let service = service.split_once("\n\n").expect("the section ends").0;
    // prestodb's launcher.py through python3: its bin/launcher asks for `python`.
    let launcher = match engine {
        "presto" => "/usr/bin/python3 /opt/presto/bin/launcher.py",
        _ => "/opt/trino/bin/launcher",
    };
    assert_eq!(
        service,
        format!(
            "User={engine}\nGroup={engine}\nExecStart={launcher} run\n\
             Restart=on-failure\nRestartSec=5\nLimitNOFILE=131072\n\
             NoNewPrivileges=yes\nProtectSystem=strict\nReadWritePaths=/var/{engine}\n\
             PrivateTmp=yes\nProtectHome=yes\nPrivateDevices=yes\nProtectKernelTunables=yes\n\
             ProtectKernelModules=yes\nProtectControlGroups=yes\nRestrictSUIDSGID=yes\n\
             LockPersonality=yes"
        )
    );
}

#[test]
fn a_trino_worker_on_glue_gets_the_users_files_secrets_and_bootstrap() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    // Only the older .sha1 digest is published: the boot falls back to it.
    let engine = tarball("trino-server-479");
    sandbox.publish(TRINO_URL, &engine);
    sandbox.publish(
        &format!("{TRINO_URL}.sha1"),
        digest("sha1sum", &engine).as_bytes(),
    );
    let secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/pg-AbCdEf";
    let password = "s3cr3t-never-logged";
    sandbox.put_secret(secret_arn, &format!("{{\"password\":\"{password}\"}}"));
    sandbox.put_secret("plain-token", "tok-42");
    sandbox.put_object(
        "s3://conf-bucket/workers.zip",
        &sandbox::zip(&[
            (
                "etc/catalog/postgres.properties",
                &format!("connector.name=postgresql\nconnection-user=trino\nconnection-password=${{secret:{secret_arn}#password}}\n"),
            ),
            ("etc/catalog/events.properties", "connector.name=kafka\nkafka.token=${secret:plain-token}\n"),
            ("etc/config.properties", "# tuned for the workers\nquery.max-memory-per-node=8GB\n"),
            ("etc/jvm.config", "-Xmx12G\n-XX:+UseZGC\n"),
            ("etc/log.properties", "io.trino=INFO\n"),
        ]),
    );
    sandbox.put_object(
        "s3://conf-bucket/bootstrap.sh",
        b"#!/bin/bash\necho \"bootstrap ran as $1\" >/var/tmp/bootstrap-ran\n",
    );
    let boot = sandbox.boot(&worker(&[
        (param::ENGINE, "trino"),
        (param::FAULT_TOLERANT_EXECUTION, "Task"),
        (param::METASTORE_TYPE, "AWS Glue Data Catalog"),
        (
            param::ADDITIONAL_WORKERS_CONFIGURATION_URI,
            "s3://conf-bucket/workers.zip",
        ),
        (
            param::ADDITIONAL_COORDINATOR_CONFIGURATION_URI,
            "s3://conf-bucket/missing-for-workers.zip",
        ),
        (param::BOOTSTRAP_SCRIPT_URI, "s3://conf-bucket/bootstrap.sh"),
    ]));
    assert!(boot.succeeded, "{}", boot.stderr);

    assert_eq!(
        sandbox.calls_of("dnf"),
        ["install -y java-25-amazon-corretto-headless python3 tar gzip openssl aws-cfn-bootstrap"]
    );
    let curls = sandbox.calls_of("curl");
    assert!(
        curls
            .iter()
            .any(|c| c.ends_with(&format!("{TRINO_URL}.sha512"))),
        "{curls:?}"
    );
    assert!(
        curls
            .iter()
            .any(|c| c.ends_with(&format!("{TRINO_URL}.sha1"))),
        "{curls:?}"
    );
    let etc = "/opt/trino-server-479/etc";
    let config = sandbox
        .file(&format!("{etc}/config.properties"))
        .expect("config");
    assert_eq!(
        config,
        format!(
            "coordinator=false\nshutdown.grace-period=30s\n\
             discovery.http-client.request-timeout=5s\ndiscovery.http-client.idle-timeout=5s\n\
             http-server.http.port=8080\n\
             discovery.uri=http://{RECORD}:8080,{}\n\
             internal-communication.shared-secret={SHARED_SECRET}\nquery.max-memory-per-node=8GB\n",
            (1..=5)
                .map(|slot| format!("http://member-{slot}.{RECORD}:8080"))
                .collect::<Vec<_>>()
                .join(",")
        )
    );
    // A worker spools to the stack's bucket; only the coordinator holds the policy.
    assert_eq!(
        sandbox.file(&format!("{etc}/exchange-manager.properties")),
        Some(format!(
            "exchange-manager.name=filesystem\nexchange.base-directories=s3://stack-exchangebucket-1a2b3c\nexchange.s3.region={REGION}\n"
        ))
    );
    // The drain's user may shut the worker down, which Trino's default access control
    // refuses every user.
    assert_eq!(
        sandbox
            .file(&format!("{etc}/access-control.properties"))
            .as_deref(),
        Some("access-control.name=file\nsecurity.config-file=/opt/trino/etc/access-rules.json\n")
    );
    assert_eq!(
        sandbox.file(&format!("{etc}/access-rules.json")).as_deref(),
        Some(
            "{\"system_information\": [{\"user\": \"presto-ha\", \"allow\": [\"read\", \"write\"]}]}\n"
        )
    );
    let jvm = sandbox
        .file(&format!("{etc}/jvm.config"))
        .expect("jvm.config");
    let lines: Vec<&str> = jvm.lines().collect();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("-Xmx"))
            .collect::<Vec<_>>(),
        [&"-Xmx12G"]
    );
    assert_eq!(lines.last(), Some(&"-XX:+UseZGC"));
    assert!(
        lines.contains(&"--add-modules=jdk.incubator.vector"),
        "{jvm}"
    );
    assert!(lines.contains(&"-Dsun.net.inetaddr.ttl=5"), "{jvm}");
    assert_eq!(
        sandbox.file(&format!("{etc}/catalog/hive.properties")),
        Some(format!(
            "connector.name=hive\nhive.metastore=glue\nhive.metastore.glue.region={REGION}\nfs.native-s3.enabled=true\ns3.region={REGION}\n"
        ))
    );
    assert_eq!(
        sandbox.file(&format!("{etc}/catalog/iceberg.properties")),
        Some(format!(
            "connector.name=iceberg\niceberg.catalog.type=glue\nhive.metastore.glue.region={REGION}\nfs.native-s3.enabled=true\ns3.region={REGION}\n"
        ))
    );
    for (catalog, resolved) in [
        ("postgres", format!("connection-password={password}")),
        ("events", "kafka.token=tok-42".to_owned()),
    ] {
        let path = format!("{etc}/catalog/{catalog}.properties");
        let text = sandbox.file(&path).expect("catalog");
        assert!(text.contains(&resolved), "{text}");
        assert_eq!(sandbox.access(&path), "root:trino 0640");
    }
    let merged = format!("{etc}/config.properties");
    assert_eq!(
        sandbox.access(&merged),
        "root:trino 0640",
        "config.properties holds the shared secret"
    );
    assert_the_engine_writes_only_its_data("trino", "trino-server-479", &sandbox);
    for coordinator_only in ["password.db", "tls", "password-authenticator.properties"] {
        assert!(
            sandbox
                .written(&format!("{etc}/{coordinator_only}"))
                .is_none(),
            "a worker got {coordinator_only}"
        );
    }
    let log = format!("{etc}/log.properties");
    assert_eq!(sandbox.file(&log).as_deref(), Some("io.trino=INFO\n"));
    assert_eq!(sandbox.access(&log), "root:root 0644");
    assert_eq!(
        sandbox.file("/var/tmp/bootstrap-ran").as_deref(),
        Some("bootstrap ran as worker\n")
    );
    let calls = sandbox.calls_of("aws");
    let expected = [
        format!("secretsmanager get-secret-value --secret-id {SHARED_SECRET_ID} --query SecretString --output text"),
        "s3 cp --only-show-errors s3://conf-bucket/workers.zip /var/tmp/presto-ha-boot.".to_owned(),
        format!("secretsmanager get-secret-value --secret-id {secret_arn} --query SecretString --output text"),
        "secretsmanager get-secret-value --secret-id plain-token --query SecretString --output text".to_owned(),
        "s3 cp --only-show-errors s3://conf-bucket/bootstrap.sh /var/tmp/presto-ha-boot.".to_owned(),
    ];
    assert_eq!(calls.len(), expected.len(), "{calls:?}");
    for (call, expected) in calls.iter().zip(&expected) {
        assert!(
            call.starts_with(expected.as_str()),
            "{call} is not {expected}"
        );
    }
    assert_eq!(
        sandbox.calls_of("systemctl"),
        [
            "daemon-reload",
            "enable --now trino.service presto-ha-drain.service"
        ]
    );
    let signals = sandbox.calls_of("cfn-signal");
    assert_eq!(signals.len(), 1);
    assert!(
        signals[0].starts_with("--exit-code 0 ") && signals[0].contains("--resource WorkerGroup"),
        "{signals:?}"
    );
    // The secret reached its file and nothing else: not a log, not a call.
    for seen in [boot.stderr.clone(), format!("{:?}", sandbox.calls())] {
        assert!(!seen.contains(password), "the secret leaked: {seen}");
    }
}

#[test]
fn an_external_metastore_gives_both_engines_thrift_catalogs() {
    needs!(Sandbox);
    for (engine, url, server, hive, iceberg) in [
        (
            "presto",
            PRESTO_URL,
            "presto-server-0.297",
            "connector.name=hive-hadoop2\nhive.metastore.uri=thrift://hms.corp:9083\n",
            "connector.name=iceberg\niceberg.catalog.type=hive\nhive.metastore.uri=thrift://hms.corp:9083\n",
        ),
        (
            "trino",
            TRINO_URL,
            "trino-server-479",
            "connector.name=hive\nhive.metastore.uri=thrift://hms.corp:9083\nfs.native-s3.enabled=true\ns3.region=us-east-1\n",
            "connector.name=iceberg\niceberg.catalog.type=hive_metastore\nhive.metastore.uri=thrift://hms.corp:9083\nfs.native-s3.enabled=true\ns3.region=us-east-1\n",
        ),
    ] {
        let sandbox = stack_sandbox();
        publish_with_sha512(&sandbox, url, &tarball(server));
        let boot = sandbox.boot(&coordinator(&[
            (param::ENGINE, engine),
            (param::METASTORE_TYPE, "External Hive Metastore Service"),
            (param::EXTERNAL_METASTORE_HOST, "hms.corp"),
        ]));
        assert!(boot.succeeded, "{engine}: {}", boot.stderr);
        let catalog =
            |name: &str| sandbox.file(&format!("/opt/{server}/etc/catalog/{name}.properties"));
        assert_eq!(catalog("hive").as_deref(), Some(hive), "{engine}");
        assert_eq!(catalog("iceberg").as_deref(), Some(iceberg), "{engine}");
        let config = sandbox
            .file(&format!("/opt/{server}/etc/config.properties"))
            .expect("config");
        // Trino refuses discovery-server.enabled; prestodb's coordinator needs it.
        assert_eq!(
            config.contains("discovery-server.enabled"),
            engine == "presto",
            "{config}"
        );
    }
}

#[test]
fn a_pinned_tarball_is_checked_against_the_pin_alone() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    let engine = tarball("presto-server-0.297");
    sandbox.publish(PRESTO_URL, &engine);
    let pin = digest("sha256sum", &engine);
    let boot = sandbox.boot(&worker(&[
        (param::PRESTO_VERSION, "0.297"),
        (param::PRESTO_TARBALL_SHA256, &pin),
    ]));
    assert!(boot.succeeded, "{}", boot.stderr);
    assert!(
        !sandbox.calls_of("curl").iter().any(|c| c.contains(".sha")),
        "a published digest was fetched"
    );
}

#[test]
fn a_corrupted_tarball_stops_the_boot() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    let engine = tarball("presto-server-0.297");
    sandbox.publish(
        &format!("{PRESTO_URL}.sha512"),
        digest("sha512sum", &engine).as_bytes(),
    );
    let mut corrupted = engine.clone();
    let last = corrupted.len() - 1;
    corrupted[last] ^= 0xff;
    sandbox.publish(PRESTO_URL, &corrupted);
    let boot = sandbox.boot(&coordinator(&[]));
    assert_stopped(
        &sandbox,
        &boot,
        "does not match its published sha512 digest",
    );
    assert!(
        !sandbox.wrote_under("/opt/presto-server-0.297"),
        "a corrupted tarball was extracted"
    );
}

#[test]
fn a_wrong_pin_stops_the_boot() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    let boot = sandbox.boot(&worker(&[
        (param::PRESTO_VERSION, "0.297"),
        (param::PRESTO_TARBALL_SHA256, &"0".repeat(64)),
    ]));
    assert_stopped(&sandbox, &boot, "does not match the pinned SHA-256");
    assert!(!sandbox.wrote_under("/opt/presto-server-0.297"));
}

#[test]
fn a_tarball_without_a_digest_stops_the_boot() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    sandbox.publish(TRINO_URL, &tarball("trino-server-479"));
    let boot = sandbox.boot(&coordinator(&[(param::ENGINE, "trino")]));
    assert_stopped(&sandbox, &boot, "no digest is published for");
}

#[test]
fn a_missing_configuration_object_stops_the_boot() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    let boot = sandbox.boot(&coordinator(&[(
        param::ADDITIONAL_COORDINATOR_CONFIGURATION_URI,
        "s3://conf-bucket/gone.zip",
    )]));
    assert_stopped(&sandbox, &boot, "cannot read s3://conf-bucket/gone.zip");
}

#[test]
fn a_missing_secret_stops_the_boot() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    sandbox.put_object(
        "s3://conf-bucket/coordinators.zip",
        &sandbox::zip(&[(
            "etc/catalog/pg.properties",
            "connection-password=${secret:prod/missing#password}\n",
        )]),
    );
    let boot = sandbox.boot(&coordinator(&[(
        param::ADDITIONAL_COORDINATOR_CONFIGURATION_URI,
        "s3://conf-bucket/coordinators.zip",
    )]));
    assert_stopped(
        &sandbox,
        &boot,
        "cannot apply s3://conf-bucket/coordinators.zip",
    );
    assert!(
        boot.stderr.contains("cannot read secret prod/missing"),
        "{}",
        boot.stderr
    );
    assert!(
        sandbox
            .file("/opt/presto-server-0.297/etc/catalog/pg.properties")
            .is_none()
    );
}

#[test]
fn a_zip_without_an_etc_folder_stops_the_boot() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    sandbox.put_object(
        "s3://conf-bucket/flat.zip",
        &sandbox::zip(&[("catalog/pg.properties", "connector.name=postgresql\n")]),
    );
    let boot = sandbox.boot(&worker(&[(
        param::ADDITIONAL_WORKERS_CONFIGURATION_URI,
        "s3://conf-bucket/flat.zip",
    )]));
    assert_stopped(&sandbox, &boot, "cannot apply s3://conf-bucket/flat.zip");
    assert!(
        boot.stderr.contains("must hold an etc/ folder"),
        "{}",
        boot.stderr
    );
}

#[test]
fn a_failing_bootstrap_script_stops_the_boot() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    sandbox.put_object(
        "s3://conf-bucket/bootstrap.sh",
        b"#!/bin/bash\necho \"no disk for $1\" >&2\nexit 3\n",
    );
    let boot = sandbox.boot(&coordinator(&[(
        param::BOOTSTRAP_SCRIPT_URI,
        "s3://conf-bucket/bootstrap.sh",
    )]));
    assert_stopped(
        &sandbox,
        &boot,
        "s3://conf-bucket/bootstrap.sh coordinator exited with 3",
    );
    assert!(
        boot.stderr.contains("no disk for coordinator"),
        "{}",
        boot.stderr
    );
}

#[test]
fn an_external_metastore_without_a_host_stops_the_boot() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    let boot = sandbox.boot(&worker(&[(
        param::METASTORE_TYPE,
        "External Hive Metastore Service",
    )]));
    assert_stopped(&sandbox, &boot, "needs ExternalMetastoreHost");
}

/// The template's rule refuses fault-tolerant execution for prestodb; a boot given it
/// anyway stops rather than start an engine that would ignore it.
#[test]
fn fault_tolerant_execution_on_prestodb_stops_the_boot() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    let boot = sandbox.boot(&worker(&[(param::FAULT_TOLERANT_EXECUTION, "Task")]));
    assert_stopped(
        &sandbox,
        &boot,
        "FaultTolerantExecution Task needs Engine trino",
    );
}

/// The user data with its packed boot script in the clear, as the shell runs it.
fn unpacked(user_data: &str) -> String {
    let (header, packed) = user_data
        .split_once("source <(printf '%s' '")
        .expect("a packed boot script");
    let packed = packed.split('\'').next().expect("the packed text");
    let mut child = Command::new("sh")
        .args(["-c", "base64 -d | gunzip"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(packed.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("unpacked");
    assert!(output.status.success());
    format!(
        "{header}{}",
        String::from_utf8(output.stdout).expect("text")
    )
}

#[test]
fn every_rendered_boot_script_passes_shellcheck() {
    needs!(Tools);
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut scripts = Vec::new();
    for engine in ["presto", "trino"] {
        for metastore in ["None", "AWS Glue Data Catalog"] {
            let given = [(param::ENGINE, engine), (param::METASTORE_TYPE, metastore)];
            for (role, text) in [
                ("coordinator", coordinator(&given)),
                ("worker", worker(&given)),
            ] {
                let path = dir
                    .path()
                    .join(format!("{engine}-{role}-{}.sh", scripts.len()));
                let script = unpacked(&text);
                // The scripts the boot writes out of quoted heredocs: the functions
                // the node's scripts share, the ready script, and the drain script
                // (which only a worker writes).
                for name in ["LIFECYCLE", "READY", "DRAIN"] {
                    let Some((_, rest)) = script.split_once(&format!("<<'{name}'\n")) else {
                        continue;
                    };
                    let body = rest
                        .split_once(&format!("\n{name}\n"))
                        .expect("the heredoc ends")
                        .0;
                    let inner =
                        dir.path()
                            .join(format!("{}-{}.sh", name.to_lowercase(), scripts.len()));
                    std::fs::write(&inner, format!("{body}\n")).expect("script");
                    scripts.push(inner);
                }
                std::fs::write(&path, script).expect("script");
                scripts.push(path);
            }
        }
    }
    assert_eq!(
        scripts.len(),
        32,
        "every boot script holds the shared functions, a ready and a drain script (a coordinator never runs the drain)"
    );
    // SC1091: the ready and drain scripts source their settings and the shared
    // functions from files that exist only on the node.
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--shell=bash".as_ref(),
        "--severity=style".as_ref(),
        "--exclude=SC1091".as_ref(),
    ];
    args.extend(scripts.iter().map(|p| p.as_os_str()));
    let output = presto_ha_test_support::tools::run_offline("shellcheck", &args);
    assert!(
        output.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_prestodb_worker_announces_to_the_record_alone() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    let boot = sandbox.boot(&worker(&[]));
    assert!(boot.succeeded, "{}", boot.stderr);
    assert_eq!(
        sandbox.file("/opt/presto-server-0.297/etc/config.properties"),
        Some(format!(
            "coordinator=false\nshutdown.grace-period=30s\n\
             discovery.http-client.request-timeout=5s\ndiscovery.http-client.idle-timeout=5s\n\
             http-server.http.port=8080\n\
             discovery.uri=http://{RECORD}:8080\n\
             internal-communication.jwt.enabled=true\ninternal-communication.shared-secret={SHARED_SECRET}\n"
        ))
    );
}

/// Whether `password` hashes to `entry`'s PBKDF2 (iterations, salt and hash in hex),
/// checked by Python's hashlib as both engines' own PBKDF2WithHmacSHA1 does.
fn pbkdf2_matches(entry: &str, password: &str) -> bool {
    let program = "import hashlib, sys\n\
        n, salt, digest = sys.argv[1].split(':')\n\
        ok = hashlib.pbkdf2_hmac('sha1', sys.argv[2].encode(), bytes.fromhex(salt), int(n)).hex() == digest\n\
        sys.exit(0 if ok else 1)\n";
    Command::new("python3")
        .args(["-c", program, entry, password])
        .status()
        .expect("python3 runs")
        .success()
}

#[test]
fn a_coordinator_gets_its_certificate_users_and_shared_secret_for_its_user_only() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, TRINO_URL, &tarball("trino-server-479"));
    let users = "arn:aws:secretsmanager:us-east-1:123456789012:secret:analysts-AbCdEf";
    sandbox.put_secret(users, r#"{"alice":"wonder:land","bob":"builder"}"#);
    let boot = sandbox.boot(&coordinator(&[
        (param::ENGINE, "trino"),
        (param::USERS_SECRET_ARN, users),
    ]));
    assert!(boot.succeeded, "{}", boot.stderr);

    let etc = "/opt/trino-server-479/etc";
    let config = sandbox
        .file(&format!("{etc}/config.properties"))
        .expect("config");
    for line in [
        format!("internal-communication.shared-secret={SHARED_SECRET}"),
        "http-server.https.enabled=true".to_owned(),
        "http-server.https.port=8443".to_owned(),
        "http-server.https.keystore.path=/opt/trino/etc/tls/keystore.p12".to_owned(),
        "http-server.authentication.type=PASSWORD".to_owned(),
    ] {
        assert!(
            config.lines().any(|l| l == line),
            "{line} missing:\n{config}"
        );
    }
    // Trino has no internal-communication.jwt.enabled and refuses unknown properties.
    assert!(!config.contains("jwt"), "{config}");
    let keystore_key = config
        .lines()
        .find_map(|l| l.strip_prefix("http-server.https.keystore.key="))
        .expect("a keystore password");

    // The keystore holds the certificate for the record, behind that password.
    let keystore = format!("{etc}/tls/keystore.p12");
    let listed = Command::new("openssl")
        .args([
            "pkcs12",
            "-nokeys",
            "-passin",
            &format!("pass:{keystore_key}"),
            "-in",
        ])
        .arg(sandbox.written(&keystore).expect("keystore"))
        .output()
        .expect("openssl runs");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&format!("CN = {RECORD}")));
    assert!(
        sandbox.written(&format!("{etc}/tls/key.pem")).is_none(),
        "the bare key was left"
    );

    // Every user, hashed; the passwords themselves nowhere.
    let password_file = format!("{etc}/password.db");
    let entries = sandbox.file(&password_file).expect("password file");
    let entry = |user: &str| {
        entries
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{user}:")))
            .unwrap_or_else(|| panic!("no {user} in {entries}"))
            .to_owned()
    };
    assert_eq!(entries.lines().count(), 3);
    for (user, password) in [
        ("admin", ADMIN_PASSWORD),
        ("alice", "wonder:land"),
        ("bob", "builder"),
    ] {
        assert!(pbkdf2_matches(&entry(user), password), "{user}");
        assert!(
            !entries.contains(password),
            "{user}'s password in the clear"
        );
    }
    assert_eq!(
        sandbox
            .file(&format!("{etc}/password-authenticator.properties"))
            .as_deref(),
        Some("password-authenticator.name=file\nfile.password-file=/opt/trino/etc/password.db\n")
    );
    for private in [
        "config.properties",
        "password.db",
        "password-authenticator.properties",
        "tls/keystore.p12",
    ] {
        let path = format!("{etc}/{private}");
        assert_eq!(sandbox.access(&path), "root:trino 0640", "{private}");
    }
    // Ready only once HTTPS answers for the record's name with the certificate.
    let curls = sandbox.calls_of("curl");
    assert!(
        curls.iter().any(|c| c.contains(&format!("--resolve {RECORD}:8443:127.0.0.1 --cacert /opt/trino/etc/tls/chain.pem https://{RECORD}:8443/v1/info"))),
        "{curls:?}"
    );
    for seen in [boot.stderr.clone(), format!("{:?}", sandbox.calls())] {
        for secret in [SHARED_SECRET, ADMIN_PASSWORD, "wonder:land", keystore_key] {
            assert!(!seen.contains(secret), "a secret leaked: {seen}");
        }
    }
}

#[test]
fn without_client_security_nothing_is_read_and_clients_get_http() {
    needs!(Sandbox);
    let sandbox = Sandbox::new();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    let boot = sandbox.boot(&coordinator(&[(
        param::CLIENT_SECURITY,
        "None (labs only)",
    )]));
    assert!(boot.succeeded, "{}", boot.stderr);
    let config = sandbox
        .file("/opt/presto-server-0.297/etc/config.properties")
        .expect("config");
    assert!(
        !config.contains("https") && !config.contains("internal-communication"),
        "{config}"
    );
    // No secret read: the only AWS calls complete the launch hook.
    assert_eq!(
        sandbox.calls_of("aws").last(),
        Some(&launch_hook("CONTINUE")),
        "{:?}",
        sandbox.calls_of("aws")
    );
    assert!(
        sandbox
            .calls_of("aws")
            .iter()
            .all(|call| call.starts_with("autoscaling ")),
        "{:?}",
        sandbox.calls_of("aws")
    );
    assert!(
        sandbox
            .written("/opt/presto-server-0.297/etc/password.db")
            .is_none()
    );
}

#[test]
fn a_wrong_or_missing_credential_stops_the_boot() {
    needs!(Sandbox);
    let (other_cert, other_key) = certificate("elsewhere.presto.internal");
    let (cert, _) = certificate(RECORD);
    let users = "arn:aws:secretsmanager:us-east-1:123456789012:secret:users-AbCdEf";
    /// The node's role, what to change in the sandbox, the parameters given, and the
    /// reason the boot must stop with.
    type Case<'a> = (
        &'a str,
        Box<dyn Fn(&Sandbox)>,
        Vec<(&'a str, &'a str)>,
        String,
    );
    let cases: Vec<Case> = vec![
        (
            "worker",
            Box::new(|s: &Sandbox| s.put_secret(SHARED_SECRET_ID, "")),
            vec![],
            format!("secret {SHARED_SECRET_ID} is shorter than 32 characters"),
        ),
        (
            "coordinator",
            Box::new(move |s: &Sandbox| {
                s.put_secret(TLS_SECRET_ID, &tls_secret(&other_cert, &other_key))
            }),
            vec![],
            format!("the certificate in secret {TLS_SECRET_ID} is not valid for {RECORD}"),
        ),
        (
            "coordinator",
            Box::new(move |s: &Sandbox| {
                s.put_secret(TLS_SECRET_ID, &tls_secret(&cert, &certificate(RECORD).1))
            }),
            vec![],
            format!("the key in secret {TLS_SECRET_ID} does not belong to its certificate"),
        ),
        (
            "coordinator",
            Box::new(|s: &Sandbox| s.put_secret(TLS_SECRET_ID, "{}")),
            vec![],
            format!("secret {TLS_SECRET_ID} must hold certificate and privateKey as PEM texts"),
        ),
        (
            "coordinator",
            Box::new(|_: &Sandbox| {}),
            vec![(param::USERS_SECRET_ARN, users)],
            format!("cannot read secret {users}"),
        ),
        (
            "coordinator",
            Box::new(move |s: &Sandbox| s.put_secret(users, r#"{"eve:il":"x"}"#)),
            vec![(param::USERS_SECRET_ARN, users)],
            format!(
                "secret {users}: user 'eve:il' needs a name without ':' and a non-empty password"
            ),
        ),
        (
            "coordinator",
            Box::new(move |s: &Sandbox| s.put_secret(users, r#"{"admin":"mine"}"#)),
            vec![(param::USERS_SECRET_ARN, users)],
            format!("secret {users}: user 'admin' is already defined"),
        ),
        (
            "coordinator",
            Box::new(move |s: &Sandbox| s.put_secret(users, "[1, 2]")),
            vec![(param::USERS_SECRET_ARN, users)],
            format!("secret {users} must hold an object of user names and passwords"),
        ),
    ];
    for (role, setup, given, reason) in cases {
        let sandbox = stack_sandbox();
        publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
        setup(&sandbox);
        let user_data = if role == "worker" {
            worker(&given)
        } else {
            coordinator(&given)
        };
        let boot = sandbox.boot(&user_data);
        assert_stopped(&sandbox, &boot, &reason);
    }
}

/// The worker's drain, run for real after its boot: on `Terminated` it asks the
/// engine for a graceful shutdown, waits for the engine to be gone or the drain time,
/// and completes the group's hook once, whatever the engine did.
#[test]
fn a_removed_worker_drains_then_completes_the_hook_once() {
    needs!(Sandbox);
    let sandbox = stack_sandbox();
    publish_with_sha512(&sandbox, PRESTO_URL, &tarball("presto-server-0.297"));
    let boot = sandbox.boot(&worker(&[(param::WORKER_DRAIN_SECONDS, "60")]));
    assert!(boot.succeeded, "{}", boot.stderr);
    assert_eq!(
        sandbox.file("/etc/presto-ha/drain.env").as_deref(),
        Some(&*format!(
            "ENGINE=presto\nSERVICE=presto.service\nHTTP_PORT=8080\nDRAIN_HOOK=presto-ha-drain\nDRAIN_SECONDS=60\nREGION={REGION}\n"
        ))
    );
    assert_eq!(
        sandbox.access("/usr/local/sbin/presto-ha-drain"),
        "root:root 0755"
    );
    let unit = sandbox
        .file("/etc/systemd/system/presto-ha-drain.service")
        .expect("the drain's unit");
    assert!(
        unit.contains("ExecStart=/bin/bash /usr/local/sbin/presto-ha-drain\n"),
        "{unit}"
    );
    assert_eq!(
        sandbox.calls_of("systemctl"),
        [
            "daemon-reload",
            "enable --now presto.service presto-ha-drain.service"
        ]
    );
    let complete = format!(
        "autoscaling complete-lifecycle-action --region {REGION} --lifecycle-hook-name presto-ha-drain \
         --auto-scaling-group-name sandbox-group --instance-id i-0123456789abcdef0 --lifecycle-action-result CONTINUE"
    );
    let shutdown = "-fsS -X PUT -H Content-Type: application/json -H X-Presto-User: presto-ha -d \"SHUTTING_DOWN\" http://127.0.0.1:8080/v1/info/state";
    // The calls of `program` since the `from`-th call, each as its arguments.
    let since = |from: usize, program: &str| -> Vec<String> {
        sandbox.calls()[from..]
            .iter()
            .filter(|call| call[0] == program)
            .map(|call| call[1..].join(" "))
            .collect()
    };

    // The engine finishes its tasks and exits after three more answers.
    let from = sandbox.calls().len();
    sandbox.set("lifecycle-state", "Terminated");
    sandbox.set("engine-answers", "3");
    let drain = sandbox.run("/usr/local/sbin/presto-ha-drain");
    assert!(drain.succeeded, "{}", drain.stderr);
    let curls = since(from, "curl");
    assert!(curls.iter().any(|c| c == shutdown), "{curls:?}");
    assert_eq!(
        since(from, "sleep").len(),
        3,
        "polled until the engine was gone"
    );
    let aws = since(from, "aws");
    assert_eq!(aws.last(), Some(&complete));
    assert_eq!(aws.iter().filter(|c| **c == complete).count(), 1);
    // Its unit stopped before the hook: the engine is gone, and stays gone.
    let order: Vec<String> = sandbox.calls()[from..]
        .iter()
        .filter(|call| call[0] == "systemctl" || call[0] == "aws")
        .map(|call| call[1..].join(" "))
        .collect();
    let stopped = order.iter().position(|c| c == "stop presto.service");
    let completed = order.iter().position(|c| *c == complete);
    assert!(stopped.is_some() && stopped < completed, "{order:?}");

    // The engine refuses to shut down and never exits: the hook is completed once
    // the drain time (60 s, polled every 5 s) is spent, so a scale-in never hangs.
    let from = sandbox.calls().len();
    sandbox.set("refuse-shutdown", "");
    sandbox.set("engine-answers", "1000");
    let drain = sandbox.run("/usr/local/sbin/presto-ha-drain");
    assert!(drain.succeeded, "{}", drain.stderr);
    assert_eq!(
        since(from, "sleep").len(),
        12,
        "waited the whole drain time"
    );
    let aws = since(from, "aws");
    assert_eq!(aws.iter().filter(|c| **c == complete).count(), 1);
    let logged = since(from, "logger");
    assert!(
        logged
            .iter()
            .any(|l| l.contains("refused a graceful shutdown")),
        "{logged:?}"
    );
}
