//! `deploy`: creates the stack, or updates it through a change set whose changes it
//! prints first, then follows the stack's events to a terminal status.
//!
//! Success is `CREATE_COMPLETE` or `UPDATE_COMPLETE`; any failure or rollback is an
//! error that names the first resource that failed and why.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, Stack, StackEvent,
};
use aws_smithy_types::date_time::Format;
use presto_ha_contract::parameters as param;
use presto_ha_generator::settings::StackSettings;
use serde_json::Value;

use crate::args::{BadArguments, DeployArgs};
use crate::aws::{self, AwsContext, Profile};
use crate::stack;

/// The largest template CloudFormation takes inline (`TemplateBody`).
pub const MAX_TEMPLATE_BODY: usize = 51_200;

/// How long to wait for CloudFormation to compute a change set.
pub const CHANGE_SET_WAIT: Duration = Duration::from_secs(600);

/// Pause between two polls of CloudFormation while following a stack.
const POLL: Duration = Duration::from_secs(5);

/// A template to deploy and what it declares.
#[derive(Debug, Clone)]
pub struct Template {
    /// The body sent to CloudFormation (compact JSON).
    pub body: String,
    /// Each parameter and its default, if it has one.
    pub parameters: BTreeMap<String, Option<String>>,
    /// How many resources it declares, for the progress line.
    pub resources: usize,
}

/// Where CloudFormation reads the template: a template over [`MAX_TEMPLATE_BODY`]
/// must be in S3, and goes to the stack's code bucket under a key naming its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// Sent in the request.
    Inline,
    /// Uploaded; CloudFormation reads it from this URL.
    Url(String),
}

/// The bucket and key an oversized template goes to, or why there is none: the
/// stack's `LambdaCodeBucket` (given, or the template's default).
pub fn template_location(
    template: &Template,
    given: &BTreeMap<String, String>,
) -> anyhow::Result<Option<(String, String)>> {
    if template.body.len() <= MAX_TEMPLATE_BODY {
        return Ok(None);
    }
    let bucket = given
        .get(param::LAMBDA_CODE_BUCKET)
        .cloned()
        .or_else(|| {
            template
                .parameters
                .get(param::LAMBDA_CODE_BUCKET)
                .cloned()
                .flatten()
        })
        .filter(|bucket| !bucket.is_empty());
    let Some(bucket) = bucket else {
        bail!(
            "the template is {} bytes, over the {MAX_TEMPLATE_BODY} CloudFormation takes inline, so it is uploaded to the {} bucket, which has no value here: give --parameter {}=BUCKET",
            template.body.len(),
            param::LAMBDA_CODE_BUCKET,
            param::LAMBDA_CODE_BUCKET
        );
    };
    let key = format!(
        "presto-ha/templates/{}.json",
        crate::package::sha256_hex(template.body.as_bytes())
    );
    Ok(Some((bucket, key)))
}

