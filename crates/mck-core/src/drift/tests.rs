//! Drift on [`FakeCloud`]: every class, suppressions, locations, errors, and every format.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::*;
use crate::Engine;
use crate::exec::{CancelToken, ExecConfig};
use crate::model::{ResourceKind, Value};
use crate::provider::{Provider, WriteEvent};
use crate::stack::parse_str;
use crate::testing::FakeCloud;

const STACK: &str = "version: 1
network:
  zones: [us-east-1a, us-east-1b]
  nat: single
bastion:
  ssh_cidrs: [198.51.100.0/24]
database:
  backup_retention_days: 7
dns: {}
";

const TODAY: &str = "2026-11-24";

fn stack(extra: &str) -> Stack {
    parse_str("t", "stacks/t.yaml", &format!("{STACK}{extra}")).unwrap()
}

/// A cloud holding `stack` as `up` left it.
async fn applied(stack: &Stack) -> Arc<FakeCloud> {
    let cloud = Arc::new(FakeCloud::new());
    let provider: Arc<dyn Provider> = cloud.clone();
    let engine = Engine::new(provider, ExecConfig::default());
    let plan = engine.plan(Engine::desired(stack).unwrap()).await.unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    assert!(
        engine
            .apply(&plan, tx, CancelToken::default())
            .await
            .is_success()
    );
    cloud
}

/// Every class at once: a changed field, a deleted resource, an extra one and an unmanaged one.
async fn drifted(stack: &Stack) -> Arc<FakeCloud> {
    let cloud = applied(stack).await;
    cloud.tamper("t", "db.cluster", "backup_retention_period", Value::Int(1));
    cloud.remove("t", "rt.private.a:0.0.0.0/0");
    cloud.insert_raw(
        "t",
        "subnet.public.z",
        ResourceKind::Subnet,
        [("cidr_block".to_string(), Value::Str("10.0.9.0/24".into()))].into(),
    );
    cloud.add_unmanaged(
        "t",
        Unmanaged {
            kind: ResourceKind::SecurityGroup,
            cloud_id: "sg-0hand".into(),
            name: Some("hand-made".into()),
            inside: LogicalId::new("vpc"),
        },
    );
    cloud
}

