//! Previews on the emulator (docs/previews.md): made from a source stack's file with `--from`,
//! each with its own address space and a copy-on-write clone of the source's database, listed
//! by `mck ls`, capped by the source's `preview.max`, and removed by `mck down --expired` once
//! expired, leaving nothing tagged with their names.

use mck_tests::{Harness, assert_exit, text};
use serde_json::Value;

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn previews_are_made_listed_capped_and_removed_when_expired() {
    let harness = Harness::from_env();
    let pid = std::process::id() % 100_000;
    let source = format!("e2e-src-{pid}");
    let (a, b, c) = (
        format!("e2e-pa-{pid}"),
        format!("e2e-pb-{pid}"),
        format!("e2e-pc-{pid}"),
    );
    let stack = harness.stack(&source);
    // The shipped stage, allowing two previews at once.
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks/stage.yaml");
    let stage = std::fs::read_to_string(shipped).unwrap();
    assert!(
        stage.contains("  max: 8"),
        "stage.yaml allows eight previews"
    );
    stack.write(
        &stage
            .replace("stack: stage", &format!("stack: {source}"))
            .replace("  max: 8", "  max: 2"),
    );
    let dir = stack.dir.to_str().unwrap();
    assert_exit(&stack.mck("up", &["--yes", "--summary"]), 0);
    let preview = |name: &str, command: &str, extra: &[&str]| {
        let mut args = vec![
            command,
            "--stack",
            name,
            "--from",
            &source,
            "--stacks-dir",
            dir,
        ];
        args.extend_from_slice(extra);
        harness.mck_env(&args, &[("GITHUB_ACTOR", "octocat")])
    };

    // Two previews: distinct names, their own address spaces, A's database a clone of the
    // source's with its own login, B's empty and expiring at once.
    let made_a = preview(&a, "up", &["--yes", "--summary"]);
    assert_exit(&made_a, 0);
    assert!(
        text(&made_a).contains(&format!("stack {a} is a preview of {source}")),
        "{}",
        text(&made_a)
    );
    assert_exit(
        &preview(
            &b,
            "up",
            &["--yes", "--summary", "--ttl", "1s", "--empty-db"],
        ),
        0,
    );
    let seen = harness.python("previews.py", &[&source, &a, &b]);
    let cidr = |name: &str| -> ipnet::Ipv4Net {
        seen[name]["cidrs"][0].as_str().unwrap().parse().unwrap()
    };
    let (src_net, a_net, b_net) = (cidr(&source), cidr(&a), cidr(&b));
    for (x, y) in [(src_net, a_net), (src_net, b_net), (a_net, b_net)] {
        assert!(
            !x.contains(&y.network()) && !y.contains(&x.network()),
            "{x} overlaps {y}: {seen:#}"
        );
    }
    assert_eq!(
        seen[&a]["vpc_tags"]["mck:preview-of"],
        source.as_str(),
        "{seen:#}"
    );
    assert_eq!(
        seen[&a]["vpc_tags"]["mck:created-by"], "octocat",
        "{seen:#}"
    );
    let a_db = &seen[&a]["db"];
    assert_eq!(
        a_db["tags"]["mck:clone-of"],
        format!("{source}-db").as_str(),
        "{seen:#}"
    );
    assert!(a_db["tags"].get("mck:source-login").is_none(), "{seen:#}");
    assert_ne!(
        a_db["secret"], seen[&source]["db"]["secret"],
        "the clone has its own login"
    );
    assert!(a_db["secret"].is_string(), "{seen:#}");
    // The overlay: one instance instead of stage's two.
    assert_eq!(a_db["instances"], 1, "{seen:#}");
    assert!(
        seen[&b]["db"]["tags"].get("mck:clone-of").is_none(),
        "{seen:#}"
    );
    // Its shop is at its own address, and it reads the media it lacks from the source's
    // (stage's `preview.media: shared`).
    let env = |name: &str, var: &str| seen[name]["frontend_env"][var].clone();
    assert_eq!(
        env(&source, "MAGENTO_BASE_URL"),
        "https://stage.shop.example/",
        "{seen:#}"
    );
    assert_eq!(env(&source, "MEDIA_FALLBACK_URL"), Value::Null, "{seen:#}");
    assert_eq!(env(&a, "MAGENTO_BASE_URL"), Value::Null, "{seen:#}");
    assert_eq!(
        env(&a, "MEDIA_FALLBACK_URL"),
        "https://stage.shop.example/media/",
        "{seen:#}"
    );
    // Planned again, a preview has nothing to do, and nothing drifted.
    assert_exit(&preview(&a, "plan", &["--detailed-exitcode"]), 0);
    assert_exit(&preview(&a, "drift", &[]), 0);
    // CI's next push (.github/workflows/preview.yml): the PR's build released on A, and
    // `--ttl` extends A's life from now (its VPC's expiry moves on).
    let expiry = |seen: &Value| {
        seen[&a]["vpc_tags"]["mck:expires"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = expiry(&seen);
    let build = [
        "--set",
        "release.tag=abc1234",
        "--set",
        "release.revision=abc1234",
    ];
    let pushed = [&["--yes", "--summary", "--ttl", "30d"][..], &build[..]].concat();
    assert_exit(&preview(&a, "up", &pushed), 0);
    let now = harness.python("previews.py", &[&a]);
    let after = expiry(&now);
    assert!(after > before, "{before} -> {after}");
    let image = now[&a]["frontend_env"]["IMAGE"]
        .as_str()
        .unwrap_or_default();
    assert!(image.ends_with(":abc1234"), "{now:#}");
    let planned = [&["--detailed-exitcode"][..], &build[..]].concat();
    assert_exit(&preview(&a, "plan", &planned), 0);
    // The URL CI comments is the preview's own load balancer, not the source's address.
    let outputs = preview(&a, "outputs", &["--json"]);
    assert_exit(&outputs, 0);
    let outputs: Value = serde_json::from_slice(&outputs.stdout).unwrap();
    let url = outputs["storefront_url"].as_str().unwrap_or_default();
    assert!(
        url.starts_with(&format!("http://{a}-alb")) && !url.contains("stage.shop.example"),
        "{outputs:#}"
    );

    // The cap: a third is refused, naming the live ones; nothing of it is made.
    let refused = preview(&c, "up", &["--yes"]);
    assert_exit(&refused, 1);
    let said = text(&refused);
    assert!(
        said.contains("already has 2 live previews") && said.contains(&a) && said.contains(&b),
        "{said}"
    );
    assert_eq!(harness.python("tagged.py", &[&c]), serde_json::json!([]));

    // `ls` lists both with their expiry; B's has passed.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let ls = harness.mck(&["ls", "--json", "--stacks-dir", dir]);
    assert_exit(&ls, 0);
    let listed: Value = serde_json::from_slice(&ls.stdout).unwrap();
    let row = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {listed:#}"))
            .clone()
    };
    assert_eq!(row(&source)["kind"], "file");
    for (name, expired) in [(&a, false), (&b, true)] {
        let r = row(name);
        assert_eq!(r["kind"], "preview", "{r:#}");
        assert_eq!(r["preview_of"], source.as_str(), "{r:#}");
        assert_eq!(r["created_by"], "octocat", "{r:#}");
        assert_eq!(r["expired"], expired, "{r:#}");
        assert!(r["expires"].as_str().unwrap().ends_with('Z'), "{r:#}");
        assert!(r["resources"].as_u64().unwrap() > 20, "{r:#}");
    }

    // `down --expired` removes B only, and nothing tagged with its name is left.
    let swept = harness.mck(&[
        "down",
        "--expired",
        "--yes",
        "--allow-data-loss",
        "--summary",
        "--stacks-dir",
        dir,
    ]);
    assert_exit(&swept, 0);
    assert!(
        text(&swept).contains(&format!("removed 1 expired preview(s): {b}")),
        "{}",
        text(&swept)
    );
    assert_eq!(harness.python("tagged.py", &[&b]), serde_json::json!([]));
    assert_ne!(harness.python("tagged.py", &[&a]), serde_json::json!([]));

    // A second clone of the source: before the restore mck counts the source's clone group
    // (the clones AWS would still make copy-on-write); the new clone joins A's group.
    let d = format!("e2e-pd-{pid}");
    assert_exit(&preview(&d, "up", &["--yes", "--summary"]), 0);
    let groups = harness.python("previews.py", &[&source, &a, &d]);
    let group = |name: &str| groups[name]["db"]["clone_group"].clone();
    assert!(group(&source).is_string(), "{groups:#}");
    assert_eq!(group(&a), group(&source), "{groups:#}");
    assert_eq!(group(&d), group(&source), "{groups:#}");
    assert_exit(
        &preview(&d, "down", &["--yes", "--allow-data-loss", "--summary"]),
        0,
    );
    assert_eq!(harness.python("tagged.py", &[&d]), serde_json::json!([]));

    // A, then the source: nothing of either is left.
    assert_exit(
        &preview(&a, "down", &["--yes", "--allow-data-loss", "--summary"]),
        0,
    );
    assert_eq!(harness.python("tagged.py", &[&a]), serde_json::json!([]));
    assert_exit(
        &stack.mck("down", &["--yes", "--allow-data-loss", "--summary"]),
        0,
    );
    assert_eq!(
        harness.python("tagged.py", &[&source]),
        serde_json::json!([])
    );
}