impl Template {
    /// Reads a template as JSON or YAML (long-form intrinsic functions, as `generate`
    /// writes them); `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Self> {
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(_) => serde_yaml_ng::from_str(text)
                .with_context(|| format!("{origin} is neither JSON nor YAML"))?,
        };
        Self::from_value(&value, origin)
    }

    /// The template `generate` prints with no flags.
    pub fn default_template() -> anyhow::Result<Self> {
        let value = presto_ha_generator::template::build(&StackSettings::default());
        Self::from_value(&value, "the default template")
    }

    /// Reads a template already parsed; `origin` names it in errors.
    pub fn from_value(value: &Value, origin: &str) -> anyhow::Result<Self> {
        let Some(resources) = value.get("Resources").and_then(Value::as_object) else {
            bail!("{origin} is not a CloudFormation template: it has no Resources");
        };
        let parameters = value
            .get("Parameters")
            .and_then(Value::as_object)
            .map(|parameters| {
                parameters
                    .iter()
                    .map(|(name, p)| {
                        let default = p.get("Default").map(|d| match d {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        });
                        (name.clone(), default)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let body = serde_json::to_string(value)?;
        Ok(Self {
            resources: resources.len(),
            parameters,
            body,
        })
    }
}

impl DeployArgs {
    /// Reads the template and the parameters, then creates or updates the stack.
    pub async fn run(self, profile: &Profile, out: &mut impl Write) -> anyhow::Result<()> {
        let template = match &self.template {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read template {}", path.display()))?;
                Template::parse(&text, &path.display().to_string())?
            }
            None => Template::default_template()?,
        };
        let parameters = given_parameters(&self.parameters, self.coordinators)?;
        let config = aws::load(profile).await?;
        let request = DeployRequest {
            stack_name: self.stack_name,
            template,
            parameters,
            wait: (!self.no_wait).then_some(self.timeout),
            poll: POLL,
        };
        let s3 = aws_sdk_s3::Client::new(&config);
        deploy(&Client::new(&config), &s3, &request, out).await?;
        Ok(())
    }
}

/// The parameters given on the command line, each once: `--parameter`s, and
/// `--coordinators` as `HACoordinatorsCount`.
pub fn given_parameters(
    parameters: &[(String, String)],
    coordinators: Option<u8>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut given = BTreeMap::new();
    for (key, value) in parameters {
        if given.insert(key.clone(), value.clone()).is_some() {
            return Err(BadArguments(format!("--parameter {key} is given twice")).into());
        }
    }
    if let Some(n) = coordinators
        && given
            .insert(param::HA_COORDINATORS_COUNT.to_owned(), n.to_string())
            .is_some()
    {
        return Err(BadArguments(format!(
            "--coordinators and --parameter {} both set the coordinator count",
            param::HA_COORDINATORS_COUNT
        ))
        .into());
    }
    Ok(given)
}

/// What to deploy and how to follow it.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// The stack.
    pub stack_name: String,
    /// The template.
    pub template: Template,
    /// Parameters given on the command line.
    pub parameters: BTreeMap<String, String>,
    /// How long to follow the stack; `None` returns once the operation has started.
    pub wait: Option<Duration>,
    /// Pause between two polls of the stack.
    pub poll: Duration,
}

impl TemplateSource {
    /// Uploads `template` when it must be, and says where CloudFormation reads it.
    async fn of(
        s3: &aws_sdk_s3::Client,
        template: &Template,
        given: &BTreeMap<String, String>,
    ) -> anyhow::Result<Self> {
        let Some((bucket, key)) = template_location(template, given)? else {
            return Ok(Self::Inline);
        };
        let body = template.body.clone().into_bytes();
        crate::package::upload(s3, &bucket, &key, body, "application/json").await?;
        // Path-style, so that a bucket name with dots still matches S3's certificate.
        let region = s3
            .config()
            .region()
            .map(ToString::to_string)
            .unwrap_or_default();
        Ok(Self::Url(format!(
            "https://s3.{region}.amazonaws.com/{bucket}/{key}"
        )))
    }

    /// `TemplateBody` and `TemplateURL`: exactly one is set.
    fn arguments(&self, template: &Template) -> (Option<String>, Option<String>) {
        match self {
            Self::Inline => (Some(template.body.clone()), None),
            Self::Url(url) => (None, Some(url.clone())),
        }
    }
}

/// How a deploy ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployed {
    /// The stack reached this status (`CREATE_COMPLETE` or `UPDATE_COMPLETE`).
    Complete(String),
    /// The update changed nothing.
    NoChanges,
    /// The operation started; `--no-wait` asked not to follow it.
    Started,
}

fn parameter(key: &str, value: &str) -> Parameter {
    Parameter::builder()
        .parameter_key(key)
        .parameter_value(value)
        .build()
}

