//! The stack's dashboard: one graph per alarm. A metric widget whose `annotations.alarms`
//! names an alarm graphs the alarm's metric (or expression) against its threshold, so the
//! body holds nothing but the alarms' ARNs, in order; reading it back parses them out again.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use mck_core::model::{DashboardSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// Graphs per row, and each graph's size in the dashboard's 24-column grid.
const PER_ROW: usize = 3;
const WIDTH: usize = 8;
const HEIGHT: usize = 6;

/// The dashboard body graphing `alarms` (ARNs) in order, in `region`.
pub(super) fn body(alarms: &[String], region: &str) -> String {
    let widgets: Vec<serde_json::Value> = alarms
        .iter()
        .enumerate()
        .map(|(i, arn)| {
            let title = arn.rsplit(":alarm:").next().unwrap_or(arn);
            serde_json::json!({
                "type": "metric",
                "x": (i % PER_ROW) * WIDTH,
                "y": (i / PER_ROW) * HEIGHT,
                "width": WIDTH,
                "height": HEIGHT,
                "properties": {
                    "title": title,
                    "region": region,
                    "annotations": { "alarms": [arn] },
                    "view": "timeSeries",
                    "stacked": false,
                },
            })
        })
        .collect();
    serde_json::json!({ "widgets": widgets }).to_string()
}

/// The alarm ARNs a body graphs, in order (none for a body mck did not write).
pub(super) fn alarms_of(body: &str) -> Vec<String> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return Vec::new();
    };
    json["widgets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|w| {
            w["properties"]["annotations"]["alarms"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
        })
        .collect()
}

pub(super) fn observe(name: &str, body: &str) -> Observed {
    let alarms = alarms_of(body).into_iter().map(Value::Str).collect();
    Observed::new(
        LogicalId::new(DashboardSpec::ID),
        ResourceKind::Dashboard,
        name,
    )
    .with(DashboardSpec::NAME, name)
    .with(
        DashboardSpec::ALARMS,
        Value::List(vec![Value::List(alarms)]),
    )
    .output(DashboardSpec::OUT_NAME, name)
}

/// The dashboard's body, or `None` when there is no dashboard of the name.
async fn get(cw: &Client, name: &str) -> Result<Option<String>, ProviderError> {
    match cw.get_dashboard().dashboard_name(name).send().await {
        // AWS always answers a dashboard's ARN; an answer without one describes nothing.
        Ok(out) if out.dashboard_arn().is_none() => Ok(None),
        Ok(out) => Ok(Some(out.dashboard_body().unwrap_or_default().to_string())),
        Err(e)
            if matches!(
                e.code(),
                Some("ResourceNotFound" | "ResourceNotFoundException")
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk(&format!("get dashboard {name}"), e)),
    }
}

pub(super) async fn read(cw: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let name = DashboardSpec::name(stack);
    Ok(get(cw, &name)
        .await?
        .map(|body| observe(&name, &body))
        .into_iter()
        .collect())
}

async fn put(
    aws: &AwsProvider,
    ctx: &Context<'_>,
    spec: &DashboardSpec,
) -> Result<String, ProviderError> {
    let alarms = spec
        .alarms
        .iter()
        .map(|a| {
            ctx.output(a.id(), mck_core::model::AlarmSpec::OUT_ARN)
                .map(str::to_string)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let body = body(&alarms, aws.region());
    let out = aws
        .clients
        .cloudwatch
        .put_dashboard()
        .dashboard_name(&spec.name)
        .dashboard_body(&body)
        .send()
        .await
        .map_err(|e| sdk(&format!("put dashboard {}", spec.name), e))?;
    if let Some(problem) = out.dashboard_validation_messages().first() {
        tracing::warn!(dashboard = %spec.name, message = problem.message().unwrap_or_default(), "CloudWatch questions the dashboard");
    }
    Ok(body)
}

impl Driver for DashboardSpec {
    const READ_BY: ServiceRead = ServiceRead::CloudWatch;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        _id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let body = put(aws, ctx, spec).await?;
        Ok(observe(&spec.name, &body))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        _live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let body = aws.retried(|| put(aws, ctx, spec)).await?;
        Ok(observe(&spec.name, &body))
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        match aws
            .clients
            .cloudwatch
            .delete_dashboards()
            .dashboard_names(&live.cloud_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    Some("ResourceNotFound" | "ResourceNotFoundException")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk(&format!("delete dashboard {}", live.cloud_id), e)),
        }
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        Ok(match get(&aws.clients.cloudwatch, &live.cloud_id).await? {
            Some(body) => Readiness::Ready(observe(&live.cloud_id, &body)),
            None => Readiness::Gone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_reads;
    use mck_core::model::Ref;

    /// The body mck writes reads back as the spec: the same alarms in the same order.
    #[test]
    fn the_body_graphs_each_alarm_in_order_and_reads_back() {
        let arn =
            |what: &str| format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:mck/prod/{what}");
        let arns = vec![
            arn("db.cpu"),
            arn("app.frontend.5xx"),
            arn("queue.depth"),
            arn("search.red"),
        ];
        let body = body(&arns, "us-east-1");
        assert_eq!(alarms_of(&body), arns);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        // The fourth graph starts the second row.
        assert_eq!(json["widgets"][3]["x"], 0);
        assert_eq!(json["widgets"][3]["y"], HEIGHT);
        assert_eq!(
            json["widgets"][1]["properties"]["title"],
            "mck/prod/app.frontend.5xx"
        );
        let ids = ["db.cpu", "app.frontend.5xx", "queue.depth", "search.red"];
        let outputs: Vec<(String, String)> = ids
            .iter()
            .map(|w| (format!("alarm.{w}.arn"), arn(w)))
            .collect();
        let outputs: Vec<(&str, &str)> = outputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_reads(
            &observe("mck-prod", &body),
            DashboardSpec {
                name: "mck-prod".into(),
                alarms: ids.iter().map(|w| Ref::new(format!("alarm.{w}"))).collect(),
            },
            &outputs,
        );
        // Someone else's body, or none: no alarms.
        assert!(alarms_of("{\"widgets\":[{\"type\":\"text\"}]}").is_empty());
        assert!(alarms_of("not json").is_empty());
    }
}
