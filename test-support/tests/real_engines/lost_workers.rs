//! Workers lost in the middle of a query: killed (`kill -9`, as a crash), or reclaimed
//! as EC2 reclaims a spot instance (the drain starts with two minutes' notice, then
//! the host is gone). Without fault-tolerant execution the query fails; with
//! `FaultTolerantExecution` `Task`, Trino retries the lost tasks from the exchange
//! spooled to the stack's bucket and the query completes.

use std::time::{Duration, Instant};

use presto_ha_contract::parameters as param;
use presto_ha_generator::settings::FaultTolerance;
use presto_ha_generator::template::ids;
use presto_ha_test_support::engines::Engine;
use presto_ha_test_support::templates::stack_secrets::ADMIN_PASSWORD;
use presto_ha_test_support::templates::{Stack, generate};
use presto_ha_test_support::testnet::TestNet;

use crate::cluster::*;
use crate::lake::Lake;

/// The notice EC2 gives a spot instance it reclaims.
const SPOT_NOTICE: Duration = Duration::from_secs(120);

/// How a worker is lost.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loss {
    /// Its engine is killed (`kill -9`); its unit starts it again.
    Killed,
    /// Its drain starts (the lifecycle state `Terminated`), and after the spot notice,
    /// or once drained, the host is gone.
    Reclaimed,
}

/// How long the query a worker is lost under lasts, all its tasks run once.
const QUERY_TIME: Duration = Duration::from_secs(30);

/// Counts the slow table `table` (made to last [`QUERY_TIME`]) and loses a worker that
/// runs one of the query's tasks as `loss`; the query's answer (its count, or the
/// client's error) and the count it should give.
pub(crate) fn lose_a_worker_mid_query(
    cluster: &Cluster,
    table: &str,
    loss: Loss,
) -> (Result<u64, String>, u64) {
    let table = cluster.slow_table(table, QUERY_TIME);
    std::thread::scope(|scope| {
        let query = scope.spawn(|| {
            cluster.python_within(
                Duration::from_secs(600),
                "admin",
                ADMIN_PASSWORD,
                &table.query,
            )
        });
        let node = cluster.worker_running(&table.query);
        match loss {
            Loss::Killed => node.signal_engine("-KILL"),
            Loss::Reclaimed => {
                node.sandbox.set("lifecycle-state", "Terminated");
                let notice = Instant::now() + SPOT_NOTICE;
                while Instant::now() < notice && !node.sandbox.jvms().is_empty() {
                    std::thread::sleep(Duration::from_millis(500));
                }
                cluster.net.remove(&node.host);
            }
        }
        let answer = query.join().expect("the query");
        (answer.map(|rows| tiny_count(&rows)), table.rows)
    })
}

/// Trino with `FaultTolerantExecution` `Task`, its exchange on the bucket the stack
/// names (in moto in the network's hub, reached through an extra configuration as a
/// user gives it): a query survives a worker killed under it, and one reclaimed
/// with a spot instance's notice. (Trino refuses a `TASK` query whose exchange it
/// cannot spool, so the answers show the bucket in use.)
fn survives_lost_workers() {
    let net = TestNet::new();
    let lake = Lake::start(&net);
    let given = [
        (
            param::FAULT_TOLERANT_EXECUTION,
            FaultTolerance::Task.as_str(),
        ),
        (param::ENGINE, Engine::Trino.name()),
    ];
    let template = generate(&[]);
    let bucket =
        Stack::new(&template, &given).text(&serde_json::json!({ "Ref": ids::EXCHANGE_BUCKET }));
    lake.make_bucket(&net, &bucket);
    let cluster = Cluster::on(Engine::Trino, Security::TlsAndPasswords, net, &given)
        .with_configuration(&lake.exchange_configuration())
        .booted(1, 3);
    cluster.wait_for_workers(3);
    for (table, loss) in [("killed", Loss::Killed), ("reclaimed", Loss::Reclaimed)] {
        let started = Instant::now();
        let (answer, rows) = lose_a_worker_mid_query(&cluster, table, loss);
        assert_eq!(
            answer,
            Ok(rows),
            "{loss:?} worker under a query with retry-policy TASK\n{}",
            cluster.logs()
        );
        eprintln!(
            "trino, Task: the query outlived a {loss:?} worker, {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    // What a lost worker had spooled may stay behind after its query (the exchange is
    // cleaned up as the query ends, and a dead worker's part is not always found):
    // that is what the bucket's lifecycle rule expires, and the custom resource
    // empties at the stack's deletion.
    eprintln!(
        "trino, Task: {} spooled objects left in {bucket}",
        lake.objects(&cluster.net, &bucket, "").len()
    );
}

#[test]
fn trino_queries_survive_lost_workers_with_fault_tolerant_execution() {
    presto_ha_test_support::needs!(Sandbox);
    presto_ha_test_support::needs!(Tools);
    survives_lost_workers();
}
