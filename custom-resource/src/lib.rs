//! The stack's custom-resource Lambda. `Custom::CoordinatorDns` seeds the coordinator
//! record when the stack is created, keeps it right through updates (draining the
//! coordinators an update replaces: [`drain`]), and on delete stops the watcher and
//! removes the record and its notes ([`watcher`]);
//! `Custom::PinnedImage` keeps the nodes' image ([`image`]); `Custom::TlsCertificate`
//! makes or checks the coordinators' certificate ([`tls`]); `Custom::ExchangeBucket`
//! empties the fault-tolerant exchange's bucket for its deletion ([`exchange`]). Every
//! event is answered, so that no stack ever waits on it.
//!
//! [`answer`] is the whole invocation: read where the answer goes and check that it
//! may go there and that the event is its own stack's ([`origin`]), check the request
//! ([`event`], [`image`]), carry it out under a deadline and with panics caught
//! ([`handler`]), and PUT the result ([`response`]).
#![warn(missing_docs)]

pub mod drain;
pub mod event;
pub mod exchange;
pub mod handler;
pub mod image;
pub mod origin;
pub mod response;
pub mod tls;
pub mod watcher;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use presto_ha_contract::{exchange_resource, image_resource, tls_resource};
use presto_ha_coordinators::error_chain;
use presto_ha_coordinators::group::Coordinators;
use presto_ha_coordinators::notes::WatchNote;
use presto_ha_coordinators::probe::HealthProbe;
use presto_ha_coordinators::record::CoordinatorRecord;
use serde_json::Value;
use tokio::time::Instant;

use crate::event::{DnsProperties, ReplyTo, Request, physical_id};
use crate::exchange::{ExchangeRequest, ExchangeStore};
use crate::handler::{Services, Success};
use crate::image::{ImageCatalog, ImageRequest};
use crate::origin::Origin;
use crate::response::{Answer, Responder};
use crate::tls::{SecretStore, TlsRequest};
use crate::watcher::WatcherControl;

/// Time kept before the Lambda deadline for sending the answer: the work is cut off
/// this long before it.
pub const ANSWER_RESERVE: Duration = Duration::from_secs(4);

/// Why an invocation could not answer CloudFormation.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The event has no `ResponseURL`, so there is nowhere to answer.
    #[error("the event has no ResponseURL; nothing can be answered: {0}")]
    NoResponseUrl(String),
    /// The `ResponseURL` is not one CloudFormation gives; nothing is sent to it.
    #[error("{0}; nothing was answered")]
    UntrustedResponseUrl(String),
    /// The answer could not be delivered.
    #[error(transparent)]
    Send(#[from] response::SendError),
}

/// What the resources other than `Custom::CoordinatorDns` call.
pub struct Stores<I, S, E> {
    /// Where the latest image is named.
    pub images: I,
    /// The certificates' secrets.
    pub secrets: S,
    /// The exchange bucket.
    pub exchange: E,
}

