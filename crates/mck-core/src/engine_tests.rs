//! Engine tests on [`FakeCloud`] with tokio's paused clock: ordering, concurrency bound,
//! failure isolation, readiness polling, retries, cancellation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::Engine;
use crate::exec::{CancelToken, ExecConfig, ExecEvent, FailureReason, Op, Outcome, Summary};
use crate::graph::DesiredGraph;
use crate::model::{
    LogicalId, MaintenanceSpec, ReleaseJob, ReleaseRecordSpec, ReleaseTaskSpec, ResourceKind as K,
    ResourceSpec, TaskDefinitionSpec,
};
use crate::plan::{Action, Plan};
use crate::provider::{ErrorClass, Provider, Reader};
use crate::stack::parse_str;
use crate::testing::{FakeCloud, Fault};

const DEV_LIKE: &str = "version: 1\nnetwork:\n  zones: [us-east-1a, us-east-1b, us-east-1c]\n  nat: per-zone\nbastion:\n  ssh_cidrs: [198.51.100.0/24]\n";

fn desired(yaml: &str) -> Arc<DesiredGraph> {
    Engine::desired(&parse_str("t", "t.yaml", yaml).unwrap()).unwrap()
}

fn engine(cloud: &Arc<FakeCloud>, config: ExecConfig) -> Engine {
    let provider: Arc<dyn Provider> = cloud.clone();
    Engine::new(provider, config)
}

async fn run(engine: &Engine, plan: &Plan) -> (Summary, Vec<ExecEvent>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let summary = engine.apply(plan, tx, CancelToken::default()).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (summary, events)
}

/// Applies `plan` as a run that is killed (cancelled) `after` its start.
async fn run_killed_after(engine: &Engine, plan: &Plan, after: Duration) -> Summary {
    let cancel = CancelToken::default();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        canceller.cancel();
    });
    let (tx, _rx) = mpsc::unbounded_channel();
    engine.apply(plan, tx, cancel).await
}

/// Every mutating call on a resource comes after the calls on everything it needs.
fn assert_dependency_order(cloud: &FakeCloud, desired: &DesiredGraph) {
    let calls = cloud.calls();
    let first: HashMap<&LogicalId, usize> = calls
        .iter()
        .enumerate()
        .rev()
        .map(|(idx, c)| (&c.id, idx))
        .collect();
    for resource in desired.iter() {
        for dep in desired.dependencies(&resource.id) {
            assert!(
                first[dep] < first[&resource.id],
                "{} was created before {dep}",
                resource.id
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn creates_follow_dependencies_and_waits_for_readiness() {
    let cloud = Arc::new(
        FakeCloud::new()
            .with_latency(K::NatGateway, Duration::from_secs(100))
            .with_latency(K::Instance, Duration::from_secs(30)),
    );
    let desired = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired.clone()).await.unwrap();
    let (summary, _) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{summary:?}");
    assert_dependency_order(&cloud, &desired);
    // Routes to a NAT gateway start only after it is ready, ~100 s after its create.
    let calls = cloud.calls();
    let nat_created = calls.iter().find(|c| c.id.as_str() == "nat.b").unwrap().at;
    let route = calls
        .iter()
        .find(|c| c.id.as_str() == "rt.private.b:0.0.0.0/0")
        .unwrap()
        .at;
    let waited = route - nat_created;
    assert!(
        waited >= Duration::from_secs(100) && waited <= Duration::from_secs(111),
        "{waited:?}"
    );
    // Adaptive polling: a 100 s wait costs a logarithmic number of checks, not one per 200 ms.
    let polls = cloud.polls("nat.b");
    // 10 checks at 200 ms, then intervals growing by 10 % each: ~50 for 100 s.
    assert!((20..=60).contains(&polls), "{polls} polls");
    assert_eq!(cloud.len("t"), desired.len());
    let tags = cloud.tags("t");
    assert!(
        tags.iter()
            .all(|t| t["mck:stack"] == "t" && t.contains_key("mck:id"))
    );
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded() {
    let cloud = Arc::new(FakeCloud::new().with_call_latency(Duration::from_millis(50)));
    let desired = desired(DEV_LIKE);
    let config = ExecConfig {
        concurrency: 3,
        ..ExecConfig::default()
    };
    let engine = engine(&cloud, config);
    let plan = engine.plan(desired.clone()).await.unwrap();
    let (summary, _) = run(&engine, &plan).await;
    assert!(summary.is_success());
    assert_eq!(cloud.max_in_flight(), 3);

    // Unbounded enough: more than 3 independent steps do run at once.
    let cloud = Arc::new(FakeCloud::new().with_call_latency(Duration::from_millis(50)));
    let engine2 = crate::Engine::new(cloud.clone() as Arc<dyn Provider>, ExecConfig::default());
    let plan = engine2.plan(desired).await.unwrap();
    run(&engine2, &plan).await;
    assert!(cloud.max_in_flight() > 3, "{}", cloud.max_in_flight());
}

#[tokio::test(start_paused = true)]
async fn a_failed_step_skips_dependents_and_independent_branches_continue() {
    let cloud = Arc::new(FakeCloud::new());
    cloud.fail("subnet.public.a", Op::Create, ErrorClass::Invalid, 1);
    let desired = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired.clone()).await.unwrap();
    let (summary, _) = run(&engine, &plan).await;
    let outcome = |id: &str| {
        summary
            .results
            .iter()
            .find(|r| r.id.as_str() == id)
            .unwrap()
            .outcome
            .clone()
    };
    // The failure carries its class to the summary, not only a message.
    let Outcome::Failed(err) = outcome("subnet.public.a") else {
        panic!("subnet.public.a did not fail")
    };
    assert_eq!(err.reason, FailureReason::Provider(ErrorClass::Invalid));
    assert!(matches!(outcome("nat.a"), Outcome::Skipped(_)));
    assert!(matches!(outcome("bastion"), Outcome::Skipped(_)));
    assert!(matches!(outcome("eip.bastion"), Outcome::Skipped(_)));
    assert!(matches!(
        outcome("rt.private.a:0.0.0.0/0"),
        Outcome::Skipped(_)
    ));
    assert_eq!(outcome("nat.b"), Outcome::Done);
    assert_eq!(outcome("subnet.public.b"), Outcome::Done);
    assert_eq!(outcome("sg.db"), Outcome::Done);
    // Failures come first in the summary.
    assert!(matches!(summary.sorted()[0].outcome, Outcome::Failed(_)));
    // A re-run converges: only what was missing is created, the failed subnet among it.
    let plan = engine.plan(desired.clone()).await.unwrap();
    assert!(
        plan.steps()
            .iter()
            .all(|s| matches!(s.action, Action::Create | Action::NoOp))
    );
    assert!(
        plan.steps()
            .iter()
            .any(|s| s.id.as_str() == "subnet.public.a" && s.action == Action::Create),
        "the failed subnet is created"
    );
    let (summary, _) = run(&engine, &plan).await;
    assert!(summary.is_success());
    assert_eq!(cloud.len("t"), desired.len());
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_and_invalid_ones_are_not() {
    let cloud = Arc::new(FakeCloud::new());
    cloud.fail("vpc", Op::Create, ErrorClass::Throttled, 2);
    cloud.fail("igw", Op::Create, ErrorClass::Transient, 1);
    let desired = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired.clone()).await.unwrap();
    let (summary, events) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{summary:?}");
    let retries = events
        .iter()
        .filter(|e| matches!(e, ExecEvent::Retrying { .. }))
        .count();
    assert_eq!(retries, 3);
    let vpc_creates = cloud
        .calls()
        .iter()
        .filter(|c| c.id.as_str() == "vpc")
        .count();
    assert_eq!(vpc_creates, 3);
}

#[tokio::test(start_paused = true)]
async fn readiness_times_out_with_the_last_status() {
    let cloud = Arc::new(FakeCloud::new());
    cloud.never_ready("nat.a");
    let yaml = format!("{DEV_LIKE}timeouts:\n  nat_gateway: 5m\n");
    let desired = desired(&yaml);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired).await.unwrap();
    let (summary, _) = run(&engine, &plan).await;
    let nat = summary
        .results
        .iter()
        .find(|r| r.id.as_str() == "nat.a")
        .unwrap();
    let Outcome::Failed(err) = &nat.outcome else {
        panic!("{nat:?}")
    };
    assert_eq!(err.reason, FailureReason::TimedOut);
    let message = &err.message;
    assert!(
        message.starts_with("timed out after 2") && message.ends_with("(last status: pending)"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn down_deletes_in_reverse_order_which_the_fake_enforces() {
    let cloud =
        Arc::new(FakeCloud::new().with_delete_latency(K::Instance, Duration::from_secs(40)));
    let desired = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired.clone()).await.unwrap();
    assert!(run(&engine, &plan).await.0.is_success());

    let destroy = engine.plan_destroy(&desired).await.unwrap();
    assert_eq!(destroy.summary().destroy, desired.len());
    let (summary, events) = run(&engine, &destroy).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    // FakeCloud refuses a delete while something references the resource, so success alone
    // proves the order; no dependency violation was even retried.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ExecEvent::Retrying { .. }))
    );
    assert_eq!(cloud.len("t"), 0);
}

#[tokio::test(start_paused = true)]
async fn the_fake_refuses_deletes_of_resources_in_use() {
    let cloud = Arc::new(FakeCloud::new());
    let desired = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired).await.unwrap();
    run(&engine, &plan).await;
    let vpc = plan
        .steps()
        .iter()
        .find(|s| s.id.as_str() == "vpc")
        .unwrap();
    let live = engine
        .read("t")
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.id == vpc.id)
        .unwrap();
    let resolved = HashMap::new();
    let tags = Default::default();
    let ctx = crate::provider::Context {
        stack: "t",
        tags: &tags,
        resolved: &resolved,
    };
    let err = cloud.delete(&ctx, &live).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::DependencyViolation);
}

#[tokio::test(start_paused = true)]
async fn replace_deletes_dependents_first_and_recreates_them() {
    let cloud = Arc::new(FakeCloud::new());
    let desired1 = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    run(&engine, &engine.plan(desired1).await.unwrap()).await;
    // Moving the public subnets replaces them, their NATs, associations, the bastion…
    let moved = DEV_LIKE.replace(
        "nat: per-zone",
        "nat: per-zone\n  subnets:\n    public: [10.0.11.0/24, 10.0.12.0/24, 10.0.13.0/24]",
    );
    let desired2 = desired(&moved);
    let plan = engine.plan(desired2.clone()).await.unwrap();
    let action = |id: &str| {
        plan.steps()
            .iter()
            .find(|s| s.id.as_str() == id)
            .unwrap()
            .action
    };
    assert_eq!(action("subnet.public.a"), Action::Replace);
    assert_eq!(action("nat.a"), Action::Replace);
    assert_eq!(action("bastion"), Action::Replace);
    assert_eq!(action("eip.bastion"), Action::Update);
    assert_eq!(action("rt.private.a:0.0.0.0/0"), Action::Update);
    let (summary, _) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    let after = engine.plan(desired2.clone()).await.unwrap();
    assert!(!after.has_changes(), "{}", after.render_text());
    assert_eq!(cloud.len("t"), desired2.len());
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_starting_new_steps() {
    let cloud = Arc::new(FakeCloud::new().with_latency(K::Vpc, Duration::from_secs(10)));
    let desired = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired.clone()).await.unwrap();
    let summary = run_killed_after(&engine, &plan, Duration::from_secs(1)).await;
    // Only the first wave (the VPC) started; it was stopped while waiting for readiness.
    let calls = cloud.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(summary.count(|o| *o == Outcome::Cancelled), desired.len());
    // Re-running afterwards finds the VPC and creates the rest.
    let plan = engine.plan(desired.clone()).await.unwrap();
    assert_eq!(plan.summary().add, desired.len() - 1);
}