/// The parameters of a create: those given, the rest from the template's defaults.
/// Every unknown name and every parameter without a value is reported at once.
pub fn create_parameters(
    template: &Template,
    given: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<Parameter>> {
    check_known(template, given)?;
    let missing: Vec<&str> = template
        .parameters
        .iter()
        .filter(|(name, default)| default.is_none() && !given.contains_key(*name))
        .map(|(name, _)| name.as_str())
        .collect();
    if !missing.is_empty() {
        bail!(
            "the template's parameters {} have no default; give each with --parameter KEY=VALUE",
            missing.join(", ")
        );
    }
    Ok(given.iter().map(|(k, v)| parameter(k, v)).collect())
}

/// The parameters of an update: those given; the code location from the template's
/// defaults; every other one the stack already has keeps its value.
pub fn update_parameters(
    template: &Template,
    given: &BTreeMap<String, String>,
    previous: &BTreeSet<String>,
) -> anyhow::Result<Vec<Parameter>> {
    check_known(template, given)?;
    let mut parameters = Vec::new();
    let mut missing = Vec::new();
    for (name, default) in &template.parameters {
        if let Some(value) = given.get(name) {
            parameters.push(parameter(name, value));
        } else if let (true, Some(default)) = (param::CODE.contains(&name.as_str()), default) {
            parameters.push(parameter(name, default));
        } else if previous.contains(name) {
            parameters.push(
                Parameter::builder()
                    .parameter_key(name)
                    .use_previous_value(true)
                    .build(),
            );
        } else if default.is_none() {
            missing.push(name.as_str());
        }
    }
    if !missing.is_empty() {
        bail!(
            "the template's parameters {} are new and have no default; give each with --parameter KEY=VALUE",
            missing.join(", ")
        );
    }
    Ok(parameters)
}

fn check_known(template: &Template, given: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let unknown: Vec<&str> = given
        .keys()
        .filter(|k| !template.parameters.contains_key(*k))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let known: Vec<&str> = template.parameters.keys().map(String::as_str).collect();
    bail!(
        "the template has no parameter {}; it has {}",
        unknown.join(", "),
        known.join(", ")
    )
}

/// Creates or updates the stack as `request` asks. Events and changes go to `out`;
/// a live progress line goes to stderr when it is a terminal.
pub async fn deploy(
    cfn: &Client,
    s3: &aws_sdk_s3::Client,
    request: &DeployRequest,
    out: &mut impl Write,
) -> anyhow::Result<Deployed> {
    let name = request.stack_name.as_str();
    let existing = stack::describe(cfn, name).await?;
    // One token per operation: a retried CreateStack or ExecuteChangeSet whose first
    // answer was lost is then recognised as the same request, not a second one.
    let token = format!(
        "presto-ha-{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
    );
    let (operation, since) = match &existing {
        None => {
            let parameters = create_parameters(&request.template, &request.parameters)?;
            let source = TemplateSource::of(s3, &request.template, &request.parameters).await?;
            let (body, url) = source.arguments(&request.template);
            cfn.create_stack()
                .stack_name(name)
                .client_request_token(&token)
                .set_template_body(body)
                .set_template_url(url)
                .set_parameters(Some(parameters))
                .capabilities(Capability::CapabilityIam)
                .send()
                .await
                .aws("CreateStack", format_args!("stack {name}"))?;
            writeln!(out, "Creating stack {name}")?;
            ("create", None)
        }
        Some(stack) => {
            check_updatable(name, stack)?;
            let since = newest_event(cfn, name).await?;
            if !update(cfn, s3, request, stack, &token, out).await? {
                return Ok(Deployed::NoChanges);
            }
            ("update", since)
        }
    };
    let Some(limit) = request.wait else {
        writeln!(
            out,
            "Started the {operation} of stack {name}; not following it (--no-wait)"
        )?;
        return Ok(Deployed::Started);
    };
    follow(cfn, request, since, limit, out).await
}

/// Refuses a stack in a state no update can start from, saying what to do instead.
fn check_updatable(name: &str, stack: &Stack) -> anyhow::Result<()> {
    let status = stack.stack_status().map(|s| s.as_str()).unwrap_or_default();
    match status {
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" => bail!(
            "stack {name} is {status}: its creation failed and it cannot be updated; delete it (aws cloudformation delete-stack --stack-name {name}) and deploy again"
        ),
        "REVIEW_IN_PROGRESS" => bail!(
            "stack {name} is REVIEW_IN_PROGRESS: it holds only an unexecuted change set; execute or delete that change set first"
        ),
        s if s.ends_with("_IN_PROGRESS") => {
            bail!("stack {name} is {status}: another operation is running; wait for it to finish")
        }
        _ => Ok(()),
    }
}

