//! A release on a running stack: `up --set release.tag=…` plans exactly one migration job, one
//! new revision per app and one update per service; the migration task runs on the new
//! revision with the command override; `releases` lists what boto3 sees; `rollback` moves the
//! services back and `plan` shows it. Checked with boto3 (`py/release.py`).

use serde_json::Value;

use mck_tests::{Harness, TestStack, assert_exit, text};

fn release_of(harness: &Harness, stack: &TestStack) -> Value {
    harness.python("release.py", &[&stack.name])
}

fn json_stdout(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn a_release_migrates_on_the_new_revision_then_rolls_the_services_and_can_roll_back() {
    let harness = Harness::from_env();
    // The emulator keeps the stopped tasks of a deleted cluster and lists them under a new
    // cluster of the same name: a name of this run's own.
    let name = format!("e2e-rel{}", std::process::id() % 100_000);
    let stack = harness.stack_from(&name, &crate::app::app_only(None));
    let count = |v: &Value| v["migrations"].as_array().unwrap().len();
    let base = 0;
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 0);
    let first = release_of(&harness, &stack);
    assert_eq!(count(&first), base + 1, "{first:#}");
    assert_eq!(
        first["record"], "public.ecr.aws/magecloudkit/magento:2.4.7-p1",
        "{first:#}"
    );

    // The plan of the release, exactly.
    let set = ["--set", "release.tag=0123456"];
    let plan = stack.mck("plan", &[&set[..], &["--json"]].concat());
    assert_exit(&plan, 0);
    let mut steps: Vec<(String, String)> = json_stdout(&plan)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "no_op")
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    steps.sort();
    assert_eq!(
        steps,
        [
            ("ecs.service.admin", "update"),
            ("ecs.service.frontend", "update"),
            ("ecs.taskdef.admin", "replace"),
            ("ecs.taskdef.frontend", "replace"),
            // The caches are cleaned once both services run the new build.
            ("release.cache-clean", "update"),
            ("release.migrate", "update"),
            // The release in effect, recorded after the services.
            ("release.record", "update"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string())),
        "{}",
        text(&plan)
    );

    let up = stack.mck("up", &[&set[..], &["--yes"]].concat());
    assert_exit(&up, 0);
    let log = String::from_utf8_lossy(&up.stderr);
    assert!(log.contains("release.migrate"), "{log}");
    assert!(log.contains("exited with code 0"), "{log}");
    // The migration finished before either service started to update.
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in {log}"))
    };
    let migrated = at("✓ release.migrate");
    assert!(migrated < at("updating ecs.service.admin"), "{log}");
    assert!(migrated < at("updating ecs.service.frontend"), "{log}");
    // The caches are cleaned once both services have rolled.
    let cleaned = at("✓ release.cache-clean");
    assert!(at("✓ ecs.service.admin") < cleaned, "{log}");
    assert!(at("✓ ecs.service.frontend") < cleaned, "{log}");

    let after = release_of(&harness, &stack);
    let migrations = after["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), base + 2, "{after:#}");
    let admin_revisions = after["revisions"][format!("{}-admin", stack.name)]
        .as_array()
        .unwrap();
    let newest = &admin_revisions[0];
    assert_eq!(
        newest["images"]["php-fpm"], "public.ecr.aws/magecloudkit/magento:0123456",
        "{after:#}"
    );
    // The release's migration ran on the new revision, in a private subnet, with the command
    // override on php-fpm; the services run the new revisions; the old ones stay registered.
    let migration = migrations
        .iter()
        .find(|m| m["task_definition"] == newest["arn"])
        .unwrap_or_else(|| panic!("no migration on {}: {after:#}", newest["arn"]));
    assert_eq!(migration["started_by"], "mck-migrate");
    assert_eq!(migration["launch_type"], "FARGATE");
    assert_eq!(migration["overrides"][0]["name"], "php-fpm");
    let command = migration["overrides"][0]["command"].as_array().unwrap();
    assert_eq!(command[0], "sh");
    assert!(
        command[2]
            .as_str()
            .unwrap()
            .contains("bin/magento setup:db:status"),
        "{command:?}"
    );
    let private = stack.inventory();
    let private_subnets: Vec<&str> = crate::section(&private, "subnets")
        .iter()
        .filter(|s| s["mck_id"].as_str().unwrap().starts_with("subnet.private."))
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        private_subnets.contains(&migration["subnet"].as_str().unwrap()),
        "{migration:#} not in {private_subnets:?}"
    );
    assert_eq!(after["services"]["admin"], newest["arn"], "{after:#}");
    assert_eq!(admin_revisions.len(), 2, "{after:#}");
    assert_eq!(
        after["record"], "public.ecr.aws/magecloudkit/magento:0123456",
        "{after:#}"
    );

    // A no-op: nothing planned, nothing run. The release made from the command line stays in
    // effect for runs without `--set` (recorded on the cluster): no change, no drift.
    assert_exit(
        &stack.mck("plan", &[&set[..], &["--detailed-exitcode"]].concat()),
        0,
    );
    let plain = stack.mck("plan", &["--detailed-exitcode"]);
    assert_exit(&plain, 0);
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains(&format!(
            "{} runs release 0123456 (deployed with --set); the file says 2.4.7-p1",
            stack.name
        )),
        "{}",
        text(&plain)
    );
    assert_exit(&stack.mck("drift", &[]), 0);
    assert_exit(&stack.mck("up", &[&set[..], &["--yes"]].concat()), 0);
    assert_eq!(count(&release_of(&harness, &stack)), base + 2);

    // `releases` says what boto3 sees.
    let releases = stack.mck("releases", &[&set[..], &["--json"]].concat());
    assert_exit(&releases, 0);
    let releases = json_stdout(&releases);
    let admin = releases["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app"] == "admin")
        .unwrap();
    assert_eq!(admin["live"]["arn"], newest["arn"], "{releases:#}");
    assert_eq!(admin["previous"][0]["arn"], admin_revisions[1]["arn"]);
    assert_eq!(
        admin["previous"][0]["images"]["php-fpm"],
        "public.ecr.aws/magecloudkit/magento:2.4.7-p1"
    );

    // Rollback: both services back on the previous revision; plan and drift show it.
    let rollback = stack.mck("rollback", &["--yes"]);
    assert_exit(&rollback, 0);
    let rolled = release_of(&harness, &stack);
    assert_eq!(
        rolled["services"]["admin"], admin_revisions[1]["arn"],
        "{rolled:#}"
    );
    assert_eq!(count(&rolled), base + 2, "a rollback runs no migration");
    assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 2);
    assert_exit(&stack.mck("drift", &[]), 2);
    let json_releases = json_stdout(&stack.mck("releases", &["--json"]));
    let apps = json_releases["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 2, "admin and frontend: {json_releases:#}");
    assert!(
        apps.iter().all(|a| a["rolled_back"] == true),
        "{json_releases:#}"
    );
    let text_releases = stack.mck("releases", &[]);
    assert!(
        String::from_utf8_lossy(&text_releases.stdout).contains("ROLLED BACK"),
        "{}",
        text(&text_releases)
    );
    // The next `up`, even without `--set`, moves forward to the release in effect.
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    assert_eq!(
        release_of(&harness, &stack)["services"]["admin"],
        newest["arn"]
    );
    // An edit of the file's release.tag is a newer decision: it wins over the recorded one.
    let edited =
        crate::app::app_only(None).replace("release: {tag: 2.4.7-p1}", "release: {tag: 2.4.9}");
    assert_ne!(edited, crate::app::app_only(None));
    stack.write(&edited);
    let plan = stack.mck("plan", &["--json"]);
    assert_exit(&plan, 0);
    let migrate = json_stdout(&plan)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "release.migrate")
        .cloned()
        .unwrap();
    assert_eq!(migrate["action"], "update", "{migrate:#}");
    assert!(migrate.to_string().contains("magento:2.4.9"), "{migrate:#}");

    // `down` leaves no revision registered and forgets the migration record.
    assert_exit(&stack.mck("down", &["--yes", "--allow-data-loss"]), 0);
    let gone = release_of(&harness, &stack);
    assert!(
        gone["revisions"]
            .as_object()
            .unwrap()
            .values()
            .all(|revisions| revisions.as_array().unwrap().is_empty()),
        "{gone:#}"
    );
    assert_eq!(gone["record"], Value::Null);
}
