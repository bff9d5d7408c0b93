//! The watcher Lambda binary: each invocation (every minute, and at once on an
//! instance state change) watches the coordinators for about a minute. Deployed as
//! the probe function (`ONLY_PROBES=true`), it answers probe requests instead.

use std::time::{Duration, SystemTime};

use lambda_runtime::{LambdaEvent, service_fn};
use presto_ha_coordinators::aws::{AwsClients, load_config};
use presto_ha_coordinators::notes::Route53Note;
use presto_ha_coordinators::probe::HttpProbe;
use presto_ha_watcher::probes::{self, ProbeSettings};
use presto_ha_watcher::settings::{RUN_FOR, Settings};
use presto_ha_watcher::watch::{AsgFence, Services, watch};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Time kept before the Lambda deadline.
const DEADLINE_RESERVE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let var = |name: &str| std::env::var(name).ok();
    if let Some(settings) = ProbeSettings::from_vars(var)? {
        return answer_probes(settings).await;
    }
    let settings = Settings::from_vars(var)?;
    let aws = AwsClients::new(&load_config().await);
    let services = Services {
        coordinators: aws.coordinators(),
        probe: HttpProbe::new()?,
        record: aws.record(),
        fence: AsgFence::new(aws.autoscaling.clone()),
        note: Route53Note::new(aws.route53.clone()),
    };
    // What the decision remembers lives in the warm process between invocations, and
    // in the watcher's note for the next cold start.
    let memory = Mutex::new(None);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (services, settings, memory) = (&services, &settings, &memory);
        async move {
            let left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let until = Instant::now() + RUN_FOR.min(left.saturating_sub(DEADLINE_RESERVE));
            let trigger = event
                .payload
                .get("detail-type")
                .and_then(Value::as_str)
                .unwrap_or("direct")
                .to_owned();
            tracing::info!(trigger, "watching");
            let mut memory = memory.lock().await;
            watch(services, settings, &mut memory, until).await;
            Ok::<(), lambda_runtime::Error>(())
        }
    }))
    .await
}

/// The probe function: each invocation probes the group's serving members once.
async fn answer_probes(settings: ProbeSettings) -> Result<(), lambda_runtime::Error> {
    let coordinators = AwsClients::new(&load_config().await).coordinators();
    let probe = HttpProbe::new()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (settings, coordinators, probe) = (&settings, &coordinators, &probe);
        async move {
            let report = probes::answer(&event.payload, settings, coordinators, probe).await?;
            tracing::info!(probed = report.probed.len(), "probed");
            Ok::<_, lambda_runtime::Error>(report)
        }
    }))
    .await
}
