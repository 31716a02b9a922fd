//! IAM kinds of the app tier: the roles ECS tasks and app servers run with, and the app
//! servers' instance profile.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, RepeatedCreate, ReplacePolicy, ResourceKind, Value, minutes,
};

/// An IAM role `<stack>-<name>` under the path `/mck/<stack>/`, by which the stack owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleSpec {
    /// `<stack>-<name>`, at most 64 characters.
    pub name: String,
    /// The description AWS shows.
    pub description: String,
    /// The service that assumes the role (`ecs-tasks.amazonaws.com`).
    pub service: String,
    /// AWS managed policies attached to the role, by ARN.
    pub managed_policies: Vec<String>,
    /// Secrets the role may read (`secretsmanager:GetSecretValue` on exactly these ARNs),
    /// usually an output of the database (its managed secret).
    pub secrets: Vec<Value>,
    /// ECS Exec into the role's tasks (`mck exec`, `mck tunnel`): the inline policy
    /// [`Self::EXEC_POLICY`] grants the Session Manager channels the ECS agent opens.
    pub exec: bool,
}

impl RoleSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `description`: changed in place.
    pub const DESCRIPTION: FieldDef = FieldDef::mutable("description");
    /// Field `service`: a change replaces the resource.
    pub const SERVICE: FieldDef = FieldDef::immutable("service");
    /// Field `managed_policy_arns`: changed in place.
    pub const MANAGED_POLICY_ARNS: FieldDef = FieldDef::mutable("managed_policy_arns");
    /// Field `secret_arns`: changed in place.
    pub const SECRET_ARNS: FieldDef = FieldDef::mutable("secret_arns");
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";

    /// `/mck/<stack>/`: the path of every role of the stack.
    pub fn path(stack: &str) -> String {
        format!("/mck/{stack}/")
    }

    /// The name of the inline policy that grants the secrets.
    pub const SECRETS_POLICY: &str = "mck-read-secrets";
    /// The name of the inline policy that lets ECS Exec open its channels.
    pub const EXEC_POLICY: &str = "mck-ecs-exec";
    /// Field `ecs_exec`: whether the role has [`Self::EXEC_POLICY`].
    pub const ECS_EXEC: FieldDef = FieldDef::mutable("ecs_exec");
    /// What [`Self::EXEC_POLICY`] allows (the AWS documentation's ECS Exec task role policy).
    pub const EXEC_ACTIONS: &[&str] = &[
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    ];
}

impl Kind for RoleSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::DbCluster, ResourceKind::Secret];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ARN];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        let mut policies: Vec<Value> = self
            .managed_policies
            .iter()
            .map(|p| Value::Str(p.clone()))
            .collect();
        policies.sort();
        let mut secrets = self.secrets.clone();
        secrets.sort();
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::DESCRIPTION.of(self.description.as_str()),
            Self::SERVICE.of(self.service.as_str()),
            Self::MANAGED_POLICY_ARNS.of(Value::List(policies)),
            Self::SECRET_ARNS.of(Value::List(secrets)),
            Self::ECS_EXEC.of(self.exec),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// The instance profile `<stack>-<name>` under `/mck/<stack>/` that gives the app servers
/// their role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceProfileSpec {
    /// The AWS name.
    pub name: String,
    /// The role.
    pub role: super::Ref<super::kind::Role>,
}

impl InstanceProfileSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `role`: a change replaces the resource.
    pub const ROLE: FieldDef = FieldDef::immutable("role");
    /// Output `name`.
    pub const OUT_NAME: &str = "name";
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
}

impl Kind for InstanceProfileSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::Role];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_NAME, Self::OUT_ARN];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::ROLE.of(self.role.value()),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