/// Creates a change set, prints it, and executes it. `false` when there is nothing to
/// change (the empty change set is deleted).
async fn update(
    cfn: &Client,
    s3: &aws_sdk_s3::Client,
    request: &DeployRequest,
    stack: &Stack,
    token: &str,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let name = request.stack_name.as_str();
    let previous: BTreeSet<String> = stack
        .parameters()
        .iter()
        .filter_map(|p| p.parameter_key().map(str::to_owned))
        .collect();
    let parameters = update_parameters(&request.template, &request.parameters, &previous)?;
    let change_set = token.to_owned();
    let resource = format!("change set {change_set} of stack {name}");
    let source = TemplateSource::of(s3, &request.template, &request.parameters).await?;
    let (body, url) = source.arguments(&request.template);
    let created = cfn
        .create_change_set()
        .stack_name(name)
        .change_set_name(&change_set)
        .change_set_type(ChangeSetType::Update)
        .set_template_body(body)
        .set_template_url(url)
        .set_parameters(Some(parameters))
        .capabilities(Capability::CapabilityIam)
        .send()
        .await;
    match created {
        // Some endpoints refuse an empty change set outright instead of failing it.
        Err(error)
            if error.code() == Some("ValidationError")
                && error
                    .message()
                    .is_some_and(|m| m.contains("No updates are to be performed")) =>
        {
            writeln!(out, "No changes: stack {name} is up to date")?;
            return Ok(false);
        }
        created => created.aws("CreateChangeSet", &resource)?,
    };
    // CloudFormation computes a change set in seconds; a bound keeps a stuck one from
    // hanging the command.
    let deadline = Instant::now() + CHANGE_SET_WAIT;
    let mut described = loop {
        let described = cfn
            .describe_change_set()
            .stack_name(name)
            .change_set_name(&change_set)
            .send()
            .await
            .aws("DescribeChangeSet", &resource)?;
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) => break described,
            Some(ChangeSetStatus::Failed) => {
                let reason = described.status_reason().unwrap_or("no reason given");
                // CloudFormation's only sign of an empty change set is this reason.
                if reason.contains("didn't contain changes") || reason.contains("No updates") {
                    cfn.delete_change_set()
                        .stack_name(name)
                        .change_set_name(&change_set)
                        .send()
                        .await
                        .aws("DeleteChangeSet", &resource)?;
                    writeln!(out, "No changes: stack {name} is up to date")?;
                    return Ok(false);
                }
                bail!("{resource} failed: {reason}");
            }
            status if Instant::now() >= deadline => bail!(
                "{resource} is still {} after {}; it was not executed",
                status.map(|s| s.as_str()).unwrap_or("without a status"),
                humantime::format_duration(CHANGE_SET_WAIT)
            ),
            _ => tokio::time::sleep(request.poll).await,
        }
    };
    // Changes come 100 to a page.
    let mut all_changes = described.changes.take().unwrap_or_default();
    let mut page_token = described.next_token.take();
    while let Some(next) = page_token {
        let page = cfn
            .describe_change_set()
            .stack_name(name)
            .change_set_name(&change_set)
            .next_token(next)
            .send()
            .await
            .aws("DescribeChangeSet", &resource)?;
        all_changes.extend(page.changes().iter().cloned());
        page_token = page.next_token().map(str::to_owned);
    }
    writeln!(out, "Changes to stack {name} ({change_set}):")?;
    let changes: Vec<[String; 4]> = all_changes
        .iter()
        .filter_map(|c| c.resource_change())
        .map(|c| {
            [
                c.action()
                    .map(|a| a.as_str().to_owned())
                    .unwrap_or_default(),
                c.logical_resource_id().unwrap_or_default().to_owned(),
                c.resource_type().unwrap_or_default().to_owned(),
                match c.replacement().map(|r| r.as_str()) {
                    Some("True") => "replacement".to_owned(),
                    Some("Conditional") => "replacement possible".to_owned(),
                    _ => String::new(),
                },
            ]
        })
        .collect();
    if changes.is_empty() {
        writeln!(out, "  (no resource changes; parameters or outputs only)")?;
    }
    let width = |i: usize| changes.iter().map(|c| c[i].len()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    for [action, id, kind, replacement] in &changes {
        writeln!(
            out,
            "  {action:<w0$}  {id:<w1$}  {kind:<w2$}  {replacement}"
        )?;
    }
    cfn.execute_change_set()
        .stack_name(name)
        .change_set_name(&change_set)
        .client_request_token(token)
        .send()
        .await
        .aws("ExecuteChangeSet", &resource)?;
    writeln!(out, "Updating stack {name}")?;
    Ok(true)
}

