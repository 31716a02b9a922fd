//! In-process benchmark figures, printed as one JSON object per run (never asserted):
//!
//! - `makespan [--stack DIR NAME]`: the prod stack on FakeCloud with per-kind readiness
//!   latencies taken from real AWS (docs/performance.md), under tokio's paused clock so a
//!   20-minute apply takes milliseconds and is exactly repeatable. Reports the makespan, the
//!   critical path (longest dependency chain weighted by the same latencies), their ratio, and
//!   readiness polls per resource.
//! - `scale N SHAPE`: a synthetic graph of N resources (`wide`: everything hangs off one VPC;
//!   `deep`: one long dependency chain) on a zero-latency FakeCloud: wall time of plan and of
//!   apply, and the process's peak memory. xtask runs each case in its own process so peak
//!   memory is the case's own.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark program prints its figures"
)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mck_core::Engine;
use mck_core::exec::{CancelToken, ExecConfig};
use mck_core::graph::DesiredGraph;
use mck_core::model::{
    HostedZoneSpec, LogicalId, RecordSetSpec, Ref, Resource, ResourceKind, ResourceSpec,
    SecurityGroupSpec, Value, VpcSpec,
};
use mck_core::provider::Provider;
use mck_core::testing::FakeCloud;

/// Readiness latency of real AWS for one kind (sources in docs/performance.md). A `match`
/// without a wildcard: a new kind does not compile until it has a figure here.
fn aws_latency(kind: ResourceKind) -> Duration {
    use ResourceKind::*;
    let s = Duration::from_secs;
    match kind {
        Vpc
        | Subnet
        | SecurityGroup
        | DbSubnetGroup
        | DbClusterParameterGroup
        | CacheSubnetGroup => s(2),
        InternetGateway => s(3),
        RouteTable | RouteTableAssociation | Route | SecurityGroupRule | ElasticIp => s(1),
        NatGateway => s(100),
        Instance => s(40),
        DbCluster => s(220),
        DbInstance => s(600),
        ReplicationGroup => s(600),
        CacheCluster => s(420),
        FileSystem => s(10),
        MountTarget => s(90),
        AccessPoint => s(5),
        Secret => s(1),
        // A RabbitMQ broker: about 20 minutes from CREATION_IN_PROGRESS to RUNNING (a
        // single instance; a three-node cluster takes longer).
        MqBroker => s(1200),
        // 15 to 30 minutes for a VPC domain with fine-grained access control.
        SearchDomain => s(1200),
        HostedZone => s(40),
        RecordSet => s(60),
        LogGroup => s(1),
        // Alarms, topics, subscriptions and dashboards are ready once the call returns.
        Topic | Subscription | Alarm | Dashboard => s(1),
        BackupVault | BackupPlan | BackupSelection => s(1),
        ScalableTarget | ScalingPolicy => s(1),
        Role => s(2),
        EcsCluster => s(5),
        InstanceProfile => s(2),
        LaunchTemplate => s(1),
        // The group exists at once; its instances boot and join the cluster in about 3 minutes,
        // which the capacity provider waits for.
        AutoScalingGroup => s(5),
        CapacityProvider => s(180),
        TaskDefinition => s(1),
        // A Magento `setup:db:status` that finds nothing to upgrade: a Fargate task start
        // (about a minute) and a short run.
        ReleaseTask => s(90),
        // A Fargate task start and three idempotent SQL statements.
        DbLogin => s(70),
        // The first release's `setup:install` on a fresh database: the schema and data
        // patches, ten minutes or more. Later releases find it done and do nothing.
        Install => s(600),
        Maintenance => s(60),
        ReleaseRecord => s(1),
        TargetGroup => s(2),
        LoadBalancer => s(180),
        Listener => s(2),
        ListenerRule => s(2),
        // A rollout: tasks start, pass the ALB's health checks (interval × threshold), and
        // the deployment completes: 3 to 5 minutes.
        EcsService => s(240),
    }
}

