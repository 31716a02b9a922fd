//! Elastic Load Balancing kinds of the app tier: the ALB, a target group per app, the
//! listeners and the path rules.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, kind,
    minutes, refs,
};

/// The internet-facing Application Load Balancer `<stack>-alb` over the public subnets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancerSpec {
    /// At most 32 characters.
    pub name: String,
    /// The subnets it spans.
    pub subnets: Vec<Ref<kind::Subnet>>,
    /// Its security groups.
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    /// Seconds an idle connection stays open.
    pub idle_timeout_seconds: i64,
}

impl LoadBalancerSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `scheme`: a change replaces the resource.
    pub const SCHEME: FieldDef = FieldDef::immutable("scheme");
    /// Field `subnets`: changed in place.
    pub const SUBNETS: FieldDef = FieldDef::mutable("subnets");
    /// Field `security_groups`: changed in place.
    pub const SECURITY_GROUPS: FieldDef = FieldDef::mutable("security_groups");
    /// Field `idle_timeout`: changed in place.
    pub const IDLE_TIMEOUT: FieldDef = FieldDef::mutable("idle_timeout");
    /// Output `dns_name`.
    pub const OUT_DNS_NAME: &str = "dns_name";
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
    /// Output `arn_suffix`: `app/<name>/<id>`, the `LoadBalancer` dimension of its metrics.
    pub const OUT_ARN_SUFFIX: &str = "arn_suffix";

    /// The part of an ARN after `:loadbalancer/` ([`Self::OUT_ARN_SUFFIX`]).
    pub fn arn_suffix(arn: &str) -> &str {
        arn.split_once(":loadbalancer/").map_or(arn, |(_, s)| s)
    }
}

impl Kind for LoadBalancerSpec {
    const REFERENCES: &'static [ResourceKind] =
        &[ResourceKind::Subnet, ResourceKind::SecurityGroup];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] =
        &[Self::OUT_DNS_NAME, Self::OUT_ARN, Self::OUT_ARN_SUFFIX];
    // An ALB is active in about three minutes.
    const TIMEOUT: Duration = minutes(15);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::SCHEME.of("internet-facing"),
            Self::SUBNETS.of(refs(&self.subnets)),
            Self::SECURITY_GROUPS.of(refs(&self.security_groups)),
            Self::IDLE_TIMEOUT.of(self.idle_timeout_seconds),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// The target group of one app, `<stack>-<app>`: its tasks register by IP (awsvpc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetGroupSpec {
    /// At most 32 characters.
    pub name: String,
    /// The VPC.
    pub vpc: Ref<kind::Vpc>,
    /// The port.
    pub port: i64,
    /// The HTTP path the load balancer checks.
    pub health_check_path: String,
    /// Seconds a deregistered target keeps serving open connections.
    pub deregistration_delay_seconds: i64,
}

impl TargetGroupSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `vpc_id`: a change replaces the resource.
    pub const VPC_ID: FieldDef = FieldDef::immutable("vpc_id");
    /// Field `port`: a change replaces the resource.
    pub const PORT: FieldDef = FieldDef::immutable("port");
    /// Field `protocol`: a change replaces the resource.
    pub const PROTOCOL: FieldDef = FieldDef::immutable("protocol");
    /// Field `target_type`: a change replaces the resource.
    pub const TARGET_TYPE: FieldDef = FieldDef::immutable("target_type");
    /// Field `health_check_path`: changed in place.
    pub const HEALTH_CHECK_PATH: FieldDef = FieldDef::mutable("health_check_path");
    /// Field `deregistration_delay`: changed in place.
    pub const DEREGISTRATION_DELAY: FieldDef = FieldDef::mutable("deregistration_delay");
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
    /// Output `arn_suffix`: `targetgroup/<name>/<id>`, the `TargetGroup` dimension of the load
    /// balancer's metrics.
    pub const OUT_ARN_SUFFIX: &str = "arn_suffix";

    /// The part of an ARN after its last `:` ([`Self::OUT_ARN_SUFFIX`]).
    pub fn arn_suffix(arn: &str) -> &str {
        arn.rsplit_once(':').map_or(arn, |(_, s)| s)
    }
}

impl Kind for TargetGroupSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::Vpc];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ARN, Self::OUT_ARN_SUFFIX];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::VPC_ID.of(self.vpc.value()),
            Self::PORT.of(self.port),
            Self::PROTOCOL.of("HTTP"),
            Self::TARGET_TYPE.of("ip"),
            Self::HEALTH_CHECK_PATH.of(self.health_check_path.as_str()),
            Self::DEREGISTRATION_DELAY.of(self.deregistration_delay_seconds),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// What a listener does with a request no rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenerDefault {
    /// Forward to the default app's target group.
    Forward(Ref<kind::TargetGroup>),
    /// Answer with a permanent redirect to HTTPS on port 443 (port 80 when a certificate is set).
    RedirectToHttps,
}

