//! An Amazon MQ for RabbitMQ broker.
//!
//! How real AWS behaves, and what this driver does about it (Terraform's
//! `internal/service/mq/broker.go` does the same where it says so):
//!
//! - A create takes about 20 minutes (a cluster longer): `BrokerState` goes
//!   `CREATION_IN_PROGRESS` → `RUNNING`, or `CREATION_FAILED`. Readiness follows the state
//!   (Terraform's `waitBrokerCreated`: pending while creating or rebooting, target `RUNNING`).
//! - `CreateBroker` takes a `CreatorRequestId`: the token here is deterministic (stack, logical
//!   id, parameters), so a create repeated after a lost answer returns the first broker. A name
//!   taken (`ConflictException`) is adopted when the broker's tags say it is this one, and
//!   refused, naming it, otherwise.
//! - `UpdateBroker` only records pending changes (`PendingEngineVersion`,
//!   `PendingHostInstanceType`); a reboot applies them. mck applies a change when asked, as
//!   Terraform does with `apply_immediately = true` (`RebootBroker`, then `waitBrokerRebooted`):
//!   a single-instance broker is offline for the few minutes of the reboot, a cluster restarts
//!   one node at a time. Auto minor version upgrade applies without a reboot.
//! - A change asked while the broker is creating or rebooting is refused with a generic
//!   `BadRequestException` (`ConflictException` for concurrent updates): the broker's state
//!   decides whether the refusal means "busy" (`refusal`), which the engine retries.
//! - Security groups cannot be changed on a RabbitMQ broker ("Changing security groups is not
//!   supported for RabbitMQ brokers"): the model replaces the broker instead.
//! - DescribeBroker reports the patch version it runs (`3.13.7`) for a broker created as
//!   `3.13`, and AWS moves patches itself when auto minor version upgrade is on: the version is
//!   read back as `major.minor` (Terraform's `normalizeEngineVersion`).
//! - Delete: `DeleteBroker`, then `DELETION_IN_PROGRESS` until DescribeBroker answers
//!   `NotFoundException` (Terraform's `waitBrokerDeleted`). The delete waits until the broker
//!   shows `DELETION_IN_PROGRESS`, so that readiness, which fails on `CREATION_FAILED`, never
//!   sees a failed broker's old state while waiting for it to go.
//!
//! The user's password is read from its secret (`secretsmanager::login`) only to create the
//! broker; it is never logged, kept or returned.

use std::collections::HashMap;

use aws_sdk_mq::Client;
use aws_sdk_mq::operation::describe_broker::DescribeBrokerOutput;
use aws_sdk_mq::types::{BrokerState, BrokerSummary, DeploymentMode, EngineType, User};
use mck_core::model::{LogicalId, MqBrokerSpec, ResourceKind, TAG_DELETION_PROTECTION, Value};
use mck_core::provider::{Context, ErrorClass, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// The scheme of the endpoint applications connect to (AMQP 0-9-1 over TLS, port 5671).
const AMQPS: &str = "amqps://";

/// The logical id the broker's tags give it in `stack`.
fn owner(tags: Option<&HashMap<String, String>>, stack: &str) -> Option<LogicalId> {
    crate::owner(
        tags.into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
        stack,
    )
}

/// The engine version as the model states it: `major.minor` when AWS upgrades the patch
/// version itself (auto minor version upgrade on, RabbitMQ 3.13 and later), else as reported.
fn engine_version(version: &str, auto_minor_version_upgrade: bool) -> String {
    let mut parts = version.split('.');
    let (Some(major), Some(minor)) = (parts.next(), parts.next()) else {
        return version.to_string();
    };
    let (Ok(major_number), Ok(minor_number)) = (major.parse::<u32>(), minor.parse::<u32>()) else {
        return version.to_string();
    };
    if auto_minor_version_upgrade && (major_number, minor_number) >= (3, 13) {
        format!("{major}.{minor}")
    } else {
        version.to_string()
    }
}

/// The AMQPS endpoint (`amqps://<host>:5671`): a single instance's, or for a cluster the one
/// endpoint of its load balancer, which DescribeBroker reports as its only instance.
fn amqps_endpoint(broker: &DescribeBrokerOutput) -> Option<&str> {
    broker
        .broker_instances()
        .iter()
        .flat_map(|instance| instance.endpoints())
        .map(String::as_str)
        .find(|endpoint| endpoint.starts_with(AMQPS))
}

/// The host name of an `amqps://<host>:<port>` endpoint.
fn host_of(endpoint: &str) -> &str {
    let rest = endpoint.strip_prefix(AMQPS).unwrap_or(endpoint);
    rest.split([':', '/']).next().unwrap_or(rest)
}

fn ids(values: &[String]) -> Value {
    let mut ids: Vec<Value> = values.iter().cloned().map(Value::CloudId).collect();
    ids.sort();
    Value::List(ids)
}

/// Whether a change waits for a reboot.
fn has_pending_changes(broker: &DescribeBrokerOutput) -> bool {
    broker
        .pending_engine_version()
        .is_some_and(|v| !v.is_empty())
        || broker
            .pending_host_instance_type()
            .is_some_and(|t| !t.is_empty())
}

/// What AWS says must be done about a failed or critical broker.
fn actions_required(broker: &DescribeBrokerOutput) -> String {
    let actions: Vec<String> = broker
        .actions_required()
        .iter()
        .map(|action| {
            format!(
                "{}: {}",
                action.action_required_code().unwrap_or("unknown action"),
                action.action_required_info().unwrap_or("no details")
            )
        })
        .collect();
    if actions.is_empty() {
        String::new()
    } else {
        format!(" ({})", actions.join("; "))
    }
}

pub(super) fn observe(id: LogicalId, broker: &DescribeBrokerOutput) -> Observed {
    let auto_minor_version_upgrade = broker.auto_minor_version_upgrade().unwrap_or(false);
    let deployment = broker
        .deployment_mode()
        .map_or("unknown deployment", DeploymentMode::as_str);
    let instance_type = broker.host_instance_type().unwrap_or_default();
    let mut o = Observed::new(
        id,
        ResourceKind::MqBroker,
        broker.broker_id().unwrap_or_default(),
    )
    .with(
        MqBrokerSpec::BROKER_NAME,
        broker.broker_name().unwrap_or_default(),
    )
    .with(
        MqBrokerSpec::ENGINE_TYPE,
        broker
            .engine_type()
            .map(|t| t.as_str().to_ascii_uppercase())
            .unwrap_or_default(),
    )
    .with(
        MqBrokerSpec::ENGINE_VERSION,
        engine_version(
            broker.engine_version().unwrap_or_default(),
            auto_minor_version_upgrade,
        ),
    )
    .with(MqBrokerSpec::HOST_INSTANCE_TYPE, instance_type)
    .with(MqBrokerSpec::DEPLOYMENT_MODE, deployment)
    .with(MqBrokerSpec::SUBNET_IDS, ids(broker.subnet_ids()))
    .with(MqBrokerSpec::SECURITY_GROUPS, ids(broker.security_groups()))
    .with(
        MqBrokerSpec::PUBLICLY_ACCESSIBLE,
        broker.publicly_accessible().unwrap_or(false),
    )
    .with(
        MqBrokerSpec::AUTO_MINOR_VERSION_UPGRADE,
        auto_minor_version_upgrade,
    )
    .with(
        MqBrokerSpec::DELETION_PROTECTION,
        broker
            .tags()
            .and_then(|t| t.get(TAG_DELETION_PROTECTION))
            .is_some_and(|v| v == "true"),
    )
    .output(
        mck_core::provider::OUT_DATA,
        format!("the queued messages of a RabbitMQ {deployment} broker ({instance_type})"),
    );
    if let Some(arn) = broker.broker_arn() {
        o = o.output(MqBrokerSpec::OUT_ARN, arn);
    }
    if let Some(endpoint) = amqps_endpoint(broker) {
        o = o
            .output(MqBrokerSpec::OUT_ENDPOINT, endpoint)
            .output(MqBrokerSpec::OUT_HOST, host_of(endpoint));
    }
    match broker.broker_state() {
        Some(state @ (BrokerState::CreationInProgress | BrokerState::RebootInProgress)) => {
            o.pending(state.as_str())
        }
        _ => o,
    }
}

/// DescribeBroker; `None` when the broker does not exist (any more).
pub(super) async fn describe(
    mq: &Client,
    broker_id: &str,
) -> Result<Option<DescribeBrokerOutput>, ProviderError> {
    match mq.describe_broker().broker_id(broker_id).send().await {
        Ok(out) => Ok(Some(out)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk(&format!("describe broker {broker_id}"), e)),
    }
}

/// Every broker of the account and region, as ListBrokers summarises them (name, id, state;
/// no tags), every page.
async fn list(mq: &Client) -> Result<Vec<BrokerSummary>, ProviderError> {
    let mut summaries = Vec::new();
    let mut pages = mq.list_brokers().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list brokers", e))?;
        summaries.extend(page.broker_summaries().iter().cloned());
    }
    Ok(summaries)
}

