//! The IAM policies of docs/iam.md against what mck really calls. Each role's commands run
//! against the emulator with the request log on (`MCK_LOG=mck_aws::request=trace`); every
//! request maps to its IAM action, and that action, with the actions AWS checks along with it
//! ([`IMPLIED`]), must be allowed by the role's policies as the page writes them. A new call in
//! the code fails this test until the page grants it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use mck_tests::{Harness, text};

/// Each role: how docs/iam.md's table names it, and its policies there.
const ROLES: &[(&str, &str, &[&str])] = &[
    (
        "operator",
        "operator",
        &["mck-read", "mck-lock", "mck-operate", "mck-drift-who"],
    ),
    (
        "release",
        "CI release",
        &["mck-read", "mck-lock", "mck-release"],
    ),
    ("drift", "nightly drift", &["mck-read", "mck-drift-who"]),
];

/// Actions AWS authorises along with a request's own action, which no request names: (the
/// request's action, the actions it implies, why).
const IMPLIED: &[(&str, &[&str], &str)] = &[
    ("ec2:CreateVpc", &["ec2:CreateTags"], TAGS),
    ("ec2:CreateSubnet", &["ec2:CreateTags"], TAGS),
    ("ec2:CreateInternetGateway", &["ec2:CreateTags"], TAGS),
    ("ec2:CreateRouteTable", &["ec2:CreateTags"], TAGS),
    ("ec2:CreateSecurityGroup", &["ec2:CreateTags"], TAGS),
    ("ec2:CreateNatGateway", &["ec2:CreateTags"], TAGS),
    ("ec2:AllocateAddress", &["ec2:CreateTags"], TAGS),
    ("ec2:RunInstances", &["ec2:CreateTags"], TAGS),
    ("ec2:CreateLaunchTemplate", &["ec2:CreateTags"], TAGS),
    (
        "elasticloadbalancing:CreateLoadBalancer",
        &[
            "elasticloadbalancing:AddTags",
            "iam:CreateServiceLinkedRole",
        ],
        "tags in the create call; ELB's service-linked role on first use",
    ),
    (
        "elasticloadbalancing:CreateTargetGroup",
        &["elasticloadbalancing:AddTags"],
        TAGS,
    ),
    (
        "ecs:RegisterTaskDefinition",
        &["ecs:TagResource", "iam:PassRole"],
        "tags in the call (\"ecs:TagResource permission required when tagging on create\"); the task and execution roles are passed to ECS",
    ),
    (
        "ecs:RunTask",
        &["ecs:TagResource", "iam:PassRole"],
        "tags in the call; the task definition's roles are passed to ECS",
    ),
    (
        "ecs:CreateService",
        &["ecs:TagResource", "iam:CreateServiceLinkedRole"],
        "tags in the call; ECS's service-linked role on first use",
    ),
    (
        "ecs:CreateCluster",
        &["ecs:TagResource", "iam:CreateServiceLinkedRole"],
        "tags in the call; ECS's service-linked role on first use",
    ),
    ("ecs:CreateCapacityProvider", &["ecs:TagResource"], TAGS),
    (
        "cloudwatch:PutMetricAlarm",
        &["cloudwatch:TagResource"],
        TAGS,
    ),
    ("sns:CreateTopic", &["sns:TagResource"], TAGS),
    (
        "backup:CreateBackupVault",
        &[
            "backup:TagResource",
            "backup-storage:MountCapsule",
            "kms:CreateGrant",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            "kms:RetireGrant",
            "kms:DescribeKey",
        ],
        "tags in the call; the vault's storage and its default key (CreateBackupVault's dependent actions)",
    ),
    ("backup:CreateBackupPlan", &["backup:TagResource"], TAGS),
    (
        "backup:CreateBackupSelection",
        &["iam:PassRole"],
        "the selection hands the backup role to AWS Backup",
    ),
    (
        "elasticfilesystem:CreateFileSystem",
        &[
            "elasticfilesystem:TagResource",
            "iam:CreateServiceLinkedRole",
        ],
        "tags in the call; EFS's service-linked role on first use",
    ),
    (
        "elasticfilesystem:CreateAccessPoint",
        &["elasticfilesystem:TagResource"],
        TAGS,
    ),
    (
        "elasticfilesystem:CreateMountTarget",
        &[
            "ec2:CreateNetworkInterface",
            "ec2:DescribeSubnets",
            "ec2:DescribeNetworkInterfaces",
        ],
        "a mount target is a network interface EFS creates as the caller",
    ),
    (
        "elasticfilesystem:DeleteMountTarget",
        &["ec2:DeleteNetworkInterface"],
        "EFS deletes the mount target's network interface as the caller",
    ),
    (
        "rds:CreateDBCluster",
        &[
            "rds:AddTagsToResource",
            "iam:CreateServiceLinkedRole",
            "secretsmanager:CreateSecret",
            "secretsmanager:TagResource",
        ],
        "tags in the call; RDS's service-linked role on first use; the master password is kept in Secrets Manager (ManageMasterUserPassword)",
    ),
    ("rds:CreateDBInstance", &["rds:AddTagsToResource"], TAGS),
    // A preview's copy-on-write clone of its source's cluster.
    (
        "rds:RestoreDBClusterToPointInTime",
        &["rds:AddTagsToResource"],
        TAGS,
    ),
    ("rds:CreateDBSubnetGroup", &["rds:AddTagsToResource"], TAGS),
    (
        "rds:CreateDBClusterParameterGroup",
        &["rds:AddTagsToResource"],
        TAGS,
    ),
    (
        "elasticache:CreateReplicationGroup",
        &[
            "elasticache:AddTagsToResource",
            "iam:CreateServiceLinkedRole",
        ],
        "tags in the call; ElastiCache's service-linked role on first use",
    ),
    (
        "elasticache:CreateCacheSubnetGroup",
        &["elasticache:AddTagsToResource"],
        TAGS,
    ),
    (
        "elasticache:CreateCacheCluster",
        &["elasticache:AddTagsToResource"],
        TAGS,
    ),
    ("iam:CreateRole", &["iam:TagRole"], TAGS),
    (
        "iam:CreateInstanceProfile",
        &["iam:TagInstanceProfile"],
        TAGS,
    ),
    ("logs:CreateLogGroup", &["logs:TagResource"], TAGS),
    (
        "autoscaling:CreateAutoScalingGroup",
        &[
            "autoscaling:CreateOrUpdateTags",
            "ec2:RunInstances",
            "iam:PassRole",
            "iam:CreateServiceLinkedRole",
        ],
        "tags in the call; the launch template is checked as a RunInstances with the app servers' instance profile; Auto Scaling's service-linked role on first use",
    ),
    (
        "route53:CreateHostedZone",
        &["ec2:DescribeVpcs", "route53:AssociateVPCWithHostedZone"],
        "a private zone is created associated with the stack's VPC",
    ),
    ("es:CreateDomain", &["es:AddTags"], TAGS),
    ("dynamodb:CreateTable", &["dynamodb:TagResource"], TAGS),
    (
        "mq:CreateBroker",
        &[
            "mq:CreateTags",
            "iam:CreateServiceLinkedRole",
            "ec2:CreateNetworkInterface",
            "ec2:CreateNetworkInterfacePermission",
            "ec2:DeleteNetworkInterface",
            "ec2:DeleteNetworkInterfacePermission",
            "ec2:DetachNetworkInterface",
            "ec2:DescribeInternetGateways",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeNetworkInterfacePermissions",
            "ec2:DescribeRouteTables",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
        ],
        "tags in the call; Amazon MQ's service-linked role on first use; the EC2 permissions the CreateBroker API reference requires of the caller for the broker's network interfaces",
    ),
    (
        "mq:DeleteBroker",
        &[
            "ec2:DeleteNetworkInterface",
            "ec2:DeleteNetworkInterfacePermission",
            "ec2:DetachNetworkInterface",
        ],
        "Amazon MQ removes the broker's network interfaces as the caller",
    ),
];

