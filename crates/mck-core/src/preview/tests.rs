//! Previews on [`FakeCloud`] with tokio's paused clock: the address space, the cap, the race.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::Engine;
use crate::exec::ExecConfig;
use crate::lock::LockHolder;
use crate::model::ResourceKind;
use crate::provider::Reader;
use crate::testing::FakeCloud;

const STACKS: &str = "../../stacks";

fn request<'a>(name: &'a str, overrides: &'a [Override]) -> PreviewRequest<'a> {
    PreviewRequest {
        dir: Path::new(STACKS),
        name,
        from: "stage",
        ttl: Some(Duration::from_secs(3 * 86_400)),
        created_by: "octocat".into(),
        empty_db: false,
        overrides,
    }
}

fn holder(name: &str) -> LockHolder {
    LockHolder::this_process(format!("up --stack {name} --from stage"))
}

/// The account as AWS has it: a VPC takes a moment to be created and longer to show in
/// DescribeVpcs (eventual consistency), beside stage's network and someone's hand-made VPC.
fn account() -> Arc<FakeCloud> {
    let cloud = FakeCloud::new()
        .with_latency(ResourceKind::Vpc, Duration::from_secs(2))
        .with_visibility_delay(ResourceKind::Vpc, Duration::from_secs(5))
        .with_call_latency(Duration::from_millis(300));
    cloud.add_network("vpc-stage", "10.1.0.0/16");
    cloud.add_network("vpc-by-hand", "10.100.0.0/16");
    Arc::new(cloud)
}

async fn make(cloud: &Arc<FakeCloud>, name: &str) -> Result<Stack, PreviewError> {
    prepare(
        cloud.as_ref(),
        cloud.clone(),
        &request(name, &[]),
        holder(name),
        &|_| false,
    )
    .await
}

#[test]
fn the_first_free_slash_16_from_10_100_is_chosen() {
    let nets =
        |list: &[&str]| -> Vec<Ipv4Net> { list.iter().map(|c| c.parse().unwrap()).collect() };
    assert_eq!(free_cidr(&[]).unwrap().to_string(), "10.100.0.0/16");
    assert_eq!(
        free_cidr(&nets(&["10.100.0.0/16", "10.101.4.0/24"]))
            .unwrap()
            .to_string(),
        "10.102.0.0/16"
    );
    // A wider block covers many: all of 10.100–10.127 taken by one /11.
    assert_eq!(
        free_cidr(&nets(&["10.96.0.0/11"])).unwrap().to_string(),
        "10.128.0.0/16"
    );
    assert_eq!(free_cidr(&nets(&["10.0.0.0/8"])), None);
}

/// Two previews made at once never get the same address space, though the VPC each makes shows
/// in reads only seconds after it is created: the choice and the VPC are made under the
/// source's lock, released once the VPC is visible.
#[tokio::test(start_paused = true)]
async fn two_previews_racing_for_an_address_space_get_different_ones() {
    let cloud = account();
    let (a, b) = tokio::join!(make(&cloud, "pr-1"), make(&cloud, "pr-2"));
    let (a, b) = (a.expect("pr-1"), b.expect("pr-2"));
    let mut cidrs = vec![a.config.network.cidr.clone(), b.config.network.cidr.clone()];
    cidrs.sort();
    // 10.100 is someone's; 10.1 is stage's.
    assert_eq!(cidrs, ["10.101.0.0/16", "10.102.0.0/16"]);
    assert_eq!(cloud.count("pr-1", ResourceKind::Vpc), 1);
    assert_eq!(cloud.count("pr-2", ResourceKind::Vpc), 1);
    // Each VPC carries what makes it a preview.
    let previews = live_previews(&cloud.list_networks().await.unwrap());
    let names: Vec<&str> = previews.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["pr-1", "pr-2"]);
    assert!(
        previews
            .iter()
            .all(|p| p.of.from == "stage" && p.of.created_by == "octocat")
    );
}

/// Making a preview again (CI's next push) finds it: its address space, creator and expiry are
/// what its VPC recorded, and no second VPC is made.
#[tokio::test(start_paused = true)]
async fn a_preview_made_again_keeps_its_network_and_expiry() {
    let cloud = account();
    let first = make(&cloud, "pr-1").await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut again = request("pr-1", &[]);
    again.created_by = "someone-else".into();
    again.ttl = Some(Duration::from_secs(60));
    let second = prepare(
        cloud.as_ref(),
        cloud.clone(),
        &again,
        holder("pr-1"),
        &|_| false,
    )
    .await
    .unwrap();
    assert_eq!(second.preview, first.preview);
    assert_eq!(cloud.count("pr-1", ResourceKind::Vpc), 1);
}

