//! AWS Backup kinds of `backup:` (seed 004): the stack's vault, its plan (one rule: every N
//! hours, kept N days) and the selection that puts the Aurora cluster and the file system in
//! the plan, under the stack's backup role.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, Value,
    kind, minutes,
};

/// The vault the recovery points go to, `mck-<stack>`. Deleting it is refused by AWS while it
/// holds recovery points: backups outlive the stack until someone deletes them on purpose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupVaultSpec {
    /// The AWS name (its identity).
    pub name: String,
}

impl BackupVaultSpec {
    /// The logical id.
    pub const ID: &str = "backup.vault";
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
    /// Output `recovery_points`: how many backups it holds (never compared).
    pub const OUT_RECOVERY_POINTS: &str = "recovery_points";

    /// `mck-<stack>` (vault and plan names: letters, digits, `-` and `_`).
    pub fn name(stack: &str) -> String {
        format!("mck-{stack}")
    }
}

impl Kind for BackupVaultSpec {
    const REFERENCES: &'static [ResourceKind] = &[];
    // Its recovery points are the backups.
    const HOLDS_DATA: bool = true;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ARN, Self::OUT_RECOVERY_POINTS];
    const TIMEOUT: Duration = minutes(2);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    // The name is unique in the account and region: a repeated create is refused and the
    // driver adopts the vault when its tags say it is this one.
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![Self::NAME.of(self.name.as_str())]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// The stack's backup plan `mck-<stack>`: one rule that starts a backup on `schedule` into the
/// vault and deletes it after `keep_days`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupPlanSpec {
    /// The plan's name.
    pub name: String,
    /// The rule's name.
    pub rule: String,
    /// A cron expression in UTC, `cron(0 */6 * * ? *)`.
    pub schedule: String,
    /// Days a recovery point is kept.
    pub keep_days: i64,
    /// Where the recovery points go.
    pub vault: Ref<kind::BackupVault>,
}

impl BackupPlanSpec {
    /// The logical id.
    pub const ID: &str = "backup.plan";
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `rule`: `[rule name, schedule, days kept, vault name]`, changed in place
    /// (UpdateBackupPlan makes a new version of the plan).
    pub const RULE: FieldDef = FieldDef::mutable("rule");
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";

    /// The cron expression of a backup every `hours` (a divisor of 24), in UTC: on the hour,
    /// from midnight; once a day at 05:00, AWS Backup's default time.
    pub fn schedule(hours: u64) -> String {
        match hours {
            24 => "cron(0 5 ? * * *)".to_string(),
            n => format!("cron(0 */{n} ? * * *)"),
        }
    }

    /// `mck-<stack>`, as the vault.
    pub fn name(stack: &str) -> String {
        BackupVaultSpec::name(stack)
    }

    /// The rule's name: `every-<hours>h`.
    pub fn rule_name(hours: u64) -> String {
        format!("every-{hours}h")
    }

    /// [`Self::RULE`]'s value from what AWS has.
    pub fn rule_row(rule: &str, schedule: &str, keep_days: i64, vault: Value) -> Value {
        Value::List(vec![
            Value::from(rule),
            Value::from(schedule),
            Value::Int(keep_days),
            vault,
        ])
    }
}

impl Kind for BackupPlanSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::BackupVault];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ARN];
    const TIMEOUT: Duration = minutes(2);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    // CreateBackupPlan takes a CreatorRequestId ("allows failed requests to be retried
    // without the risk of running the operation twice"), and the driver adopts a plan of the
    // name whose tags say it is this one.
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::RULE.of(Self::rule_row(
                &self.rule,
                &self.schedule,
                self.keep_days,
                self.vault.value(),
            )),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// What the plan backs up (`mck-<stack>`): resources by ARN, read and backed up with the
/// stack's backup role. AWS has no update of a selection: any change replaces it, which is
/// harmless (the recovery points stay in the vault). Owned through its plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSelectionSpec {
    /// The selection's name.
    pub name: String,
    /// The plan.
    pub plan: Ref<kind::BackupPlan>,
    /// The role AWS Backup assumes.
    pub role: Ref<kind::Role>,
    /// The ARNs it selects: the Aurora cluster's and the file system's outputs.
    pub resources: Vec<Value>,
}

impl BackupSelectionSpec {
    /// The logical id.
    pub const ID: &str = "backup.selection";
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `plan`: a change replaces the resource.
    pub const PLAN: FieldDef = FieldDef::immutable("plan");
    /// Field `role_arn`: a change replaces the resource.
    pub const ROLE_ARN: FieldDef = FieldDef::immutable("role_arn");
    /// Field `resources`: the selected ARNs, sorted; a change replaces the resource.
    pub const RESOURCES: FieldDef = FieldDef::immutable("resources");

    /// The cloud id mck gives a selection: `<plan id>/<selection id>` (both are needed to
    /// read or delete it).
    pub fn cloud_id(plan: &str, selection: &str) -> String {
        format!("{plan}/{selection}")
    }
}

impl Kind for BackupSelectionSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::BackupPlan,
        ResourceKind::Role,
        ResourceKind::DbCluster,
        ResourceKind::FileSystem,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(2);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    // CreateBackupSelection takes a CreatorRequestId, and the driver first looks for a
    // selection of the name in the plan.
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::PLAN.of(self.plan.value()),
            Self::ROLE_ARN.of(self.role.output(super::RoleSpec::OUT_ARN)),
            Self::RESOURCES.of(Value::List(self.resources.clone())),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