const DATA: &str = "version: 1
network:
  zones: [us-east-1a, us-east-1b, us-east-1c]
  nat: single
database: {}
caches:
  cache: {}
  session: {}
filesystem: {}
dns: {}
";

/// When each resource's create call was made, and when it was last touched.
fn first_call(cloud: &FakeCloud, id: &str) -> tokio::time::Instant {
    cloud
        .calls()
        .iter()
        .find(|c| c.id.as_str() == id)
        .unwrap_or_else(|| panic!("no call for {id}"))
        .at
}

#[tokio::test(start_paused = true)]
async fn records_wait_for_the_endpoints_they_publish() {
    let cloud = Arc::new(
        FakeCloud::new()
            .with_latency(K::DbCluster, Duration::from_secs(220))
            .with_latency(K::DbInstance, Duration::from_secs(600))
            .with_latency(K::ReplicationGroup, Duration::from_secs(600))
            .with_latency(K::MountTarget, Duration::from_secs(90)),
    );
    let desired = desired(DATA);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired.clone()).await.unwrap();
    let (summary, _) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert_dependency_order(&cloud, &desired);
    // The db record is written after both instances are ready (cluster 220 s + instances 600 s);
    // the reader record too; the efs record after the mount targets (90 s).
    let db_ready = first_call(&cloud, "db.instance.2") + Duration::from_secs(600);
    assert!(first_call(&cloud, "dns.db") >= db_ready);
    assert!(first_call(&cloud, "dns.db-ro") >= db_ready);
    assert!(
        first_call(&cloud, "dns.redis-cache")
            >= first_call(&cloud, "redis.cache") + Duration::from_secs(600)
    );
    assert!(
        first_call(&cloud, "dns.efs")
            >= first_call(&cloud, "efs.mount.c") + Duration::from_secs(90)
    );
    // Mount targets wait for their subnet and the efs security group (call order).
    let calls = cloud.calls();
    let pos = |id: &str| calls.iter().position(|c| c.id.as_str() == id).unwrap();
    for z in ["a", "b", "c"] {
        let mount = pos(&format!("efs.mount.{z}"));
        assert!(mount > pos(&format!("subnet.private.{z}")));
        assert!(mount > pos("sg.efs"));
    }
    // Record values are the live endpoints.
    let plan = engine.plan(desired).await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render_text());
    let db = plan.observed().get(&LogicalId::new("dns.db")).unwrap();
    let cluster = plan.observed().get(&LogicalId::new("db.cluster")).unwrap();
    assert_eq!(
        db.fields["records"],
        crate::model::Value::List(vec![crate::model::Value::Str(
            cluster.outputs["endpoint"].clone()
        )])
    );
}

#[tokio::test(start_paused = true)]
async fn data_tier_deletes_run_in_reverse_order() {
    let cloud =
        Arc::new(FakeCloud::new().with_delete_latency(K::DbInstance, Duration::from_secs(300)));
    let desired = desired(DATA);
    let engine = engine(&cloud, ExecConfig::default());
    assert!(
        run(&engine, &engine.plan(desired.clone()).await.unwrap())
            .await
            .0
            .is_success()
    );
    let destroy = engine.plan_destroy(&desired).await.unwrap();
    let (summary, _) = run(&engine, &destroy).await;
    // FakeCloud refuses deletes of anything still referenced; success proves the order.
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert_eq!(cloud.len("t"), 0);
    let deletes: Vec<_> = cloud
        .calls()
        .into_iter()
        .filter(|c| c.op == Op::Delete)
        .collect();
    let at = |id: &str| deletes.iter().find(|c| c.id.as_str() == id).unwrap().at;
    let pos = |id: &str| deletes.iter().position(|c| c.id.as_str() == id).unwrap();
    assert!(
        at("db.cluster") >= at("db.instance.1") + Duration::from_secs(300),
        "the cluster waits for its instances"
    );
    assert!(pos("dns.zone") > pos("dns.db"));
    assert!(pos("efs") > pos("efs.mount.a") && pos("efs") > pos("efs.ap.media"));
    assert!(pos("cache.subnets") > pos("redis.session"));
    assert!(
        pos("subnet.data.a") > pos("db.subnets") && pos("subnet.data.a") > pos("cache.subnets")
    );
}

#[tokio::test(start_paused = true)]
async fn deleting_something_already_gone_counts_as_done() {
    let cloud = Arc::new(FakeCloud::new());
    let desired = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    assert!(
        run(&engine, &engine.plan(desired.clone()).await.unwrap())
            .await
            .0
            .is_success()
    );
    let destroy = engine.plan_destroy(&desired).await.unwrap();
    // Someone else removes a rule between plan and apply.
    cloud.remove("t", "sg.db/ingress/tcp/3306-3306/sg.app");
    let (summary, _) = run(&engine, &destroy).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert_eq!(cloud.len("t"), 0);
}

#[tokio::test(start_paused = true)]
async fn resources_not_yet_visible_after_create_are_waited_for() {
    // A describe right after a create may not see the resource on AWS.
    let cloud = Arc::new(
        FakeCloud::new()
            .with_visibility_delay(K::NatGateway, Duration::from_secs(5))
            .with_visibility_delay(K::Subnet, Duration::from_secs(1)),
    );
    let desired = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired.clone()).await.unwrap();
    let (summary, events) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ExecEvent::Waiting { status, .. } if status == "not visible yet"))
    );
    assert_eq!(cloud.len("t"), desired.len());
    assert_eq!(cloud.count("t", K::NatGateway), 3, "no second NAT gateway");
}

#[tokio::test(start_paused = true)]
async fn cancel_interrupts_a_delete_retrying_a_dependency_violation() {
    let cloud = Arc::new(FakeCloud::new());
    let desired = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    run(&engine, &engine.plan(desired.clone()).await.unwrap()).await;
    // The VPC's delete keeps failing as if an ENI still used it (as after a kill -9 of `down`).
    cloud.fail("vpc", Op::Delete, ErrorClass::DependencyViolation, u32::MAX);
    let plan = engine.plan(Arc::new(desired.emptied())).await.unwrap();
    let cancel = CancelToken::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let canceller = cancel.clone();
    let watcher = tokio::spawn(async move {
        // Cancel once the VPC's delete is retrying.
        while let Some(event) = rx.recv().await {
            if let ExecEvent::Retrying { id, .. } = &event
                && id.as_str() == "vpc"
            {
                canceller.cancel();
                return tokio::time::Instant::now();
            }
        }
        panic!("the VPC delete never retried");
    });
    let summary = engine.apply(&plan, tx, cancel).await;
    let cancelled_at = watcher.await.unwrap();
    let vpc = summary
        .results
        .iter()
        .find(|r| r.id.as_str() == "vpc")
        .unwrap();
    assert_eq!(vpc.outcome, Outcome::Cancelled);
    // The run ended at the cancel, not after the delete's timeout (paused clock: exact).
    assert_eq!(tokio::time::Instant::now(), cancelled_at);
}

#[tokio::test(start_paused = true)]
async fn create_first_replacement_moves_users_to_the_new_resource_before_deleting_the_old() {
    let cloud = Arc::new(FakeCloud::new());
    let desired1 = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    run(&engine, &engine.plan(desired1).await.unwrap()).await;
    // A new instance type replaces the bastion; its address moves to the new one in place.
    let bigger = DEV_LIKE.replace("bastion:\n", "bastion:\n  instance_type: t3.small\n");
    let desired2 = desired(&bigger);
    let plan = engine.plan(desired2.clone()).await.unwrap();
    let old_bastion = plan
        .steps()
        .iter()
        .find(|s| s.id.as_str() == "bastion")
        .and_then(|s| s.live.clone())
        .unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let provider: Arc<dyn Provider> = cloud.clone();
    let summary = crate::exec::apply_with_policy(
        &plan,
        provider,
        &ExecConfig::default(),
        tx,
        CancelToken::default(),
        &|kind| {
            if kind == K::Instance {
                crate::model::ReplacePolicy::CreateFirst
            } else {
                kind.replace_policy()
            }
        },
    )
    .await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    let order: Vec<(Op, &str)> = cloud
        .calls()
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|c| {
            (
                c.op,
                if c.id.as_str() == "bastion" {
                    "bastion"
                } else {
                    "other"
                },
            )
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        order,
        [
            (Op::Create, "bastion"),
            (Op::Update, "other"),
            (Op::Delete, "bastion")
        ]
    );
    // The old instance is gone, the new one is the stack's bastion, and nothing is left to do.
    let after = engine.plan(desired2.clone()).await.unwrap();
    assert!(!after.has_changes(), "{}", after.render_text());
    assert!(
        after
            .observed()
            .get(&LogicalId::new("bastion"))
            .is_some_and(|o| o.cloud_id != old_bastion.cloud_id)
    );
    assert_eq!(cloud.len("t"), desired2.len());
}

#[tokio::test(start_paused = true)]
async fn create_first_falls_back_to_delete_first_when_what_it_uses_is_replaced_delete_first() {
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    run(&engine, &engine.plan(desired(DEV_LIKE)).await.unwrap()).await;
    // The bastion's subnet is replaced delete-first, so the bastion's old copy must go first.
    let moved = DEV_LIKE.replace(
        "nat: per-zone",
        "nat: per-zone\n  subnets:\n    public: [10.0.11.0/24, 10.0.12.0/24, 10.0.13.0/24]",
    );
    let desired2 = desired(&moved);
    let plan = engine.plan(desired2.clone()).await.unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let provider: Arc<dyn Provider> = cloud.clone();
    let summary = crate::exec::apply_with_policy(
        &plan,
        provider,
        &ExecConfig::default(),
        tx,
        CancelToken::default(),
        &|kind| {
            if kind == K::Instance {
                crate::model::ReplacePolicy::CreateFirst
            } else {
                kind.replace_policy()
            }
        },
    )
    .await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert!(!engine.plan(desired2.clone()).await.unwrap().has_changes());
    assert_eq!(cloud.len("t"), desired2.len());
}