fn deleting(summary: &BrokerSummary) -> bool {
    summary.broker_state() == Some(&BrokerState::DeletionInProgress)
}

/// The stack's brokers: the names ListBrokers gives that start with `<stack>-` (the lowering
/// names the broker `<stack>-mq`), each described for its settings and tags; owned by tags.
/// A broker being deleted is gone for the stack.
pub(super) async fn read(mq: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let prefix = format!("{stack}-");
    let mut out = Vec::new();
    for summary in list(mq).await? {
        let (Some(name), Some(broker_id)) = (summary.broker_name(), summary.broker_id()) else {
            continue;
        };
        if !name.starts_with(&prefix) || deleting(&summary) {
            continue;
        }
        // Deleted between the list and the describe: not the stack's any more.
        let Some(broker) = describe(mq, broker_id).await? else {
            continue;
        };
        if let Some(id) = owner(broker.tags(), stack) {
            out.push(observe(id, &broker));
        }
    }
    Ok(out)
}

/// The broker named `name`, for a create refused because the name is taken. AWS keeps names
/// unique; the one not being deleted comes first if there are several (the emulator allows it).
async fn find_by_name(
    mq: &Client,
    name: &str,
) -> Result<Option<DescribeBrokerOutput>, ProviderError> {
    let mut named: Vec<BrokerSummary> = list(mq)
        .await?
        .into_iter()
        .filter(|summary| summary.broker_name() == Some(name))
        .collect();
    named.sort_by_key(deleting);
    match named.first().and_then(BrokerSummary::broker_id) {
        Some(broker_id) => describe(mq, broker_id).await,
        None => Ok(None),
    }
}

/// `err` as the engine should see it when the broker is busy: a dependency violation, which
/// it retries for updates and deletes.
fn busy(err: ProviderError, why: &str) -> ProviderError {
    let busy = ProviderError::new(
        ErrorClass::DependencyViolation,
        format!("{} (the broker is busy: {why})", err.message),
    );
    match err.code {
        Some(code) => busy.with_code(code),
        None => busy,
    }
}

/// A change (update, reboot, delete) that AWS refused. Amazon MQ answers a broker busy with
/// another change with a generic `BadRequestException`, as it does a bad request, so the
/// broker's state tells them apart: creating or rebooting → busy, retried; otherwise the
/// error stands. `ConflictException` (UpdateBroker: a concurrent update) is busy as such.
async fn refusal(mq: &Client, broker_id: &str, err: ProviderError) -> ProviderError {
    if err.code.as_deref() == Some("ConflictException") {
        return busy(err, "another change is being made");
    }
    if err.class != ErrorClass::Invalid {
        return err;
    }
    match describe(mq, broker_id).await {
        Ok(Some(broker)) => busy_if_changing(err, &broker),
        // The refusal is what the caller asked about; a failed look at the state adds nothing.
        Ok(None) | Err(_) => err,
    }
}

