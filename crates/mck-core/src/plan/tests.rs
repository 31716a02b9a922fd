use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::*;
use crate::exec::{CancelToken, ExecConfig, Op};
use crate::model::ResourceKind as K;
use crate::provider::{Provider, Reader};
use crate::stack::parse_str;
use crate::testing::FakeCloud;

const ONE_ZONE: &str =
    "version: 1\nnetwork:\n  zones: [us-east-1a]\nbastion:\n  ssh_cidrs: [198.51.100.0/24]\n";

fn desired(yaml: &str) -> Arc<DesiredGraph> {
    let stack = parse_str("t", "t.yaml", yaml).unwrap();
    Arc::new(crate::lower::lower(&stack).unwrap())
}

async fn apply_all(cloud: &Arc<FakeCloud>, desired: &Arc<DesiredGraph>) {
    let observed = cloud.read_all(desired.stack()).await.unwrap();
    let plan = diff(desired.clone(), observed);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let provider: Arc<dyn Provider> = cloud.clone();
    let summary = crate::exec::apply(
        &plan,
        provider,
        &ExecConfig::default(),
        tx,
        CancelToken::default(),
    )
    .await;
    assert!(summary.is_success(), "{summary:?}");
}

async fn plan_of(cloud: &Arc<FakeCloud>, desired: &Arc<DesiredGraph>) -> Plan {
    diff(
        desired.clone(),
        cloud.read_all(desired.stack()).await.unwrap(),
    )
}

#[test]
fn dev_stack_lowers_to_the_reference_network() {
    let stack = crate::stack::load(std::path::Path::new("../../stacks"), "dev").unwrap();
    let graph = crate::lower::lower(&stack).unwrap();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in graph.iter() {
        *counts.entry(r.kind().name()).or_default() += 1;
    }
    insta::assert_debug_snapshot!(counts);
    // The single NAT serves every private route table.
    for z in ["a", "b", "c"] {
        let route = graph
            .get(&format!("rt.private.{z}:0.0.0.0/0").as_str().into())
            .unwrap();
        assert!(
            route
                .spec
                .dependencies()
                .iter()
                .any(|(_, id)| id.as_str() == "nat.a"),
            "{route:?}"
        );
    }
}

#[test]
fn prod_has_a_nat_per_zone() {
    let stack = crate::stack::load(std::path::Path::new("../../stacks"), "prod").unwrap();
    let graph = crate::lower::lower(&stack).unwrap();
    assert_eq!(
        graph.iter().filter(|r| r.kind() == K::NatGateway).count(),
        3
    );
    let route = graph.get(&"rt.private.c:0.0.0.0/0".into()).unwrap();
    assert!(
        route
            .spec
            .dependencies()
            .iter()
            .any(|(_, id)| id.as_str() == "nat.c")
    );
}

