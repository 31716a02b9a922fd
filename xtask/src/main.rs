//! Project automation: `cargo xtask <command>`.
//!
//! - `emulator start|stop|status`: moto server (pinned) in a git-ignored venv, on a free
//!   127.0.0.1 port; the endpoint is written to `.mck/emulator.json`; `stop` kills only its PID.
//! - `test`: everything CI runs: formatting and lints (`cargo fmt --check`, clippy with warnings
//!   denied), then unit, engine and end-to-end tests against a fresh emulator.
//! - `demo`: emulator + `mck up` of the dev stack + outputs + plan (no changes) + `mck down`.
//!
//! Uses only the standard library so it builds in seconds.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "xtask is a command-line tool"
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const MOTO_VERSION: &str = "5.2.5";
/// Installed beside moto: the AWS CLI and boto3, independent clients for the tests.
const PIP_PACKAGES: &[&str] = &["awscli==1.46.3", "boto3==1.44.5"];

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["emulator", "start"] => {
            emulator_start().map(|e| println!("emulator running at {}", e.endpoint))
        }
        ["emulator", "stop"] => emulator_stop(),
        ["emulator", "status"] => emulator_status(),
        ["emulator", "install"] => install().map(|_| ()),
        ["test", rest @ ..] => test(rest),
        ["demo"] => demo(),
        ["bench", rest @ ..] => bench(rest),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <command>
  emulator start|stop|status|install   moto server on 127.0.0.1 (endpoint in .mck/emulator.json)
  test [-- cargo test args]            what CI runs: fmt --check, clippy, then all tests (unit, engine,
                                       end-to-end against a fresh emulator)
  demo                                 emulator + mck up (dev) + outputs + plan + down
  bench [--runs N] [--build]           benchmark figures (release builds); --build adds cold/warm build times";

/// The workspace this run is for. `cargo run` sets `CARGO_MANIFEST_DIR` for the process, which
/// is right even when the binary came from a target directory another clone shares (cargo may
/// then reuse that clone's build); the compile-time value is the fallback.
fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn venv() -> PathBuf {
    root().join(".venv")
}

fn state_dir() -> PathBuf {
    root().join(".mck")
}