#[tokio::test(start_paused = true)]
async fn a_create_that_left_its_resource_behind_is_not_repeated() {
    let cloud = Arc::new(FakeCloud::new());
    cloud.fail_after_create("igw");
    let desired = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired.clone()).await.unwrap();
    let (summary, _) = run(&engine, &plan).await;
    let igw = summary
        .results
        .iter()
        .find(|r| r.id.as_str() == "igw")
        .unwrap();
    let Outcome::Failed(err) = &igw.outcome else {
        panic!("{igw:?}")
    };
    assert!(err.message.contains("was created"), "{}", err.message);
    // One create call, one gateway: a throttled follow-up did not make a second one.
    let creates = cloud
        .calls()
        .iter()
        .filter(|c| c.id.as_str() == "igw" && c.op == Op::Create)
        .count();
    assert_eq!(creates, 1);
    assert_eq!(cloud.count("t", K::InternetGateway), 1);
    // The next run finds the gateway and finishes the rest.
    let plan = engine.plan(desired.clone()).await.unwrap();
    let step = plan
        .steps()
        .iter()
        .find(|s| s.id.as_str() == "igw")
        .unwrap();
    assert_ne!(step.action, Action::Create);
    let (summary, _) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert_eq!(cloud.count("t", K::InternetGateway), 1);
    assert_eq!(cloud.len("t"), desired.len());
}

/// The prod-like stack with every tier.
const FULL: &str = "version: 1
network:
  zones: [us-east-1a, us-east-1b, us-east-1c]
  nat: per-zone
bastion:
  ssh_cidrs: [198.51.100.0/24]
database:
  instances: 2
caches:
  cache: {}
  session: {}
filesystem: {}
dns: {}
";

#[tokio::test(start_paused = true)]
async fn throttling_and_server_errors_on_every_call_still_converge_without_duplicates() {
    for seed in 1..=12 {
        let cloud = Arc::new(FakeCloud::new().with_faults(10, 2, seed));
        let desired = desired(FULL);
        let engine = engine(&cloud, ExecConfig::default());
        let plan = engine.plan(desired.clone()).await.unwrap();
        let (summary, _) = run(&engine, &plan).await;
        assert!(
            summary.is_success(),
            "seed {seed}: {:?}",
            summary.sorted().first()
        );
        // Nothing was created twice: one live resource per desired one, per kind.
        for &kind in K::ALL {
            let want = desired.iter().filter(|r| r.kind() == kind).count();
            assert_eq!(cloud.count("t", kind), want, "seed {seed}: {kind}");
        }
        let again = engine.plan(desired.clone()).await.unwrap();
        assert!(!again.has_changes(), "seed {seed}: {}", again.render_text());
        let destroy = engine.plan_destroy(&desired).await.unwrap();
        let (summary, _) = run(&engine, &destroy).await;
        assert!(
            summary.is_success(),
            "seed {seed}: {:?}",
            summary.sorted().first()
        );
        assert_eq!(cloud.len("t"), 0, "seed {seed}");
        assert!(
            cloud.faults_injected() > 20,
            "seed {seed}: the faults must bite"
        );
    }
}

/// A create whose answer is lost is repeated by the engine, and what that makes depends on the
/// kind, as on AWS ([`crate::model::RepeatedCreate`]): a client token or an adopted name gives
/// the first resource back; a VPC (no token, no unique name) is found by its tags once reads
/// show it, and a second one is made before that, which the next plan reports and removes.
#[tokio::test(start_paused = true)]
async fn a_create_whose_answer_was_lost_is_repeated_as_aws_would_answer_it() {
    let desired = desired(DEV_LIKE);
    // Token (NAT gateway) and found-by-tags (VPC, visible at once): one of each.
    let cloud = Arc::new(FakeCloud::new());
    cloud.lose_answer("vpc");
    cloud.lose_answer("nat.a");
    let first = engine(&cloud, ExecConfig::default());
    let (summary, _) = run(&first, &first.plan(desired.clone()).await.unwrap()).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert_eq!(cloud.count("t", K::Vpc), 1);
    assert_eq!(cloud.count("t", K::NatGateway), 3);
    assert!(
        cloud
            .calls()
            .iter()
            .filter(|c| c.id.as_str() == "vpc")
            .count()
            >= 2
    );

    // A VPC that reads do not show yet when the create is repeated: a second one.
    let cloud = Arc::new(FakeCloud::new().with_visibility_delay(K::Vpc, Duration::from_secs(30)));
    cloud.lose_answer("vpc");
    let engine = engine(&cloud, ExecConfig::default());
    let (summary, _) = run(&engine, &engine.plan(desired.clone()).await.unwrap()).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert_eq!(cloud.count("t", K::Vpc), 2, "the repeat made a second VPC");
    // Never silent: once both are visible, the next plan names the duplicate and removes it.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let plan = engine.plan(desired.clone()).await.unwrap();
    assert_eq!(plan.duplicates().len(), 1, "{}", plan.render_text());
    assert_eq!(plan.duplicates()[0].id.as_str(), "vpc");
    let (summary, _) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert_eq!(cloud.count("t", K::Vpc), 1);
    assert!(!engine.plan(desired).await.unwrap().has_changes());
}

#[tokio::test(start_paused = true)]
async fn updates_refused_while_the_resource_is_busy_are_retried() {
    let cloud =
        Arc::new(FakeCloud::new().with_latency(K::ReplicationGroup, Duration::from_secs(600)));
    let desired1 = desired(FULL);
    let engine = engine(&cloud, ExecConfig::default());
    run(&engine, &engine.plan(desired1).await.unwrap()).await;
    // Two changes in a row: the second plan's update meets the group still modifying.
    let bigger = desired(&FULL.replace("  cache: {}", "  cache: {node_type: cache.r7g.large}"));
    let plan = engine.plan(bigger.clone()).await.unwrap();
    run_killed_after(&engine, &plan, Duration::from_secs(5)).await;
    let more = desired(&FULL.replace(
        "  cache: {}",
        "  cache: {node_type: cache.r7g.large, replicas: 2}",
    ));
    let plan = engine.plan(more.clone()).await.unwrap();
    let (summary, events) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ExecEvent::Retrying { id, .. } if id.as_str() == "redis.cache")),
        "the busy group was not retried"
    );
    assert!(!engine.plan(more).await.unwrap().has_changes());
}

/// `up` right after a `down` that was killed while AWS deleted: what is being deleted is
/// waited for and made again, not waited for as if it were coming up (which ends in "it
/// disappeared"). A `down` of it only waits.
#[tokio::test(start_paused = true)]
async fn up_after_a_killed_down_makes_again_what_is_being_deleted() {
    let cloud = Arc::new(
        FakeCloud::new().with_delete_latency(K::ReplicationGroup, Duration::from_secs(600)),
    );
    let desired = desired(FULL);
    let engine = engine(&cloud, ExecConfig::default());
    run(&engine, &engine.plan(desired.clone()).await.unwrap()).await;
    let destroy = engine.plan_destroy(&desired).await.unwrap();
    run_killed_after(&engine, &destroy, Duration::from_secs(120)).await;
    let plan = engine.plan(desired.clone()).await.unwrap();
    let step = plan
        .steps()
        .iter()
        .find(|s| s.id.as_str() == "redis.cache")
        .unwrap();
    assert_eq!(step.action, Action::Replace, "{step:?}");
    assert!(
        step.reason
            .as_deref()
            .is_some_and(|r| r.contains("being deleted")),
        "{step:?}"
    );
    // Nothing more is lost: no --allow-data-loss needed for what is already going.
    assert!(
        !plan.refusals(false).iter().any(|r| r.contains("redis.")),
        "{:?}",
        plan.refusals(false)
    );
    let deletes_before = cloud
        .calls()
        .iter()
        .filter(|c| c.op == Op::Delete && c.id.as_str() == "redis.cache")
        .count();
    let (summary, _) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    // The delete under way was waited for, not asked again.
    assert_eq!(
        cloud
            .calls()
            .iter()
            .filter(|c| c.op == Op::Delete && c.id.as_str() == "redis.cache")
            .count(),
        deletes_before
    );
    assert_eq!(cloud.count("t", K::ReplicationGroup), 2);
    assert!(!engine.plan(desired).await.unwrap().has_changes());
}

#[tokio::test(start_paused = true)]
async fn a_cache_killed_while_creating_is_found_again_and_not_duplicated() {
    let cloud = Arc::new(
        FakeCloud::new()
            .with_latency(K::ReplicationGroup, Duration::from_secs(600))
            .unreadable_while_creating(K::ReplicationGroup),
    );
    let desired = desired(FULL);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired.clone()).await.unwrap();
    // The run dies while the caches are creating.
    run_killed_after(&engine, &plan, Duration::from_secs(120)).await;
    assert_eq!(cloud.count("t", K::ReplicationGroup), 2);
    // The next plan cannot see them (their tags are unreadable) and plans creates again…
    let plan = engine.plan(desired.clone()).await.unwrap();
    let step = plan
        .steps()
        .iter()
        .find(|s| s.id.as_str() == "redis.cache")
        .unwrap();
    assert_eq!(step.action, Action::Create);
    // …which find the groups already there instead of making second ones.
    let (summary, _) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert_eq!(cloud.count("t", K::ReplicationGroup), 2);
    assert!(!engine.plan(desired).await.unwrap().has_changes());
}

#[tokio::test(start_paused = true)]
async fn a_delete_blocked_by_a_slow_teardown_waits_as_long_as_that_teardown_may_take() {
    let cloud = Arc::new(FakeCloud::new());
    let desired = desired(FULL);
    let engine = engine(&cloud, ExecConfig::default());
    run(&engine, &engine.plan(desired.clone()).await.unwrap()).await;
    // As after a killed `down`: the cluster is gone from the plan's view, but its network
    // interfaces keep the subnet group in use for 20 minutes (subnet groups time out at 5).
    cloud.fail(
        "db.subnets",
        Op::Delete,
        ErrorClass::DependencyViolation,
        70,
    );
    let started = tokio::time::Instant::now();
    let destroy = engine.plan_destroy(&desired).await.unwrap();
    let (summary, _) = run(&engine, &destroy).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert!(started.elapsed() > Duration::from_secs(5 * 60));
    assert_eq!(cloud.len("t"), 0);
}

