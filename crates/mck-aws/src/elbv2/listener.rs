//! The HTTP listener of the stack's ALB, forwarding to the default app's target group.
//! Listeners belong to the stack by being on its load balancer: `alb.listener.<port>`.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, Listener, ProtocolEnum};
use mck_core::model::{ListenerSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::Driver;
use crate::error::sdk;

pub(super) fn observe(listener: &Listener) -> Option<Observed> {
    let port = i64::from(listener.port()?);
    let forward = listener
        .default_actions()
        .iter()
        .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
        .and_then(|a| a.target_group_arn());
    Some(
        Observed::new(
            ListenerSpec::logical_id(port),
            ResourceKind::Listener,
            listener.listener_arn().unwrap_or_default(),
        )
        .with(
            ListenerSpec::LOAD_BALANCER_ARN,
            Value::CloudId(listener.load_balancer_arn().unwrap_or_default().to_string()),
        )
        .with(ListenerSpec::PORT, port)
        .with(
            ListenerSpec::PROTOCOL,
            listener.protocol().map(|p| p.as_str().to_string()),
        )
        .with(
            ListenerSpec::DEFAULT_TARGET_GROUP_ARN,
            forward.map_or(Value::Null, |arn| Value::CloudId(arn.to_string())),
        ),
    )
}

/// The listeners of one of the stack's load balancers.
pub(super) async fn read(elb: &Client, lb: &Observed) -> Result<Vec<Observed>, ProviderError> {
    let out = elb
        .describe_listeners()
        .load_balancer_arn(&lb.cloud_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("list listeners of {}", lb.id), e))?;
    Ok(out.listeners().iter().filter_map(observe).collect())
}

fn forward(target_group: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(target_group)
        .build()
}

impl Driver for ListenerSpec {
    /// A listener on the port already (a create whose answer was lost) is taken over: the
    /// port is its identity on the stack's own load balancer.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let elb = &aws.elbv2;
        let lb = ctx.cloud_id(spec.load_balancer.id())?;
        let target_group = ctx.cloud_id(spec.target_group.id())?;
        let existing = elb
            .describe_listeners()
            .load_balancer_arn(lb)
            .send()
            .await
            .map_err(|e| sdk(&format!("list listeners of {lb}"), e))?;
        if let Some(listener) = existing
            .listeners()
            .iter()
            .find(|l| l.port().map(i64::from) == Some(spec.port))
        {
            return observe(listener)
                .ok_or_else(|| ProviderError::invalid("listener without a port"));
        }
        let out = elb
            .create_listener()
            .load_balancer_arn(lb)
            .port(i32::try_from(spec.port).unwrap_or(80))
            .protocol(ProtocolEnum::Http)
            .default_actions(forward(target_group))
            .send()
            .await
            .map_err(|e| sdk(&format!("create listener {id}"), e))?;
        out.listeners()
            .first()
            .and_then(observe)
            .ok_or_else(|| ProviderError::invalid("create listener returned nothing"))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let target_group = ctx.cloud_id(spec.target_group.id())?;
        aws.elbv2
            .modify_listener()
            .listener_arn(&live.cloud_id)
            .default_actions(forward(target_group))
            .send()
            .await
            .map_err(|e| sdk(&format!("point {} at {target_group}", live.id), e))?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        aws.elbv2
            .delete_listener()
            .listener_arn(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete listener {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        match aws
            .elbv2
            .describe_listeners()
            .listener_arns(&live.cloud_id)
            .send()
            .await
        {
            Ok(out) => Ok(match out.listeners().first().and_then(observe) {
                Some(o) => Readiness::Ready(o),
                None => Readiness::Gone,
            }),
            Err(e) if e.code() == Some("ListenerNotFound") => Ok(Readiness::Gone),
            Err(e) => Err(sdk(&format!("describe listener {}", live.id), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_port_and_forward_target() {
        let listener = Listener::builder()
            .listener_arn("arn:l")
            .load_balancer_arn("arn:lb")
            .port(80)
            .protocol(ProtocolEnum::Http)
            .default_actions(forward("arn:tg"))
            .build();
        let observed = observe(&listener).unwrap();
        assert_eq!(observed.id.as_str(), "alb.listener.80");
        let spec = ListenerSpec {
            load_balancer: Ref::new("alb"),
            port: 80,
            target_group: Ref::new("alb.tg.frontend"),
        };
        assert_reads(
            &observed,
            spec,
            &[("alb", "arn:lb"), ("alb.tg.frontend", "arn:tg")],
        );
    }
}
