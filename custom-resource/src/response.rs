//! The answer to CloudFormation: one PUT of a JSON body to the pre-signed
//! `ResponseURL`, with an empty `Content-Type` (the URL is signed without one).

use std::time::Duration;

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceResponse, CloudFormationCustomResourceResponseStatus,
};
use presto_ha_coordinators::error_chain;
use tokio::time::Instant;

use crate::event::ReplyTo;
use crate::handler::Success;

/// CloudFormation's limit on the whole answer.
pub const MAX_BODY_BYTES: usize = 4096;

/// What the resource answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The request was carried out.
    Success(Success),
    /// It was not; `reason` says why, for the stack's events.
    Failed {
        /// The resource's id (CloudFormation sends it back in the Delete that follows
        /// a failed Create).
        physical_id: String,
        /// Why.
        reason: String,
    },
}

/// The JSON body of `answer`, at most [`MAX_BODY_BYTES`]: a reason too long to fit is
/// cut, and says so.
pub fn body(reply: &ReplyTo, answer: &Answer) -> Vec<u8> {
    let mut response = CloudFormationCustomResourceResponse::default();
    response.stack_id = reply.stack_id.clone();
    response.request_id = reply.request_id.clone();
    response.logical_resource_id = reply.logical_resource_id.clone();
    let reason = match answer {
        Answer::Success(success) => {
            response.status = CloudFormationCustomResourceResponseStatus::Success;
            response.physical_resource_id = success.physical_id.clone();
            response.data = success.data.clone().into_iter().collect();
            success.reason.clone()
        }
        Answer::Failed {
            physical_id,
            reason,
        } => {
            response.status = CloudFormationCustomResourceResponseStatus::Failed;
            response.physical_resource_id = physical_id.clone();
            Some(reason.clone())
        }
    };
    let encode = |response: &CloudFormationCustomResourceResponse| {
        serde_json::to_vec(response).expect("the response serializes")
    };
    let Some(reason) = reason else {
        return encode(&response);
    };
    response.reason = Some(reason.clone());
    let full = encode(&response);
    if full.len() <= MAX_BODY_BYTES {
        return full;
    }
    // The longest prefix of the reason that fits, found by bisection: JSON escapes
    // make the encoded size of a prefix unpredictable from its length alone.
    const MARKER: &str = " [cut]";
    let mut fits = 0;
    let mut too_long = reason.len();
    while too_long - fits > 1 {
        let mut middle = fits + (too_long - fits) / 2;
        while !reason.is_char_boundary(middle) {
            middle -= 1;
        }
        if middle <= fits {
            break;
        }
        response.reason = Some(format!("{}{MARKER}", &reason[..middle]));
        if encode(&response).len() <= MAX_BODY_BYTES {
            fits = middle;
        } else {
            too_long = middle;
        }
    }
    response.reason = Some(format!("{}{MARKER}", &reason[..fits]));
    encode(&response)
}

/// Sending the answer failed for good.
#[derive(Debug, thiserror::Error)]
#[error("failed to PUT the answer to the ResponseURL after {attempts} attempts: {last}")]
pub struct SendError {
    attempts: u32,
    last: String,
}

/// PUTs answers, retrying what may pass: connection failures, timeouts, 5xx and 429.
#[derive(Debug, Clone)]
pub struct Responder {
    client: reqwest::Client,
}

const ATTEMPTS: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(250);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Responder {
    /// A responder with its own HTTP client.
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder().build()?,
        })
    }

    /// PUTs `body` to `url`, trying again until it is accepted, a try cannot pass
    /// (a 4xx), [`ATTEMPTS`] tries failed, or `deadline` is reached.
    pub async fn send(&self, url: &str, body: Vec<u8>, deadline: Instant) -> Result<(), SendError> {
        let mut delay = FIRST_DELAY;
        let mut attempt = 1;
        loop {
            let timeout = REQUEST_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
            let result = self
                .client
                .put(url)
                .header(reqwest::header::CONTENT_TYPE, "")
                .timeout(timeout.max(Duration::from_millis(100)))
                .body(body.clone())
                .send()
                .await;
            let (retry, last) = match result {
                Ok(response) if response.status().is_success() => {
                    tracing::info!(
                        status = response.status().as_u16(),
                        attempt,
                        "answer delivered"
                    );
                    return Ok(());
                }
                Ok(response) => {
                    let status = response.status();
                    (
                        status.is_server_error() || status.as_u16() == 429,
                        format!("HTTP {status}"),
                    )
                }
                Err(error) => (true, error_chain(&error)),
            };
            if !retry || attempt >= ATTEMPTS || Instant::now() + delay >= deadline {
                return Err(SendError {
                    attempts: attempt,
                    last,
                });
            }
            tracing::warn!(attempt, error = last, "answer not delivered; trying again");
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;

    fn reply() -> ReplyTo {
        ReplyTo {
            response_url: "http://127.0.0.1:1/answer".into(),
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/analytics/5b6f2c10"
                .into(),
            request_id: "2f0c3a3e".into(),
            logical_resource_id: "CoordinatorDns".into(),
            physical_resource_id: None,
        }
    }

    #[test]
    fn success_carries_the_id_the_data_and_the_echoed_fields() {
        let success = Success {
            physical_id: "Z1/coordinator.presto.internal".into(),
            data: BTreeMap::from([("CoordinatorIp".to_owned(), "10.0.0.7".to_owned())]),
            reason: None,
        };
        let body: Value =
            serde_json::from_slice(&body(&reply(), &Answer::Success(success))).expect("JSON");
        assert_eq!(
            body,
            json!({
                "Status": "SUCCESS",
                "Reason": null,
                "PhysicalResourceId": "Z1/coordinator.presto.internal",
                "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/analytics/5b6f2c10",
                "RequestId": "2f0c3a3e",
                "LogicalResourceId": "CoordinatorDns",
                "NoEcho": false,
                "Data": { "CoordinatorIp": "10.0.0.7" },
            })
        );
    }

    #[test]
    fn a_long_reason_is_cut_to_fit_4096_bytes() {
        for reason in [
            "x".repeat(10_000),
            "é\"\\".repeat(3_000),
            "\u{1}".repeat(5_000),
        ] {
            let answer = Answer::Failed {
                physical_id: "id".into(),
                reason: reason.clone(),
            };
            let bytes = body(&reply(), &answer);
            assert!(bytes.len() <= MAX_BODY_BYTES, "{} bytes", bytes.len());
            assert!(
                bytes.len() > MAX_BODY_BYTES - 64,
                "cut more than needed: {} bytes",
                bytes.len()
            );
            let parsed: Value = serde_json::from_slice(&bytes).expect("still JSON");
            let cut = parsed["Reason"].as_str().expect("reason");
            assert!(cut.ends_with(" [cut]") && reason.starts_with(cut.trim_end_matches(" [cut]")));
            assert_eq!(parsed["Status"], "FAILED");
        }
        let short = body(
            &reply(),
            &Answer::Failed {
                physical_id: "id".into(),
                reason: "no coordinator".into(),
            },
        );
        let parsed: Value = serde_json::from_slice(&short).expect("JSON");
        assert_eq!(parsed["Reason"], "no coordinator");
    }
}
