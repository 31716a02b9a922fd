//! The data tier and service discovery end to end (the full dev stack), verified with boto3:
//! `up`, then a plan and a drift with nothing to do, the database login's rotation, in-place
//! updates, the data-loss guards, and a `down` that leaves nothing (the emulator answers as AWS
//! documents for what this needs: xtask/moto_server_mck.py, docs/emulator.md).

use mck_tests::{Harness, assert_exit, text};
use serde_json::Value;

use crate::{by_id, section};

/// The variables docs/magento.md's table documents, each with whether every stack with a
/// database, Redis caches, search and a broker has it (rows whose value starts "when …" do not).
/// `<NAME>` in a variable stands for a cache's name.
fn documented_variables() -> Vec<(String, bool)> {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/magento.md"),
    )
    .unwrap();
    doc.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let name = cells[0].trim_start_matches("| `");
            let name = name.split('`').next().unwrap().to_string();
            (name, !cells[1].starts_with("when "))
        })
        .collect()
}

/// Whether `name` is the documented variable `pattern`.
fn is_documented_as(pattern: &str, name: &str) -> bool {
    match pattern.split_once("<NAME>") {
        Some((before, after)) => {
            name.len() > before.len() + after.len()
                && name.starts_with(before)
                && name.ends_with(after)
        }
        None => pattern == name,
    }
}

