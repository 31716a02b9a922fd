//! One log group per app, with its retention.

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::LogGroup;
use mck_core::model::{LogGroupSpec, LogicalId, ResourceKind};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// The group's logical id if it is the stack's: `logs.<app>` for `/mck/<stack>/<app>`.
fn owned(group: &LogGroup, stack: &str) -> Option<LogicalId> {
    let app = group
        .log_group_name()?
        .strip_prefix(&LogGroupSpec::prefix(stack))?;
    (!app.is_empty() && !app.contains('/')).then(|| LogGroupSpec::logical_id(app))
}

pub(super) fn observe(id: LogicalId, group: &LogGroup) -> Observed {
    let name = group.log_group_name().unwrap_or_default();
    Observed::new(id, ResourceKind::LogGroup, name)
        .with(LogGroupSpec::NAME, name)
        .with(
            LogGroupSpec::RETENTION_IN_DAYS,
            group.retention_in_days().map(i64::from),
        )
        .output(LogGroupSpec::OUT_NAME, name)
}

pub(super) async fn read(logs: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = logs
        .describe_log_groups()
        .log_group_name_prefix(LogGroupSpec::prefix(stack))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list log groups", e))?;
        for group in page.log_groups() {
            if let Some(id) = owned(group, stack) {
                out.push(observe(id, group));
            }
        }
    }
    Ok(out)
}

async fn describe(logs: &Client, name: &str) -> Result<Option<LogGroup>, ProviderError> {
    // Other groups may share the prefix: page until the one of this name.
    let mut pages = logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk(&format!("describe log group {name}"), e))?;
        if let Some(group) = page
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
        {
            return Ok(Some(group.clone()));
        }
    }
    Ok(None)
}

async fn set_retention(logs: &Client, name: &str, days: i64) -> Result<(), ProviderError> {
    logs.put_retention_policy()
        .log_group_name(name)
        .retention_in_days(crate::int32(days, "retention_in_days")?)
        .send()
        .await
        .map_err(|e| sdk(&format!("set the retention of {name}"), e))?;
    Ok(())
}

impl Driver for LogGroupSpec {
    const READ_BY: ServiceRead = ServiceRead::Logs;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let logs = &aws.clients.logs;
        let tags = ctx.tags_for(id).into_iter().collect();
        match logs
            .create_log_group()
            .log_group_name(&spec.name)
            .set_tags(Some(tags))
            .send()
            .await
        {
            Ok(_) => {}
            // The name is the identity: a group of that name under the stack's prefix is ours
            // (a create whose answer was lost).
            Err(e) if e.code() == Some("ResourceAlreadyExistsException") => {}
            Err(e) => return Err(sdk(&format!("create log group {id} ({})", spec.name), e)),
        }
        aws.follow_up(|| set_retention(logs, &spec.name, spec.retention_days))
            .await
            .map_err(|e| e.after_create(&spec.name))?;
        Ok(
            Observed::new(id.clone(), ResourceKind::LogGroup, &spec.name)
                .with(LogGroupSpec::NAME, spec.name.as_str())
                .with(LogGroupSpec::RETENTION_IN_DAYS, spec.retention_days)
                .output(LogGroupSpec::OUT_NAME, spec.name.as_str()),
        )
    }

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let logs = &aws.clients.logs;
        aws.retried(|| set_retention(logs, &live.cloud_id, spec.retention_days))
            .await?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        aws.clients
            .logs
            .delete_log_group()
            .log_group_name(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete log group {}", live.cloud_id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        Ok(match describe(&aws.clients.logs, &live.cloud_id).await? {
            Some(group) => Readiness::Ready(observe(live.id.clone(), &group)),
            None => Readiness::Gone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_name_and_retention_and_owns_by_name() {
        let group = LogGroup::builder()
            .log_group_name("/mck/dev/frontend")
            .retention_in_days(14)
            .build();
        let spec = LogGroupSpec {
            name: "/mck/dev/frontend".into(),
            retention_days: 14,
        };
        let id = owned(&group, "dev").unwrap();
        assert_eq!(id.as_str(), "logs.frontend");
        assert_reads(&observe(id, &group), spec, &[]);
        // Another stack's, and a stack whose name is a prefix of ours, are not ours.
        assert_eq!(owned(&group, "dev-2"), None);
        let other = LogGroup::builder()
            .log_group_name("/mck/dev-2/frontend")
            .build();
        assert_eq!(owned(&other, "dev"), None);
    }
}
