//! The emulator: the pinned moto server and clients installed in a git-ignored venv, started on
//! a free loopback port (its PID and endpoint in `.mck/emulator.json`), stopped by that PID
//! only, and the environment that points a command at it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::workspace::{Result, root, run};

const MOTO_VERSION: &str = "5.2.5";
/// Installed beside moto: the AWS CLI and boto3, independent clients for the tests.
const PIP_PACKAGES: &[&str] = &["awscli==1.46.3", "boto3==1.44.5"];

pub(crate) fn venv() -> PathBuf {
    root().join(".venv")
}

fn state_dir() -> PathBuf {
    root().join(".mck")
}

pub(crate) fn state_file() -> PathBuf {
    state_dir().join("emulator.json")
}

/// Creates the venv and installs the pinned emulator and clients, once.
pub(crate) fn install() -> Result<PathBuf> {
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
pub(crate) struct Emulator {
    pub(crate) pid: u32,
    pub(crate) endpoint: String,
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

pub(crate) fn read_state() -> Option<Emulator> {
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
pub(crate) fn is_our_server(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmd| String::from_utf8_lossy(&cmd).contains("moto_server"))
        .unwrap_or(false)
}

pub(crate) fn emulator_start() -> Result<Emulator> {
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

pub(crate) fn emulator_stop() -> Result<()> {
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

pub(crate) fn emulator_status() -> Result<()> {
    match read_state() {
        Some(emulator) if is_our_server(emulator.pid) => {
            println!("running: pid {} at {}", emulator.pid, emulator.endpoint);
            Ok(())
        }
        _ => Err("not running".to_string()),
    }
}

/// Environment for anything that talks to the emulator: never real AWS, never IMDS.
pub(crate) fn aws_env(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
}

/// Stops the emulator this process started, whatever happens.
pub(crate) struct StopOnDrop(pub(crate) u32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if is_our_server(self.0) {
            let _ = Command::new("kill").arg(self.0.to_string()).status();
        }
        let _ = std::fs::remove_file(state_file());
    }
}
