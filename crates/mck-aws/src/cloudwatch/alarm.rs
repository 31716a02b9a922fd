//! Metric alarms: one metric, or metric math over several. `PutMetricAlarm` creates or
//! replaces the alarm of the name, so a create and an update are the same call; tags are set
//! only by the call that creates the alarm.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricAlarm, MetricDataQuery, MetricStat, StateValue, Statistic,
    Tag,
};
use mck_core::model::{AlarmMetric, AlarmSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// The alarm's logical id if it is the stack's: `alarm.<what>` for `mck/<stack>/<what>`.
fn owned(name: &str, stack: &str) -> Option<LogicalId> {
    let what = name.strip_prefix(&AlarmSpec::prefix(stack))?;
    (!what.is_empty() && !what.contains('/')).then(|| AlarmSpec::logical_id(what))
}

/// A metric as [`AlarmSpec::METRICS`] holds it, dimensions in name order.
fn row(id: &str, namespace: &str, name: &str, stat: &str, dimensions: &[Dimension]) -> Value {
    let mut dims: Vec<(&str, &str)> = dimensions
        .iter()
        .map(|d| (d.name().unwrap_or_default(), d.value().unwrap_or_default()))
        .collect();
    dims.sort();
    let mut row: Vec<Value> = [id, namespace, name, stat]
        .into_iter()
        .map(Value::from)
        .collect();
    for (k, v) in dims {
        row.push(Value::from(k));
        row.push(Value::from(v));
    }
    Value::List(row)
}

pub(super) fn observe(id: LogicalId, alarm: &MetricAlarm) -> Observed {
    let name = alarm.alarm_name().unwrap_or_default();
    let (mut metrics, mut expression, mut period) = (Vec::new(), None, alarm.period());
    if alarm.metrics().is_empty() {
        metrics.push(row(
            "m1",
            alarm.namespace().unwrap_or_default(),
            alarm.metric_name().unwrap_or_default(),
            alarm.statistic().map_or("", |s| s.as_str()),
            alarm.dimensions(),
        ));
    } else {
        for query in alarm.metrics() {
            if let Some(stat) = query.metric_stat() {
                let metric = stat.metric();
                metrics.push(row(
                    query.id().unwrap_or_default(),
                    metric.and_then(|m| m.namespace()).unwrap_or_default(),
                    metric.and_then(|m| m.metric_name()).unwrap_or_default(),
                    stat.stat().unwrap_or_default(),
                    metric.map(|m| m.dimensions()).unwrap_or_default(),
                ));
                period = period.or(stat.period());
            } else if let Some(e) = query.expression() {
                expression = Some(e.to_string());
                period = period.or(query.period());
            }
        }
    }
    metrics.sort();
    let mut actions: Vec<Value> = alarm
        .alarm_actions()
        .iter()
        .map(|a| Value::CloudId(a.clone()))
        .collect();
    actions.sort();
    let evaluation = alarm.evaluation_periods().map(i64::from);
    Observed::new(id, ResourceKind::Alarm, name)
        .with(AlarmSpec::NAME, name)
        .with(
            AlarmSpec::DESCRIPTION,
            alarm.alarm_description().unwrap_or_default(),
        )
        .with(AlarmSpec::METRICS, Value::List(metrics))
        .with(AlarmSpec::EXPRESSION, expression)
        .with(AlarmSpec::PERIOD, period.map(i64::from))
        .with(
            AlarmSpec::COMPARISON,
            alarm.comparison_operator().map(|c| c.as_str().to_string()),
        )
        .with(AlarmSpec::THRESHOLD, crate::whole(alarm.threshold()))
        .with(AlarmSpec::EVALUATION_PERIODS, evaluation)
        // Unset means every evaluated datapoint must breach.
        .with(
            AlarmSpec::DATAPOINTS_TO_ALARM,
            alarm.datapoints_to_alarm().map(i64::from).or(evaluation),
        )
        .with(
            AlarmSpec::TREAT_MISSING_DATA,
            alarm.treat_missing_data().unwrap_or("missing"),
        )
        .with(AlarmSpec::ACTIONS, Value::List(actions))
        .output(AlarmSpec::OUT_ARN, alarm.alarm_arn().unwrap_or_default())
        .output(AlarmSpec::OUT_NAME, name)
}

async fn describe(
    cw: &Client,
    prefix: Option<&str>,
    names: &[String],
) -> Result<Vec<MetricAlarm>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = cw
        .describe_alarms()
        .set_alarm_name_prefix(prefix.map(str::to_string))
        .set_alarm_names((!names.is_empty()).then(|| names.to_vec()))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("describe alarms", e))?;
        out.extend(page.metric_alarms().iter().cloned());
    }
    Ok(out)
}

pub(super) async fn read(cw: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    Ok(describe(cw, Some(&AlarmSpec::prefix(stack)), &[])
        .await?
        .iter()
        .filter_map(|a| Some(observe(owned(a.alarm_name()?, stack)?, a)))
        .collect())
}