/// Readiness latencies of real AWS, every kind. `seed` 0 gives the figures above; another seed
/// varies each kind's by up to ±5 % (deterministically): real latencies are not round numbers,
/// and round ones put every readiness check at the same phase.
fn aws_latencies(seed: u64) -> Vec<(ResourceKind, Duration)> {
    ResourceKind::ALL
        .iter()
        .enumerate()
        .map(|(idx, &kind)| {
            let base = aws_latency(kind);
            if seed == 0 {
                return (kind, base);
            }
            // splitmix64 of (seed, kind): a permille offset in [-50, 50].
            let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (idx as u64 + 1);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let permille = i64::try_from(z % 101).unwrap_or(50) - 50;
            let millis = i64::try_from(base.as_millis()).unwrap_or(0);
            let varied = millis + millis * permille / 1000;
            (
                kind,
                Duration::from_millis(u64::try_from(varied).unwrap_or(0)),
            )
        })
        .collect()
}

/// Each AWS API call's own latency in the model.
const CALL_LATENCY: Duration = Duration::from_millis(150);

fn stacks_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../stacks")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["makespan"] => makespan("prod", 0),
        ["makespan", stack] => makespan(stack, 0),
        ["makespan", stack, seed] => makespan(stack, seed.parse().expect("seed is a number")),
        ["scale", n, shape] => scale(n.parse().expect("N is a number"), shape),
        _ => {
            eprintln!("usage: mck-bench makespan [STACK] | scale N wide|deep");
            std::process::exit(2);
        }
    }
}

/// Longest chain through the graph, each resource weighing its kind's latency plus one call.
fn critical_path(
    desired: &DesiredGraph,
    latency: &HashMap<ResourceKind, Duration>,
) -> (Duration, Vec<LogicalId>) {
    let mut finish: HashMap<&LogicalId, (Duration, Option<&LogicalId>)> = HashMap::new();
    for resource in desired.iter() {
        let (start, via) = desired
            .dependencies(&resource.id)
            .into_iter()
            .map(|dep| (finish[dep].0, Some(dep)))
            .max_by_key(|(t, _)| *t)
            .unwrap_or((Duration::ZERO, None));
        let own = latency.get(&resource.kind()).copied().unwrap_or_default() + CALL_LATENCY;
        finish.insert(&resource.id, (start + own, via));
    }
    let (mut at, _) = finish
        .iter()
        .max_by_key(|(_, (t, _))| *t)
        .map(|(id, v)| (*id, v.0))
        .expect("non-empty graph");
    let total = finish[at].0;
    let mut path = vec![at.clone()];
    while let Some(prev) = finish[at].1 {
        path.push(prev.clone());
        at = prev;
    }
    path.reverse();
    (total, path)
}

fn makespan(stack_name: &str, seed: u64) {
    let stack = mck_core::stack::load(&stacks_dir(), stack_name).expect("stack loads");
    let desired = Engine::desired(&stack).expect("stack lowers");
    let latencies = aws_latencies(seed);
    let latency: HashMap<ResourceKind, Duration> = latencies.iter().copied().collect();
    let (critical, path) = critical_path(&desired, &latency);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let (elapsed, polls, summary_ok) = runtime.block_on(async {
        let mut cloud = FakeCloud::new().with_call_latency(CALL_LATENCY);
        for (kind, d) in &latencies {
            cloud = cloud.with_latency(*kind, *d);
        }
        let cloud = Arc::new(cloud);
        let provider: Arc<dyn Provider> = cloud.clone();
        let engine = Engine::new(provider, ExecConfig::default());
        let plan = engine.plan(desired.clone()).await.expect("plan");
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let started = tokio::time::Instant::now();
        let summary = engine.apply(&plan, tx, CancelToken::default()).await;
        let elapsed = started.elapsed();
        let polls: Vec<u32> = desired.iter().map(|r| cloud.polls(r.id.as_str())).collect();
        (elapsed, polls, summary.is_success())
    });
    let total_polls: u32 = polls.iter().sum();
    let per_kind_max: HashMap<&str, u32> =
        desired
            .iter()
            .zip(&polls)
            .fold(HashMap::new(), |mut acc, (r, p)| {
                let e = acc.entry(r.kind().name()).or_insert(0);
                *e = (*e).max(*p);
                acc
            });
    println!(
        "{}",
        serde_json::json!({
            "figure": "makespan",
            "stack": stack_name,
            "seed": seed,
            "resources": desired.len(),
            "success": summary_ok,
            "makespan_s": elapsed.as_secs_f64(),
            "critical_path_s": critical.as_secs_f64(),
            "ratio": elapsed.as_secs_f64() / critical.as_secs_f64(),
            "critical_path": path,
            "polls_total": total_polls,
            "polls_per_resource": f64::from(total_polls) / desired.len() as f64,
            "polls_max_by_kind": per_kind_max,
        })
    );
}