#[test]
fn create_plan_renders_like_terraform() {
    let plan = diff(desired(ONE_ZONE), Vec::new());
    let text = plan.render_text();
    // The full text is long; snapshot the head and the summary line.
    let head: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!(head);
    assert!(
        text.ends_with("Plan: 37 to add, 0 to change, 0 to replace, 0 to destroy.\n"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn applied_stack_plans_no_changes() {
    let cloud = Arc::new(FakeCloud::new());
    let desired = desired(ONE_ZONE);
    apply_all(&cloud, &desired).await;
    let plan = plan_of(&cloud, &desired).await;
    assert!(!plan.has_changes(), "{}", plan.render_text());
    assert_eq!(
        plan.render_text(),
        "No changes. Stack t matches its 37 live resources.\n"
    );
}

#[tokio::test(start_paused = true)]
async fn drift_shows_update_replace_and_delete() {
    let cloud = Arc::new(FakeCloud::new());
    let desired = desired(ONE_ZONE);
    apply_all(&cloud, &desired).await;
    // Mutable field changed out of band: update in place.
    cloud.tamper("t", "vpc", "enable_dns_hostnames", Value::Bool(false));
    // Immutable field: replace, and the dependents that reference it see a new id.
    cloud.tamper(
        "t",
        "subnet.data.a",
        "cidr_block",
        Value::from("10.0.250.0/24"),
    );
    // A resource of the stack that is not desired: delete.
    cloud.insert_raw("t", "sg.legacy", K::SecurityGroup, BTreeMap::new());
    // A route removed out of band: create.
    cloud.remove("t", "rt.public:0.0.0.0/0");
    let plan = plan_of(&cloud, &desired).await;
    insta::assert_snapshot!(plan.render_text());
    let json = plan.to_json();
    assert_eq!(json["summary"]["add"], 1);
    assert_eq!(json["summary"]["change"], 1);
    assert_eq!(json["summary"]["replace"], 2);
    assert_eq!(json["summary"]["destroy"], 1);
}

#[tokio::test(start_paused = true)]
async fn duplicates_are_deleted_and_an_applied_plan_converges() {
    let cloud = Arc::new(FakeCloud::new());
    let desired = desired(ONE_ZONE);
    apply_all(&cloud, &desired).await;
    let original = cloud.cloud_id("t", "igw").unwrap();
    let copy = cloud.insert_raw("t", "igw", K::InternetGateway, BTreeMap::new());
    let plan = plan_of(&cloud, &desired).await;
    // Named as a duplicate with every cloud id; the copy the route uses is kept.
    assert_eq!(
        plan.duplicates(),
        [crate::plan::Duplicate {
            id: "igw".into(),
            kind: K::InternetGateway,
            kept: original.clone(),
            extra: vec![copy.clone()],
        }]
    );
    assert!(
        plan.duplicates()[0]
            .describe()
            .contains(&format!("{original}, {copy}"))
    );
    let deletes: Vec<&Step> = plan
        .steps()
        .iter()
        .filter(|s| s.action == Action::Delete)
        .collect();
    assert_eq!(deletes.len(), 1);
    assert!(
        deletes[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("duplicate"),
        "{:?}",
        deletes[0].reason
    );
    apply_all(&cloud, &desired).await;
    assert_eq!(cloud.count("t", K::InternetGateway), 1);
    assert_eq!(cloud.cloud_id("t", "igw"), Some(original));
    let after = plan_of(&cloud, &desired).await;
    assert!(!after.has_changes());
    assert!(after.duplicates().is_empty());
}

#[tokio::test(start_paused = true)]
async fn of_two_copies_the_one_the_stack_uses_is_kept_whatever_its_id() {
    let cloud = Arc::new(FakeCloud::new());
    let desired = desired(ONE_ZONE);
    apply_all(&cloud, &desired).await;
    let original = cloud.cloud_id("t", "igw").unwrap();
    // A later copy (higher id) that the public route was pointed at.
    let copy = cloud.insert_raw("t", "igw", K::InternetGateway, BTreeMap::new());
    cloud.tamper(
        "t",
        "rt.public:0.0.0.0/0",
        "gateway_id",
        Value::CloudId(copy.clone()),
    );
    let plan = plan_of(&cloud, &desired).await;
    assert_eq!(plan.duplicates()[0].kept, copy);
    assert_eq!(plan.duplicates()[0].extra, vec![original]);
}

#[tokio::test(start_paused = true)]
async fn data_loss_and_deletion_protection_are_refused() {
    let yaml = "version: 1\nnetwork:\n  zones: [us-east-1a, us-east-1b]\ndatabase:\n  deletion_protection: true\ncaches:\n  cache: {}\nfilesystem: {}\nsearch:\n  deletion_protection: true\nqueue:\n  deletion_protection: true\n";
    let cloud = Arc::new(FakeCloud::new());
    let desired = desired(yaml);
    apply_all(&cloud, &desired).await;
    // Destroying everything: the protected cluster, search domain and broker are refused even
    // with --allow-data-loss; the cache, the file system and the two logins' secrets only
    // without it.
    let destroy = plan_of(&cloud, &Arc::new(desired.emptied())).await;
    let refusals = destroy.refusals(false);
    assert_eq!(refusals.len(), 7, "{refusals:#?}");
    // What would be lost, listed before any confirmation.
    let loss = destroy.data_loss();
    assert!(
        loss.iter()
            .any(|l| l.starts_with("delete db.cluster (aws_rds_cluster")),
        "{loss:#?}"
    );
    assert!(
        loss.iter()
            .any(|l| l.starts_with("delete efs (aws_efs_file_system")),
        "{loss:#?}"
    );
    assert!(
        loss.iter()
            .any(|l| l.contains("redis.cache") || l.contains("cache.")),
        "{loss:#?}"
    );
    assert!(
        loss.iter().all(|l| !l.contains("vpc")),
        "only what holds data: {loss:#?}"
    );
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("db.cluster") && r.contains("deletion protection is on")),
        "{refusals:#?}"
    );
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("redis.cache") && r.contains("--allow-data-loss"))
    );
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("refusing to delete efs "))
    );
    for protected in ["db.cluster", "search", "mq"] {
        assert!(
            refusals.iter().any(
                |r| r.starts_with(&format!("refusing to delete {protected} ("))
                    && r.contains("deletion protection is on")
            ),
            "{protected}: {refusals:#?}"
        );
    }
    let allowed = destroy.refusals(true);
    assert_eq!(allowed.len(), 3, "{allowed:#?}");
    // Lifting protection is an in-place update, which is allowed.
    let unprotected =
        desired_from(&yaml.replace("deletion_protection: true", "deletion_protection: false"));
    let plan = plan_of(&cloud, &unprotected).await;
    assert!(
        plan.refusals(false).is_empty(),
        "{:?}",
        plan.refusals(false)
    );
    // The cluster, the domain and the broker each lift their protection in place.
    assert_eq!(plan.summary().change, 3);
    let mut lifted: Vec<&str> = plan
        .steps()
        .iter()
        .filter(|s| s.action == Action::Update)
        .map(|s| s.id.as_str())
        .collect();
    lifted.sort_unstable();
    assert_eq!(lifted, ["db.cluster", "mq", "search"]);
}

