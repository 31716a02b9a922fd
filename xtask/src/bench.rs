//! `cargo xtask bench`: benchmarks, figures only, never asserted. See docs/performance.md.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::emulator::{StopOnDrop, aws_env, emulator_start, is_our_server, read_state, state_file};
use crate::workspace::{Result, cargo, root, run};

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

pub(crate) fn bench(args: &[&str]) -> Result<()> {
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
