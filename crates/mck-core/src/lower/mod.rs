//! Lowering: a validated [`Stack`] becomes typed resources in a [`DesiredGraph`].
//!
//! Deterministic: the same stack always yields the same logical ids and specs. One module per
//! tier: `network`, `data`, `dns` (service discovery for the data tier), `app`.

use std::collections::HashMap;
use std::time::Duration;

use crate::graph::{DesiredGraph, GraphError};
use crate::model::{LogicalId, Resource, ResourceKind};
use crate::stack::{Stack, parse_duration};

mod app;
mod data;

pub use app::TASK_EXECUTION_POLICY;
mod dns;
mod network;

/// The security groups of the reference architecture, in display order.
pub const SECURITY_GROUPS: &[(&str, &str)] = &[
    ("alb", "load balancer: HTTP and HTTPS from the internet"),
    ("app", "app servers and ECS tasks"),
    ("bastion", "bastion host: SSH from the allow-list"),
    ("db", "Aurora MySQL"),
    ("redis", "ElastiCache Redis"),
    ("efs", "EFS mount targets"),
];

/// Turns a stack into its desired graph.
pub fn lower(stack: &Stack) -> Result<DesiredGraph, GraphError> {
    DesiredGraph::new(
        &stack.name,
        &stack.config.region,
        stack.config.tags.clone(),
        resources(stack),
        timeouts(stack),
    )
}

/// The stack's timeout overrides. Each key covers some kinds; `default` covers the kinds no
/// other key names. Kinds without an override keep [`ResourceKind::default_timeout`].
fn timeouts(stack: &Stack) -> HashMap<ResourceKind, Duration> {
    use ResourceKind::*;
    let t = &stack.config.timeouts;
    let keyed: [(&Option<String>, &[ResourceKind]); 7] = [
        (&t.nat_gateway, &[NatGateway]),
        (&t.instance, &[Instance]),
        (&t.database, &[DbCluster, DbInstance]),
        (
            &t.cache,
            &[ReplicationGroup, CacheCluster, CacheSubnetGroup],
        ),
        (&t.mount_target, &[MountTarget]),
        (&t.dns, &[HostedZone, RecordSet]),
        (&t.migration, &[ReleaseTask]),
    ];
    let mut map = HashMap::new();
    if let Some(d) = t.default.as_deref().and_then(parse_duration) {
        for &kind in ResourceKind::ALL {
            if !keyed.iter().any(|(_, kinds)| kinds.contains(&kind)) {
                map.insert(kind, d);
            }
        }
    }
    for (value, kinds) in keyed {
        if let Some(d) = value.as_deref().and_then(parse_duration) {
            for kind in kinds {
                map.insert(*kind, d);
            }
        }
    }
    map
}

/// The zone letter used in logical ids: `us-east-1b` -> `b`.
pub fn zone_suffix(zone: &str) -> &str {
    &zone[zone.len().saturating_sub(1)..]
}

fn resources(stack: &Stack) -> Vec<Resource> {
    let mut out = Vec::new();
    network::lower(stack, &mut out);
    let records = data::lower(stack, &mut out);
    dns::lower(stack, &mut out, records);
    app::lower(stack, &mut out);
    out
}

/// Where in a stack file a resource (and, for some fields, the field) is declared: the path of
/// map keys that produced it (`["database", "backup_retention_days"]`). Reports locate findings
/// with it ([`crate::stack::Stack::locate`] turns the path into file and line); a path that a
/// stack does not spell out leads to the nearest key it does (or to the top of the file).
pub fn declared_at(id: &LogicalId, field: Option<&str>) -> Vec<String> {
    let id = id.as_str();
    let parts: Vec<&str> = id.split(['.', '/', ':']).collect();
    let path: Vec<&str> = match parts.as_slice() {
        ["vpc" | "igw", ..] => vec!["network", "cidr"],
        ["subnet", tier, ..] => vec!["network", "subnets", tier],
        ["rta" | "rt" | "nat", ..] | ["eip", "nat", ..] => vec!["network", "nat"],
        ["sg", "bastion", "ingress", ..] | ["sg", "app", "ingress", "tcp", "22-22", ..] => {
            vec!["bastion", "ssh_cidrs"]
        }
        ["sg", "bastion", ..] | ["bastion", ..] | ["eip", "bastion"] => vec!["bastion"],
        ["sg", "db", ..] | ["db", ..] => match field {
            Some("backup_retention_period") => vec!["database", "backup_retention_days"],
            Some("deletion_protection") => vec!["database", "deletion_protection"],
            Some("instance_class") => vec!["database", "instance_class"],
            Some("engine_version") => vec!["database", "engine_version"],
            _ => vec!["database"],
        },
        ["redis", name, ..] => vec!["caches", name],
        ["sg", "redis", ..] | ["cache", ..] => vec!["caches"],
        ["efs", "ap", ..] => vec!["filesystem", "access_points"],
        ["sg", "efs", ..] | ["efs", ..] => vec!["filesystem"],
        ["dns", ..] => match field {
            Some("ttl") => vec!["dns", "ttl"],
            _ => vec!["dns"],
        },
        ["ecs", "taskdef" | "service", app, ..] | ["alb", "tg", app] | ["logs", app] => {
            vec!["apps", app]
        }
        ["release", ..] => vec!["release"],
        ["ecs", "servers" | "capacity", ..] | ["iam", "app-server" | "profile", ..] => {
            vec!["app", "servers"]
        }
        ["ecs", ..] | ["iam", ..] | ["sg", "app", ..] => vec!["app"],
        ["alb", ..] | ["sg", "alb", ..] => vec!["alb"],
        _ => Vec::new(),
    };
    path.into_iter().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::stack::parse_str;

    /// Every reference lowering produces is one its kind declares in `Kind::REFERENCES`, which
    /// orders deletes of resources the graph no longer describes.
    #[test]
    fn declared_references_cover_every_lowered_dependency() {
        let mut graphs: Vec<DesiredGraph> = ["dev", "stage", "prod"]
            .iter()
            .map(|name| {
                lower(&crate::stack::load(Path::new("../../stacks"), name).unwrap()).unwrap()
            })
            .collect();
        let memcached = "version: 1\nnetwork:\n  zones: [us-east-1a, us-east-1b]\ndatabase:\n  parameters: {max_connections: '500'}\ncaches:\n  cache: {engine: memcached}\nfilesystem: {}\ndns: {}\n";
        graphs.push(lower(&parse_str("t", "t.yaml", memcached).unwrap()).unwrap());
        let mut seen = std::collections::BTreeSet::new();
        for graph in &graphs {
            for resource in graph.iter() {
                seen.insert(resource.kind());
                for (kind, dep) in resource.spec.dependencies() {
                    assert!(
                        resource.kind().referenced_kinds().contains(&kind),
                        "{} ({}) references {dep} ({kind}), which its Kind::REFERENCES omits",
                        resource.id,
                        resource.kind()
                    );
                }
            }
        }
        // The stacks above exercise every kind, so the check covers them all.
        assert_eq!(seen.len(), ResourceKind::ALL.len(), "{seen:?}");
    }
}