/// The id of the stack's newest event, so that following starts after it.
async fn newest_event(cfn: &Client, name: &str) -> anyhow::Result<Option<String>> {
    let events = cfn
        .describe_stack_events()
        .stack_name(name)
        .send()
        .await
        .aws("DescribeStackEvents", format_args!("stack {name}"))?;
    Ok(events
        .stack_events()
        .first()
        .and_then(|e| e.event_id())
        .map(str::to_owned))
}

/// The events after `since`, oldest first.
async fn events_after(
    cfn: &Client,
    name: &str,
    since: Option<&str>,
) -> anyhow::Result<Vec<StackEvent>> {
    let mut newer = Vec::new();
    let mut token = None;
    // Newest first, a page at a time, until the last event already seen.
    loop {
        let page = cfn
            .describe_stack_events()
            .stack_name(name)
            .set_next_token(token)
            .send()
            .await
            .aws("DescribeStackEvents", format_args!("stack {name}"))?;
        for event in page.stack_events() {
            if since.is_some() && event.event_id() == since {
                newer.reverse();
                return Ok(newer);
            }
            newer.push(event.clone());
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            newer.reverse();
            return Ok(newer);
        }
    }
}

fn is_stack_event(event: &StackEvent) -> bool {
    event.resource_type() == Some("AWS::CloudFormation::Stack")
}

fn event_line(event: &StackEvent) -> String {
    let time = event
        .timestamp()
        .and_then(|t| t.fmt(Format::DateTime).ok())
        .map(|t| t.get(11..19).unwrap_or(&t).to_owned())
        .unwrap_or_default();
    let reason = event
        .resource_status_reason()
        .map(|r| format!("  {r}"))
        .unwrap_or_default();
    format!(
        "{time}  {:<28}  {:<40}  {}{reason}",
        event
            .resource_status()
            .map(|s| s.as_str())
            .unwrap_or_default(),
        event.resource_type().unwrap_or_default(),
        event.logical_resource_id().unwrap_or_default(),
    )
}

/// The first resource failure of the operation: the root cause, not the
/// "cancelled" failures that follow from it.
fn first_failure(events: &[StackEvent]) -> Option<&StackEvent> {
    let failed = |e: &&StackEvent| {
        !is_stack_event(e)
            && e.resource_status()
                .is_some_and(|s| s.as_str().ends_with("_FAILED"))
    };
    let cancelled = |e: &&StackEvent| {
        e.resource_status_reason()
            .is_some_and(|r| r.contains("cancelled"))
    };
    events
        .iter()
        .filter(failed)
        .find(|e| !cancelled(e))
        .or_else(|| events.iter().find(failed))
}

/// A status line on stderr that rewrites itself, when stderr is a terminal.
struct Progress {
    enabled: bool,
    started: Instant,
}

impl Progress {
    fn clear(&self) {
        if self.enabled {
            eprint!("\r\x1b[2K");
        }
    }

    fn show(&self, done: usize, total: usize, status: &str) {
        if self.enabled {
            let elapsed = self.started.elapsed().as_secs();
            eprint!(
                "\r\x1b[2K{done}/{total} resources done, {}m{:02}s, {status}",
                elapsed / 60,
                elapsed % 60
            );
        }
    }
}

