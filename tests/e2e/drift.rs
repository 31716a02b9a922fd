//! `mck drift` against the emulator: out-of-band changes made with the AWS CLI are reported in
//! every format with the right class and field; `up` repairs what is the stack's and leaves
//! hand-made things alone; drift only ever reads (the emulator's own request recorder says so).

use std::path::Path;

use serde_json::Value;

use mck_tests::{Harness, TestStack, assert_exit, text};

/// The network tier, a database and the private zone: every out-of-band change of the issue
/// has a target, and `down` removes it all.
fn stack_yaml() -> String {
    format!(
        "{}database:\n  instances: 1\n  backup_retention_days: 1\n  deletion_protection: false\n  final_snapshot: false\ndns: {{}}\n",
        crate::NETWORK_ONLY
    )
}

/// Runs `mck drift` writing every format to files in the stack's directory; returns the exit
/// code, the JSON report and the directory.
fn drift_all_formats(stack: &TestStack, extra: &[&str]) -> (i32, Value, String) {
    let dir = stack.dir.to_str().unwrap().to_string();
    let outputs: Vec<String> = ["json", "markdown", "junit", "sarif", "text"]
        .iter()
        .map(|f| format!("{f}={dir}/report.{f}"))
        .collect();
    let mut args: Vec<&str> = Vec::new();
    for o in &outputs {
        args.extend(["--output", o.as_str()]);
    }
    args.extend_from_slice(extra);
    let out = stack.mck("drift", &args);
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 2, "{}", text(&out));
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/report.json")).expect("report.json written"),
    )
    .expect("the JSON report parses");
    (code, json, dir)
}

