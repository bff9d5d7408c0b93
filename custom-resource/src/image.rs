//! `Custom::PinnedImage`: the image every node boots, resolved once and then kept.
//!
//! An image given as an SSM parameter type is resolved again by CloudFormation on every
//! stack update, so a newer Amazon Linux published since the last update would change
//! the launch templates and replace every coordinator during an update that meant to
//! change something else. This resource resolves the latest image when the stack is
//! created and keeps it, as its physical id, until the user names another image or asks
//! for the latest again.

use std::collections::BTreeMap;
use std::future::Future;

use presto_ha_contract::image_resource as property;
use presto_ha_coordinators::aws::AwsCallError;
use serde_json::Value;

use crate::event::EventError;
use crate::handler::Success;

/// Which image the request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// Keep the pinned image; on Create, the latest.
    Pinned,
    /// The latest image now.
    Latest,
    /// This AMI.
    Exact(String),
}

/// A `Custom::PinnedImage` request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRequest {
    /// Pin an image: on Create `pinned` is `None`; on Update it is the image pinned so
    /// far (the physical id).
    Pin {
        /// The image pinned so far.
        pinned: Option<String>,
        /// What the properties ask for.
        wanted: Wanted,
        /// The SSM parameter naming the latest image.
        latest_parameter: String,
    },
    /// The image is no longer used; nothing to remove.
    Release {
        /// The physical id.
        pinned: String,
    },
}

/// Whether `id` looks like an AMI id: `ami-` and 8 or 17 hexadecimal digits.
fn is_ami(id: &str) -> bool {
    id.strip_prefix("ami-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.chars().all(|c| c.is_ascii_hexdigit())
    })
}

impl ImageRequest {
    /// Reads the request of an event whose `ResourceType` is `Custom::PinnedImage`.
    pub fn parse(event: &Value) -> Result<Self, EventError> {
        let text = |key: &str| event.get(key).and_then(Value::as_str);
        let physical_id = text("PhysicalResourceId").filter(|id| !id.is_empty());
        let properties = event.get("ResourceProperties").unwrap_or(&Value::Null);
        let property_text = |name: &'static str| match properties.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.trim().to_owned())),
            Some(other) => Err(EventError::Property {
                name,
                problem: format!("must be a string, not {other}"),
            }),
        };
        match text("RequestType") {
            Some("Delete") => Ok(Self::Release {
                pinned: physical_id
                    .ok_or_else(|| EventError::Shape("PhysicalResourceId is missing".into()))?
                    .to_owned(),
            }),
            Some(kind @ ("Create" | "Update")) => {
                let wanted = match property_text(property::IMAGE_ID)?.as_deref() {
                    None | Some("") => Wanted::Pinned,
                    Some(property::LATEST) => Wanted::Latest,
                    Some(ami) if is_ami(ami) => Wanted::Exact(ami.to_owned()),
                    Some(other) => {
                        return Err(EventError::Property {
                            name: property::IMAGE_ID,
                            problem: format!(
                                "must be empty, '{}' or an AMI id like ami-0123456789abcdef0, not {other:?}",
                                property::LATEST
                            ),
                        });
                    }
                };
                let latest_parameter = property_text(property::LATEST_PARAMETER)?
                    .filter(|p| p.starts_with('/'))
                    .ok_or_else(|| EventError::Property {
                        name: property::LATEST_PARAMETER,
                        problem: "must name an SSM parameter such as /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64".into(),
                    })?;
                let pinned = if kind == "Update" {
                    Some(
                        physical_id
                            .ok_or_else(|| {
                                EventError::Shape("PhysicalResourceId is missing".into())
                            })?
                            .to_owned(),
                    )
                } else {
                    None
                };
                Ok(Self::Pin {
                    pinned,
                    wanted,
                    latest_parameter,
                })
            }
            other => Err(EventError::Shape(format!(
                "unknown RequestType {other:?}, expected Create, Update or Delete"
            ))),
        }
    }
}

/// Where the latest image is named.
pub trait ImageCatalog {
    /// The value of the SSM parameter `parameter`: an AMI id.
    fn latest(&self, parameter: &str) -> impl Future<Output = Result<String, AwsCallError>> + Send;
}

/// [`ImageCatalog`] in SSM Parameter Store.
#[derive(Debug, Clone)]
pub struct SsmImageCatalog {
    client: aws_sdk_ssm::Client,
}

impl SsmImageCatalog {
    /// Builds the client from `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_ssm::Client::new(config),
        }
    }
}

impl ImageCatalog for SsmImageCatalog {
    async fn latest(&self, parameter: &str) -> Result<String, AwsCallError> {
        let got = self
            .client
            .get_parameter()
            .name(parameter)
            .send()
            .await
            .map_err(|e| {
                AwsCallError::sdk("GetParameter", format_args!("parameter {parameter}"), e)
            })?;
        got.parameter()
            .and_then(|p| p.value())
            .filter(|value| is_ami(value))
            .map(str::to_owned)
            .ok_or_else(|| AwsCallError {
                operation: "GetParameter",
                resource: format!("parameter {parameter}"),
                detail: "its value is not an AMI id".into(),
            })
    }
}

