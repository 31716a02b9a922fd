//! CloudWatch kinds of the alarms: metric alarms and the stack's dashboard.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, Value,
    kind, minutes,
};

/// One metric an alarm watches: alone, or as a term of [`AlarmSpec::expression`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmMetric {
    /// Its id in the alarm (`m1`), which an expression names.
    pub id: String,
    /// e.g. `AWS/RDS`.
    pub namespace: String,
    /// e.g. `CPUUtilization`.
    pub name: String,
    /// `Average`, `Sum`, `Minimum`, `Maximum`.
    pub stat: String,
    /// Dimension name and value (a text, or an output of another resource: a load balancer's
    /// ARN suffix), in name order.
    pub dimensions: Vec<(String, Value)>,
}

impl AlarmMetric {
    /// The metric as [`AlarmSpec::METRICS`] holds it: `[id, namespace, name, stat, dimension,
    /// value, …]`.
    pub fn row(&self) -> Value {
        let mut row = vec![
            Value::from(self.id.as_str()),
            Value::from(self.namespace.as_str()),
            Value::from(self.name.as_str()),
            Value::from(self.stat.as_str()),
        ];
        for (name, value) in &self.dimensions {
            row.push(Value::from(name.as_str()));
            row.push(value.clone());
        }
        Value::List(row)
    }
}

/// A metric alarm `mck/<stack>/<what>` notifying the stack's topic when it fires and when it
/// clears. `PutMetricAlarm` creates or replaces the alarm of the name: the name is the identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmSpec {
    /// The AWS name.
    pub name: String,
    /// What it means, for the person it pages.
    pub description: String,
    /// One metric, or the terms of [`Self::expression`].
    pub metrics: Vec<AlarmMetric>,
    /// Metric math over the metrics' ids (`100 * m1 / m2`); `None`: the one metric itself.
    pub expression: Option<String>,
    /// Seconds per datapoint.
    pub period: i64,
    /// `GreaterThanThreshold`, `LessThanThreshold`, `GreaterThanOrEqualToThreshold`…
    pub comparison: String,
    /// The threshold (whole units of the metric: percent, count, bytes, milliseconds).
    pub threshold: i64,
    /// Datapoints looked at…
    pub evaluation_periods: i64,
    /// …of which this many must breach.
    pub datapoints_to_alarm: i64,
    /// `missing`, `notBreaching`, `breaching`, `ignore`.
    pub treat_missing_data: String,
    /// Notified on ALARM and on OK.
    pub actions: Vec<Ref<kind::Topic>>,
}

impl AlarmSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `description`: changed in place.
    pub const DESCRIPTION: FieldDef = FieldDef::mutable("description");
    /// Field `metrics`: rows `[id, namespace, name, stat, dimension, value, …]`.
    pub const METRICS: FieldDef = FieldDef::mutable("metrics");
    /// Field `expression`: changed in place.
    pub const EXPRESSION: FieldDef = FieldDef::mutable("expression");
    /// Field `period`: changed in place.
    pub const PERIOD: FieldDef = FieldDef::mutable("period");
    /// Field `comparison`: changed in place.
    pub const COMPARISON: FieldDef = FieldDef::mutable("comparison");
    /// Field `threshold`: changed in place.
    pub const THRESHOLD: FieldDef = FieldDef::mutable("threshold");
    /// Field `evaluation_periods`: changed in place.
    pub const EVALUATION_PERIODS: FieldDef = FieldDef::mutable("evaluation_periods");
    /// Field `datapoints_to_alarm`: changed in place.
    pub const DATAPOINTS_TO_ALARM: FieldDef = FieldDef::mutable("datapoints_to_alarm");
    /// Field `treat_missing_data`: changed in place.
    pub const TREAT_MISSING_DATA: FieldDef = FieldDef::mutable("treat_missing_data");
    /// Field `actions`: changed in place.
    pub const ACTIONS: FieldDef = FieldDef::mutable("actions");
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
    /// Output `name`.
    pub const OUT_NAME: &str = "name";

    /// `mck/<stack>/`: every alarm of the stack starts so (stack names contain no `/`).
    pub fn prefix(stack: &str) -> String {
        format!("mck/{stack}/")
    }

    /// `alarm.<what>` for `mck/<stack>/<what>`.
    pub fn logical_id(what: &str) -> LogicalId {
        LogicalId::new(format!("alarm.{what}"))
    }
}

impl Kind for AlarmSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::SearchDomain,
        ResourceKind::Topic,
        ResourceKind::TargetGroup,
        ResourceKind::LoadBalancer,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ARN, Self::OUT_NAME];
    const TIMEOUT: Duration = minutes(2);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        let mut metrics: Vec<Value> = self.metrics.iter().map(AlarmMetric::row).collect();
        metrics.sort();
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::DESCRIPTION.of(self.description.as_str()),
            Self::METRICS.of(Value::List(metrics)),
            Self::EXPRESSION.of(self.expression.clone()),
            Self::PERIOD.of(self.period),
            Self::COMPARISON.of(self.comparison.as_str()),
            Self::THRESHOLD.of(self.threshold),
            Self::EVALUATION_PERIODS.of(self.evaluation_periods),
            Self::DATAPOINTS_TO_ALARM.of(self.datapoints_to_alarm),
            Self::TREAT_MISSING_DATA.of(self.treat_missing_data.as_str()),
            Self::ACTIONS.of(super::refs(&self.actions)),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// The stack's dashboard `mck-<stack>`: one graph per alarm, each showing the alarm's metric
/// and threshold. Dashboards cannot be tagged; the name is the identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardSpec {
    /// The AWS name.
    pub name: String,
    /// The alarms it graphs, in display order.
    pub alarms: Vec<Ref<kind::Alarm>>,
}

impl DashboardSpec {
    /// The logical id.
    pub const ID: &str = "alarms.dashboard";
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `alarms`: the graphed alarms' ARNs, in order.
    pub const ALARMS: FieldDef = FieldDef::mutable("alarms");
    /// Output `name`.
    pub const OUT_NAME: &str = "name";

    /// `mck-<stack>` (dashboard names allow letters, digits, `-` and `_`).
    pub fn name(stack: &str) -> String {
        format!("mck-{stack}")
    }
}

impl Kind for DashboardSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::Alarm];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_NAME];
    const TIMEOUT: Duration = minutes(2);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    // PutDashboard creates or replaces the dashboard of the name.
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::ALARMS.of(Value::List(vec![Value::List(
                self.alarms
                    .iter()
                    .map(|a| a.output(AlarmSpec::OUT_ARN))
                    .collect(),
            )])),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