fn state_file() -> PathBuf {
    state_dir().join("emulator.json")
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| format!("failed to run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

/// Creates the venv and installs the pinned emulator and clients, once.
fn install() -> Result<PathBuf> {
    let venv = venv();
    let marker = venv.join(format!(".mck-moto-{MOTO_VERSION}"));
    if !marker.exists() {
        eprintln!(
            "xtask: installing moto[server]=={MOTO_VERSION}, awscli and boto3 into {}",
            venv.display()
        );
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
        run(Command::new(&python).args(["-m", "venv"]).arg(&venv))?;
        let mut pip = Command::new(venv.join("bin/pip"));
        pip.args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("moto[server]=={MOTO_VERSION}"))
            .args(PIP_PACKAGES);
        run(&mut pip)?;
        std::fs::write(&marker, "")
            .map_err(|e| format!("failed to write {}: {e}", marker.display()))?;
    }
    let amis = venv.join("mck-amis-2.json");
    if !amis.exists() {
        write_amis(&amis)?;
    }
    Ok(venv)
}

/// moto 5.2.5 only ships Ubuntu 14.04/16.04 images. `MOTO_AMIS_PATH` replaces its list, so we
/// write moto's own images plus current Ubuntu LTS ones (what the bastion looks up) and the
/// ECS-optimised Amazon Linux 2023 image (what the app servers look up).
fn write_amis(path: &Path) -> Result<()> {
    let script = r#"
import gzip, json, os, sys, moto
base = os.path.join(os.path.dirname(moto.__file__), "ec2", "resources")
amis = json.load(gzip.open(os.path.join(base, "amis.json.gz")))
for extra in ("latest_amis/us-east-1.json", "ecs/optimized_amis/us-east-1.json"):
    p = os.path.join(base, extra)
    if os.path.exists(p):
        amis.extend(json.load(open(p)))
for ami_id, codename, version, date in [
    ("ami-0c7217cdde317cfec", "jammy", "22.04", "20240207"),
    ("ami-04b70fa74e45c3917", "noble", "24.04", "20240423"),
]:
    amis.append({
        "ami_id": ami_id, "state": "available", "public": True, "owner_id": "099720109477",
        "image_location": "amazon/getting-started", "sriov": "simple", "root_device_type": "ebs",
        "root_device_name": "/dev/sda1", "image_type": "machine", "platform": None,
        "architecture": "x86_64", "virtualization_type": "hvm", "hypervisor": "xen",
        "description": f"Canonical, Ubuntu, {version} LTS, amd64 {codename} image build on {date}",
        "name": f"ubuntu/images/hvm-ssd/ubuntu-{codename}-{version}-amd64-server-{date}",
        "creation_date": f"{date[:4]}-{date[4:6]}-{date[6:]}T00:00:00.000Z",
    })
# The ECS-optimised Amazon Linux 2023 image the app servers look up (owner: Amazon's ECS
# account), as AWS names it.
amis.append({
    "ami_id": "ami-0e8a9e4d5b1c2f3a4", "state": "available", "public": True,
    "owner_id": "591542846629", "image_location": "amazon/al2023-ami-ecs-hvm",
    "sriov": "simple", "root_device_type": "ebs", "root_device_name": "/dev/xvda",
    "image_type": "machine", "platform": None, "architecture": "x86_64",
    "virtualization_type": "hvm", "hypervisor": "xen",
    "description": "Amazon Linux AMI 2023.0.20241108 x86_64 ECS HVM EBS",
    "name": "al2023-ami-ecs-hvm-2023.0.20241108-kernel-6.1-x86_64",
    "creation_date": "2024-11-08T00:00:00.000Z",
})
json.dump(amis, open(sys.argv[1], "w"))
"#;
    run(Command::new(venv().join("bin/python"))
        .arg("-c")
        .arg(script)
        .arg(path))
}

#[derive(Debug)]
struct Emulator {
    pid: u32,
    endpoint: String,
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("failed to find a free port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// One HTTP GET on loopback; true on a 200 answer.
fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

fn read_state() -> Option<Emulator> {
    let text = std::fs::read_to_string(state_file()).ok()?;
    let field = |name: &str| {
        let start = text.find(&format!("\"{name}\":"))? + name.len() + 3;
        let rest = text[start..].trim_start();
        let rest = rest.strip_prefix('"').unwrap_or(rest);
        Some(
            rest.chars()
                .take_while(|c| !matches!(c, '"' | ',' | '}'))
                .collect::<String>(),
        )
    };
    Some(Emulator {
        pid: field("pid")?.trim().parse().ok()?,
        endpoint: field("endpoint")?,
    })
}

/// The PID is alive and is a moto server (not a recycled PID of something else).
fn is_our_server(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmd| String::from_utf8_lossy(&cmd).contains("moto_server"))
        .unwrap_or(false)
}

fn emulator_start() -> Result<Emulator> {
    if let Some(existing) = read_state()
        && is_our_server(existing.pid)
    {
        return Ok(existing);
    }
    let venv = install()?;
    std::fs::create_dir_all(state_dir()).map_err(|e| format!("failed to create .mck: {e}"))?;
    let port = free_port()?;
    let log = std::fs::File::create(state_dir().join("emulator.log")).map_err(|e| e.to_string())?;
    // moto_server plus a loop that registers ECS services' tasks in their target groups, as
    // ECS does on AWS (see the script and docs/emulator.md).
    let child = Command::new(venv.join("bin/python"))
        .arg(root().join("xtask/moto_server_mck.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_AMIS_PATH", venv.join("mck-amis-2.json"))
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        // Where `/moto-api/recorder/` keeps requests when a test turns recording on.
        .env("MOTO_RECORDER_FILEPATH", state_dir().join("moto_recording"))
        // Services start this many tasks; their deployments complete when it covers the
        // desired count (the largest in stacks/ is 4).
        .env("MOTO_ECS_SERVICE_RUNNING", "6")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("failed to start moto_server: {e}"))?;
    let emulator = Emulator {
        pid: child.id(),
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while !http_ok(port, "/moto-api/") {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = Command::new("kill").arg(emulator.pid.to_string()).status();
            return Err(format!(
                "moto_server did not answer on port {port} within 60 s; see .mck/emulator.log"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let json = format!(
        "{{\"pid\": {}, \"port\": {port}, \"endpoint\": \"{}\"}}\n",
        emulator.pid, emulator.endpoint
    );
    std::fs::write(state_file(), json)
        .map_err(|e| format!("failed to write {}: {e}", state_file().display()))?;
    Ok(emulator)
}

fn emulator_stop() -> Result<()> {
    match read_state() {
        Some(emulator) if is_our_server(emulator.pid) => {
            run(Command::new("kill").arg(emulator.pid.to_string()))?;
            let _ = std::fs::remove_file(state_file());
            println!("emulator (pid {}) stopped", emulator.pid);
        }
        Some(emulator) => {
            let _ = std::fs::remove_file(state_file());
            println!("emulator (pid {}) was not running", emulator.pid);
        }
        None => println!("no emulator started by xtask"),
    }
    Ok(())
}

fn emulator_status() -> Result<()> {
    match read_state() {
        Some(emulator) if is_our_server(emulator.pid) => {
            println!("running: pid {} at {}", emulator.pid, emulator.endpoint);
            Ok(())
        }
        _ => Err("not running".to_string()),
    }
}

/// Environment for anything that talks to the emulator: never real AWS, never IMDS.
fn aws_env(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()));
    cmd.current_dir(root());
    cmd
}

/// Stops the emulator this process started, whatever happens.
struct StopOnDrop(u32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if is_our_server(self.0) {
            let _ = Command::new("kill").arg(self.0.to_string()).status();
        }
        let _ = std::fs::remove_file(state_file());
    }
}

/// Packages whose tests need tokio's `test-util` (paused clock). They link no AWS SDK crate, so
/// they are tested in a cargo invocation of their own: `test-util` would otherwise change
/// tokio's features for the whole build and with them every SDK crate's, which would then
/// compile twice (once for `mck`, once for the tests).
const PAUSED_CLOCK_PACKAGES: &[&str] = &["mck-core", "mck-bench"];

/// The rest: the SDK-linking packages, tested on the very build of `mck` that `demo` runs.
const SDK_PACKAGES: &[&str] = &["mck-aws", "mck-cli", "mck-tests", "xtask"];

fn package_args(packages: &[&str]) -> Vec<String> {
    packages
        .iter()
        .flat_map(|p| ["-p".to_string(), (*p).to_string()])
        .collect()
}

/// Whether a cargo test invocation runs the tests marked `#[ignore]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ignored {
    Skip,
    /// The end-to-end tests are ignored under a plain `cargo test`, which has no emulator.
    Include,
}

/// `extra` (cargo's arguments, then after `--` the test binaries'), with `--include-ignored`
/// for the test binaries when asked.
fn test_args(extra: &[&str], ignored: Ignored) -> Vec<String> {
    let mut args: Vec<String> = extra.iter().map(|a| (*a).to_string()).collect();
    if ignored == Ignored::Include {
        match args.iter().position(|a| a == "--") {
            Some(separator_idx) => args.insert(separator_idx + 1, "--include-ignored".to_string()),
            None => args.extend(["--".to_string(), "--include-ignored".to_string()]),
        }
    }
    args
}

fn test(extra: &[&str]) -> Result<()> {
    let started = Instant::now();
    let mut failed = Vec::new();
    // What CI checks besides the tests. A failure is reported with the tests' at the end, so one
    // run shows everything to fix.
    if let Err(err) = run(cargo().args(["fmt", "--all", "--check"])) {
        failed.push(err);
    }
    // The same build as `cargo xtask demo`: the binary the end-to-end tests run.
    run(cargo().args(["build", "-p", "mck-cli"]))?;
    // After the build: clippy shares its build scripts and proc-macros.
    if let Err(err) = run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])) {
        failed.push(err);
    }
    // A fresh emulator for this run only.
    if let Some(old) = read_state()
        && is_our_server(old.pid)
    {
        let _ = Command::new("kill").arg(old.pid.to_string()).status();
    }
    let _ = std::fs::remove_file(state_file());
    let emulator = emulator_start()?;
    let _guard = StopOnDrop(emulator.pid);
    for (packages, ignored) in [
        (PAUSED_CLOCK_PACKAGES, Ignored::Skip),
        (SDK_PACKAGES, Ignored::Include),
    ] {
        let mut cmd = cargo();
        // Every test binary runs even when an earlier one fails, so one run shows all failures.
        cmd.arg("test")
            .args(package_args(packages))
            .arg("--no-fail-fast")
            .args(test_args(extra, ignored));
        aws_env(&mut cmd, &emulator.endpoint);
        cmd.env("MCK_TEST_ENDPOINT", &emulator.endpoint)
            .env("MCK_TEST_VENV", venv())
            .env("MCK_BIN", root().join("target/debug/mck"));
        if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
            cmd.env("MCK_BIN", Path::new(&dir).join("debug/mck"));
        }
        if let Err(err) = run(&mut cmd) {
            failed.push(err);
        }
    }
    if !failed.is_empty() {
        return Err(failed.join("\n"));
    }
    eprintln!("xtask: all tests passed in {:.0?}", started.elapsed());
    Ok(())
}