/// Carries out an image request: the image to pin becomes the physical id (a new one
/// tells CloudFormation the launch templates change) and the `ImageId` attribute.
pub async fn pin(
    catalog: &impl ImageCatalog,
    request: ImageRequest,
) -> Result<Success, AwsCallError> {
    let image = match request {
        ImageRequest::Release { pinned } => {
            return Ok(Success {
                physical_id: pinned,
                data: BTreeMap::new(),
                reason: None,
            });
        }
        ImageRequest::Pin {
            pinned,
            wanted,
            latest_parameter,
        } => match (wanted, pinned) {
            (Wanted::Exact(ami), _) => ami,
            (Wanted::Pinned, Some(pinned)) if is_ami(&pinned) => pinned,
            (Wanted::Pinned | Wanted::Latest, _) => catalog.latest(&latest_parameter).await?,
        },
    };
    tracing::info!(image, "image pinned");
    Ok(Success {
        physical_id: image.clone(),
        data: BTreeMap::from([(property::PINNED_IMAGE_ID.to_owned(), image)]),
        reason: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The latest image is whatever the test set, and every look is counted.
    struct FakeCatalog {
        latest: Result<String, AwsCallError>,
        looks: std::sync::atomic::AtomicUsize,
    }

    impl ImageCatalog for FakeCatalog {
        async fn latest(&self, _parameter: &str) -> Result<String, AwsCallError> {
            self.looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.latest.clone()
        }
    }

    const PARAMETER: &str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

    fn event(kind: &str, image: &str, physical: Option<&str>) -> Value {
        let mut event = json!({
            "RequestType": kind,
            "ResourceType": "Custom::PinnedImage",
            "ResourceProperties": { "ImageId": image, "LatestImageParameter": PARAMETER },
        });
        if let Some(id) = physical {
            event["PhysicalResourceId"] = id.into();
        }
        event
    }

    #[tokio::test]
    async fn the_image_is_resolved_once_and_kept_until_asked_otherwise() {
        let catalog = FakeCatalog {
            latest: Ok("ami-0bbbbbbbbbbbbbbbb".into()),
            looks: Default::default(),
        };
        let pinned_by = |event: Value| {
            let request = ImageRequest::parse(&event).expect("valid");
            let catalog = &catalog;
            async move { pin(catalog, request).await.expect("pinned").physical_id }
        };
        let old = "ami-0aaaaaaaaaaaaaaaa";
        let cases = [
            // Create: the latest; Update with nothing asked: the pinned one, no look.
            (event("Create", "", None), "ami-0bbbbbbbbbbbbbbbb", 1),
            (event("Update", "", Some(old)), old, 1),
            // Asked for the latest, or for an image: that.
            (
                event("Update", "latest", Some(old)),
                "ami-0bbbbbbbbbbbbbbbb",
                2,
            ),
            (
                event("Update", "ami-12345678", Some(old)),
                "ami-12345678",
                2,
            ),
            (event("Create", "ami-12345678", None), "ami-12345678", 2),
        ];
        for (event, expected, looks) in cases {
            assert_eq!(pinned_by(event.clone()).await, expected, "{event}");
            assert_eq!(
                catalog.looks.load(std::sync::atomic::Ordering::SeqCst),
                looks,
                "{event}"
            );
        }
        let released = pin(
            &catalog,
            ImageRequest::parse(&event("Delete", "", Some(old))).expect("valid"),
        )
        .await
        .expect("nothing to remove");
        assert_eq!(released.physical_id, old);
    }

    #[tokio::test]
    async fn bad_values_and_a_missing_parameter_are_named() {
        let error = ImageRequest::parse(&event("Create", "ubuntu", None)).expect_err("refused");
        assert!(
            error
                .to_string()
                .starts_with("property ImageId: must be empty, 'latest' or an AMI id"),
            "{error}"
        );
        let mut no_parameter = event("Create", "", None);
        no_parameter["ResourceProperties"]
            .as_object_mut()
            .expect("object")
            .remove("LatestImageParameter");
        let error = ImageRequest::parse(&no_parameter).expect_err("refused");
        assert!(
            error
                .to_string()
                .starts_with("property LatestImageParameter:"),
            "{error}"
        );
        let catalog = FakeCatalog {
            latest: Err(AwsCallError {
                operation: "GetParameter",
                resource: format!("parameter {PARAMETER}"),
                detail: "AccessDeniedException: not allowed".into(),
            }),
            looks: Default::default(),
        };
        let request = ImageRequest::parse(&event("Create", "", None)).expect("valid");
        let error = pin(&catalog, request).await.expect_err("no image");
        assert_eq!(
            error.to_string(),
            format!(
                "GetParameter failed for parameter {PARAMETER}: AccessDeniedException: not allowed"
            )
        );
    }
}