const TAGS: &str = "tags in the create call";

/// Actions a role needs that its commands here may not show: (role, actions, why).
const ROLE_EXTRAS: &[(&str, &[&str], &str)] = &[
    (
        "operator",
        &[
            "dynamodb:CreateTable",
            "dynamodb:DescribeTable",
            "dynamodb:TagResource",
        ],
        "the first up or down in an account makes the lock table; on the shared emulator another test may have made it already",
    ),
    (
        "operator",
        &["iam:CreateServiceLinkedRole"],
        "the first RegisterScalableTarget in an account (the operator's up, which registers the target) makes Application Auto Scaling's service-linked role for ECS; a release's suspension of scale-in only changes a target that exists",
    ),
];

/// The IAM action of a request in the log. Every operation mck calls is authorised by the
/// action of the same name in the service's IAM prefix (an operation named otherwise, such as
/// S3's ListObjectsV2 → s3:ListBucket, would need a row here).
fn action(service: &str, operation: &str) -> String {
    let prefix = match service {
        "EC2" => "ec2",
        "RDS" => "rds",
        "ElastiCache" => "elasticache",
        "EFS" => "elasticfilesystem",
        "Route 53" => "route53",
        "IAM" => "iam",
        "CloudWatch Logs" => "logs",
        "ECS" => "ecs",
        "Elastic Load Balancing v2" => "elasticloadbalancing",
        "Auto Scaling" => "autoscaling",
        "CloudTrail" => "cloudtrail",
        "DynamoDB" => "dynamodb",
        "Secrets Manager" => "secretsmanager",
        "mq" => "mq",
        "OpenSearch" => "es",
        "CloudWatch" => "cloudwatch",
        "SNS" => "sns",
        "Application Auto Scaling" => "application-autoscaling",
        "Backup" => "backup",
        "Resource Groups Tagging API" => "tag",
        other => {
            panic!("requests to {other}: add its IAM prefix here and its actions to docs/iam.md")
        }
    };
    format!("{prefix}:{operation}")
}

