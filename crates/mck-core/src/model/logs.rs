//! CloudWatch Logs kinds of the app tier: one log group per app.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, RepeatedCreate, ReplacePolicy, ResourceKind, minutes,
};

/// A log group `/mck/<stack>/<app>`; the stack owns it by its name (stack names contain no `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGroupSpec {
    /// The AWS name.
    pub name: String,
    /// Days log events are kept.
    pub retention_days: i64,
}

impl LogGroupSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `retention_in_days`: changed in place.
    pub const RETENTION_IN_DAYS: FieldDef = FieldDef::mutable("retention_in_days");
    /// Output `name`.
    pub const OUT_NAME: &str = "name";

    /// `/mck/<stack>/`: every log group of the stack starts so.
    pub fn prefix(stack: &str) -> String {
        format!("/mck/{stack}/")
    }

    /// `logs.<app>` for `/mck/<stack>/<app>`.
    pub fn logical_id(app: &str) -> LogicalId {
        LogicalId::new(format!("logs.{app}"))
    }
}

impl Kind for LogGroupSpec {
    const REFERENCES: &'static [ResourceKind] = &[];
    // Logs are records, but not the stack's data: a log group is replaced without a guard.
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_NAME];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::RETENTION_IN_DAYS.of(self.retention_days),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