/// Which of the alarms `names` are firing now (a rollout's failure names them).
pub(crate) async fn alarms_in_alarm(
    aws: &AwsProvider,
    names: &[String],
) -> Result<Vec<String>, ProviderError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    Ok(describe(&aws.clients.cloudwatch, None, names)
        .await?
        .iter()
        .filter(|a| a.state_value() == Some(&StateValue::Alarm))
        .filter_map(|a| a.alarm_name().map(str::to_string))
        .collect())
}

fn dimensions(ctx: &Context<'_>, metric: &AlarmMetric) -> Result<Vec<Dimension>, ProviderError> {
    metric
        .dimensions
        .iter()
        .map(|(name, value)| {
            let value = match ctx.resolve(value)? {
                Value::Str(s) | Value::CloudId(s) => s,
                Value::Int(i) => i.to_string(),
                other => {
                    return Err(ProviderError::invalid(format!(
                        "internal error: dimension {name} of an alarm is {other}"
                    )));
                }
            };
            Ok(Dimension::builder().name(name).value(value).build())
        })
        .collect()
}

/// PutMetricAlarm with every setting of the spec (tags only count when it creates).
async fn put(
    aws: &AwsProvider,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &AlarmSpec,
) -> Result<(), ProviderError> {
    let period = crate::int32(spec.period, "period")?;
    let mut call = aws
        .clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&spec.name)
        .alarm_description(&spec.description)
        .comparison_operator(ComparisonOperator::from(spec.comparison.as_str()))
        .threshold(spec.threshold as f64)
        .evaluation_periods(crate::int32(spec.evaluation_periods, "evaluation_periods")?)
        .datapoints_to_alarm(crate::int32(
            spec.datapoints_to_alarm,
            "datapoints_to_alarm",
        )?)
        .treat_missing_data(&spec.treat_missing_data)
        .set_alarm_actions(Some(ctx.cloud_ids(&spec.actions)?))
        .set_ok_actions(Some(ctx.cloud_ids(&spec.actions)?))
        .set_tags(Some(
            ctx.tags_for(id)
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ));
    match (&spec.expression, spec.metrics.as_slice()) {
        (None, [metric]) => {
            call = call
                .namespace(&metric.namespace)
                .metric_name(&metric.name)
                .statistic(Statistic::from(metric.stat.as_str()))
                .period(period)
                .set_dimensions(Some(dimensions(ctx, metric)?));
        }
        (Some(expression), metrics) => {
            for metric in metrics {
                call = call.metrics(
                    MetricDataQuery::builder()
                        .id(&metric.id)
                        .return_data(false)
                        .metric_stat(
                            MetricStat::builder()
                                .metric(
                                    aws_sdk_cloudwatch::types::Metric::builder()
                                        .namespace(&metric.namespace)
                                        .metric_name(&metric.name)
                                        .set_dimensions(Some(dimensions(ctx, metric)?))
                                        .build(),
                                )
                                .period(period)
                                .stat(&metric.stat)
                                .build(),
                        )
                        .build(),
                );
            }
            call = call.metrics(
                MetricDataQuery::builder()
                    .id("e1")
                    .expression(expression)
                    .return_data(true)
                    .build(),
            );
        }
        (None, _) => {
            return Err(ProviderError::invalid(format!(
                "internal error: alarm {id} has {} metrics and no expression",
                spec.metrics.len()
            )));
        }
    }
    call.send()
        .await
        .map_err(|e| sdk(&format!("put alarm {id} ({})", spec.name), e))?;
    Ok(())
}

async fn find(cw: &Client, name: &str) -> Result<Option<MetricAlarm>, ProviderError> {
    Ok(describe(cw, None, &[name.to_string()])
        .await?
        .into_iter()
        .next())
}