fn of_class(report: &StackDrift, class: DriftClass) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.class == class)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_stack_just_applied_is_in_sync_and_says_what_it_did_not_compare() {
    let stack = stack("");
    let cloud = applied(&stack).await;
    let report = DriftReport::new(vec![check(cloud.as_ref(), &stack, TODAY).await]);
    assert_eq!(
        report.status,
        Status::InSync,
        "{}",
        report.render(Format::Text)
    );
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.counts.drift(), 0);
    assert_eq!(
        report.counts.checked,
        Engine::desired(&stack).unwrap().len()
    );
    // The bastion's image is looked up by name at creation: never compared, and said so.
    let unchecked = of_class(&report.stacks[0], DriftClass::Unchecked);
    assert!(
        unchecked
            .iter()
            .any(|f| f.resource == "bastion" && f.fields.iter().any(|fd| fd.field == "ami")),
        "{unchecked:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn every_class_is_found_with_its_fields_and_exit_2() {
    let stack = stack("");
    let cloud = drifted(&stack).await;
    let report = DriftReport::new(vec![check(cloud.as_ref(), &stack, TODAY).await]);
    let s = &report.stacks[0];
    assert_eq!(report.status, Status::Drift);
    assert_eq!(report.exit_code(), 2);

    let changed = of_class(s, DriftClass::Changed);
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].resource, "db.cluster");
    assert_eq!(
        changed[0].fields,
        vec![FieldDrift {
            field: "backup_retention_period".into(),
            desired: Some("7".into()),
            live: Some("1".into()),
            sensitive: false,
        }]
    );
    assert!(changed[0].cloud_id.is_some());

    let missing = of_class(s, DriftClass::Missing);
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].resource, "rt.private.a:0.0.0.0/0");
    assert_eq!(missing[0].kind, "aws_route");

    let extra = of_class(s, DriftClass::Extra);
    assert_eq!(extra.len(), 1);
    assert_eq!(extra[0].resource, "subnet.public.z");
    assert!(extra[0].message.contains("`mck up` deletes it"));

    let unmanaged = of_class(s, DriftClass::Unmanaged);
    assert_eq!(unmanaged.len(), 1);
    assert_eq!(unmanaged[0].cloud_id.as_deref(), Some("sg-0hand"));
    assert!(unmanaged[0].message.contains("leaves it alone"));

    let c = report.counts;
    assert_eq!((c.changed, c.missing, c.extra, c.unmanaged), (1, 1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn findings_point_at_the_stack_line_that_declares_them() {
    let stack = stack("");
    let cloud = drifted(&stack).await;
    let report = check(cloud.as_ref(), &stack, TODAY).await;
    let changed = of_class(&report, DriftClass::Changed)[0];
    // `backup_retention_days: 7` is line 8 of STACK.
    assert_eq!(
        changed.location,
        Some(Location {
            file: "stacks/t.yaml".into(),
            line: 8,
            column: 3
        })
    );
    let missing = of_class(&report, DriftClass::Missing)[0];
    assert_eq!(
        missing.location.as_ref().map(|l| l.line),
        Some(4),
        "network.nat"
    );
    let unmanaged = of_class(&report, DriftClass::Unmanaged)[0];
    assert_eq!(
        unmanaged.location.as_ref().map(|l| l.line),
        Some(2),
        "network"
    );
}

#[tokio::test(start_paused = true)]
async fn a_suppression_counts_the_finding_apart_until_it_expires() {
    let ignore = |expires: &str| {
        format!(
            "drift:\n  ignore:\n    - resource: db.cluster\n      field: backup_retention_period\n      reason: restore test until the audit\n      expires: {expires}\n    - resource: sg-0hand\n      reason: the security team's scanner\n      expires: 2099-01-01\n"
        )
    };
    let stack_ok = stack(&ignore("2026-12-31"));
    let cloud = applied(&stack_ok).await;
    cloud.tamper("t", "db.cluster", "backup_retention_period", Value::Int(1));
    cloud.add_unmanaged(
        "t",
        Unmanaged {
            kind: ResourceKind::SecurityGroup,
            cloud_id: "sg-0hand".into(),
            name: None,
            inside: LogicalId::new("vpc"),
        },
    );
    let report = DriftReport::new(vec![check(cloud.as_ref(), &stack_ok, TODAY).await]);
    assert_eq!(
        report.status,
        Status::InSync,
        "{}",
        report.render(Format::Text)
    );
    assert_eq!(report.counts.suppressed, 2);
    let note = report.stacks[0].findings[0].suppression.clone().unwrap();
    assert_eq!(note.reason, "restore test until the audit");
    assert!(!note.expired);
    assert_eq!(note.location.map(|l| l.line), Some(12));
    // Suppressed is shown in every format, never hidden.
    for format in Format::ALL {
        let text = report.render(format);
        assert!(text.contains("db.cluster"), "{format:?}: {text}");
    }

    // Past its date it counts again, saying it expired.
    let stack_expired = stack(&ignore("2026-11-23"));
    let report = DriftReport::new(vec![check(cloud.as_ref(), &stack_expired, TODAY).await]);
    assert_eq!(report.status, Status::Drift);
    assert_eq!((report.counts.changed, report.counts.suppressed), (1, 1));
    assert!(
        report
            .render(Format::Text)
            .contains("suppressed expired on 2026-11-23")
    );
}

#[tokio::test(start_paused = true)]
async fn a_field_suppression_leaves_the_other_fields_of_the_resource_counting() {
    let stack = stack(
        "drift:\n  ignore:\n    - { resource: db.cluster, field: backup_retention_period, reason: known, expires: 2099-01-01 }\n",
    );
    let cloud = applied(&stack).await;
    cloud.tamper("t", "db.cluster", "backup_retention_period", Value::Int(1));
    cloud.tamper("t", "db.cluster", "deletion_protection", Value::Bool(true));
    let report = check(cloud.as_ref(), &stack, TODAY).await;
    let active: Vec<&Finding> = report.findings.iter().filter(|f| f.is_active()).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].fields[0].field, "deletion_protection");
    assert_eq!(report.counts().suppressed, 1);
}

#[derive(Debug)]
struct Unreadable;