/// `wide`: one VPC and N-1 security groups that all need it. `deep`: a VPC, a zone and a chain
/// of N-2 records, each published after the previous one.
fn synthetic(n: usize, shape: &str) -> DesiredGraph {
    let mut resources = Vec::with_capacity(n);
    resources.push(Resource {
        id: LogicalId::new("vpc"),
        spec: ResourceSpec::Vpc(VpcSpec {
            cidr: "10.0.0.0/16".into(),
            enable_dns_support: true,
            enable_dns_hostnames: true,
        }),
    });
    match shape {
        "wide" => {
            for idx in 1..n {
                resources.push(Resource {
                    id: LogicalId::new(format!("sg.{idx}")),
                    spec: ResourceSpec::SecurityGroup(SecurityGroupSpec {
                        vpc: Ref::new("vpc"),
                        group_name: format!("bench-{idx}"),
                        description: "synthetic".into(),
                    }),
                });
            }
        }
        "deep" => {
            resources.push(Resource {
                id: LogicalId::new("zone"),
                spec: ResourceSpec::HostedZone(HostedZoneSpec {
                    name: "bench.internal".into(),
                    vpc: Ref::new("vpc"),
                    vpc_region: "us-east-1".into(),
                    comment: String::new(),
                }),
            });
            for idx in 0..n.saturating_sub(2) {
                let after = if idx == 0 {
                    Vec::new()
                } else {
                    vec![(
                        ResourceKind::RecordSet,
                        LogicalId::new(format!("r.{}", idx - 1)),
                    )]
                };
                resources.push(Resource {
                    id: LogicalId::new(format!("r.{idx}")),
                    spec: ResourceSpec::RecordSet(RecordSetSpec {
                        zone: Ref::new("zone"),
                        name: format!("r{idx}.bench.internal"),
                        record_type: "CNAME".into(),
                        ttl: 60,
                        value: Value::Str("target.example".into()),
                        after,
                    }),
                });
            }
        }
        other => panic!("unknown shape {other}; use wide or deep"),
    }
    DesiredGraph::new(
        "bench",
        "us-east-1",
        Default::default(),
        resources,
        HashMap::new(),
    )
    .expect("synthetic graph is valid")
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn scale(n: usize, shape: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let desired = Arc::new(synthetic(n, shape));
    let lowered = started.elapsed();
    let (plan_time, apply_time, ok, replan_changes) = runtime.block_on(async {
        let cloud = Arc::new(FakeCloud::new());
        let provider: Arc<dyn Provider> = cloud.clone();
        let engine = Engine::new(provider, ExecConfig::default());
        let t0 = Instant::now();
        let plan = engine.plan(desired.clone()).await.expect("plan");
        let plan_time = t0.elapsed();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        drop(rx);
        let t1 = Instant::now();
        let summary = engine.apply(&plan, tx, CancelToken::default()).await;
        let apply_time = t1.elapsed();
        let replan = engine.plan(desired.clone()).await.expect("plan");
        (
            plan_time,
            apply_time,
            summary.is_success(),
            replan.has_changes(),
        )
    });
    println!(
        "{}",
        serde_json::json!({
            "figure": "scale",
            "shape": shape,
            "resources": n,
            "success": ok && !replan_changes,
            "graph_ms": lowered.as_secs_f64() * 1e3,
            "plan_ms": plan_time.as_secs_f64() * 1e3,
            "apply_ms": apply_time.as_secs_f64() * 1e3,
            "total_ms": (lowered + plan_time + apply_time).as_secs_f64() * 1e3,
            "peak_rss_mb": peak_rss_mb(),
        })
    );
}