fn strings(value: &Value) -> Vec<String> {
    let mut v: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn data_tier_up_verify_plan_guard_down() {
    let harness = Harness::from_env();
    // The emulator never frees a deleted replication group's id: a new name per run.
    let name = format!("e2e-data-{}", std::process::id() % 100_000);
    let name = name.as_str();
    let stack = harness.stack(name);

    let up = stack.mck("up", &["--yes"]);
    assert_exit(&up, 0);
    let net = stack.inventory();
    let data = harness.python("data.py", &[name]);
    let subnet = |id: &str| {
        by_id(&net, "subnets", id)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let sg = |id: &str| {
        by_id(&net, "security_groups", id)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut data_subnets: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|z| subnet(&format!("subnet.data.{z}")))
        .collect();
    data_subnets.sort();

    // Aurora: engine, encryption, the RDS-managed secret, subnet group on the data subnets, SG db.
    let clusters = data["db_clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 1, "{data:#}");
    let cluster = &clusters[0];
    assert_eq!(cluster["id"], format!("{name}-db"));
    assert_eq!(cluster["engine"], "aurora-mysql");
    assert_eq!(cluster["database"], "magento2");
    assert_eq!(cluster["user"], "magento2");
    assert_eq!(cluster["encrypted"], true);
    assert_eq!(cluster["backup_days"], 1);
    assert_eq!(
        cluster["secret_exists"], true,
        "the master password lives in Secrets Manager"
    );
    assert_eq!(cluster["security_groups"], serde_json::json!([sg("sg.db")]));
    assert_eq!(cluster["tags"]["mck:id"], "db.cluster");
    let groups = data["db_subnet_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(strings(&groups[0]["subnets"]), data_subnets);
    assert_eq!(cluster["subnet_group"], groups[0]["name"]);
    // Writer and reader in different zones.
    let instances = data["db_instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2);
    assert!(
        instances
            .iter()
            .all(|i| i["cluster"] == format!("{name}-db").as_str() && i["class"] == "db.t4g.medium")
    );
    assert_ne!(instances[0]["az"], instances[1]["az"]);

    // App tier foundation, read with boto3: the ECS cluster, one log group per app, the task
    // roles under the stack's path; the execution role reads exactly the DB's managed secret.
    let app = harness.python("app.py", &[name]);
    assert_eq!(
        app["clusters"],
        serde_json::json!([{"name": format!("{name}-app"), "status": "ACTIVE",
            "tags": {"mck:stack": name, "mck:id": "ecs.cluster", "Name": format!("{name}-ecs.cluster"),
                     "project": "magecloudkit", "environment": "dev",
                     // The release's records: the build migrated and whose caches were
                     // cleaned, the release in effect.
                     "mck:db-login": "public.ecr.aws/magecloudkit/magento:2.4.7-p1",
                     "mck:installed": "installed",
                     "mck:migrated": "public.ecr.aws/magecloudkit/magento:2.4.7-p1",
                     "mck:cache-cleaned": "public.ecr.aws/magecloudkit/magento:2.4.7-p1",
                     "mck:release-tag": "2.4.7-p1", "mck:release-revision": "-",
                     "mck:release-file": "2.4.7-p1 -"}}]),
        "{app:#}"
    );
    let mut log_groups: Vec<(String, i64)> = app["log_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_string(),
                g["retention"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    log_groups.sort();
    assert_eq!(
        log_groups,
        [
            (format!("/mck/{name}/admin"), 14),
            (format!("/mck/{name}/cron"), 14),
            (format!("/mck/{name}/frontend"), 14),
            (format!("/mck/{name}/worker-consumers"), 14),
        ]
    );
    let roles = app["roles"].as_array().unwrap();
    let role = |suffix: &str| {
        roles
            .iter()
            .find(|r| r["name"] == format!("{name}-{suffix}").as_str())
            .unwrap_or_else(|| panic!("no role {suffix}: {app:#}"))
    };
    let execution = role("task-execution");
    assert_eq!(execution["path"], format!("/mck/{name}/"));
    assert_eq!(execution["service"], "ecs-tasks.amazonaws.com");
    assert_eq!(
        execution["managed"],
        serde_json::json!([
            "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
        ])
    );
    // Exactly the containers' and the login tasks' secrets: the master user's (the login
    // tasks), the apps' database login, the crypt key, the search and broker logins.
    let grant = &execution["inline"]["mck-read-secrets"]["Statement"][0];
    assert_eq!(grant["Action"], "secretsmanager:GetSecretValue");
    let login_arn = |service: &str| {
        data["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == format!("mck/{name}/{service}").as_str())
            .unwrap_or_else(|| panic!("no secret for {service}: {data:#}"))["arn"]
            .clone()
    };
    assert_eq!(
        grant["Resource"],
        serde_json::json!([
            cluster["secret_arn"].clone(),
            login_arn("db-app"),
            login_arn("admin"),
            login_arn("crypt-key"),
            login_arn("search"),
            login_arn("mq")
        ])
    );
    assert_eq!(execution["tags"]["mck:id"], "iam.task-execution");
    let task = role("task");
    assert_eq!(task["managed"], serde_json::json!([]));
    // ECS Exec (`app.exec`, on by default): only the Session Manager channels the ECS agent
    // opens, nothing else.
    assert_eq!(
        task["inline"],
        serde_json::json!({"mck-ecs-exec": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": [
                    "ssmmessages:CreateControlChannel",
                    "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel",
                    "ssmmessages:OpenDataChannel"
                ],
                "Resource": "*"
            }]
        }})
    );
    // One task definition per app: the release's image, the private DNS names, the DB secret
    // only as an ECS secret, the shared files through the EFS access points, logs per app.
    let tds = app["task_definitions"].as_array().unwrap();
    assert_eq!(
        tds.len(),
        7,
        "two apps, cron, a worker, the two login tasks, the install: {app:#}"
    );
    let frontend = tds
        .iter()
        .find(|t| t["family"] == format!("{name}-frontend").as_str())
        .unwrap();
    assert_eq!(frontend["network_mode"], "awsvpc");
    assert_eq!(frontend["compatibilities"], serde_json::json!(["FARGATE"]));
    assert_eq!(frontend["execution_role"], execution["arn"]);
    assert_eq!(frontend["tags"]["mck:id"], "ecs.taskdef.frontend");
    let nginx = frontend["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "nginx")
        .unwrap();
    assert_eq!(nginx["image"], "public.ecr.aws/magecloudkit/nginx:2.4.7-p1");
    assert_eq!(nginx["ports"], serde_json::json!([80]));
    assert_eq!(
        nginx["environment"]["DB_HOST"],
        format!("db.{name}.magecloudkit.internal")
    );
    // The Redis groups, the search domain and the broker by the AWS host name their
    // certificate names (a private CNAME would fail a verifying client): the groups' primary
    // endpoints, the VPC endpoint, the AMQPS host.
    let primary = |group: &str| {
        data["replication_groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == format!("{name}-{group}").as_str())
            .unwrap_or_else(|| panic!("no group {group}: {data:#}"))["primary"]
            .clone()
    };
    assert_eq!(
        nginx["environment"]["REDIS_SESSION_HOST"],
        primary("session")
    );
    assert_eq!(
        nginx["environment"]["REDIS_PAGE_CACHE_HOST"],
        primary("cache")
    );
    assert!(
        nginx["environment"]["REDIS_CACHE_HOST"]
            .as_str()
            .is_some_and(|h| h.starts_with("master.") && h.ends_with(".cache.amazonaws.com")),
        "{nginx:#}"
    );
    assert_eq!(
        nginx["environment"]["SEARCH_HOST"],
        data["search_domains"][0]["vpc_endpoint"]
    );
    let amqps = data["brokers"][0]["endpoints"][0].as_str().unwrap();
    assert_eq!(
        format!(
            "amqps://{}:5671",
            nginx["environment"]["AMQP_HOST"].as_str().unwrap()
        ),
        amqps
    );
    // The apps' own database login, never the master user's.
    assert_eq!(nginx["secrets"]["DB_SECRET"], login_arn("db-app"));
    // The crypt key: the password of its secret alone, as an ECS secret.
    assert_eq!(
        nginx["secrets"]["MAGENTO_CRYPT_KEY"],
        format!("{}:password::", login_arn("crypt-key").as_str().unwrap())
    );
    let env = nginx["environment"].as_object().unwrap();
    assert!(
        env.keys()
            .all(|k| !k.contains("PASSWORD") && !k.contains("SECRET")),
        "no secret in the environment: {env:?}"
    );
    assert_eq!(nginx["mounts"]["media"], "/var/www/html/pub/media");
    assert_eq!(nginx["log_group"], format!("/mck/{name}/frontend"));
    assert_eq!(
        frontend["volumes"]["media"]["fileSystemId"],
        data["file_systems"][0]["id"]
    );
    // The ALB: internet-facing over the public subnets with SG alb; one target group per app
    // (IP targets, the stack's health check); port 80 forwards to the default app.
    let lbs = app["load_balancers"].as_array().unwrap();
    assert_eq!(lbs.len(), 1, "{app:#}");
    let lb = &lbs[0];
    assert_eq!(lb["name"], format!("{name}-alb"));
    assert_eq!(lb["scheme"], "internet-facing");
    let mut public: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|z| subnet(&format!("subnet.public.{z}")))
        .collect();
    public.sort();
    assert_eq!(strings(&lb["subnets"]), public);
    assert_eq!(lb["security_groups"], serde_json::json!([sg("sg.alb")]));
    let tgs = app["target_groups"].as_array().unwrap();
    assert_eq!(tgs.len(), 2);
    let tg = |app_name: &str| {
        tgs.iter()
            .find(|t| t["name"] == format!("{name}-{app_name}").as_str())
            .unwrap()
    };
    assert_eq!(tg("frontend")["target_type"], "ip");
    assert_eq!(tg("frontend")["health_check"], "/health_check.php");
    assert_eq!(tg("admin")["port"], 80);
    assert_eq!(
        lb["listeners"],
        serde_json::json!([{"port": 80, "protocol": "HTTP", "forward": [tg("frontend")["arn"].clone()],
            "redirect": [], "certificates": [], "ssl_policy": null,
            "rules": [{"priority": "10", "paths": ["/backend/*"], "forward": [tg("admin")["arn"].clone()]}]}])
    );
    // A service per app: awsvpc in the private subnets with SG app, no public IP, wired to its
    // app's target group, on its app's task definition; `up` waited until its targets were
    // healthy (the emulator's ECS stand-in registers them: docs/emulator.md).
    let services = app["services"].as_array().unwrap();
    assert_eq!(services.len(), 4, "two apps, cron, a worker: {app:#}");
    let mut private_subnets: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|z| subnet(&format!("subnet.private.{z}")))
        .collect();
    private_subnets.sort();
    for app_name in ["frontend", "admin"] {
        let service = services
            .iter()
            .find(|s| s["name"] == app_name)
            .unwrap_or_else(|| panic!("no service {app_name}: {app:#}"));
        let td = tds
            .iter()
            .find(|t| t["family"] == format!("{name}-{app_name}").as_str())
            .unwrap();
        assert_eq!(service["status"], "ACTIVE");
        assert_eq!(service["desired"], 1);
        assert_eq!(service["launch_type"], "FARGATE");
        assert_eq!(service["public_ip"], "DISABLED");
        assert_eq!(strings(&service["subnets"]), private_subnets);
        assert_eq!(
            service["security_groups"],
            serde_json::json!([sg("sg.app")])
        );
        assert_eq!(
            service["load_balancers"],
            serde_json::json!([{"targetGroupArn": tg(app_name)["arn"].clone(),
                "containerName": "nginx", "containerPort": 80}])
        );
        assert!(
            service["task_definition"]
                .as_str()
                .is_some_and(|arn| arn.contains(&format!("task-definition/{name}-{app_name}:"))),
            "{service:#} {td:#}"
        );
        assert_eq!(service["tags"]["mck:id"], format!("ecs.service.{app_name}"));
        assert_eq!(
            tg(app_name)["targets"].as_array().unwrap().len(),
            1,
            "one healthy target per task: {app:#}"
        );
    }

    // Cron and the worker: services with no load balancer in the private subnets, on the
    // admin's build with exactly its php-fpm container's environment, secrets and shared
    // files, their own command and log group; cron one task, never two at once.
    let admin_php = tds
        .iter()
        .find(|t| t["family"] == format!("{name}-admin").as_str())
        .and_then(|t| {
            t["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == "php-fpm")
        })
        .unwrap()
        .clone();
    // The contract with the image: exactly the variables and secrets docs/magento.md lists.
    let documented = documented_variables();
    assert!(documented.len() > 20, "{documented:?}");
    let given: Vec<String> = ["environment", "secrets"]
        .iter()
        .flat_map(|key| admin_php[*key].as_object().unwrap().keys().cloned())
        .collect();
    for name in &given {
        assert!(
            documented.iter().any(|(p, _)| is_documented_as(p, name)),
            "{name} is given to the containers but not in docs/magento.md"
        );
    }
    for (pattern, required) in &documented {
        assert!(
            !required || given.iter().any(|name| is_documented_as(pattern, name)),
            "docs/magento.md documents {pattern}, which the containers do not get: {given:?}"
        );
    }
    for (service_name, runs) in [
        ("cron", "bin/magento cron:run"),
        (
            "worker-consumers",
            "queue:consumers:start async.operations.all --single-thread --max-messages=10000",
        ),
    ] {
        let service = services
            .iter()
            .find(|s| s["name"] == service_name)
            .unwrap_or_else(|| panic!("no service {service_name}: {app:#}"));
        assert_eq!(service["status"], "ACTIVE");
        assert_eq!(service["desired"], 1);
        assert_eq!(service["load_balancers"], serde_json::json!([]));
        assert_eq!(service["grace"], Value::Null, "{service:#}");
        assert_eq!(strings(&service["subnets"]), private_subnets);
        assert_eq!(
            service["security_groups"],
            serde_json::json!([sg("sg.app")])
        );
        let td = tds
            .iter()
            .find(|t| t["family"] == format!("{name}-{service_name}").as_str())
            .unwrap_or_else(|| panic!("no task definition {service_name}: {app:#}"));
        assert!(
            service["task_definition"]
                .as_str()
                .is_some_and(|arn| arn.contains(&format!("task-definition/{name}-{service_name}:"))),
            "{service:#}"
        );
        let containers = td["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1, "{td:#}");
        let worker = &containers[0];
        for same in ["image", "environment", "secrets", "mounts"] {
            assert_eq!(worker[same], admin_php[same], "{service_name}: {same}");
        }
        assert_eq!(worker["ports"], serde_json::json!([]));
        assert_eq!(worker["log_group"], format!("/mck/{name}/{service_name}"));
        let command: Vec<&str> = worker["command"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(command[..2], ["sh", "-c"], "{command:?}");
        assert!(command[2].contains(runs), "{command:?}");
    }

    // Redis: two encrypted groups with failover on the data subnets.
    let redis = data["replication_groups"].as_array().unwrap();
    let mut ids: Vec<&str> = redis.iter().map(|g| g["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, [format!("{name}-cache"), format!("{name}-session")]);
    for group in redis {
        assert_eq!(group["at_rest"], true);
        assert_eq!(group["transit"], true);
        assert_eq!(group["failover"], "enabled");
        assert_eq!(group["multi_az"], "enabled");
        // A primary and its replica.
        assert_eq!(group["members"], 2, "{group:#}");
    }
    let cache_groups = data["cache_subnet_groups"].as_array().unwrap();
    assert_eq!(cache_groups.len(), 1);
    assert_eq!(strings(&cache_groups[0]["subnets"]), data_subnets);

    // EFS: encrypted, a mount target per zone in the private subnets with SG efs, access points.
    let fs = &data["file_systems"].as_array().unwrap()[0];
    assert_eq!(fs["encrypted"], true);
    let mut mount_subnets: Vec<String> = fs["mount_targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subnet"].as_str().unwrap().to_string())
        .collect();
    mount_subnets.sort();
    let mut private: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|z| subnet(&format!("subnet.private.{z}")))
        .collect();
    private.sort();
    assert_eq!(mount_subnets, private);
    assert!(
        fs["mount_targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["security_groups"] == serde_json::json!([sg("sg.efs")]))
    );
    assert_eq!(
        fs["access_points"],
        serde_json::json!([
            {"path": "/media", "uid": 33, "gid": 33, "mck_id": "efs.ap.media"},
            {"path": "/static", "uid": 33, "gid": 33, "mck_id": "efs.ap.static"},
        ])
    );

    // Route53: a private zone on the VPC; records resolve to the live endpoints.
    let zone = &data["zones"].as_array().unwrap()[0];
    assert_eq!(zone["name"], format!("{name}.magecloudkit.internal."));
    assert_eq!(zone["private"], true);
    assert_eq!(
        zone["vpcs"],
        serde_json::json!([by_id(&net, "vpcs", "vpc")["id"]])
    );
    assert_eq!(zone["tags"]["mck:stack"], name);
    let record =
        |label: &str| zone["records"][format!("{label}.{name}.magecloudkit.internal")].clone();
    let cname = |value: &Value| serde_json::json!({"type": "CNAME", "ttl": 60, "values": [value]});
    assert_eq!(record("db"), cname(&cluster["endpoint"]));
    assert_eq!(record("db-ro"), cname(&cluster["reader_endpoint"]));
    let primary = |id: &str| redis.iter().find(|g| g["id"] == id).unwrap()["primary"].clone();
    assert_eq!(
        record("redis-cache"),
        cname(&primary(&format!("{name}-cache")))
    );
    assert_eq!(
        record("redis-session"),
        cname(&primary(&format!("{name}-session")))
    );
    assert_eq!(
        record("efs"),
        cname(&Value::from(format!(
            "{}.efs.us-east-1.amazonaws.com",
            fs["id"].as_str().unwrap()
        )))
    );

    // OpenSearch: in the data subnet(s), its own group, encrypted, HTTPS only with the modern
    // policy, fine-grained access control, no public endpoint; record search. on its VPC endpoint.
    let domains = data["search_domains"].as_array().unwrap();
    assert_eq!(domains.len(), 1, "{data:#}");
    let domain = &domains[0];
    assert_eq!(domain["name"], format!("{name}-search"));
    assert_eq!(domain["engine_version"], "OpenSearch_2.19");
    assert_eq!(domain["instances"], 1);
    assert!(
        data_subnets.contains(&domain["subnets"][0].as_str().unwrap().to_string()),
        "{domain:#}"
    );
    assert_eq!(
        domain["security_groups"],
        serde_json::json!([sg("sg.search")])
    );
    assert_eq!(domain["public_endpoint"], Value::Null, "no public endpoint");
    for flag in ["at_rest", "node_to_node", "https", "fine_grained"] {
        assert_eq!(domain[flag], true, "{flag}: {domain:#}");
    }
    assert_eq!(domain["tls_policy"], "Policy-Min-TLS-1-2-PFS-2023-10");
    assert_eq!(domain["tags"]["mck:id"], "search");
    assert_eq!(record("search"), cname(&domain["vpc_endpoint"]));
    // The broker: RabbitMQ, single node in a data subnet, not public, its own group, one user.
    let brokers = data["brokers"].as_array().unwrap();
    assert_eq!(brokers.len(), 1, "{data:#}");
    let broker = &brokers[0];
    assert_eq!(broker["name"], format!("{name}-mq"));
    assert_eq!(broker["engine"], "RABBITMQ");
    assert_eq!(broker["deployment"], "SINGLE_INSTANCE");
    assert_eq!(broker["public"], false);
    assert!(
        data_subnets.contains(&broker["subnets"][0].as_str().unwrap().to_string()),
        "{broker:#}"
    );
    assert_eq!(broker["security_groups"], serde_json::json!([sg("sg.mq")]));
    assert_eq!(broker["users"], serde_json::json!(["magento"]));
    assert_eq!(broker["tags"]["mck:id"], "mq");
    // Only the app tier reaches them: one ingress rule each, from sg.app.
    for (group, port) in [("sg.search", 443), ("sg.mq", 5671)] {
        let rules = &by_id(&net, "security_groups", group)["ingress"];
        assert_eq!(
            rules,
            &serde_json::json!([{"protocol": "tcp", "from": port, "to": port, "group": sg("sg.app")}]),
            "{group}"
        );
    }
    // Their logins and the crypt key: generated into mck/<stack>/…, user magento, by the rules.
    let mut secrets: Vec<&Value> = data["secrets"].as_array().unwrap().iter().collect();
    secrets.sort_by_key(|s| s["name"].as_str().unwrap().to_string());
    let names: Vec<&str> = secrets
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            format!("mck/{name}/admin"),
            format!("mck/{name}/crypt-key"),
            format!("mck/{name}/db-app"),
            format!("mck/{name}/mq"),
            format!("mck/{name}/search")
        ]
    );
    for secret in &secrets {
        let user = if secret["name"] == format!("mck/{name}/db-app").as_str() {
            "magento_a"
        } else if secret["name"] == format!("mck/{name}/admin").as_str() {
            "admin"
        } else {
            "magento"
        };
        assert_eq!(secret["username"], user);
        let length = if user == "admin" { 24 } else { 32 };
        assert_eq!(secret["password_length"], length);
        assert_eq!(secret["password_has_no_excluded"], true);
        assert_eq!(secret["tags"]["mck:stack"], name);
    }
    // The crypt key is letters and digits only (a 32-byte key for Magento's Sodium cipher).
    assert_eq!(
        secrets[1]["password_alphanumeric"], true,
        "{:#}",
        secrets[1]
    );

    // Outputs: endpoints, secret ARN, ids; never a password.
    // The short list names where to connect; `--all` has every output.
    let short = stack.mck("outputs", &["--json"]);
    assert_exit(&short, 0);
    let short: Value = serde_json::from_slice(&short.stdout).unwrap();
    assert_eq!(short["db_endpoint"], cluster["endpoint"]);
    assert_eq!(short["db_secret_arn"], cluster["secret_arn"]);
    assert_eq!(short["efs_id"], fs["id"]);
    assert_eq!(short["ecs_cluster"], format!("{name}-app"));
    assert_eq!(short["frontend_service"], "frontend");
    assert_eq!(short["admin_service"], "admin");
    assert!(
        short["frontend_task_definition"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!("{name}-frontend:"))),
        "{short:#}"
    );
    assert!(short["redis_cache_endpoint"].is_string(), "{short:#}");
    assert_eq!(short["search_endpoint"], domain["vpc_endpoint"]);
    assert!(
        short["queue_endpoint"]
            .as_str()
            .is_some_and(|e| e.starts_with("amqps://") && e.ends_with(":5671")),
        "{short:#}"
    );
    // Where the shop is (no `app.base_url` in dev: the load balancer's name), its admin
    // panel, and the secret with the admin user's password (never the password).
    let storefront = format!("http://{}/", lb["dns_name"].as_str().unwrap_or_default());
    assert_eq!(short["storefront_url"], storefront.as_str(), "{short:#}");
    assert_eq!(
        short["admin_url"],
        format!("{storefront}admin"),
        "{short:#}"
    );
    assert_eq!(
        short["admin_password_secret"],
        login_arn("admin"),
        "{short:#}"
    );
    assert!(
        short.as_object().unwrap().len() < 30,
        "the short list stays short: {short:#}"
    );

    // The first up installed Magento: one task on `<stack>-install`, its command the install
    // script, every password only by variable, from ECS secrets (the admin's among them).
    let installs = harness.python("tasks.py", &[name, "mck-install"]);
    let installs = installs.as_array().unwrap();
    assert_eq!(installs.len(), 1, "{installs:#?}");
    let install = &installs[0];
    assert_eq!(install["family"], format!("{name}-install"));
    let command = strings(&install["overrides"][0]["command"]);
    let script = command
        .iter()
        .find(|c| c.contains("setup:install"))
        .unwrap_or_else(|| panic!("{install:#}"));
    for option in [
        "db-password",
        "opensearch-password",
        "amqp-password",
        "admin-password",
        "key",
    ] {
        assert!(
            script.contains(&format!("--{option}=\"$")),
            "--{option} not from the environment: {script}"
        );
    }
    assert!(!script.contains("cleanup-database"), "{script}");
    let secrets_given = &install["containers"]["install"]["secrets"];
    assert_eq!(
        secrets_given["MAGENTO_ADMIN_PASSWORD"],
        format!("{}:password::", login_arn("admin").as_str().unwrap())
    );
    assert_eq!(secrets_given["DB_SECRET"], login_arn("db-app"));
    let outputs = stack.mck("outputs", &["--json", "--all"]);
    assert_exit(&outputs, 0);
    let outputs: Value = serde_json::from_slice(&outputs.stdout).unwrap();
    assert_eq!(outputs["db.cluster.endpoint"], cluster["endpoint"]);
    assert_eq!(
        outputs["db.cluster.reader_endpoint"],
        cluster["reader_endpoint"]
    );
    assert_eq!(outputs["db.cluster.secret_arn"], cluster["secret_arn"]);
    assert_eq!(
        outputs["redis.cache.primary_endpoint"],
        primary(&format!("{name}-cache"))
    );
    assert_eq!(outputs["efs.id"], fs["id"]);
    assert_eq!(outputs["dns.zone.zone_id"], zone["id"]);
    assert_eq!(
        outputs["dns.db.fqdn"],
        format!("db.{name}.magecloudkit.internal")
    );

    // The plan after up: nothing to do.
    let plan = stack.mck("plan", &["--json"]);
    assert_exit(&plan, 0);
    let plan_text = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(
        !plan_text.to_lowercase().contains("password\": \""),
        "{plan_text}"
    );
    let plan: Value = serde_json::from_str(&plan_text).unwrap();
    let steps: Vec<(String, String, Vec<String>)> = section(&plan, "steps")
        .iter()
        .map(|s| {
            (
                s["action"].as_str().unwrap().to_string(),
                s["id"].as_str().unwrap().to_string(),
                s["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["field"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(steps, [], "{plan:#}");
    // Drift sees exactly what the plan sees (the same normalisation): nothing changed,
    // missing, extra or unmanaged.
    let drift = stack.mck("drift", &["--format", "json"]);
    assert_exit(&drift, 0);
    let drift: Value = serde_json::from_slice(&drift.stdout).unwrap();
    let mut findings: Vec<(String, String, Vec<String>)> = drift["stacks"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["class"] != "unchecked")
        .map(|f| {
            let class = f["class"].as_str().unwrap();
            (
                if class == "changed" { "update" } else { class }.to_string(),
                f["resource"].as_str().unwrap().to_string(),
                f["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["field"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    findings.sort();
    assert_eq!(findings, steps, "{drift:#}");

    // The apps' database login rotates with no failed request: the other user gets a new
    // password (a task on the db-rotate definition, with the staged version), every service
    // rolls onto it, then the old user is locked (a task on db-admin). Checked with boto3.
    let rotation = |extra: &[&str]| {
        let mut args = vec![name];
        args.extend_from_slice(extra);
        harness.python("rotation.py", &args)
    };
    let before = rotation(&[]);
    assert_eq!(
        before["secret"]["users"]["AWSCURRENT"], "magento_a",
        "{before:#}"
    );
    let rotate = stack.mck("rotate", &["db", "--yes"]);
    assert_exit(&rotate, 0);
    let printed = stack.dir.join("rotate.out");
    std::fs::write(&printed, text(&rotate)).unwrap();
    let after = rotation(&[printed.to_str().unwrap()]);
    assert_eq!(after["leaked"], false, "a password was printed");
    let users = &after["secret"]["users"];
    assert_eq!(users["AWSCURRENT"], "magento_b", "{after:#}");
    assert_eq!(users["AWSPREVIOUS"], "magento_a", "{after:#}");
    assert_eq!(users.get("AWSPENDING"), None, "{after:#}");
    let tags = &after["secret"]["tags"];
    assert!(
        tags["mck:rotated"].as_str().is_some_and(|d| d.len() == 10),
        "{after:#}"
    );
    assert_eq!(tags.get("mck:rotation-rolling"), None, "{after:#}");
    let tasks: Vec<(String, Vec<String>)> = after["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let command = strings(&t["command"]);
            let args: Vec<String> = t["command"]
                .as_array()
                .unwrap()
                .iter()
                .skip_while(|a| *a != "--")
                .skip(1)
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            assert!(command.contains(&"php".to_string()), "{t:#}");
            (t["family"].as_str().unwrap().to_string(), args)
        })
        .collect();
    assert_eq!(
        tasks,
        [
            (format!("{name}-db-admin"), vec!["ensure".to_string()]),
            (format!("{name}-db-rotate"), vec!["ensure".to_string()]),
            (
                format!("{name}-db-admin"),
                vec!["retire".to_string(), "magento_a".to_string()]
            ),
        ],
        "the up's login task, then the rotation's: {after:#}"
    );
    let services_after = after["services"].as_object().unwrap();
    assert_eq!(services_after.len(), 4, "{after:#}");
    for (service, now) in services_after {
        let was = &before["services"][service];
        assert_eq!(now["task_definition"], was["task_definition"], "{service}");
        assert_ne!(
            now["deployments"], was["deployments"],
            "{service} was not rolled"
        );
    }
    // Nothing else changed: the plan is the one before the rotation.
    let replan = stack.mck("plan", &["--json"]);
    let replan: Value = serde_json::from_slice(&replan.stdout).unwrap();
    let mut resteps: Vec<String> = section(&replan, "steps")
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    resteps.sort();
    let ids: Vec<String> = steps.iter().map(|(_, id, _)| id.clone()).collect();
    assert_eq!(resteps, ids, "{replan:#}");
    // A rotation due longer ago than `database.app_user.rotation_days`: plan says so, drift
    // reports it (exit 2), naming the command.
    let tag_rotated = |day: &str| {
        harness.aws(&[
            "secretsmanager",
            "tag-resource",
            "--secret-id",
            &format!("mck/{name}/db-app"),
            "--tags",
            &format!("Key=mck:rotated,Value={day}"),
        ])
    };
    tag_rotated("2020-01-01");
    let plan = stack.mck("plan", &[]);
    assert_exit(&plan, 0);
    assert!(
        text(&plan).contains(&format!("run `mck rotate --stack {name} db`")),
        "{}",
        text(&plan)
    );
    let drift = stack.mck("drift", &["--format", "json"]);
    assert_exit(&drift, 2);
    let drift: Value = serde_json::from_slice(&drift.stdout).unwrap();
    let overdue: Vec<&Value> = drift["stacks"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["resource"] == "secret.db-app" && f["class"] == "changed")
        .collect();
    assert_eq!(overdue.len(), 1, "{drift:#}");
    assert_eq!(overdue[0]["fields"][0]["field"], "rotation", "{drift:#}");
    tag_rotated(tags["mck:rotated"].as_str().unwrap());

    // A new image for one app: exactly one new task definition revision and one service
    // update in the app tier; the service then runs the new revision and the old one is
    // deregistered.
    let old_revision =
        services.iter().find(|s| s["name"] == "frontend").unwrap()["task_definition"].clone();
    let file = stack.dir.join(format!("{name}.yaml"));
    let original = std::fs::read_to_string(&file).unwrap();
    stack.write(&format!(
        "{original}apps: {{frontend: {{containers: {{php-fpm: {{image: public.ecr.aws/magecloudkit/magento:2.4.8}}}}}}}}\n"
    ));
    let plan = stack.mck("plan", &["--json"]);
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let app_steps: Vec<(String, String, Vec<String>)> = section(&plan, "steps")
        .iter()
        .filter(|s| {
            let id = s["id"].as_str().unwrap();
            ["ecs.", "alb", "iam.", "logs."]
                .iter()
                .any(|p| id.starts_with(p))
        })
        .map(|s| {
            (
                s["action"].as_str().unwrap().to_string(),
                s["id"].as_str().unwrap().to_string(),
                s["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["field"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, _, fields)| !fields.is_empty())
        .collect();
    assert_eq!(
        app_steps,
        vec![
            (
                "replace".to_string(),
                "ecs.taskdef.frontend".to_string(),
                vec!["containers".to_string()]
            ),
            (
                "update".to_string(),
                "ecs.service.frontend".to_string(),
                vec!["task_definition".to_string()]
            ),
        ],
        "{plan:#}"
    );
    let up = stack.mck("up", &["--yes", "--max-wait", "5s"]);
    assert!(
        String::from_utf8_lossy(&up.stderr)
            .lines()
            .any(|l| l.starts_with("✓ ecs.service.frontend") && l.contains("updated")),
        "{}",
        text(&up)
    );
    let app = harness.python("app.py", &[name]);
    let frontend = app["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "frontend")
        .unwrap();
    assert_ne!(frontend["task_definition"], old_revision, "{app:#}");
    // That up installed nothing: the stack's one install was its first up's.
    let installs = harness.python("tasks.py", &[name, "mck-install"]);
    assert_eq!(installs.as_array().unwrap().len(), 1, "{installs:#}");
    // As made: cron never runs two tasks at once (0%-100%), a worker rolls as the apps do.
    for (service_name, min_healthy, max) in [("cron", 0, 100), ("worker-consumers", 100, 200)] {
        let service = app["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == service_name)
            .unwrap();
        assert_eq!(
            service["deployment"],
            serde_json::json!({"minimumHealthyPercent": min_healthy, "maximumPercent": max}),
            "{service_name}"
        );
    }
    let td = app["task_definitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["family"] == format!("{name}-frontend").as_str())
        .unwrap();
    assert!(
        td["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["image"] == "public.ecr.aws/magecloudkit/magento:2.4.8"),
        "{td:#}"
    );

    // In-place updates: instance class, backup retention, node type, TTL. Nothing is replaced.
    let mut yaml = std::fs::read_to_string(&file).unwrap();
    yaml.push_str(
        "database: {instance_class: db.t4g.large, backup_retention_days: 3}\ncaches: {cache: {node_type: cache.t3.small}}\ndns: {ttl: 120}\n",
    );
    stack.write(&yaml);
    let plan = stack.mck("plan", &["--json"]);
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["summary"]["replace"], 0, "{plan:#}");
    assert_eq!(plan["summary"]["destroy"], 0, "{plan:#}");
    assert_eq!(
        plan["summary"]["change"], 11,
        "cluster, 2 instances, the cache's Redis group, 7 records: {plan:#}"
    );
    let up = stack.mck("up", &["--yes", "--max-wait", "5s"]);
    assert_exit(&up, 0);
    let updated = harness.python("data.py", &[name]);
    let cluster = &updated["db_clusters"][0];
    assert_eq!(cluster["backup_days"], 3);
    let instances = updated["db_instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2, "{updated:#}");
    assert!(
        instances.iter().all(|i| i["class"] == "db.t4g.large"),
        "{updated:#}"
    );
    let cache = updated["replication_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == format!("{name}-cache").as_str())
        .unwrap();
    assert_eq!(cache["node_type"], "cache.t3.small");
    let zone = &updated["zones"][0];
    let ttl = |label: &str| {
        zone["records"][format!("{label}.{name}.magecloudkit.internal")]["ttl"].clone()
    };
    assert_eq!(ttl("db"), 120);
    assert_eq!(ttl("efs"), 120);
    assert_eq!(ttl("redis-cache"), 120);

    // Deleting data needs --allow-data-loss; without it nothing changes.
    let refused = stack.mck("down", &["--yes"]);
    assert_exit(&refused, 1);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("refusing to delete db.cluster") && stderr.contains("--allow-data-loss"),
        "{}",
        text(&refused)
    );
    assert_eq!(
        harness.python("data.py", &[name])["db_clusters"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Prod's protection of the search domain and the broker: a tag AWS keeps with each (seen
    // by boto3), and deleting them is refused even with --allow-data-loss. (The redis.cache
    // update above fails again on every up: only the protection's steps are checked.)
    let protect = [
        "--yes",
        "--max-wait",
        "5s",
        "--set",
        "search.deletion_protection=true",
        "--set",
        "queue.deletion_protection=true",
    ];
    let up = stack.mck("up", &protect);
    for id in ["search", "mq"] {
        assert!(
            String::from_utf8_lossy(&up.stderr)
                .lines()
                .any(|l| l.starts_with(&format!("✓ {id} ")) && l.contains("updated")),
            "{id}: {}",
            text(&up)
        );
    }
    let tagged = harness.python("data.py", &[name]);
    let protection = |data: &Value| {
        (
            data["search_domains"][0]["tags"]["mck:deletion-protection"].clone(),
            data["brokers"][0]["tags"]["mck:deletion-protection"].clone(),
        )
    };
    assert_eq!(
        protection(&tagged),
        (Value::from("true"), Value::from("true")),
        "{tagged:#}"
    );
    let refused = stack.mck("down", &["--yes", "--allow-data-loss"]);
    assert_exit(&refused, 1);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for id in ["search", "mq"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&format!("refusing to delete {id} ("))
                    && l.contains("deletion protection is on")),
            "{id}: {}",
            text(&refused)
        );
    }
    // Lifted by an up without it: the tags go, and down may proceed.
    let up = stack.mck("up", &["--yes", "--max-wait", "5s"]);
    assert!(
        String::from_utf8_lossy(&up.stderr)
            .lines()
            .any(|l| l.starts_with("✓ search ") && l.contains("updated")),
        "{}",
        text(&up)
    );
    let lifted = harness.python("data.py", &[name]);
    assert_eq!(
        protection(&lifted),
        (Value::Null, Value::Null),
        "{lifted:#}"
    );

    // down: everything goes.
    let down = stack.mck("down", &["--yes", "--allow-data-loss"]);
    assert_exit(&down, 0);
    let after = harness.python("data.py", &[name]);
    assert!(
        after["db_clusters"].as_array().unwrap().is_empty(),
        "{after:#}"
    );
    assert!(after["db_instances"].as_array().unwrap().is_empty());
    assert!(after["db_subnet_groups"].as_array().unwrap().is_empty());
    assert!(after["file_systems"].as_array().unwrap().is_empty());
    assert!(after["zones"].as_array().unwrap().is_empty());
    // The search domain and the broker are gone; their secrets are scheduled for deletion
    // (7 days' recovery window), which lists no longer show.
    assert!(
        after["search_domains"].as_array().unwrap().is_empty(),
        "{after:#}"
    );
    assert!(after["brokers"].as_array().unwrap().is_empty(), "{after:#}");
    assert!(after["secrets"].as_array().unwrap().is_empty(), "{after:#}");
    let app = harness.python("app.py", &[name]);
    assert_eq!(
        app,
        serde_json::json!({"roles": [], "log_groups": [], "clusters": [], "task_definitions": [],
            "load_balancers": [], "target_groups": [], "services": [], "servers": {}}),
        "the app tier is gone"
    );
    assert_eq!(
        (
            after["replication_groups"].as_array().unwrap().len(),
            after["cache_subnet_groups"].as_array().unwrap().len()
        ),
        (0, 0),
        "{after:#}"
    );
    let left = stack.inventory();
    let count = |name: &str| section(&left, name).len();
    assert_eq!(
        (
            count("vpcs"),
            count("subnets"),
            count("security_groups"),
            count("instances"),
            count("nats"),
            count("igws"),
            count("eips")
        ),
        (0, 0, 0, 0, 0, 0, 0),
        "nothing is left: {left:#}"
    );
}
