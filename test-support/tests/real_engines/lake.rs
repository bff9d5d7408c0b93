//! The AWS Glue Data Catalog and S3 of a test network: moto (with Glue's column
//! statistics added, `lake.py`), started in the network's hub so that it listens in
//! the test's own namespace and nowhere else, which the nodes reach as they would
//! reach Glue and S3; and the extra configuration a user gives the stack's catalogs
//! to reach it.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use presto_ha_test_support::engines::Engine;
use presto_ha_test_support::testnet::TestNet;
use presto_ha_test_support::tools::tool;

/// The emulator's port in the hub.
const PORT: u16 = 5000;
/// The bucket the tables live in.
pub(crate) const BUCKET: &str = "presto-ha-lake";
/// moto takes any keys; a node on AWS takes its role's from the instance metadata,
/// which the node sandbox does not serve to the engine.
const KEY: &str = "testing";

/// moto in a test network's hub, with the tables' bucket.
pub(crate) struct Lake {
    endpoint: String,
    moto: Child,
    /// Where moto writes the name of each Glue action called.
    calls: tempfile::NamedTempFile,
}

impl Lake {
    /// Starts moto in `net`'s hub and makes the bucket.
    pub(crate) fn start(net: &TestNet) -> Self {
        let address = net.resolver();
        let calls = tempfile::NamedTempFile::new().expect("a file for the calls");
        let moto = net
            .in_hub(tool("python"))
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/lake.py"))
            .args([&address.to_string(), &PORT.to_string()])
            .arg(calls.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto starts");
        let lake = Self {
            endpoint: format!("http://{address}:{PORT}"),
            moto,
            calls,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while lake.boto3(net, "s3", "c.list_buckets()").is_err() {
            assert!(Instant::now() < deadline, "moto never answered in the hub");
            std::thread::sleep(Duration::from_millis(200));
        }
        lake.make_bucket(net, BUCKET);
        lake
    }

    /// Makes the bucket `name`, as the stack would.
    pub(crate) fn make_bucket(&self, net: &TestNet, name: &str) {
        self.boto3(net, "s3", &format!("c.create_bucket(Bucket={name:?})"))
            .unwrap_or_else(|e| panic!("the bucket {name}: {e}"));
    }

    /// Runs `call` on a boto3 client `c` of `service` in the hub; its result as JSON.
    fn boto3(&self, net: &TestNet, service: &str, call: &str) -> Result<serde_json::Value, String> {
        let program = format!(
            "import boto3, json\n\
             c = boto3.client({service:?}, endpoint_url={:?}, region_name='us-east-1', \
             aws_access_key_id={KEY:?}, aws_secret_access_key={KEY:?})\n\
             print(json.dumps({call}, default=str))\n",
            self.endpoint
        );
        let output = net
            .in_hub(tool("python"))
            .args(["-c", &program])
            .output()
            .expect("python runs");
        if output.status.success() {
            Ok(serde_json::from_slice(&output.stdout).expect("JSON"))
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// The Glue table `database.table`, as Glue's GetTable returns it.
    pub(crate) fn glue_table(
        &self,
        net: &TestNet,
        database: &str,
        table: &str,
    ) -> serde_json::Value {
        self.boto3(
            net,
            "glue",
            &format!("c.get_table(DatabaseName={database:?}, Name={table:?})['Table']"),
        )
        .unwrap_or_else(|e| panic!("Glue has no table {database}.{table}: {e}"))
    }

    /// Every Glue action called so far, as IAM names it (`glue:GetTable`), once each.
    pub(crate) fn glue_actions(&self) -> std::collections::BTreeSet<String> {
        std::fs::read_to_string(self.calls.path())
            .expect("the calls")
            .lines()
            .map(|action| format!("glue:{action}"))
            .collect()
    }

    /// The keys under `prefix` in `bucket`.
    pub(crate) fn objects(&self, net: &TestNet, bucket: &str, prefix: &str) -> Vec<String> {
        let listed = self
            .boto3(
                net,
                "s3",
                &format!(
                    "[o['Key'] for o in c.list_objects_v2(Bucket={bucket:?}, Prefix={prefix:?}).get('Contents', [])]"
                ),
            )
            .expect("the bucket's objects");
        serde_json::from_value(listed).expect("keys")
    }

    /// The extra configuration a user gives `engine`'s `hive` and `iceberg` catalogs
    /// to reach this Glue and S3: the endpoints and keys, merged into the catalogs the
    /// stack writes (the files, for [`crate::cluster::Cluster::with_configuration`]).
    pub(crate) fn configuration(&self, engine: Engine) -> Vec<(&'static str, String)> {
        let endpoint = &self.endpoint;
        let catalog = match engine {
            Engine::Trino => format!(
                "hive.metastore.glue.endpoint-url={endpoint}\n\
                 hive.metastore.glue.aws-access-key={KEY}\n\
                 hive.metastore.glue.aws-secret-key={KEY}\n\
                 s3.endpoint={endpoint}\n\
                 s3.path-style-access=true\n\
                 s3.aws-access-key={KEY}\n\
                 s3.aws-secret-key={KEY}\n"
            ),
            Engine::Presto => format!(
                "hive.metastore.glue.endpoint-url={endpoint}\n\
                 hive.metastore.glue.aws-access-key={KEY}\n\
                 hive.metastore.glue.aws-secret-key={KEY}\n\
                 hive.s3.endpoint={endpoint}\n\
                 hive.s3.path-style-access=true\n\
                 hive.s3.ssl.enabled=false\n\
                 hive.s3.aws-access-key={KEY}\n\
                 hive.s3.aws-secret-key={KEY}\n"
            ),
        };
        vec![
            ("etc/catalog/hive.properties", catalog.clone()),
            ("etc/catalog/iceberg.properties", catalog),
        ]
    }

    /// The extra configuration a user gives Trino's exchange manager to reach this S3:
    /// the endpoint and keys, merged into the `exchange-manager.properties` the stack
    /// writes.
    pub(crate) fn exchange_configuration(&self) -> Vec<(&'static str, String)> {
        let endpoint = &self.endpoint;
        vec![(
            "etc/exchange-manager.properties",
            format!(
                "exchange.s3.endpoint={endpoint}\n\
                 exchange.s3.path-style-access=true\n\
                 exchange.s3.aws-access-key={KEY}\n\
                 exchange.s3.aws-secret-key={KEY}\n"
            ),
        )]
    }
}

impl Drop for Lake {
    fn drop(&mut self) {
        let _ = self.moto.kill();
        let _ = self.moto.wait();
    }
}