/// The (service, operation) of every request in a `MCK_LOG=mck_aws::request=trace` log.
fn requests(log: &str) -> Vec<(String, String)> {
    let field = |line: &str, name: &str| {
        let start = line.find(&format!("{name}=\""))? + name.len() + 2;
        let len = line[start..].find('"')?;
        Some(line[start..start + len].to_string())
    };
    log.lines()
        .filter(|line| line.contains("mck_aws::request"))
        .filter_map(|line| Some((field(line, "service")?, field(line, "operation")?)))
        .collect()
}

/// The policies of docs/iam.md by name: each ``## `name` `` heading and the JSON block under it.
fn policies() -> BTreeMap<String, Value> {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/iam.md"))
            .expect("read docs/iam.md");
    let mut policies = BTreeMap::new();
    let mut heading: Option<String> = None;
    let mut block: Option<String> = None;
    for line in page.lines() {
        match &mut block {
            Some(json) if line == "```" => {
                let name = heading
                    .take()
                    .expect("a JSON block under a ## `name` heading");
                let policy: Value = serde_json::from_str(json)
                    .unwrap_or_else(|e| panic!("docs/iam.md: policy {name}: {e}"));
                assert!(
                    policies.insert(name.clone(), policy).is_none(),
                    "docs/iam.md: two policies named {name}"
                );
                block = None;
            }
            Some(json) => {
                json.push_str(line);
                json.push('\n');
            }
            None if line == "```json" => block = Some(String::new()),
            None => {
                if let Some(name) = line
                    .strip_prefix("## `")
                    .and_then(|rest| rest.strip_suffix('`'))
                {
                    heading = Some(name.to_string());
                }
            }
        }
    }
    policies
}

/// The statements of `policy`.
fn statements(policy: &Value) -> &Vec<Value> {
    policy["Statement"]
        .as_array()
        .unwrap_or_else(|| panic!("no Statement list in {policy}"))
}

/// The action patterns of a statement (`Action`, a string or a list).
fn patterns(statement: &Value) -> Vec<&str> {
    assert!(
        statement.get("NotAction").is_none(),
        "NotAction is not supported here: {statement}"
    );
    match &statement["Action"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many
            .iter()
            .map(|a| a.as_str().expect("actions are strings"))
            .collect(),
        other => panic!("Action is neither a string nor a list: {other}"),
    }
}

/// IAM's action matching: case-insensitive, `*` any run of characters, `?` one character.
fn matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

/// Whether `action` is allowed by `policies`: some Allow statement names it and no Deny does
/// (resources and conditions narrow what a statement allows; they are not checked here).
fn allowed(policies: &[&Value], action: &str) -> bool {
    let named = |effect: &str| {
        policies
            .iter()
            .flat_map(|p| statements(p))
            .any(|s| s["Effect"] == effect && patterns(s).iter().any(|p| matches(p, action)))
    };
    named("Allow") && !named("Deny")
}

/// The policies of `role`, from the page.
fn role_policies<'a>(all: &'a BTreeMap<String, Value>, role: &str) -> Vec<&'a Value> {
    let (_, _, names) = ROLES
        .iter()
        .find(|(r, _, _)| *r == role)
        .unwrap_or_else(|| panic!("no role {role}"));
    names
        .iter()
        .map(|n| {
            all.get(*n)
                .unwrap_or_else(|| panic!("docs/iam.md has no policy {n}"))
        })
        .collect()
}

