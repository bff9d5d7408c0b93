//! Secrets and TLS: the admin password, the nodes' shared secret, and the certificate
//! the `Custom::TlsCertificate` resource makes or checks.

use super::*;

/// The secrets the stack makes. Every value is generated or written by the stack;
/// none passes through a parameter.
pub(super) fn secrets() -> Vec<(&'static str, Value)> {
    const ROTATED_BY_REVISION: &str = "Rotated by stack update: CredentialsRevision makes every node read it again (README, Rotation).";
    const ACCOUNT_KEY: &str = "Encrypted with the account's Secrets Manager key; a customer managed key would be one more thing the stack must keep and the nodes must be granted.";
    let skips = suppressed(
        &[
            ("CKV_AWS_149", ACCOUNT_KEY),
            ("CKV2_AWS_57", ROTATED_BY_REVISION),
        ],
        &[
            ("SECRETSMANAGER_USING_CMK", ACCOUNT_KEY),
            ("SECRETSMANAGER_ROTATION_ENABLED_CHECK", ROTATED_BY_REVISION),
        ],
    );
    let secret = |description: &str, value: (&str, Value)| {
        let mut resource = json!({
            "Type": "AWS::SecretsManager::Secret",
            "Metadata": skips,
            "Properties": {
                "Description": sub(&format!("{description} (stack ${{AWS::StackName}})")),
            },
        });
        resource["Properties"][value.0] = value.1;
        resource
    };
    let empty = ("SecretString", json!("{}"));
    vec![
        (
            ids::ADMIN_PASSWORD_SECRET,
            secret(
                "Password of the Presto user admin, as JSON {\"admin\": password}",
                (
                    "GenerateSecretString",
                    json!({
                        "SecretStringTemplate": "{}",
                        "GenerateStringKey": users::ADMIN,
                        "PasswordLength": 32,
                        "ExcludePunctuation": true,
                    }),
                ),
            ),
        ),
        (
            ids::SHARED_SECRET,
            secret(
                "Secret the Presto nodes share to trust each other's requests",
                (
                    "GenerateSecretString",
                    json!({ "PasswordLength": 64, "ExcludePunctuation": true }),
                ),
            ),
        ),
        (
            ids::AUTHORITY_SECRET,
            secret(
                "Certificate authority of the Presto coordinators' certificate; read by the custom resource only",
                empty.clone(),
            ),
        ),
        (
            ids::MADE_CERTIFICATE_SECRET,
            secret(
                "Certificate and key of the Presto coordinators, made by the stack",
                empty,
            ),
        ),
    ]
}

/// The coordinators' certificate: made under the stack's own authority, or the
/// user's, checked.
pub(super) fn tls_certificate() -> (&'static str, Value) {
    (
        ids::TLS_CERTIFICATE,
        json!({
            "Type": tls_resource::TYPE,
            "Properties": {
                "ServiceToken": get_att(ids::CUSTOM_RESOURCE_FUNCTION, "Arn"),
                "ServiceTimeout": CUSTOM_RESOURCE_SERVICE_TIMEOUT_SECONDS,
                tls_resource::RECORD_NAME: sub(&record_fqdn()),
                tls_resource::GIVEN_SECRET: r#ref(param::TLS_CERTIFICATE_SECRET_ARN),
                tls_resource::MADE_SECRET: r#ref(ids::MADE_CERTIFICATE_SECRET),
                tls_resource::AUTHORITY_SECRET: r#ref(ids::AUTHORITY_SECRET),
                tls_resource::REVISION: r#ref(param::CREDENTIALS_REVISION),
            },
        }),
    )
}