/// Follows the stack until a terminal status or `limit`.
async fn follow(
    cfn: &Client,
    request: &DeployRequest,
    mut since: Option<String>,
    limit: Duration,
    out: &mut impl Write,
) -> anyhow::Result<Deployed> {
    let name = request.stack_name.as_str();
    let progress = Progress {
        enabled: std::io::stderr().is_terminal(),
        started: Instant::now(),
    };
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut done = BTreeSet::new();
    loop {
        let stack = stack::describe(cfn, name)
            .await?
            .with_context(|| format!("stack {name} disappeared"))?;
        let events = events_after(cfn, name, since.as_deref()).await?;
        if let Some(newest) = events.last().and_then(|e| e.event_id()) {
            since = Some(newest.to_owned());
        }
        progress.clear();
        for event in events {
            writeln!(out, "{}", event_line(&event))?;
            if !is_stack_event(&event)
                && event
                    .resource_status()
                    .is_some_and(|s| s.as_str().ends_with("_COMPLETE"))
            {
                done.extend(event.logical_resource_id().map(str::to_owned));
            }
            seen.push(event);
        }
        let status = stack
            .stack_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        if !status.ends_with("_IN_PROGRESS") {
            match status.as_str() {
                "CREATE_COMPLETE" | "UPDATE_COMPLETE" => {
                    writeln!(out, "Stack {name}: {status}")?;
                    return Ok(Deployed::Complete(status));
                }
                _ => {
                    let cause = match first_failure(&seen) {
                        Some(e) => format!(
                            "first failure: {} ({}) {}: {}",
                            e.logical_resource_id().unwrap_or("?"),
                            e.resource_type().unwrap_or("?"),
                            e.resource_status().map(|s| s.as_str()).unwrap_or("?"),
                            e.resource_status_reason().unwrap_or("no reason given")
                        ),
                        None => format!(
                            "reason: {}",
                            stack.stack_status_reason().unwrap_or("none given")
                        ),
                    };
                    bail!("stack {name} ended {status}; {cause}");
                }
            }
        }
        if Instant::now() >= deadline {
            progress.clear();
            bail!(
                "gave up following stack {name} after {}: it is still {status}; the operation goes on (see `presto-ha status --stack-name {name}` or the console)",
                humantime::format_duration(limit)
            );
        }
        progress.show(done.len(), request.template.resources, &status);
        tokio::time::sleep(request.poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_parameters_are_each_given_once() {
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let given = given_parameters(&[pair("VpcId", "vpc-1")], Some(3)).expect("valid");
        assert_eq!(
            given,
            BTreeMap::from([pair("HACoordinatorsCount", "3"), pair("VpcId", "vpc-1")])
        );
        let twice = given_parameters(&[pair("VpcId", "a"), pair("VpcId", "b")], None);
        assert_eq!(
            twice.map_err(|e| e.to_string()).expect_err("refused"),
            "--parameter VpcId is given twice"
        );
        let both = given_parameters(&[pair("HACoordinatorsCount", "2")], Some(3));
        assert_eq!(
            both.map_err(|e| e.to_string()).expect_err("refused"),
            "--coordinators and --parameter HACoordinatorsCount both set the coordinator count"
        );
    }

    #[test]
    fn the_default_template_is_generate_with_no_flags() {
        let template = Template::default_template().expect("builds");
        let mut printed = Vec::new();
        let args = <presto_ha_generator::cli::Args as clap::Parser>::parse_from(["generate"]);
        presto_ha_generator::cli::run(&args, &mut printed).expect("prints");
        let printed = Template::parse(&String::from_utf8(printed).expect("UTF-8"), "generate")
            .expect("parses");
        assert_eq!(template.body, printed.body);
        assert_eq!(template.parameters, printed.parameters);
    }

    fn template() -> Template {
        let text = serde_json::json!({
            "Parameters": {
                "VpcId": { "Type": "String" },
                "HACoordinatorsCount": { "Type": "Number", "Default": 2 },
                "LambdaCodeBucket": { "Type": "String" },
                "WatcherCodeKey": { "Type": "String", "Default": "presto-ha/watcher-new.zip" },
                "ClientCidr": { "Type": "String" },
            },
            "Resources": { "Topic": { "Type": "AWS::SNS::Topic" } },
        })
        .to_string();
        Template::parse(&text, "test").expect("template")
    }

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Each parameter as `key=value` or `key=<previous>`.
    fn shown(parameters: &[Parameter]) -> Vec<String> {
        parameters
            .iter()
            .map(|p| match (p.parameter_value(), p.use_previous_value()) {
                (Some(value), _) => format!("{}={value}", p.parameter_key().unwrap_or("?")),
                (None, Some(true)) => format!("{}=<previous>", p.parameter_key().unwrap_or("?")),
                _ => format!("{}=?", p.parameter_key().unwrap_or("?")),
            })
            .collect()
    }

    #[test]
    fn an_update_keeps_what_is_not_given_but_takes_the_code_from_the_template() {
        let previous: BTreeSet<String> = [
            "VpcId",
            "HACoordinatorsCount",
            "LambdaCodeBucket",
            "WatcherCodeKey",
        ]
        .map(String::from)
        .into();
        let parameters = update_parameters(
            &template(),
            &given(&[("HACoordinatorsCount", "3"), ("ClientCidr", "10.0.0.0/8")]),
            &previous,
        )
        .expect("complete");
        assert_eq!(
            shown(&parameters),
            [
                "ClientCidr=10.0.0.0/8",
                "HACoordinatorsCount=3",
                // A code parameter without a default keeps its value like any other.
                "LambdaCodeBucket=<previous>",
                "VpcId=<previous>",
                "WatcherCodeKey=presto-ha/watcher-new.zip",
            ]
        );
    }

    #[test]
    fn a_new_parameter_without_a_default_must_be_given() {
        let previous: BTreeSet<String> = ["VpcId", "LambdaCodeBucket"].map(String::from).into();
        let error = update_parameters(&template(), &given(&[]), &previous).expect_err("missing");
        assert!(
            error.to_string().contains("parameters ClientCidr are new"),
            "{error}"
        );
    }

    #[test]
    fn a_create_names_every_missing_and_unknown_parameter_at_once() {
        let error = create_parameters(&template(), &given(&[])).expect_err("missing");
        assert!(
            error
                .to_string()
                .contains("parameters ClientCidr, LambdaCodeBucket, VpcId have no default"),
            "{error}"
        );
        let error = create_parameters(&template(), &given(&[("Colour", "blue"), ("Size", "L")]))
            .expect_err("unknown");
        assert!(
            error
                .to_string()
                .starts_with("the template has no parameter Colour, Size; it has "),
            "{error}"
        );
    }

    #[test]
    fn a_template_too_big_to_send_goes_to_the_code_bucket_under_its_hash() {
        let small = Template::parse(
            r#"{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}"#,
            "small.json",
        )
        .expect("parses");
        assert_eq!(
            template_location(&small, &BTreeMap::new()).expect("inline"),
            None
        );
        let huge = serde_json::json!({
            "Parameters": { param::LAMBDA_CODE_BUCKET: { "Type": "String" } },
            "Resources": { "Topic": { "Type": "AWS::SNS::Topic", "Metadata": { "Pad": "x".repeat(MAX_TEMPLATE_BODY) } } },
        });
        let huge = Template::parse(&huge.to_string(), "big.json").expect("parses");
        let error = template_location(&huge, &BTreeMap::new()).expect_err("no bucket");
        assert!(
            error
                .to_string()
                .contains("over the 51200 CloudFormation takes inline")
                && error
                    .to_string()
                    .contains("--parameter LambdaCodeBucket=BUCKET"),
            "{error}"
        );
        let (bucket, key) =
            template_location(&huge, &given(&[(param::LAMBDA_CODE_BUCKET, "code")]))
                .expect("located")
                .expect("uploaded");
        assert_eq!(bucket, "code");
        assert_eq!(
            key,
            format!(
                "presto-ha/templates/{}.json",
                crate::package::sha256_hex(huge.body.as_bytes())
            )
        );
    }

    #[test]
    fn a_template_must_be_one() {
        for (text, says) in [
            ("{not json: [", "neither JSON nor YAML"),
            (r#"{"Parameters": {}}"#, "has no Resources"),
        ] {
            let error = Template::parse(text, "stack.json").expect_err("refused");
            assert!(error.to_string().contains(says), "{error}");
            assert!(error.to_string().starts_with("stack.json"), "{error}");
        }
        let yaml = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\nParameters:\n  N:\n    Type: Number\n    Default: 3\n";
        let parsed = Template::parse(yaml, "stack.yaml").expect("YAML");
        assert_eq!(parsed.parameters["N"].as_deref(), Some("3"));
        assert_eq!(parsed.resources, 1);
    }
}
