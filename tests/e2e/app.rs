//! The app tier alone on the network tier: `kill -9` while it is being created, then a re-run
//! leaves exactly one of each; HTTPS with a certificate. Checked with boto3 (`py/app.py`).

use mck_core::model::ResourceKind;
use serde_json::Value;

use mck_tests::{Harness, TestStack, assert_exit};

/// The network tier plus the app tier (no data tier): the apps, their load balancer, HTTP.
pub(crate) fn app_only(certificate: Option<&str>) -> String {
    app_stack(certificate, "app: {capacity: fargate}")
}

fn app_stack(certificate: Option<&str>, app: &str) -> String {
    let alb = certificate.map_or_else(
        || "alb: {}\n".to_string(),
        |arn| format!("alb: {{certificate_arn: {arn}}}\n"),
    );
    format!(
        "{}{app}
apps:
  frontend:
    containers:
      nginx:   {{ image: public.ecr.aws/magecloudkit/nginx, port: 80, memory_reservation: 128 }}
      php-fpm: {{ image: public.ecr.aws/magecloudkit/magento, memory_reservation: 768 }}
    cpu: 512
    memory: 1024
  admin:
    containers:
      nginx:   {{ image: public.ecr.aws/magecloudkit/nginx, port: 80, memory_reservation: 128 }}
      php-fpm: {{ image: public.ecr.aws/magecloudkit/magento, memory_reservation: 768 }}
    cpu: 512
    memory: 1024
    paths: [/backend/*]
release: {{tag: 2.4.7-p1}}
{alb}",
        crate::NETWORK_ONLY
    )
}

/// How many of each app-tier resource boto3 sees for the stack.
fn app_counts(app: &Value) -> Vec<(&'static str, usize)> {
    let len = |key: &str| app[key].as_array().map_or(0, Vec::len);
    let lbs = app["load_balancers"].as_array().unwrap();
    let listeners: usize = lbs
        .iter()
        .map(|lb| lb["listeners"].as_array().unwrap().len())
        .sum();
    let rules: usize = lbs
        .iter()
        .flat_map(|lb| lb["listeners"].as_array().unwrap())
        .map(|l| l["rules"].as_array().unwrap().len())
        .sum();
    vec![
        (ResourceKind::LogGroup.name(), len("log_groups")),
        (ResourceKind::Role.name(), len("roles")),
        (ResourceKind::EcsCluster.name(), len("clusters")),
        (ResourceKind::TaskDefinition.name(), len("task_definitions")),
        (ResourceKind::TargetGroup.name(), len("target_groups")),
        (ResourceKind::LoadBalancer.name(), len("load_balancers")),
        (ResourceKind::Listener.name(), listeners),
        (ResourceKind::ListenerRule.name(), rules),
        (ResourceKind::EcsService.name(), len("services")),
    ]
}

/// The counts of `desired` that [`app_counts`] counts, in its order (0 for a kind the stack
/// has none of): what the app tier must contain, comparable entry by entry.
fn app_tier(desired: Vec<(&'static str, usize)>) -> Vec<(&'static str, usize)> {
    app_counts(&serde_json::json!({"load_balancers": []}))
        .into_iter()
        .map(|(name, _)| {
            let n = desired
                .iter()
                .find(|(d, _)| *d == name)
                .map_or(0, |(_, n)| *n);
            (name, n)
        })
        .collect()
}

fn app_of(harness: &Harness, stack: &TestStack) -> Value {
    harness.python("app.py", &[&stack.name])
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn killed_during_the_app_tier_a_rerun_leaves_exactly_one_of_each() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-appkill", &app_only(None));
    let expected = app_tier(stack.desired_counts());
    assert_exit(&stack.mck("down", &["--yes", "--allow-data-loss"]), 0);
    // The network tier comes first and is most of the stack; with 4 steps at a time the kills
    // land while the app tier is being created (roles, log groups and the cluster early, the
    // load balancer, listener, rule and services late).
    let mut killed_with_app_work_left = 0;
    for n in [40, 12, 6, 3] {
        crate::kill::kill_after(&stack, "up", n);
        let partial = app_counts(&app_of(&harness, &stack));
        for ((kind, have), (_, want)) in partial.iter().zip(&expected) {
            assert!(have <= want, "{kind}: {have} > {want} after a kill");
        }
        if partial != expected {
            killed_with_app_work_left += 1;
        }
    }
    assert!(
        killed_with_app_work_left >= 2,
        "the kills landed during the app tier"
    );
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    let app = app_of(&harness, &stack);
    assert_eq!(app_counts(&app), expected, "{app:#}");
    assert_eq!(counts_of_network(&stack), crate::network_only_counts());
    // Nothing is left to do.
    assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 0);
    // No noise: drift right after up finds nothing.
    assert_exit(&stack.mck("drift", &[]), 0);
    assert_eq!(app_counts(&app_of(&harness, &stack)), expected);

    assert_exit(&stack.mck("down", &["--yes", "--allow-data-loss"]), 0);
    let after = app_counts(&app_of(&harness, &stack));
    assert!(after.iter().all(|(_, n)| *n == 0), "{after:?}");
}

fn counts_of_network(stack: &TestStack) -> Vec<(&'static str, usize)> {
    crate::counts(&stack.inventory())
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn with_a_certificate_http_redirects_to_https_with_the_tls_policy() {
    let harness = Harness::from_env();
    let cert = harness.python("certificate.py", &["shop.example.com"]);
    let cert = cert["arn"].as_str().unwrap();
    let stack = harness.stack_from("e2e-https", &app_only(Some(cert)));
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    let app = app_of(&harness, &stack);
    let lb = &app["load_balancers"][0];
    let tg = |name: &str| {
        app["target_groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == format!("{}-{name}", stack.name).as_str())
            .unwrap()["arn"]
            .clone()
    };
    let mut listeners = lb["listeners"].as_array().unwrap().clone();
    listeners.sort_by_key(|l| l["port"].as_i64());
    assert_eq!(
        Value::Array(listeners),
        serde_json::json!([
            {"port": 80, "protocol": "HTTP", "forward": [], "certificates": [], "ssl_policy": null,
             "redirect": [{"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}], "rules": []},
            {"port": 443, "protocol": "HTTPS", "forward": [tg("frontend")], "redirect": [],
             "certificates": [cert], "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
             "rules": [{"priority": "10", "paths": ["/backend/*"], "forward": [tg("admin")]}]},
        ]),
        "{app:#}"
    );
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 0);
    assert_exit(&stack.mck("drift", &[]), 0);
    assert_exit(&stack.mck("down", &["--yes", "--allow-data-loss"]), 0);
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn ec2_capacity_builds_app_servers_that_join_the_cluster_and_down_removes_them() {
    let harness = Harness::from_env();
    let stack = harness.stack_from(
        "e2e-ec2",
        &app_stack(
            None,
            "app: {capacity: ec2, servers: {instance_type: c5.large, min: 2, max: 3}}",
        ),
    );
    let name = stack.name.clone();
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    let app = app_of(&harness, &stack);
    let servers = &app["servers"];
    let inventory = stack.inventory();
    let subnet = |id: &str| crate::by_id(&inventory, "subnets", id)["id"].clone();
    let mut private: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|z| subnet(&format!("subnet.private.{z}")))
        .collect();
    private.sort_by_key(|v| v.as_str().unwrap().to_string());
    let group = &servers["group"];
    assert_eq!(group["min"], 2, "{app:#}");
    assert_eq!(group["max"], 3);
    assert_eq!(group["subnets"], Value::Array(private));
    assert_eq!(group["template"], format!("{name}-app-server"));
    assert_eq!(group["template_version"], "$Default");
    assert_eq!(group["instances"], 2, "the group launched its minimum");
    // ECS's managed scaling needs AmazonECSManaged; the stack's identity stays on the group.
    assert_eq!(
        group["tags"]["AmazonECSManaged"],
        serde_json::json!(["true", true])
    );
    assert_eq!(
        group["tags"]["mck:id"],
        serde_json::json!(["ecs.servers", false])
    );
    let template = &servers["template"];
    assert_eq!(
        template["image_name"],
        "al2023-ami-ecs-hvm-2023.0.20241108-kernel-6.1-x86_64"
    );
    assert_eq!(template["image_owner"], "591542846629");
    assert_eq!(template["instance_type"], "c5.large");
    assert_eq!(
        template["security_groups"],
        serde_json::json!([crate::by_id(&inventory, "security_groups", "sg.app")["id"]])
    );
    assert_eq!(template["instance_profile"], format!("{name}-app-server"));
    assert!(
        template["user_data"]
            .as_str()
            .unwrap()
            .contains(&format!("ECS_CLUSTER={name}-app")),
        "{template:#}"
    );
    assert_eq!(template["http_tokens"], "required");
    assert_eq!(
        servers["instance_profile"],
        serde_json::json!({"name": format!("{name}-app-server"), "roles": [format!("{name}-app-server")]})
    );
    assert_eq!(
        servers["capacity_provider"],
        serde_json::json!({"name": format!("mck-{name}-app-servers"), "group": group["arn"],
            "managed_scaling": ["ENABLED", 100]})
    );
    assert_eq!(
        app["clusters"][0]["capacity_providers"],
        serde_json::json!([format!("mck-{name}-app-servers")])
    );
    assert_eq!(
        app["clusters"][0]["default_strategy"],
        serde_json::json!([format!("mck-{name}-app-servers")])
    );
    let role = app["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == format!("{name}-app-server").as_str())
        .unwrap();
    assert_eq!(role["service"], "ec2.amazonaws.com");
    // The group's instances are not resources of the stack: the plan leaves them alone, and
    // the services run on the capacity provider as made: nothing to do.
    assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 0);

    assert_exit(&stack.mck("down", &["--yes", "--allow-data-loss"]), 0);
    let after = app_of(&harness, &stack);
    assert_eq!(after["servers"], serde_json::json!({}), "{after:#}");
    assert!(after["roles"].as_array().unwrap().is_empty());
}

/// The shipped prod stack (NAT per zone, data tier, app servers, four frontend tasks), with
/// deletion protection and the final snapshot off so the test can remove it: killed twice
/// while the app tier is being created, then up, verified with boto3, planned, and down.
#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn prod_stack_killed_during_the_app_tier_converges_and_goes_away() {
    let harness = Harness::from_env();
    let name = format!("e2e-prod-{}", std::process::id() % 100_000);
    let stack = harness.stack(&name);
    let prod = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks/prod.yaml"),
    )
    .unwrap();
    stack.write(
        &prod
            .replace("stack: prod", &format!("stack: {name}"))
            .replace("deletion_protection: true", "deletion_protection: false")
            .replace("final_snapshot: true", "final_snapshot: false"),
    );
    // Prod: three roles (tasks, execution, app servers), the app servers, four frontend tasks.
    let expected = app_tier(stack.desired_counts());
    let mut left_work = 0;
    for n in [70, 12] {
        crate::kill::kill_after(&stack, "up", n);
        let partial = app_counts(&app_of(&harness, &stack));
        for ((kind, have), (_, want)) in partial.iter().zip(&expected) {
            assert!(have <= want, "{kind}: {have} > {want} after a kill");
        }
        if partial != expected {
            left_work += 1;
        }
    }
    assert!(left_work >= 1, "a kill landed during the app tier");
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    let app = app_of(&harness, &stack);
    assert_eq!(app_counts(&app), expected, "{app:#}");
    let servers = &app["servers"];
    assert_eq!(servers["group"]["min"], 2);
    assert_eq!(servers["group"]["max"], 6);
    assert_eq!(servers["template"]["instance_type"], "c5.large");
    assert_eq!(
        servers["capacity_provider"]["group"],
        servers["group"]["arn"]
    );
    let frontend = app["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "frontend")
        .unwrap();
    assert_eq!(frontend["desired"], 4);
    let tg = app["target_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == format!("{name}-frontend").as_str())
        .unwrap();
    assert_eq!(tg["targets"].as_array().unwrap().len(), 4, "{tg:#}");
    assert_eq!(app["clusters"][0]["tags"]["environment"], "prod", "{app:#}");
    // The operations tier, as boto3 sees it: every alarm mck planned, each notifying the
    // stack's topic, the dashboard graphing each, and each app's rollout gated on its 5xx
    // alarm (workers and cron on none).
    let ops = harness.python("alarms.py", &[&name]);
    let alarms = ops["alarms"].as_array().unwrap();
    let planned = stack
        .desired_counts()
        .iter()
        .find(|(kind, _)| *kind == "aws_cloudwatch_metric_alarm")
        .map_or(0, |(_, n)| *n);
    assert!(planned >= 20, "{planned}");
    assert_eq!(alarms.len(), planned, "{ops:#}");
    let topic = ops["topic"]["arn"].as_str().unwrap();
    assert_eq!(ops["topic"]["tags"]["mck:stack"], name.as_str(), "{ops:#}");
    assert_eq!(
        ops["subscriptions"],
        serde_json::json!(["email:ops@example.com"])
    );
    let mut arns: Vec<&str> = Vec::new();
    for alarm in alarms {
        assert_eq!(alarm["actions"], serde_json::json!([topic]), "{alarm:#}");
        assert_eq!(alarm["ok_actions"], serde_json::json!([topic]), "{alarm:#}");
        assert_eq!(alarm["tags"]["mck:stack"], name.as_str(), "{alarm:#}");
        arns.push(alarm["arn"].as_str().unwrap());
    }
    let mut graphed: Vec<&str> = ops["dashboard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    graphed.sort_unstable();
    arns.sort_unstable();
    assert_eq!(graphed, arns);
    let alarm = |suffix: &str| {
        alarms
            .iter()
            .find(|a| a["name"] == format!("mck/{name}/{suffix}").as_str())
            .unwrap_or_else(|| panic!("no alarm {suffix}: {ops:#}"))
    };
    assert_eq!(alarm("db.cpu")["threshold"], 70.0);
    assert_eq!(alarm("db.connections")["threshold"], 1000.0);
    assert_eq!(
        alarm("db.cpu")["dimensions"]["DBClusterIdentifier"],
        format!("{name}-db").as_str()
    );
    let errors = alarm("app.frontend.5xx");
    assert!(
        errors["dimensions"]["TargetGroup"]
            .as_str()
            .unwrap()
            .starts_with(&format!("targetgroup/{name}-frontend/")),
        "{errors:#}"
    );
    assert!(
        errors["dimensions"]["LoadBalancer"]
            .as_str()
            .unwrap()
            .starts_with(&format!("app/{name}-alb/")),
        "{errors:#}"
    );
    assert_eq!(
        alarm("service.frontend.running")["math"],
        serde_json::json!(["RunningTaskCount", "DesiredTaskCount", "desired - running"])
    );
    for (service, gates) in ops["deployment_alarms"].as_object().unwrap() {
        let want: Vec<String> = if ["frontend", "admin"].contains(&service.as_str()) {
            vec![format!("mck/{name}/app.{service}.5xx")]
        } else {
            Vec::new()
        };
        assert_eq!(gates, &serde_json::json!(want), "{service}");
    }
    // The frontend scales between 4 and 12 tasks on requests per task at its target group.
    let frontend_scaling = &ops["scaling"]["frontend"];
    assert_eq!(frontend_scaling["min"], 4, "{ops:#}");
    assert_eq!(frontend_scaling["max"], 12, "{ops:#}");
    assert_eq!(frontend_scaling["scale_in_suspended"], false, "{ops:#}");
    let policy = &frontend_scaling["policies"][0];
    assert_eq!(policy["metric"], "ALBRequestCountPerTarget", "{ops:#}");
    assert_eq!(policy["target"], 1000.0, "{ops:#}");
    assert!(
        policy["label"]
            .as_str()
            .unwrap()
            .contains(&format!("/targetgroup/{name}-frontend/")),
        "{ops:#}"
    );
    assert_eq!(ops["scaling"].as_object().unwrap().len(), 1, "{ops:#}");
    // Backups (seed 004): the vault and the plan of the stack, every 6 hours kept 14 days into
    // the vault, and one selection of the Aurora cluster and the file system under the
    // stack's backup role.
    let backup = &ops["backup"];
    assert_eq!(
        backup["vault"]["name"],
        format!("mck-{name}").as_str(),
        "{ops:#}"
    );
    assert_eq!(
        backup["vault"]["tags"]["mck:stack"],
        name.as_str(),
        "{ops:#}"
    );
    let plans = backup["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 1, "{ops:#}");
    assert_eq!(plans[0]["tags"]["mck:id"], "backup.plan", "{ops:#}");
    assert_eq!(
        plans[0]["rules"],
        serde_json::json!([{
            "schedule": "cron(0 */6 ? * * *)",
            "vault": format!("mck-{name}"),
            "delete_after_days": 14,
        }]),
        "{ops:#}"
    );
    let selections = plans[0]["selections"].as_array().unwrap();
    assert_eq!(selections.len(), 1, "{ops:#}");
    let selected: Vec<&str> = selections[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(selected.len(), 2, "{ops:#}");
    assert!(
        selected[0].contains(":elasticfilesystem:") && selected[0].contains(":file-system/fs-"),
        "{ops:#}"
    );
    assert!(
        selected[1].ends_with(&format!(":cluster:{name}-db")),
        "{ops:#}"
    );
    assert!(
        selections[0]["role"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{name}-backup")),
        "{ops:#}"
    );
    // Operator access: without AWS's Session Manager plugin, `exec` and `tunnel` say so and
    // stop before any AWS call; with one on PATH (a stand-in that records its arguments) they
    // look for a task to enter: the emulator starts tasks without ECS Exec (docs/emulator.md),
    // which is refused naming what to do, and the plugin is never run.
    let no_plugin = stack.mck_env(
        "exec",
        &["--", "bin/magento", "indexer:status"],
        &[("PATH", "/usr/bin:/bin")],
    );
    assert_exit(&no_plugin, 1);
    assert!(
        String::from_utf8_lossy(&no_plugin.stderr).contains("session-manager-plugin"),
        "{}",
        mck_tests::text(&no_plugin)
    );
    let plugin_dir = stack.dir.join("plugin");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    let plugin = plugin_dir.join("session-manager-plugin");
    std::fs::write(
        &plugin,
        format!("#!/bin/sh\necho \"$@\" > {}/ran\n", plugin_dir.display()),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", plugin_dir.display());
    for (command, args) in [
        ("exec", vec!["--", "bin/magento", "indexer:status"]),
        ("tunnel", vec!["db"]),
    ] {
        let out = stack.mck_env(command, &args, &[("PATH", path.as_str())]);
        assert_exit(&out, 1);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("started without ECS Exec") && said.contains("mck up --stack"),
            "{said}"
        );
    }
    assert!(
        !plugin_dir.join("ran").exists(),
        "the plugin ran without a session"
    );
    let unknown = stack.mck_env("exec", &["--app", "nope"], &[("PATH", path.as_str())]);
    assert_exit(&unknown, 1);
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("has no service nope; it has admin, cron, frontend"),
        "{}",
        mck_tests::text(&unknown)
    );
    // Nothing is left to do, and drift finds nothing: the app servers' instances (launched
    // by the stack's Auto Scaling group) are not reported as unmanaged. (Once, in a full run,
    // this plan wanted three worker services that boto3 listed: the services as boto3 saw
    // them are shown with a failure, to find out why.)
    let plan = stack.mck("plan", &["--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}\nthe services as boto3 saw them after up: {:#}\nand now: {:#}",
        mck_tests::text(&plan),
        app["services"],
        app_of(&harness, &stack)["services"]
    );
    let drift = stack.mck("drift", &["--format", "json"]);
    assert_exit(&drift, 0);
    let drift: Value = serde_json::from_slice(&drift.stdout).unwrap();
    let drifted: Vec<&Value> = drift["stacks"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["class"] != "unchecked")
        .collect();
    assert_eq!(drifted, Vec::<&Value>::new(), "{drift:#}");

    // A resize without downtime: the plan says the order, `up` follows it (the writer last,
    // after a failover to a resized reader), boto3 sees every instance resized, and nothing is
    // left to do.
    let bigger = ["--set", "database.instance_class=db.r6g.xlarge"];
    let planned = stack.mck("plan", &bigger);
    assert!(
        String::from_utf8_lossy(&planned.stderr)
            .contains("resized without downtime: the readers one at a time"),
        "{}",
        mck_tests::text(&planned)
    );
    assert_exit(&stack.mck("up", &[&bigger[..], &["--yes"]].concat()), 0);
    let classes = harness.aws(&[
        "rds",
        "describe-db-instances",
        "--query",
        &format!("DBInstances[?DBClusterIdentifier=='{name}-db'].DBInstanceClass"),
        "--output",
        "text",
    ]);
    let classes: Vec<&str> = classes.split_whitespace().collect();
    assert_eq!(classes, ["db.r6g.xlarge", "db.r6g.xlarge"], "{classes:?}");
    assert_exit(
        &stack.mck("plan", &[&bigger[..], &["--detailed-exitcode"]].concat()),
        0,
    );
    // prod is `protected: true`: down refuses without --force, before anything changes.
    let refused = stack.mck("down", &["--yes", "--allow-data-loss"]);
    assert_exit(&refused, 1);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("it is protected"),
        "{}",
        mck_tests::text(&refused)
    );
    assert_eq!(app_counts(&app_of(&harness, &stack)), expected);
    // down: everything goes. What is lost is listed first, with what the APIs say it holds.
    let down = stack.mck("down", &["--yes", "--allow-data-loss", "--force"]);
    assert_exit(&down, 0);
    let said = String::from_utf8_lossy(&down.stderr);
    assert!(
        said.contains("this loses data:")
            && said.contains("delete db.cluster (aws_rds_cluster")
            && said.contains("Aurora cluster with 2 instance(s)")
            && said.contains("cache node(s) of cache.t3.medium")
            && said.contains("stored"),
        "{said}"
    );
    let after = app_of(&harness, &stack);
    assert!(app_counts(&after).iter().all(|(_, n)| *n == 0), "{after:#}");
    assert_eq!(after["servers"], serde_json::json!({}), "{after:#}");
    let ops = harness.python("alarms.py", &[&name]);
    assert_eq!(ops["alarms"], serde_json::json!([]), "{ops:#}");
    assert_eq!(ops["topic"], Value::Null, "{ops:#}");
    assert_eq!(ops["dashboard"], Value::Null, "{ops:#}");
    assert_eq!(ops["scaling"], serde_json::json!({}), "{ops:#}");
    assert_eq!(ops["backup"], Value::Null, "{ops:#}");
}

/// The shipped stage stack (base with one NAT gateway and its own CIDR): `up`, then nothing to
/// plan and nothing drifted, then `down` leaves nothing: the emulator answers as AWS documents
/// for everything the stack uses (docs/emulator.md).
#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn the_stage_stack_plans_nothing_after_up_and_goes_away_completely() {
    let harness = Harness::from_env();
    let name = format!("e2e-stage-{}", std::process::id() % 100_000);
    let stack = harness.stack(&name);
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks/stage.yaml");
    let stage = std::fs::read_to_string(shipped).unwrap();
    stack.write(&stage.replace("stack: stage", &format!("stack: {name}")));
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 0);
    assert_exit(&stack.mck("drift", &[]), 0);
    assert_exit(&stack.mck("down", &["--yes", "--allow-data-loss"]), 0);
    assert_eq!(
        mck_tests::total(&counts_of_network(&stack)),
        0,
        "nothing is left"
    );
}