#[tokio::test(start_paused = true)]
async fn resources_left_pending_by_a_killed_run_are_waited_for_before_their_dependents() {
    let cloud = Arc::new(FakeCloud::new().with_latency(K::NatGateway, Duration::from_secs(100)));
    let desired = desired(DEV_LIKE);
    let engine = engine(&cloud, ExecConfig::default());
    let plan = engine.plan(desired.clone()).await.unwrap();
    // Killed while the NAT gateways are pending.
    run_killed_after(&engine, &plan, Duration::from_secs(30)).await;
    assert_eq!(cloud.count("t", K::NatGateway), 3);
    let plan = engine.plan(desired.clone()).await.unwrap();
    let nat = plan
        .steps()
        .iter()
        .find(|s| s.id.as_str() == "nat.a")
        .unwrap();
    assert_eq!(nat.action, Action::NoOp);
    assert!(
        plan.render_text()
            .contains("nat.a is pending: up waits for it"),
        "{}",
        plan.render_text()
    );
    // The routes through them must wait: the fake refuses a route to a pending gateway.
    let (summary, _) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert!(
        summary
            .results
            .iter()
            .any(|r| r.id.as_str() == "nat.a" && r.op == Op::Wait)
    );
    assert!(!engine.plan(desired).await.unwrap().has_changes());
}

// ---------------------------------------------------------------------------------------------
// The app tier's rollouts on FakeCloud (the driver's health gate is tested offline in mck-aws).

fn dev_stack() -> crate::stack::Stack {
    crate::stack::load(std::path::Path::new("../../stacks"), "dev").unwrap()
}

/// Applies the dev stack from empty; returns the run's summary.
async fn up_dev(engine: &Engine) -> Summary {
    let desired = Engine::desired(&dev_stack()).unwrap();
    run(engine, &engine.plan(desired).await.unwrap()).await.0
}

/// The step of `id` (the first, if a replacement has two).
fn result<'a>(summary: &'a Summary, id: &str) -> &'a crate::exec::StepResult {
    summary
        .results
        .iter()
        .find(|r| r.id.as_str() == id)
        .unwrap_or_else(|| panic!("no step for {id}"))
}

fn with_frontend_image(mut stack: crate::stack::Stack, image: &str) -> Arc<DesiredGraph> {
    stack
        .config
        .apps
        .get_mut("frontend")
        .unwrap()
        .containers
        .get_mut("php-fpm")
        .unwrap()
        .image = image.to_string();
    Engine::desired(&stack).unwrap()
}

