//! Auto Scaling kinds of the app tier: the app servers' group.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, kind,
    minutes, refs,
};

/// The app servers, `<stack>-app-servers`: an Auto Scaling group over the private subnets,
/// launching the default version of the launch template. ECS scales it through the capacity
/// provider (managed scaling), between `min` and `max`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoScalingGroupSpec {
    /// The AWS name.
    pub name: String,
    /// Fewest instances.
    pub min_size: i64,
    /// Most instances.
    pub max_size: i64,
    /// The subnets it spans.
    pub subnets: Vec<Ref<kind::Subnet>>,
    /// The launch template its instances start from.
    pub launch_template: Ref<kind::LaunchTemplate>,
    /// Ordering only: the servers need a way out (the NAT routes) to join the cluster.
    pub after: Vec<(ResourceKind, LogicalId)>,
}

impl AutoScalingGroupSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `min_size`: changed in place.
    pub const MIN_SIZE: FieldDef = FieldDef::mutable("min_size");
    /// Field `max_size`: changed in place.
    pub const MAX_SIZE: FieldDef = FieldDef::mutable("max_size");
    /// Field `subnets`: changed in place.
    pub const SUBNETS: FieldDef = FieldDef::mutable("subnets");
    /// `[template, version]`; the version is always `$Default`.
    pub const LAUNCH_TEMPLATE: FieldDef = FieldDef::mutable("launch_template");
    /// Output `name`.
    pub const OUT_NAME: &str = "name";
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
    /// The template version the group launches.
    pub const TEMPLATE_VERSION: &str = "$Default";
}

impl Kind for AutoScalingGroupSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::Subnet,
        ResourceKind::Route,
        ResourceKind::LaunchTemplate,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_NAME, Self::OUT_ARN];
    // Deleting a group terminates its instances first: several minutes.
    const TIMEOUT: Duration = minutes(15);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::MIN_SIZE.of(self.min_size),
            Self::MAX_SIZE.of(self.max_size),
            Self::SUBNETS.of(refs(&self.subnets)),
            Self::LAUNCH_TEMPLATE.of(self.launch_template.value()),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        self.after.clone()
    }
}
