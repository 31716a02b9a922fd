//! `backup:` (seed 004): an AWS Backup vault and plan, and a selection of the Aurora cluster
//! and the file system, backed up by a role of the stack with AWS's managed backup policies.

use super::Lowered;
use crate::graph::Declared;
use crate::model::*;
use crate::stack::{Stack, backup_days, backup_hours};

/// What AWS Backup needs to back up and restore RDS and EFS (AWS managed policies).
const BACKUP_POLICIES: [&str; 2] = [
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
];

/// The logical ids of what it backs up (the data tier's).
const EFS: &str = "efs";
const DB: &str = "db.cluster";

/// The backup role's logical id.
const ROLE: &str = "iam.backup";

pub(super) fn lower(stack: &Stack, out: &mut Lowered) {
    let Some(cfg) = &stack.config.backup else {
        return;
    };
    // Validation refused anything else.
    let (Some(hours), Some(keep_days)) = (backup_hours(&cfg.every), backup_days(&cfg.keep)) else {
        return;
    };
    let at = || Declared::at(&["backup"]);
    out.add(
        LogicalId::new(ROLE),
        RoleSpec {
            name: format!("{}-backup", stack.name),
            description: format!("mck {}: AWS Backup of the database and media", stack.name),
            service: "backup.amazonaws.com".into(),
            managed_policies: BACKUP_POLICIES.iter().map(|p| p.to_string()).collect(),
            secrets: Vec::new(),
            exec: false,
        }
        .into(),
        at(),
    );
    out.add(
        LogicalId::new(BackupVaultSpec::ID),
        BackupVaultSpec {
            name: BackupVaultSpec::name(&stack.name),
        }
        .into(),
        at(),
    );
    out.add(
        LogicalId::new(BackupPlanSpec::ID),
        BackupPlanSpec {
            name: BackupPlanSpec::name(&stack.name),
            rule: BackupPlanSpec::rule_name(hours),
            schedule: BackupPlanSpec::schedule(hours),
            keep_days,
            vault: Ref::new(BackupVaultSpec::ID),
        }
        .into(),
        Declared::at(&["backup", "every"]),
    );
    // Sorted as the reader lists them: `arn:aws:elasticfilesystem:…` before `arn:aws:rds:…`.
    let mut resources = Vec::new();
    if out.iter().any(|r| r.id.as_str() == EFS) {
        resources.push(Ref::<kind::FileSystem>::new(EFS).output(FileSystemSpec::OUT_ARN));
    }
    if out.iter().any(|r| r.id.as_str() == DB) {
        resources.push(Ref::<kind::DbCluster>::new(DB).output(DbClusterSpec::OUT_ARN));
    }
    out.add(
        LogicalId::new(BackupSelectionSpec::ID),
        BackupSelectionSpec {
            name: BackupPlanSpec::name(&stack.name),
            plan: Ref::new(BackupPlanSpec::ID),
            role: Ref::new(ROLE),
            resources,
        }
        .into(),
        at(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::spec_of;
    use super::*;
    use crate::stack::parse_str;

    fn lowered(backup: &str) -> Lowered {
        let text = format!(
            "version: 1\nnetwork: {{cidr: 10.9.0.0/16, zones: [us-east-1a, us-east-1b]}}\n\
             database: {{instance_class: db.r6g.large, instances: 1}}\nfilesystem: {{}}\n{backup}"
        );
        let stack = parse_str("t", "t.yaml", &text).expect("valid stack");
        let mut out = Lowered::default();
        super::super::data::lower(&stack, &mut out);
        lower(&stack, &mut out);
        out
    }

    #[test]
    fn six_hourly_backups_kept_two_weeks_of_the_database_and_the_media() {
        let out = lowered("backup: {every: 6h, keep: 14d}\n");
        let ResourceSpec::BackupPlan(plan) = spec_of(&out, BackupPlanSpec::ID) else {
            panic!("not a plan");
        };
        assert_eq!(plan.schedule, "cron(0 */6 ? * * *)");
        assert_eq!(plan.keep_days, 14);
        assert_eq!(plan.name, "mck-t");
        let ResourceSpec::BackupSelection(selection) = spec_of(&out, BackupSelectionSpec::ID)
        else {
            panic!("not a selection");
        };
        assert_eq!(
            selection.resources,
            vec![
                Ref::<kind::FileSystem>::new(EFS).output(FileSystemSpec::OUT_ARN),
                Ref::<kind::DbCluster>::new(DB).output(DbClusterSpec::OUT_ARN),
            ]
        );
        let ResourceSpec::Role(role) = spec_of(&out, ROLE) else {
            panic!("not a role");
        };
        assert_eq!(role.service, "backup.amazonaws.com");
        assert_eq!(role.managed_policies.len(), 2);
    }

    #[test]
    fn a_daily_backup_runs_at_aws_backups_default_hour() {
        let out = lowered("backup: {every: 24h, keep: 35d}\n");
        let ResourceSpec::BackupPlan(plan) = spec_of(&out, BackupPlanSpec::ID) else {
            panic!("not a plan");
        };
        assert_eq!(plan.schedule, "cron(0 5 ? * * *)");
        assert_eq!(plan.rule, "every-24h");
    }

    #[test]
    fn no_backup_section_no_backup_resources() {
        let out = lowered("");
        assert!(!out.iter().any(|r| r.id.as_str().starts_with("backup.")));
    }
}