fn changes(plan: &Plan) -> Vec<(Action, &str)> {
    plan.steps()
        .iter()
        .filter(|s| s.action != Action::NoOp)
        .map(|s| (s.action, s.id.as_str()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_image_change_registers_one_revision_and_updates_one_service_and_nothing_else() {
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    let summary = up_dev(&engine).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    // Nothing changed: no new revision, no service update.
    let again = engine
        .plan(Engine::desired(&dev_stack()).unwrap())
        .await
        .unwrap();
    assert_eq!(changes(&again), []);

    let desired2 = with_frontend_image(dev_stack(), "public.ecr.aws/magecloudkit/magento:2.4.8");
    let plan = engine.plan(desired2.clone()).await.unwrap();
    assert_eq!(
        changes(&plan),
        [
            (Action::Replace, "ecs.taskdef.frontend"),
            (Action::Update, "ecs.service.frontend"),
        ]
    );
    // The plan names the container setting that changed.
    let text = plan.render_text();
    assert!(text.contains("php-fpm"), "{text}");
    assert!(text.contains("magento:2.4.8"), "{text}");
    let before = cloud.count("dev", K::TaskDefinition);
    let (summary, _) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    // One revision registered; the old one stays registered (kept for rollback).
    assert_eq!(cloud.count("dev", K::TaskDefinition), before + 1);
    let revisions = cloud.revisions("dev-frontend").await.unwrap();
    assert_eq!(revisions.len(), 2);
    assert_eq!(
        revisions[0].images["php-fpm"],
        "public.ecr.aws/magecloudkit/magento:2.4.8"
    );
    assert_eq!(changes(&engine.plan(desired2).await.unwrap()), []);
}

#[tokio::test(start_paused = true)]
async fn a_rollout_rolled_back_by_the_circuit_breaker_fails_and_keeps_the_old_revision() {
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    assert!(up_dev(&engine).await.is_success());
    let old_revision = engine
        .plan(Engine::desired(&dev_stack()).unwrap())
        .await
        .unwrap()
        .observed()[&LogicalId::new("ecs.taskdef.frontend")]
        .cloud_id
        .clone();

    let desired2 = with_frontend_image(dev_stack(), "public.ecr.aws/magecloudkit/magento:broken");
    let plan = engine.plan(desired2.clone()).await.unwrap();
    cloud.roll_back(
        "ecs.service.frontend",
        "the deployment of service frontend failed and the circuit breaker rolled it back: tasks failed to start; stopped tasks: task 0a1b: Essential container in task exited (php-fpm exit 255)",
    );
    let (summary, _) = run(&engine, &plan).await;
    assert!(!summary.is_success());
    let service = result(&summary, "ecs.service.frontend");
    let Outcome::Failed(err) = &service.outcome else {
        panic!("the rolled back service must fail: {:?}", service.outcome)
    };
    assert_eq!(err.reason, FailureReason::ResourceFailed);
    assert!(err.message.contains("php-fpm exit 255"), "{}", err.message);
    // What came after the rollout (deregistering the old revision) is skipped: the service
    // still runs it.
    let old = summary
        .sorted()
        .into_iter()
        .filter(|r| r.id.as_str() == "ecs.taskdef.frontend" && r.op == Op::Delete)
        .map(|r| r.outcome.clone())
        .collect::<Vec<_>>();
    assert!(matches!(old.as_slice(), [Outcome::Skipped(_)]), "{old:?}");
    assert!(
        cloud
            .calls()
            .iter()
            .all(|c| !(c.op == Op::Delete && c.id.as_str() == "ecs.taskdef.frontend")),
        "the old revision was deregistered"
    );
    // Both revisions are registered (with the admin's, cron's, the worker's, the two
    // database login tasks' and the install's); the next plan tries the rollout again with the
    // newest, registering nothing new.
    assert_eq!(cloud.count("dev", K::TaskDefinition), 8);
    let next = engine.plan(desired2).await.unwrap();
    assert_eq!(changes(&next), [(Action::Update, "ecs.service.frontend")]);
    assert_ne!(
        next.observed()[&LogicalId::new("ecs.taskdef.frontend")].cloud_id,
        old_revision
    );
}

/// With alarms on, a release whose rollout its 5xx alarm rolls back is a failed release: the
/// service's step fails with the alarm's name, the release is not recorded, and the alarms and
/// the topic are untouched by the release.
#[tokio::test]
async fn a_release_rolled_back_by_its_deployment_alarm_fails_and_is_not_recorded() {
    let with_alarms = |tag: &str| {
        let mut stack = crate::stack::load_with(
            std::path::Path::new("../../stacks"),
            "dev",
            &[crate::stack::Override::parse(&format!("release.tag={tag}")).unwrap()],
        )
        .unwrap();
        stack.config.alarms = Some(crate::stack::AlarmsConfig {
            email: vec!["ops@example.com".into()],
            rollback_on_5xx: true,
            thresholds: Default::default(),
        });
        Engine::desired(&stack).unwrap()
    };
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    let first = with_alarms("2.4.7");
    let (summary, _) = run(&engine, &engine.plan(first.clone()).await.unwrap()).await;
    assert!(summary.is_success());
    match &first
        .get(&LogicalId::new("ecs.service.frontend"))
        .unwrap()
        .spec
    {
        ResourceSpec::EcsService(s) => {
            assert_eq!(
                s.alarms,
                vec![crate::model::Ref::new("alarm.app.frontend.5xx")]
            )
        }
        other => panic!("{other:?}"),
    }

    let plan = engine.plan(with_alarms("2.4.8")).await.unwrap();
    cloud.roll_back(
        "ecs.service.frontend",
        "the deployment of service frontend failed: ECS deployment detected triggered alarms; rolled back by its deployment alarm mck/dev/app.frontend.5xx (in ALARM)",
    );
    let (summary, _) = run(&engine, &plan).await;
    assert!(!summary.is_success());
    let Outcome::Failed(err) = &result(&summary, "ecs.service.frontend").outcome else {
        panic!("the service rolled back by its alarm must fail")
    };
    assert!(
        err.message.contains("mck/dev/app.frontend.5xx"),
        "{}",
        err.message
    );
    let record = result(&summary, ReleaseRecordSpec::ID);
    assert!(
        matches!(record.outcome, Outcome::Skipped(_)),
        "a rolled back release is recorded: {:?}",
        record.outcome
    );
    assert!(
        summary
            .results
            .iter()
            .all(|r| !matches!(r.kind, K::Alarm | K::Topic | K::Subscription | K::Dashboard)),
        "the release touched the operations tier"
    );
}

/// With `apps.frontend.scaling` (prod), the live task count is Application Auto Scaling's:
/// a plan does not compare it (the unscaled admin's is still compared), and a release rolls
/// the service without sending it, so the count the scaling set survives the rollout.
#[tokio::test(start_paused = true)]
async fn a_scaled_service_keeps_the_count_its_scaling_set_through_plans_and_releases() {
    let prod = |tag: &str| {
        let set = crate::stack::Override::parse(&format!("release.tag={tag}")).unwrap();
        Engine::desired(
            &crate::stack::load_with(std::path::Path::new("../../stacks"), "prod", &[set]).unwrap(),
        )
        .unwrap()
    };
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    let (summary, _) = run(&engine, &engine.plan(prod("2.4.7")).await.unwrap()).await;
    assert!(summary.is_success());
    // The scaling raised the frontend to 9 tasks; someone set the admin to 3 by hand.
    cloud.tamper(
        "prod",
        "ecs.service.frontend",
        "desired_count",
        crate::model::Value::Int(9),
    );
    cloud.tamper(
        "prod",
        "ecs.service.admin",
        "desired_count",
        crate::model::Value::Int(3),
    );
    let plan = engine.plan(prod("2.4.7")).await.unwrap();
    assert_eq!(changes(&plan), [(Action::Update, "ecs.service.admin")]);

    let release = engine.plan(prod("2.4.8")).await.unwrap();
    let frontend = release
        .steps()
        .iter()
        .find(|s| s.id.as_str() == "ecs.service.frontend")
        .unwrap();
    assert_eq!(frontend.action, Action::Update);
    let fields: Vec<&str> = frontend.changes.iter().map(|c| c.field).collect();
    assert!(fields.contains(&"task_definition"), "{fields:?}");
    assert!(!fields.contains(&"desired_count"), "{fields:?}");
    let (summary, _) = run(&engine, &release).await;
    assert!(summary.is_success());
    let after = engine.plan(prod("2.4.8")).await.unwrap();
    assert_eq!(
        after.observed()[&LogicalId::new("ecs.service.frontend")].fields["desired_count"],
        crate::model::Value::Int(9)
    );
    // The release reset the admin's count to the file's (1): it is not scaled.
    assert_eq!(
        after.observed()[&LogicalId::new("ecs.service.admin")].fields["desired_count"],
        crate::model::Value::Int(1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_rollout_whose_targets_never_turn_healthy_times_out_naming_the_service() {
    let cloud = Arc::new(FakeCloud::new());
    cloud.never_ready_because(
        "ecs.service.admin",
        "running 1/1, healthy 0/1; a target is unhealthy: Health checks failed with these codes: [500]",
    );
    let engine = engine(&cloud, ExecConfig::default());
    let summary = up_dev(&engine).await;
    let admin = result(&summary, "ecs.service.admin");
    let Outcome::Failed(err) = &admin.outcome else {
        panic!("{:?}", admin.outcome)
    };
    assert_eq!(err.reason, FailureReason::TimedOut);
    assert!(err.message.contains("healthy 0/1"), "{}", err.message);
    assert!(err.message.contains("[500]"), "{}", err.message);
    // The other service, independent of it, finished.
    assert_eq!(
        result(&summary, "ecs.service.frontend").outcome,
        Outcome::Done
    );
}

#[tokio::test(start_paused = true)]
async fn services_are_drained_and_gone_before_their_target_groups_and_cluster_are_deleted() {
    let cloud =
        Arc::new(FakeCloud::new().with_delete_latency(K::EcsService, Duration::from_secs(120)));
    let engine = engine(&cloud, ExecConfig::default());
    let desired = Engine::desired(&dev_stack()).unwrap();
    run(&engine, &engine.plan(desired.clone()).await.unwrap()).await;
    let start = tokio::time::Instant::now();
    let (summary, _) = run(&engine, &engine.plan_destroy(&desired).await.unwrap()).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    for id in ["alb.tg.frontend", "alb.tg.admin", "ecs.cluster"] {
        let deleted_at = cloud
            .calls()
            .iter()
            .find(|c| c.op == Op::Delete && c.id.as_str() == id)
            .map(|c| c.at)
            .unwrap();
        assert!(
            deleted_at >= start + Duration::from_secs(120),
            "{id} was deleted while a service was still draining"
        );
    }
    assert_eq!(cloud.len("dev"), 0);
}

/// SIGKILL at every step boundary of the full prod stack: the run is dropped (its in-flight
/// calls with it) after each number of finished steps in turn, and the next `up` converges to
/// exactly the stack: every resource once, nothing extra, then nothing to do.
#[tokio::test(start_paused = true)]
async fn killed_at_every_step_boundary_of_prod_the_next_up_converges() {
    let stack = crate::stack::load(std::path::Path::new("../../stacks"), "prod").unwrap();
    let desired = Engine::desired(&stack).unwrap();
    let n = desired.len();
    let mut survived = 0;
    for k in 1..n {
        // Some call latency, so steps overlap and a kill lands with calls in flight.
        let cloud = Arc::new(FakeCloud::new().with_call_latency(Duration::from_millis(30)));
        let engine = engine(&cloud, ExecConfig::default());
        let plan = engine.plan(desired.clone()).await.unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut finished = 0;
        let mut completed = false;
        {
            let apply = engine.apply(&plan, tx, CancelToken::default());
            tokio::pin!(apply);
            loop {
                tokio::select! {
                    biased;
                    event = rx.recv() => {
                        if matches!(event, Some(ExecEvent::Finished { .. })) {
                            finished += 1;
                            if finished == k {
                                break;
                            }
                        }
                    }
                    _ = &mut apply => {
                        completed = true;
                        break;
                    }
                }
            }
            // SIGKILL: leaving the block drops the run and every call in flight where they are.
        }
        if completed {
            // Every step boundary has had its kill.
            assert!(k > 80, "the run ended after {finished} steps");
            break;
        }

        let plan = engine.plan(desired.clone()).await.unwrap();
        let (summary, _) = run_to_end(&engine, &plan).await;
        assert!(summary.is_success(), "kill after {k} steps: {summary:?}");
        assert_eq!(
            cloud.len("prod"),
            n,
            "kill after {k}: orphans or duplicates"
        );
        let again = engine.plan(desired.clone()).await.unwrap();
        assert!(
            !again.has_changes(),
            "kill after {k}: {}",
            again.render_text()
        );
        survived += 1;
    }
    assert!(survived > 80, "{survived} kill points");
}

async fn run_to_end(engine: &Engine, plan: &Plan) -> (Summary, Vec<ExecEvent>) {
    run(engine, plan).await
}

/// The dev stack released at `tag`, as `--set release.tag=TAG` gives it.
fn release(tag: &str) -> Arc<DesiredGraph> {
    let set = crate::stack::Override::parse(&format!("release.tag={tag}")).unwrap();
    Engine::desired(
        &crate::stack::load_with(std::path::Path::new("../../stacks"), "dev", &[set]).unwrap(),
    )
    .unwrap()
}

/// Mutating calls made on the services since `from` (an index into `cloud.calls()`).
fn service_calls(cloud: &FakeCloud, from: usize) -> Vec<(String, Op)> {
    cloud.calls()[from..]
        .iter()
        .filter(|c| c.kind == K::EcsService)
        .map(|c| (c.id.to_string(), c.op))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_failing_migration_stops_the_release_before_any_service_is_touched() {
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    assert!(up_dev(&engine).await.is_success());
    let before = cloud.calls().len();
    let plan = engine.plan(release("2.4.8")).await.unwrap();
    cloud.roll_back(
        ReleaseTaskSpec::MIGRATE_ID,
        "the migration task exited with code 1; last log lines:\n  SQLSTATE[42S01]: Base table or view already exists",
    );
    let (summary, _) = run(&engine, &plan).await;
    assert!(!summary.is_success());
    let Outcome::Failed(err) = &result(&summary, ReleaseTaskSpec::MIGRATE_ID).outcome else {
        panic!("the migration must fail")
    };
    assert_eq!(err.reason, FailureReason::ResourceFailed);
    assert!(err.message.contains("SQLSTATE[42S01]"), "{}", err.message);
    for service in [
        "ecs.service.admin",
        "ecs.service.frontend",
        "ecs.service.cron",
        "ecs.service.worker-consumers",
    ] {
        assert!(
            matches!(result(&summary, service).outcome, Outcome::Skipped(_)),
            "{service}: {:?}",
            result(&summary, service).outcome
        );
    }
    assert_eq!(service_calls(&cloud, before), [], "a service was touched");
    assert!(
        matches!(
            result(&summary, "release.cache-clean").outcome,
            Outcome::Skipped(_)
        ),
        "no cache clean after a failed release"
    );
    // The services still run the old build: the next plan tries the migration again.
    let next = engine.plan(release("2.4.8")).await.unwrap();
    assert_eq!(
        changes(&next),
        [
            (Action::Update, ReleaseTaskSpec::MIGRATE_ID),
            (Action::Update, "ecs.service.admin"),
            (Action::Update, "ecs.service.cron"),
            (Action::Update, "ecs.service.frontend"),
            (Action::Update, "ecs.service.worker-consumers"),
            (Action::Update, "release.cache-clean"),
            (Action::Update, ReleaseRecordSpec::ID),
        ]
    );
    // Fixed, the release goes through, and a no-op `up` runs nothing.
    assert!(run(&engine, &next).await.0.is_success());
    assert!(!engine.plan(release("2.4.8")).await.unwrap().has_changes());
}

#[tokio::test(start_paused = true)]
async fn a_migration_that_never_stops_times_out_and_no_service_rolls() {
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    assert!(up_dev(&engine).await.is_success());
    let before = cloud.calls().len();
    let plan = engine.plan(release("2.4.8")).await.unwrap();
    cloud.never_ready_because(ReleaseTaskSpec::MIGRATE_ID, "RUNNING");
    let (summary, _) = run(&engine, &plan).await;
    let Outcome::Failed(err) = &result(&summary, ReleaseTaskSpec::MIGRATE_ID).outcome else {
        panic!("the migration must fail")
    };
    assert_eq!(err.reason, FailureReason::TimedOut);
    assert!(err.message.contains("RUNNING"), "{}", err.message);
    assert_eq!(service_calls(&cloud, before), [], "a service was touched");
}

#[tokio::test(start_paused = true)]
async fn a_scale_change_rolls_no_migration_and_a_new_build_runs_it_once() {
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    assert!(up_dev(&engine).await.is_success());
    let mut stack = dev_stack();
    stack.config.apps.get_mut("frontend").unwrap().count = 3;
    let plan = engine.plan(Engine::desired(&stack).unwrap()).await.unwrap();
    assert_eq!(changes(&plan), [(Action::Update, "ecs.service.frontend")]);
    let plan = engine.plan(release("2.4.9")).await.unwrap();
    let migrations = plan
        .steps()
        .iter()
        .filter(|s| s.id.as_str() == ReleaseTaskSpec::MIGRATE_ID && s.action != Action::NoOp)
        .count();
    assert_eq!(migrations, 1);
}

#[test]
fn pruning_keeps_the_newest_revisions_and_never_one_in_use() {
    let arn = |n: i64| format!("arn:aws:ecs:us-east-1:1:task-definition/dev-frontend:{n}");
    let active: Vec<(i64, String)> = [3, 9, 4, 8, 5, 7, 6].iter().map(|&n| (n, arn(n))).collect();
    let none = std::collections::BTreeSet::new();
    assert_eq!(
        TaskDefinitionSpec::revisions_to_prune(&active, &none, 5),
        [arn(3), arn(4)]
    );
    // A rolled-back service still runs revision 4: it stays.
    let in_use = std::collections::BTreeSet::from([arn(4)]);
    assert_eq!(
        TaskDefinitionSpec::revisions_to_prune(&active, &in_use, 5),
        [arn(3)]
    );
    assert_eq!(
        TaskDefinitionSpec::revisions_to_prune(&active, &in_use, 1),
        [arn(3), arn(5), arn(6), arn(7), arn(8)]
    );
    assert!(TaskDefinitionSpec::revisions_to_prune(&active, &none, 7).is_empty());
    assert!(TaskDefinitionSpec::revisions_to_prune(&[], &none, 0).is_empty());
}

#[tokio::test(start_paused = true)]
async fn releases_list_the_live_and_previous_revisions_and_rollback_moves_back_one() {
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    assert!(up_dev(&engine).await.is_success());
    let plan = engine.plan(release("2.4.8")).await.unwrap();
    assert!(run(&engine, &plan).await.0.is_success());
    let desired = release("2.4.8");
    let releases = crate::release::releases(cloud.as_ref(), &desired)
        .await
        .unwrap();
    // The two apps, cron and the worker: all on the release's build.
    assert_eq!(releases.apps.len(), 4);
    for app in &releases.apps {
        let live = app.live.as_ref().expect("a live revision");
        assert_eq!(
            live.images["php-fpm"],
            "public.ecr.aws/magecloudkit/magento:2.4.8"
        );
        assert_eq!(app.previous.len(), 1, "{app:?}");
        assert_eq!(
            app.previous[0].images["php-fpm"],
            "public.ecr.aws/magecloudkit/magento:2.4.7-p1"
        );
        assert!(!app.rolled_back());
    }
    let text = releases.render_text();
    assert!(text.contains("live      dev-admin:"), "{text}");
    assert!(text.contains("previous  dev-admin:"), "{text}");

    let steps = crate::release::plan_rollback(&releases).unwrap();
    assert_eq!(steps.len(), 4);
    let before = cloud.calls().len();
    let (tx, _rx) = mpsc::unbounded_channel();
    let summary = crate::release::rollback(
        cloud.clone(),
        &ExecConfig::default(),
        desired.clone(),
        &steps,
        tx,
        CancelToken::default(),
    )
    .await
    .unwrap();
    assert!(summary.is_success(), "{:?}", summary.sorted());
    // Only the services were touched: no revision registered, no migration run.
    let calls: Vec<(String, Op)> = cloud.calls()[before..]
        .iter()
        .map(|c| (c.id.to_string(), c.op))
        .collect();
    let mut calls_sorted = calls.clone();
    calls_sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        calls_sorted,
        [
            ("ecs.service.admin".to_string(), Op::Update),
            ("ecs.service.cron".to_string(), Op::Update),
            ("ecs.service.frontend".to_string(), Op::Update),
            ("ecs.service.worker-consumers".to_string(), Op::Update),
        ]
    );
    let after = crate::release::releases(cloud.as_ref(), &desired)
        .await
        .unwrap();
    for app in &after.apps {
        assert!(app.rolled_back(), "{app:?}");
        assert_eq!(
            app.live.as_ref().unwrap().images["php-fpm"],
            "public.ecr.aws/magecloudkit/magento:2.4.7-p1"
        );
    }
    assert!(after.render_text().contains("ROLLED BACK"));
    // The stack still describes the newest revision: plan shows the exception, and `up`
    // moves forward again without running the migration twice.
    let plan = engine.plan(desired.clone()).await.unwrap();
    assert_eq!(
        changes(&plan),
        [
            (Action::Update, "ecs.service.admin"),
            (Action::Update, "ecs.service.cron"),
            (Action::Update, "ecs.service.frontend"),
            (Action::Update, "ecs.service.worker-consumers"),
        ]
    );
    assert!(run(&engine, &plan).await.0.is_success());
    assert!(!engine.plan(desired.clone()).await.unwrap().has_changes());
    // Nothing older than the first revision: a second rollback from it is refused.
    let first = crate::release::releases(cloud.as_ref(), &Engine::desired(&dev_stack()).unwrap())
        .await
        .unwrap();
    let mut oldest = first.clone();
    for app in &mut oldest.apps {
        app.live = app.previous.last().cloned();
    }
    let err = crate::release::plan_rollback(&oldest).unwrap_err();
    assert!(err.0.contains("no revision older than"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn releases_beyond_keep_revisions_are_pruned_but_never_the_live_one() {
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    assert!(up_dev(&engine).await.is_success());
    for n in 1..=7 {
        let plan = engine.plan(release(&format!("2.5.{n}"))).await.unwrap();
        assert!(run(&engine, &plan).await.0.is_success());
    }
    // dev keeps the default 5: the newest five of eight registered revisions.
    let revisions = cloud.revisions("dev-frontend").await.unwrap();
    let images: Vec<&str> = revisions
        .iter()
        .map(|r| r.images["php-fpm"].as_str())
        .collect();
    assert_eq!(
        images,
        [
            "public.ecr.aws/magecloudkit/magento:2.5.7",
            "public.ecr.aws/magecloudkit/magento:2.5.6",
            "public.ecr.aws/magecloudkit/magento:2.5.5",
            "public.ecr.aws/magecloudkit/magento:2.5.4",
            "public.ecr.aws/magecloudkit/magento:2.5.3",
        ]
    );
    // `down` deregisters every kept revision too.
    let destroy = engine.plan_destroy(&release("2.5.7")).await.unwrap();
    let (summary, _) = run(&engine, &destroy).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert_eq!(cloud.count("dev", K::TaskDefinition), 0);
}

/// The dev stack released at `tag` with maintenance mode (and the shared `var` it needs).
fn release_in_maintenance(tag: &str) -> Arc<DesiredGraph> {
    let sets: Vec<crate::stack::Override> = [
        format!("release.tag={tag}"),
        "release.maintenance=true".into(),
        "filesystem.access_points=[media, static, var]".into(),
    ]
    .iter()
    .map(|s| crate::stack::Override::parse(s).unwrap())
    .collect();
    Engine::desired(
        &crate::stack::load_with(std::path::Path::new("../../stacks"), "dev", &sets).unwrap(),
    )
    .unwrap()
}

/// Where `id`'s last `op` call is in `calls`.
fn last_call(calls: &[crate::testing::CallRecord], id: &str, op: Op) -> usize {
    calls
        .iter()
        .rposition(|c| c.id.as_str() == id && c.op == op)
        .unwrap_or_else(|| panic!("no {op:?} of {id}"))
}

#[tokio::test(start_paused = true)]
async fn maintenance_mode_ends_after_the_services_are_healthy_and_also_when_the_release_fails() {
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    let first = engine
        .plan(release_in_maintenance("2.4.7-p1"))
        .await
        .unwrap();
    assert!(run(&engine, &first).await.0.is_success());
    // Adobe's order: the migration sets the flag first; once every service (the apps, cron,
    // the workers) is healthy, one task cleans the caches, then removes the flag.
    let calls = cloud.calls();
    let off = last_call(&calls, MaintenanceSpec::ID, Op::Create);
    assert!(last_call(&calls, ReleaseTaskSpec::MIGRATE_ID, Op::Create) < off);
    for service in [
        "ecs.service.admin",
        "ecs.service.frontend",
        "ecs.service.cron",
        "ecs.service.worker-consumers",
    ] {
        assert!(last_call(&calls, service, Op::Create) < off, "{service}");
    }
    let Some(ResourceSpec::Maintenance(off_task)) = release_in_maintenance("x")
        .get(&LogicalId::new(MaintenanceSpec::ID))
        .map(|r| r.spec.clone())
    else {
        panic!()
    };
    assert!(
        off_task.task.command[2].contains("else bin/magento cache:clean && ")
            && off_task.task.command[2].contains("; rm -f /var/www/html/var/.maintenance.flag"),
        "{:?}",
        off_task.task.command
    );
    assert!(
        release_in_maintenance("x")
            .get(&LogicalId::new(ReleaseJob::CacheClean.id()))
            .is_none(),
        "one task cleans and ends maintenance"
    );
    let Some(ResourceSpec::ReleaseTask(migrate)) = release_in_maintenance("x")
        .get(&LogicalId::new(ReleaseTaskSpec::MIGRATE_ID))
        .map(|r| r.spec.clone())
    else {
        panic!()
    };
    assert!(migrate.command[2].starts_with("touch /var/www/html/var/.maintenance.flag"));

    // A failing migration: no service is touched, and the flag is removed all the same.
    let plan = engine.plan(release_in_maintenance("2.4.8")).await.unwrap();
    cloud.roll_back(
        ReleaseTaskSpec::MIGRATE_ID,
        "the migration task exited with code 1",
    );
    let before = cloud.calls().len();
    let (summary, _) = run(&engine, &plan).await;
    assert!(!summary.is_success());
    assert!(matches!(
        result(&summary, ReleaseTaskSpec::MIGRATE_ID).outcome,
        Outcome::Failed(_)
    ));
    assert_eq!(result(&summary, MaintenanceSpec::ID).outcome, Outcome::Done);
    assert_eq!(service_calls(&cloud, before), [], "a service was touched");
    // The retry migrates (setting the flag again), so removing it is due again too.
    let retry = engine.plan(release_in_maintenance("2.4.8")).await.unwrap();
    assert_eq!(
        changes(&retry),
        [
            (Action::Update, ReleaseTaskSpec::MIGRATE_ID),
            (Action::Update, "ecs.service.admin"),
            (Action::Update, "ecs.service.cron"),
            (Action::Update, "ecs.service.frontend"),
            (Action::Update, "ecs.service.worker-consumers"),
            (Action::Update, MaintenanceSpec::ID),
            (Action::Update, ReleaseRecordSpec::ID),
        ]
    );

    // A rollout the circuit breaker rolls back fails the release; the flag goes anyway, the
    // caches are not cleaned.
    cloud.roll_back("ecs.service.frontend", "the circuit breaker rolled it back");
    let (summary, _) = run(&engine, &retry).await;
    assert!(matches!(
        result(&summary, "ecs.service.frontend").outcome,
        Outcome::Failed(_)
    ));
    assert_eq!(result(&summary, MaintenanceSpec::ID).outcome, Outcome::Done);
    let calls = cloud.calls();
    assert!(
        last_call(&calls, "ecs.service.frontend", Op::Update)
            < last_call(&calls, MaintenanceSpec::ID, Op::Update)
    );
}

#[tokio::test(start_paused = true)]
async fn the_release_in_effect_is_recorded_after_the_services_and_read_back_before_lowering() {
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    assert!(up_dev(&engine).await.is_success());
    let plan = engine.plan(release("2.4.8")).await.unwrap();
    assert!(run(&engine, &plan).await.0.is_success());
    let calls = cloud.calls();
    assert!(
        last_call(&calls, "ecs.service.frontend", Op::Update)
            < last_call(&calls, ReleaseRecordSpec::ID, Op::Update)
    );
    let live = cloud.live_release("dev").await.unwrap().unwrap();
    assert_eq!(live.in_effect.tag.as_deref(), Some("2.4.8"));
    assert_eq!(
        live.file,
        crate::model::ReleaseValues {
            tag: Some("2.4.7-p1".into()),
            revision: None
        }
    );
    // A run without --set: the files plus the live release plan nothing.
    let dev = dev_stack();
    // Through the library, as the CLI loads it.
    let loaded = Engine::load(std::path::Path::new("../../stacks"), "dev", &[]).unwrap();
    let loaded = crate::engine::keep_live_release(cloud.as_ref(), loaded, &[])
        .await
        .unwrap();
    assert_eq!(loaded.kept_release.as_ref(), Some(&live));
    let plan = engine.plan(loaded.desired).await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render_text());
    // A release set on the command line wins over the one in effect.
    let set = [crate::stack::Override::parse("release.tag=2.4.9").unwrap()];
    let loaded = Engine::load(std::path::Path::new("../../stacks"), "dev", &set).unwrap();
    let loaded = crate::engine::keep_live_release(cloud.as_ref(), loaded, &set)
        .await
        .unwrap();
    assert_eq!(loaded.kept_release, None);
    // Without the record it would deploy the file's tag again.
    assert!(
        engine
            .plan(Engine::desired(&dev).unwrap())
            .await
            .unwrap()
            .has_changes()
    );
}

// ---------------------------------------------------------------------------------------------
// Steps that run after failures (the maintenance cleanup) on the prod stack.

fn prod_stack(sets: &[&str]) -> Arc<DesiredGraph> {
    let sets: Vec<crate::stack::Override> = sets
        .iter()
        .map(|s| crate::stack::Override::parse(s).unwrap())
        .collect();
    Engine::desired(
        &crate::stack::load_with(std::path::Path::new("../../stacks"), "prod", &sets).unwrap(),
    )
    .unwrap()
}

/// Whether `id` needs `dep`, directly or through what it needs.
fn needs(desired: &DesiredGraph, id: &LogicalId, dep: &LogicalId) -> bool {
    let mut stack = vec![id];
    let mut seen = std::collections::HashSet::new();
    while let Some(next) = stack.pop() {
        for d in desired.dependencies(next) {
            if d == dep {
                return true;
            }
            if seen.insert(d) {
                stack.push(d);
            }
        }
    }
    false
}

#[track_caller]
fn assert_no_internal_error(summary: &Summary, context: &str) {
    for r in &summary.results {
        if let Outcome::Failed(err) = &r.outcome {
            assert!(
                err.reason != FailureReason::Internal && !err.message.contains("internal error"),
                "{context}: {} failed with {}",
                r.id,
                err.message
            );
        }
    }
}

/// Checks how a step that runs after failures ended in a run where `failed` failed: skipped,
/// naming what it lacks, exactly when something it reads is not known (it did not exist before
/// the run and did not succeed in it); otherwise done, with the live state that is known.
#[track_caller]
fn assert_cleanup_outcome(
    desired: &DesiredGraph,
    plan: &Plan,
    summary: &Summary,
    cleanup: &LogicalId,
    failed: &LogicalId,
) {
    let spec = &desired.get(cleanup).unwrap().spec;
    let lacking = spec
        .dereferences()
        .into_iter()
        .find(|r| !plan.observed().contains_key(r) && (r == failed || needs(desired, r, failed)));
    let outcome = &result(summary, cleanup.as_str()).outcome;
    match (&lacking, outcome) {
        (Some(r), Outcome::Skipped(why)) => assert!(
            why.contains(&format!(
                "needs {r}, which did not succeed and does not exist"
            )),
            "{failed} failed: {cleanup} skipped because {why}"
        ),
        (None, Outcome::Done) => {}
        _ => panic!("{failed} failed: {cleanup} ended {outcome:?}; lacking {lacking:?}"),
    }
}

/// A step that runs after failures never reads the state of a dependency that failed and does
/// not exist ("`ecs.capacity` is not known yet (please report this)"): for every such step of
/// prod, each of its dependencies fails in turn, on a first `up` (its create) and in a release
/// (its change); the step runs with what is known, or is skipped naming what it lacks.
#[tokio::test(start_paused = true)]
async fn steps_that_run_after_failures_never_read_a_failed_dependency() {
    let first = prod_stack(&[]);
    let cleanups: Vec<LogicalId> = first
        .iter()
        .filter(|r| r.spec.runs_after_failure())
        .map(|r| r.id.clone())
        .collect();
    assert!(!cleanups.is_empty(), "prod has a maintenance cleanup");
    let mut n_skipped = 0;
    for cleanup in &cleanups {
        let deps = first.dependencies(cleanup);
        // What it reads is among what it waits for.
        for r in first.get(cleanup).unwrap().spec.dereferences() {
            assert!(
                deps.contains(&&r),
                "{cleanup} reads {r} without waiting for it"
            );
        }
        for dep in deps {
            let cloud = Arc::new(FakeCloud::new());
            let engine = engine(&cloud, ExecConfig::default());
            let plan = engine.plan(first.clone()).await.unwrap();
            cloud.fail(dep.as_str(), Op::Create, ErrorClass::Invalid, 1);
            let (summary, _) = run(&engine, &plan).await;
            assert!(!summary.is_success(), "{dep} must fail");
            assert_no_internal_error(&summary, &format!("first up, {dep} failing"));
            assert_cleanup_outcome(&first, &plan, &summary, cleanup, dep);
            if matches!(
                result(&summary, cleanup.as_str()).outcome,
                Outcome::Skipped(_)
            ) {
                n_skipped += 1;
            }
        }
    }
    assert!(n_skipped > 0, "some dependency is what the cleanup reads");

    // A release: what changes in it fails in turn; the cleanup runs with the live state.
    let released = prod_stack(&["release.tag=2.4.8"]);
    for cleanup in &cleanups {
        let mut n_changed = 0;
        for dep in released.dependencies(cleanup) {
            let cloud = Arc::new(FakeCloud::new());
            let engine = engine(&cloud, ExecConfig::default());
            let up = engine.plan(first.clone()).await.unwrap();
            assert!(run(&engine, &up).await.0.is_success());
            let plan = engine.plan(released.clone()).await.unwrap();
            let op = match plan.steps().iter().find(|s| &s.id == dep).map(|s| s.action) {
                Some(Action::Update) => Op::Update,
                Some(Action::Create | Action::Replace) => Op::Create,
                _ => continue,
            };
            n_changed += 1;
            cloud.fail(dep.as_str(), op, ErrorClass::Invalid, 1);
            let (summary, _) = run(&engine, &plan).await;
            assert!(!summary.is_success(), "{dep} must fail");
            assert_no_internal_error(&summary, &format!("release, {dep} failing"));
            assert_cleanup_outcome(&released, &plan, &summary, cleanup, dep);
        }
        assert!(
            n_changed >= 3,
            "a release changes the migration, task definition and services"
        );
    }
}

/// Runs `up` of `desired` until its plan is empty, as an operator re-runs a failed `up`;
/// returns the runs' summaries. No run may end in an internal error.
async fn converge(engine: &Engine, desired: &Arc<DesiredGraph>, max_runs: usize) -> Vec<Summary> {
    let mut summaries = Vec::new();
    for n_runs in 0..=max_runs {
        let plan = engine.plan(desired.clone()).await.unwrap();
        if !plan.has_changes() {
            return summaries;
        }
        let (summary, _) = run(engine, &plan).await;
        assert_no_internal_error(&summary, &format!("run {}", n_runs + 1));
        summaries.push(summary);
    }
    panic!("no convergence after {max_runs} runs")
}

/// Exactly one live resource per desired one, per kind, and nothing else; task definitions
/// keep `revisions` registered revisions each (the older ones for rollback).
#[track_caller]
fn assert_exactly_the_stack(
    cloud: &FakeCloud,
    desired: &DesiredGraph,
    revisions: usize,
    context: &str,
) {
    let mut n_live = 0;
    for &kind in K::ALL {
        let mut want = desired.iter().filter(|r| r.kind() == kind).count();
        if kind == K::TaskDefinition {
            want *= revisions;
        }
        assert_eq!(cloud.count("prod", kind), want, "{context}: {kind}");
        n_live += want;
    }
    assert_eq!(cloud.len("prod"), n_live, "{context}: extras");
}

/// What real AWS does right after creates and updates (issue 18), all at once on prod: IAM's
/// propagation delay refusing the Auto Scaling group, the capacity provider refused on the
/// cluster while it is not ACTIVE, its update ending UPDATE_FAILED, and release tasks that
/// DescribeTasks answers MISSING for. `up` from empty and then a release converge (re-run as an
/// operator would after a failed run) to exactly one of each resource; each fault bit.
#[tokio::test(start_paused = true)]
async fn prod_up_and_a_release_converge_under_the_clouds_consistency_faults() {
    let faults = [
        Fault::CreateRefusedAfter {
            kind: K::AutoScalingGroup,
            after: K::InstanceProfile,
            window: Duration::from_secs(10),
            message: "Invalid IAM Instance Profile name",
        },
        Fault::FollowUpRefused {
            kind: K::CapacityProvider,
            field: crate::model::CapacityProviderSpec::CLUSTER.name,
            window: Duration::from_secs(5),
            message: "The specified capacity provider is not in an ACTIVE state",
        },
        Fault::UpdateFailsLater {
            kind: K::CapacityProvider,
            times: 1,
            reason: "UPDATE_FAILED: the Auto Scaling group is being updated",
        },
        Fault::InvisibleAfterStart {
            kind: K::ReleaseTask,
            window: Duration::from_secs(30),
        },
        Fault::InvisibleAfterStart {
            kind: K::Maintenance,
            window: Duration::from_secs(30),
        },
    ];
    let cloud = Arc::new(
        faults
            .iter()
            .fold(FakeCloud::new(), |cloud, f| cloud.with_fault(f.clone())),
    );
    let engine = engine(&cloud, ExecConfig::default());

    let first = prod_stack(&[]);
    let runs = converge(&engine, &first, 5).await;
    // The capacity provider's create fails having made it, and the cleanup that needs it is
    // skipped, saying so; the next run's update of its cluster fails later; the third run
    // finishes the stack.
    assert_eq!(runs.len(), 3, "runs of the first up: {runs:#?}");
    let Outcome::Failed(err) = &result(&runs[0], "ecs.capacity").outcome else {
        panic!("{:?}", result(&runs[0], "ecs.capacity"))
    };
    assert!(err.message.contains("not in an ACTIVE state"), "{err:?}");
    assert_eq!(
        result(&runs[0], MaintenanceSpec::ID).outcome,
        Outcome::Skipped("it needs ecs.capacity, which did not succeed and does not exist".into())
    );
    let Outcome::Failed(err) = &result(&runs[1], "ecs.capacity").outcome else {
        panic!("{:?}", result(&runs[1], "ecs.capacity"))
    };
    assert!(err.message.contains("UPDATE_FAILED"), "{err:?}");
    assert!(runs[2].is_success(), "{:?}", runs[2].sorted().first());
    assert_exactly_the_stack(&cloud, &first, 1, "first up");

    let released = prod_stack(&["release.tag=2.4.8"]);
    let plan = engine.plan(released.clone()).await.unwrap();
    let (summary, events) = run(&engine, &plan).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
    assert!(
        events.iter().any(|e| matches!(e,
            ExecEvent::Waiting { id, status, .. }
                if id.as_str() == ReleaseTaskSpec::MIGRATE_ID && status == "not visible yet")),
        "the migration was waited for while invisible"
    );
    assert!(
        converge(&engine, &released, 0).await.is_empty(),
        "the release converged"
    );
    assert_exactly_the_stack(&cloud, &released, 2, "release");
    let calls = cloud.calls();
    let migrations = calls
        .iter()
        .filter(|c| c.id.as_str() == ReleaseTaskSpec::MIGRATE_ID && c.op != Op::Delete)
        .count();
    assert_eq!(
        migrations, 2,
        "one migration on the first up, one for the release"
    );

    for fault in &faults {
        assert!(cloud.triggered(fault) > 0, "never bit: {fault:?}");
    }
}

/// The first up of a stack installs Magento (a 10-minute task here) before the migration and
/// every service; later ups and releases never run it again.
#[tokio::test(start_paused = true)]
async fn the_first_up_installs_magento_before_the_migration_and_the_services_and_never_again() {
    let install = Duration::from_secs(600);
    let cloud = Arc::new(FakeCloud::new().with_latency(K::Install, install));
    let engine = engine(&cloud, ExecConfig::default());
    let summary = up_dev(&engine).await;
    assert!(summary.is_success(), "{summary:?}");
    let installed_at = first_call(&cloud, ReleaseJob::Install.id()) + install;
    for id in [
        ReleaseTaskSpec::MIGRATE_ID,
        "ecs.service.admin",
        "ecs.service.frontend",
        "ecs.service.cron",
        "ecs.service.worker-consumers",
    ] {
        assert!(
            first_call(&cloud, id) >= installed_at,
            "{id} started before the install ended"
        );
    }
    // The login it installs with came first.
    let calls = cloud.calls();
    assert!(
        last_call(&calls, ReleaseJob::DbLogin.id(), Op::Create)
            < last_call(&calls, ReleaseJob::Install.id(), Op::Create)
    );
    let runs = |cloud: &FakeCloud| {
        cloud
            .calls()
            .iter()
            .filter(|c| c.id.as_str() == ReleaseJob::Install.id() && c.op != Op::Delete)
            .count()
    };
    assert_eq!(runs(&cloud), 1);
    // A second up: nothing to do. A release: a new migration, no install.
    assert_eq!(
        changes(
            &engine
                .plan(Engine::desired(&dev_stack()).unwrap())
                .await
                .unwrap()
        ),
        []
    );
    let plan = engine.plan(release("2.4.9")).await.unwrap();
    assert!(
        changes(&plan)
            .iter()
            .all(|(_, id)| *id != ReleaseJob::Install.id()),
        "{:?}",
        changes(&plan)
    );
    assert!(run(&engine, &plan).await.0.is_success());
    assert_eq!(runs(&cloud), 1, "a release ran the install again");
}

/// An up killed while the install runs: the next up waits for that install (it is still
/// running on the cloud) and starts no service before it has ended; an install that fails (an
/// earlier one was interrupted, so the database is half-installed) stops the release there,
/// naming it, and no migration or service is started on that database.
#[tokio::test(start_paused = true)]
async fn a_killed_or_failed_install_never_lets_the_services_start_before_it_succeeded() {
    let install = Duration::from_secs(600);
    let cloud = Arc::new(FakeCloud::new().with_latency(K::Install, install));
    let engine = engine(&cloud, ExecConfig::default());
    let desired = Engine::desired(&dev_stack()).unwrap();
    let plan = engine.plan(desired.clone()).await.unwrap();
    // Killed well into the install (everything it needs takes less than 5 minutes here).
    let killed = run_killed_after(&engine, &plan, Duration::from_secs(300)).await;
    assert!(!killed.is_success());
    assert_eq!(
        cloud.count("dev", K::EcsService),
        0,
        "a service started mid-install"
    );
    let started = first_call(&cloud, ReleaseJob::Install.id());
    let again = run(&engine, &engine.plan(desired.clone()).await.unwrap())
        .await
        .0;
    assert!(again.is_success(), "{again:?}");
    assert!(
        first_call(&cloud, "ecs.service.frontend") >= started + install,
        "a service started before the killed run's install ended"
    );

    // A stack whose install fails: nothing after it runs.
    let cloud = Arc::new(FakeCloud::new());
    let failing = self::engine(&cloud, ExecConfig::default());
    cloud.fail(
        ReleaseJob::Install.id(),
        Op::Create,
        crate::provider::ErrorClass::Invalid,
        1,
    );
    let summary = up_dev(&failing).await;
    assert!(!summary.is_success());
    assert!(matches!(
        result(&summary, ReleaseJob::Install.id()).outcome,
        Outcome::Failed(_)
    ));
    for id in [
        ReleaseTaskSpec::MIGRATE_ID,
        "ecs.service.frontend",
        "ecs.service.cron",
    ] {
        assert!(
            matches!(result(&summary, id).outcome, Outcome::Skipped(_)),
            "{id}: {:?}",
            result(&summary, id).outcome
        );
    }
    assert_eq!(cloud.count("dev", K::EcsService), 0);
}

/// What two `up --no-lock` racing can leave: `nat.a` on an Elastic IP that is the extra copy
/// of `eip.nat.a` (the other copy is the more used). The dedupe deletes that NAT gateway and
/// makes `nat.a` again on the kept Elastic IP: that create waits until the old NAT gateway is
/// gone (on AWS it may hold the address; an associated address is refused,
/// `Resource.AlreadyAssociated`, which the e2e race test met).
#[tokio::test(start_paused = true)]
async fn a_resource_made_again_by_a_dedupe_waits_for_its_old_copies_to_be_gone() {
    use crate::model::Value;
    let cloud = Arc::new(
        FakeCloud::new()
            .with_latency(K::NatGateway, Duration::from_secs(100))
            .with_delete_latency(K::NatGateway, Duration::from_secs(60)),
    );
    let engine = engine(&cloud, ExecConfig::default());
    let desired = desired(DEV_LIKE);
    assert!(
        run(&engine, &engine.plan(desired.clone()).await.unwrap())
            .await
            .0
            .is_success()
    );
    let live = cloud.read_all("t").await.unwrap();
    let of = |id: &str| live.iter().find(|o| o.id.as_str() == id).unwrap().clone();
    let eip = of("eip.nat.a");
    let vpc = of("vpc");
    // A second copy of the address, used by two leftovers of the other run (in the VPC): it
    // is the more used copy, so it is kept and `nat.a`'s address is the extra one.
    let eip2 = cloud.insert_raw("t", "eip.nat.a", K::ElasticIp, eip.fields.clone());
    for n in 0..2 {
        cloud.insert_raw(
            "t",
            &format!("leftover.{n}"),
            K::SecurityGroup,
            [
                ("vpc_id".to_string(), Value::CloudId(vpc.cloud_id.clone())),
                ("uses".to_string(), Value::CloudId(eip2.clone())),
            ]
            .into(),
        );
    }

    let plan = engine.plan(desired.clone()).await.unwrap();
    assert!(!plan.duplicates().is_empty());
    let nat_steps: Vec<(Action, &str)> = changes(&plan)
        .into_iter()
        .filter(|(_, id)| *id == "nat.a")
        .collect();
    assert!(
        nat_steps.contains(&(Action::Create, "nat.a"))
            && nat_steps.contains(&(Action::Delete, "nat.a")),
        "nat.a is made again while its old copy goes: {nat_steps:?}"
    );
    let before = cloud.calls().len();
    let summary = run(&engine, &plan).await.0;
    assert!(summary.is_success(), "{summary:?}");
    let calls = &cloud.calls()[before..];
    let created = calls
        .iter()
        .find(|c| c.id.as_str() == "nat.a" && c.op == Op::Create)
        .expect("nat.a made again")
        .at;
    let deletes: Vec<_> = calls
        .iter()
        .filter(|c| c.id.as_str() == "nat.a" && c.op == Op::Delete)
        .collect();
    assert_eq!(deletes.len(), 1, "the old copy goes");
    for delete in deletes {
        assert!(
            created >= delete.at + Duration::from_secs(60),
            "nat.a was made again before its old copy was gone"
        );
    }
    assert!(!engine.plan(desired).await.unwrap().has_changes());
}

/// A refused in-place update leaves its resource as it was: what only passes its outputs on
/// (the task definitions give the apps the Redis groups' endpoints) goes on with them, so a
/// release is not held back by a change AWS refused to a group it only reads; what is attached
/// to the resource (the Aurora instances to their cluster) is skipped, as after any failure.
#[tokio::test(start_paused = true)]
async fn a_refused_update_holds_back_only_what_is_attached_to_it_not_what_reads_its_outputs() {
    let cloud = Arc::new(FakeCloud::new());
    let engine = engine(&cloud, ExecConfig::default());
    assert!(up_dev(&engine).await.is_success());
    let mut stack = dev_stack();
    stack.config.caches.get_mut("session").unwrap().node_type = "cache.t3.small".into();
    stack
        .config
        .database
        .as_mut()
        .unwrap()
        .backup_retention_days = 7;
    stack.config.database.as_mut().unwrap().instance_class = "db.r6g.large".into();
    let desired = with_frontend_image(stack, "public.ecr.aws/magecloudkit/magento:2.4.8");
    let plan = engine.plan(desired.clone()).await.unwrap();
    let planned = changes(&plan);
    for step in [
        (Action::Update, "redis.session"),
        (Action::Update, "db.cluster"),
        (Action::Update, "db.instance.1"),
        (Action::Replace, "ecs.taskdef.frontend"),
        (Action::Update, "ecs.service.frontend"),
    ] {
        assert!(planned.contains(&step), "{step:?} not in {planned:?}");
    }
    let session = desired.get(&LogicalId::new("redis.session")).unwrap();
    let taskdef = desired
        .get(&LogicalId::new("ecs.taskdef.frontend"))
        .unwrap();
    assert!(taskdef.spec.dereferences().contains(&session.id));
    assert!(taskdef.spec.uses_only_outputs_of(&session.id));
    let instance = desired.get(&LogicalId::new("db.instance.1")).unwrap();
    assert!(
        !instance
            .spec
            .uses_only_outputs_of(&LogicalId::new("db.cluster"))
    );

    cloud.fail("redis.session", Op::Update, ErrorClass::Invalid, 1);
    cloud.fail("db.cluster", Op::Update, ErrorClass::Invalid, 1);
    let (summary, _) = run(&engine, &plan).await;
    for failed in ["redis.session", "db.cluster"] {
        assert!(
            matches!(result(&summary, failed).outcome, Outcome::Failed(_)),
            "{failed}: {:?}",
            result(&summary, failed).outcome
        );
    }
    // The release went out on the groups' endpoints as they are.
    assert_eq!(
        result(&summary, "ecs.taskdef.frontend").outcome,
        Outcome::Done
    );
    assert_eq!(
        result(&summary, "ecs.service.frontend").outcome,
        Outcome::Done
    );
    let revisions = cloud.revisions("dev-frontend").await.unwrap();
    assert_eq!(
        revisions[0].images["php-fpm"],
        "public.ecr.aws/magecloudkit/magento:2.4.8"
    );
    // The instance, attached to the cluster, waits for the cluster's change.
    assert!(
        matches!(&result(&summary, "db.instance.1").outcome, Outcome::Skipped(why) if why.contains("db.cluster")),
        "{:?}",
        result(&summary, "db.instance.1").outcome
    );
    // The next run makes the refused changes and nothing else.
    let again = engine.plan(desired.clone()).await.unwrap();
    let left = changes(&again);
    assert!(
        left.contains(&(Action::Update, "redis.session")),
        "{left:?}"
    );
    assert!(left.contains(&(Action::Update, "db.cluster")), "{left:?}");
    assert!(
        !left.iter().any(|(_, id)| id.starts_with("ecs.")),
        "{left:?}"
    );
    let (summary, _) = run(&engine, &again).await;
    assert!(summary.is_success(), "{:?}", summary.sorted().first());
}