/// (class, resource, fields) of every finding that counts, sorted.
fn findings(report: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut out: Vec<(String, String, Vec<String>)> = report["stacks"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["class"] != "unchecked")
        .map(|f| {
            (
                f["class"].as_str().unwrap().to_string(),
                f["resource"].as_str().unwrap().to_string(),
                f["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|fd| fd["field"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    out.sort();
    out
}

fn finding<'a>(report: &'a Value, resource: &str) -> &'a Value {
    report["stacks"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["resource"] == resource)
        .unwrap_or_else(|| panic!("no finding for {resource}: {report:#}"))
}

fn schema(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(relative)
        .to_str()
        .unwrap()
        .to_string()
}

/// Validates the report files with independent tools: JSON and SARIF against their schemas,
/// JUnit as XML with its structure and counts; returns the JUnit summary.
fn validate(harness: &Harness, dir: &str) -> Value {
    harness.python(
        "reports.py",
        &[
            "json",
            &format!("{dir}/report.json"),
            &schema("../docs/drift.schema.json"),
        ],
    );
    harness.python(
        "reports.py",
        &[
            "sarif",
            &format!("{dir}/report.sarif"),
            &schema("schemas/sarif-2.1.0-subset.json"),
        ],
    );
    harness.python("reports.py", &["junit", &format!("{dir}/report.junit")])
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn drift_reports_out_of_band_changes_in_every_format_and_up_repairs_only_the_stacks() {
    let harness = Harness::from_env();
    let name = "e2e-drift";
    let stack = harness.stack_from(name, &stack_yaml());
    assert_exit(&stack.mck("down", &["--yes", "--allow-data-loss"]), 0);
    assert_exit(&stack.mck("up", &["--yes"]), 0);

    // Right after up: in sync, and drift sends nothing but reads (moto's recorder, filtered
    // on the user agent mck gives drift's requests).
    harness.python("recording.py", &["start"]);
    let (code, report, dir) = drift_all_formats(&stack, &[]);
    let recorded = harness.python("recording.py", &["stop", "app/mck-drift"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["status"], "in_sync");
    let requests = recorded["requests"].as_array().unwrap();
    assert!(
        requests.len() >= 20,
        "drift's requests were recorded: {recorded}"
    );
    let writes: Vec<&Value> = requests.iter().filter(|r| r["read"] != true).collect();
    assert!(writes.is_empty(), "drift sent writes: {writes:?}");
    validate(&harness, &dir);

    // Out-of-band changes, with the AWS CLI.
    let outputs = stack.mck("outputs", &["--all", "--json"]);
    assert_exit(&outputs, 0);
    let ids: Value = serde_json::from_slice(&outputs.stdout).unwrap();
    let id = |key: &str| {
        ids[key]
            .as_str()
            .unwrap_or_else(|| panic!("no output {key}: {ids:#}"))
            .to_string()
    };
    let aws = |args: &[&str]| harness.aws(args);
    let zone = format!("{name}.magecloudkit.internal");
    let zone_id = id("dns.zone.zone_id");
    let upsert = |record: &str, rtype: &str, value: &str| {
        let batch = serde_json::json!({"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": record, "Type": rtype, "TTL": 60, "ResourceRecords": [{"Value": value}]}}]});
        aws(&[
            "route53",
            "change-resource-record-sets",
            "--hosted-zone-id",
            &zone_id,
            "--change-batch",
            &batch.to_string(),
        ]);
    };
    let batch = |action: &str, record: &str, rtype: &str, value: &str| {
        serde_json::json!({"Changes": [{"Action": action, "ResourceRecordSet": {
            "Name": record, "Type": rtype, "TTL": 60, "ResourceRecords": [{"Value": value}]}}]})
        .to_string()
    };
    aws(&[
        "ec2",
        "authorize-security-group-ingress",
        "--group-id",
        &id("sg.bastion.id"),
        "--protocol",
        "tcp",
        "--port",
        "2222",
        "--cidr",
        "10.9.0.0/16",
    ]);
    aws(&[
        "ec2",
        "delete-route",
        "--route-table-id",
        &id("rt.private.a.id"),
        "--destination-cidr-block",
        "0.0.0.0/0",
    ]);
    aws(&[
        "rds",
        "modify-db-cluster",
        "--db-cluster-identifier",
        &id("db.cluster.id"),
        "--backup-retention-period",
        "9",
        "--apply-immediately",
    ]);
    upsert(&format!("db.{zone}"), "CNAME", "elsewhere.example.com");
    aws(&[
        "ec2",
        "create-subnet",
        "--vpc-id",
        &id("vpc.id"),
        "--cidr-block",
        "10.0.250.0/24",
        "--tag-specifications",
        &format!(
            "ResourceType=subnet,Tags=[{{Key=mck:stack,Value={name}}},{{Key=mck:id,Value=subnet.extra.z}}]"
        ),
    ]);
    let hand_sg = aws(&[
        "ec2",
        "create-security-group",
        "--group-name",
        "hand-made",
        "--description",
        "made by hand",
        "--vpc-id",
        &id("vpc.id"),
        "--query",
        "GroupId",
    ]);
    upsert(&format!("hand.{zone}"), "A", "10.0.0.9");

    // Every change, with its class and field, in every format; exit 2.
    let (code, report, dir) = drift_all_formats(&stack, &["--who"]);
    assert_eq!(code, 2, "{report:#}");
    let s = |v: &str| v.to_string();
    assert_eq!(
        findings(&report),
        vec![
            (
                s("changed"),
                s("db.cluster"),
                vec![s("backup_retention_period")]
            ),
            (s("changed"), s("dns.db"), vec![s("records")]),
            (
                s("extra"),
                s("sg.bastion/ingress/tcp/2222-2222/10.9.0.0/16"),
                vec![]
            ),
            (s("extra"), s("subnet.extra.z"), vec![]),
            (s("missing"), s("rt.private.a:0.0.0.0/0"), vec![]),
            (s("unmanaged"), s("hand-made"), vec![]),
            (s("unmanaged"), format!("hand.{zone} A"), vec![]),
        ],
        "{report:#}"
    );
    let retention = &finding(&report, "db.cluster")["fields"][0];
    assert_eq!(
        (retention["live"].as_str(), retention["desired"].as_str()),
        (Some("9"), Some("1"))
    );
    assert_eq!(finding(&report, "hand-made")["cloud_id"], hand_sg.as_str());
    // The emulator keeps no CloudTrail events (docs/emulator.md): the report says it could
    // not tell who made the change, never that nobody did.
    assert_eq!(
        finding(&report, "db.cluster")["who"]["status"],
        "unknown",
        "{report:#}"
    );
    // Located at the stack line that declares it: `backup_retention_days: 1`.
    let location = &finding(&report, "db.cluster")["location"];
    let file = std::fs::read_to_string(location["file"].as_str().unwrap()).unwrap();
    let line = file
        .lines()
        .nth(usize::try_from(location["line"].as_u64().unwrap()).unwrap() - 1)
        .unwrap();
    assert!(line.contains("backup_retention_days"), "{line}");

    let junit = validate(&harness, &dir);
    assert_eq!(junit["failures"], 7, "{junit:#}");
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/report.sarif")).unwrap())
            .unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let errors_and_warnings = results.iter().filter(|r| r["level"] != "note").count();
    assert_eq!(errors_and_warnings, 7, "{sarif:#}");
    assert!(
        results.iter().all(
            |r| r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64() >= Some(1)
        ),
        "{sarif:#}"
    );
    let markdown = std::fs::read_to_string(format!("{dir}/report.markdown")).unwrap();
    let plain = std::fs::read_to_string(format!("{dir}/report.text")).unwrap();
    for (class, resource, _) in findings(&report) {
        assert!(
            markdown.contains(&format!("| {class} | `{resource}`")),
            "{markdown}"
        );
        assert!(plain.contains(&resource), "{plain}");
    }

    // up repairs the stack's five and leaves the hand-made two alone.
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    let (code, report, _) = drift_all_formats(&stack, &[]);
    assert_eq!(code, 2);
    assert_eq!(
        findings(&report),
        vec![
            (s("unmanaged"), s("hand-made"), vec![]),
            (s("unmanaged"), format!("hand.{zone} A"), vec![]),
        ],
        "{report:#}"
    );
    assert_eq!(
        aws(&[
            "ec2",
            "describe-subnets",
            "--filters",
            "Name=cidr-block,Values=10.0.250.0/24",
            "--query",
            "length(Subnets)",
        ]),
        "0",
        "up deleted the extra subnet"
    );

    // Without the hand-made things: in sync.
    aws(&["ec2", "delete-security-group", "--group-id", &hand_sg]);
    aws(&[
        "route53",
        "change-resource-record-sets",
        "--hosted-zone-id",
        &zone_id,
        "--change-batch",
        &batch("DELETE", &format!("hand.{zone}"), "A", "10.0.0.9"),
    ]);
    let (code, report, _) = drift_all_formats(&stack, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_exit(&stack.mck("down", &["--yes", "--allow-data-loss"]), 0);
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn drift_all_reports_every_stack_found_by_its_tags() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-drift-all", crate::NETWORK_ONLY);
    // A stack with resources in the region and its file in another directory only.
    let elsewhere = harness.stack_from(
        "e2e-drift-other",
        "version: 1\nnetwork:\n  zones: [us-east-1a]\n  nat: none\n",
    );
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    assert_exit(&elsewhere.mck("up", &["--yes"]), 0);
    // --all looks at every stack with resources in the region: this one has a file in the
    // directory; the other (and other tests' stacks, if any exist right now) has none there,
    // which is an error for it.
    let out = harness.mck(&[
        "drift",
        "--all",
        "--stacks-dir",
        stack.dir.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let stacks = report["stacks"].as_array().unwrap();
    let named = |name: &str| {
        stacks
            .iter()
            .find(|s| s["stack"] == name)
            .unwrap_or_else(|| panic!("no {name} in {report:#}"))
    };
    let ours = named("e2e-drift-all");
    assert_eq!(ours["error"], Value::Null, "{report:#}");
    assert!(ours["checked"].as_array().unwrap().len() >= 50, "{ours:#}");
    assert!(
        named("e2e-drift-other")["error"]
            .as_str()
            .is_some_and(|e| e.contains("there is no") && e.contains("e2e-drift-other.yaml")),
        "{report:#}"
    );
    for other in stacks.iter().filter(|s| s["stack"] != "e2e-drift-all") {
        assert!(
            other["error"]
                .as_str()
                .is_some_and(|e| e.contains("there is no")),
            "{other:#}"
        );
    }
    // A stack that could not be checked is an error: exit 1.
    assert_exit(&out, 1);
    assert_exit(&elsewhere.mck("down", &["--yes"]), 0);
    assert_exit(&stack.mck("down", &["--yes"]), 0);
}
