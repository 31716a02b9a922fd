//! Application Auto Scaling kinds: an app's service as a scalable target and its
//! target-tracking policy. Both are owned by their resource id, `service/<stack>-app/<app>`
//! (the stack's cluster), as log groups are by their name.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, Value,
    kind, minutes,
};

/// An app's ECS service registered with Application Auto Scaling between `min` and `max`
/// tasks. While a rollout runs, the service's driver suspends its scale-in and resumes it when
/// the rollout ends, also when it failed; a run killed in between leaves it suspended, which
/// the next plan shows and `up` resumes ([`Self::SCALE_IN_SUSPENDED`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalableTargetSpec {
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// Fewest tasks.
    pub min: i64,
    /// Most tasks.
    pub max: i64,
    /// Ordering only: the service must exist before it is registered.
    pub service: (ResourceKind, LogicalId),
}

impl ScalableTargetSpec {
    /// Field `resource_id`: a change replaces the resource.
    pub const RESOURCE_ID: FieldDef = FieldDef::immutable("resource_id");
    /// Field `min_capacity`: changed in place.
    pub const MIN: FieldDef = FieldDef::mutable("min_capacity");
    /// Field `max_capacity`: changed in place.
    pub const MAX: FieldDef = FieldDef::mutable("max_capacity");
    /// Field `scale_in_suspended`: `false` except during a rollout.
    pub const SCALE_IN_SUSPENDED: FieldDef = FieldDef::mutable("scale_in_suspended");

    /// `service/<cluster>/<service>`.
    pub fn resource_id(cluster: &str, service: &str) -> String {
        format!("service/{cluster}/{service}")
    }

    /// The prefix of every resource id of the stack's cluster `cluster`.
    pub fn prefix(cluster: &str) -> String {
        format!("service/{cluster}/")
    }

    /// `scaling.<app>`.
    pub fn logical_id(app: &str) -> LogicalId {
        LogicalId::new(format!("scaling.{app}"))
    }
}

impl Kind for ScalableTargetSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::EcsService];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    // RegisterScalableTarget creates or updates the target of the resource id.
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::RESOURCE_ID.of(self.resource_id.as_str()),
            Self::MIN.of(self.min),
            Self::MAX.of(self.max),
            Self::SCALE_IN_SUSPENDED.of(false),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        vec![self.service.clone()]
    }
}

/// What a target-tracking policy holds at its target value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScalingMetric {
    /// Requests per task a minute, from the ALB (`ALBRequestCountPerTarget`), labelled with
    /// the load balancer's and the target group's ARN suffixes.
    RequestsPerTarget {
        /// The ALB.
        load_balancer: Ref<kind::LoadBalancer>,
        /// The app's target group.
        target_group: Ref<kind::TargetGroup>,
    },
    /// The service's average CPU, percent (`ECSServiceAverageCPUUtilization`).
    Cpu,
}

/// A target-tracking policy `<app>-target-tracking` on an app's scalable target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalingPolicySpec {
    /// The policy's name.
    pub name: String,
    /// The scalable target's resource id.
    pub resource_id: String,
    /// What it tracks.
    pub metric: ScalingMetric,
    /// The value it holds the metric at.
    pub target_value: i64,
    /// Seconds after a scale-in before the next.
    pub scale_in_cooldown: i64,
    /// Seconds after a scale-out before the next.
    pub scale_out_cooldown: i64,
    /// Ordering only: its scalable target.
    pub target: Ref<kind::ScalableTarget>,
}

impl ScalingPolicySpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `resource_id`: a change replaces the resource.
    pub const RESOURCE_ID: FieldDef = FieldDef::immutable("resource_id");
    /// Field `metric`: `[predefined metric, load balancer suffix, target group suffix]`.
    pub const METRIC: FieldDef = FieldDef::mutable("metric");
    /// Field `target_value`: changed in place.
    pub const TARGET_VALUE: FieldDef = FieldDef::mutable("target_value");
    /// Field `cooldowns`: `[scale in, scale out]` seconds.
    pub const COOLDOWNS: FieldDef = FieldDef::mutable("cooldowns");
    /// `ALBRequestCountPerTarget`.
    pub const REQUESTS_PER_TARGET: &str = "ALBRequestCountPerTarget";
    /// `ECSServiceAverageCPUUtilization`.
    pub const CPU: &str = "ECSServiceAverageCPUUtilization";

    /// `scaling.<app>.policy`.
    pub fn logical_id(app: &str) -> LogicalId {
        LogicalId::new(format!("scaling.{app}.policy"))
    }

    /// The predefined metric's resource label: `app/<lb>/<id>/targetgroup/<tg>/<id>`.
    pub fn resource_label(load_balancer_suffix: &str, target_group_suffix: &str) -> String {
        format!("{load_balancer_suffix}/{target_group_suffix}")
    }

    /// The metric as [`Self::METRIC`] holds it, from a predefined metric and its label.
    pub fn metric_row(metric: &str, label: Option<&str>) -> Value {
        match label.and_then(|l| l.split_once("/targetgroup/")) {
            Some((lb, tg)) => Value::List(vec![
                Value::from(metric),
                Value::from(lb),
                Value::from(format!("targetgroup/{tg}")),
            ]),
            None => Value::List(vec![Value::from(metric)]),
        }
    }
}

impl Kind for ScalingPolicySpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::TargetGroup,
        ResourceKind::LoadBalancer,
        ResourceKind::ScalableTarget,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    // PutScalingPolicy creates or replaces the policy of the name.
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::RESOURCE_ID.of(self.resource_id.as_str()),
            Self::METRIC.of(match &self.metric {
                ScalingMetric::RequestsPerTarget {
                    load_balancer,
                    target_group,
                } => Value::List(vec![
                    Value::from(Self::REQUESTS_PER_TARGET),
                    load_balancer.output(super::LoadBalancerSpec::OUT_ARN_SUFFIX),
                    target_group.output(super::TargetGroupSpec::OUT_ARN_SUFFIX),
                ]),
                ScalingMetric::Cpu => Value::List(vec![Value::from(Self::CPU)]),
            }),
            Self::TARGET_VALUE.of(self.target_value),
            Self::COOLDOWNS.of(Value::List(vec![
                Value::Int(self.scale_in_cooldown),
                Value::Int(self.scale_out_cooldown),
            ])),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        vec![(ResourceKind::ScalableTarget, self.target.id().clone())]
    }
}
