//! Listener rules: a path pattern (`/backend/*`) routed to an app other than the default.
//! Rules belong to the stack by being on its listener: `alb.rule.<priority>`.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use aws_sdk_elasticloadbalancingv2::types::{
    ActionTypeEnum, PathPatternConditionConfig, Rule, RuleCondition,
};
use mck_core::model::{ListenerRuleSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::forward;
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

pub(super) fn observe(listener_arn: &str, rule: &Rule) -> Option<Observed> {
    if rule.is_default() == Some(true) {
        return None;
    }
    let priority: i64 = rule.priority()?.parse().ok()?;
    let mut paths: Vec<Value> = rule
        .conditions()
        .iter()
        .filter(|c| c.field() == Some("path-pattern"))
        .flat_map(|c| {
            let values = c
                .path_pattern_config()
                .map(|p| p.values().to_vec())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| c.values().to_vec());
            values.into_iter().map(Value::Str)
        })
        .collect();
    paths.sort();
    let target = rule
        .actions()
        .iter()
        .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
        .and_then(|a| a.target_group_arn());
    Some(
        Observed::new(
            ListenerRuleSpec::logical_id(priority),
            ResourceKind::ListenerRule,
            rule.rule_arn().unwrap_or_default(),
        )
        .with(
            ListenerRuleSpec::LISTENER_ARN,
            Value::CloudId(listener_arn.to_string()),
        )
        .with(ListenerRuleSpec::PRIORITY, priority)
        .with(ListenerRuleSpec::PATH_PATTERNS, Value::List(paths))
        .with(
            ListenerRuleSpec::TARGET_GROUP_ARN,
            target.map_or(Value::Null, |t| Value::CloudId(t.to_string())),
        ),
    )
}

/// The rules of one of the stack's listeners.
pub(super) async fn read(
    elb: &Client,
    listener: &Observed,
) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = elb
        .describe_rules()
        .listener_arn(&listener.cloud_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk(&format!("list rules of {}", listener.id), e))?;
        out.extend(
            page.rules()
                .iter()
                .filter_map(|r| observe(&listener.cloud_id, r)),
        );
    }
    Ok(out)
}

fn condition(paths: &[String]) -> RuleCondition {
    RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(
            PathPatternConditionConfig::builder()
                .set_values(Some(paths.to_vec()))
                .build(),
        )
        .build()
}

/// A read field as text, for messages.
fn field(rule: &Observed, name: &str) -> String {
    rule.fields
        .get(name)
        .map_or_else(|| "nothing".to_string(), ToString::to_string)
}

impl Driver for ListenerRuleSpec {
    const READ_BY: ServiceRead = ServiceRead::Elbv2;