/// CI's next push asks for the same lifetime again: the preview lives on from now, recorded on
/// its VPC, which `ls` and `down --expired` read. A shorter one never cuts it.
#[tokio::test(start_paused = true)]
async fn a_preview_made_again_with_a_ttl_lives_on_from_now() {
    let cloud = account();
    let first = make(&cloud, "pr-1").await.unwrap();
    let first_expiry = first.preview.as_ref().unwrap().expires;
    // A day later by the wall clock: the tags are in seconds since the epoch, so the test
    // moves the recorded expiry back a day instead.
    let earlier = first_expiry - 86_400;
    let vpc = cloud.cloud_id("pr-1", "vpc").unwrap();
    cloud
        .tag_network(
            &vpc,
            &[(PreviewOf::TAG_EXPIRES.into(), crate::time::rfc3339(earlier))],
        )
        .await
        .unwrap();
    let again = make(&cloud, "pr-1").await.unwrap();
    let expiry = again.preview.as_ref().unwrap().expires;
    assert!(expiry >= first_expiry, "{expiry} < {first_expiry}");
    let recorded = live_previews(&cloud.list_networks().await.unwrap());
    assert_eq!(recorded[0].of.expires, expiry);
    assert_eq!(cloud.count("pr-1", ResourceKind::Vpc), 1);
}

/// The source's `preview.max` (stage: 8) holds: the next is refused naming the live ones.
#[tokio::test(start_paused = true)]
async fn the_ninth_preview_of_stage_is_refused_listing_the_eight() {
    let cloud = account();
    for n in 1..=8 {
        make(&cloud, &format!("pr-{n}")).await.unwrap();
    }
    let err = make(&cloud, "pr-9").await.unwrap_err();
    let PreviewError::Cap { max, live, .. } = &err else {
        panic!("not refused by the cap: {err}");
    };
    assert_eq!(*max, 8);
    assert_eq!(live.len(), 8);
    let text = err.to_string();
    assert!(text.contains("pr-1 (by octocat, expires "), "{text}");
    assert!(text.contains("mck down --expired"), "{text}");
    assert_eq!(cloud.count("pr-9", ResourceKind::Vpc), 0);
}

#[tokio::test(start_paused = true)]
async fn a_name_taken_by_a_preview_of_another_stack_is_refused() {
    let cloud = account();
    make(&cloud, "pr-1").await.unwrap();
    let mut other = request("pr-1", &[]);
    other.from = "prod";
    let err = prepare(
        cloud.as_ref(),
        cloud.clone(),
        &other,
        holder("pr-1"),
        &|_| false,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("is not a preview of prod (it is a preview of stage)"),
        "{err}"
    );
}

/// A preview whose source changed after it was made plans only the change: its network is
/// the one it recorded, not a new choice.
#[tokio::test(start_paused = true)]
async fn a_preview_whose_source_changes_still_plans_cleanly() {
    let cloud = account();
    let stack = make(&cloud, "pr-1").await.unwrap();
    let engine = Engine::new(cloud.clone() as Arc<dyn Provider>, ExecConfig::default());
    let plan = engine.plan(Engine::desired(&stack).unwrap()).await.unwrap();
    // The VPC made while choosing the address space is the stack's: not made again.
    assert!(
        plan.steps()
            .iter()
            .all(|c| c.kind != ResourceKind::Vpc || c.action == crate::plan::Action::NoOp),
        "{}",
        plan.render_text()
    );
    let (tx, _rx) = mpsc::unbounded_channel();
    let summary = engine.apply(&plan, tx, CancelToken::default()).await;
    assert!(summary.is_success());
    // Stage's file changes (here: the frontend runs two tasks).
    let changed = [Override::parse("apps.frontend.count=2").unwrap()];
    let again = prepare(
        cloud.as_ref(),
        cloud.clone(),
        &request("pr-1", &changed),
        holder("pr-1"),
        &|_| false,
    )
    .await
    .unwrap();
    assert_eq!(again.config.network.cidr, stack.config.network.cidr);
    let plan = engine.plan(Engine::desired(&again).unwrap()).await.unwrap();
    let changes: Vec<String> = plan
        .steps()
        .iter()
        .filter(|c| c.action != crate::plan::Action::NoOp)
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(changes, ["ecs.service.frontend"], "{}", plan.render_text());
}