/// A listener of the stack's ALB: port 80 (HTTP), and port 443 (HTTPS, with the stack's
/// certificate and TLS policy) when a certificate is set. Owned by being on the stack's load
/// balancer; its id is `alb.listener.<port>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerSpec {
    /// The load balancer.
    pub load_balancer: Ref<kind::LoadBalancer>,
    /// The port.
    pub port: i64,
    /// Set for HTTPS listeners.
    pub certificate_arn: Option<String>,
    /// What requests no rule matches get.
    pub default_action: ListenerDefault,
}

impl ListenerSpec {
    /// Field `load_balancer_arn`: a change replaces the resource.
    pub const LOAD_BALANCER_ARN: FieldDef = FieldDef::immutable("load_balancer_arn");
    /// Field `port`: a change replaces the resource.
    pub const PORT: FieldDef = FieldDef::immutable("port");
    /// Field `protocol`: a change replaces the resource.
    pub const PROTOCOL: FieldDef = FieldDef::immutable("protocol");
    /// Field `default_target_group_arn`: changed in place.
    pub const DEFAULT_TARGET_GROUP_ARN: FieldDef = FieldDef::mutable("default_target_group_arn");
    /// `HTTPS:443 (HTTP_301)` for a redirect, else null.
    pub const REDIRECT: FieldDef = FieldDef::mutable("redirect");
    /// Field `certificate_arn`: changed in place.
    pub const CERTIFICATE_ARN: FieldDef = FieldDef::mutable("certificate_arn");
    /// Field `ssl_policy`: changed in place.
    pub const SSL_POLICY: FieldDef = FieldDef::mutable("ssl_policy");
    /// TLS 1.3 and 1.2 only, forward secrecy: AWS's recommended policy.
    pub const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";
    /// The redirect of plain HTTP, as [`Self::REDIRECT`] holds it.
    pub const HTTPS_REDIRECT: &str = "HTTPS:443 (HTTP_301)";

    /// The logical id of the listener on `port`.
    pub fn logical_id(port: i64) -> LogicalId {
        LogicalId::new(format!("alb.listener.{port}"))
    }
}

impl Kind for ListenerSpec {
    const REFERENCES: &'static [ResourceKind] =
        &[ResourceKind::LoadBalancer, ResourceKind::TargetGroup];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        let (target_group, redirect) = match &self.default_action {
            ListenerDefault::Forward(tg) => (tg.value(), super::Value::Null),
            ListenerDefault::RedirectToHttps => {
                (super::Value::Null, super::Value::from(Self::HTTPS_REDIRECT))
            }
        };
        let https = self.certificate_arn.is_some();
        vec![
            Self::LOAD_BALANCER_ARN.of(self.load_balancer.value()),
            Self::PORT.of(self.port),
            Self::PROTOCOL.of(if https { "HTTPS" } else { "HTTP" }),
            Self::DEFAULT_TARGET_GROUP_ARN.of(target_group),
            Self::REDIRECT.of(redirect),
            Self::CERTIFICATE_ARN.of(self.certificate_arn.clone()),
            Self::SSL_POLICY.of(https.then_some(Self::TLS_POLICY)),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// A listener rule: requests whose path matches go to an app other than the default one.
/// Owned by being on the stack's listener; its id is `alb.rule.<priority>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerRuleSpec {
    /// The listener.
    pub listener: Ref<kind::Listener>,
    /// Rule priority (lower first).
    pub priority: i64,
    /// Path patterns it matches.
    pub paths: Vec<String>,
    /// The target group.
    pub target_group: Ref<kind::TargetGroup>,
}

impl ListenerRuleSpec {
    /// Field `listener_arn`: a change replaces the resource.
    pub const LISTENER_ARN: FieldDef = FieldDef::immutable("listener_arn");
    /// Field `priority`: a change replaces the resource.
    pub const PRIORITY: FieldDef = FieldDef::immutable("priority");
    /// Field `path_patterns`: changed in place.
    pub const PATH_PATTERNS: FieldDef = FieldDef::mutable("path_patterns");
    /// Field `target_group_arn`: changed in place.
    pub const TARGET_GROUP_ARN: FieldDef = FieldDef::mutable("target_group_arn");

    /// The logical id of the rule with `priority`.
    pub fn logical_id(priority: i64) -> LogicalId {
        LogicalId::new(format!("alb.rule.{priority}"))
    }
}

impl Kind for ListenerRuleSpec {
    const REFERENCES: &'static [ResourceKind] =
        &[ResourceKind::Listener, ResourceKind::TargetGroup];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        let mut paths: Vec<super::Value> = self
            .paths
            .iter()
            .map(|p| super::Value::Str(p.clone()))
            .collect();
        paths.sort();
        vec![
            Self::LISTENER_ARN.of(self.listener.value()),
            Self::PRIORITY.of(self.priority),
            Self::PATH_PATTERNS.of(super::Value::List(paths)),
            Self::TARGET_GROUP_ARN.of(self.target_group.value()),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