/// `err` as busy when `broker` is being created or rebooted, else as it is.
fn busy_if_changing(err: ProviderError, broker: &DescribeBrokerOutput) -> ProviderError {
    match broker.broker_state() {
        Some(state @ (BrokerState::CreationInProgress | BrokerState::RebootInProgress)) => {
            busy(err, state.as_str())
        }
        _ => err,
    }
}

/// Tags the broker protected, or removes the tag (both idempotent).
async fn protect(mq: &Client, live: &Observed, on: bool) -> Result<(), ProviderError> {
    let arn = match live.outputs.get(MqBrokerSpec::OUT_ARN) {
        Some(arn) => arn.clone(),
        None => describe(mq, &live.cloud_id)
            .await?
            .and_then(|b| b.broker_arn().map(str::to_string))
            .ok_or_else(|| crate::missing("broker", &live.cloud_id))?,
    };
    if on {
        mq.create_tags()
            .resource_arn(&arn)
            .tags(TAG_DELETION_PROTECTION, "true")
            .send()
            .await
            .map_err(|e| sdk(&format!("protect broker {}", live.id), e))?;
    } else {
        mq.delete_tags()
            .resource_arn(&arn)
            .tag_keys(TAG_DELETION_PROTECTION)
            .send()
            .await
            .map_err(|e| sdk(&format!("unprotect broker {}", live.id), e))?;
    }
    Ok(())
}