#[test]
fn the_iam_page_is_well_formed_and_its_table_names_each_roles_policies() {
    let all = policies();
    for (name, policy) in &all {
        assert_eq!(policy["Version"], "2012-10-17", "{name}");
        for statement in statements(policy) {
            assert!(
                statement["Effect"] == "Allow" || statement["Effect"] == "Deny",
                "{name}: {statement}"
            );
            assert!(!patterns(statement).is_empty(), "{name}: {statement}");
            assert!(statement.get("Resource").is_some(), "{name}: {statement}");
        }
    }
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/iam.md"))
            .unwrap();
    let mut used = BTreeSet::new();
    for (role, label, names) in ROLES {
        let row = page
            .lines()
            .find(|l| l.starts_with(&format!("| {label} ")))
            .unwrap_or_else(|| panic!("docs/iam.md: no row for the {label} role"));
        let listed: Vec<&str> = row
            .rsplit('|')
            .nth(1)
            .unwrap()
            .split('`')
            .skip(1)
            .step_by(2)
            .collect();
        assert_eq!(&listed, names, "docs/iam.md: the {role} role's row");
        role_policies(&all, role);
        used.extend(names.iter().copied());
    }
    let unused: Vec<&String> = all.keys().filter(|n| !used.contains(n.as_str())).collect();
    assert!(unused.is_empty(), "policies no role uses: {unused:?}");
}

