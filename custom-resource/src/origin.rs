//! Whom the function answers: events of its own stack only, and answers only to
//! `https://` URLs on AWS's hosts. The template sets both from the stack itself, so
//! an event forged by someone who may invoke the function can neither make it act
//! for another stack nor send what it learned anywhere else.

use presto_ha_contract::custom_resource_env as env;
use reqwest::Url;

/// The stack the function serves and the domain its answers go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    stack_id: String,
    response_domain: String,
}

/// A variable the template sets is missing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the environment variable {0} is not set; the stack's template sets it")]
pub struct MissingVariable(&'static str);

impl Origin {
    /// The stack `stack_id` (its ARN), answering on hosts in `response_domain`
    /// (`amazonaws.com`, or `amazonaws.com.cn`).
    pub fn new(stack_id: &str, response_domain: &str) -> Self {
        Self {
            stack_id: stack_id.to_owned(),
            response_domain: response_domain.trim_matches('.').to_ascii_lowercase(),
        }
    }

    /// Reads [`env::STACK_ID`] and [`env::RESPONSE_DOMAIN`].
    pub fn from_env() -> Result<Self, MissingVariable> {
        let read = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.is_empty())
                .ok_or(MissingVariable(name))
        };
        Ok(Self::new(
            &read(env::STACK_ID)?,
            &read(env::RESPONSE_DOMAIN)?,
        ))
    }

    /// `Ok` when `url` may receive an answer: `https://`, no credentials, on a host
    /// named in the response domain. The error names the URL without its query,
    /// which holds the signature.
    pub fn check_response_url(&self, url: &str) -> Result<(), String> {
        let parsed = Url::parse(url).map_err(|e| format!("the ResponseURL is not a URL ({e})"))?;
        let shown = format!(
            "{}://{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default(),
            parsed.path()
        );
        if parsed.scheme() != "https" {
            return Err(format!("the ResponseURL {shown} is not https://"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(format!("the ResponseURL {shown} carries credentials"));
        }
        // `domain()` is `None` for an IP address.
        let in_domain = parsed.domain().is_some_and(|host| {
            host == self.response_domain
                || host
                    .strip_suffix(&self.response_domain)
                    .is_some_and(|rest| rest.ends_with('.'))
        });
        if !in_domain {
            return Err(format!(
                "the ResponseURL {shown} is not on a host in {}",
                self.response_domain
            ));
        }
        Ok(())
    }

    /// `Ok` when the event's `StackId` is the stack this function serves.
    pub fn check_stack(&self, stack_id: &str) -> Result<(), String> {
        if stack_id == self.stack_id {
            return Ok(());
        }
        if stack_id.is_empty() {
            return Err(format!(
                "the event names no stack (StackId), but this function serves only {}",
                self.stack_id
            ));
        }
        Err(format!(
            "the event is from stack {stack_id:?}, but this function serves only {}",
            self.stack_id
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/presto/1a2b";

    fn origin() -> Origin {
        Origin::new(STACK, "amazonaws.com")
    }

    #[test]
    fn answers_go_only_to_https_on_aws_hosts() {
        let accepted = [
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws/1?X-Amz-Signature=abc",
            "https://s3.us-east-1.amazonaws.com/bucket/key?X-Amz-Signature=abc",
            "https://CLOUDFORMATION.S3.AMAZONAWS.COM/x",
        ];
        for url in accepted {
            assert_eq!(origin().check_response_url(url), Ok(()), "{url}");
        }
        let refused = [
            (
                "http://bucket.s3.amazonaws.com/key?X-Amz-Signature=secret",
                "the ResponseURL http://bucket.s3.amazonaws.com/key is not https://",
            ),
            (
                "https://attacker.example/collect?X-Amz-Signature=secret",
                "the ResponseURL https://attacker.example/collect is not on a host in amazonaws.com",
            ),
            (
                "https://amazonaws.com.attacker.example/x",
                "the ResponseURL https://amazonaws.com.attacker.example/x is not on a host in amazonaws.com",
            ),
            (
                "https://notamazonaws.com/x",
                "the ResponseURL https://notamazonaws.com/x is not on a host in amazonaws.com",
            ),
            (
                "https://52.216.0.1/x",
                "the ResponseURL https://52.216.0.1/x is not on a host in amazonaws.com",
            ),
            (
                "https://user:pw@bucket.s3.amazonaws.com/x",
                "the ResponseURL https://bucket.s3.amazonaws.com/x carries credentials",
            ),
            (
                "file:///etc/passwd",
                "the ResponseURL file:///etc/passwd is not https://",
            ),
            (
                "not a url",
                "the ResponseURL is not a URL (relative URL without a base)",
            ),
        ];
        for (url, reason) in refused {
            assert_eq!(
                origin().check_response_url(url),
                Err(reason.to_owned()),
                "{url}"
            );
        }
    }

    #[test]
    fn the_china_partition_answers_on_its_own_domain() {
        let china = Origin::new(STACK, "amazonaws.com.cn");
        assert_eq!(
            china.check_response_url("https://bucket.s3.cn-north-1.amazonaws.com.cn/k"),
            Ok(())
        );
        assert!(
            china
                .check_response_url("https://bucket.s3.amazonaws.com/k")
                .is_err()
        );
    }

    #[test]
    fn only_its_own_stack_is_served() {
        assert_eq!(origin().check_stack(STACK), Ok(()));
        assert_eq!(
            origin().check_stack("arn:aws:cloudformation:us-east-1:123456789012:stack/other/9z"),
            Err(format!(
                "the event is from stack \"arn:aws:cloudformation:us-east-1:123456789012:stack/other/9z\", but this function serves only {STACK}"
            ))
        );
        assert_eq!(
            origin().check_stack(""),
            Err(format!(
                "the event names no stack (StackId), but this function serves only {STACK}"
            ))
        );
    }
}