impl Driver for MqBrokerSpec {
    const READ_BY: ServiceRead = ServiceRead::Mq;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let mq = &aws.clients.mq;
        let subnets = ctx.cloud_ids(&spec.subnets)?;
        let groups = ctx.cloud_ids(&spec.security_groups)?;
        let mut token_params = vec![
            spec.name.as_str(),
            spec.engine_version.as_str(),
            spec.instance_type.as_str(),
            spec.deployment.api_name(),
        ];
        token_params.extend(subnets.iter().map(String::as_str));
        token_params.extend(groups.iter().map(String::as_str));
        let token = crate::ec2::client_token(ctx, id, &token_params);
        let mut tags: HashMap<String, String> = ctx.tags_for(id).into_iter().collect();
        if spec.deletion_protection {
            tags.insert(TAG_DELETION_PROTECTION.into(), "true".into());
        }
        // RabbitMQ brokers take exactly one user at creation, and never show it again.
        let login: crate::secretsmanager::Login =
            crate::secretsmanager::login(aws, ctx.cloud_id(spec.user.id())?).await?;
        let user = User::builder()
            .username(login.username)
            .password(login.password)
            .build();
        let result = mq
            .create_broker()
            .broker_name(&spec.name)
            .engine_type(EngineType::Rabbitmq)
            .engine_version(&spec.engine_version)
            .host_instance_type(&spec.instance_type)
            .deployment_mode(DeploymentMode::from(spec.deployment.api_name()))
            .publicly_accessible(false)
            .auto_minor_version_upgrade(true)
            .set_subnet_ids(Some(subnets))
            .set_security_groups(Some(groups))
            .users(user)
            .creator_request_id(token)
            .set_tags(Some(tags))
            .send()
            .await;
        match result {
            Ok(out) => {
                let broker_id = out
                    .broker_id()
                    .ok_or_else(|| ProviderError::invalid("create broker returned no broker id"))?;
                let mut created = Observed::new(id.clone(), ResourceKind::MqBroker, broker_id);
                if let Some(arn) = out.broker_arn() {
                    created = created.output(MqBrokerSpec::OUT_ARN, arn);
                }
                Ok(created)
            }
            // The name is taken: by this broker (a create whose answer was lost an hour or
            // more ago, with another token), by one being deleted (its name is free once it
            // is gone), or by someone else's (refused, naming it).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) =>
            {
                let found = find_by_name(mq, &spec.name).await?;
                if let Some(broker) = &found
                    && broker.broker_state() == Some(&BrokerState::DeletionInProgress)
                {
                    return Err(ProviderError::new(
                        ErrorClass::Transient,
                        format!(
                            "broker {} ({}) is still being deleted; its name is free once it is gone",
                            spec.name,
                            broker.broker_id().unwrap_or_default()
                        ),
                    )
                    .with_code("ConflictException"));
                }
                crate::adopt(
                    "broker",
                    id,
                    found.map(|broker| {
                        let owner = owner(broker.tags(), ctx.stack);
                        let observed = observe(
                            owner.clone().unwrap_or_else(|| LogicalId::new(&spec.name)),
                            &broker,
                        );
                        (owner, observed)
                    }),
                )
            }
            Err(e) => Err(sdk(&format!("create broker {id} ({})", spec.name), e)),
        }
    }

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let mq = &aws.clients.mq;
        let broker_id = live.cloud_id.as_str();
        // Only what changed is sent. The version and the instance type wait for a reboot;
        // auto minor version upgrade applies at once (and must be on for RabbitMQ 3.13 and
        // later, so it is sent with a version change too).
        let mut live = live.clone();
        if MqBrokerSpec::DELETION_PROTECTION.is_in(fields) {
            protect(mq, &live, spec.deletion_protection).await?;
            live.fields.insert(
                MqBrokerSpec::DELETION_PROTECTION.name.into(),
                Value::Bool(spec.deletion_protection),
            );
        }
        let live = &live;
        let changes_broker = [
            MqBrokerSpec::ENGINE_VERSION,
            MqBrokerSpec::HOST_INSTANCE_TYPE,
            MqBrokerSpec::AUTO_MINOR_VERSION_UPGRADE,
        ]
        .iter()
        .any(|f| f.is_in(fields));
        if !changes_broker {
            return Ok(live.clone());
        }
        let mut update = mq.update_broker().broker_id(broker_id);
        let mut reboot = false;
        if MqBrokerSpec::ENGINE_VERSION.is_in(fields) {
            update = update
                .engine_version(&spec.engine_version)
                .auto_minor_version_upgrade(true);
            reboot = true;
        }
        if MqBrokerSpec::HOST_INSTANCE_TYPE.is_in(fields) {
            update = update.host_instance_type(&spec.instance_type);
            reboot = true;
        }
        if MqBrokerSpec::AUTO_MINOR_VERSION_UPGRADE.is_in(fields) {
            update = update.auto_minor_version_upgrade(true);
        }
        if let Err(e) = update.send().await {
            let err = sdk(&format!("update broker {}", live.id), e);
            return Err(refusal(mq, broker_id, err).await);
        }
        if reboot {
            if let Err(e) = mq.reboot_broker().broker_id(broker_id).send().await {
                let err = sdk(&format!("reboot broker {} to apply the change", live.id), e);
                return Err(refusal(mq, broker_id, err).await);
            }
            // RebootBroker answers before the broker leaves RUNNING: readiness, which
            // follows the state, must not see the broker ready before it has rebooted.
            aws.wait_until(
                &format!("broker {broker_id} to start rebooting"),
                || async {
                    Ok(describe(mq, broker_id).await?.is_none_or(|broker| {
                        broker.broker_state() != Some(&BrokerState::Running)
                            || !has_pending_changes(&broker)
                    }))
                },
            )
            .await?;
        }
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let mq = &aws.clients.mq;
        let broker_id = live.cloud_id.as_str();
        match mq.delete_broker().broker_id(broker_id).send().await {
            Ok(_) => {
                aws.wait_until(&format!("broker {broker_id} to start deleting"), || async {
                    Ok(describe(mq, broker_id).await?.is_none_or(|broker| {
                        broker.broker_state() == Some(&BrokerState::DeletionInProgress)
                    }))
                })
                .await
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => {
                let err = sdk(&format!("delete broker {}", live.id), e);
                if err.class != ErrorClass::Invalid {
                    return Err(err);
                }
                // A generic BadRequestException: the broker's state says what it means.
                match describe(mq, broker_id).await {
                    // Already being deleted (a retried delete), or gone since: the goal.
                    Ok(None) => Ok(()),
                    Ok(Some(broker))
                        if broker.broker_state() == Some(&BrokerState::DeletionInProgress) =>
                    {
                        Ok(())
                    }
                    Ok(Some(broker)) => Err(busy_if_changing(err, &broker)),
                    Err(_) => Err(err),
                }
            }
        }
    }

    async fn poll(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let Some(broker) = describe(&aws.clients.mq, &live.cloud_id).await? else {
            return Ok(Readiness::Gone);
        };
        Ok(match broker.broker_state() {
            // Ownership is checked here too: an adopted broker must be this stack's.
            Some(BrokerState::Running) => match owner(broker.tags(), ctx.stack) {
                Some(owner) if owner == live.id => {
                    Readiness::Ready(observe(live.id.clone(), &broker))
                }
                _ => Readiness::Failed(format!(
                    "broker {} is not tagged as {} of stack {}: it is not this stack's",
                    live.cloud_id, live.id, ctx.stack
                )),
            },
            Some(BrokerState::CreationFailed) => Readiness::Failed(format!(
                "broker creation failed{}",
                actions_required(&broker)
            )),
            // The broker runs but AWS says it needs someone's attention (a memory alarm, a
            // KMS key it cannot use): waiting would not fix it.
            Some(BrokerState::CriticalActionRequired) => Readiness::Failed(format!(
                "Amazon MQ says the broker needs a critical action{}",
                actions_required(&broker)
            )),
            Some(state) => Readiness::Pending(state.as_str().to_string()),
            None => Readiness::Pending("no state yet".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_mq::types::BrokerInstance;
    use mck_core::model::{BrokerDeployment, Ref};
    use serde_json::json;

    use super::*;
    use crate::testing::{Replay, assert_reads, context, json_error};

    fn spec() -> MqBrokerSpec {
        MqBrokerSpec {
            name: "t-mq".into(),
            engine_version: "3.13".into(),
            instance_type: "mq.m5.large".into(),
            deployment: BrokerDeployment::Single,
            subnets: vec![Ref::new("subnet.data.a")],
            security_groups: vec![Ref::new("sg.mq")],
            user: Ref::new("secret.mq"),
            deletion_protection: true,
        }
    }

    #[test]
    fn reads_every_compared_field_and_the_amqps_endpoint() {
        let broker = DescribeBrokerOutput::builder()
            .broker_id("b-1")
            .broker_arn("arn:aws:mq:us-east-1:1:broker:t-mq:b-1")
            .broker_name("t-mq")
            .broker_state(BrokerState::Running)
            .engine_type(EngineType::Rabbitmq)
            // What AWS reports for a broker created as 3.13: the patch it runs now.
            .engine_version("3.13.7")
            .auto_minor_version_upgrade(true)
            .host_instance_type("mq.m5.large")
            .deployment_mode(DeploymentMode::SingleInstance)
            .publicly_accessible(false)
            .subnet_ids("subnet-a")
            .security_groups("sg-mq")
            .broker_instances(
                BrokerInstance::builder()
                    .console_url("https://b-1.mq.us-east-1.on.aws")
                    .endpoints("amqps://b-1.mq.us-east-1.on.aws:5671")
                    .ip_address("10.0.1.5")
                    .build(),
            )
            .tags("mck:deletion-protection", "true")
            .build();
        let observed = observe("mq.broker".into(), &broker);
        assert_reads(
            &observed,
            spec(),
            &[("subnet.data.a", "subnet-a"), ("sg.mq", "sg-mq")],
        );
        assert_eq!(
            observed.outputs[MqBrokerSpec::OUT_ENDPOINT],
            "amqps://b-1.mq.us-east-1.on.aws:5671"
        );
        assert_eq!(
            observed.outputs[MqBrokerSpec::OUT_HOST],
            "b-1.mq.us-east-1.on.aws"
        );
        assert_eq!(observed.pending, None);
    }

    #[test]
    fn the_version_is_major_minor_only_where_aws_moves_the_patch_itself() {
        assert_eq!(engine_version("3.13.7", true), "3.13");
        assert_eq!(engine_version("4.2.1", true), "4.2");
        assert_eq!(engine_version("3.13", true), "3.13");
        // Before 3.13, or with upgrades off, the patch is the user's to choose.
        assert_eq!(engine_version("3.12.13", true), "3.12.13");
        assert_eq!(engine_version("3.13.7", false), "3.13.7");
    }

    /// A broker as DescribeBroker answers it (REST JSON, camelCase), tagged `stack`/`id`.
    fn broker_json(broker_id: &str, name: &str, state: &str, stack: &str, id: &str) -> String {
        let instances = if state == "RUNNING" || state == "REBOOT_IN_PROGRESS" {
            json!([{
                "consoleURL": format!("https://{broker_id}.mq.us-east-1.on.aws"),
                "endpoints": [format!("amqps://{broker_id}.mq.us-east-1.on.aws:5671")],
                "ipAddress": "10.0.1.5"
            }])
        } else {
            json!([])
        };
        json!({
            "brokerId": broker_id,
            "brokerArn": format!("arn:aws:mq:us-east-1:1:broker:{name}:{broker_id}"),
            "brokerName": name,
            "brokerState": state,
            "engineType": "RABBITMQ",
            "engineVersion": "3.13.7",
            "autoMinorVersionUpgrade": true,
            "hostInstanceType": "mq.m5.large",
            "deploymentMode": "SINGLE_INSTANCE",
            "publiclyAccessible": false,
            "subnetIds": ["subnet-a"],
            "securityGroups": ["sg-mq"],
            "brokerInstances": instances,
            "users": [{"username": "magento"}],
            "tags": {"mck:stack": stack, "mck:id": id}
        })
        .to_string()
    }

    /// `broker_json` with a change waiting for a reboot.
    fn pending_json(broker_id: &str, state: &str, instance_type: &str) -> String {
        let mut broker: serde_json::Value =
            serde_json::from_str(&broker_json(broker_id, "t-mq", state, "t", "mq.broker")).unwrap();
        broker["pendingHostInstanceType"] = json!(instance_type);
        broker.to_string()
    }

    fn summary(broker_id: &str, name: &str, state: &str) -> serde_json::Value {
        json!({
            "brokerId": broker_id,
            "brokerArn": format!("arn:aws:mq:us-east-1:1:broker:{name}:{broker_id}"),
            "brokerName": name,
            "brokerState": state,
            "deploymentMode": "SINGLE_INSTANCE",
            "engineType": "RABBITMQ",
            "hostInstanceType": "mq.m5.large"
        })
    }

    fn list_json(summaries: &[serde_json::Value], next: Option<&str>) -> String {
        let mut page = json!({ "brokerSummaries": summaries });
        if let Some(token) = next {
            page["nextToken"] = json!(token);
        }
        page.to_string()
    }

    fn not_found() -> String {
        json_error(
            "NotFoundException",
            "Can't find requested broker [b-1]. Make sure your broker exists.",
        )
    }

    fn live() -> Observed {
        Observed::new("mq.broker".into(), ResourceKind::MqBroker, "b-1")
    }

    fn resolved() -> HashMap<LogicalId, Observed> {
        HashMap::from([
            (
                LogicalId::from("subnet.data.a"),
                Observed::new("subnet.data.a".into(), ResourceKind::Subnet, "subnet-a"),
            ),
            (
                LogicalId::from("sg.mq"),
                Observed::new("sg.mq".into(), ResourceKind::SecurityGroup, "sg-mq"),
            ),
            (
                LogicalId::from("secret.mq"),
                Observed::new(
                    "secret.mq".into(),
                    ResourceKind::Secret,
                    "arn:aws:secretsmanager:us-east-1:1:secret:mck/t/mq-AbCdEf",
                ),
            ),
        ])
    }

    fn secret_value() -> (&'static str, u16, String) {
        (
            "GetSecretValue",
            200,
            json!({
                "ARN": "arn:aws:secretsmanager:us-east-1:1:secret:mck/t/mq-AbCdEf",
                "Name": "mck/t/mq",
                "SecretString": json!({"username": "magento", "password": "s3cret-Pa55word!"}).to_string()
            })
            .to_string(),
        )
    }

    #[tokio::test]
    async fn readiness_follows_the_broker_state_through_its_long_create_and_its_delete() {
        let aws = Replay::new([
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "CREATION_IN_PROGRESS", "t", "mq.broker"),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "RUNNING", "t", "mq.broker"),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "REBOOT_IN_PROGRESS", "t", "mq.broker"),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "CREATION_FAILED", "t", "mq.broker"),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "DELETION_IN_PROGRESS", "t", "mq.broker"),
            ),
            ("GET /v1/brokers/b-1", 404, not_found()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let ctx = context(&resolved);
        let mut states = Vec::new();
        for _ in 0..6 {
            states.push(MqBrokerSpec::poll(&provider, &ctx, &live()).await.unwrap());
        }
        aws.assert_done();
        assert!(
            matches!(&states[0], Readiness::Pending(s) if s == "CREATION_IN_PROGRESS"),
            "{:?}",
            states[0]
        );
        let Readiness::Ready(ready) = &states[1] else {
            panic!("running is ready: {:?}", states[1]);
        };
        assert_eq!(
            ready.outputs[MqBrokerSpec::OUT_ENDPOINT],
            "amqps://b-1.mq.us-east-1.on.aws:5671"
        );
        assert_eq!(
            ready.outputs[MqBrokerSpec::OUT_HOST],
            "b-1.mq.us-east-1.on.aws"
        );
        assert!(
            matches!(&states[2], Readiness::Pending(s) if s == "REBOOT_IN_PROGRESS"),
            "{:?}",
            states[2]
        );
        assert!(
            matches!(&states[3], Readiness::Failed(_)),
            "{:?}",
            states[3]
        );
        assert!(
            matches!(&states[4], Readiness::Pending(s) if s == "DELETION_IN_PROGRESS"),
            "{:?}",
            states[4]
        );
        assert!(matches!(&states[5], Readiness::Gone), "{:?}", states[5]);
    }

    #[tokio::test]
    async fn a_running_broker_tagged_for_another_stack_is_not_ready_but_refused() {
        let aws = Replay::new([(
            "GET /v1/brokers/b-1",
            200,
            broker_json("b-1", "t-mq", "RUNNING", "t-2", "mq.broker"),
        )]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let readiness = MqBrokerSpec::poll(&provider, &context(&resolved), &live())
            .await
            .unwrap();
        assert!(matches!(readiness, Readiness::Failed(_)), "{readiness:?}");
        aws.assert_done();
    }

    #[tokio::test]
    async fn the_read_pages_through_every_broker_and_describes_only_the_stacks_names() {
        let aws = Replay::new([
            (
                "GET /v1/brokers",
                200,
                list_json(
                    &[
                        summary("b-1", "dev-mq", "RUNNING"),
                        // Not the stack's name: never described.
                        summary("b-2", "prod-mq", "RUNNING"),
                        // The stack `dev-2`'s: its name starts alike, its tags say no.
                        summary("b-3", "dev-2-mq", "RUNNING"),
                    ],
                    Some("page-2"),
                ),
            ),
            (
                "GET /v1/brokers",
                200,
                list_json(
                    &[
                        // Being deleted: gone for the stack.
                        summary("b-4", "dev-old", "DELETION_IN_PROGRESS"),
                        // Deleted between the list and the describe.
                        summary("b-5", "dev-gone", "RUNNING"),
                        summary("b-6", "dev-queue", "CREATION_IN_PROGRESS"),
                    ],
                    None,
                ),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "dev-mq", "RUNNING", "dev", "mq.broker"),
            ),
            (
                "GET /v1/brokers/b-3",
                200,
                broker_json("b-3", "dev-2-mq", "RUNNING", "dev-2", "mq.broker"),
            ),
            ("GET /v1/brokers/b-5", 404, not_found()),
            (
                "GET /v1/brokers/b-6",
                200,
                broker_json(
                    "b-6",
                    "dev-queue",
                    "CREATION_IN_PROGRESS",
                    "dev",
                    "mq.queue",
                ),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let read = read(&provider.clients.mq, "dev").await.unwrap();
        aws.assert_done();
        let ids: Vec<(&str, &str, Option<&str>)> = read
            .iter()
            .map(|o| (o.id.as_str(), o.cloud_id.as_str(), o.pending.as_deref()))
            .collect();
        assert_eq!(
            ids,
            [
                ("mq.broker", "b-1", None),
                ("mq.queue", "b-6", Some("CREATION_IN_PROGRESS"))
            ]
        );
        assert!(
            aws.uris()[1].contains("nextToken=page-2"),
            "{:?}",
            aws.uris()
        );
    }

    #[tokio::test]
    async fn create_sends_the_login_the_tags_and_a_token_a_repeated_create_repeats() {
        let created = || {
            (
                "POST /v1/brokers",
                200,
                json!({"brokerId": "b-1", "brokerArn": "arn:aws:mq:us-east-1:1:broker:t-mq:b-1"})
                    .to_string(),
            )
        };
        let aws = Replay::new([secret_value(), created(), secret_value(), created()]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = resolved();
        let ctx = context(&resolved);
        let id = LogicalId::from("mq.broker");
        let first = MqBrokerSpec::create(&provider, &ctx, &id, &spec())
            .await
            .unwrap();
        MqBrokerSpec::create(&provider, &ctx, &id, &spec())
            .await
            .unwrap();
        aws.assert_done();
        assert_eq!(first.cloud_id, "b-1");
        assert_eq!(
            first.outputs[MqBrokerSpec::OUT_ARN],
            "arn:aws:mq:us-east-1:1:broker:t-mq:b-1"
        );
        let requests = aws.requests();
        let body: serde_json::Value = serde_json::from_str(&requests[1].1).unwrap();
        assert_eq!(body["brokerName"], "t-mq");
        assert_eq!(body["engineType"], "RABBITMQ");
        assert_eq!(body["engineVersion"], "3.13");
        assert_eq!(body["deploymentMode"], "SINGLE_INSTANCE");
        assert_eq!(body["publiclyAccessible"], false);
        assert_eq!(body["autoMinorVersionUpgrade"], true);
        assert_eq!(body["subnetIds"], json!(["subnet-a"]));
        assert_eq!(body["securityGroups"], json!(["sg-mq"]));
        assert_eq!(
            body["users"],
            json!([{"username": "magento", "password": "s3cret-Pa55word!"}])
        );
        assert_eq!(body["tags"]["mck:stack"], "t");
        assert_eq!(body["tags"]["mck:id"], "mq.broker");
        assert_eq!(body["tags"]["mck:deletion-protection"], "true");
        let again: serde_json::Value = serde_json::from_str(&requests[3].1).unwrap();
        assert!(
            body["creatorRequestId"]
                .as_str()
                .is_some_and(|t| t.starts_with("mck-")),
            "{body}"
        );
        assert_eq!(
            body["creatorRequestId"], again["creatorRequestId"],
            "a create repeated after a lost answer sends the same token: AWS returns the first broker"
        );
    }

    fn name_taken() -> (&'static str, u16, String) {
        (
            "POST /v1/brokers",
            409,
            json_error("ConflictException", "Broker name t-mq already exists."),
        )
    }

    async fn create_over_a_taken_name(found: String) -> Result<Observed, ProviderError> {
        let aws = Replay::new([
            secret_value(),
            name_taken(),
            (
                "GET /v1/brokers",
                200,
                list_json(&[summary("b-9", "t-mq", "RUNNING")], None),
            ),
            ("GET /v1/brokers/b-9", 200, found),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = resolved();
        let result =
            MqBrokerSpec::create(&provider, &context(&resolved), &"mq.broker".into(), &spec())
                .await;
        aws.assert_done();
        result
    }

    #[tokio::test]
    async fn a_taken_name_is_adopted_when_its_tags_say_it_is_this_broker() {
        let adopted = create_over_a_taken_name(broker_json(
            "b-9",
            "t-mq",
            "CREATION_IN_PROGRESS",
            "t",
            "mq.broker",
        ))
        .await
        .unwrap();
        assert_eq!(adopted.cloud_id, "b-9");
    }

    #[tokio::test]
    async fn a_taken_name_of_another_stack_is_refused_naming_the_broker() {
        let err = create_over_a_taken_name(broker_json("b-9", "t-mq", "RUNNING", "other", "mq"))
            .await
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::Invalid, "{}", err.message);
        assert!(
            err.message.contains("b-9") && err.message.contains("not tagged for this stack"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn a_name_held_by_a_broker_being_deleted_is_retried_until_it_is_free() {
        let err = create_over_a_taken_name(broker_json(
            "b-9",
            "t-mq",
            "DELETION_IN_PROGRESS",
            "t",
            "mq.broker",
        ))
        .await
        .unwrap_err();
        assert_eq!(err.class, ErrorClass::Transient, "{}", err.message);
        assert!(err.message.contains("being deleted"), "{}", err.message);
    }

    /// The protection is a tag: turning it on or off tags or untags the broker and sends no
    /// UpdateBroker (nor a reboot).
    #[tokio::test]
    async fn protection_is_tagged_and_untagged_without_touching_the_broker() {
        const TAGS: &str = "/v1/tags/arn%3Aaws%3Amq%3Aus-east-1%3A1%3Abroker%3At-mq%3Ab-1";
        let aws = Replay::new([
            ("POST /v1/tags/", 204, String::new()),
            ("DELETE /v1/tags/", 204, String::new()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let ctx = context(&resolved);
        let live = live().output(
            MqBrokerSpec::OUT_ARN,
            "arn:aws:mq:us-east-1:1:broker:t-mq:b-1",
        );
        let field = [MqBrokerSpec::DELETION_PROTECTION.name];
        let on = MqBrokerSpec::update(&provider, &ctx, &spec(), &live, &field)
            .await
            .unwrap();
        assert_eq!(on.fields[field[0]], Value::Bool(true));
        let off = MqBrokerSpec {
            deletion_protection: false,
            ..spec()
        };
        let off = MqBrokerSpec::update(&provider, &ctx, &off, &on, &field)
            .await
            .unwrap();
        assert_eq!(off.fields[field[0]], Value::Bool(false));
        aws.assert_done();
        let requests = aws.requests();
        let body: serde_json::Value = serde_json::from_str(&requests[0].1).unwrap();
        assert_eq!(
            body,
            json!({ "tags": { "mck:deletion-protection": "true" } })
        );
        let uris = aws.uris();
        assert!(uris[0].ends_with(TAGS), "{uris:?}");
        assert!(
            uris[1].contains(TAGS) && uris[1].contains("tagKeys=mck%3Adeletion-protection"),
            "{uris:?}"
        );
    }

    #[tokio::test]
    async fn a_change_is_applied_by_a_reboot_and_readiness_waits_for_it() {
        let aws = Replay::new([
            (
                "PUT /v1/brokers/b-1",
                200,
                json!({"brokerId": "b-1", "hostInstanceType": "mq.m7g.large"}).to_string(),
            ),
            ("POST /v1/brokers/b-1/reboot", 200, "{}".to_string()),
            // RebootBroker has answered; the broker still says RUNNING, the change pending.
            (
                "GET /v1/brokers/b-1",
                200,
                pending_json("b-1", "RUNNING", "mq.m7g.large"),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                pending_json("b-1", "REBOOT_IN_PROGRESS", "mq.m7g.large"),
            ),
            // The engine's readiness polls.
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "REBOOT_IN_PROGRESS", "t", "mq.broker"),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "RUNNING", "t", "mq.broker"),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let ctx = context(&resolved);
        let mut desired = spec();
        desired.instance_type = "mq.m7g.large".into();
        MqBrokerSpec::update(
            &provider,
            &ctx,
            &desired,
            &live(),
            &[MqBrokerSpec::HOST_INSTANCE_TYPE.name],
        )
        .await
        .unwrap();
        let rebooting = MqBrokerSpec::poll(&provider, &ctx, &live()).await.unwrap();
        assert!(
            matches!(&rebooting, Readiness::Pending(s) if s == "REBOOT_IN_PROGRESS"),
            "{rebooting:?}"
        );
        let ready = MqBrokerSpec::poll(&provider, &ctx, &live()).await.unwrap();
        assert!(matches!(ready, Readiness::Ready(_)), "{ready:?}");
        aws.assert_done();
        let update: serde_json::Value = serde_json::from_str(&aws.requests()[0].1).unwrap();
        assert_eq!(update, json!({"hostInstanceType": "mq.m7g.large"}));
    }

    #[tokio::test]
    async fn a_version_change_keeps_auto_minor_upgrades_on_and_reboots() {
        let aws = Replay::new([
            (
                "PUT /v1/brokers/b-1",
                200,
                json!({"brokerId": "b-1"}).to_string(),
            ),
            ("POST /v1/brokers/b-1/reboot", 200, "{}".to_string()),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "REBOOT_IN_PROGRESS", "t", "mq.broker"),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let mut desired = spec();
        desired.engine_version = "4.2".into();
        MqBrokerSpec::update(
            &provider,
            &context(&resolved),
            &desired,
            &live(),
            &[MqBrokerSpec::ENGINE_VERSION.name],
        )
        .await
        .unwrap();
        aws.assert_done();
        let update: serde_json::Value = serde_json::from_str(&aws.requests()[0].1).unwrap();
        assert_eq!(
            update,
            json!({"engineVersion": "4.2", "autoMinorVersionUpgrade": true})
        );
    }

    #[tokio::test]
    async fn auto_minor_version_upgrade_applies_without_a_reboot() {
        let aws = Replay::new([(
            "PUT /v1/brokers/b-1",
            200,
            json!({"brokerId": "b-1", "autoMinorVersionUpgrade": true}).to_string(),
        )]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        MqBrokerSpec::update(
            &provider,
            &context(&resolved),
            &spec(),
            &live(),
            &[MqBrokerSpec::AUTO_MINOR_VERSION_UPGRADE.name],
        )
        .await
        .unwrap();
        aws.assert_done();
        assert_eq!(aws.count("POST /v1/brokers/b-1/reboot"), 0);
    }

    async fn update_refused(answers: Vec<(&'static str, u16, String)>) -> ProviderError {
        let aws = Replay::new(answers);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let err = MqBrokerSpec::update(
            &provider,
            &context(&resolved),
            &spec(),
            &live(),
            &[MqBrokerSpec::HOST_INSTANCE_TYPE.name],
        )
        .await
        .unwrap_err();
        aws.assert_done();
        err
    }

    #[tokio::test]
    async fn a_change_refused_while_the_broker_reboots_is_retried_by_the_engine() {
        let err = update_refused(vec![
            (
                "PUT /v1/brokers/b-1",
                400,
                json_error(
                    "BadRequestException",
                    "Broker b-1 is in REBOOT_IN_PROGRESS state. It must be RUNNING.",
                ),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "REBOOT_IN_PROGRESS", "t", "mq.broker"),
            ),
        ])
        .await;
        assert_eq!(
            err.class,
            ErrorClass::DependencyViolation,
            "{}",
            err.message
        );
        assert_eq!(err.code.as_deref(), Some("BadRequestException"));
        assert!(mck_core::exec::RetryPolicy::should_retry(
            err.class,
            mck_core::exec::Op::Update
        ));
        // A concurrent update answers 409: busy as such.
        let err = update_refused(vec![(
            "PUT /v1/brokers/b-1",
            409,
            json_error("ConflictException", "Concurrent update to configuration."),
        )])
        .await;
        assert_eq!(
            err.class,
            ErrorClass::DependencyViolation,
            "{}",
            err.message
        );
        // A reboot refused while the broker is still creating (a change right after `up`).
        let err = update_refused(vec![
            (
                "PUT /v1/brokers/b-1",
                200,
                json!({"brokerId": "b-1"}).to_string(),
            ),
            (
                "POST /v1/brokers/b-1/reboot",
                400,
                json_error(
                    "BadRequestException",
                    "You can reboot only a RUNNING broker.",
                ),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "CREATION_IN_PROGRESS", "t", "mq.broker"),
            ),
        ])
        .await;
        assert_eq!(
            err.class,
            ErrorClass::DependencyViolation,
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn a_bad_request_to_a_running_broker_is_not_retried() {
        let err = update_refused(vec![
            (
                "PUT /v1/brokers/b-1",
                400,
                json_error(
                    "BadRequestException",
                    "Broker instance type [mq.x.huge] is not supported.",
                ),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "RUNNING", "t", "mq.broker"),
            ),
        ])
        .await;
        assert_eq!(err.class, ErrorClass::Invalid, "{}", err.message);
    }

    #[tokio::test]
    async fn delete_is_done_when_the_broker_is_gone_or_going_and_retried_while_it_is_busy() {
        let aws = Replay::new([
            ("DELETE /v1/brokers/b-1", 404, not_found()),
            (
                "DELETE /v1/brokers/b-1",
                400,
                json_error("BadRequestException", "Broker b-1 is being deleted."),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "DELETION_IN_PROGRESS", "t", "mq.broker"),
            ),
            (
                "DELETE /v1/brokers/b-1",
                400,
                json_error("BadRequestException", "Broker b-1 is being created."),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "CREATION_IN_PROGRESS", "t", "mq.broker"),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        MqBrokerSpec::delete(&provider, &live()).await.unwrap();
        MqBrokerSpec::delete(&provider, &live()).await.unwrap();
        let err = MqBrokerSpec::delete(&provider, &live()).await.unwrap_err();
        aws.assert_done();
        assert_eq!(
            err.class,
            ErrorClass::DependencyViolation,
            "{}",
            err.message
        );
        assert!(mck_core::exec::RetryPolicy::should_retry(
            err.class,
            mck_core::exec::Op::Delete
        ));
    }

    #[tokio::test]
    async fn a_delete_waits_until_the_broker_shows_it_is_being_deleted() {
        let aws = Replay::new([
            (
                "DELETE /v1/brokers/b-1",
                200,
                json!({"brokerId": "b-1"}).to_string(),
            ),
            // DeleteBroker has answered; the failed broker still shows its old state, which
            // readiness would take for a failure.
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "CREATION_FAILED", "t", "mq.broker"),
            ),
            (
                "GET /v1/brokers/b-1",
                200,
                broker_json("b-1", "t-mq", "DELETION_IN_PROGRESS", "t", "mq.broker"),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        MqBrokerSpec::delete(&provider, &live()).await.unwrap();
        aws.assert_done();
    }
}