fn desired_from(yaml: &str) -> Arc<DesiredGraph> {
    desired(yaml)
}

#[test]
fn prod_data_tier_plan_renders_protection_and_outputs_known_after_apply() {
    let stack = crate::stack::load(std::path::Path::new("../../stacks"), "prod").unwrap();
    let desired = Arc::new(crate::lower::lower(&stack).unwrap());
    let plan = diff(desired, Vec::new());
    let text = plan.render_text();
    // Only the data tier and DNS, to keep the snapshot readable.
    let mut data = String::new();
    for block in text.split("\n\n") {
        if [
            "# db.",
            "# redis.",
            "# cache.",
            "# efs",
            "# dns.",
            "# search",
            "# mq",
            "# secret.",
        ]
        .iter()
        .any(|p| block.trim_start().starts_with(p))
        {
            data.push_str(block);
            data.push_str("\n\n");
        }
    }
    insta::assert_snapshot!(data);
    // The master password is RDS's, the crypt key, the apps' database login, the admin user's
    // and the search and broker logins are generated by AWS into their secrets: the plan
    // says so and holds no password value.
    let password_lines: Vec<&str> = text.lines().filter(|l| l.contains("password")).collect();
    assert_eq!(password_lines.len(), 6, "{password_lines:?}");
    for line in password_lines {
        let (key, value) = line.split_once('=').unwrap();
        match key.trim().trim_start_matches("+ ") {
            "manage_master_user_password" => assert_eq!(value.trim(), "true"),
            "password_length" => assert!(["32", "24"].contains(&value.trim()), "{line}"),
            other => panic!("{other}: {line}"),
        }
    }
}

