use std::path::Path;
use std::time::Duration;

use super::*;

const STACKS: &str = "../../stacks";

fn load_err(name: &str) -> String {
    match load(&Path::new(STACKS).join("invalid"), name) {
        Ok(_) => panic!("{name} loaded without error"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn invalid_stacks_report_file_line_column_and_fix() {
    // Every case of the corpus is in the list (a new file without a snapshot fails here).
    let mut files: Vec<String> = std::fs::read_dir(Path::new(STACKS).join("invalid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".yaml").map(str::to_string))
        .filter(|n| n != "cycle-b")
        .collect();
    files.sort();
    let mut out = String::new();
    for name in [
        "a-directory",
        "alarms",
        "alias-bomb",
        "app-bad-alb",
        "app-bad-names",
        "app-fargate-size",
        "app-no-tag",
        "app-scaling",
        "app-secret-env",
        "app-two-defaults",
        "backup",
        "bad-cidr",
        "bad-duration",
        "bad-nat",
        "bad-region",
        "bad-version",
        "bad-yaml",
        "bool-not-bool",
        "complex-key",
        "cycle-a",
        "db-login",
        "deep-nesting",
        "duplicate-key",
        "empty",
        "huge-numbers",
        "install-options",
        "missing-extends",
        "not-utf8",
        "password-key",
        "preview",
        "release-options",
        "reserved-tag",
        "search-and-queue",
        "ssh-anywhere",
        "stack-name-mismatch",
        "subnet-outside",
        "subnet-overlap",
        "tab-indent",
        "two-documents",
        "typo-nested",
        "typo-top-level",
        "unknown-cache-engine",
        "unknown-key",
        "vpc-too-small",
        "workers",
        "wrong-type",
        "out-of-range",
        "zero-instances",
        "zone-outside-region",
    ] {
        let err = load_err(name);
        // file:line:column, what, and how to fix it.
        assert!(
            err.lines().next().is_some_and(|l| l.contains(".yaml:")),
            "{name}: {err}"
        );
        assert!(err.contains("help: "), "{name} says how to fix it: {err}");
        out.push_str(&format!("== {name}\n{err}\n"));
        files.retain(|f| f != name);
    }
    assert!(files.is_empty(), "corpus files without a case: {files:?}");
    insta::assert_snapshot!(out);
}

#[test]
fn a_50_mb_file_is_refused_before_it_is_read() {
    let dir = std::env::temp_dir().join(format!("mck-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join("big.yaml")).unwrap();
    file.set_len(50 * 1_000_000).unwrap(); // sparse: nothing is written
    let err = load(&dir, "big").unwrap_err().to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        err.contains("big.yaml is 50.0 MB; stack files are at most 1024 kB"),
        "{err}"
    );
    assert!(err.contains("help: "), "{err}");
}

#[test]
fn typos_get_a_suggestion_and_strangers_do_not() {
    use super::node::did_you_mean;
    let keys = ["network", "database", "caches", "instance_class", "nat"];
    assert_eq!(did_you_mean("netwrok", &keys), Some("network"));
    assert_eq!(did_you_mean("Database", &keys), Some("database"));
    assert_eq!(
        did_you_mean("instance-class", &keys),
        Some("instance_class")
    );
    assert_eq!(did_you_mean("natt", &keys), Some("nat"));
    assert_eq!(did_you_mean("redis", &keys), None);
}

#[test]
fn shipped_stacks_load_and_overlay_base() {
    let dev = load(Path::new(STACKS), "dev").unwrap();
    assert_eq!(dev.config.network.nat, NatMode::Single);
    assert_eq!(dev.config.network.zones.len(), 3);
    assert_eq!(
        dev.config.tags.get("project").map(String::as_str),
        Some("magecloudkit")
    );
    assert_eq!(
        dev.config.tags.get("environment").map(String::as_str),
        Some("dev")
    );
    let prod = load(Path::new(STACKS), "prod").unwrap();
    assert_eq!(prod.config.network.nat, NatMode::PerZone);
    assert_eq!(
        prod.config.bastion.as_ref().unwrap().key_name.as_deref(),
        Some("ops")
    );
    assert_eq!(
        prod.config.network.tiers()["data"],
        vec!["10.2.201.0/24", "10.2.202.0/24", "10.2.203.0/24"]
    );
    assert_eq!(
        list(Path::new(STACKS)).unwrap(),
        vec!["dev", "prod", "stage"]
    );
}

#[test]
fn missing_stack_lists_the_available_ones() {
    let err = load(Path::new(STACKS), "qa").unwrap_err().to_string();
    assert!(
        err.contains("stacks in ../../stacks: dev, prod, stage"),
        "{err}"
    );
}

#[test]
fn stack_key_must_match_file_name() {
    let err = parse_str(
        "dev",
        "dev.yaml",
        "version: 1\nstack: prod\nnetwork: {zones: [us-east-1a]}\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "dev.yaml:2:8: `stack: prod` does not match the file name `dev.yaml`\n  help: write `stack: dev` or remove the key"
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let err = parse_str(
        "t",
        "t.yaml",
        "version: 2\nregion: us-east-1\nnetwork:\n  zones: [us-west-2a]\n  cidr: 10.0.0.1/16\n",
    )
    .unwrap_err();
    assert_eq!(err.diagnostics.len(), 3, "{err}");
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
    assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
    // Too large to count in seconds: not a duration (never an overflow).
    assert_eq!(parse_duration("18446744073709551615h"), None);
    assert_eq!(parse_duration("45"), Some(Duration::from_secs(45)));
    assert_eq!(parse_duration("ten"), None);
    assert_eq!(parse_duration("3d"), Some(Duration::from_secs(3 * 86_400)));
    assert_eq!(parse_duration("5w"), None);
}

#[test]
fn backup_schedules_are_whole_hours_dividing_a_day_and_retention_whole_days() {
    use crate::stack::{backup_days, backup_hours};
    assert_eq!(backup_hours("6h"), Some(6));
    assert_eq!(backup_hours("24h"), Some(24));
    assert_eq!(backup_hours("1d"), Some(24));
    assert_eq!(backup_hours("5h"), None);
    assert_eq!(backup_hours("90m"), None);
    assert_eq!(backup_hours("30m"), None);
    assert_eq!(backup_hours("48h"), None);
    assert_eq!(backup_days("14d"), Some(14));
    assert_eq!(backup_days("36h"), None);
    assert_eq!(backup_days("0d"), None);
}

#[test]
fn a_password_in_a_stack_file_is_refused_with_an_explanation() {
    let err = parse_str(
        "t",
        "t.yaml",
        "version: 1\nnetwork: {zones: [us-east-1a, us-east-1b]}\ndatabase:\n  master_password: hunter2\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("t.yaml:4:3: unknown key `master_password`"),
        "{err}"
    );
    assert!(err.contains("managed by RDS in Secrets Manager"), "{err}");
    assert!(!err.contains("hunter2"), "the value is never echoed: {err}");
}

#[test]
fn data_tier_settings_are_validated() {
    let err = parse_str(
        "t",
        "t.yaml",
        "version: 1\nnetwork: {zones: [us-east-1a]}\ndatabase: {instances: 0, instance_class: r6g.large}\ncaches:\n  Cache_1: {node_type: t3.micro}\nfilesystem: {access_points: [media, media]}\ndns: {zone: Bad_Zone, ttl: -1}\n",
    )
    .unwrap_err();
    insta::assert_snapshot!(err.to_string());
}

#[test]
fn a_secret_in_the_environment_is_refused_without_being_echoed() {
    let err = load_err("app-secret-env");
    assert!(err.contains("SMTP_PASSWORD"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("`DB_HOST` is set by mck"), "{err}");
}

#[test]
fn shipped_stacks_describe_the_app_tier() {
    let prod = load(Path::new(STACKS), "prod").unwrap();
    let app = prod.config.app.as_ref().unwrap();
    assert_eq!(app.capacity, Capacity::Ec2);
    assert_eq!(app.servers.as_ref().unwrap().max, 6);
    assert_eq!(prod.config.apps["frontend"].count, 4);
    assert_eq!(prod.config.apps["admin"].paths, ["/backend/*"]);
    let dev = load(Path::new(STACKS), "dev").unwrap();
    assert_eq!(dev.config.app.as_ref().unwrap().capacity, Capacity::Fargate);
    assert_eq!(dev.config.apps.len(), 2);
    assert!(dev.config.release.as_ref().unwrap().tag.is_some());
}

#[test]
fn the_load_balancer_name_must_fit_in_32_characters() {
    let yaml = "version: 1\nnetwork:\n  zones: [us-east-1a, us-east-1b]\napps:\n  web:\n    containers:\n      nginx: { image: example/nginx:1.25, port: 80 }\n    cpu: 512\n    memory: 1024\n";
    let long = "a-stack-name-of-29-characters";
    let err = parse_str(long, "t.yaml", yaml).unwrap_err().to_string();
    assert!(err.contains("longer than 32 characters"), "{err}");
    assert!(parse_str("shorter-stack", "t.yaml", yaml).is_ok());
}

fn load_set(name: &str, sets: &[&str]) -> Result<Stack, StackError> {
    let overrides: Vec<Override> = sets
        .iter()
        .map(|s| Override::parse(s))
        .collect::<Result<_, _>>()?;
    load_with(Path::new(STACKS), name, &overrides)
}

#[test]
fn set_overrides_a_value_with_the_type_the_schema_gives_it() {
    // A short git SHA of digits (or `1e5...`, a float in YAML) stays a string.
    let stack = load_set(
        "prod",
        &[
            "release.tag=1234567",
            "release.revision=1e51234",
            "apps.frontend.count=3",
            "network.zones=[us-east-1a, us-east-1b]",
            // Two zones take neither prod's three search nodes nor its RabbitMQ cluster.
            "search.instances=2",
            "queue.deployment=single",
        ],
    )
    .unwrap();
    let release = stack.config.release.as_ref().unwrap();
    assert_eq!(release.tag.as_deref(), Some("1234567"));
    assert_eq!(release.revision.as_deref(), Some("1e51234"));
    assert_eq!(stack.config.apps["frontend"].count, 3);
    assert_eq!(stack.config.network.zones, ["us-east-1a", "us-east-1b"]);
    // What the file says elsewhere is kept, and locations still point into the files.
    assert_eq!(stack.config.apps["frontend"].cpu, 1024);
    assert!(
        stack
            .locate(&["apps", "frontend", "cpu"])
            .file
            .ends_with(".yaml")
    );
    assert_eq!(
        &*stack.locate(&["release", "tag"]).file,
        "command line (--set release.tag=1234567)"
    );
    // A later --set wins; quotes make a string of anything.
    let stack = load_set("dev", &["release.tag=a", "release.tag='true'"]).unwrap();
    assert_eq!(stack.config.release.unwrap().tag.as_deref(), Some("true"));
}

#[test]
fn set_errors_are_located_on_the_command_line_with_a_fix() {
    let msg = |sets: &[&str]| load_set("dev", sets).unwrap_err().to_string();
    insta::assert_snapshot!(
        [
            msg(&["apps.frontend.count=many"]),
            msg(&["apps.frontend.cuont=2"]),
            msg(&["release.tga=abc"]),
            msg(&["release.tag"]),
            msg(&["release..tag=x"]),
            msg(&["extends=other.yaml"]),
            msg(&["network.zones=[us-east-1a"]),
            msg(&["network.cidr=10.0.0.0/33"]),
            msg(&["release.tag=bad tag!"]),
        ]
        .join("\n\n")
    );
}

#[test]
fn a_release_from_the_command_line_stays_in_effect_until_the_command_line_or_the_file_changes_it() {
    let dev = load(Path::new(STACKS), "dev").unwrap();
    let files = ReleaseValues {
        tag: Some("2.4.7-p1".into()),
        revision: None,
    };
    assert_eq!(dev.file_release, files);
    // As the record on the cluster keeps it.
    let live = LiveRelease::from_record(Some("0123456"), Some("0123456abc"), Some("2.4.7-p1 -"));
    assert_eq!(live.file, files);
    assert_eq!(files.to_record(), "2.4.7-p1 -");
    let kept = live_release_overrides(&dev.file_release, &[], &live);
    assert_eq!(kept.len(), 2);
    let stack = load_with(Path::new(STACKS), "dev", &kept).unwrap();
    let release = stack.config.release.clone().unwrap();
    assert_eq!(release.tag.as_deref(), Some("0123456"));
    assert_eq!(release.revision.as_deref(), Some("0123456abc"));
    assert!(
        stack
            .locate(&["release", "tag"])
            .file
            .starts_with("live release (recorded on the cluster"),
        "{}",
        stack.locate(&["release", "tag"])
    );
    // The files are what the release was made over, whatever the overrides.
    assert_eq!(stack.file_release, files);
    // Another --set keeps the release; a --set of the release wins.
    let count = [Override::parse("apps.frontend.count=2").unwrap()];
    assert_eq!(
        live_release_overrides(&dev.file_release, &count, &live).len(),
        2
    );
    for arg in ["release.tag=x", "release.revision=y"] {
        let set = [Override::parse(arg).unwrap()];
        assert!(live_release_overrides(&dev.file_release, &set, &live).is_empty());
    }
    // An edited file is a newer decision: it wins.
    assert!(live_release_overrides(&ReleaseValues::from_record("2.4.8 -"), &[], &live).is_empty());
    // A record without a revision sets only the tag.
    let tag_only = LiveRelease::from_record(Some("0123456"), Some("-"), Some("2.4.7-p1 -"));
    assert_eq!(
        live_release_overrides(&dev.file_release, &[], &tag_only).len(),
        1
    );
}

fn preview_of_stage(empty_db: bool) -> PreviewOf {
    PreviewOf {
        from: "stage".into(),
        cidr: "10.100.0.0/16".into(),
        created_by: "octocat".into(),
        created: 1_796_345_323,
        expires: 1_796_605_323,
        empty_db,
    }
}

#[test]
fn a_preview_is_its_source_with_the_overlay_its_own_network_and_no_protection() {
    let preview = preview_of_stage(false);
    let stack = load_preview(Path::new(STACKS), "pr-123", &preview, &[]).expect("preview loads");
    let stage = load(Path::new(STACKS), "stage").expect("stage loads");
    assert_eq!(stack.name, "pr-123");
    assert_eq!(stack.config.network.cidr, "10.100.0.0/16");
    assert!(!stack.config.protected);
    // The overlay: no bastion, one instance, no replicas; the rest is stage's.
    assert!(stack.config.bastion.is_none());
    assert!(stage.config.bastion.is_some());
    assert_eq!(stack.config.database.as_ref().map(|d| d.instances), Some(1));
    assert_eq!(stack.config.caches["cache"].replicas, 0);
    assert_eq!(
        stack.config.apps.keys().collect::<Vec<_>>(),
        stage.config.apps.keys().collect::<Vec<_>>()
    );
    assert_eq!(stack.config.tags["environment"], "preview");
    assert_eq!(stack.config.tags[PreviewOf::TAG_FROM], "stage");
    assert_eq!(stack.config.tags[PreviewOf::TAG_CREATED_BY], "octocat");
    assert_eq!(
        stack.config.tags[PreviewOf::TAG_EXPIRES],
        "2026-12-07T01:02:03Z"
    );
    assert_eq!(stack.database_source().as_deref(), Some("stage-db"));
    assert_eq!(stack.preview.as_ref(), Some(&preview));
    // Its own address, and stage's media read through stage's storefront.
    let app = stack.config.app.as_ref().unwrap();
    assert_eq!(
        stage.config.app.as_ref().unwrap().base_url.as_deref(),
        Some("https://stage.shop.example/")
    );
    assert_eq!(app.base_url, None);
    assert_eq!(
        app.media_fallback_url.as_deref(),
        Some("https://stage.shop.example/media/")
    );
    // The tags say what it is: read back, they give the same preview.
    let tags: std::collections::BTreeMap<String, String> = preview.tags().into_iter().collect();
    assert_eq!(PreviewOf::from_tags(&tags, "10.100.0.0/16"), Some(preview));
    // Stage itself is no preview and clones nothing.
    assert_eq!(stage.database_source(), None);
}

#[test]
fn an_empty_db_preview_clones_nothing() {
    let stack = load_preview(Path::new(STACKS), "pr-7", &preview_of_stage(true), &[]).unwrap();
    assert_eq!(stack.database_source(), None);
}

#[test]
fn a_preview_needs_a_source_that_allows_previews_and_a_name_without_a_file() {
    let mut preview = preview_of_stage(false);
    let err = load_preview(Path::new(STACKS), "dev", &preview, &[]).unwrap_err();
    assert!(
        err.to_string().contains("has a stack file of its own"),
        "{err}"
    );
    preview.from = "dev".into();
    let err = load_preview(Path::new(STACKS), "pr-1", &preview, &[]).unwrap_err();
    assert!(err.to_string().contains("no `preview:` section"), "{err}");
}

/// `preview.media`: `empty` gives previews no media of the source's (not even what the source
/// itself reads from elsewhere); `shared` gives them the source's storefront `media/`, or where
/// the source reads its own; and `shared` needs one of the two. A preview never has the
/// source's address or certificate.
#[test]
fn previews_share_media_only_when_the_source_says_so_and_serves_them() {
    let dir = std::env::temp_dir().join(format!("mck-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let preview = preview_of_stage(true);
    let fallback = |stage: &str| {
        std::fs::write(dir.join("stage.yaml"), stage).unwrap();
        load_preview(&dir, "pr-1", &preview, &[]).map(|s| {
            let app = s.config.app.unwrap_or_default();
            assert_eq!(app.base_url, None, "a preview has its own address");
            app.media_fallback_url
        })
    };
    let head = "version: 1\nnetwork: {zones: [us-east-1a, us-east-1b]}\nalb: {certificate_arn: 'arn:aws:acm:us-east-1:1:certificate/stage'}\n";
    let stage = format!(
        "{head}app: {{base_url: 'https://stage.example/', media_fallback_url: 'https://prod.example/media/'}}\npreview: {{database: empty, media: MEDIA}}\n"
    );
    // Nor the source's certificate, which names the source's address.
    std::fs::write(dir.join("stage.yaml"), stage.replace("MEDIA", "empty")).unwrap();
    let stack = load_preview(&dir, "pr-1", &preview, &[]).unwrap();
    assert_eq!(stack.config.alb.unwrap_or_default().certificate_arn, None);
    assert_eq!(fallback(&stage.replace("MEDIA", "empty")).unwrap(), None);
    assert_eq!(
        fallback(&stage.replace("MEDIA", "shared"))
            .unwrap()
            .as_deref(),
        Some("https://stage.example/media/")
    );
    let no_base = stage.replace("base_url: 'https://stage.example/', ", "");
    assert_eq!(
        fallback(&no_base.replace("MEDIA", "shared"))
            .unwrap()
            .as_deref(),
        Some("https://prod.example/media/"),
        "stage reads its media from prod, and so do its previews"
    );
    let neither = format!("{head}preview: {{database: empty, media: shared}}\n");
    let err = fallback(&neither).unwrap_err().to_string();
    assert!(
        err.contains("stage.yaml:4") && err.contains("no known URL"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_clone_with_customer_data_needs_a_scrub_or_a_yes() {
    let text =
        "version: 1\nnetwork: {zones: [us-east-1a, us-east-1b]}\ndatabase: {}\npreview: {}\n";
    let err = parse_str("t", "t.yaml", text).unwrap_err();
    assert!(err.to_string().contains("customer data included"), "{err}");
    let allowed = text.replace("preview: {}", "preview: {customer_data: true}");
    assert!(parse_str("t", "t.yaml", &allowed).is_ok());
    let empty = text.replace("preview: {}", "preview: {database: empty}");
    assert!(parse_str("t", "t.yaml", &empty).is_ok());
}
