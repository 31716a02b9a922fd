//! No secret value in anything mck prints: `up`, `plan`, `drift`, `outputs` and `down`, at every
//! log level and in every output format (`--json` events included), releases with their
//! migration's log lines, `releases`, `rollback` and `rotate` included, are searched for the DB
//! master password, the apps' database login (both versions) and the generated search and
//! broker passwords (read independently from
//! Secrets Manager with boto3). Task definitions carry
//! the password only as a `valueFrom` reference.

use std::process::{Command, Output, Stdio};

use mck_tests::{Harness, TestStack, text};

const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

fn stack_yaml() -> String {
    format!(
        "{}database:\n  instances: 1\n  deletion_protection: false\n  final_snapshot: false\ndns: {{}}\nsearch: {{}}\nqueue: {{instance_type: mq.t3.micro}}\napp: {{capacity: fargate}}\napps:\n  frontend:\n    containers:\n      nginx:   {{ image: public.ecr.aws/magecloudkit/nginx, port: 80, memory_reservation: 128 }}\n      php-fpm: {{ image: public.ecr.aws/magecloudkit/magento, memory_reservation: 768 }}\n    cpu: 512\n    memory: 1024\nrelease: {{tag: 2.4.7-p1}}\nalb: {{}}\n",
        crate::NETWORK_ONLY
    )
}

/// `mck <args>` for the stack with `MCK_LOG=level`; stdout and stderr together.
fn run(harness: &Harness, stack: &TestStack, level: &str, args: &[&str]) -> (Output, String) {
    let bin = std::env::var("MCK_BIN").expect("MCK_BIN");
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .args([
            "--stack",
            &stack.name,
            "--stacks-dir",
            stack.dir.to_str().unwrap(),
        ])
        .env("MCK_LOG", level)
        .stdin(Stdio::null());
    harness.env_for(&mut cmd);
    let out = cmd.output().expect("run mck");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, all)
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn no_secret_value_is_printed_by_any_command_at_any_log_level_in_any_format() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-secrets", &stack_yaml());
    let mut outputs: Vec<(String, String)> = Vec::new();
    let (up, all) = run(&harness, &stack, "trace", &["up", "--yes", "--json"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    outputs.push(("up --json (trace)".into(), all));
    // Nothing left to do: a second up plans and changes nothing, and prints no secret.
    let (again, all) = run(&harness, &stack, "trace", &["up", "--yes"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    outputs.push(("up (trace)".into(), all));
    // A rotation of the apps' database login reads and writes passwords: none is printed.
    let (rotate, all) = run(&harness, &stack, "trace", &["rotate", "db", "--yes"]);
    assert_eq!(rotate.status.code(), Some(0), "{}", text(&rotate));
    outputs.push(("rotate db (trace)".into(), all));

    let secrets = harness.python("secret_values.py", &[&stack.name]);
    let values: Vec<String> = secrets["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        values.len(),
        7,
        "the DB master password, the crypt key, both versions of the apps' login (before and after \
         the rotation), the admin user's and the search and broker logins, read from Secrets \
         Manager: {secrets}"
    );
    // The one-off tasks' commands as RunTask recorded them (the install's among them) hold
    // none of them: passwords reach a task only as ECS secrets.
    let commands = secrets["task_commands"].as_array().unwrap();
    assert!(
        commands
            .iter()
            .any(|c| c.as_str().unwrap().contains("setup:install")),
        "{secrets}"
    );
    for command in commands {
        for value in &values {
            assert!(
                !command.as_str().unwrap().contains(value.as_str()),
                "a password in a task's command line"
            );
        }
    }
    assert!(values.iter().all(|v| v.len() >= 8));
    // Task definitions: the password only as a reference to the secret, never a value.
    let containers = secrets["task_definitions"].as_array().unwrap();
    assert!(!containers.is_empty());
    for c in containers {
        for s in c["secrets"].as_array().unwrap() {
            assert!(
                s["valueFrom"]
                    .as_str()
                    .unwrap()
                    .starts_with("arn:aws:secretsmanager:"),
                "{c}"
            );
        }
        let env = c["environment"].to_string();
        assert!(
            values.iter().all(|v| !env.contains(v)) && !env.to_lowercase().contains("password\""),
            "{c}"
        );
    }

    // Each command with the exit code it must have: a scan of a command that failed early
    // would look at an error message, not at what the command prints when it works.
    for level in LEVELS {
        let mut commands: Vec<(Vec<&str>, i32)> = vec![
            (vec!["plan"], 0),
            (vec!["plan", "--json", "--stats"], 0),
            (vec!["outputs"], 0),
            (vec!["outputs", "--json"], 0),
            (vec!["outputs", "--all", "--json"], 0),
            (vec!["up", "--yes", "--json"], 0),
        ];
        for format in ["text", "json", "markdown", "junit", "sarif"] {
            commands.push((vec!["drift", "--who", "--format", format], 0));
        }
        for (args, code) in commands {
            let (out, all) = run(&harness, &stack, level, &args);
            assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
            outputs.push((format!("{} ({level})", args.join(" ")), all));
        }
    }
    // Releases: the migration's log lines, `releases` and `rollback`, in every format.
    // The first release's second rollback finds no older revision and says so; by the second
    // release, older ones are registered (`release.keep_revisions`).
    let refused = "nothing was changed: frontend: no revision older than";
    for (level, tag, second_rollback) in [
        ("trace", "sec1", (1, Some(refused))),
        ("info", "sec2", (0, None)),
    ] {
        let set = format!("release.tag={tag}");
        let (second_code, second_says) = second_rollback;
        for (args, code, says) in [
            (vec!["up", "--set", &set, "--yes", "--json"], 0, None),
            (vec!["releases", "--set", &set], 0, None),
            (vec!["releases", "--set", &set, "--json"], 0, None),
            (vec!["rollback", "--set", &set, "--yes", "--json"], 0, None),
            (
                vec!["rollback", "--set", &set, "--yes"],
                second_code,
                second_says,
            ),
            (vec!["up", "--set", &set, "--yes"], 0, None),
        ] {
            let (out, all) = run(&harness, &stack, level, &args);
            assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
            if let Some(says) = says {
                assert!(all.contains(says), "{args:?}: {}", text(&out));
            }
            outputs.push((format!("{} ({level})", args.join(" ")), all));
        }
    }
    assert!(
        outputs
            .iter()
            .any(|(w, all)| w.starts_with("up --set") && all.contains("release.migrate")),
        "a release ran its migration"
    );
    let (down, all) = run(
        &harness,
        &stack,
        "trace",
        &["down", "--yes", "--allow-data-loss", "--json"],
    );
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
    outputs.push(("down --json (trace)".into(), all));

    for (what, all) in &outputs {
        for value in &values {
            assert!(!all.contains(value.as_str()), "{what} printed a password");
        }
    }
    // The trace logs are not empty: the scan looked at real output.
    assert!(
        outputs
            .iter()
            .any(|(w, all)| w.contains("(trace)") && all.contains("mck_aws::request"))
    );
}
