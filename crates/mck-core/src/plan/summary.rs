//! The compact form of a plan ([`Plan::render_summary`]): what a person at a terminal reads
//! first. Counts per tier and action, then the replacements with their reasons and every
//! create, replace or delete of a resource that holds data; the full diff is
//! [`Plan::render_text`].

use std::fmt::Write as _;

use super::{Action, Plan, Step};
use crate::model::ResourceKind;

/// The tiers of the reference architecture, in the order they are shown.
const TIERS: [&str; 6] = ["network", "data", "dns", "app", "operations", "release"];

/// The tier of a kind. A `match` without a wildcard: a new kind does not compile until it has
/// a tier.
fn tier(kind: ResourceKind) -> &'static str {
    use ResourceKind::*;
    match kind {
        Vpc
        | Subnet
        | InternetGateway
        | RouteTable
        | RouteTableAssociation
        | Route
        | SecurityGroup
        | SecurityGroupRule
        | ElasticIp
        | NatGateway
        | Instance => "network",
        DbSubnetGroup
        | DbClusterParameterGroup
        | DbCluster
        | DbInstance
        | CacheSubnetGroup
        | ReplicationGroup
        | CacheCluster
        | FileSystem
        | MountTarget
        | AccessPoint
        | Secret
        | SearchDomain
        | MqBroker => "data",
        HostedZone | RecordSet => "dns",
        LogGroup | Role | EcsCluster | InstanceProfile | LaunchTemplate | AutoScalingGroup
        | CapacityProvider | TaskDefinition | TargetGroup | LoadBalancer | Listener
        | ListenerRule | EcsService | ScalableTarget | ScalingPolicy => "app",
        Topic | Subscription | Alarm | Dashboard | BackupVault | BackupPlan | BackupSelection => {
            "operations"
        }
        DbLogin | Install | ReleaseTask | Maintenance | ReleaseRecord => "release",
    }
}

/// A plan with at most this many changes is shown in full even at a terminal.
pub const SMALL_PLAN: usize = 25;

impl Plan {
    /// The compact form: one line of totals, a table of changes per tier (network, data, dns,
    /// app, operations, release), the replacements with their reasons, and each create, replace or delete
    /// of a resource that holds data. Ends saying how to see the full diff.
    pub fn render_summary(&self) -> String {
        let s = self.summary();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Plan for stack {}: {} to create, {} to update, {} to replace, {} to delete ({} unchanged).",
            self.stack(),
            s.add,
            s.change,
            s.replace,
            s.destroy,
            s.unchanged
        );
        let changed: Vec<&Step> = self
            .steps
            .iter()
            .filter(|s| s.action != Action::NoOp)
            .collect();
        if changed.is_empty() {
            return out;
        }
        // tier → [create, update, replace, delete]
        let mut table = [[0usize; 4]; TIERS.len()];
        for step in &changed {
            let column = match step.action {
                Action::Create => 0,
                Action::Update => 1,
                Action::Replace => 2,
                Action::Delete => 3,
                Action::NoOp => continue,
            };
            let row = TIERS
                .iter()
                .position(|t| *t == tier(step.kind))
                .unwrap_or_default();
            table[row][column] += 1;
        }
        let _ = writeln!(out, "\n  tier        create  update  replace  delete");
        for (name, counts) in TIERS.iter().zip(&table) {
            if counts.iter().all(|n| *n == 0) {
                continue;
            }
            let cell = |n: usize| {
                if n == 0 {
                    ".".to_string()
                } else {
                    n.to_string()
                }
            };
            let _ = writeln!(
                out,
                "  {name:10}  {:>6}  {:>6}  {:>7}  {:>6}",
                cell(counts[0]),
                cell(counts[1]),
                cell(counts[2]),
                cell(counts[3])
            );
        }
        let replaced: Vec<&&Step> = changed
            .iter()
            .filter(|s| s.action == Action::Replace)
            .collect();
        if !replaced.is_empty() {
            let _ = writeln!(out, "\nReplaced:");
            for step in replaced {
                let _ = writeln!(
                    out,
                    "  -/+ {} ({}){}",
                    step.id,
                    step.kind,
                    step.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
            }
        }
        let data: Vec<&&Step> = changed
            .iter()
            .filter(|s| s.kind.holds_data() && s.action != Action::Update)
            .collect();
        if !data.is_empty() {
            let _ = writeln!(out, "\nResources that hold data:");
            for step in data {
                let (sigil, what) = match step.action {
                    Action::Create => ("+", "created"),
                    Action::Replace => ("-/+", "replaced: its data is lost"),
                    _ => ("-", "deleted: its data is lost"),
                };
                let _ = writeln!(out, "  {sigil} {} ({}) {what}", step.id, step.kind);
            }
        }
        // A preview is planned with its source (it has no file of its own).
        let from = self
            .desired
            .tags()
            .get(crate::stack::PreviewOf::TAG_FROM)
            .map(|from| format!(" --from {from}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\nThe full diff: `mck plan --stack {}{from} --detail` (or `--json`).",
            self.stack()
        );
        out
    }
}