fn demo() -> Result<()> {
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
            &["up", "--stack", "dev", "--yes"],
        )?,
        "up",
    )?;
    require(
        step("what was built", &["outputs", "--stack", "dev"])?,
        "outputs",
    )?;
    let drift = step(
        "does AWS still match the stack? (read-only; exit 0 in sync, 2 drift)",
        &["drift", "--stack", "dev"],
    )?;
    if drift == 2 {
        eprintln!(
            "xtask: expected with the emulator: it creates Redis replication groups \
             without their replica, and drops a new ECS service's deployment settings \
             (docs/emulator.md); on AWS this report is empty"
        );
    } else {
        require(drift, "drift")?;
    }
    // A release: a new build, from the command line as CI does it.
    eprintln!(
        "\nxtask: a release of build 2.4.8. `--set caches.*.replicas=0` only because the \
         emulator cannot add Redis replicas (docs/emulator.md), so the plan also turns their \
         failover off; on AWS leave it out"
    );
    let release: &[&str] = &[
        "--set",
        "release.tag=2.4.8",
        "--set",
        "caches.cache.replicas=0",
        "--set",
        "caches.session.replicas=0",
    ];
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
            with(&["up", "--stack", "dev", "--yes"]),
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
         the rolled-back services (the release itself is in effect, not drift; the Redis rows \
         are the emulator's gap)",
        &["drift", "--stack", "dev", "--format", "markdown"],
    )?;
    if drift != 2 {
        return Err(format!(
            "drift should report the hand-made rule (exit {drift})"
        ));
    }
    let down = step(
        "remove everything (the database, caches and file system hold data: say so)",
        &[
            "down",
            "--stack",
            "dev",
            "--yes",
            "--allow-data-loss",
            "--max-wait",
            "10s",
        ],
    )?;
    if down != 0 {
        eprintln!(
            "xtask: expected with the emulator: it never finishes deleting Redis replication groups, \
             so they and what AWS deletes after them stay (docs/emulator.md); the emulator is \
             stopped now, which discards them"
        );
    }
    eprintln!("\nxtask: demo finished; the emulator is stopped");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Benchmarks: figures only, never asserted. See docs/performance.md.