/// Handles one event and answers it exactly once. Returns `Ok` once an answer,
/// SUCCESS or FAILED, was delivered; an error only when none could be or may be.
/// An event of another stack than `origin`'s is answered FAILED without any work.
pub async fn answer<C, P, R, W, Q>(
    origin: &Origin,
    services: &Services<C, P, R, W, Q>,
    stores: &Stores<impl ImageCatalog, impl SecretStore, impl ExchangeStore>,
    responder: &Responder,
    event: Value,
    deadline: Instant,
) -> Result<(), AnswerError>
where
    C: Coordinators,
    P: HealthProbe + Sync,
    R: CoordinatorRecord + WatchNote,
    W: WatcherControl,
    Q: drain::QueryCounting,
{
    let Some(reply) = ReplyTo::from_event(&event) else {
        let shown: String = event.to_string().chars().take(512).collect();
        tracing::error!(event = shown, "event without a ResponseURL");
        return Err(AnswerError::NoResponseUrl(shown));
    };
    if let Err(reason) = origin.check_response_url(&reply.response_url) {
        tracing::error!(reason, "refused the ResponseURL");
        return Err(AnswerError::UntrustedResponseUrl(reason));
    }
    let request_type = event
        .get("RequestType")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let started = Instant::now();
    let refused = |error: event::EventError| Answer::Failed {
        physical_id: failed_physical_id(&reply, &event),
        reason: error.to_string(),
    };
    let outcome = match (
        origin.check_stack(&reply.stack_id),
        event.get("ResourceType").and_then(Value::as_str),
    ) {
        (Err(reason), _) => Answer::Failed {
            physical_id: failed_physical_id(&reply, &event),
            reason,
        },
        (Ok(()), Some(image_resource::TYPE)) => match ImageRequest::parse(&event) {
            Err(error) => refused(error),
            Ok(request) => {
                let work = image::pin(&stores.images, request);
                finish(work, &reply, &event, deadline, started).await
            }
        },
        (Ok(()), Some(tls_resource::TYPE)) => match TlsRequest::parse(&event) {
            Err(error) => refused(error),
            Ok(request) => {
                let work = tls::certify(&stores.secrets, request);
                finish(work, &reply, &event, deadline, started).await
            }
        },
        (Ok(()), Some(exchange_resource::TYPE)) => match ExchangeRequest::parse(&event) {
            Err(error) => refused(error),
            Ok(request) => {
                let work = exchange::handle(&stores.exchange, request);
                finish(work, &reply, &event, deadline, started).await
            }
        },
        (Ok(()), _) => match Request::parse(event.clone()) {
            Err(error) => refused(error),
            Ok(request) => {
                let work = handler::handle(services, request, deadline);
                finish(work, &reply, &event, deadline, started).await
            }
        },
    };
    match &outcome {
        Answer::Success(success) => tracing::info!(
            request_type,
            request_id = reply.request_id,
            physical_id = success.physical_id,
            duration_ms = started.elapsed().as_millis() as u64,
            "SUCCESS"
        ),
        Answer::Failed {
            physical_id,
            reason,
        } => tracing::error!(
            request_type,
            request_id = reply.request_id,
            physical_id,
            reason,
            duration_ms = started.elapsed().as_millis() as u64,
            "FAILED"
        ),
    }
    responder
        .send(
            &reply.response_url,
            response::body(&reply, &outcome),
            deadline,
        )
        .await?;
    Ok(())
}

/// Runs a handler's `work` to its answer: its success, or FAILED with the error, the
/// panic, or the cut-off shortly before the deadline.
async fn finish<E: std::error::Error>(
    work: impl Future<Output = Result<Success, E>>,
    reply: &ReplyTo,
    event: &Value,
    deadline: Instant,
    started: Instant,
) -> Answer {
    let work = AssertUnwindSafe(work).catch_unwind();
    let cutoff = deadline
        .checked_sub(ANSWER_RESERVE)
        .unwrap_or_else(Instant::now);
    match tokio::time::timeout_at(cutoff, work).await {
        Ok(Ok(Ok(success))) => Answer::Success(success),
        Ok(Ok(Err(error))) => Answer::Failed {
            physical_id: failed_physical_id(reply, event),
            reason: error_chain(&error),
        },
        Ok(Err(panic)) => Answer::Failed {
            physical_id: failed_physical_id(reply, event),
            reason: format!("the handler panicked: {}", panic_message(panic.as_ref())),
        },
        Err(_) => Answer::Failed {
            physical_id: failed_physical_id(reply, event),
            reason: format!(
                "gave up after {:.1}s to answer before the Lambda deadline (coordinators or AWS too slow)",
                started.elapsed().as_secs_f64()
            ),
        },
    }
}

/// The physical id a FAILED answer carries: the request's own on Update and Delete;
/// on Create, the id the properties derive (so the Delete that follows cleans up a
/// record written before the failure), or one naming nothing when they are invalid.
fn failed_physical_id(reply: &ReplyTo, event: &Value) -> String {
    if let Some(id) = &reply.physical_resource_id {
        return id.clone();
    }
    match event.get("ResourceProperties").map(DnsProperties::parse) {
        Some(Ok(properties)) => physical_id(&properties.address),
        _ => format!("invalid-request-{}", reply.request_id),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}
