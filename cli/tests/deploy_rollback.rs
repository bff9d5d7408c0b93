//! `deploy` when the stack fails and rolls back, and when it takes too long.
//!
//! The AWS emulator creates or updates a stack in one step and implements no rollback,
//! so these tests answer the CloudFormation calls with mocked SDK responses that
//! follow CloudFormation's documented behaviour: events newest first, a failed
//! resource followed by "Resource creation cancelled" for its siblings, then
//! `ROLLBACK_COMPLETE` (or `UPDATE_ROLLBACK_COMPLETE`) as the stack's final status.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ErrorMetadata;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::create_stack::CreateStackOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::{
    DescribeStacksError, DescribeStacksOutput,
};
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, Parameter, Replacement, ResourceChange, ResourceStatus,
    Stack, StackEvent, StackStatus,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use presto_ha_cli::deploy::{DeployRequest, Template, deploy};

const NAME: &str = "presto";

fn template() -> Template {
    let text = serde_json::json!({
        "Parameters": {
            "VpcId": { "Type": "AWS::EC2::VPC::Id" },
            "HACoordinatorsCount": { "Type": "Number", "Default": 2 },
        },
        "Resources": {
            "CoordinatorGroup": { "Type": "AWS::AutoScaling::AutoScalingGroup" },
            "WorkerGroup": { "Type": "AWS::AutoScaling::AutoScalingGroup" },
        },
    })
    .to_string();
    Template::parse(&text, "test template").expect("template")
}

/// An S3 client no test reaches: the template here is small enough to send inline.
fn no_s3() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn request(parameters: &[(&str, &str)], wait: Duration) -> DeployRequest {
    DeployRequest {
        stack_name: NAME.into(),
        template: template(),
        parameters: parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        wait: Some(wait),
        poll: Duration::from_millis(1),
    }
}

fn stack(status: StackStatus) -> DescribeStacksOutput {
    let vpc = Parameter::builder()
        .parameter_key("VpcId")
        .parameter_value("vpc-1")
        .build();
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name(NAME)
                .stack_status(status)
                .parameters(vpc)
                .build(),
        )
        .build()
}

fn no_such_stack() -> DescribeStacksError {
    DescribeStacksError::generic(
        ErrorMetadata::builder()
            .code("ValidationError")
            .message(format!("Stack with id {NAME} does not exist"))
            .build(),
    )
}

fn event(
    id: &str,
    logical: &str,
    kind: &str,
    status: ResourceStatus,
    reason: Option<&str>,
) -> StackEvent {
    StackEvent::builder()
        .event_id(id)
        .stack_name(NAME)
        .logical_resource_id(logical)
        .resource_type(kind)
        .resource_status(status)
        .set_resource_status_reason(reason.map(str::to_owned))
        .timestamp(aws_smithy_types::DateTime::from_secs(1_795_000_000))
        .build()
}

fn events(newest_first: Vec<StackEvent>) -> DescribeStackEventsOutput {
    DescribeStackEventsOutput::builder()
        .set_stack_events(Some(newest_first))
        .build()
}

const ASG: &str = "AWS::AutoScaling::AutoScalingGroup";
const STACK: &str = "AWS::CloudFormation::Stack";

