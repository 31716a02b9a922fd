//! The listeners of the stack's ALB: HTTP on 80 forwarding to the default app's target group,
//! or, with a certificate, HTTPS on 443 forwarding (TLS policy
//! `ELBSecurityPolicy-TLS13-1-2-2021-06`) and 80 redirecting to it. Listeners belong to the
//! stack by being on its load balancer: `alb.listener.<port>`.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, Listener, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum,
};
use mck_core::model::{ListenerDefault, ListenerSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::forward;
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

pub(super) fn observe(listener: &Listener) -> Option<Observed> {
    let port = i64::from(listener.port()?);
    let forward = listener
        .default_actions()
        .iter()
        .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
        .and_then(|a| a.target_group_arn());
    let redirect = listener
        .default_actions()
        .iter()
        .find(|a| a.r#type() == Some(&ActionTypeEnum::Redirect))
        .and_then(|a| a.redirect_config())
        .map(|r| {
            format!(
                "{}:{} ({})",
                r.protocol().unwrap_or("#{protocol}"),
                r.port().unwrap_or("#{port}"),
                r.status_code().map_or("", |c| c.as_str())
            )
        });
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
        )
        .with(
            ListenerSpec::REDIRECT,
            redirect.map_or(Value::Null, Value::Str),
        )
        .with(
            ListenerSpec::CERTIFICATE_ARN,
            listener
                .certificates()
                .first()
                .and_then(|c| c.certificate_arn())
                .map(str::to_string),
        )
        .with(
            ListenerSpec::SSL_POLICY,
            // Only TLS listeners have one (the emulator reports a default on HTTP too).
            listener
                .ssl_policy()
                .filter(|_| listener.protocol() == Some(&ProtocolEnum::Https))
                .map(str::to_string),
        ),
    )
}

/// The listeners of one of the stack's load balancers.
pub(super) async fn read(elb: &Client, lb: &Observed) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = elb
        .describe_listeners()
        .load_balancer_arn(&lb.cloud_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk(&format!("list listeners of {}", lb.id), e))?;
        out.extend(page.listeners().iter().filter_map(observe));
    }
    Ok(out)
}

