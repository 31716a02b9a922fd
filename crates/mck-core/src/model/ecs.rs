//! ECS kinds of the app tier: the cluster.

use std::time::Duration;

use super::{Field, FieldDef, Kind, LogicalId, ReplacePolicy, ResourceKind, minutes};

/// The ECS cluster `<stack>-app`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsClusterSpec {
    pub name: String,
    pub container_insights: bool,
}

impl EcsClusterSpec {
    pub const NAME: FieldDef = FieldDef::immutable("name");
    pub const CONTAINER_INSIGHTS: FieldDef = FieldDef::mutable("container_insights");
    pub const OUT_NAME: &str = "name";
    pub const OUT_ARN: &str = "arn";
}

impl Kind for EcsClusterSpec {
    const REFERENCES: &'static [ResourceKind] = &[];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_NAME, Self::OUT_ARN];
    const TIMEOUT: Duration = minutes(10);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::CONTAINER_INSIGHTS.of(self.container_insights),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