impl Driver for AlarmSpec {
    const READ_BY: ServiceRead = ServiceRead::CloudWatch;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        put(aws, ctx, id, spec).await?;
        let alarm = aws
            .follow_up(|| async {
                find(&aws.clients.cloudwatch, &spec.name)
                    .await?
                    .ok_or_else(|| crate::missing("alarm", &spec.name))
            })
            .await?;
        Ok(observe(id.clone(), &alarm))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        aws.retried(|| put(aws, ctx, &live.id, spec)).await?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        aws.clients
            .cloudwatch
            .delete_alarms()
            .alarm_names(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete alarm {}", live.cloud_id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        Ok(match find(&aws.clients.cloudwatch, &live.cloud_id).await? {
            Some(alarm) => Readiness::Ready(observe(live.id.clone(), &alarm)),
            None => Readiness::Gone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_reads;
    use mck_core::model::{Ref, kind};

    fn dim(name: &str, value: &str) -> Dimension {
        Dimension::builder().name(name).value(value).build()
    }

    /// A one-metric alarm reads back as its spec: its dimension from another resource's
    /// output compares by value, the topic by ARN.
    #[test]
    fn a_one_metric_alarm_reads_back_as_its_spec() {
        let topic = "arn:aws:sns:us-east-1:123456789012:prod-alarms";
        let alarm = MetricAlarm::builder()
            .alarm_name("mck/prod/app.frontend.5xx")
            .alarm_arn("arn:aws:cloudwatch:us-east-1:123456789012:alarm:mck/prod/app.frontend.5xx")
            .alarm_description("mck prod: 5xx")
            .namespace("AWS/ApplicationELB")
            .metric_name("HTTPCode_Target_5XX_Count")
            .statistic(Statistic::Sum)
            .dimensions(dim("TargetGroup", "targetgroup/prod-frontend/1"))
            .dimensions(dim("LoadBalancer", "app/prod-alb/2"))
            .period(60)
            .evaluation_periods(3)
            .threshold(10.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .treat_missing_data("notBreaching")
            .alarm_actions(topic)
            .build();
        let id = owned(alarm.alarm_name().unwrap(), "prod").unwrap();
        assert_eq!(id.as_str(), "alarm.app.frontend.5xx");
        assert_eq!(owned("mck/prod-2/db.cpu", "prod"), None);
        let spec = AlarmSpec {
            name: "mck/prod/app.frontend.5xx".into(),
            description: "mck prod: 5xx".into(),
            metrics: vec![AlarmMetric {
                id: "m1".into(),
                namespace: "AWS/ApplicationELB".into(),
                name: "HTTPCode_Target_5XX_Count".into(),
                stat: "Sum".into(),
                dimensions: vec![
                    (
                        "LoadBalancer".into(),
                        Ref::<kind::LoadBalancer>::new("alb").output("arn_suffix"),
                    ),
                    (
                        "TargetGroup".into(),
                        Ref::<kind::TargetGroup>::new("alb.tg.frontend").output("arn_suffix"),
                    ),
                ],
            }],
            expression: None,
            period: 60,
            comparison: "GreaterThanThreshold".into(),
            threshold: 10,
            evaluation_periods: 3,
            // Unset in AWS: all of them.
            datapoints_to_alarm: 3,
            treat_missing_data: "notBreaching".into(),
            actions: vec![Ref::new("alarms.topic")],
        };
        assert_reads(
            &observe(id, &alarm),
            spec,
            &[
                ("alarms.topic", topic),
                ("alb.arn_suffix", "app/prod-alb/2"),
                ("alb.tg.frontend.arn_suffix", "targetgroup/prod-frontend/1"),
            ],
        );
    }

    /// A metric-math alarm reads its terms and its expression; the period is the terms'.
    #[test]
    fn a_metric_math_alarm_reads_its_terms_and_expression() {
        let term = |id: &str, name: &str| {
            MetricDataQuery::builder()
                .id(id)
                .return_data(false)
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            aws_sdk_cloudwatch::types::Metric::builder()
                                .namespace("ECS/ContainerInsights")
                                .metric_name(name)
                                .dimensions(dim("ServiceName", "frontend"))
                                .dimensions(dim("ClusterName", "prod-app"))
                                .build(),
                        )
                        .period(60)
                        .stat("Average")
                        .build(),
                )
                .build()
        };
        let alarm = MetricAlarm::builder()
            .alarm_name("mck/prod/service.frontend.running")
            .alarm_description("d")
            .metrics(term("running", "RunningTaskCount"))
            .metrics(term("desired", "DesiredTaskCount"))
            .metrics(
                MetricDataQuery::builder()
                    .id("e1")
                    .expression("desired - running")
                    .return_data(true)
                    .build(),
            )
            .evaluation_periods(5)
            .datapoints_to_alarm(5)
            .threshold(0.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .treat_missing_data("notBreaching")
            .build();
        let metric = |id: &str, name: &str| AlarmMetric {
            id: id.into(),
            namespace: "ECS/ContainerInsights".into(),
            name: name.into(),
            stat: "Average".into(),
            dimensions: vec![
                ("ClusterName".into(), Value::from("prod-app")),
                ("ServiceName".into(), Value::from("frontend")),
            ],
        };
        assert_reads(
            &observe(LogicalId::new("alarm.service.frontend.running"), &alarm),
            AlarmSpec {
                name: "mck/prod/service.frontend.running".into(),
                description: "d".into(),
                metrics: vec![
                    metric("running", "RunningTaskCount"),
                    metric("desired", "DesiredTaskCount"),
                ],
                expression: Some("desired - running".into()),
                period: 60,
                comparison: "GreaterThanThreshold".into(),
                threshold: 0,
                evaluation_periods: 5,
                datapoints_to_alarm: 5,
                treat_missing_data: "notBreaching".into(),
                actions: Vec::new(),
            },
            &[],
        );
        // A fractional threshold set outside mck differs from every whole one.
        assert_eq!(crate::whole(Some(0.5)), Value::from("0.5"));
        assert_eq!(crate::whole(Some(70.0)), Value::Int(70));
    }
}
