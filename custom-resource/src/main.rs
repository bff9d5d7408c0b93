//! The custom-resource Lambda binary.

use std::time::SystemTime;

use lambda_runtime::{LambdaEvent, service_fn};
use presto_ha_coordinators::aws::{AwsClients, load_config};
use presto_ha_coordinators::probe::HttpProbe;
use presto_ha_custom_resource::Stores;
use presto_ha_custom_resource::drain::ClientQueries;
use presto_ha_custom_resource::exchange::S3Exchange;
use presto_ha_custom_resource::handler::Services;
use presto_ha_custom_resource::image::SsmImageCatalog;
use presto_ha_custom_resource::origin::Origin;
use presto_ha_custom_resource::response::Responder;
use presto_ha_custom_resource::tls::SecretsManager;
use presto_ha_custom_resource::watcher::AwsWatcherControl;
use serde_json::Value;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let origin = Origin::from_env()?;
    let config = load_config().await;
    let aws = AwsClients::new(&config);
    let services = Services {
        coordinators: aws.coordinators(),
        probe: HttpProbe::new()?,
        record: aws.record(),
        watcher: AwsWatcherControl::new(&config),
        queries: ClientQueries::new(SecretsManager::new(&config)),
    };
    let stores = Stores {
        images: SsmImageCatalog::new(&config),
        secrets: SecretsManager::new(&config),
        exchange: S3Exchange::new(&config),
    };
    let responder = Responder::new()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let deadline = deadline(event.context.deadline());
        let (origin, services, stores, responder) = (&origin, &services, &stores, &responder);
        async move {
            presto_ha_custom_resource::answer(
                origin,
                services,
                stores,
                responder,
                event.payload,
                deadline,
            )
            .await
            .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

/// The invocation's wall-clock deadline on the monotonic clock.
fn deadline(at: SystemTime) -> Instant {
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    Instant::now() + left
}