#[test]
fn actions_match_as_iam_matches_them() {
    assert!(matches("ec2:Describe*", "ec2:DescribeVpcs"));
    assert!(matches("EC2:describe*", "ec2:DescribeVpcs"));
    assert!(matches("ecs:*", "ecs:RunTask"));
    assert!(matches("logs:Get?ogEvents", "logs:GetLogEvents"));
    assert!(!matches("ec2:Describe*", "ec2:CreateVpc"));
    assert!(!matches("ec2:Describe", "ec2:DescribeVpcs"));
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["ec2:TerminateInstances"], "Resource": "*"}]});
    assert!(allowed(&[&policy], "ec2:RunInstances"));
    assert!(!allowed(&[&policy], "ec2:TerminateInstances"));
    assert!(!allowed(&[&policy], "rds:CreateDBCluster"));
    let log = "2026-12-06T09:51:08.393744Z TRACE mck_aws::request: request service=\"Route 53\" operation=\"ListHostedZones\"\nother line";
    assert_eq!(
        requests(log),
        [("Route 53".to_string(), "ListHostedZones".to_string())]
    );
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn every_call_of_each_role_is_allowed_by_its_policies_in_docs() {
    let harness = Harness::from_env();
    // The emulator never frees a deleted replication group's id: a new name per run.
    let name = format!("e2e-iam-{}", std::process::id() % 100_000);
    let stack = harness.stack(&name);
    // The operations tier too (its topic, subscription, alarms and dashboard, and the backup
    // vault, plan and selection), and the frontend scaled (its target and policy; a release
    // suspends and resumes its scale-in).
    let file = stack.dir.join(format!("{name}.yaml"));
    let yaml = std::fs::read_to_string(&file).expect("read the stack file");
    std::fs::write(
        &file,
        format!(
            "{yaml}\nalarms:\n  email: [ops@example.com]\nbackup: {{ every: 6h, keep: 14d }}\napps:\n  frontend:\n    scaling: {{ min: 1, max: 3, cpu: 60 }}\npreview:\n  max: 1\n  customer_data: true\n"
        ),
    )
    .expect("write the stack file");

    let release = [
        "--set",
        "release.tag=0123456",
        "--set",
        "release.revision=0123456",
    ];
    // A preview of the stack (docs/previews.md): `up --from` (its VPC under the source's
    // previews lock, a copy-on-write clone of the source's database, the clone's own login)
    // and `down --from`, as the operator (.github/workflows/preview.yml).
    let preview = format!("{name}-p");
    // (role, command, arguments, exit codes that count as a run that went as it should)
    let runs: &[(&str, &str, Vec<&str>, &[i32])] = &[
        ("operator", "up", vec!["--yes"], &[0]),
        ("operator", "plan", vec!["--detailed-exitcode"], &[0]),
        // The database login's rotation: Secrets Manager's stages, the login tasks, a new
        // deployment of every service.
        ("operator", "rotate", vec!["db", "--yes"], &[0]),
        ("release", "plan", release[..2].to_vec(), &[0]),
        ("release", "up", [&release[..], &["--yes"]].concat(), &[0]),
        ("release", "releases", vec![], &[0]),
        ("release", "rollback", vec!["--yes"], &[0]),
        ("drift", "outputs", vec![], &[0]),
        // The rollback is drift; `--who` asks CloudTrail who made it.
        ("drift", "drift", vec![], &[2]),
        ("drift", "drift", vec!["--who"], &[2]),
        ("operator", "up --from", vec!["--yes"], &[0]),
        // Every stack of the region: the VPCs and one tag search (read-only).
        ("drift", "ls", vec![], &[0]),
        (
            "operator",
            "down --from",
            vec!["--yes", "--allow-data-loss"],
            &[0],
        ),
        ("operator", "down", vec!["--yes", "--allow-data-loss"], &[0]),
        ("operator", "unlock", vec!["--yes"], &[0]),
    ];
    // role → action → what needed it
    let mut needed: BTreeMap<&str, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (role, command, args, codes) in runs {
        let log = [("MCK_LOG", "mck_aws::request=trace")];
        let dir = stack.dir.to_str().expect("utf-8 path");
        let out = match *command {
            // `ls` takes no stack: the region(s) of the stack files.
            "ls" => harness.mck_env(&["ls", "--stacks-dir", dir], &log),
            "up --from" | "down --from" => {
                let verb = &command[..command.find(' ').unwrap()];
                let mut all = vec![verb, "--stack", &preview, "--from", &name];
                all.extend_from_slice(&["--stacks-dir", dir]);
                all.extend_from_slice(args);
                harness.mck_env(&all, &log)
            }
            _ => stack.mck_env(command, args, &log),
        };
        let shown = format!("mck {command} {}", args.join(" "));
        assert!(
            codes.contains(&out.status.code().unwrap_or(-1)),
            "{shown}: {}",
            text(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let calls = requests(&stderr);
        assert!(
            !calls.is_empty(),
            "{shown}: no request in the log\n{}",
            text(&out)
        );
        if *role == "release" && *command == "up" {
            // The release makes sure of the database login (a RunTask), then stops cron
            // before its migration starts and runs it again once the migration ended
            // (docs/magento.md): RunTask, UpdateService, RunTask, UpdateService.
            let ecs = |op: &str| -> Vec<usize> {
                calls
                    .iter()
                    .enumerate()
                    .filter(|(_, (s, o))| s == "ECS" && o == op)
                    .map(|(i, _)| i)
                    .collect()
            };
            let runs = ecs("RunTask");
            let updates = ecs("UpdateService");
            let stop = updates.first().copied().unwrap_or(usize::MAX);
            let migration = runs.iter().find(|r| **r > stop);
            assert!(
                runs.first().is_some_and(|login| *login < stop)
                    && migration.is_some_and(|m| updates.iter().any(|u| u > m)),
                "the login task, then cron stopped before the migration and started after it: {calls:?}"
            );
            // Cron runs again, one task, on its newest revision (the release's build).
            let app = harness.python("app.py", &[&name]);
            let cron = app["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == "cron")
                .expect("a cron service");
            assert_eq!(cron["desired"], 1, "{cron:#}");
            let newest = app["task_definitions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["family"] == format!("{name}-cron").as_str())
                .expect("cron's task definition");
            assert_eq!(cron["task_definition"], newest["arn"], "{app:#}");
            assert!(
                newest["containers"][0]["image"]
                    .as_str()
                    .is_some_and(|i| i.ends_with(":0123456")),
                "{newest:#}"
            );
        }
        let actions = needed.entry(role).or_default();
        for (service, operation) in calls {
            let action = action(&service, &operation);
            for (_, implied, why) in IMPLIED.iter().filter(|(by, _, _)| *by == action) {
                for each in *implied {
                    actions
                        .entry((*each).to_string())
                        .or_default()
                        .insert(format!("`{shown}` through {action} ({why})"));
                }
            }
            actions
                .entry(action)
                .or_default()
                .insert(format!("`{shown}`"));
        }
    }
    // The runs did what they are here for.
    let did = |role: &str, action: &str| needed[role].contains_key(action);
    assert!(did("release", "ecs:RunTask") && did("release", "ecs:UpdateService"));
    assert!(did("drift", "cloudtrail:LookupEvents"));
    assert!(did("operator", "dynamodb:PutItem") && did("operator", "ec2:CreateVpc"));
    assert!(did("operator", "rds:RestoreDBClusterToPointInTime"));
    for (role, extras, why) in ROLE_EXTRAS {
        for extra in *extras {
            needed
                .entry(role)
                .or_default()
                .entry((*extra).to_string())
                .or_default()
                .insert((*why).to_string());
        }
    }

    let all = policies();
    let mut refused = Vec::new();
    for (role, actions) in &needed {
        let policies = role_policies(&all, role);
        for (action, by) in actions {
            if !allowed(&policies, action) {
                refused.push(format!(
                    "{role}: {action}, needed by {}",
                    by.iter().cloned().collect::<Vec<_>>().join("; ")
                ));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "docs/iam.md does not allow what mck calls:\n  {}",
        refused.join("\n  ")
    );
}