#[async_trait]
impl Reader for Unreadable {
    async fn read_all(&self, stack: &str) -> Result<Vec<Observed>, ProviderError> {
        Err(ProviderError::new(
            crate::provider::ErrorClass::Denied,
            format!("failed to describe subnets of {stack}: AccessDenied"),
        ))
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_stack_is_an_error_never_in_sync() {
    let report = DriftReport::new(vec![check(&Unreadable, &stack(""), TODAY).await]);
    assert_eq!(report.status, Status::Error);
    assert_eq!(report.exit_code(), 1);
    assert!(report.render(Format::Text).contains("AccessDenied"));
    assert!(report.render(Format::Junit).contains("<error message="));
    // An error in one stack outranks drift in another.
    let stack = stack("");
    let drifting = check(drifted(&stack).await.as_ref(), &stack, TODAY).await;
    let failing = check(&Unreadable, &stack, TODAY).await;
    assert_eq!(DriftReport::new(vec![drifting, failing]).exit_code(), 1);
}

#[tokio::test(start_paused = true)]
async fn who_comes_from_the_audit_log_and_says_when_it_cannot_tell() {
    let stack = stack("");
    let cloud = drifted(&stack).await;
    let mut report = DriftReport::new(vec![check(cloud.as_ref(), &stack, TODAY).await]);
    let db = cloud.cloud_id("t", "db.cluster").unwrap();
    cloud.record_write(
        &db,
        WriteEvent {
            actor: "arn:aws:iam::123456789012:user/alice".into(),
            time: "2026-11-23T22:10:00Z".into(),
            call: "ModifyDBCluster".into(),
        },
    );
    report.annotate_who(cloud.as_ref()).await;
    let s = &report.stacks[0];
    let changed = of_class(s, DriftClass::Changed)[0];
    assert!(matches!(&changed.who, Some(Who::Found(e)) if e.call == "ModifyDBCluster"));
    let missing = of_class(s, DriftClass::Missing)[0];
    assert!(
        matches!(missing.who, Some(Who::Unknown { .. })),
        "no cloud id"
    );
    let extra = of_class(s, DriftClass::Extra)[0];
    assert_eq!(extra.who, Some(Who::NoEvent));
    assert!(report.render(Format::Markdown).contains("alice"));
}

#[test]
fn suppressions_must_name_a_resource_a_field_and_a_date() {
    let stack = stack(
        "drift:\n  ignore:\n    - { resource: db.clustr, reason: x, expires: 2026-02-30 }\n    - { resource: db.cluster, field: retention, reason: ' ', expires: 2026-01-01 }\n",
    );
    let desired = Engine::desired(&stack).unwrap();
    let diags = check_suppressions(&stack, &desired);
    let messages: Vec<String> = diags
        .iter()
        .map(|d| format!("{}: {}", d.loc.as_ref().unwrap(), d.message))
        .collect();
    assert_eq!(
        messages,
        vec![
            "stacks/t.yaml:12:50: `2026-02-30` is not a date",
            "stacks/t.yaml:12:19: the stack has no resource `db.clustr`",
            "stacks/t.yaml:13:57: a suppression needs a reason",
            "stacks/t.yaml:13:38: db.cluster (aws_rds_cluster) has no field `retention`",
        ]
    );
}

/// A report with every class, a suppression and an error, for the format snapshots.
async fn sample_report() -> DriftReport {
    let stack = stack(
        "drift:\n  ignore:\n    - { resource: sg-0hand, reason: \"the scanner's <group> | keep\", expires: 2099-01-01 }\n",
    );
    let cloud = drifted(&stack).await;
    cloud.add_unmanaged(
        "t",
        Unmanaged {
            kind: ResourceKind::RecordSet,
            cloud_id: "Z1|admin.t.magecloudkit.internal|A".into(),
            name: Some("admin.t.magecloudkit.internal".into()),
            inside: LogicalId::new("dns.zone"),
        },
    );
    let mut drift = check(cloud.as_ref(), &stack, TODAY).await;
    // Cloud ids of the fake are serial numbers: stable, but say so in the snapshot.
    drift.files = vec!["stacks/t.yaml".into()];
    let failed = StackDrift::failed(
        "other",
        "eu-west-1",
        "failed to read stack other: AccessDenied",
    );
    DriftReport::new(vec![drift, failed])
}

#[tokio::test(start_paused = true)]
async fn snapshot_text() {
    insta::assert_snapshot!(sample_report().await.render(Format::Text));
}

#[tokio::test(start_paused = true)]
async fn snapshot_json() {
    insta::assert_snapshot!(sample_report().await.render(Format::Json));
}

#[tokio::test(start_paused = true)]
async fn snapshot_markdown() {
    insta::assert_snapshot!(sample_report().await.render(Format::Markdown));
}

#[tokio::test(start_paused = true)]
async fn snapshot_junit() {
    insta::assert_snapshot!(sample_report().await.render(Format::Junit));
}

#[tokio::test(start_paused = true)]
async fn snapshot_sarif() {
    insta::assert_snapshot!(sample_report().await.render(Format::Sarif));
}

#[tokio::test(start_paused = true)]
async fn json_and_sarif_parse_and_markdown_escapes_table_cells() {
    let report = sample_report().await;
    let json: serde_json::Value = serde_json::from_str(&report.render(Format::Json)).unwrap();
    assert_eq!(json["version"], REPORT_VERSION);
    assert_eq!(json["status"], "error");
    let sarif: serde_json::Value = serde_json::from_str(&report.render(Format::Sarif)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let findings: usize = report.stacks.iter().map(|s| s.findings.len()).sum();
    assert_eq!(results.len(), findings);
    assert!(findings > 0);
    let md = report.render(Format::Markdown);
    assert!(md.contains("the scanner's &lt;group&gt; \\| keep"), "{md}");
}

#[test]
fn every_resource_of_the_shipped_stacks_has_a_declaring_key() {
    for name in ["dev", "stage", "prod"] {
        let stack = crate::stack::load(std::path::Path::new("../../stacks"), name).unwrap();
        let desired = Engine::desired(&stack).unwrap();
        for r in desired.iter() {
            let path = desired.declared_at(&r.id).map_or(&[][..], |d| d.path(None));
            assert!(!path.is_empty(), "{name}: no key declares {}", r.id);
            assert!(
                stack.source.get(&path[0]).is_some(),
                "{name}: {} → {path:?}, which the stack does not spell out",
                r.id
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_shipped_stacks_are_in_sync_right_after_up() {
    for name in ["dev", "stage", "prod"] {
        let stack = crate::stack::load(std::path::Path::new("../../stacks"), name).unwrap();
        let cloud = applied(&stack).await;
        let report = DriftReport::new(vec![check(cloud.as_ref(), &stack, TODAY).await]);
        assert_eq!(
            report.exit_code(),
            0,
            "{name}: {}",
            report.render(Format::Text)
        );
        assert_eq!(
            report.counts.checked,
            Engine::desired(&stack).unwrap().len()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn duplicates_are_an_error_naming_every_copy() {
    let stack = stack("");
    let cloud = applied(&stack).await;
    let original = cloud.cloud_id("t", "vpc").unwrap();
    let copy = cloud.insert_raw("t", "vpc", ResourceKind::Vpc, Default::default());
    let report = DriftReport::new(vec![check(cloud.as_ref(), &stack, TODAY).await]);
    assert_eq!(report.exit_code(), 1);
    let error = report.stacks[0].error.clone().unwrap();
    assert!(
        error.contains(&original) && error.contains(&copy),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_overdue_login_rotation_is_drift_that_says_to_run_mck_rotate() {
    let stack = crate::stack::load(std::path::Path::new("../../stacks"), "dev").unwrap();
    let cloud = applied(&stack).await;
    let desired = Engine::desired(&stack).unwrap();
    let observed = crate::read::read_with_retries(cloud.as_ref(), "dev")
        .await
        .unwrap();
    let rotated_on = |day: &str| {
        let mut observed = observed.clone();
        for o in observed
            .iter_mut()
            .filter(|o| o.id.as_str() == crate::lower::DB_LOGIN_SECRET_ID)
        {
            o.outputs
                .insert(crate::model::SecretSpec::OUT_ROTATED.into(), day.into());
        }
        compare(&stack, desired.clone(), observed, Vec::new(), TODAY)
    };
    let findings = |drift: &StackDrift| -> Vec<Finding> {
        drift
            .findings
            .iter()
            .filter(|f| {
                f.resource == crate::lower::DB_LOGIN_SECRET_ID && f.class != DriftClass::Unchecked
            })
            .cloned()
            .collect()
    };
    // Rotated within its 30 days: in sync.
    assert_eq!(findings(&rotated_on("2026-11-01")), []);
    let late = rotated_on("2026-10-01");
    let found = findings(&late);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].class, DriftClass::Changed);
    assert_eq!(
        found[0].fields,
        [FieldDrift {
            field: "rotation".into(),
            desired: Some("every 30 days".into()),
            live: Some("last 2026-10-01 (54 days ago)".into()),
            sensitive: false,
        }]
    );
    assert!(
        found[0].message.contains("run `mck rotate --stack dev db`"),
        "{}",
        found[0].message
    );
    assert_eq!(DriftReport::new(vec![late]).exit_code(), 2);
}