#[tokio::test]
async fn a_create_that_rolls_back_fails_naming_the_first_failed_resource() {
    let started = event(
        "1",
        NAME,
        STACK,
        ResourceStatus::CreateInProgress,
        Some("User Initiated"),
    );
    let rolled_back = vec![
        event("7", NAME, STACK, ResourceStatus::RollbackComplete, None),
        event(
            "6",
            "CoordinatorGroup",
            ASG,
            ResourceStatus::DeleteComplete,
            None,
        ),
        event(
            "5",
            NAME,
            STACK,
            ResourceStatus::RollbackInProgress,
            Some("The following resource(s) failed to create: [WorkerGroup, CoordinatorGroup]."),
        ),
        event(
            "4",
            "WorkerGroup",
            ASG,
            ResourceStatus::CreateFailed,
            Some("Resource creation cancelled"),
        ),
        event(
            "3",
            "CoordinatorGroup",
            ASG,
            ResourceStatus::CreateFailed,
            Some(
                "Received 0 SUCCESS signal(s) out of 2. Unable to satisfy 100% MinSuccessfulInstancesPercent requirement",
            ),
        ),
        event(
            "2",
            "CoordinatorGroup",
            ASG,
            ResourceStatus::CreateInProgress,
            None,
        ),
        started.clone(),
    ];
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(no_such_stack)
        .output(|| stack(StackStatus::CreateInProgress))
        .output(|| stack(StackStatus::RollbackComplete))
        .build();
    let create = mock!(Client::create_stack)
        .then_output(|| CreateStackOutput::builder().stack_id("arn:stack").build());
    let listing = mock!(Client::describe_stack_events)
        .sequence()
        .output(move || events(vec![started.clone()]))
        .output(move || events(rolled_back.clone()))
        .build();
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &create, &listing]
    );

    let mut out = Vec::new();
    let error = deploy(
        &client,
        &no_s3(),
        &request(&[("VpcId", "vpc-1")], Duration::from_secs(60)),
        &mut out,
    )
    .await
    .expect_err("a rollback is a failure");
    let message = format!("{error:#}");
    assert!(message.contains("ended ROLLBACK_COMPLETE"), "{message}");
    assert!(
        message.contains("first failure: CoordinatorGroup (AWS::AutoScaling::AutoScalingGroup) CREATE_FAILED: Received 0 SUCCESS signal(s)"),
        "{message}"
    );
    let printed = String::from_utf8(out).expect("text");
    // Every event once, oldest first.
    let order: Vec<usize> = [
        "User Initiated",
        "Received 0 SUCCESS",
        "Resource creation cancelled",
        "ROLLBACK_COMPLETE",
    ]
    .iter()
    .map(|text| {
        printed
            .find(text)
            .unwrap_or_else(|| panic!("{text} not printed:\n{printed}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{printed}");
    assert_eq!(printed.matches("User Initiated").count(), 1, "{printed}");
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn an_update_that_rolls_back_prints_its_changes_then_fails() {
    let before = event("1", NAME, STACK, ResourceStatus::CreateComplete, None);
    let after = vec![
        event(
            "5",
            NAME,
            STACK,
            ResourceStatus::UpdateRollbackComplete,
            None,
        ),
        event(
            "4",
            NAME,
            STACK,
            ResourceStatus::UpdateRollbackInProgress,
            Some("The following resource(s) failed to update: [CoordinatorGroup]."),
        ),
        event(
            "3",
            "CoordinatorGroup",
            ASG,
            ResourceStatus::UpdateFailed,
            Some(
                "You have requested more instances (6) than your current instance quota of 5 allows",
            ),
        ),
        event(
            "2",
            NAME,
            STACK,
            ResourceStatus::UpdateInProgress,
            Some("User Initiated"),
        ),
        before.clone(),
    ];
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::CreateComplete))
        .output(|| stack(StackStatus::UpdateRollbackComplete))
        .build();
    let listing = mock!(Client::describe_stack_events)
        .sequence()
        .output(move || events(vec![before.clone()]))
        .output(move || events(after.clone()))
        .build();
    let create =
        mock!(Client::create_change_set).then_output(|| CreateChangeSetOutput::builder().build());
    // The change set is computing, then complete with its changes on two pages.
    let change = |id: &str, action: ChangeAction, replacement: Replacement| {
        Change::builder()
            .resource_change(
                ResourceChange::builder()
                    .action(action)
                    .logical_resource_id(id)
                    .resource_type(ASG)
                    .replacement(replacement)
                    .build(),
            )
            .build()
    };
    let described = mock!(Client::describe_change_set)
        .sequence()
        .output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreateInProgress)
                .build()
        })
        .output(move || {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreateComplete)
                .changes(change(
                    "CoordinatorGroup",
                    ChangeAction::Modify,
                    Replacement::False,
                ))
                .next_token("page-2")
                .build()
        })
        .output(move || {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreateComplete)
                .changes(change(
                    "WorkerGroup",
                    ChangeAction::Modify,
                    Replacement::True,
                ))
                .build()
        })
        .build();
    let execute =
        mock!(Client::execute_change_set).then_output(|| ExecuteChangeSetOutput::builder().build());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &listing, &create, &described, &execute]
    );

    let mut out = Vec::new();
    let error = deploy(
        &client,
        &no_s3(),
        &request(&[("HACoordinatorsCount", "6")], Duration::from_secs(60)),
        &mut out,
    )
    .await
    .expect_err("a rollback is a failure");
    let message = format!("{error:#}");
    assert!(
        message.contains("ended UPDATE_ROLLBACK_COMPLETE"),
        "{message}"
    );
    assert!(message.contains("CoordinatorGroup (AWS::AutoScaling::AutoScalingGroup) UPDATE_FAILED: You have requested more instances"), "{message}");
    let printed = String::from_utf8(out).expect("text");
    assert!(printed.contains("Changes to stack presto"), "{printed}");
    assert!(
        printed.contains("Modify  CoordinatorGroup  AWS::AutoScaling::AutoScalingGroup"),
        "{printed}"
    );
    assert!(
        printed
            .contains("Modify  WorkerGroup       AWS::AutoScaling::AutoScalingGroup  replacement"),
        "the second page of changes is printed too:\n{printed}"
    );
    assert_eq!(described.num_calls(), 3);
    assert!(
        !printed.contains("CREATE_COMPLETE"),
        "events before the update are not replayed:\n{printed}"
    );
    assert_eq!((create.num_calls(), execute.num_calls()), (1, 1));
}

#[tokio::test]
async fn following_gives_up_at_the_timeout_and_says_the_operation_goes_on() {
    let describe = mock!(Client::describe_stacks)
        .sequence()
        .error(no_such_stack)
        .output(|| stack(StackStatus::CreateInProgress))
        .repeatedly()
        .build();
    let create = mock!(Client::create_stack).then_output(|| CreateStackOutput::builder().build());
    let listing = mock!(Client::describe_stack_events).then_output(|| events(Vec::new()));
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &create, &listing]
    );
    let error = deploy(
        &client,
        &no_s3(),
        &request(&[("VpcId", "vpc-1")], Duration::from_millis(30)),
        &mut Vec::new(),
    )
    .await
    .expect_err("times out");
    let message = format!("{error:#}");
    assert!(
        message
            .contains("gave up following stack presto after 30ms: it is still CREATE_IN_PROGRESS"),
        "{message}"
    );
    assert!(message.contains("the operation goes on"), "{message}");
}

#[tokio::test]
async fn a_stack_whose_creation_failed_is_not_updated() {
    let describe =
        mock!(Client::describe_stacks).then_output(|| stack(StackStatus::RollbackComplete));
    let create =
        mock!(Client::create_change_set).then_output(|| CreateChangeSetOutput::builder().build());
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&describe, &create]
    );
    let error = deploy(
        &client,
        &no_s3(),
        &request(&[], Duration::from_secs(1)),
        &mut Vec::new(),
    )
    .await
    .expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("is ROLLBACK_COMPLETE: its creation failed"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("delete-stack --stack-name presto"),
        "{error}"
    );
    assert_eq!(create.num_calls(), 0);
}