/// The number after `"key":` in a JSON text (flat objects printed by mck and mck-bench).
fn json_number(text: &str, key: &str) -> Option<f64> {
    let start = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = text[start..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e' || c == '+'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Median and range of a set of runs.
#[derive(Debug, Clone, Copy)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn stats(mut values: Vec<f64>) -> Stats {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Stats {
        median,
        min: values[0],
        max: values[n - 1],
    }
}

struct Table {
    rows: Vec<(String, Stats, String, String)>,
}

impl Table {
    fn add(&mut self, figure: &str, values: Vec<f64>, unit: &str, target: &str) {
        let s = stats(values);
        println!(
            "  {figure}: {:.3} {unit} (min {:.3}, max {:.3})",
            s.median, s.min, s.max
        );
        self.rows
            .push((figure.to_string(), s, unit.to_string(), target.to_string()));
    }

    fn print(&self) {
        println!("\n| figure | median | min | max | unit | target |");
        println!("|---|---:|---:|---:|---|---|");
        for (figure, s, unit, target) in &self.rows {
            println!(
                "| {figure} | {:.3} | {:.3} | {:.3} | {unit} | {target} |",
                s.median, s.min, s.max
            );
        }
    }
}

/// Runs a command and returns (wall seconds, stdout, stderr).
fn timed(cmd: &mut Command) -> Result<(f64, String, String)> {
    let started = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("failed to run {cmd:?}: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() && out.status.code() != Some(2) {
        return Err(format!("{cmd:?} failed with {}:\n{stderr}", out.status));
    }
    Ok((secs, stdout, stderr))
}

