//! Lowering: a validated [`Stack`] becomes typed resources in a [`DesiredGraph`].
//!
//! Deterministic: the same stack always yields the same logical ids and specs. One module per
//! tier: `network`, `data`, `dns` (service discovery for the data tier), `app`.

use std::collections::HashMap;
use std::time::Duration;

use crate::graph::{DesiredGraph, GraphError};
use crate::model::{Resource, ResourceKind};
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
    let keyed: [(&Option<String>, &[ResourceKind]); 6] = [
        (&t.nat_gateway, &[NatGateway]),
        (&t.instance, &[Instance]),
        (&t.database, &[DbCluster, DbInstance]),
        (
            &t.cache,
            &[ReplicationGroup, CacheCluster, CacheSubnetGroup],
        ),
        (&t.mount_target, &[MountTarget]),
        (&t.dns, &[HostedZone, RecordSet]),
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