/// The listener's default action: forward to a target group or redirect to HTTPS.
fn default_action(ctx: &Context<'_>, spec: &ListenerSpec) -> Result<Action, ProviderError> {
    Ok(match &spec.default_action {
        ListenerDefault::Forward(tg) => forward(ctx.cloud_id(tg.id())?),
        ListenerDefault::RedirectToHttps => Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                RedirectActionConfig::builder()
                    .protocol("HTTPS")
                    .port("443")
                    .status_code(RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build(),
    })
}

fn certificates(spec: &ListenerSpec) -> Option<Vec<Certificate>> {
    spec.certificate_arn
        .as_ref()
        .map(|arn| vec![Certificate::builder().certificate_arn(arn).build()])
}

impl Driver for ListenerSpec {
    const READ_BY: ServiceRead = ServiceRead::Elbv2;

    /// A listener on the port already (a create whose answer was lost) is taken over: the
    /// port is its identity on the stack's own load balancer.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let elb = &aws.clients.elbv2;
        let lb = ctx.cloud_id(spec.load_balancer.id())?;
        let action = default_action(ctx, spec)?;
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
            .port(crate::int32(spec.port, "port")?)
            .protocol(if spec.certificate_arn.is_some() {
                ProtocolEnum::Https
            } else {
                ProtocolEnum::Http
            })
            .set_certificates(certificates(spec))
            .set_ssl_policy(
                spec.certificate_arn
                    .as_ref()
                    .map(|_| ListenerSpec::TLS_POLICY.to_string()),
            )
            .default_actions(action)
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
        // One call sets the default action, the certificate and the TLS policy together.
        let out = aws
            .clients
            .elbv2
            .modify_listener()
            .listener_arn(&live.cloud_id)
            .default_actions(default_action(ctx, spec)?)
            .set_certificates(certificates(spec))
            .set_ssl_policy(
                spec.certificate_arn
                    .as_ref()
                    .map(|_| ListenerSpec::TLS_POLICY.to_string()),
            )
            .send()
            .await
            .map_err(|e| sdk(&format!("modify listener {}", live.id), e))?;
        Ok(out
            .listeners()
            .first()
            .and_then(observe)
            .unwrap_or_else(|| live.clone()))
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        aws.clients
            .elbv2
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
            .clients
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
            certificate_arn: None,
            default_action: ListenerDefault::Forward(Ref::new("alb.tg.frontend")),
        };
        assert_reads(
            &observed,
            spec,
            &[("alb", "arn:lb"), ("alb.tg.frontend", "arn:tg")],
        );
    }

    const CERT: &str = "arn:aws:acm:us-east-1:1:certificate/abc";

    #[test]
    fn reads_https_with_its_certificate_and_policy_and_the_redirect_of_http() {
        let https = Listener::builder()
            .listener_arn("arn:l443")
            .load_balancer_arn("arn:lb")
            .port(443)
            .protocol(ProtocolEnum::Https)
            .certificates(Certificate::builder().certificate_arn(CERT).build())
            .ssl_policy(ListenerSpec::TLS_POLICY)
            .default_actions(forward("arn:tg"))
            .build();
        assert_reads(
            &observe(&https).unwrap(),
            ListenerSpec {
                load_balancer: Ref::new("alb"),
                port: 443,
                certificate_arn: Some(CERT.into()),
                default_action: ListenerDefault::Forward(Ref::new("alb.tg.frontend")),
            },
            &[("alb", "arn:lb"), ("alb.tg.frontend", "arn:tg")],
        );
        let redirect = Listener::builder()
            .listener_arn("arn:l80")
            .load_balancer_arn("arn:lb")
            .port(80)
            .protocol(ProtocolEnum::Http)
            .ssl_policy("ELBSecurityPolicy-2016-08")
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Redirect)
                    .redirect_config(
                        RedirectActionConfig::builder()
                            .protocol("HTTPS")
                            .port("443")
                            .status_code(RedirectActionStatusCodeEnum::Http301)
                            .build(),
                    )
                    .build(),
            )
            .build();
        assert_reads(
            &observe(&redirect).unwrap(),
            ListenerSpec {
                load_balancer: Ref::new("alb"),
                port: 80,
                certificate_arn: None,
                default_action: ListenerDefault::RedirectToHttps,
            },
            &[("alb", "arn:lb")],
        );
    }

    /// Adding a certificate to a stack turns port 80 into a redirect with one ModifyListener:
    /// the redirect action, no certificate, no TLS policy.
    #[tokio::test]
    async fn turning_http_into_a_redirect_is_one_modify_call() {
        use crate::testing::{Replay, context, query_xml};
        let aws = Replay::new([(
            "ModifyListener",
            200,
            query_xml("ModifyListener", "<Listeners></Listeners>"),
        )]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = Default::default();
        let spec = ListenerSpec {
            load_balancer: Ref::new("alb"),
            port: 80,
            certificate_arn: None,
            default_action: ListenerDefault::RedirectToHttps,
        };
        let live = Observed::new("alb.listener.80".into(), ResourceKind::Listener, "arn:l80");
        ListenerSpec::update(
            &provider,
            &context(&deps),
            &spec,
            &live,
            &[ListenerSpec::REDIRECT.name],
        )
        .await
        .unwrap();
        aws.assert_done();
        let (_, body) = &aws.requests()[0];
        for part in [
            "DefaultActions.member.1.Type=redirect",
            "DefaultActions.member.1.RedirectConfig.Protocol=HTTPS",
            "DefaultActions.member.1.RedirectConfig.Port=443",
            "DefaultActions.member.1.RedirectConfig.StatusCode=HTTP_301",
        ] {
            assert!(body.contains(part), "{part} not in {body}");
        }
        assert!(!body.contains("Certificates"), "{body}");
    }
}