#[test]
fn sensitive_values_are_never_rendered() {
    let desired = desired(ONE_ZONE);
    let secret = Value::Str("hunter2".into());
    let change = |old: Option<Value>, new: Option<Value>| FieldChange {
        field: "password",
        old,
        new,
        forces_replacement: false,
        sensitive: true,
    };
    let live = Observed::new("vpc".into(), K::Vpc, "vpc-1");
    let plan = Plan {
        desired,
        steps: vec![
            Step {
                id: "vpc".into(),
                kind: K::Vpc,
                action: Action::Update,
                changes: vec![change(Some(secret.clone()), Some(secret.clone()))],
                reason: None,
                desired: None,
                live: Some(live),
            },
            Step {
                id: "igw".into(),
                kind: K::InternetGateway,
                action: Action::Create,
                changes: vec![change(None, Some(secret))],
                reason: None,
                desired: None,
                live: None,
            },
        ],
        observed: HashMap::new(),
        duplicates: Vec::new(),
    };
    let text = plan.render_text();
    let json = plan.to_json().to_string();
    assert!(text.contains("(sensitive value)"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!json.contains("hunter2"), "{json}");
}

#[test]
fn memcached_is_an_option_for_the_cache() {
    let yaml = "version: 1\nnetwork:\n  zones: [us-east-1a, us-east-1b]\ncaches:\n  cache: {engine: memcached, nodes: 2}\n  session: {}\ndns: {}\n";
    let graph = desired(yaml);
    let cache = graph
        .get(&"memcached.cache".into())
        .expect("memcached cluster");
    let ResourceSpec::CacheCluster(spec) = &cache.spec else {
        panic!("{cache:?}")
    };
    assert_eq!(
        (spec.id.as_str(), spec.num_nodes, spec.port),
        ("t-cache", 2, 11211)
    );
    assert!(graph.get(&"redis.session".into()).is_some());
    assert!(graph.get(&"redis.cache".into()).is_none());
    let record = graph
        .get(&"dns.memcached-cache".into())
        .expect("record for the memcached endpoint");
    assert_eq!(
        record
            .spec
            .dependencies()
            .iter()
            .filter(|(_, id)| id.as_str() == "memcached.cache")
            .count(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn data_tier_changes_update_in_place_or_replace_with_a_reason() {
    let base = "version: 1\nnetwork:\n  zones: [us-east-1a, us-east-1b]\ndatabase: {}\ncaches:\n  cache: {}\ndns: {}\n";
    let cloud = Arc::new(FakeCloud::new());
    apply_all(&cloud, &desired(base)).await;
    let changed = base
        .replace(
            "database: {}",
            "database: {instance_class: db.r6g.large, backup_retention_days: 7}",
        )
        .replace("cache: {}", "cache: {node_type: cache.t3.medium}")
        .replace("dns: {}", "dns: {ttl: 300}");
    let plan = plan_of(&cloud, &desired(&changed)).await;
    let actions: BTreeMap<&str, (Action, Vec<&str>)> = plan
        .steps()
        .iter()
        .filter(|s| s.action != Action::NoOp)
        .map(|s| {
            (
                s.id.as_str(),
                (s.action, s.changes.iter().map(|c| c.field).collect()),
            )
        })
        .collect();
    assert_eq!(
        actions["db.cluster"],
        (Action::Update, vec!["backup_retention_period"])
    );
    assert_eq!(
        actions["db.instance.1"],
        (Action::Update, vec!["instance_class"])
    );
    assert_eq!(actions["redis.cache"], (Action::Update, vec!["node_type"]));
    assert_eq!(actions["dns.db"], (Action::Update, vec!["ttl"]));
    assert!(plan.refusals(false).is_empty());

    // Renaming the database cannot happen in place: a replace, with the reason, refused
    // without --allow-data-loss; the instances and the records follow.
    let renamed = base.replace("database: {}", "database: {database_name: shop}");
    let plan = plan_of(&cloud, &desired(&renamed)).await;
    let cluster = plan
        .steps()
        .iter()
        .find(|s| s.id.as_str() == "db.cluster")
        .unwrap();
    assert_eq!(cluster.action, Action::Replace);
    assert_eq!(
        cluster.reason.as_deref(),
        Some("database_name cannot be changed in place")
    );
    let instance = plan
        .steps()
        .iter()
        .find(|s| s.id.as_str() == "db.instance.2")
        .unwrap();
    assert_eq!(instance.action, Action::Replace);
    let record = plan
        .steps()
        .iter()
        .find(|s| s.id.as_str() == "dns.db")
        .unwrap();
    assert_eq!(
        (record.action, record.changes[0].new.clone()),
        (Action::Update, None)
    );
    let refusals = plan.refusals(false);
    assert_eq!(refusals.len(), 1, "{refusals:#?}");
    assert!(
        refusals[0].starts_with("refusing to replace db.cluster"),
        "{refusals:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_engine_version_aws_raised_on_its_own_is_no_change() {
    let yaml = "version: 1\nnetwork:\n  zones: [us-east-1a, us-east-1b]\ndatabase:\n  engine_version: 8.0.mysql_aurora.3.05.2\ncaches:\n  cache: {engine: memcached, engine_version: '1.6'}\n";
    let desired = desired(yaml);
    let cloud = Arc::new(FakeCloud::new());
    apply_all(&cloud, &desired).await;
    // AWS upgraded the minor version, and reports the full memcached version.
    cloud.tamper(
        "t",
        "db.cluster",
        "engine_version",
        Value::Str("8.0.mysql_aurora.3.06.0".into()),
    );
    cloud.tamper(
        "t",
        "memcached.cache",
        "engine_version",
        Value::Str("1.6.22".into()),
    );
    let plan = plan_of(&cloud, &desired).await;
    assert!(!plan.has_changes(), "{}", plan.render_text());
    // An older live version is still upgraded to the stack's.
    cloud.tamper(
        "t",
        "db.cluster",
        "engine_version",
        Value::Str("8.0.mysql_aurora.3.04.0".into()),
    );
    let plan = plan_of(&cloud, &desired).await;
    let step = plan
        .steps()
        .iter()
        .find(|s| s.id.as_str() == "db.cluster")
        .unwrap();
    assert_eq!(step.action, Action::Update, "{}", plan.render_text());
    assert_eq!(plan.summary().change, 1);
}

#[tokio::test(start_paused = true)]
async fn outputs_name_what_operators_need_and_all_outputs_the_rest() {
    let mut stack = crate::stack::load(std::path::Path::new("../../stacks"), "dev").unwrap();
    stack.config.release.as_mut().unwrap().revision = Some("0a1b2c3".into());
    let desired = Arc::new(crate::lower::lower(&stack).unwrap());
    let cloud = Arc::new(FakeCloud::new());
    apply_all(&cloud, &desired).await;
    let observed = cloud.read_all("dev").await.unwrap();
    let short = outputs(&desired, &observed);
    let keys: Vec<&str> = short.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "admin_password_secret",
            "admin_revision",
            "admin_service",
            "admin_task_definition",
            "admin_url",
            "alb_dns_name",
            "bastion_public_ip",
            "cron_revision",
            "cron_service",
            "cron_task_definition",
            "db_endpoint",
            "db_reader_endpoint",
            "db_secret_arn",
            "dns_zone",
            "ecs_cluster",
            "efs_dns_name",
            "efs_id",
            "frontend_revision",
            "frontend_service",
            "frontend_task_definition",
            "queue_endpoint",
            "redis_cache_endpoint",
            "redis_session_endpoint",
            "search_endpoint",
            "storefront_url",
            "vpc_id",
            "worker_consumers_revision",
            "worker_consumers_service",
            "worker_consumers_task_definition",
        ]
    );
    // The shop on the load balancer's name (no `app.base_url` in dev), its admin panel at
    // `release.install.backend_frontname`, and the secret with the admin's password.
    assert_eq!(
        short["storefront_url"],
        format!("http://{}/", short["alb_dns_name"])
    );
    assert_eq!(
        short["admin_url"],
        format!("http://{}/admin", short["alb_dns_name"])
    );
    assert!(
        short["admin_password_secret"].ends_with(".arn.fake"),
        "the admin secret's ARN: {short:?}"
    );
    assert_eq!(short["frontend_revision"], "0a1b2c3");
    assert!(short["cron_service"].ends_with(".name.fake"), "{short:?}");
    assert_eq!(short["worker_consumers_revision"], "0a1b2c3");
    let all = all_outputs(&observed);
    assert_eq!(all["secret.admin.arn"], short["admin_password_secret"]);
    assert!(all.len() > 3 * short.len());
    assert_eq!(all["db.cluster.endpoint"], short["db_endpoint"]);
    assert!(
        all.keys().all(|k| k.contains('.')),
        "--all uses <id>.<output> names only"
    );
}

#[tokio::test(start_paused = true)]
async fn a_release_set_on_the_command_line_plans_one_migration_new_revisions_and_service_updates() {
    let dir = std::path::Path::new("../../stacks");
    let desired1 = Arc::new(crate::lower::lower(&crate::stack::load(dir, "dev").unwrap()).unwrap());
    let cloud = Arc::new(FakeCloud::new());
    apply_all(&cloud, &desired1).await;
    let set = crate::stack::Override::parse("release.tag=2.4.8").unwrap();
    let desired2 = Arc::new(
        crate::lower::lower(&crate::stack::load_with(dir, "dev", &[set]).unwrap()).unwrap(),
    );
    let plan = plan_of(&cloud, &desired2).await;
    let changed: Vec<(&str, Action)> = plan
        .steps()
        .iter()
        .filter(|s| s.action != Action::NoOp)
        .map(|s| (s.id.as_str(), s.action))
        .collect();
    assert_eq!(
        changed,
        [
            ("ecs.taskdef.db-admin", Action::Replace),
            ("ecs.taskdef.db-rotate", Action::Replace),
            // Cron and the workers run the admin's build: the new one, after the migration.
            ("ecs.taskdef.admin", Action::Replace),
            ("ecs.taskdef.cron", Action::Replace),
            ("ecs.taskdef.frontend", Action::Replace),
            ("ecs.taskdef.worker-consumers", Action::Replace),
            // The database login is made sure of on the new build, before the migration.
            ("release.db-login", Action::Update),
            // The install's task definition follows the build; the install itself ran once,
            // on the first up, and runs no more.
            ("ecs.taskdef.install", Action::Replace),
            ("release.migrate", Action::Update),
            ("ecs.service.admin", Action::Update),
            ("ecs.service.cron", Action::Update),
            ("ecs.service.frontend", Action::Update),
            ("ecs.service.worker-consumers", Action::Update),
            // Adobe's order: the caches are cleaned once every service runs the new build.
            ("release.cache-clean", Action::Update),
            ("release.record", Action::Update),
        ],
        "{}",
        plan.render_text()
    );
    // The plan shows the container settings that changed, and only those.
    let text = plan.render_text();
    assert!(
        text.contains(
            "          - [\"php-fpm\", \"image\", \"public.ecr.aws/magecloudkit/magento:2.4.7-p1\"]\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "          + [\"php-fpm\", \"image\", \"public.ecr.aws/magecloudkit/magento:2.4.8\"]\n"
        ),
        "{text}"
    );
    assert!(!text.contains("memory_reservation"), "{text}");
    assert!(
        text.contains(
            "~ image = \"public.ecr.aws/magecloudkit/magento:2.4.7-p1\" -> \"public.ecr.aws/magecloudkit/magento:2.4.8\""
        ),
        "{text}"
    );
    apply_all(&cloud, &desired2).await;
    // The new revisions took over; the old ones stay registered for rollback.
    assert_eq!(cloud.count("dev", K::TaskDefinition), 14);
    assert!(!plan_of(&cloud, &desired2).await.has_changes());
    // The migration ran on the new revision, after it was registered and before either
    // service moved to it.
    let calls: Vec<(String, Op)> = cloud
        .calls()
        .into_iter()
        .map(|c| (c.id.to_string(), c.op))
        .collect();
    let at = |id: &str, op: Op| {
        calls
            .iter()
            .rposition(|(i, o)| i == id && *o == op)
            .unwrap_or_else(|| panic!("no {op:?} of {id} in {calls:?}"))
    };
    let migrate = at("release.migrate", Op::Update);
    assert!(at("ecs.taskdef.admin", Op::Create) < migrate);
    assert!(migrate < at("ecs.service.admin", Op::Update));
    assert!(migrate < at("ecs.service.frontend", Op::Update));
    // Cron and the workers move to the new build only once the database is migrated; the
    // caches are cleaned once every service has.
    let clean = at("release.cache-clean", Op::Update);
    for service in ["cron", "worker-consumers", "admin", "frontend"] {
        let rolled = at(&format!("ecs.service.{service}"), Op::Update);
        assert!(migrate < rolled && rolled < clean, "{service}");
    }
}

/// Two runs that shared one VPC left two copies of a route table and of its route: the route
/// kept is the one in the table kept, never one in a table deleted as extra (the e2e race test
/// once ended with a route missing after `up --dedupe` reported success).
#[test]
fn a_duplicate_child_follows_the_copy_of_its_parent_that_is_kept() {
    let o = |id: &str, kind: ResourceKind, cloud_id: &str, refs: &[&str]| {
        let mut o = Observed::new(id.into(), kind, cloud_id);
        for (n, r) in refs.iter().enumerate() {
            o.fields
                .insert(format!("ref{n}"), Value::CloudId((*r).to_string()));
        }
        o
    };
    let observed = vec![
        o("vpc", ResourceKind::Vpc, "vpc-1", &[]),
        o("rt.public", ResourceKind::RouteTable, "rtb-1", &["vpc-1"]),
        o("rt.public", ResourceKind::RouteTable, "rtb-2", &["vpc-1"]),
        // rtb-2 is the more used table: it is kept.
        o(
            "rta.subnet.public.a",
            ResourceKind::RouteTableAssociation,
            "rtbassoc-1",
            &["rtb-2"],
        ),
        o(
            "rt.public:0.0.0.0/0",
            ResourceKind::Route,
            "rtb-1|0.0.0.0/0",
            &["rtb-1"],
        ),
        o(
            "rt.public:0.0.0.0/0",
            ResourceKind::Route,
            "rtb-2|0.0.0.0/0",
            &["rtb-2"],
        ),
        o(
            "rta.subnet.public.b",
            ResourceKind::RouteTableAssociation,
            "rtbassoc-2",
            &["rtb-2"],
        ),
        // Only one run made this route, in the table deleted as extra.
        o(
            "rt.public:::/0",
            ResourceKind::Route,
            "rtb-1|::/0",
            &["rtb-1"],
        ),
    ];
    let extra = super::extra_copies(&observed);
    assert!(
        extra.contains(&(ResourceKind::RouteTable, "rtb-1".to_string())),
        "{extra:?}"
    );
    assert!(
        extra.contains(&(ResourceKind::Route, "rtb-1|0.0.0.0/0".to_string())),
        "the route in the deleted table goes, the one in the kept table stays: {extra:?}"
    );
    assert!(
        extra.contains(&(ResourceKind::Route, "rtb-1|::/0".to_string())),
        "a route with no copy of its own goes with its table, to be made again: {extra:?}"
    );
    assert_eq!(extra.len(), 3, "{extra:?}");
}

#[tokio::test(start_paused = true)]
async fn the_compact_summary_counts_per_section_and_calls_out_replacements_and_data() {
    let dir = std::path::Path::new("../../stacks");
    let dev = Arc::new(crate::lower::lower(&crate::stack::load(dir, "dev").unwrap()).unwrap());
    let cloud = Arc::new(FakeCloud::new());
    let first = plan_of(&cloud, &dev).await;
    assert!(
        first.summary().add > super::SMALL_PLAN,
        "the first up is a big plan"
    );
    let created = first.render_summary();
    apply_all(&cloud, &dev).await;
    let set = crate::stack::Override::parse("release.tag=2.4.8").unwrap();
    let release = Arc::new(
        crate::lower::lower(&crate::stack::load_with(dir, "dev", &[set]).unwrap()).unwrap(),
    );
    let released = plan_of(&cloud, &release).await.render_summary();
    let destroyed = plan_of(&cloud, &Arc::new(dev.emptied()))
        .await
        .render_summary();
    let unchanged = plan_of(&cloud, &dev).await.render_summary();
    assert_eq!(
        unchanged,
        format!(
            "Plan for stack dev: 0 to create, 0 to update, 0 to replace, 0 to delete ({} unchanged).\n",
            first.summary().add
        )
    );
    // Every change is counted once, in its tier.
    let total: usize = created
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("tier"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            l.split_whitespace()
                .filter_map(|n| n.parse::<usize>().ok())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(total, first.summary().add, "{created}");
    insta::assert_snapshot!(format!(
        "== first up\n{created}\n== a release\n{released}\n== down\n{destroyed}"
    ));
}

/// A class change of a cluster with readers plans the zero-downtime order: the readers one at
/// a time, a failover to the first, then the writer; a single instance says it restarts.
#[tokio::test]
async fn a_database_resize_plans_readers_then_a_failover_then_the_writer() {
    let prod = |sets: &[&str]| {
        let sets: Vec<crate::stack::Override> = sets
            .iter()
            .map(|s| crate::stack::Override::parse(s).unwrap())
            .collect();
        crate::Engine::desired(
            &crate::stack::load_with(std::path::Path::new("../../stacks"), "prod", &sets).unwrap(),
        )
        .unwrap()
    };
    let cloud = Arc::new(FakeCloud::new());
    let engine = crate::Engine::new(cloud.clone(), ExecConfig::default());
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let first = engine.plan(prod(&[])).await.unwrap();
    assert!(first.resize_order().is_none());
    assert!(
        engine
            .apply(&first, tx, CancelToken::default())
            .await
            .is_success()
    );
    let live = engine.plan(prod(&[])).await.unwrap();
    let writer = live.observed()[&LogicalId::new("db.instance.1")]
        .cloud_id
        .clone();
    let observed: Vec<Observed> = live
        .observed()
        .values()
        .cloned()
        .map(|mut o| {
            if o.kind == K::DbCluster {
                o.outputs.insert(
                    crate::model::DbClusterSpec::OUT_WRITER.into(),
                    writer.clone(),
                );
            }
            o
        })
        .collect();
    let bigger = diff(
        prod(&["database.instance_class=db.r6g.xlarge"]),
        observed.clone(),
    );
    let order = bigger.resize_order().unwrap();
    let reader = &live.observed()[&LogicalId::new("db.instance.2")].cloud_id;
    assert_eq!(
        order,
        format!(
            "the database is resized without downtime: the readers one at a time ({reader}), then a failover to {reader}, then {writer} (the writer until then)"
        )
    );
    // Nothing to resize: no order.
    assert!(diff(prod(&[]), observed).resize_order().is_none());
}
