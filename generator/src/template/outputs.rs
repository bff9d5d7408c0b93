//! The stack's outputs.

use presto_ha_contract::outputs;

use super::*;

pub(super) fn outputs() -> Value {
    let output =
        |description: &str, value: Value| json!({ "Description": description, "Value": value });
    let fqdn = record_fqdn();
    json!({
        outputs::PRESTO_COORDINATOR_URL: output(
            "Presto Web UI, REST API and CLI/JDBC/ODBC endpoint; resolves only inside the VPC (or over a VPN into it).",
            json!({ "Fn::If": [
                CLIENT_TLS,
                sub(&format!("https://{fqdn}:{}", placeholder(param::PRESTO_HTTPS_PORT))),
                sub(&format!("http://{fqdn}:{}", placeholder(param::PRESTO_HTTP_PORT))),
            ] }),
        ),
        outputs::ADMIN_PASSWORD_SECRET: output(
            "Secret holding the admin user's password, as JSON {\"admin\": password}.",
            r#ref(ids::ADMIN_PASSWORD_SECRET),
        ),
        outputs::CA_CERTIFICATE: output(
            "The certificate clients trust the coordinators by (PEM).",
            json!({ "Fn::If": [
                CERTIFICATE_GIVEN,
                sub(&format!("The issuer of your certificate in {}", placeholder(param::TLS_CERTIFICATE_SECRET_ARN))),
                get_att(ids::TLS_CERTIFICATE, tls_resource::CA_CERTIFICATE),
            ] }),
        ),
        outputs::PRESTO_SSH: output(
            "A shell on the active coordinator (the one protected from scale-in): SSH with the key pair (after a failover the host key changes: remove the old one from known_hosts), or Session Manager without one.",
            json!({ "Fn::If": [
                KEY_GIVEN,
                sub(&format!("ssh -i {}.pem ec2-user@{fqdn}", placeholder(param::KEY_NAME))),
                sub(&format!(
                    "aws ssm start-session --region ${{AWS::Region}} --target $(aws autoscaling describe-auto-scaling-groups --region ${{AWS::Region}} --auto-scaling-group-names {} --query 'AutoScalingGroups[0].Instances[?ProtectedFromScaleIn].InstanceId | [0]' --output text)",
                    placeholder(ids::COORDINATOR_GROUP)
                )),
            ] }),
        ),
        outputs::COORDINATOR_RECORD_NAME: output("The coordinator record: an A record (TTL 5 s) holding the active coordinator's private IP.", sub(&fqdn)),
        outputs::HOSTED_ZONE_ID: output("Private hosted zone holding the coordinator record.", r#ref(ids::HOSTED_ZONE)),
        outputs::COORDINATOR_GROUP_NAME: output("Auto Scaling group of the coordinators (active and standbys).", r#ref(ids::COORDINATOR_GROUP)),
        outputs::WORKER_GROUP_NAME: output("Auto Scaling group of the workers.", r#ref(ids::WORKER_GROUP)),
        outputs::WATCHER_FUNCTION_NAME: output("The watcher Lambda; its logs record every failover.", r#ref(ids::WATCHER_FUNCTION)),
        outputs::PROBE_FUNCTION_NAME: output("The probe function, which presto-ha status and switchover invoke from outside the VPC (needs lambda:InvokeFunction on it).", r#ref(ids::PROBE_FUNCTION)),
        outputs::ALARM_TOPIC: output("The SNS topic every alarm notifies: subscribe more addresses or endpoints to it.", r#ref(ALARM_TOPIC)),
        outputs::DASHBOARD_URL: output(
            "The stack's CloudWatch dashboard: failovers, standbys, the watcher, the nodes' CPU.",
            sub(&format!("https://${{AWS::Region}}.console.aws.amazon.com/cloudwatch/home?region=${{AWS::Region}}#dashboards:name={}", placeholder(DASHBOARD))),
        ),
    })
}
