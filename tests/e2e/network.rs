//! The network tier end to end: up, verify independently, no-op plan, out-of-band drift shown
//! and repaired, down leaves nothing.

use mck_tests::{Harness, assert_exit, text};
use serde_json::Value;

use crate::{by_id, counts, network_only_counts, section};

fn ids(values: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = values
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn network_up_verify_drift_repair_down() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-net", crate::NETWORK_ONLY);
    assert_exit(&stack.mck("down", &["--yes"]), 0);

    let up = stack.mck("up", &["--yes"]);
    assert_exit(&up, 0);
    let inv = stack.inventory();
    assert_eq!(counts(&inv), network_only_counts(), "{inv:#}");

    // VPC with DNS support and hostnames, tagged with the stack and the user's tags.
    let vpc = by_id(&inv, "vpcs", "vpc");
    assert_eq!(vpc["cidr"], "10.0.0.0/16");
    assert_eq!(vpc["dns_support"], true);
    assert_eq!(vpc["dns_hostnames"], true);
    assert_eq!(vpc["tags"]["environment"], "dev");
    let vpc_id = vpc["id"].as_str().unwrap();

    // Nine subnets: three tiers in three zones, the public ones mapping public IPs.
    for (tier, base) in [("public", 1), ("private", 101), ("data", 201)] {
        for (idx, zone) in ["a", "b", "c"].iter().enumerate() {
            let subnet = by_id(&inv, "subnets", &format!("subnet.{tier}.{zone}"));
            assert_eq!(
                subnet["cidr"],
                format!("10.0.{}.0/24", base + idx),
                "{subnet}"
            );
            assert_eq!(subnet["az"], format!("us-east-1{zone}"));
            assert_eq!(subnet["vpc"], vpc_id);
            assert_eq!(subnet["map_public_ip"], tier == "public");
        }
    }
    let subnet_id = |id: &str| {
        by_id(&inv, "subnets", id)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // The internet gateway is attached; the public table routes to it and serves the public subnets.
    let igw = by_id(&inv, "igws", "igw");
    assert_eq!(igw["vpcs"], serde_json::json!([vpc_id]));
    let public = by_id(&inv, "route_tables", "rt.public");
    assert_eq!(
        public["routes"],
        serde_json::json!([{"dest": "0.0.0.0/0", "gateway": igw["id"], "nat": null}])
    );
    let mut want: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|z| subnet_id(&format!("subnet.public.{z}")))
        .collect();
    want.sort();
    assert_eq!(ids(public["subnets"].as_array().unwrap()), want);

    // dev: one NAT gateway in public subnet a with its own EIP; every private table routes to it
    // and serves its zone's private and data subnets.
    let nat = by_id(&inv, "nats", "nat.a");
    assert_eq!(nat["subnet"], subnet_id("subnet.public.a"));
    assert_eq!(nat["allocation"], by_id(&inv, "eips", "eip.nat.a")["id"]);
    for zone in ["a", "b", "c"] {
        let table = by_id(&inv, "route_tables", &format!("rt.private.{zone}"));
        assert_eq!(
            table["routes"],
            serde_json::json!([{"dest": "0.0.0.0/0", "gateway": null, "nat": nat["id"]}])
        );
        let mut want = vec![
            subnet_id(&format!("subnet.private.{zone}")),
            subnet_id(&format!("subnet.data.{zone}")),
        ];
        want.sort();
        assert_eq!(ids(table["subnets"].as_array().unwrap()), want);
    }

    // Security groups reference each other; SSH only from the allow-list.
    let sg = |name: &str| by_id(&inv, "security_groups", &format!("sg.{name}"));
    let sg_id = |name: &str| sg(name)["id"].clone();
    let rule = |port: i64, peer: (&str, Value)| serde_json::json!({"protocol": "tcp", "from": port, "to": port, peer.0: peer.1});
    let has = |group: &str, expected: Value| {
        let ingress = sg(group)["ingress"].as_array().unwrap().clone();
        assert!(
            ingress.contains(&expected),
            "sg.{group} lacks {expected}: {ingress:#?}"
        );
    };
    assert_eq!(sg("app")["name"], "e2e-net-app");
    has("alb", rule(80, ("cidr", "0.0.0.0/0".into())));
    has("alb", rule(443, ("cidr", "0.0.0.0/0".into())));
    has("app", rule(80, ("group", sg_id("alb"))));
    has("app", rule(22, ("group", sg_id("bastion"))));
    has("bastion", rule(22, ("cidr", "203.0.113.0/24".into())));
    has("db", rule(3306, ("group", sg_id("app"))));
    has("db", rule(3306, ("group", sg_id("bastion"))));
    has("redis", rule(6379, ("group", sg_id("app"))));
    has("efs", rule(2049, ("group", sg_id("app"))));
    assert_eq!(
        sg("bastion")["ingress"].as_array().unwrap().len(),
        1,
        "no SSH from anywhere else"
    );

    // The bastion: running in public subnet a, IMDSv2, encrypted root, the Ubuntu image, its EIP.
    let bastion = by_id(&inv, "instances", "bastion");
    assert_eq!(bastion["state"], "running");
    assert_eq!(bastion["subnet"], subnet_id("subnet.public.a"));
    assert_eq!(bastion["groups"], serde_json::json!([sg_id("bastion")]));
    assert_eq!(bastion["http_tokens"], "required");
    assert_eq!(bastion["root_encrypted"], true);
    assert_eq!(
        bastion["image"], "ami-0c7217cdde317cfec",
        "the newest Ubuntu 22.04 image"
    );
    let eip = by_id(&inv, "eips", "eip.bastion");
    assert_eq!(eip["instance"], bastion["id"]);

    // Outputs name what was built.
    let outputs = stack.mck("outputs", &["--json"]);
    assert_exit(&outputs, 0);
    let outputs: Value = serde_json::from_slice(&outputs.stdout).unwrap();
    assert_eq!(outputs["vpc_id"], vpc_id);
    assert_eq!(outputs["bastion_public_ip"], eip["public_ip"]);
    // The short list does not repeat every attribute; `--all` has them, each once.
    assert!(outputs.get("subnet.private.b.id").is_none(), "{outputs:#}");
    let all = stack.mck("outputs", &["--json", "--all"]);
    assert_exit(&all, 0);
    let all: Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(all["subnet.private.b.id"], subnet_id("subnet.private.b"));
    assert_eq!(all["eip.bastion.public_ip"], eip["public_ip"]);
    assert!(
        all.get("bastion_public_ip").is_none(),
        "no duplicate short names in --all"
    );

    // A second plan changes nothing.
    let plan = stack.mck("plan", &["--detailed-exitcode"]);
    assert_exit(&plan, 0);
    assert!(
        String::from_utf8_lossy(&plan.stdout).starts_with("No changes."),
        "{}",
        text(&plan)
    );

    // Out of band: delete a route, open the database to the world.
    let rt_b = by_id(&inv, "route_tables", "rt.private.b")["id"]
        .as_str()
        .unwrap()
        .to_string();
    harness.aws(&[
        "ec2",
        "delete-route",
        "--route-table-id",
        &rt_b,
        "--destination-cidr-block",
        "0.0.0.0/0",
    ]);
    let db = sg_id("db");
    harness.aws(&[
        "ec2",
        "authorize-security-group-ingress",
        "--group-id",
        db.as_str().unwrap(),
        "--protocol",
        "tcp",
        "--port",
        "3306",
        "--cidr",
        "0.0.0.0/0",
    ]);
    let plan = stack.mck("plan", &["--detailed-exitcode", "--json"]);
    assert_exit(&plan, 2);
    let json: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let steps: Vec<(String, String)> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["action"].as_str().unwrap().to_string(),
                s["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            ("create".to_string(), "rt.private.b:0.0.0.0/0".to_string()),
            (
                "delete".to_string(),
                "sg.db/ingress/tcp/3306-3306/0.0.0.0/0".to_string()
            ),
        ]
    );
    let text_plan = stack.mck("plan", &[]);
    let rendered = String::from_utf8_lossy(&text_plan.stdout);
    assert!(
        rendered.contains("+ resource \"aws_route\" \"rt.private.b:0.0.0.0/0\""),
        "{rendered}"
    );
    assert!(
        rendered.contains("Plan: 1 to add, 0 to change, 0 to replace, 1 to destroy."),
        "{rendered}"
    );

    // up repairs both; the next plan is empty again.
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    let repaired = stack.inventory();
    let table = by_id(&repaired, "route_tables", "rt.private.b");
    assert_eq!(
        table["routes"],
        serde_json::json!([{"dest": "0.0.0.0/0", "gateway": null, "nat": nat["id"]}])
    );
    let db_rules = by_id(&repaired, "security_groups", "sg.db")["ingress"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        !db_rules.iter().any(|r| r["cidr"] == "0.0.0.0/0"),
        "{db_rules:#?}"
    );
    assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 0);

    // down removes everything tagged with the stack.
    let down = stack.mck("down", &["--yes"]);
    assert_exit(&down, 0);
    let after = stack.inventory();
    for (kind, count) in counts(&after) {
        assert_eq!(count, 0, "{kind} left after down: {after:#}");
    }
    assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 2);
    let _ = section(&after, "vpcs");
}