    /// A rule at this priority already: adopted only when it is the rule this create makes (a
    /// create whose answer was lost), refused otherwise. The
    /// priority is its identity on the stack's own listener.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let elb = &aws.clients.elbv2;
        let listener = ctx.cloud_id(spec.listener.id())?;
        let target_group = ctx.cloud_id(spec.target_group.id())?;
        let result = elb
            .create_rule()
            .listener_arn(listener)
            .priority(crate::int32(spec.priority, "priority")?)
            .conditions(condition(&spec.paths))
            .actions(forward(target_group))
            .send()
            .await;
        match result {
            Ok(out) => out
                .rules()
                .first()
                .and_then(|r| observe(listener, r))
                .ok_or_else(|| ProviderError::invalid("create rule returned nothing")),
            // A rule at this priority appeared since the read: ours when it is exactly the
            // rule this create makes (the SDK retried a create that took effect, or a lost
            // answer), adopted; any other rule (hand-made, forwarding elsewhere) is refused,
            // never taken over.
            Err(e) if e.code() == Some("PriorityInUse") => {
                let rules = elb
                    .describe_rules()
                    .listener_arn(listener)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("list rules of {listener}"), e))?;
                let wanted = observe(
                    listener,
                    &Rule::builder()
                        .priority(spec.priority.to_string())
                        .is_default(false)
                        .conditions(condition(&spec.paths))
                        .actions(forward(target_group))
                        .build(),
                );
                let existing = rules
                    .rules()
                    .iter()
                    .filter_map(|r| observe(listener, r))
                    .find(|o| &o.id == id);
                match existing {
                    Some(rule) if wanted.as_ref().is_some_and(|w| w.fields == rule.fields) => {
                        Ok(rule)
                    }
                    Some(rule) => Err(ProviderError::invalid(format!(
                        "listener rule {id}: priority {} on the listener is taken by another rule ({}, paths {}, forwarding to {}), not the one this stack makes; remove that rule or move it to another priority",
                        spec.priority,
                        rule.cloud_id,
                        field(&rule, ListenerRuleSpec::PATH_PATTERNS.name),
                        field(&rule, ListenerRuleSpec::TARGET_GROUP_ARN.name),
                    ))),
                    None => Err(ProviderError::new(
                        mck_core::provider::ErrorClass::Transient,
                        format!("listener rule for {id} already exists but is not visible yet"),
                    )),
                }
            }
            Err(e) => Err(sdk(&format!("create rule {id}"), e)),
        }
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let target_group = ctx.cloud_id(spec.target_group.id())?;
        aws.clients
            .elbv2
            .modify_rule()
            .rule_arn(&live.cloud_id)
            .conditions(condition(&spec.paths))
            .actions(forward(target_group))
            .send()
            .await
            .map_err(|e| sdk(&format!("modify rule {}", live.id), e))?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        aws.clients
            .elbv2
            .delete_rule()
            .rule_arn(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete rule {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        match aws
            .clients
            .elbv2
            .describe_rules()
            .rule_arns(&live.cloud_id)
            .send()
            .await
        {
            Ok(out) => {
                let listener = match live.fields.get(ListenerRuleSpec::LISTENER_ARN.name) {
                    Some(Value::CloudId(arn)) => arn.clone(),
                    _ => String::new(),
                };
                Ok(
                    match out.rules().first().and_then(|r| observe(&listener, r)) {
                        Some(o) => Readiness::Ready(o),
                        None => Readiness::Gone,
                    },
                )
            }
            Err(e) if e.code() == Some("RuleNotFound") => Ok(Readiness::Gone),
            Err(e) => Err(sdk(&format!("describe rule {}", live.id), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_paths_and_target_and_skips_the_default_rule() {
        let rule = Rule::builder()
            .rule_arn("arn:r")
            .priority("10")
            .is_default(false)
            .conditions(condition(&["/backend/*".to_string()]))
            .actions(forward("arn:tg-admin"))
            .build();
        let observed = observe("arn:l", &rule).unwrap();
        assert_eq!(observed.id.as_str(), "alb.rule.10");
        let spec = ListenerRuleSpec {
            listener: Ref::new("alb.listener.80"),
            priority: 10,
            paths: vec!["/backend/*".into()],
            target_group: Ref::new("alb.tg.admin"),
        };
        assert_reads(
            &observed,
            spec,
            &[
                ("alb.listener.80", "arn:l"),
                ("alb.tg.admin", "arn:tg-admin"),
            ],
        );
        let default = Rule::builder()
            .rule_arn("arn:d")
            .priority("default")
            .is_default(true)
            .build();
        assert!(observe("arn:l", &default).is_none());
    }

    fn rules_xml(tag: &str, stack_rule: &str) -> String {
        crate::testing::query_xml(
            "DescribeRules",
            &format!(
                "<Rules><member><RuleArn>arn:r-default</RuleArn><Priority>default</Priority><IsDefault>true</IsDefault><Conditions></Conditions><Actions></Actions></member><member><RuleArn>{stack_rule}</RuleArn><Priority>{tag}</Priority><IsDefault>false</IsDefault><Conditions><member><Field>path-pattern</Field><PathPatternConfig><Values><member>/backend/*</member></Values></PathPatternConfig></member></Conditions><Actions><member><Type>forward</Type><TargetGroupArn>arn:tg</TargetGroupArn></member></Actions></member></Rules>"
            ),
        )
    }

    /// The `/backend/*` rule at priority 10 on `arn:l`, forwarding to the target group whose
    /// ARN is `target_group`.
    fn admin_rule(
        target_group: &str,
    ) -> (
        std::collections::HashMap<LogicalId, Observed>,
        ListenerRuleSpec,
    ) {
        let deps = [
            Observed::new("alb.listener.80".into(), ResourceKind::Listener, "arn:l"),
            Observed::new(
                "alb.tg.admin".into(),
                ResourceKind::TargetGroup,
                target_group,
            ),
        ]
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect();
        let spec = ListenerRuleSpec {
            listener: Ref::new("alb.listener.80"),
            priority: 10,
            paths: vec!["/backend/*".into()],
            target_group: Ref::new("alb.tg.admin"),
        };
        (deps, spec)
    }

    /// CreateRule whose answer was lost, retried: AWS says PriorityInUse. The rule at that
    /// priority on the stack's own listener is the one it made, and is taken over.
    #[tokio::test]
    async fn a_rule_left_by_a_lost_answer_is_taken_over_by_its_priority() {
        use crate::testing::{Replay, context, query_error_xml};
        let aws = Replay::new([
            (
                "CreateRule",
                400,
                query_error_xml("PriorityInUse", "Priority '10' is currently in use"),
            ),
            ("DescribeRules", 200, rules_xml("10", "arn:r-10")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let (deps, spec) = admin_rule("arn:tg");
        let adopted =
            ListenerRuleSpec::create(&provider, &context(&deps), &"alb.rule.10".into(), &spec)
                .await
                .unwrap();
        assert_eq!(adopted.cloud_id, "arn:r-10");
        aws.assert_done();
    }

    /// A rule at the wanted priority that is not the one this stack makes (a hand-made rule
    /// forwarding elsewhere) is refused and left as it is, never taken over.
    #[tokio::test]
    async fn a_hand_made_rule_at_the_priority_is_refused() {
        use crate::testing::{Replay, context, query_error_xml};
        let aws = Replay::new([
            (
                "CreateRule",
                400,
                query_error_xml("PriorityInUse", "Priority '10' is currently in use"),
            ),
            ("DescribeRules", 200, rules_xml("10", "arn:r-10")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = [
            Observed::new("alb.listener.80".into(), ResourceKind::Listener, "arn:l"),
            Observed::new(
                "alb.tg.admin".into(),
                ResourceKind::TargetGroup,
                "arn:tg-admin",
            ),
        ]
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect();
        let spec = ListenerRuleSpec {
            listener: Ref::new("alb.listener.80"),
            priority: 10,
            paths: vec!["/backend/*".into()],
            target_group: Ref::new("alb.tg.admin"),
        };
        let err =
            ListenerRuleSpec::create(&provider, &context(&deps), &"alb.rule.10".into(), &spec)
                .await
                .unwrap_err();
        aws.assert_done();
        assert_eq!(err.class, mck_core::provider::ErrorClass::Invalid);
        assert!(
            err.message.contains("arn:r-10") && err.message.contains("forwarding to \"arn:tg\""),
            "{}",
            err.message
        );
        assert_eq!(aws.count("ModifyRule"), 0);
    }
}