const BENCH_NETWORK: &str = "version: 1\nnetwork:\n  zones: [us-east-1a, us-east-1b, us-east-1c]\n  nat: per-zone\nbastion:\n  ssh_cidrs: [203.0.113.0/24]\n";

fn bench(args: &[&str]) -> Result<()> {
    let runs: usize = match args.iter().position(|a| *a == "--runs") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .ok_or("--runs needs a number")?,
        None => 5,
    };
    let with_build = args.contains(&"--build");
    let mut table = Table { rows: Vec::new() };
    if with_build {
        bench_build(&mut table)?;
    }
    run(cargo().args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "mck-cli",
        "-p",
        "mck-bench",
    ]))?;
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"));
    let mck = target.join("release/mck");
    let mck_bench = target.join("release/mck-bench");

    // 1 and 2: against the emulator, a fresh one for the benchmark.
    if let Some(old) = read_state()
        && is_our_server(old.pid)
    {
        let _ = Command::new("kill").arg(old.pid.to_string()).status();
    }
    let _ = std::fs::remove_file(state_file());
    let emulator = emulator_start()?;
    let _guard = StopOnDrop(emulator.pid);
    let dir = std::env::temp_dir().join(format!("mck-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::copy(root().join("stacks/base.yaml"), dir.join("base.yaml"))
        .map_err(|e| e.to_string())?;
    let dev =
        std::fs::read_to_string(root().join("stacks/prod.yaml")).map_err(|e| e.to_string())?;
    let mck_cmd = |args: &[&str]| {
        let mut cmd = Command::new(&mck);
        cmd.args(args)
            .arg("--stacks-dir")
            .arg(&dir)
            .stdin(Stdio::null());
        aws_env(&mut cmd, &emulator.endpoint);
        cmd
    };
    // Warm the emulator's backends (its first EC2 call takes ~2 s).
    std::fs::write(dir.join("warm.yaml"), BENCH_NETWORK).map_err(|e| e.to_string())?;
    timed(&mut mck_cmd(&["plan", "--stack", "warm"]))?;

    println!(
        "no-op plan of the full prod-shaped stack (network, bastion, data tier, DNS, app tier with app servers) against the emulator"
    );
    let full = "benchfull";
    let full_yaml = dev
        .replace("stack: prod", &format!("stack: {full}"))
        .replace("deletion_protection: true", "deletion_protection: false");
    std::fs::write(dir.join(format!("{full}.yaml")), full_yaml).map_err(|e| e.to_string())?;
    let (secs, _, stderr) = timed(&mut mck_cmd(&["up", "--stack", full, "--yes"]))?;
    let up_requests = stderr
        .rsplit('(')
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok());
    println!(
        "  full stack apply from empty: {secs:.2} s, {} requests",
        up_requests.unwrap_or(f64::NAN)
    );
    let (mut wall, mut reqs, mut per) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (secs, stdout, _) = timed(&mut mck_cmd(&["plan", "--stack", full, "--json"]))?;
        let requests =
            json_number(&stdout, "requests").ok_or("plan --json has no stats.requests")?;
        let resources =
            json_number(&stdout, "resources").ok_or("plan --json has no stats.resources")?;
        wall.push(secs);
        reqs.push(requests);
        per.push(requests / resources);
    }
    table.add(
        "no-op plan, full stack: wall time (process)",
        wall,
        "s",
        "dominated by 1-2 round trips",
    );
    table.add("no-op plan, full stack: AWS requests", reqs, "requests", "");
    table.add(
        "no-op plan, full stack: requests per resource",
        per,
        "req/resource",
        "<= 0.35",
    );
    // Drift of the same stack: the plan's reads plus what is unmanaged in its VPC and zone.
    let (mut wall, mut reqs, mut per) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (secs, _, stderr) = timed(&mut mck_cmd(&[
            "drift", "--stack", full, "--stats", "--format", "json",
        ]))?;
        let line = stderr
            .lines()
            .find(|l| l.starts_with("stats: "))
            .ok_or_else(|| format!("drift --stats printed no stats: {stderr}"))?;
        let numbers: Vec<f64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let [requests, resources, ..] = numbers[..] else {
            return Err(format!("unexpected stats line: {line}"));
        };
        wall.push(secs);
        reqs.push(requests);
        per.push(requests / resources);
    }
    table.add("drift, full stack: wall time (process)", wall, "s", "");
    table.add("drift, full stack: AWS requests", reqs, "requests", "");
    table.add(
        "drift, full stack: requests per resource",
        per,
        "req/resource",
        "",
    );

    println!(
        "apply from empty and destroy to empty (network tier: the emulator cannot delete ElastiCache)"
    );
    std::fs::write(dir.join("benchnet.yaml"), BENCH_NETWORK).map_err(|e| e.to_string())?;
    let (mut up_wall, mut up_reqs, mut down_wall, mut down_reqs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let requests_of = |stderr: &str| -> Result<f64> {
        stderr
            .lines()
            .rev()
            .find(|l| l.contains("AWS requests)"))
            .and_then(|l| l.rsplit('(').next())
            .and_then(|t| t.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("no request count in: {stderr}"))
    };
    for _ in 0..runs {
        let (secs, _, stderr) = timed(&mut mck_cmd(&["up", "--stack", "benchnet", "--yes"]))?;
        up_wall.push(secs);
        up_reqs.push(requests_of(&stderr)?);
        let (secs, _, stderr) = timed(&mut mck_cmd(&["down", "--stack", "benchnet", "--yes"]))?;
        down_wall.push(secs);
        down_reqs.push(requests_of(&stderr)?);
    }
    table.add(
        "apply from empty, network tier (57 resources): wall time",
        up_wall,
        "s",
        "seconds; no fixed sleeps",
    );
    table.add(
        "apply from empty, network tier: AWS requests",
        up_reqs,
        "requests",
        "",
    );
    table.add(
        "destroy to empty, network tier: wall time",
        down_wall,
        "s",
        "seconds",
    );
    table.add(
        "destroy to empty, network tier: AWS requests",
        down_reqs,
        "requests",
        "",
    );

    // 3: makespan against the critical path (deterministic under paused time). Seed 0 uses the
    // round latency figures (every readiness check at the same phase: the worst case); seeds
    // 1..=runs vary each kind's latency by up to ±5 %, as real ones vary.
    println!("makespan vs critical path, prod stack, FakeCloud with real-AWS latencies");
    let (mut ratio, mut polls, mut makespan) = (Vec::new(), Vec::new(), Vec::new());
    let (_, stdout, _) = timed(Command::new(&mck_bench).args(["makespan", "prod", "0"]))?;
    println!("  {}", stdout.trim());
    let round = json_number(&stdout, "ratio").ok_or("no ratio")?;
    for seed in 1..=runs {
        let (_, stdout, _) =
            timed(Command::new(&mck_bench).args(["makespan", "prod", &seed.to_string()]))?;
        ratio.push(json_number(&stdout, "ratio").ok_or("no ratio")?);
        polls.push(json_number(&stdout, "polls_per_resource").ok_or("no polls")?);
        makespan.push(json_number(&stdout, "makespan_s").ok_or("no makespan")?);
    }
    table.add(
        "prod makespan (simulated, latencies ±5 %)",
        makespan,
        "s",
        "",
    );
    table.add(
        "prod makespan / critical path (latencies ±5 %)",
        ratio,
        "ratio",
        "<= 1.02",
    );
    table.add(
        "prod makespan / critical path (round latencies)",
        vec![round],
        "ratio",
        "",
    );
    table.add(
        "readiness polls per resource",
        polls,
        "polls",
        "O(log wait)",
    );

    // 4: scale.
    println!("scale: synthetic graphs on a zero-latency FakeCloud (plan + apply)");
    let mut totals: std::collections::HashMap<(usize, &str), f64> =
        std::collections::HashMap::new();
    for n in [1_000usize, 10_000] {
        for shape in ["wide", "deep"] {
            let (mut total, mut rss) = (Vec::new(), Vec::new());
            for _ in 0..runs.min(5) {
                let (_, stdout, _) =
                    timed(Command::new(&mck_bench).args(["scale", &n.to_string(), shape]))?;
                total.push(json_number(&stdout, "total_ms").ok_or("no total")?);
                rss.push(json_number(&stdout, "peak_rss_mb").ok_or("no rss")?);
            }
            totals.insert((n, shape), stats(total.clone()).median);
            let target = if n == 10_000 {
                ("< 2000 ms", "< 200 MB")
            } else {
                ("", "")
            };
            table.add(
                &format!("{n} resources, {shape}: plan + apply"),
                total,
                "ms",
                target.0,
            );
            table.add(
                &format!("{n} resources, {shape}: peak memory"),
                rss,
                "MB",
                target.1,
            );
        }
    }
    for shape in ["wide", "deep"] {
        let ratio = totals[&(10_000, shape)] / totals[&(1_000, shape)];
        table.add(
            &format!("10k/1k time ratio, {shape}"),
            vec![ratio],
            "ratio",
            "<= 12",
        );
    }
    table.print();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Cold and warm builds in a private target directory.
fn bench_build(table: &mut Table) -> Result<()> {
    let target = std::env::temp_dir().join(format!("mck-bench-target-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&target);
    let measure = |args: &[&str]| -> Result<(f64, f64)> {
        let mut cmd = Command::new("/usr/bin/time");
        cmd.args(["-f", "%e %M"])
            .arg(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(args);
        cmd.current_dir(root())
            .env("CARGO_TARGET_DIR", &target)
            .stdout(Stdio::null());
        let out = cmd
            .output()
            .map_err(|e| format!("failed to run /usr/bin/time: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        let mut parts = last.split_whitespace();
        let secs: f64 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("cannot read time: {stderr}"))?;
        let kb: f64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
        Ok((secs, kb / 1024.0 / 1024.0))
    };
    println!("build (private target dir, {})", target.display());
    let (cold, cold_mem) = measure(&["build", "--workspace", "--quiet"])?;
    table.add("cold cargo build (debug)", vec![cold], "s", "");
    table.add(
        "cold cargo build: peak memory of one process",
        vec![cold_mem],
        "GB",
        "",
    );
    let lib = root().join("crates/mck-core/src/lib.rs");
    let text = std::fs::read_to_string(&lib).map_err(|e| e.to_string())?;
    std::fs::write(&lib, format!("{text}\n")).map_err(|e| e.to_string())?;
    let warm = measure(&["build", "--workspace", "--quiet"]);
    std::fs::write(&lib, text).map_err(|e| e.to_string())?;
    table.add(
        "warm cargo build after touching mck-core",
        vec![warm?.0],
        "s",
        "",
    );
    let _ = std::fs::remove_dir_all(&target);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Ignored, test_args};

    #[test]
    fn ignored_tests_are_included_for_the_test_binaries_only() {
        let check = |extra: &[&str], ignored: Ignored, expect: &[&str]| {
            assert_eq!(test_args(extra, ignored), expect, "{extra:?}");
        };
        check(&[], Ignored::Include, &["--", "--include-ignored"]);
        check(&[], Ignored::Skip, &[]);
        check(
            &["--release", "--", "lock::"],
            Ignored::Include,
            &["--release", "--", "--include-ignored", "lock::"],
        );
        check(
            &["--", "--", "x"],
            Ignored::Include,
            &["--", "--include-ignored", "--", "x"],
        );
        check(&["--", "lock::"], Ignored::Skip, &["--", "lock::"]);
    }
}
