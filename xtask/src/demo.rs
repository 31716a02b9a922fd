//! `cargo xtask demo`: the dev stack's life against the emulator (validate, up, outputs,
//! drift, a release and its rollback, a change made by hand, down).

use std::path::PathBuf;
use std::process::Command;

use crate::emulator::{StopOnDrop, aws_env, emulator_start, venv};
use crate::workspace::{Result, cargo, root, run};

pub(crate) fn demo() -> Result<()> {
    run(cargo().args(["build", "--quiet", "-p", "mck-cli"]))?;
    let emulator = emulator_start()?;
    let _guard = StopOnDrop(emulator.pid);
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"));
    let mck = target.join("debug/mck");
    // Runs one mck command; returns its exit code.
    let step = |title: &str, args: &[&str]| -> Result<i32> {
        eprintln!("\n\x1b[1m$ mck {}\x1b[0m   # {title}", args.join(" "));
        let mut cmd = Command::new(&mck);
        cmd.args(args).current_dir(root());
        aws_env(&mut cmd, &emulator.endpoint);
        let status = cmd
            .status()
            .map_err(|e| format!("failed to run mck: {e}"))?;
        Ok(status.code().unwrap_or(1))
    };
    let require = |code: i32, what: &str| {
        if code == 0 {
            Ok(())
        } else {
            Err(format!("{what} failed (exit {code})"))
        }
    };
    eprintln!("xtask: demo against the emulator at {}", emulator.endpoint);
    require(
        step("check the stack file", &["validate", "--stack", "dev"])?,
        "validate",
    )?;
    require(
        step(
            "create the dev stack: network, data tier, and the app tier (each service \
             ready only once its load balancer targets are healthy)",
            &["up", "--stack", "dev", "--yes", "--summary"],
        )?,
        "up",
    )?;
    require(
        step("what was built", &["outputs", "--stack", "dev"])?,
        "outputs",
    )?;
    require(
        step(
            "does AWS still match the stack? (read-only; exit 0 in sync, 2 drift)",
            &["drift", "--stack", "dev"],
        )?,
        "drift right after up",
    )?;
    // A release: a new build, from the command line as CI does it.
    let release: &[&str] = &["--set", "release.tag=2.4.8"];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter().chain(release).map(|s| s.to_string()).collect()
    };
    let step_owned = |title: &str, args: Vec<String>| -> Result<i32> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        step(title, &args)
    };
    require(
        step_owned(
            "release: its plan (one new revision per app, the migration, both services), then the \
             migration runs as a one-off task on the new build (exit code and last log lines \
             read), then the services roll behind the health gate",
            with(&["up", "--stack", "dev", "--yes", "--summary"]),
        )?,
        "the release",
    )?;
    require(
        step_owned(
            "what each service runs, and the revision kept for rollback",
            with(&["releases", "--stack", "dev"]),
        )?,
        "releases",
    )?;
    require(
        step_owned(
            "roll the services back to the previous build (the stack file is not changed)",
            with(&["rollback", "--stack", "dev", "--yes"]),
        )?,
        "rollback",
    )?;
    require(
        step_owned(
            "the rollback is an exception to the release in effect: marked here",
            with(&["releases", "--stack", "dev"]),
        )?,
        "releases",
    )?;
    require(
        step_owned(
            "rotate the apps' database login: a new password for the other user, set by a \
             one-off task, every service rolled onto it behind its health gate, then the old \
             user locked (no task ever holds a login the database refuses)",
            with(&["rotate", "--stack", "dev", "db", "--yes"]),
        )?,
        "rotate",
    )?;
    // Operator access without SSH keys: ECS Exec through AWS's Session Manager plugin. The
    // emulator has no sessions, so this ends in a clear error either way (exit 1): without the
    // plugin, naming it; with it, naming what the emulator's tasks lack.
    step(
        "a shell command in a running task without SSH keys (ECS Exec; needs AWS's \
         session-manager-plugin, and a real AWS session)",
        &[
            "exec",
            "--stack",
            "dev",
            "--",
            "bin/magento",
            "indexer:status",
        ],
    )?;
    require(
        step(
            "what prod would add (not applied): the operations tier (seed 003's alarms on every \
             tier, a topic mailing ops, a dashboard; each app's rollout gated on its 5xx alarm) \
             and the frontend's autoscaling",
            &["plan", "--stack", "prod", "--summary"],
        )?,
        "the plan of prod",
    )?;
    // A store per pull request: a preview of stage with its own address space (an empty
    // database here: its default, a copy-on-write clone of stage's, needs stage up first),
    // listed, then removed once expired.
    require(
        step(
            "a preview of stage for pull request 1: its own name and address space, no file \
             (expires in a second, for the demo)",
            &[
                "up",
                "--stack",
                "pr-1",
                "--from",
                "stage",
                "--empty-db",
                "--ttl",
                "1s",
                "--yes",
                "--summary",
            ],
        )?,
        "the preview",
    )?;
    require(
        step(
            "the preview's own URL (its load balancer, not stage's address; its containers read \
             stage's media through MEDIA_FALLBACK_URL, stage's `preview.media: shared`)",
            &["outputs", "--stack", "pr-1", "--from", "stage"],
        )?,
        "the preview's outputs",
    )?;
    std::thread::sleep(std::time::Duration::from_secs(2));
    require(
        step("every stack of the account and region", &["ls"])?,
        "ls",
    )?;
    require(
        step(
            "remove the previews past their expiry",
            &[
                "down",
                "--expired",
                "--yes",
                "--allow-data-loss",
                "--summary",
            ],
        )?,
        "down --expired",
    )?;
    // Someone opens a port on the bastion by hand, with the AWS CLI.
    eprintln!(
        "\n\x1b[1m$ aws ec2 authorize-security-group-ingress …\x1b[0m   # a change made by hand"
    );
    let aws = |args: &[&str]| -> Result<String> {
        let mut cmd = Command::new(venv().join("bin/aws"));
        cmd.args(args)
            .args(["--output", "text", "--endpoint-url", &emulator.endpoint]);
        aws_env(&mut cmd, &emulator.endpoint);
        let out = cmd
            .output()
            .map_err(|e| format!("failed to run the AWS CLI: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "aws {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let group = aws(&[
        "ec2",
        "describe-security-groups",
        "--filters",
        "Name=tag:mck:stack,Values=dev",
        "Name=tag:mck:id,Values=sg.bastion",
        "--query",
        "SecurityGroups[0].GroupId",
    ])?;
    aws(&[
        "ec2",
        "authorize-security-group-ingress",
        "--group-id",
        &group,
        "--protocol",
        "tcp",
        "--port",
        "2222",
        "--cidr",
        "10.9.0.0/16",
    ])?;
    let drift = step(
        "drift as Markdown for a pull request or a CI job summary: the hand-made rule and \
         the rolled-back services (the release itself is in effect, not drift)",
        &["drift", "--stack", "dev", "--format", "markdown"],
    )?;
    if drift != 2 {
        return Err(format!(
            "drift should report the hand-made rule (exit {drift})"
        ));
    }
    require(
        step(
            "remove everything (the database, caches, file system and secrets hold data: say so)",
            &[
                "down",
                "--stack",
                "dev",
                "--yes",
                "--allow-data-loss",
                "--summary",
            ],
        )?,
        "down",
    )?;
    eprintln!("\nxtask: demo finished; the emulator is stopped");
    Ok(())
}
